package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/ceph/go-ceph/rbd"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
)

// ErrPointGoneWhileRead says a snapshot of a backup image was removed, or
// replaced by another of the same name, while its data was being read. An
// image open at a snapshot goes on reading after the snapshot's removal,
// without an error, whatever its objects hold then (the head's data, or
// zeros where the image went): what was read is not the restore point.
var ErrPointGoneWhileRead = errors.New("removed while it was being read")

// confirmRead fails with ErrPointGoneWhileRead unless every snapshot in
// read is still on the backup image of image, with the same id. Snapshot
// ids are never reused: one that is there after the reads was there during
// them, and a new snapshot of the same name has another id. It looks
// through a fresh open of the image, as an image open at a snapshot does not
// notice the snapshot's removal.
func (e *Engine) confirmRead(ctx context.Context, backupPool, image string, read ...rbd.SnapInfo) error {
	name := chain.BackupImageName(image)
	img, err := openImage(ctx, e.BackupCluster, backupPool, name, "", true)
	var now map[string]rbd.SnapInfo
	if err == nil {
		defer closeImage(img)
		now, err = snapshots(img)
	}
	if err != nil && !IsNotFound(err) {
		return fmt.Errorf("checking that the snapshots read from %s are still there: %w", spec(backupPool, name), err)
	}
	for _, s := range read {
		switch cur, ok := now[s.Name]; {
		case !ok:
			return fmt.Errorf("snapshot %s@%s (id %d) was %w: another workspace deleted that backup, or `rbd snap rm` removed it",
				spec(backupPool, name), s.Name, s.Id, ErrPointGoneWhileRead)
		case cur.Id != s.Id:
			return fmt.Errorf("snapshot %s@%s (id %d) was %w, and another snapshot of the same name (id %d) made since: it is not that restore point",
				spec(backupPool, name), s.Name, s.Id, ErrPointGoneWhileRead, cur.Id)
		}
	}
	return nil
}
