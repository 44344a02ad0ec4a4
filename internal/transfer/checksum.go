package transfer

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/extent"
)

// Checksum is the sha256 of the first size bytes of src, as `rbd export |
// sha256sum` computes it. Chunks are read in parallel and hashed in order;
// chunks outside mayHaveData are known to be zeros and are not read. As
// many chunks are read at once as opts' memory bound allows.
func Checksum(ctx context.Context, src io.ReaderAt, size uint64, mayHaveData extent.Set, opts Options) (string, error) {
	opts = opts.withDefaults()
	const chunk = DefaultChunkSize
	parallelism := opts.buffers(chunk)
	type piece struct {
		buf  []byte
		err  error
		done chan struct{}
	}
	free := make(chan []byte, parallelism)
	for range parallelism {
		free <- make([]byte, chunk)
	}
	pieces := make(chan *piece, parallelism)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	go func() {
		defer close(pieces)
		for off := uint64(0); off < size; off += chunk {
			var buf []byte
			select {
			case buf = <-free:
			case <-ctx.Done():
				return
			}
			p := &piece{buf: buf[:min(chunk, size-off)], done: make(chan struct{})}
			pieces <- p
			span := extent.Set{{Off: off, Len: uint64(len(p.buf))}}
			if hole := extent.Subtract(span, mayHaveData); len(hole) == 1 && hole[0] == span[0] {
				clear(p.buf) // a hole: zeros without a read
				close(p.done)
				continue
			}
			go func(off uint64) {
				defer close(p.done)
				n, err := src.ReadAt(p.buf, int64(off))
				if err != nil && n == len(p.buf) {
					err = nil // io.EOF with a full buffer at the image's end
				}
				if err != nil {
					p.err = fmt.Errorf("reading %d bytes at offset %d: %w", len(p.buf), off, err)
				}
			}(off)
		}
	}()

	// Every piece is waited for, after a failure too: the caller closes src
	// next, and librbd must not be reading it then.
	h := sha256.New()
	var err error
	for p := range pieces {
		<-p.done
		if err != nil {
			continue
		}
		if err = p.err; err != nil {
			cancel() // no more reads start
			continue
		}
		h.Write(p.buf)
		free <- p.buf[:cap(p.buf)]
		opts.afterChunk()
	}
	if err = cmp.Or(err, ctx.Err()); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
