package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/ceph/go-ceph/rbd"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/cephconn"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/extent"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/transfer"
)

// BackupRequest asks for a full backup (ParentID empty) or an incremental.
type BackupRequest struct {
	Pool, Image string // the source image on the source cluster
	BackupPool  string // on the backup cluster
	ParentID    string
	// Verify reads back the copy and compares it with the source snapshot
	// before the restore point is taken.
	Verify bool
	// DeletionProtection is recorded with the backup from the start.
	DeletionProtection bool
	// Labels are recorded with the backup (chain.ValidateLabels).
	Labels map[string]string
	// AdoptBackupImage lets a full backup take over a backup image that
	// holds another source image's backups (the volume's lost original):
	// see Engine.claimBackupImage. Ignored for an incremental.
	AdoptBackupImage bool
}

// Kind is the kind of backup the request makes.
func (r BackupRequest) Kind() chain.Kind {
	if r.ParentID == "" {
		return chain.Full
	}
	return chain.Incremental
}

// Validate checks the names before anything touches a cluster.
func (r BackupRequest) Validate() error {
	for _, f := range []struct{ what, v string }{{AttrPool, r.Pool}, {AttrBackupPool, r.BackupPool}} {
		if err := chain.ValidatePoolPath(f.what, f.v); err != nil {
			return err
		}
	}
	if err := chain.ValidateName(AttrImage, r.Image); err != nil {
		return err
	}
	if r.ParentID != "" {
		if err := chain.ValidateID(r.ParentID); err != nil {
			return &FieldError{Field: AttrParentID, Err: err}
		}
	}
	return chain.ValidateLabels(r.Labels)
}

// Backup takes a backup. started is called with the pending record as soon
// as the backup has an id and a source snapshot, so a caller can save it
// before the long transfer (a later failure then leaves a tracked, deletable
// backup rather than an orphan).
//
// The source image is opened read-write only to create and remove snapshots;
// its data is read through a read-only open of the new snapshot, so a
// production volume carries no watcher or lock of the provider's while the
// data travels.
func (e *Engine) Backup(ctx context.Context, req BackupRequest, started func(chain.Record)) (chain.Record, error) {
	defer e.changing(req.BackupPool, req.Image)()
	if err := req.Validate(); err != nil {
		return chain.Record{}, err
	}
	fsid, err := e.SourceCluster.FSID(ctx)
	if err != nil {
		return chain.Record{}, err
	}
	src := chain.Source{FSID: fsid, Pool: req.Pool, Image: req.Image}
	srcHead, err := openImage(ctx, e.SourceCluster, req.Pool, req.Image, "", true)
	if err != nil {
		return chain.Record{}, err
	}
	headSize, err := srcHead.GetSize()
	closeImage(srcHead)
	if err != nil {
		return chain.Record{}, err
	}

	dst, err := e.ensureBackupImage(ctx, req.BackupPool, src, headSize)
	if err != nil {
		return chain.Record{}, err
	}
	// When the backup cluster stops answering, releasing the lock and closing
	// the image would each wait out the operation timeout: let them finish
	// in the background and fail now. What is left, the next backup cleans.
	stuck := false
	release := func() { closeImage(dst) }
	defer func() {
		if stuck {
			go release()
		} else {
			release()
		}
	}()
	if e.beforeLock != nil {
		e.beforeLock()
	}
	unlock, err := e.lock(ctx, dst, writerPatience)
	if err != nil {
		return chain.Record{}, err
	}
	release = func() { unlock(); closeImage(dst) }
	if err := e.claimBackupImage(ctx, dst, req.BackupPool, src, req.AdoptBackupImage && req.Kind() == chain.Full, headSize); err != nil {
		return chain.Record{}, err
	}
	pts, err := points(dst)
	if err != nil {
		return chain.Record{}, err
	}
	head, err := dst.GetMetadata(chain.HeadKey)
	if err != nil && !errors.Is(err, rbd.ErrNotFound) {
		return chain.Record{}, &cephconn.Error{What: "the head mark of " + dst.GetName(), Err: err}
	}
	// The head's snapshot stays on the source while it may serve as this
	// backup's base, even when its restore point is gone.
	e.cleanAbandoned(ctx, dst, pts, src, head)

	if req.ParentID != "" {
		if _, err = pts.CheckParent(req.ParentID, src); err != nil {
			return chain.Record{}, &FieldError{Field: AttrParentID, Err: err}
		}
	}

	now := time.Now().UTC()
	id := chain.NewID()
	rec := chain.Record{
		ID: id, Kind: req.Kind(), Status: chain.Pending, ParentID: req.ParentID,
		SourceFSID: fsid, Pool: req.Pool, Image: req.Image,
		Snapshot: chain.SnapshotName(id, now), CreatedAt: now, DeletionProtection: req.DeletionProtection,
		Labels: req.Labels,
	}
	if err := dst.SetMetadata(chain.RecordKey(id), rec.Encode()); err != nil {
		return chain.Record{}, &cephconn.Error{What: "the backup record on " + dst.GetName(), Err: err}
	}
	e.step(ctx, "backup", "record written", id)
	if err := e.onSource(ctx, req.Pool, req.Image, func(img *rbd.Image) error {
		_, err := img.CreateSnapshot(rec.Snapshot)
		return err
	}); err != nil {
		e.forget(dst, id)
		return chain.Record{}, &cephconn.Error{What: "snapshot " + spec(req.Pool, req.Image) + "@" + rec.Snapshot, Err: err}
	}
	if started != nil {
		started(rec)
	}

	// Once the copy is planned the older source snapshots are no longer
	// read, so their removal (a monitor commit each, about a second)
	// overlaps the copy instead of following it, and is joined before the
	// backup returns. Should the copy fail, the parent's snapshot is gone
	// all the same: the next backup of the image then copies the whole image
	// into the backup image (exact, with a warning at plan), as after any
	// out-of-band removal.
	var pruning sync.WaitGroup
	keep := rec.Snapshot
	planned := func() {
		pruning.Add(1)
		go func() {
			defer pruning.Done()
			e.pruneSourceSnapshots(ctx, pts, src, keep)
		}()
	}
	rec, err = e.fill(ctx, dst, req, rec, pts, head, planned)
	pruning.Wait()
	if err != nil {
		// Nothing of this backup is a restore point yet: undo what it made.
		// What cannot be undone now is cleaned by the next backup of the image.
		// The record goes only with the source snapshot: while either is
		// left, the next backup of the image knows it for garbage.
		srcErr := e.onSource(ctx, req.Pool, req.Image, func(img *rbd.Image) error { return removeSnapshot(img, rec.Snapshot) })
		if stuck = cephconn.Is(err, syscall.ETIMEDOUT); !stuck && srcErr == nil {
			e.forget(dst, id)
		}
		return rec, err
	}
	e.step(ctx, "backup", "source snapshots pruned", rec.ID)
	if pts, err := points(dst); err == nil {
		e.cleanAbandoned(ctx, dst, pts, src, "")
	}
	// Handed back: from here a kill loses only Terraform's copy of the
	// record, which the backup cluster then reports as unconfirmed.
	rec.Unconfirmed = false
	if err := dst.SetMetadata(chain.RecordKey(rec.ID), rec.Encode()); err != nil {
		e.log().Info(ctx, "could not mark the restore point confirmed; plans will report it as left by an interrupted apply",
			map[string]any{"id": rec.ID, "error": err.Error()})
	}
	return rec, nil
}

// onSource runs f on the source image opened read-write, and closes it.
func (e *Engine) onSource(ctx context.Context, pool, image string, f func(*rbd.Image) error) error {
	img, err := openImage(ctx, e.SourceCluster, pool, image, "", false)
	if err != nil {
		return err
	}
	defer closeImage(img)
	return f(img)
}

// pruneSourceSnapshots removes the source snapshots that no incremental will
// need any more: all of src's backups' (as pts records them) but keep, the
// newest.
func (e *Engine) pruneSourceSnapshots(ctx context.Context, pts chain.Points, src chain.Source, keep string) {
	_ = e.onSource(ctx, src.Pool, src.Image, func(img *rbd.Image) error {
		srcSnaps, err := snapshots(img)
		if err != nil {
			return err
		}
		names := make([]string, 0, len(srcSnaps))
		for n := range srcSnaps {
			names = append(names, n)
		}
		for _, s := range pts.ObsoleteSourceSnapshots(src, keep, names) {
			if err := removeSnapshot(img, s); err != nil {
				e.log().Info(ctx, "could not remove an obsolete source snapshot", map[string]any{"snapshot": s, "error": err.Error()})
				continue
			}
			e.log().Info(ctx, "removed obsolete source snapshot", map[string]any{"snapshot": spec(src.Pool, src.Image) + "@" + s})
		}
		return nil
	})
}

// fill copies the data into the backup image and turns it into a restore
// point. The restore point's snapshot is taken only once all data is in and
// flushed, and the record is marked complete just before it.
//
// What is copied is decided here, under the backup image's lock, from what
// the image holds now (another backup may have written it since it was
// opened). A full copies everything allocated at the source and rewrites
// everything the backup image's head holds. An incremental diffs from its
// base: the newest backup snapshot still on the source whose content the
// backup image still has, as a restore point or, per the head mark, as its
// unchanged head. The head equals the base plus whatever changed on it
// since, and the source snapshot equals the base plus what changed at the
// source since, so rewriting both sets from the source makes the head exact.
// Any such snapshot will do, not only the parent's, so a chain goes on
// incrementally after a restore point was deleted out of band; with none,
// the whole image is copied into the existing backup image.
func (e *Engine) fill(ctx context.Context, dst *rbd.Image, req BackupRequest, rec chain.Record, pts chain.Points, head string, planned func()) (chain.Record, error) {
	snapImg, err := openImage(ctx, e.SourceCluster, req.Pool, req.Image, rec.Snapshot, true)
	if err != nil {
		return rec, err
	}
	defer closeImage(snapImg)
	size, err := snapImg.GetSize()
	if err != nil {
		return rec, err
	}
	rec.Size = size

	base := ""
	if rec.Kind == chain.Incremental {
		if base, err = incrementalBase(snapImg, pts, rec.Source(), head); err != nil {
			return rec, err
		}
		if base == "" {
			e.log().Info(ctx, "no backup snapshot that the backup image still holds is on the source: copying the whole image into the backup image", map[string]any{
				"backup_image": dst.GetName(), "parent_id": rec.ParentID,
			})
		}
	}
	// From here the head changes: it no longer holds any snapshot's content.
	if head != "" {
		if err := dst.RemoveMetadata(chain.HeadKey); err != nil && !IsNotFound(err) {
			return rec, &cephconn.Error{What: "the head mark of " + dst.GetName(), Err: err}
		}
	}
	enc, encrypted, err := encryptionOf(dst)
	if err != nil {
		return rec, err
	}
	oldSize, err := dst.GetSize() // the data's: any encryption is loaded
	if err != nil {
		return rec, err
	}
	if err := resize(dst, size, enc.HeaderBytes); err != nil {
		return rec, err
	}
	var dstDirty extent.Set
	if base == "" || pts.Snapshots[base] {
		if dstDirty, err = transfer.Dirty(dst, base, size); err != nil {
			return rec, err
		}
	} // else the head is base's content, unchanged: nothing dirty.
	srcData, srcZero, err := transfer.Changes(snapImg, base, size, base != "")
	if err != nil {
		return rec, err
	}
	planned()
	if e.beforeCopy != nil {
		if err := e.beforeCopy(); err != nil {
			return rec, err
		}
	}
	// A backup image with nothing allocated needs no zeros written: its
	// holes read as zeros already.
	plan := transfer.NewPlan(srcData, srcZero, dstDirty, size, base != "" || len(dstDirty) > 0)
	if encrypted {
		if size > oldSize {
			// Grown: the object that held the old end has bytes never written.
			plan.Copy = extent.Union(plan.Copy, extent.Set{{Off: oldSize, Len: 1}})
		}
		st, err := dst.Stat()
		if err != nil {
			return rec, &cephconn.Error{What: "the layout of " + dst.GetName(), Err: err}
		}
		plan = plan.CoverObjects(st.Obj_size, enc.HeaderBytes, size)
	}
	stats, err := e.run(ctx, snapImg, dst, plan, "backup", rec.Snapshot)
	if err != nil {
		return rec, err
	}
	if err := dst.Flush(); err != nil {
		return rec, &cephconn.Error{What: "flushing backup image " + dst.GetName(), Err: err}
	}
	rec.TransferredBytes = stats.WrittenBytes
	if req.Verify {
		// Before the snapshot: a copy that does not match never becomes a
		// restore point.
		if rec.SHA256, err = e.verifyCopy(ctx, snapImg, dst, size, ""); err != nil {
			return rec, err
		}
	}
	e.step(ctx, "backup", "data copied", rec.ID)
	rec.Status, rec.Unconfirmed = chain.Complete, true
	if err := dst.SetMetadata(chain.RecordKey(rec.ID), rec.Encode()); err != nil {
		return rec, &cephconn.Error{What: "the backup record on " + dst.GetName(), Err: err}
	}
	e.step(ctx, "backup", "record completed", rec.ID)
	if _, err := dst.CreateSnapshot(rec.Snapshot); err != nil {
		return rec, &cephconn.Error{What: "restore point " + dst.GetName() + "@" + rec.Snapshot, Err: err}
	}
	e.step(ctx, "backup", "restore point taken", rec.ID)
	if rec.DeletionProtection {
		// The restore point is complete whatever happens here: a refresh
		// reports it unprotected, and the next apply protects it.
		if err := setProtection(dst, rec.Snapshot, true); err != nil {
			e.log().Info(ctx, "could not protect the restore point", map[string]any{"snapshot": rec.Snapshot, "error": err.Error()})
		} else {
			rec.PointProtected = true
		}
	}
	if err := dst.SetMetadata(chain.HeadKey, rec.Snapshot); err != nil {
		// Only an optimisation is lost: the next incremental diffs from a
		// restore point instead.
		e.log().Info(ctx, "could not mark the backup image's head", map[string]any{"error": err.Error()})
	}
	return rec, nil
}

// incrementalBase is the snapshot an incremental of src diffs from: the
// newest (by the source's snapshot ids) backup snapshot of src, named by a
// record that passes chain.Record.CheckOwn, that the source image still has
// and whose content the backup image holds, as a restore point or as its
// unchanged head; "" when there is none.
func incrementalBase(snapImg *rbd.Image, pts chain.Points, src chain.Source, head string) (string, error) {
	srcSnaps, err := snapshots(snapImg)
	if err != nil {
		return "", err
	}
	var base rbd.SnapInfo
	consider := func(name string) {
		if s, ok := srcSnaps[name]; ok && (base.Name == "" || s.Id > base.Id) {
			base = s
		}
	}
	for _, r := range pts.Records {
		// A forged record may name any snapshot, whose content is nobody's
		// backup.
		if r.Source() != src || r.CheckOwn(src.Image) != nil {
			continue
		}
		if pts.IsRestorePoint(r) || (r.Snapshot == head && r.Status == chain.Complete) {
			consider(r.Snapshot)
		}
	}
	return base.Name, nil
}

// run executes a transfer plan with progress logged at INFO and passed to
// e.Progress.
func (e *Engine) run(ctx context.Context, src *rbd.Image, dst *rbd.Image, plan transfer.Plan, op, snap string) (transfer.Stats, error) {
	opts := e.Transfer
	if st, err := dst.Stat(); err == nil {
		opts.ObjectSize = st.Obj_size
	}
	// Numbers go out as strings: log fields cross the plugin boundary as
	// JSON, where large integers would print as 1.073741824e+09.
	opts.Progress = func(p transfer.Progress) {
		e.log().Info(ctx, op+" progress", map[string]any{
			"snapshot": snap, "bytes_done": byteCount(p.Done), "bytes_total": byteCount(p.Total),
			"percent": fmt.Sprintf("%.1f", p.Percent()), "mib_per_s": fmt.Sprintf("%.1f", p.Rate()/(1<<20)),
			"eta": p.ETA().Round(time.Second).String(),
		})
		if e.Progress != nil {
			e.Progress(op, p)
		}
	}
	e.log().Info(ctx, op+" transfer starting", map[string]any{
		"snapshot": snap, "copy_bytes": byteCount(plan.Copy.Bytes()), "zero_bytes": byteCount(plan.Zero.Bytes()),
	})
	stats, err := transfer.Run(ctx, src, transfer.ImageSink{Image: dst}, plan, opts)
	if stats.NoAsyncIO != nil {
		e.warnNoAsyncIO(ctx, stats.NoAsyncIO)
	}
	if err != nil {
		return stats, fmt.Errorf("%s of %s interrupted: %w", op, snap, err)
	}
	e.log().Info(ctx, op+" transfer done", map[string]any{
		"snapshot": snap, "written_bytes": byteCount(stats.WrittenBytes), "zeroed_bytes": byteCount(stats.ZeroedBytes),
		"read_bytes": byteCount(stats.ReadBytes), "seconds": fmt.Sprintf("%.2f", stats.Duration.Seconds()),
		"mib_per_s": fmt.Sprintf("%.1f", float64(stats.ReadBytes)/(1<<20)/max(stats.Duration.Seconds(), 1e-9)),
	})
	return stats, nil
}

// byteCount formats a byte count exactly, with its size in MiB for people.
func byteCount(n uint64) string { return fmt.Sprintf("%d (%.1f MiB)", n, float64(n)/(1<<20)) }

// forget removes a backup's record; best effort, for clean-up paths.
func (e *Engine) forget(dst *rbd.Image, id string) {
	if err := dst.RemoveMetadata(chain.RecordKey(id)); err != nil && !IsNotFound(err) {
		e.log().Info(context.Background(), "could not remove a backup record; the next backup of this image removes it",
			map[string]any{"id": id, "error": err.Error()})
	}
}

// cleanAbandoned removes what interrupted backups and deletions of src left
// behind: their source snapshots, the restore points of deletions, and their
// records. Runs under the backup image's lock, so no live backup or deletion
// of the image is in progress. Restore points are never touched, except those
// whose deletion was recorded. A backup whose snapshot is keep is left as
// it is.
func (e *Engine) cleanAbandoned(ctx context.Context, dst *rbd.Image, pts chain.Points, src chain.Source, keep string) {
	for _, r := range pts.Abandoned() {
		// Forged or damaged records are reported by Leftovers, and what
		// they name is left alone.
		if r.Source() != src || r.Snapshot == keep || r.CheckOwn(src.Image) != nil {
			continue
		}
		if err := e.onSource(ctx, src.Pool, src.Image, func(img *rbd.Image) error { return removeSnapshot(img, r.Snapshot) }); err != nil && !IsNotFound(err) {
			e.log().Info(ctx, "could not remove the source snapshot of an interrupted backup", map[string]any{"snapshot": r.Snapshot, "error": err.Error()})
			continue
		}
		if r.Status == chain.Deleting {
			if err := removeSnapshot(dst, r.Snapshot); err != nil {
				e.log().Info(ctx, "could not finish an interrupted deletion", map[string]any{"snapshot": r.Snapshot, "error": err.Error()})
				continue
			}
		}
		e.forget(dst, r.ID)
		e.log().Info(ctx, "cleaned up an interrupted backup or deletion", map[string]any{"id": r.ID, "snapshot": r.Snapshot, "status": string(r.Status)})
	}
}
