package rbddiff

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// ReaderOptions adjusts how strict a Reader is.
type ReaderOptions struct {
	// AllowTrailingData makes the end record the end of the stream without
	// checking that the input ends there, for diff streams embedded in a
	// larger file ("rbd export --export-format 2"). The Reader never reads
	// past the end record, so the caller can continue with the input.
	AllowTrailingData bool
}

// Reader decodes a diff stream. It reads exactly what each field needs and
// never reads ahead, so wrap an unbuffered source in a bufio.Reader if
// records are small (unless AllowTrailingData requires exact positioning).
type Reader struct {
	r    io.Reader
	opts ReaderOptions
	h    Header
	off  int64 // bytes consumed from r

	// A data record tag already read by NewReader, handed to the first Next.
	pending       bool
	pendingTag    byte
	pendingTagOff int64
	pendingLen    uint64

	remaining uint64 // unread data bytes of the current 'w' record
	dataOff   int64  // stream offset where the current record's data starts
	dataLen   uint64
	done      bool
	err       error // sticky
	scratch   [16]byte
}

// NewReader reads the banner and the metadata records of a diff stream.
func NewReader(r io.Reader) (*Reader, error) {
	return NewReaderOptions(r, ReaderOptions{})
}

// NewReaderOptions is NewReader with options.
func NewReaderOptions(r io.Reader, opts ReaderOptions) (*Reader, error) {
	d := &Reader{r: r, opts: opts}
	if err := d.readHeader(); err != nil {
		return nil, err
	}
	return d, nil
}

// Header returns the metadata decoded by NewReader.
func (r *Reader) Header() Header { return r.h }

// InputOffset returns how many bytes of the input have been consumed.
func (r *Reader) InputOffset() int64 { return r.off }

func (r *Reader) readHeader() error {
	var b [bannerLen]byte
	n, err := io.ReadFull(r.r, b[:])
	r.off += int64(n)
	got := string(b[:n])
	switch {
	case got == bannerV1:
		r.h.Version = V1
	case got == bannerV2:
		r.h.Version = V2
	case err != nil && (got == bannerV1[:n] || got == bannerV2[:n]):
		return r.ioErr(0, "banner", err)
	case err != nil && !errors.Is(err, io.ErrUnexpectedEOF):
		return r.ioErr(0, "banner", err)
	default:
		return &DecodeError{Offset: 0, What: fmt.Sprintf("banner %q", got), Err: ErrBadBanner}
	}

	for {
		tagOff := r.off
		tag, recLen, err := r.readTag()
		if err != nil {
			return err
		}
		switch tag {
		case tagFromSnap, tagToSnap:
			has, name := &r.h.HasFromSnap, &r.h.FromSnap
			if tag == tagToSnap {
				has, name = &r.h.HasToSnap, &r.h.ToSnap
			}
			if *has {
				return r.dup(tag, tagOff)
			}
			s, err := r.readName(tag, tagOff, recLen)
			if err != nil {
				return err
			}
			*has, *name = true, s
		case tagSize:
			if r.h.HasSize {
				return r.dup(tag, tagOff)
			}
			if err := r.checkLen(tag, tagOff, recLen, 8); err != nil {
				return err
			}
			b, err := r.readFull(8, noTag, "'s' image size")
			if err != nil {
				return err
			}
			r.h.Size, r.h.HasSize = binary.LittleEndian.Uint64(b), true
		case tagProtected:
			if r.h.Version == V1 {
				return r.unknown(tag, tagOff)
			}
			if r.h.HasProtected {
				return r.dup(tag, tagOff)
			}
			// The content is one byte. Ceph 16's rbd export writes a length
			// of 8 in front of it (later releases write 1); rbd import reads
			// the byte and ignores the length, so accept both.
			if recLen != protectedLenCeph16 {
				if err := r.checkLen(tag, tagOff, recLen, 1); err != nil {
					return err
				}
			}
			b, err := r.readFull(1, noTag, "'p' protection status")
			if err != nil {
				return err
			}
			// rbd import-diff treats any non-zero byte as true.
			r.h.Protected, r.h.HasProtected = b[0] != 0, true
		case tagWrite, tagZero, tagEnd:
			r.pending, r.pendingTag, r.pendingTagOff, r.pendingLen = true, tag, tagOff, recLen
			return nil
		default:
			if err := r.skipUnknown(tag, tagOff, recLen); err != nil {
				return err
			}
		}
	}
}

// Next returns the next data or zero record, or io.EOF after the end
// record. Unread data of the previous record is discarded first.
func (r *Reader) Next() (Record, error) {
	if r.err != nil {
		return Record{}, r.err
	}
	if r.done {
		return Record{}, io.EOF
	}
	if r.remaining > 0 {
		if err := r.discard(); err != nil {
			return Record{}, err
		}
	}
	for {
		var (
			tag    byte
			tagOff int64
			recLen uint64
		)
		if r.pending {
			tag, tagOff, recLen = r.pendingTag, r.pendingTagOff, r.pendingLen
			r.pending = false
		} else {
			var err error
			tagOff = r.off
			if tag, recLen, err = r.readTag(); err != nil {
				return Record{}, err
			}
		}
		switch tag {
		case tagWrite, tagZero:
			return r.readExtent(tag, tagOff, recLen)
		case tagEnd:
			return Record{}, r.end()
		case tagFromSnap, tagToSnap, tagSize:
			return Record{}, r.fail(&DecodeError{Offset: tagOff, What: "record tag " + tagName(tag), Err: ErrRecordOrder})
		case tagProtected:
			if r.h.Version == V2 {
				return Record{}, r.fail(&DecodeError{Offset: tagOff, What: "record tag " + tagName(tag), Err: ErrRecordOrder})
			}
			return Record{}, r.unknown(tag, tagOff)
		default:
			if err := r.skipUnknown(tag, tagOff, recLen); err != nil {
				return Record{}, err
			}
		}
	}
}

// Read reads data of the current 'w' record, returning io.EOF at its end
// (and at once for zero records).
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.remaining == 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if uint64(len(p)) > r.remaining {
		p = p[:r.remaining]
	}
	n, err := r.r.Read(p)
	r.off += int64(n)
	r.remaining -= uint64(n)
	switch {
	case err == nil || (errors.Is(err, io.EOF) && r.remaining == 0):
		return n, nil
	case errors.Is(err, io.EOF):
		err = io.ErrUnexpectedEOF
	}
	return n, r.fail(&DecodeError{
		Offset: r.dataOff,
		What:   fmt.Sprintf("'w' record data (%d of %d bytes missing)", r.remaining, r.dataLen),
		Err:    err,
	})
}

// readTag reads a record tag and, in v2, the length that follows all tags
// but the end tag.
func (r *Reader) readTag() (byte, uint64, error) {
	off := r.off
	b, err := r.readFull(1, noTag, "record tag")
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) && r.off == off {
			// Clean EOF between records: the stream just stops.
			r.err = &DecodeError{Offset: off, What: "record tag", Err: ErrMissingEnd}
			return 0, 0, r.err
		}
		return 0, 0, err
	}
	tag := b[0]
	if r.h.Version == V1 || tag == tagEnd {
		return tag, 0, nil
	}
	b, err = r.readFull(8, int(tag), "record length")
	if err != nil {
		return 0, 0, err
	}
	return tag, binary.LittleEndian.Uint64(b), nil
}

func (r *Reader) readName(tag byte, tagOff int64, recLen uint64) (string, error) {
	what := "'f' from-snap name"
	if tag == tagToSnap {
		what = "'t' to-snap name"
	}
	// Check the v2 length before trusting the inner one.
	if r.h.Version == V2 && (recLen < 4 || recLen-4 > MaxSnapNameLen) {
		if recLen < 4 {
			return "", r.fail(&DecodeError{Offset: tagOff, What: fmt.Sprintf("%s record length %d", tagName(tag), recLen), Err: ErrRecordLength})
		}
		return "", r.fail(&DecodeError{Offset: tagOff, What: fmt.Sprintf("%s record length %d", tagName(tag), recLen), Err: ErrNameTooLong})
	}
	lenOff := r.off
	b, err := r.readFull(4, noTag, what+" length")
	if err != nil {
		return "", err
	}
	n := binary.LittleEndian.Uint32(b)
	if n > MaxSnapNameLen {
		return "", r.fail(&DecodeError{Offset: lenOff, What: fmt.Sprintf("%s length %d (max %d)", what, n, MaxSnapNameLen), Err: ErrNameTooLong})
	}
	if err := r.checkLen(tag, tagOff, recLen, 4+uint64(n)); err != nil {
		return "", err
	}
	b = make([]byte, n)
	if err := r.readInto(b, noTag, what); err != nil {
		return "", err
	}
	return string(b), nil
}

func (r *Reader) readExtent(tag byte, tagOff int64, recLen uint64) (Record, error) {
	b, err := r.readFull(16, int(tag), "record offset and length")
	if err != nil {
		return Record{}, err
	}
	rec := Record{Kind: Zero, Offset: binary.LittleEndian.Uint64(b), Length: binary.LittleEndian.Uint64(b[8:])}
	if tag == tagWrite {
		rec.Kind = Data
	}
	if err := checkExtent(rec.Offset, rec.Length, r.h.Size, r.h.HasSize); err != nil {
		return Record{}, r.fail(&DecodeError{
			Offset: tagOff,
			What:   fmt.Sprintf("%s record %d+%d (image size %d)", tagName(tag), rec.Offset, rec.Length, r.h.Size),
			Err:    err,
		})
	}
	if r.h.Version == V2 {
		want := uint64(16)
		if tag == tagWrite {
			if rec.Length > math.MaxUint64-16 {
				return Record{}, r.fail(&DecodeError{Offset: tagOff, What: fmt.Sprintf("%s record length %d", tagName(tag), rec.Length), Err: ErrExtentOverflow})
			}
			want += rec.Length
		}
		if err := r.checkLen(tag, tagOff, recLen, want); err != nil {
			return Record{}, err
		}
	}
	if rec.Kind == Data {
		r.remaining, r.dataLen, r.dataOff = rec.Length, rec.Length, r.off
	}
	return rec, nil
}

func (r *Reader) end() error {
	r.done = true
	if r.opts.AllowTrailingData {
		return io.EOF
	}
	var b [1]byte
	off := r.off
	n, err := io.ReadFull(r.r, b[:])
	r.off += int64(n)
	switch {
	case n == 1:
		return r.fail(&DecodeError{Offset: off, What: "byte " + tagName(b[0]) + " after end record", Err: ErrTrailingData})
	case errors.Is(err, io.EOF):
		return io.EOF
	}
	return r.fail(&DecodeError{Offset: off, What: "input after end record", Err: err})
}

// skipUnknown skips a v2 record by its length, as rbd import-diff does;
// v1 has no lengths, so an unknown tag there is fatal.
func (r *Reader) skipUnknown(tag byte, tagOff int64, recLen uint64) error {
	if r.h.Version == V1 {
		return r.unknown(tag, tagOff)
	}
	for recLen > 0 {
		// CopyN takes an int64; stepping keeps huge lengths from going negative.
		step := min(recLen, 1<<62)
		n, err := io.CopyN(io.Discard, r.r, int64(step))
		r.off += n
		recLen -= uint64(n)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return r.fail(&DecodeError{Offset: tagOff, What: fmt.Sprintf("skipping unknown v2 record %s (%d bytes missing)", tagName(tag), recLen), Err: err})
		}
	}
	return nil
}

func (r *Reader) discard() error {
	for r.remaining > 0 {
		step := min(r.remaining, 1<<62)
		n, err := io.CopyN(io.Discard, r.r, int64(step))
		r.off += n
		r.remaining -= uint64(n)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return r.fail(&DecodeError{
				Offset: r.dataOff,
				What:   fmt.Sprintf("'w' record data (%d of %d bytes missing)", r.remaining, r.dataLen),
				Err:    err,
			})
		}
	}
	return nil
}

func (r *Reader) checkLen(tag byte, tagOff int64, got, want uint64) error {
	if r.h.Version != V2 || got == want {
		return nil
	}
	return r.fail(&DecodeError{
		Offset: tagOff,
		What:   fmt.Sprintf("%s record length %d, contents %d", tagName(tag), got, want),
		Err:    ErrRecordLength,
	})
}

func (r *Reader) dup(tag byte, off int64) error {
	return r.fail(&DecodeError{Offset: off, What: "record tag " + tagName(tag), Err: ErrDuplicateRecord})
}

func (r *Reader) unknown(tag byte, off int64) error {
	return r.fail(&DecodeError{Offset: off, What: fmt.Sprintf("%s record tag %s", r.h.Version, tagName(tag)), Err: ErrUnknownTag})
}

// protectedLenCeph16 is the length field Ceph 16 ("pacific") and earlier
// write for the one-byte 'p' record: Export.cc encodes len = 8, then a bool.
const protectedLenCeph16 = 8

// noTag tells readFull that what needs no tag prefix.
const noTag = -1

// readFull reads n <= len(scratch) bytes into the scratch buffer. A tag
// (unless noTag) prefixes what in errors; it is passed separately so the
// hot path does not format strings.
func (r *Reader) readFull(n int, tag int, what string) ([]byte, error) {
	b := r.scratch[:n]
	if err := r.readInto(b, tag, what); err != nil {
		return nil, err
	}
	return b, nil
}

func (r *Reader) readInto(b []byte, tag int, what string) error {
	off := r.off
	n, err := io.ReadFull(r.r, b)
	r.off += int64(n)
	if err != nil {
		if tag != noTag {
			what = tagName(byte(tag)) + " " + what
		}
		return r.ioErr(off, fmt.Sprintf("%s (got %d of %d bytes)", what, n, len(b)), err)
	}
	return nil
}

func (r *Reader) ioErr(off int64, what string, err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return r.fail(&DecodeError{Offset: off, What: what, Err: err})
}

func (r *Reader) fail(err error) error {
	r.err = err
	return err
}
