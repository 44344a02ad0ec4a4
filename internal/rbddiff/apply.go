package rbddiff

import (
	"errors"
	"fmt"
	"io"
	"math"
)

// applyBufSize bounds the memory Apply uses per data record.
const applyBufSize = 1 << 20

// Apply reads the remaining records and applies them to dst: data records
// through dst.WriteAt, zero records through zero. It returns nil once the
// end record has been read.
//
// If zero is nil, zero extents are written as explicit zero bytes. Note
// that with librbd a plain Discard is not a substitute: small or unaligned
// discards can leave the old data in place. Resizing dst to Header().Size
// is left to the caller.
func (r *Reader) Apply(dst io.WriterAt, zero func(off, length uint64) error) error {
	var buf []byte
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if rec.Offset+rec.Length > math.MaxInt64 {
			return fmt.Errorf("rbddiff: %v record %d+%d does not fit an io.WriterAt offset", rec.Kind, rec.Offset, rec.Length)
		}
		if rec.Kind == Zero && zero != nil {
			if err := zero(rec.Offset, rec.Length); err != nil {
				return fmt.Errorf("rbddiff: zeroing %d+%d: %w", rec.Offset, rec.Length, err)
			}
			continue
		}
		if n := int(min(rec.Length, applyBufSize)); len(buf) < n {
			buf = make([]byte, n)
		}
		off, left := rec.Offset, rec.Length
		for left > 0 {
			chunk := buf[:min(left, uint64(len(buf)))]
			if rec.Kind == Data {
				if _, err := io.ReadFull(r, chunk); err != nil {
					return err
				}
			} else {
				clear(chunk)
			}
			if _, err := dst.WriteAt(chunk, int64(off)); err != nil {
				return fmt.Errorf("rbddiff: writing %v extent at %d: %w", rec.Kind, off, err)
			}
			off += uint64(len(chunk))
			left -= uint64(len(chunk))
		}
	}
}
