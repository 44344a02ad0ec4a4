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
// reports whether the image is left without any snapshot. It removes only
// what the backup cluster's record of the backup names, and only when that
// record is one the provider wrote (chain.Record.CheckOwn): a snapshot name
// from Terraform state alone may be anybody's.
func (e *Engine) deleteRestorePoint(ctx context.Context, req DeleteRequest) (empty bool, warnings []string, err error) {
	name := spec(req.BackupPool, chain.BackupImageName(req.Image))
	dst, err := openImage(ctx, e.BackupCluster, req.BackupPool, chain.BackupImageName(req.Image), "", false)
	switch {
	case IsNotFound(err):
		return false, unrecorded(req, "the backup image "+name+" does not exist"), nil
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
	r, ok := pts.Find(req.ID)
	if !ok {
		return false, unrecorded(req, name+" holds no record of it"), nil
	}
	if err := r.CheckOwn(req.Image); err != nil {
		return false, nil, fmt.Errorf("the record %s of backup %s on %s is not a record as this provider writes them: %v. It was forged or damaged, "+
			"so nothing was removed. If it is garbage, remove it with `rbd image-meta remove %s %s`; deleting the backup then removes nothing it named",
			chain.RecordKey(r.ID), r.ID, name, err, name, chain.RecordKey(r.ID))
	}
	if pts.Protected[r.Snapshot] {
		return false, nil, handProtectedError(req.BackupPool, req.Image, r)
	}
	// librbd would move a cloned snapshot to its trash and report success.
	if err := refuseIfCloned(ctx, e.BackupCluster, req.BackupPool, req.Image, req.ID, r.Snapshot); err != nil {
		return false, nil, err
	}
	// The intent first: from here on, whatever is left of this backup after
	// an interruption is known to be garbage, and the next deletion of it
	// (or backup of the image) finishes the job.
	if r.Status != chain.Deleting {
		r.Status = chain.Deleting
		if err := dst.SetMetadata(chain.RecordKey(r.ID), r.Encode()); err != nil {
			return false, nil, &cephconn.Error{What: "the record of backup " + req.ID, Err: err}
		}
		e.step(ctx, "delete", "deletion recorded", req.ID)
	}
	warnings = e.removeSourceSnapshot(ctx, r)
	e.step(ctx, "delete", "source snapshot removed", req.ID)
	if err := removeSnapshot(dst, r.Snapshot); err != nil {
		return false, warnings, err
	}
	e.step(ctx, "delete", "restore point removed", req.ID)
	left, err := dst.GetSnapshotNames()
	if err == nil && len(left) == 0 && ownBackupImage(dst, req.Image) {
		// The image goes, and the record with it.
		return true, warnings, nil
	}
	if err := dst.RemoveMetadata(chain.RecordKey(req.ID)); err != nil && !IsNotFound(err) {
		return false, warnings, &cephconn.Error{What: "the record of backup " + req.ID, Err: err}
	}
	e.step(ctx, "delete", "record removed", req.ID)
	return false, warnings, nil
}

// unrecorded is the warning of a deletion that the backup cluster does not
// record (why says how): the snapshot that Terraform state names is left
// alone, since only a record says a snapshot is this provider's.
func unrecorded(req DeleteRequest, why string) []string {
	if req.Snapshot == "" {
		return nil
	}
	return []string{fmt.Sprintf("The backup cluster does not record backup %s (%s), so the snapshot %q that Terraform state names for it "+
		"is not known to be this provider's: it was left alone on the source image %s and on the backup image, if either has it. "+
		"If it is a leftover of this backup, remove it with `rbd snap rm %s@%s`; otherwise it belongs to something else and was rightly kept",
		req.ID, why, req.Snapshot, spec(req.Pool, req.Image), spec(req.Pool, req.Image), req.Snapshot)}
}

// ownBackupImage reports whether img bears the provider's mark of a backup
// image of image (chain.SourceKey): only such an image is removed once empty.
func ownBackupImage(img *rbd.Image, image string) bool {
	v, err := img.GetMetadata(chain.SourceKey)
	if err != nil {
		return false
	}
	src, err := chain.DecodeSource(v)
	return err == nil && src.Image == image
}

// handProtectedError refuses the deletion of backup r, whose restore point
// is protected (`rbd snap protect`) although its record is not: somebody
// protected it by hand, and only they may lift it.
func handProtectedError(backupPool, image string, r chain.Record) error {
	point := spec(backupPool, chain.BackupImageName(image)) + "@" + r.Snapshot
	return fmt.Errorf("the restore point %s of backup %s is protected with `rbd snap protect` by hand (its deletion_protection is false), "+
		"so it is not deleted: nothing was changed. If it is meant to go, run `rbd snap unprotect %s` and delete it again; otherwise keep the backup", point, r.ID, point)
}

// removeSourceSnapshot removes backup r's snapshot on its source image, when
// the provider's cluster is the one r was taken of: after a disaster it is
// another, whose images of that name are none of r's business. The source
// cluster may be gone (that is what backups are for), so failing to reach it
// is a warning, not an error.
func (e *Engine) removeSourceSnapshot(ctx context.Context, r chain.Record) []string {
	fsid, err := e.SourceCluster.FSID(ctx)
	if err == nil && fsid != r.SourceFSID {
		return nil
	}
	var img *rbd.Image
	if err == nil {
		img, err = openImage(ctx, e.SourceCluster, r.Pool, r.Image, "", false)
		if IsNotFound(err) {
			return nil
		}
	}
	if err == nil {
		defer closeImage(img)
		err = removeSnapshot(img, r.Snapshot)
	}
	if err != nil {
		return []string{fmt.Sprintf("the source snapshot %s@%s was not removed: %v. Remove it with `rbd snap rm` once the source cluster is reachable",
			spec(r.Pool, r.Image), r.Snapshot, err)}
	}
	return nil
}
