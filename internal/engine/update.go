package engine

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"github.com/ceph/go-ceph/rbd"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/cephconn"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
)

// BackupChange is what may change on an existing backup without touching its
// restore point: bookkeeping in its record. nil fields are left as they are.
type BackupChange struct {
	// ParentID records another parent for an incremental: any restore point
	// of the same source image that does not descend from it.
	ParentID *string
	// DeletionProtection sets or clears the record's deletion protection,
	// which every client's Delete honours.
	DeletionProtection *bool
	// Labels replaces the record's labels (an empty map clears them).
	Labels *map[string]string
}

// UpdateBackup applies change to the record of backup id of image in
// backupPool, under the backup image's lock, and returns the new record. The
// restore point itself is never touched. A backup that is no longer a
// restore point is ErrGone.
func (e *Engine) UpdateBackup(ctx context.Context, backupPool, image, id string, change BackupChange) (chain.Record, error) {
	defer e.changing(backupPool, image)()
	return e.rewriteRecord(ctx, backupPool, image, id, func(dst *rbd.Image, pts chain.Points, r chain.Record) (chain.Record, error) {
		if change.ParentID != nil && *change.ParentID != r.ParentID {
			var err error
			if r, err = pts.CheckReparent(id, *change.ParentID); err != nil {
				return r, err
			}
		}
		if change.DeletionProtection != nil {
			// Before the record: a protection recorded is one Ceph enforces.
			// Only the provider's own protection is lifted; a snapshot that
			// was protected by hand while the record was not stays so.
			if protect := *change.DeletionProtection; protect || r.DeletionProtection {
				if err := setProtection(dst, r.Snapshot, protect); err != nil {
					return r, fmt.Errorf("%w. The record is unchanged%s", err, unprotectHint(err, protect))
				}
				r.PointProtected = protect
			}
			r.DeletionProtection = *change.DeletionProtection
		}
		if change.Labels != nil {
			if err := chain.ValidateLabels(*change.Labels); err != nil {
				return r, err
			}
			r.Labels = *change.Labels
			if len(r.Labels) == 0 {
				r.Labels = nil
			}
		}
		return r, nil
	})
}

// unprotectHint says what to do when a restore point could not be
// unprotected because clones depend on it.
func unprotectHint(err error, protect bool) string {
	if !protect && cephconn.Is(err, syscall.EBUSY) {
		return ": Ceph keeps a snapshot protected while clones of clone format 1 depend on it (what `rbd clone` makes on a cluster whose " +
			"require_min_compat_client is older than mimic; `rbd children` lists them). Flatten or remove those clones first, then apply again"
	}
	return ""
}

// rewriteRecord replaces the record of restore point id by what change makes
// of it, under the backup image's lock (so no backup, deletion or other
// rewrite of that image runs meanwhile).
func (e *Engine) rewriteRecord(ctx context.Context, backupPool, image, id string, change func(*rbd.Image, chain.Points, chain.Record) (chain.Record, error)) (chain.Record, error) {
	dst, err := openImage(ctx, e.BackupCluster, backupPool, chain.BackupImageName(image), "", false)
	if IsNotFound(err) {
		return chain.Record{}, ErrForgotten
	}
	if err != nil {
		return chain.Record{}, err
	}
	defer closeImage(dst)
	unlock, err := e.lock(ctx, dst, writerPatience)
	if err != nil {
		return chain.Record{}, err
	}
	defer unlock()
	pts, err := points(dst)
	if err != nil {
		return chain.Record{}, err
	}
	r, ok := pts.Find(id)
	switch {
	case !ok:
		return chain.Record{}, ErrForgotten
	case !pts.IsRestorePoint(r):
		return chain.Record{}, ErrGone
	}
	r.PointProtected = pts.Protected[r.Snapshot]
	updated, err := change(dst, pts, r)
	if err != nil {
		return r, err
	}
	if updated.ID != r.ID {
		return r, fmt.Errorf("internal error: the record of backup %s would be rewritten as %s", r.ID, updated.ID)
	}
	if err := dst.SetMetadata(chain.RecordKey(id), updated.Encode()); err != nil {
		return r, &cephconn.Error{What: "the record of backup " + id + " on " + dst.GetName(), Err: err}
	}
	e.log().Info(ctx, "backup record updated", map[string]any{
		"id": id, "parent_id": updated.ParentID, "deletion_protection": updated.DeletionProtection, "sha256": updated.SHA256,
	})
	return updated, nil
}

// CheckPlannedDeletion reads, on the backup cluster only, what is known to
// make the deletion of backup id fail whatever else the same plan deletes
// (see chain.Points.CheckPlannedDeletion) and returns it as refusal. err is
// a failure to read; a backup or backup image that is gone is no refusal.
func (e *Engine) CheckPlannedDeletion(ctx context.Context, backupPool, image, id string) (refusal, err error) {
	pts, ok, err := e.readPoints(ctx, backupPool, image)
	if err != nil || !ok {
		return nil, err
	}
	if refusal := pts.CheckPlannedDeletion(id); refusal != nil {
		return refusal, nil
	}
	r, ok := pts.Find(id)
	if !ok {
		return nil, nil
	}
	if pts.Protected[r.Snapshot] {
		return handProtectedError(backupPool, image, r), nil
	}
	if err := refuseIfCloned(ctx, e.BackupCluster, backupPool, image, id, r.Snapshot); errors.Is(err, ErrHasClones) {
		return err, nil
	} else if err != nil {
		return nil, err
	}
	return nil, nil
}

// Verification is the outcome of VerifyBackup.
type Verification struct {
	Record chain.Record
	// Compared says the restore point was compared with its source
	// snapshot; when not, NotCompared says why.
	Compared    bool
	NotCompared string
}

// VerifyBackup reads the restore point of an existing backup and records its
// sha256 on the backup cluster. When the backup's source snapshot still
// exists, both are read in parallel and must be identical; when a checksum
// was recorded before, the restore point must still match it. A mismatch is
// an error, and then nothing is recorded.
func (e *Engine) VerifyBackup(ctx context.Context, backupPool, image, id string) (Verification, error) {
	defer e.changing(backupPool, image)()
	rec, err := e.GetBackup(ctx, backupPool, image, id)
	if err != nil {
		return Verification{}, err
	}
	dst, dstSnap, err := e.openRestorePoint(ctx, backupPool, image, rec.Snapshot)
	if err != nil {
		return Verification{}, err
	}
	defer closeImage(dst)
	v := Verification{Record: rec}
	var sum string
	src, why := e.openSourceSnapshot(ctx, rec)
	if src != nil {
		defer closeImage(src)
		v.Compared = true
		sum, err = e.verifyCopy(ctx, src, dst, rec.Size, "")
	} else {
		v.NotCompared = why
		e.log().Info(ctx, "verifying a restore point without its source snapshot", map[string]any{"id": id, "reason": why})
		sum, err = e.checksum(ctx, dst, rec.Size)
	}
	if gone := e.confirmRead(ctx, backupPool, image, dstSnap); gone != nil {
		return v, fmt.Errorf("verification of backup %s failed: %w. Nothing was recorded. If that backup was deleted on purpose, "+
			"remove its resource from the configuration (or `terraform state rm` it)", id, gone)
	}
	if err != nil {
		return v, err
	}
	if rec.SHA256 != "" && rec.SHA256 != sum {
		return v, fmt.Errorf("verification failed: restore point %s@%s now reads with sha256 %s, but %s was recorded for it: "+
			"its content changed on the backup cluster", spec(backupPool, chain.BackupImageName(image)), rec.Snapshot, sum, rec.SHA256)
	}
	v.Record, err = e.rewriteRecord(ctx, backupPool, image, id, func(_ *rbd.Image, _ chain.Points, r chain.Record) (chain.Record, error) {
		r.SHA256 = sum
		return r, nil
	})
	return v, err
}

// openSourceSnapshot opens a backup's snapshot on the source cluster, or
// says why the restore point cannot be compared with it.
func (e *Engine) openSourceSnapshot(ctx context.Context, rec chain.Record) (*rbd.Image, string) {
	fsid, err := e.SourceCluster.FSID(ctx)
	if err != nil {
		return nil, fmt.Sprintf("the source cluster could not be reached (%v)", err)
	}
	if fsid != rec.SourceFSID {
		return nil, fmt.Sprintf("the backup was taken on the cluster with fsid %s, and the provider's cluster is %s", rec.SourceFSID, fsid)
	}
	img, err := openImage(ctx, e.SourceCluster, rec.Pool, rec.Image, rec.Snapshot, true)
	switch {
	case IsNotFound(err):
		return nil, fmt.Sprintf("its source snapshot %s@%s no longer exists (only the newest backup of an image keeps its snapshot on the source)",
			spec(rec.Pool, rec.Image), rec.Snapshot)
	case err != nil:
		return nil, err.Error()
	}
	return img, ""
}

// CheckReparent reads, on the backup cluster only, whether the incremental id
// may record newParent as its parent (see chain.Points.CheckReparent), and
// returns the reason it may not as refusal. err is a failure to read.
func (e *Engine) CheckReparent(ctx context.Context, backupPool, image, id, newParent string) (refusal, err error) {
	pts, ok, err := e.readPoints(ctx, backupPool, image)
	if err != nil {
		return nil, err
	}
	if !ok {
		return ErrForgotten, nil
	}
	_, refusal = pts.CheckReparent(id, newParent)
	return refusal, nil
}

// ConfirmBackup adopts a restore point that an interrupted apply left
// unconfirmed (import does): it clears the mark, and removes the source
// snapshots that the apply did not live to prune, keeping the newest
// backup's. Confirmed backups are returned as they are.
func (e *Engine) ConfirmBackup(ctx context.Context, backupPool string, rec chain.Record) (chain.Record, error) {
	defer e.changing(backupPool, rec.Image)()
	if !rec.Unconfirmed {
		return rec, nil
	}
	dst, err := openImage(ctx, e.BackupCluster, backupPool, chain.BackupImageName(rec.Image), "", false)
	if err != nil {
		return rec, err
	}
	defer closeImage(dst)
	unlock, err := e.lock(ctx, dst, writerPatience)
	if err != nil {
		return rec, err
	}
	defer unlock()
	rec.Unconfirmed = false
	if err := dst.SetMetadata(chain.RecordKey(rec.ID), rec.Encode()); err != nil {
		return rec, &cephconn.Error{What: "the record of backup " + rec.ID + " on " + dst.GetName(), Err: err}
	}
	pts, err := points(dst)
	if err != nil {
		return rec, err
	}
	newest := rec
	for _, r := range pts.RestorePoints() {
		if r.Source() == rec.Source() && r.CreatedAt.After(newest.CreatedAt) {
			newest = r
		}
	}
	// Only on the cluster the backup was taken of: after a disaster (and an
	// adoption) the provider's cluster is another one, where pool/image is
	// another volume whose snapshots are none of these records' business.
	if fsid, err := e.SourceCluster.FSID(ctx); err == nil && fsid == rec.SourceFSID {
		e.pruneSourceSnapshots(ctx, pts, rec.Source(), newest.Snapshot)
	}
	return rec, nil
}
