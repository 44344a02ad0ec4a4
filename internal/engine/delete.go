package engine

import (
	"context"
	"fmt"

	"github.com/ceph/go-ceph/rbd"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/cephconn"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
)

// DeleteRequest names a backup to delete. Snapshot, Pool and Image come from
// Terraform state and let the source snapshot be removed even when the
// backup cluster no longer knows the backup.
type DeleteRequest struct {
	BackupPool, Pool, Image, ID, Snapshot string
}

// Delete removes a backup: its source snapshot, its restore point and its
// record, and the backup image once no restore point is left on it. It
// refuses while the backup cluster records children of the backup. Already
// gone is success. Problems that do not endanger data (the source cluster is
// unreachable) come back as warnings.
func (e *Engine) Delete(ctx context.Context, req DeleteRequest) (warnings []string, err error) {
	defer e.changing(req.BackupPool, req.Image)()
	empty, warnings, err := e.deleteRestorePoint(ctx, req)
	if err != nil || !empty {
		return warnings, err
	}
	name := chain.BackupImageName(req.Image)
	ioctx, err := e.BackupCluster.IOContext(ctx, req.BackupPool)
	if err != nil {
		return warnings, err
	}
	if err := rbd.RemoveImage(ioctx, name); err != nil && !IsNotFound(err) {
		warnings = append(warnings, fmt.Sprintf("the backup image %s/%s holds no restore point any more but could not be removed: %v. "+
			"The next deletion or backup of the image finishes the job; or remove it with `rbd rm %s/%s`",
			req.BackupPool, name, err, req.BackupPool, name))
		return warnings, nil
	}
	e.step(ctx, "delete", "backup image removed", req.ID)
	return warnings, nil
}

// deleteRestorePoint does the deletion under the backup image's lock and
// reports whether the image is left without any snapshot.
func (e *Engine) deleteRestorePoint(ctx context.Context, req DeleteRequest) (empty bool, warnings []string, err error) {
	dst, err := openImage(ctx, e.BackupCluster, req.BackupPool, chain.BackupImageName(req.Image), "", false)
	switch {
	case IsNotFound(err):
		snap, warnings := ownSnapshot(req, req.Snapshot, "Terraform state",
			fmt.Sprintf("on the source image %s", spec(req.Pool, req.Image)))
		return false, append(warnings, e.removeSourceSnapshot(ctx, req.Pool, req.Image, snap)...), nil
	case err != nil:
		return false, nil, err
	}
	defer closeImage(dst)
	unlock, err := e.lock(ctx, dst, writerPatience)
	if err != nil {
		return false, nil, err
	}
	defer unlock()

	pts, err := points(dst)
	if err != nil {
		return false, nil, err
	}
	if err := pts.CheckDeletable(req.ID); err != nil {
		return false, nil, err
	}
	snap, from := req.Snapshot, "Terraform state"
	if r, ok := pts.Find(req.ID); ok {
		snap, from = r.Snapshot, "the backup's record"
		if pts.Protected[r.Snapshot] {
			return false, nil, handProtectedError(req.BackupPool, req.Image, r)
		}
		// librbd would move a cloned snapshot to its trash and report success.
		if err := refuseIfCloned(ctx, e.BackupCluster, req.BackupPool, req.Image, req.ID, r.Snapshot); err != nil {
			return false, nil, err
		}
	}
	snap, warnings = ownSnapshot(req, snap, from, fmt.Sprintf("on the source image %s or on the backup image %s",
		spec(req.Pool, req.Image), spec(req.BackupPool, chain.BackupImageName(req.Image))))
	// The intent first: from here on, whatever is left of this backup after
	// an interruption is known to be garbage, and the next deletion of it
	// (or backup of the image) finishes the job.
	if r, ok := pts.Find(req.ID); ok && r.Status != chain.Deleting {
		r.Status = chain.Deleting
		if err := dst.SetMetadata(chain.RecordKey(r.ID), r.Encode()); err != nil {
			return false, warnings, &cephconn.Error{What: "the record of backup " + req.ID, Err: err}
		}
		e.step(ctx, "delete", "deletion recorded", req.ID)
	}
	warnings = append(warnings, e.removeSourceSnapshot(ctx, req.Pool, req.Image, snap)...)
	e.step(ctx, "delete", "source snapshot removed", req.ID)
	if snap != "" {
		if err := removeSnapshot(dst, snap); err != nil {
			return false, warnings, err
		}
		e.step(ctx, "delete", "restore point removed", req.ID)
	}
	left, err := dst.GetSnapshotNames()
	if err == nil && len(left) == 0 {
		// The image goes, and the record with it.
		return true, warnings, nil
	}
	if err := dst.RemoveMetadata(chain.RecordKey(req.ID)); err != nil && !IsNotFound(err) {
		return false, warnings, &cephconn.Error{What: "the record of backup " + req.ID, Err: err}
	}
	e.step(ctx, "delete", "record removed", req.ID)
	return false, warnings, nil
}

// handProtectedError refuses the deletion of backup r, whose restore point
// is protected (`rbd snap protect`) although its record is not: somebody
// protected it by hand, and only they may lift it.
func handProtectedError(backupPool, image string, r chain.Record) error {
	point := spec(backupPool, chain.BackupImageName(image)) + "@" + r.Snapshot
	return fmt.Errorf("the restore point %s of backup %s is protected with `rbd snap protect` by hand (its deletion_protection is false), "+
		"so it is not deleted: nothing was changed. If it is meant to go, run `rbd snap unprotect %s` and delete it again; otherwise keep the backup", point, r.ID, point)
}

// ownSnapshot returns snap if it is this provider's snapshot of the backup
// being deleted (backup.<req.ID>.snap.<time>), and "" with a warning
// otherwise: a name from Terraform state (or a damaged record) may name a
// snapshot of someone else or of another backup, and Delete must never
// remove those. from says where the name came from, where which images
// were spared.
func ownSnapshot(req DeleteRequest, snap, from, where string) (string, []string) {
	if snap == "" {
		return "", nil
	}
	if id, _, ok := chain.ParseSnapshotName(snap); ok && id == req.ID {
		return snap, nil
	}
	return "", []string{fmt.Sprintf("%s names the snapshot %q for backup %s, but that is not this backup's snapshot "+
		"(the provider names it backup.%s.snap.<unix time>), so no snapshot of that name was removed %s. "+
		"If it is a leftover of this backup after all, remove it with `rbd snap rm`; otherwise it belongs to something else and was rightly kept",
		from, snap, req.ID, req.ID, where)}
}

// removeSourceSnapshot removes a backup's snapshot on the source image. The
// source cluster may be gone (that is what backups are for), so failing to
// reach it is a warning, not an error.
func (e *Engine) removeSourceSnapshot(ctx context.Context, pool, image, snap string) []string {
	if snap == "" {
		return nil
	}
	img, err := openImage(ctx, e.SourceCluster, pool, image, "", false)
	if IsNotFound(err) {
		return nil
	}
	if err == nil {
		defer closeImage(img)
		err = removeSnapshot(img, snap)
	}
	if err != nil {
		return []string{fmt.Sprintf("the source snapshot %s/%s@%s was not removed: %v. Remove it with `rbd snap rm` once the source cluster is reachable",
			pool, image, snap, err)}
	}
	return nil
}
