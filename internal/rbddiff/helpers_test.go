package rbddiff

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// rec is a decoded record with its data, for comparisons in tests.
type rec struct {
	Kind   RecordKind
	Offset uint64
	Length uint64
	Data   []byte
}

// decodeAll decodes a whole stream, holding data in memory (tests only).
func decodeAll(r io.Reader) (Header, []rec, error) {
	d, err := NewReader(r)
	if err != nil {
		return Header{}, nil, err
	}
	var recs []rec
	for {
		x, err := d.Next()
		if errors.Is(err, io.EOF) {
			return d.Header(), recs, nil
		}
		if err != nil {
			return d.Header(), recs, err
		}
		rc := rec{Kind: x.Kind, Offset: x.Offset, Length: x.Length}
		if x.Kind == Data {
			if rc.Data, err = io.ReadAll(d); err != nil {
				return d.Header(), recs, err
			}
		}
		recs = append(recs, rc)
	}
}

// encodeAll encodes h and recs; it fails the test on error.
func encodeAll(t testing.TB, h Header, recs []rec) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, h)
	if err != nil {
		t.Fatalf("NewWriter: %v", err)
	}
	for _, r := range recs {
		if r.Kind == Data {
			err = w.WriteData(r.Offset, r.Data)
		} else {
			err = w.WriteZero(r.Offset, r.Length)
		}
		if err != nil {
			t.Fatalf("writing %+v: %v", r, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return buf.Bytes()
}

// builder assembles raw streams by hand, independently of Writer.
type builder struct{ bytes.Buffer }

func (b *builder) u8(v byte) *builder    { b.WriteByte(v); return b }
func (b *builder) str(s string) *builder { b.WriteString(s); return b }
func (b *builder) u32(v uint32) *builder { b.Write(binary.LittleEndian.AppendUint32(nil, v)); return b }
func (b *builder) u64(v uint64) *builder { b.Write(binary.LittleEndian.AppendUint64(nil, v)); return b }
func (b *builder) out() []byte           { return bytes.Clone(b.Bytes()) }
