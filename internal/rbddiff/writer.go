package rbddiff

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// Writer encodes a diff stream. It writes straight through to the
// underlying writer (two writes per data record, one per zero record), so
// wrap an unbuffered destination in a bufio.Writer if records are small.
//
// After any error the stream is unusable and every later call returns that
// error.
type Writer struct {
	w       io.Writer
	version Version
	size    uint64
	hasSize bool
	err     error
	closed  bool
	scratch [1 + 8 + 16]byte
}

// NewWriter validates h, then writes the banner and the metadata records in
// the order rbd export-diff uses: 'f', 't', 'p' (v2), 's'.
func NewWriter(w io.Writer, h Header) (*Writer, error) {
	if h.Version != V1 && h.Version != V2 {
		return nil, fmt.Errorf("rbddiff: unsupported version %v", h.Version)
	}
	if h.HasProtected && h.Version != V2 {
		return nil, errors.New("rbddiff: snapshot protection status needs a v2 stream")
	}
	for _, n := range []struct {
		has  bool
		name string
	}{{h.HasFromSnap, h.FromSnap}, {h.HasToSnap, h.ToSnap}} {
		if n.has && len(n.name) > MaxSnapNameLen {
			return nil, fmt.Errorf("rbddiff: %w: %d bytes (max %d)", ErrNameTooLong, len(n.name), MaxSnapNameLen)
		}
	}

	// The header is small (names are capped), so emit it in one write.
	buf := make([]byte, 0, bannerLen+2*(1+8+4)+len(h.FromSnap)+len(h.ToSnap)+2*(1+8+8))
	buf = append(buf, h.Version.banner()...)
	name := func(tag byte, s string) {
		buf = append(buf, tag)
		if h.Version == V2 {
			buf = binary.LittleEndian.AppendUint64(buf, 4+uint64(len(s)))
		}
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(s)))
		buf = append(buf, s...)
	}
	if h.HasFromSnap {
		name(tagFromSnap, h.FromSnap)
	}
	if h.HasToSnap {
		name(tagToSnap, h.ToSnap)
	}
	if h.HasProtected {
		var b byte
		if h.Protected {
			b = 1
		}
		buf = append(buf, tagProtected)
		buf = binary.LittleEndian.AppendUint64(buf, 1)
		buf = append(buf, b)
	}
	if h.HasSize {
		buf = append(buf, tagSize)
		if h.Version == V2 {
			buf = binary.LittleEndian.AppendUint64(buf, 8)
		}
		buf = binary.LittleEndian.AppendUint64(buf, h.Size)
	}
	if _, err := w.Write(buf); err != nil {
		return nil, fmt.Errorf("rbddiff: writing header: %w", err)
	}
	return &Writer{w: w, version: h.Version, size: h.Size, hasSize: h.HasSize}, nil
}

// WriteData writes a 'w' record holding data at image offset off.
func (w *Writer) WriteData(off uint64, data []byte) error {
	if err := w.extentHeader(tagWrite, off, uint64(len(data))); err != nil {
		return err
	}
	if _, err := w.w.Write(data); err != nil {
		return w.fail(fmt.Errorf("rbddiff: writing 'w' record data: %w", err))
	}
	return nil
}

// WriteDataFrom writes a 'w' record of length bytes at image offset off,
// copying the data from r without holding it in memory. If r ends early
// the stream is left corrupt and an error wrapping io.ErrUnexpectedEOF is
// returned.
func (w *Writer) WriteDataFrom(off, length uint64, r io.Reader) error {
	if length > math.MaxInt64 {
		return fmt.Errorf("rbddiff: 'w' record length %d: %w", length, ErrExtentOverflow)
	}
	if err := w.extentHeader(tagWrite, off, length); err != nil {
		return err
	}
	n, err := io.CopyN(w.w, r, int64(length))
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return w.fail(fmt.Errorf("rbddiff: copying 'w' record data at image offset %d (%d of %d bytes): %w", off, n, length, err))
	}
	return nil
}

// WriteZero writes a 'z' record: length bytes at off read back as zeros.
func (w *Writer) WriteZero(off, length uint64) error {
	return w.extentHeader(tagZero, off, length)
}

// Close writes the end record. It does not close the underlying writer.
// Calling Close again does nothing.
func (w *Writer) Close() error {
	if w.closed {
		return w.err
	}
	if w.err != nil {
		return w.err
	}
	w.closed = true
	if _, err := w.w.Write([]byte{tagEnd}); err != nil {
		return w.fail(fmt.Errorf("rbddiff: writing end record: %w", err))
	}
	return nil
}

func (w *Writer) extentHeader(tag byte, off, length uint64) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return ErrClosed
	}
	// Invalid extents are the caller's mistake and leave the stream intact,
	// so they do not poison the writer.
	if err := checkExtent(off, length, w.size, w.hasSize); err != nil {
		return fmt.Errorf("rbddiff: %q record %d+%d (image size %d): %w", tag, off, length, w.size, err)
	}
	b := append(w.scratch[:0], tag)
	if w.version == V2 {
		rl := uint64(16)
		if tag == tagWrite {
			if length > math.MaxUint64-16 {
				return fmt.Errorf("rbddiff: %q record length %d: %w", tag, length, ErrExtentOverflow)
			}
			rl += length
		}
		b = binary.LittleEndian.AppendUint64(b, rl)
	}
	b = binary.LittleEndian.AppendUint64(b, off)
	b = binary.LittleEndian.AppendUint64(b, length)
	if _, err := w.w.Write(b); err != nil {
		return w.fail(fmt.Errorf("rbddiff: writing %q record: %w", tag, err))
	}
	return nil
}

func (w *Writer) fail(err error) error {
	w.err = err
	return err
}
