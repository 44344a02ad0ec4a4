// Package rbddiff encodes and decodes the Ceph RBD diff stream format
// written by "rbd export-diff" and read by "rbd import-diff".
//
// Two versions exist. Both start with a 12-byte banner and continue with
// records, each introduced by a one-byte tag; integers are little-endian.
//
//	v1 "rbd diff v1\n"           v2 "rbd diff v2\n"
//	'f' u32 n, name[n]           'f' u64 4+n, u32 n, name[n]
//	't' u32 n, name[n]           't' u64 4+n, u32 n, name[n]
//	                             'p' u64 1 (or 8), u8 protected
//	's' u64 size                 's' u64 8, u64 size
//	'w' u64 off, u64 len, data   'w' u64 16+len, u64 off, u64 len, data[len]
//	'z' u64 off, u64 len         'z' u64 16, u64 off, u64 len
//	'e'                          'e' (no length)
//
// Metadata records (f, t, p, s) come before any data record (w, z). In v2
// every record but 'e' carries the length of what follows it, so readers
// skip tags they do not know; v1 has no such escape hatch and an unknown
// tag is fatal. The layout follows Ceph's doc/dev/rbd-diff.rst and
// src/tools/rbd/action/{Export,Import}.cc ('p' is only in the code).
//
// The 'p' record holds one byte, but Ceph 16 and earlier write a length of
// 8 for it (newer releases write 1); rbd import reads one byte whatever the
// length says. Reader accepts both lengths; Writer writes 1, which every
// rbd import accepts.
//
// "rbd export-diff" and "rbd import-diff" only write and read v1; v2 streams
// are found embedded, one per snapshot, in "rbd export --export-format 2"
// files (see ReaderOptions.AllowTrailingData).
//
// Reader and Writer stream: data records are never buffered whole, so
// memory use is independent of record and image size.
package rbddiff

import (
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Version is the diff stream format version.
type Version int

const (
	V1 Version = 1
	V2 Version = 2
)

func (v Version) String() string {
	switch v {
	case V1:
		return "v1"
	case V2:
		return "v2"
	}
	return "Version(" + strconv.Itoa(int(v)) + ")"
}

func (v Version) banner() string {
	if v == V2 {
		return bannerV2
	}
	return bannerV1
}

const (
	bannerV1  = "rbd diff v1\n"
	bannerV2  = "rbd diff v2\n"
	bannerLen = len(bannerV1)
)

// Record tags.
const (
	tagFromSnap  = 'f'
	tagToSnap    = 't'
	tagProtected = 'p' // v2 only
	tagSize      = 's'
	tagWrite     = 'w'
	tagZero      = 'z'
	tagEnd       = 'e'
)

// MaxSnapNameLen caps snapshot name lengths, as rbd import-diff does, so a
// corrupt length field cannot make a reader allocate gigabytes.
const MaxSnapNameLen = 4096

// Header holds the metadata records that precede the data records.
type Header struct {
	Version Version

	FromSnap    string // snapshot the diff starts from ('f')
	HasFromSnap bool
	ToSnap      string // snapshot the diff ends at ('t'); import-diff creates it
	HasToSnap   bool
	Size        uint64 // image size at the end snapshot ('s')
	HasSize     bool

	// Protected is the protection status of ToSnap ('p', v2 only).
	Protected    bool
	HasProtected bool
}

// RecordKind tells data records from zero records.
type RecordKind int

const (
	Data RecordKind = iota + 1 // 'w': Length bytes of data follow
	Zero                       // 'z': the extent reads as zeros
)

func (k RecordKind) String() string {
	switch k {
	case Data:
		return "data"
	case Zero:
		return "zero"
	}
	return "RecordKind(" + strconv.Itoa(int(k)) + ")"
}

// Record is one extent of the diff.
type Record struct {
	Kind   RecordKind
	Offset uint64
	Length uint64
}

// Errors, matched with errors.Is. Decoding errors come wrapped in a
// *DecodeError that says where and what; truncation is reported as
// io.ErrUnexpectedEOF.
var (
	ErrBadBanner        = errors.New("not an rbd diff stream")
	ErrUnknownTag       = errors.New("unknown record tag")
	ErrMissingEnd       = fmt.Errorf("missing end record: %w", io.ErrUnexpectedEOF)
	ErrTrailingData     = errors.New("data after end record")
	ErrNameTooLong      = errors.New("snapshot name too long")
	ErrExtentOverflow   = errors.New("extent offset+length overflows")
	ErrExtentOutOfRange = errors.New("extent beyond image size")
	ErrRecordLength     = errors.New("v2 record length does not match contents")
	ErrRecordOrder      = errors.New("metadata record after data records")
	ErrDuplicateRecord  = errors.New("duplicate metadata record")
	ErrClosed           = errors.New("rbddiff: writer closed")
)

// DecodeError reports where a stream could not be decoded.
type DecodeError struct {
	Offset int64  // stream offset of the item described by What
	What   string // what was being read, e.g. "'w' record data"
	Err    error  // a sentinel above, io.ErrUnexpectedEOF, or an I/O error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("rbddiff: %v: %s at offset %d", e.Err, e.What, e.Offset)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// tagName renders a tag byte for messages, printable or not.
func tagName(t byte) string {
	if t >= 0x20 && t < 0x7f {
		return fmt.Sprintf("%q (0x%02x)", rune(t), t)
	}
	return fmt.Sprintf("0x%02x", t)
}

// checkExtent validates an extent against overflow and the image size.
func checkExtent(off, length, size uint64, hasSize bool) error {
	end := off + length
	if end < off {
		return ErrExtentOverflow
	}
	if hasSize && end > size {
		return ErrExtentOutOfRange
	}
	return nil
}
