package engine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/extent"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/rbddiff"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/transfer"
)

// ExportRequest names a restore point to write as an rbd diff stream, whole
// or (with FromID) as the changes since an older restore point of the same
// backup image.
type ExportRequest struct {
	BackupID, FromID        string
	Pool, Image, BackupPool string
}

// ExportResult says what an export wrote.
type ExportResult struct {
	Record    chain.Record
	DataBytes uint64 // bytes carried by data records
}

// ExportDiff writes the restore point as an rbd diff v1 stream, as
// `rbd export-diff [--from-snap F] backup@snap -` writes it: `rbd import-diff`
// applies it. Extents come in ascending order; memory stays at one chunk.
func (e *Engine) ExportDiff(ctx context.Context, req ExportRequest, w io.Writer) (ExportResult, error) {
	rec, err := e.GetBackup(ctx, req.BackupPool, req.Image, req.BackupID)
	if errors.Is(err, ErrGone) {
		return ExportResult{}, fmt.Errorf("backup %s is not a restore point of %s/%s in pool %s", req.BackupID, req.Pool, req.Image, req.BackupPool)
	}
	if err != nil {
		return ExportResult{}, err
	}
	hdr := rbddiff.Header{Version: rbddiff.V1, ToSnap: rec.Snapshot, HasToSnap: true, Size: rec.Size, HasSize: true}
	if req.FromID != "" {
		from, err := e.GetBackup(ctx, req.BackupPool, req.Image, req.FromID)
		if err != nil {
			return ExportResult{}, fmt.Errorf("from_backup_id %s: %w", req.FromID, err)
		}
		if !from.CreatedAt.Before(rec.CreatedAt) {
			return ExportResult{}, fmt.Errorf("from_backup_id %s is not older than backup %s: a diff goes from an older restore point to a newer one", req.FromID, req.BackupID)
		}
		hdr.FromSnap, hdr.HasFromSnap = from.Snapshot, true
	}
	point, pointSnap, err := e.openRestorePoint(ctx, req.BackupPool, req.Image, rec.Snapshot)
	if err != nil {
		return ExportResult{}, err
	}
	defer closeImage(point)
	data, zero, err := transfer.Changes(point, hdr.FromSnap, rec.Size, true)
	if err != nil {
		return ExportResult{}, err
	}

	buf := bufio.NewWriterSize(w, 1<<20)
	enc, err := rbddiff.NewWriter(buf, hdr)
	if err != nil {
		return ExportResult{}, err
	}
	res := ExportResult{Record: rec}
	chunk := make([]byte, transfer.DefaultChunkSize)
	for _, r := range ordered(data, extent.Subtract(zero, data)) {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if r.zero {
			if err := enc.WriteZero(r.Off, r.Len); err != nil {
				return res, err
			}
			continue
		}
		for off := r.Off; off < r.End(); off += uint64(len(chunk)) {
			p := chunk[:min(uint64(len(chunk)), r.End()-off)]
			if n, err := point.ReadAt(p, int64(off)); n != len(p) {
				return res, fmt.Errorf("reading %s@%s at %d: %w", point.GetName(), rec.Snapshot, off, err)
			}
			for _, run := range transfer.ZeroRuns(p) {
				at, part := off+uint64(run.Start), p[run.Start:run.End]
				if run.Zero {
					err = enc.WriteZero(at, uint64(len(part)))
				} else {
					err = enc.WriteData(at, part)
					res.DataBytes += uint64(len(part))
				}
				if err != nil {
					return res, err
				}
			}
			if e.Transfer.AfterChunk != nil {
				e.Transfer.AfterChunk()
			}
		}
	}
	// Checked before the end record, so that the stream of a point that
	// went while it was read is never a complete one.
	if err := e.confirmRead(ctx, req.BackupPool, req.Image, pointSnap); err != nil {
		return res, fmt.Errorf("export of backup %s failed: %w. The stream written so far has no end record "+
			"(cephbackup_diff_file keeps no partial file): export another restore point", req.BackupID, err)
	}
	if err := enc.Close(); err != nil {
		return res, err
	}
	return res, buf.Flush()
}

type orderedExtent struct {
	extent.Extent
	zero bool
}

// ordered merges data and zero extents (disjoint sets) by offset.
func ordered(data, zero extent.Set) []orderedExtent {
	out := make([]orderedExtent, 0, len(data)+len(zero))
	i, j := 0, 0
	for i < len(data) || j < len(zero) {
		if j == len(zero) || (i < len(data) && data[i].Off < zero[j].Off) {
			out = append(out, orderedExtent{data[i], false})
			i++
		} else {
			out = append(out, orderedExtent{zero[j], true})
			j++
		}
	}
	return out
}
