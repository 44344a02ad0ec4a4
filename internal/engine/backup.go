package engine

import (
	"context"
	"fmt"
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
	for _, f := range []struct{ what, v string }{{"pool", r.Pool}, {"image", r.Image}, {"backup_pool", r.BackupPool}} {
		if err := chain.ValidateName(f.what, f.v); err != nil {
			return err
		}
	}
	if r.ParentID != "" {
		return chain.ValidateID(r.ParentID)
	}
	return nil
}

// Backup takes a backup. started is called with the pending record as soon
// as the backup has an id and a source snapshot, so a caller can save it
// before the long transfer (a later failure then leaves a tracked, deletable
// backup rather than an orphan).
func (e *Engine) Backup(ctx context.Context, req BackupRequest, started func(chain.Record)) (chain.Record, error) {
	if err := req.Validate(); err != nil {
		return chain.Record{}, err
	}
	fsid, err := e.SourceCluster.FSID(ctx)
	if err != nil {
		return chain.Record{}, err
	}
	src := chain.Source{FSID: fsid, Pool: req.Pool, Image: req.Image}
	srcImg, err := openImage(ctx, e.SourceCluster, req.Pool, req.Image, "", false)
	if err != nil {
		return chain.Record{}, err
	}
	defer closeImage(srcImg)
	headSize, err := srcImg.GetSize()
	if err != nil {
		return chain.Record{}, err
	}

	dst, fresh, err := e.ensureBackupImage(ctx, req.BackupPool, src, headSize)
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
	unlock, err := e.lock(ctx, dst, writerPatience)
	if err != nil {
		return chain.Record{}, err
	}
	release = func() { unlock(); closeImage(dst) }
	if err := claimBackupImage(dst, req.BackupPool, src); err != nil {
		return chain.Record{}, err
	}
	pts, err := points(dst)
	if err != nil {
		return chain.Record{}, err
	}
	e.cleanAbandoned(ctx, srcImg, dst, pts, src)

	var parent chain.Record
	if req.ParentID != "" {
		if parent, err = pts.CheckParent(req.ParentID, src); err != nil {
			return chain.Record{}, err
		}
		srcSnaps, err := snapshots(srcImg)
		if err != nil {
			return chain.Record{}, err
		}
		if _, ok := srcSnaps[parent.Snapshot]; !ok {
			return chain.Record{}, errParentSnapshotGone(parent)
		}
	}

	now := e.now()
	id := chain.NewID()
	rec := chain.Record{
		ID: id, Kind: req.Kind(), Status: chain.Pending, ParentID: req.ParentID,
		SourceFSID: fsid, Pool: req.Pool, Image: req.Image,
		Snapshot: chain.SnapshotName(id, now), CreatedAt: now,
	}
	if err := dst.SetMetadata(chain.RecordKey(id), rec.Encode()); err != nil {
		return chain.Record{}, &cephconn.Error{What: "the backup record on " + dst.GetName(), Err: err}
	}
	if _, err := srcImg.CreateSnapshot(rec.Snapshot); err != nil {
		e.forget(dst, id)
		return chain.Record{}, &cephconn.Error{What: "snapshot " + spec(req.Pool, req.Image) + "@" + rec.Snapshot, Err: err}
	}
	if started != nil {
		started(rec)
	}

	rec, err = e.fill(ctx, dst, fresh, req, rec, parent)
	if err != nil {
		// Nothing of this backup is a restore point yet: undo what it made.
		// What cannot be undone now is cleaned by the next backup of the image.
		_ = removeSnapshot(srcImg, rec.Snapshot)
		if stuck = cephconn.Is(err, syscall.ETIMEDOUT); !stuck {
			e.forget(dst, id)
		}
		return rec, err
	}

	// Prune source snapshots that no incremental will need any more.
	if srcSnaps, err := snapshots(srcImg); err == nil {
		names := make([]string, 0, len(srcSnaps))
		for n := range srcSnaps {
			names = append(names, n)
		}
		pts, _ = points(dst)
		for _, s := range pts.ObsoleteSourceSnapshots(src, rec.Snapshot, names) {
			if err := removeSnapshot(srcImg, s); err != nil {
				e.log().Info(ctx, "could not remove an obsolete source snapshot", map[string]any{"snapshot": s, "error": err.Error()})
				continue
			}
			e.log().Info(ctx, "removed obsolete source snapshot", map[string]any{"snapshot": spec(req.Pool, req.Image) + "@" + s})
		}
	}
	return rec, nil
}

// fill copies the data into the backup image and turns it into a restore
// point. The restore point's snapshot is taken only once all data is in and
// flushed, and the record is marked complete just before it.
func (e *Engine) fill(ctx context.Context, dst *rbd.Image, fresh bool, req BackupRequest, rec chain.Record, parent chain.Record) (chain.Record, error) {
	ioctx, err := e.SourceCluster.IOContext(ctx, req.Pool)
	if err != nil {
		return rec, err
	}
	snapImg, err := rbd.OpenImageReadOnly(ioctx, req.Image, rec.Snapshot)
	if err != nil {
		return rec, &cephconn.Error{What: "snapshot " + spec(req.Pool, req.Image) + "@" + rec.Snapshot, Err: err}
	}
	defer closeImage(snapImg)
	size, err := snapImg.GetSize()
	if err != nil {
		return rec, err
	}
	rec.Size = size
	if err := resize(dst, size); err != nil {
		return rec, err
	}

	// Full: everything allocated at the source, and everything the backup
	// image's head holds (older backups' data must not survive where the
	// source is empty). Incremental: what changed at the source since the
	// parent, and whatever an interrupted run left dirty since the parent.
	var srcData, srcZero, dstDirty extent.Set
	if parent.ID == "" {
		srcData, srcZero, err = transfer.Changes(snapImg, "", size, false)
		if err == nil && !fresh {
			dstDirty, _, err = transfer.Changes(dst, "", size, false)
		}
	} else {
		srcData, srcZero, err = transfer.Changes(snapImg, parent.Snapshot, size, true)
		if err == nil {
			dstDirty, _, err = transfer.Changes(dst, parent.Snapshot, size, true)
		}
	}
	if err != nil {
		return rec, err
	}
	plan := transfer.NewPlan(srcData, srcZero, dstDirty, size, !fresh)
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
	rec.Status = chain.Complete
	if err := dst.SetMetadata(chain.RecordKey(rec.ID), rec.Encode()); err != nil {
		return rec, &cephconn.Error{What: "the backup record on " + dst.GetName(), Err: err}
	}
	if _, err := dst.CreateSnapshot(rec.Snapshot); err != nil {
		return rec, &cephconn.Error{What: "restore point " + dst.GetName() + "@" + rec.Snapshot, Err: err}
	}
	return rec, nil
}

// run executes a transfer plan with progress logged at INFO.
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
	}
	e.log().Info(ctx, op+" transfer starting", map[string]any{
		"snapshot": snap, "copy_bytes": byteCount(plan.Copy.Bytes()), "zero_bytes": byteCount(plan.Zero.Bytes()),
	})
	stats, err := transfer.Run(ctx, src, transfer.ImageSink{Image: dst}, plan, opts)
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

func resize(img *rbd.Image, size uint64) error {
	cur, err := img.GetSize()
	if err != nil {
		return err
	}
	if cur == size {
		return nil
	}
	if err := img.Resize(size); err != nil {
		return &cephconn.Error{What: fmt.Sprintf("resizing %s to %d bytes", img.GetName(), size), Err: err}
	}
	return nil
}

// forget removes a backup's record; best effort, for clean-up paths.
func (e *Engine) forget(dst *rbd.Image, id string) {
	if err := dst.RemoveMetadata(chain.RecordKey(id)); err != nil && !IsNotFound(err) {
		e.log().Info(context.Background(), "could not remove a backup record; the next backup of this image removes it",
			map[string]any{"id": id, "error": err.Error()})
	}
}

// cleanAbandoned removes what interrupted backups of src left behind: their
// source snapshots and records. Runs under the backup image's lock, so no
// live backup of the image is in progress. Restore points are never touched.
func (e *Engine) cleanAbandoned(ctx context.Context, srcImg, dst *rbd.Image, pts chain.Points, src chain.Source) {
	for _, r := range pts.Abandoned() {
		if r.Source() != src {
			continue
		}
		if err := removeSnapshot(srcImg, r.Snapshot); err != nil {
			e.log().Info(ctx, "could not remove the source snapshot of an interrupted backup", map[string]any{"snapshot": r.Snapshot, "error": err.Error()})
			continue
		}
		e.forget(dst, r.ID)
		e.log().Info(ctx, "cleaned up an interrupted backup", map[string]any{"id": r.ID, "snapshot": r.Snapshot})
	}
}
