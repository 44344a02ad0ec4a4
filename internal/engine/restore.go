package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/ceph/go-ceph/rbd"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/cephconn"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/extent"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/transfer"
)

// RestoreRequest brings restore point BackupID of Pool/Image (held in
// BackupPool on the backup cluster) into TargetPool/TargetImage on the
// source cluster.
type RestoreRequest struct {
	BackupID                string
	Pool, Image, BackupPool string
	TargetPool, TargetImage string
	Force                   bool
	// Verify compares the target with the restore point afterwards, using the
	// checksum recorded at backup time when there is one.
	Verify bool
}

// Metadata on restore targets. restoringKey marks a target image that a
// restore is writing and has not finished (its value is a restoringMark).
// createdByKey marks an image a restore created (its value is the backup id
// first restored into it): only such an image is ever deleted.
const (
	restoringKey = "cephbackup.restoring"
	createdByKey = "cephbackup.created_by_restore"
)

// restoringMark is what restoringKey records: the backup being restored and
// whether that restore created the image. Only a restore that created the
// image may resume it as a fresh image whose holes need no rewriting; a
// volume that existed before is rewritten wherever it holds data.
type restoringMark struct {
	backupID string
	created  bool
}

const createdMarkSuffix = ";created"

func (m restoringMark) String() string {
	if m.created {
		return m.backupID + createdMarkSuffix
	}
	return m.backupID
}

// restoringMarkOf reads the mark of img; an image without one has the zero
// mark. A mark written before the created flag existed reads as an
// overwrite, the safe side.
func restoringMarkOf(img *rbd.Image) restoringMark {
	v, err := img.GetMetadata(restoringKey)
	if err != nil {
		return restoringMark{}
	}
	id, created := strings.CutSuffix(v, createdMarkSuffix)
	return restoringMark{backupID: id, created: created}
}

// staleWatchPatience is how long a restore waits for another client's watch
// on the target to go away before refusing: a killed client's watch expires
// after osd_client_watch_timeout (30 s by default); a live one stays.
const staleWatchPatience = 45 * time.Second

// RestoreResult says what a restore did.
type RestoreResult struct {
	Record        chain.Record
	RestoredBytes uint64
	// BaseSnapshot is the snapshot the target shared with the backup image,
	// when only the differences were sent; empty for a whole-image copy.
	BaseSnapshot string
	// SHA256 of the restored image, when verified.
	SHA256 string
	// CreatedTarget says the restore created the target image (or resumed
	// its own interrupted creation of it).
	CreatedTarget bool
}

// Validate checks names before anything touches a cluster.
func (r RestoreRequest) Validate() error {
	for _, f := range []struct{ what, v string }{{AttrPool, r.Pool}, {AttrBackupPool, r.BackupPool}, {AttrTargetPool, r.TargetPool}} {
		if err := chain.ValidatePoolPath(f.what, f.v); err != nil {
			return err
		}
	}
	for _, f := range []struct{ what, v string }{{AttrImage, r.Image}, {AttrTargetImage, r.TargetImage}} {
		if err := chain.ValidateName(f.what, f.v); err != nil {
			return err
		}
	}
	return chain.ValidateID(r.BackupID)
}

// Restore copies a restore point into the target image, creating it when
// missing and overwriting it only when Force is set. The result has the
// restore point's size and content exactly. When the target still has the
// snapshot of a backup kept on the same backup image, only the extents that
// differ are sent.
func (e *Engine) Restore(ctx context.Context, req RestoreRequest) (RestoreResult, error) {
	if err := req.Validate(); err != nil {
		return RestoreResult{}, err
	}
	rec, err := e.restorePoint(ctx, req)
	if err != nil {
		return RestoreResult{}, err
	}
	point, pointSnap, err := e.openRestorePoint(ctx, req.BackupPool, req.Image, rec.Snapshot)
	if err != nil {
		return RestoreResult{}, err
	}
	defer closeImage(point)

	target, existed, err := e.openTarget(ctx, req, rec.Size)
	if err != nil {
		return RestoreResult{}, err
	}
	defer closeImage(target)
	created := !existed
	if existed {
		unlock, err := e.claimTarget(ctx, target, spec(req.TargetPool, req.TargetImage))
		if err != nil {
			return RestoreResult{}, err
		}
		defer unlock()
		if created, err = e.markRestoring(target, req); err != nil {
			return RestoreResult{}, err
		}
	}
	if err := resize(target, rec.Size, 0); err != nil {
		return RestoreResult{}, err
	}

	plan, base, err := e.restorePlan(ctx, req, rec, point, pointSnap, target, created)
	if err != nil {
		return RestoreResult{}, err
	}
	stats, err := e.run(ctx, point, target, plan, "restore", rec.Snapshot)
	if err != nil {
		return RestoreResult{}, e.confirmRestoreRead(ctx, req, pointSnap, err)
	}
	if err := target.Flush(); err != nil {
		return RestoreResult{}, &cephconn.Error{What: "flushing " + spec(req.TargetPool, req.TargetImage), Err: err}
	}
	res := RestoreResult{Record: rec, RestoredBytes: stats.WrittenBytes, BaseSnapshot: base, CreatedTarget: created}
	if req.Verify {
		res.SHA256, err = e.verifyCopy(ctx, point, target, rec.Size, rec.SHA256)
	}
	if err := e.confirmRestoreRead(ctx, req, pointSnap, err); err != nil {
		return res, err
	}
	if err := target.RemoveMetadata(restoringKey); err != nil && !IsNotFound(err) {
		return res, &cephconn.Error{What: "the restore marker of " + spec(req.TargetPool, req.TargetImage), Err: err}
	}
	return res, nil
}

// confirmRestoreRead is err, unless the restore point went while it was
// read (see confirmRead): then what the target holds is neither its old
// content nor the restore point, and it keeps its interrupted-restore mark.
func (e *Engine) confirmRestoreRead(ctx context.Context, req RestoreRequest, point rbd.SnapInfo, err error) error {
	if gone := e.confirmRead(ctx, req.BackupPool, req.Image, point); gone != nil {
		return fmt.Errorf("restore of backup %s into %s failed: %w. The target holds neither its old content nor that restore point, "+
			"and stays marked as an interrupted restore (its %s metadata): restore another restore point into it "+
			"(the cephbackup_restore_points data source lists them)", req.BackupID, spec(req.TargetPool, req.TargetImage), gone, restoringKey)
	}
	return err
}

// restorePoint is the record of the restore point req names, checked to be
// usable for req.
func (e *Engine) restorePoint(ctx context.Context, req RestoreRequest) (chain.Record, error) {
	rec, err := e.GetBackup(ctx, req.BackupPool, req.Image, req.BackupID)
	if errors.Is(err, ErrGone) {
		return rec, &FieldError{Field: AttrBackupID, Err: fmt.Errorf("backup %s is not a restore point of %s/%s in pool %s on %s",
			req.BackupID, req.Pool, req.Image, req.BackupPool, e.BackupCluster.Name())}
	}
	if err != nil {
		return rec, err
	}
	if rec.Pool != req.Pool {
		return rec, &FieldError{Field: AttrPool, Err: fmt.Errorf("backup %s was taken of %s/%s, not of %s/%s", rec.ID, rec.Pool, rec.Image, req.Pool, req.Image)}
	}
	if req.TargetPool == req.BackupPool && req.TargetImage == chain.BackupImageName(req.Image) {
		same, err := e.sameCluster(ctx)
		if err != nil {
			return rec, err
		}
		if same {
			return rec, &FieldError{Field: AttrTargetImage, Err: fmt.Errorf("target %s/%s is the backup image itself (cluster and backup_cluster are one cluster, by fsid): "+
				"restoring into it would overwrite the image that holds the restore points. Choose another target_image or target_pool", req.TargetPool, req.TargetImage)}
		}
	}
	return rec, nil
}

// CheckRestore verifies, before any change, what Restore would refuse: a
// restore point that is not there, a target pool that is missing, a target
// that exists without Force. A target that an interrupted restore left
// half-written is reported as a warning.
func (e *Engine) CheckRestore(ctx context.Context, req RestoreRequest) (warnings []string, err error) {
	if _, err := e.restorePoint(ctx, req); err != nil {
		return nil, err
	}
	ioctx, err := e.SourceCluster.IOContext(ctx, req.TargetPool)
	if err != nil {
		if IsNotFound(err) {
			return nil, &FieldError{Field: AttrTargetPool, Err: err}
		}
		return nil, err
	}
	img, err := rbd.OpenImageReadOnly(ioctx, req.TargetImage, rbd.NoSnapshot)
	if errors.Is(err, rbd.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, &cephconn.Error{What: "target image " + spec(req.TargetPool, req.TargetImage), Err: err, Pool: req.TargetPool, User: e.SourceCluster.User()}
	}
	defer closeImage(img)
	target := spec(req.TargetPool, req.TargetImage)
	if id := restoringMarkOf(img).backupID; id != "" {
		warnings = append(warnings, fmt.Sprintf("The target image %s holds an interrupted restore of backup %s: it is neither its old content nor that restore point. "+
			"This restore overwrites it; to finish the interrupted one instead, restore backup %s into it.", target, id, id))
	}
	return warnings, refuseOverwrite(img, req, "target image "+target+" on "+e.SourceCluster.Name())
}

// refuseOverwrite fails unless the existing target may be written: with
// Force, or when it is this restore's own unfinished target (a killed run is
// resumed, force or not).
func refuseOverwrite(img *rbd.Image, req RestoreRequest, what string) error {
	if req.Force || restoringMarkOf(img).backupID == req.BackupID {
		return nil
	}
	return &FieldError{Field: AttrForce, Err: fmt.Errorf("%s already exists and force is false: nothing was changed. "+
		"Set force = true to overwrite it with the restore point, or choose another target_image", what)}
}

// openTarget opens the target image, creating it when it does not exist.
// An existing image is only checked here (refused without Force, unless it
// is this restore's own unfinished target): it is marked once claimTarget
// has made sure no other client uses it, so that a refused restore leaves it
// exactly as it was.
func (e *Engine) openTarget(ctx context.Context, req RestoreRequest, size uint64) (img *rbd.Image, existed bool, err error) {
	what := "target image " + spec(req.TargetPool, req.TargetImage) + " on " + e.SourceCluster.Name()
	ioctx, err := e.SourceCluster.IOContext(ctx, req.TargetPool)
	if err != nil {
		return nil, false, err
	}
	img, err = rbd.OpenImage(ioctx, req.TargetImage, rbd.NoSnapshot)
	if err == nil {
		if err := refuseOverwrite(img, req, what); err != nil {
			closeImage(img)
			return nil, false, err
		}
		return img, true, nil
	}
	if !errors.Is(err, rbd.ErrNotFound) {
		return nil, false, &cephconn.Error{What: what, Err: err}
	}
	opts := rbd.NewRbdImageOptions()
	defer opts.Destroy()
	if err := rbd.CreateImage(ioctx, req.TargetImage, size, opts); err != nil {
		if cephconn.Is(err, syscall.EEXIST) {
			return nil, false, fmt.Errorf("%s was created by someone else while restoring: nothing was changed", what)
		}
		return nil, false, &cephconn.Error{What: what, Err: err}
	}
	img, err = rbd.OpenImage(ioctx, req.TargetImage, rbd.NoSnapshot)
	if err == nil {
		err = img.SetMetadata(createdByKey, req.BackupID)
	}
	if err == nil {
		err = img.SetMetadata(restoringKey, restoringMark{backupID: req.BackupID, created: true}.String())
	}
	if err != nil {
		closeImage(img)
		return nil, false, &cephconn.Error{What: what, Err: err}
	}
	return img, false, nil
}

// markRestoring marks an existing, claimed target before anything is
// written, so that an interrupted restore is found and reported by the next
// plan. created says the target is this restore's own unfinished creation
// (its mark says so, for this backup): only then is it resumed as a fresh
// image.
func (e *Engine) markRestoring(target *rbd.Image, req RestoreRequest) (created bool, err error) {
	mark := restoringMarkOf(target)
	if mark.created && mark.backupID == req.BackupID {
		return true, nil
	}
	if err := target.SetMetadata(restoringKey, restoringMark{backupID: req.BackupID}.String()); err != nil {
		return false, &cephconn.Error{What: "the restore marker of " + spec(req.TargetPool, req.TargetImage), Err: err}
	}
	return false, nil
}

// claimTarget makes sure no other client uses an existing target before it
// is written, and keeps it so while the restore runs. A client with the
// image open, busy or idle, is a watcher (the exclusive lock alone does not
// tell: librbd hands it over on request, and an idle client holds none), so
// any watcher but the provider's own connection refuses the restore. The
// exclusive lock, where the image has the feature, then stops a client that
// opens the image later from writing until the restore is done.
func (e *Engine) claimTarget(ctx context.Context, target *rbd.Image, name string) (release func(), err error) {
	conn, err := e.SourceCluster.Conn(ctx)
	if err != nil {
		return nil, err
	}
	self := int64(conn.GetInstanceID())
	deadline := time.Now().Add(staleWatchPatience)
	for {
		watchers, err := target.ListWatchers()
		if err != nil {
			return nil, &cephconn.Error{What: "the clients of image " + name, Err: err}
		}
		var others []string
		for _, w := range watchers {
			if w.Id != self {
				others = append(others, fmt.Sprintf("client.%d at %s", w.Id, w.Addr))
			}
		}
		if len(others) == 0 {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, &FieldError{Field: AttrTargetImage, Err: fmt.Errorf("image %s is in use by %s: restoring under a running client would corrupt what both write, so nothing was written. "+
				"Stop the client first (shut the VM down, unmap or unmount the device; `rbd status %s` lists the clients) and apply again",
				name, strings.Join(others, ", "), name)}
		}
		e.log().Info(ctx, "waiting for other clients to close the target image (a killed client's watch expires within 30 s)", map[string]any{
			"image": name, "clients": others,
		})
		select {
		case <-ctx.Done():
		case <-time.After(3 * time.Second):
		}
	}
	features, err := target.GetFeatures()
	if err != nil {
		return nil, &cephconn.Error{What: "the features of image " + name, Err: err}
	}
	if features&rbd.FeatureExclusiveLock == 0 {
		return func() {}, nil
	}
	return e.lock(ctx, target, targetPatience)
}

// restorePlan decides what to send. With a snapshot that the target and the
// backup image share (same name: a backup's snapshot, on the source volume
// and on the backup image), the target equals the backup image at that
// snapshot except for what changed on either side since; those extents are
// all that is sent. Otherwise the whole restore point is copied and every
// allocated extent of the target is rewritten or zeroed.
func (e *Engine) restorePlan(ctx context.Context, req RestoreRequest, rec chain.Record, point *rbd.Image, pointSnap rbd.SnapInfo, target *rbd.Image, created bool) (transfer.Plan, string, error) {
	size := rec.Size
	if created {
		data, zero, err := transfer.Changes(point, "", size, false)
		return transfer.NewPlan(data, zero, nil, size, false), "", err
	}
	base, err := e.sharedSnapshot(ctx, req, rec, target)
	if err != nil {
		return transfer.Plan{}, "", err
	}
	if base.Name == "" {
		data, zero, err := transfer.Changes(point, "", size, false)
		if err != nil {
			return transfer.Plan{}, "", err
		}
		dirty, err := transfer.Dirty(target, "", size)
		return transfer.NewPlan(data, zero, dirty, size, true), "", err
	}

	var data, zero extent.Set
	if base.Id <= pointSnap.Id {
		// The restore point is newer than the shared snapshot: a forward diff.
		data, zero, err = transfer.Changes(point, base.Name, size, true)
	} else {
		// Older: diff the other way round; which side holds data is not known
		// from that, so every changed extent is read from the restore point.
		var newer *rbd.Image
		newer, _, err = e.openRestorePoint(ctx, req.BackupPool, req.Image, base.Name)
		if err == nil {
			var d, z extent.Set
			d, z, err = transfer.Changes(newer, rec.Snapshot, base.Size, true)
			data = extent.Union(d, z)
			closeImage(newer)
		}
	}
	if err != nil {
		return transfer.Plan{}, "", err
	}
	if size > base.Size {
		// Beyond the shared snapshot's end the target has only zeros.
		data = extent.Union(data, extent.Set{{Off: base.Size, Len: size - base.Size}})
	}
	// Everything the target changed since, written or discarded (fstrim,
	// mkfs, blkdiscard), is rewritten from the restore point.
	dirty, err := transfer.Dirty(target, base.Name, size)
	if err != nil {
		return transfer.Plan{}, "", err
	}
	e.log().Info(ctx, "restoring only the differences from a shared snapshot", map[string]any{"snapshot": base.Name})
	return transfer.NewPlan(data, zero, dirty, size, true), base.Name, nil
}

// sharedSnapshot finds the newest snapshot the target has that is also a
// restore point on the backup image, with the same size. Its Size is the
// data's, as the target's.
func (e *Engine) sharedSnapshot(ctx context.Context, req RestoreRequest, rec chain.Record, target *rbd.Image) (rbd.SnapInfo, error) {
	targetSnaps, err := snapshots(target)
	if err != nil || len(targetSnaps) == 0 {
		return rbd.SnapInfo{}, err
	}
	img, err := openImage(ctx, e.BackupCluster, req.BackupPool, chain.BackupImageName(req.Image), "", true)
	if err != nil {
		return rbd.SnapInfo{}, err
	}
	defer closeImage(img)
	pts, err := points(img)
	if err != nil {
		return rbd.SnapInfo{}, err
	}
	_, backupSnaps, err := payloadSizes(img)
	if err != nil {
		return rbd.SnapInfo{}, err
	}
	var best rbd.SnapInfo
	for _, r := range pts.RestorePoints() {
		t, onTarget := targetSnaps[r.Snapshot]
		b := backupSnaps[r.Snapshot]
		if onTarget && t.Size == r.Size && b.Size == r.Size && r.Source() == rec.Source() && b.Id >= best.Id {
			best = b
		}
	}
	return best, nil
}

// RemoveRestoredImage deletes pool/image on the source cluster if a restore
// created it (it bears the mark); gone is success. An image without the mark
// (one a forced restore overwrote, or another image that took the name since)
// is left in place, and kept says so. An image with snapshots is refused by
// Ceph, and the error says so.
func (e *Engine) RemoveRestoredImage(ctx context.Context, pool, image string) (kept bool, err error) {
	img, err := openImage(ctx, e.SourceCluster, pool, image, "", true)
	if IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	_, markErr := img.GetMetadata(createdByKey)
	closeImage(img)
	if errors.Is(markErr, rbd.ErrNotFound) {
		return true, nil
	}
	if markErr != nil {
		return false, &cephconn.Error{What: "the metadata of image " + spec(pool, image), Err: markErr}
	}
	ioctx, err := e.SourceCluster.IOContext(ctx, pool)
	if err != nil {
		return false, err
	}
	if err := rbd.RemoveImage(ioctx, image); err != nil && !IsNotFound(err) {
		return false, &cephconn.Error{What: "image " + spec(pool, image) + " (remove its snapshots first if it has any)", Err: err}
	}
	return false, nil
}
