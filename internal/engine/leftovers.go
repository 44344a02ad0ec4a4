package engine

import (
	"context"
	"fmt"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
)

// Leftovers describes what interrupted runs left on the backup image of
// pool/image in backupPool, each with what finishes it: a restore point that
// no Terraform state knows, a deletion or a backup that stopped half-way, a
// backup image left empty. Nothing is changed.
func (e *Engine) Leftovers(ctx context.Context, pool, image, backupPool string) ([]string, error) {
	pts, ok, err := e.readPoints(ctx, backupPool, image)
	if err != nil || !ok {
		return nil, err
	}
	name := spec(backupPool, chain.BackupImageName(image))
	if len(pts.Records) == 0 && len(pts.Snapshots) == 0 {
		return []string{fmt.Sprintf("The backup image %s holds no restore point and no record: a deletion was interrupted before it removed the image. "+
			"The next backup of %s uses it; or remove it with `rbd rm %s`.", name, spec(pool, image), name)}, nil
	}
	var out []string
	for _, r := range pts.Records {
		if err := r.CheckOwn(image); err != nil {
			out = append(out, fmt.Sprintf("The backup image %s holds the record %s, which is not a record as this provider writes them: %v. "+
				"It was forged or damaged, so the provider removes nothing it names (snapshot %q). If it is garbage, remove it with `rbd image-meta remove %s %s`.",
				name, chain.RecordKey(r.ID), err, r.Snapshot, name, chain.RecordKey(r.ID)))
			continue
		}
		if r.Pool != pool || r.Image != image {
			continue
		}
		srcSnap := spec(r.Pool, r.Image) + "@" + r.Snapshot
		switch {
		case r.Status == chain.Deleting:
			out = append(out, fmt.Sprintf("The deletion of backup %s (restore point %s@%s) was interrupted. "+
				"Destroying it again, or the next backup of %s, finishes it; by hand: `rbd snap rm %s`, `rbd snap rm %s@%s`, `rbd image-meta remove %s %s`.",
				r.ID, name, r.Snapshot, spec(pool, image), srcSnap, name, r.Snapshot, name, chain.RecordKey(r.ID)))
		case pts.IsRestorePoint(r) && r.Unconfirmed:
			out = append(out, fmt.Sprintf("Restore point %s (a %s backup of %s, snapshot %s, taken %s) was made by an apply that was interrupted "+
				"before Terraform recorded it, so no state knows it. It is complete and exact. To manage it, import it: "+
				"`terraform import <address of a cephbackup_%s> %s`; destroying that resource deletes it.",
				r.ID, r.Kind, spec(r.Pool, r.Image), r.Snapshot, r.CreatedAt.Format("2006-01-02T15:04:05Z"), r.Kind, chain.ImportID(backupPool, r.ID)))
		case !pts.IsRestorePoint(r):
			out = append(out, fmt.Sprintf("Backup %s of %s has no restore point: it was interrupted before its restore point was taken "+
				"(unless it is running now), or the restore point was removed by hand. "+
				"The next backup of the image removes its source snapshot %s and its record; by hand: `rbd snap rm %s`, `rbd image-meta remove %s %s`.",
				r.ID, spec(r.Pool, r.Image), srcSnap, srcSnap, name, chain.RecordKey(r.ID)))
		}
	}
	return out, nil
}
