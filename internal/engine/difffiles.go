package engine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/ceph/go-ceph/rados"
	"github.com/ceph/go-ceph/rbd"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/cephconn"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/rbddiff"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/transfer"
)

// DiffFilesRequest rebuilds an image from rbd diff files alone, for when the
// source and the backup cluster are both lost: Files, oldest first, are a
// full diff (`rbd export-diff pool/image@snap`, or the diff file of a full
// backup) followed by incrementals, each starting from the snapshot the one
// before it ends at. TargetPool/TargetImage, on the source cluster, must not
// exist yet.
type DiffFilesRequest struct {
	Files                   []string
	TargetPool, TargetImage string
}

// DiffFilesResult says what RestoreFromDiffFiles did.
type DiffFilesResult struct {
	// Snapshot is the snapshot the last file ends at: the point in time the
	// target now holds ("" when that file ends at an image head).
	Snapshot string
	Size     uint64
	// WrittenBytes counts the data written, zeroed ranges excluded.
	WrittenBytes uint64
}

// RestoreFromDiffFiles creates the target image and applies req.Files to it
// in order, as `rbd import-diff` would, but checks the whole sequence first:
// every file is read to its end record, and a sequence with a gap, a
// reordering or a file without its size record is refused before the target
// is created. Only the target's head is written; no snapshot is made. A
// restore that fails once the target exists removes it again: a partly
// applied sequence is no point in time of the volume.
func (e *Engine) RestoreFromDiffFiles(ctx context.Context, req DiffFilesRequest) (DiffFilesResult, error) {
	if err := chain.ValidatePoolPath(AttrTargetPool, req.TargetPool); err != nil {
		return DiffFilesResult{}, err
	}
	if err := chain.ValidateName(AttrTargetImage, req.TargetImage); err != nil {
		return DiffFilesResult{}, err
	}
	headers, err := scanDiffFiles(ctx, req.Files)
	if err != nil {
		return DiffFilesResult{}, fmt.Errorf("%w. Nothing was written", err)
	}

	target := spec(req.TargetPool, req.TargetImage)
	what := "target image " + target + " on " + e.SourceCluster.Name()
	ioctx, err := e.SourceCluster.IOContext(ctx, req.TargetPool)
	if err != nil {
		if IsNotFound(err) {
			return DiffFilesResult{}, &FieldError{Field: AttrTargetPool, Err: err}
		}
		return DiffFilesResult{}, err
	}
	opts := rbd.NewRbdImageOptions()
	defer opts.Destroy()
	if err := rbd.CreateImage(ioctx, req.TargetImage, headers[0].Size, opts); err != nil {
		if cephconn.Is(err, syscall.EEXIST) {
			return DiffFilesResult{}, &FieldError{Field: AttrTargetImage, Err: fmt.Errorf("%s already exists: diff files are applied only to a new image, "+
				"so that nothing of its old content is left. Nothing was written. Choose another target_image, or remove that image first", what)}
		}
		return DiffFilesResult{}, &cephconn.Error{What: what, Err: err, Pool: req.TargetPool, User: e.SourceCluster.User()}
	}
	res, err := e.applyDiffFiles(ctx, ioctx, req, headers)
	if err != nil {
		if rmErr := rbd.RemoveImage(ioctx, req.TargetImage); rmErr != nil && !IsNotFound(rmErr) {
			return res, fmt.Errorf("%w. The partly written %s could not be removed (%w): remove it before trying again", err, what, rmErr)
		}
		return res, fmt.Errorf("%w. The partly written %s was removed", err, what)
	}
	return res, nil
}

// CheckDiffFiles checks, without a cluster, what RestoreFromDiffFiles checks
// before it creates anything: each file is a complete rbd diff stream, and
// together they are a full diff followed by incrementals without a gap.
func CheckDiffFiles(ctx context.Context, files []string) error {
	_, err := scanDiffFiles(ctx, files)
	return err
}

func scanDiffFiles(ctx context.Context, files []string) ([]rbddiff.Header, error) {
	if len(files) == 0 {
		return nil, errors.New("no diff files given: name the full diff first, then each incremental in order")
	}
	headers := make([]rbddiff.Header, len(files))
	for i, f := range files {
		h, err := scanDiffFile(ctx, f)
		if err != nil {
			return nil, err
		}
		headers[i] = h
	}
	return headers, checkDiffSequence(files, headers)
}

// applyDiffFiles writes the checked files into the new target, resizing it
// to each file's size record first, as `rbd import-diff` does.
func (e *Engine) applyDiffFiles(ctx context.Context, ioctx *rados.IOContext, req DiffFilesRequest, headers []rbddiff.Header) (DiffFilesResult, error) {
	target := spec(req.TargetPool, req.TargetImage)
	img, err := rbd.OpenImage(ioctx, req.TargetImage, rbd.NoSnapshot)
	if err != nil {
		return DiffFilesResult{}, &cephconn.Error{What: "target image " + target, Err: err}
	}
	defer closeImage(img)
	var res DiffFilesResult
	sink := &ctxSink{ctx: ctx, ImageSink: transfer.ImageSink{Image: img}}
	for i, name := range req.Files {
		if err := resize(img, headers[i].Size, 0); err != nil {
			return res, err
		}
		if err := applyDiffFile(name, sink); err != nil {
			return res, fmt.Errorf("applying %s to %s: %w", name, target, err)
		}
		e.log().Info(ctx, "diff file applied", map[string]any{
			"file": name, "from_snap": headers[i].FromSnap, "to_snap": headers[i].ToSnap, "target": target,
		})
	}
	if err := img.Flush(); err != nil {
		return res, &cephconn.Error{What: "flushing " + target, Err: err}
	}
	last := headers[len(headers)-1]
	return DiffFilesResult{Snapshot: last.ToSnap, Size: last.Size, WrittenBytes: sink.written}, nil
}

func applyDiffFile(name string, sink *ctxSink) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := rbddiff.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return err
	}
	return r.Apply(sink, sink.Zero)
}

// ctxSink stops a long apply when ctx ends, and counts what it wrote.
type ctxSink struct {
	ctx context.Context
	transfer.ImageSink
	written uint64
}

func (s *ctxSink) WriteAt(p []byte, off int64) (int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := s.ImageSink.WriteAt(p, off)
	s.written += uint64(n)
	return n, err
}

func (s *ctxSink) Zero(off, length uint64) error {
	if err := s.ctx.Err(); err != nil {
		return err
	}
	return s.ImageSink.Zero(off, length)
}

// scanDiffFile reads a whole diff file, so that a truncated or corrupt one
// is refused before anything is written, and returns its header.
func scanDiffFile(ctx context.Context, name string) (rbddiff.Header, error) {
	f, err := os.Open(name)
	if err != nil {
		return rbddiff.Header{}, fmt.Errorf("diff file: %w", err)
	}
	defer f.Close()
	r, err := rbddiff.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return rbddiff.Header{}, fmt.Errorf("diff file %s is not a usable rbd diff (as `rbd export-diff` writes): %w", name, err)
	}
	for {
		if err := ctx.Err(); err != nil {
			return rbddiff.Header{}, err
		}
		_, err := r.Next()
		if errors.Is(err, io.EOF) {
			return r.Header(), nil
		}
		if err != nil {
			return rbddiff.Header{}, fmt.Errorf("diff file %s is damaged or incomplete: %w", name, err)
		}
	}
}

// checkDiffSequence says whether files, with their headers, make one chain:
// a full diff first, then diffs each starting from the snapshot the one
// before ends at, every one with the image size it leaves.
func checkDiffSequence(files []string, headers []rbddiff.Header) error {
	for i, h := range headers {
		name := files[i]
		switch {
		case !h.HasSize:
			return fmt.Errorf("diff file %s has no image size record, so the size of the image it leaves is unknown: it was not written by `rbd export-diff`", name)
		case i == 0 && h.HasFromSnap:
			return fmt.Errorf("diff file %s holds the changes since snapshot %q, but the first file must be a full diff (written without --from-snap): "+
				"give the full diff first, then the incrementals in order", name, h.FromSnap)
		case i > 0 && !h.HasFromSnap:
			return fmt.Errorf("diff file %s is a full diff, but it comes after %s: only the first file may be a full diff. "+
				"To restore that point in time, give it first, followed by its own incrementals", name, files[i-1])
		case i > 0 && h.FromSnap != headers[i-1].ToSnap:
			return fmt.Errorf("diff file %s holds the changes since snapshot %q, but the file before it, %s, ends at %s: "+
				"a file is missing between them, or the files are out of order. Give every diff from the full one on, oldest first",
				name, h.FromSnap, files[i-1], describeEnd(headers[i-1]))
		case i < len(headers)-1 && !h.HasToSnap:
			return fmt.Errorf("diff file %s ends at the image head, not at a snapshot, so no diff can follow it: it must be the last file", name)
		}
	}
	return nil
}

func describeEnd(h rbddiff.Header) string {
	if !h.HasToSnap {
		return "the image head"
	}
	return fmt.Sprintf("snapshot %q", h.ToSnap)
}
