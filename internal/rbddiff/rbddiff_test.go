package rbddiff

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	headers := map[string]Header{
		"full":        {FromSnap: "base", HasFromSnap: true, ToSnap: "next", HasToSnap: true, Size: 1 << 30, HasSize: true},
		"no-from":     {ToSnap: "first", HasToSnap: true, Size: 1 << 30, HasSize: true},
		"empty-names": {HasFromSnap: true, HasToSnap: true, Size: 1 << 30, HasSize: true},
		"bare":        {},
	}
	recs := []rec{
		{Kind: Data, Offset: 0, Length: 512, Data: bytes.Repeat([]byte{0xab}, 512)},
		{Kind: Zero, Offset: 4096, Length: 4096},
		{Kind: Zero, Offset: 1 << 20, Length: 0},
		{Kind: Data, Offset: 1<<30 - 3, Length: 3, Data: []byte("end")},
		{Kind: Data, Offset: 8192, Length: 0, Data: []byte{}},
		{Kind: Zero, Offset: 0, Length: 1 << 30},
	}
	for name, h := range headers {
		for _, v := range []Version{V1, V2} {
			h := h
			h.Version = v
			if v == V2 && h.HasToSnap {
				h.HasProtected = true
			}
			t.Run(name+"/"+v.String(), func(t *testing.T) {
				enc := encodeAll(t, h, recs)
				gh, grecs, err := decodeAll(bytes.NewReader(enc))
				if err != nil {
					t.Fatal(err)
				}
				if gh != h {
					t.Errorf("header %+v, want %+v", gh, h)
				}
				if !reflect.DeepEqual(grecs, recs) {
					t.Errorf("records differ:\n%+v\n%+v", grecs, recs)
				}
			})
		}
	}
}

// TestLargeRecordStreaming pushes a 48 MiB record through WriteDataFrom and
// reads it back in odd-sized pieces, across a pipe so nothing can be
// buffered whole.
func TestLargeRecordStreaming(t *testing.T) {
	const size = 48<<20 + 7
	for _, v := range []Version{V1, V2} {
		t.Run(v.String(), func(t *testing.T) {
			src := rand.NewChaCha8([32]byte{1})
			want := sha256.New()
			pr, pw := io.Pipe()
			go func() {
				w, err := NewWriter(pw, Header{Version: v, Size: 1 << 40, HasSize: true})
				if err == nil {
					err = w.WriteDataFrom(4096, size, io.TeeReader(io.LimitReader(src, size), want))
				}
				if err == nil {
					err = w.WriteZero(0, 4096)
				}
				if err == nil {
					err = w.Close()
				}
				pw.CloseWithError(err)
			}()

			d, err := NewReader(pr)
			if err != nil {
				t.Fatal(err)
			}
			r, err := d.Next()
			if err != nil || r != (Record{Kind: Data, Offset: 4096, Length: size}) {
				t.Fatalf("Next = %+v, %v", r, err)
			}
			got := sha256.New()
			buf := make([]byte, 65521)
			var n int64
			for {
				k, err := d.Read(buf[:1+int(n)%len(buf)])
				got.Write(buf[:k])
				n += int64(k)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if n != size || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
				t.Fatalf("read %d bytes, hash mismatch=%v", n, !bytes.Equal(got.Sum(nil), want.Sum(nil)))
			}
			if r, err := d.Next(); err != nil || r != (Record{Kind: Zero, Offset: 0, Length: 4096}) {
				t.Fatalf("Next = %+v, %v", r, err)
			}
			if _, err := d.Next(); !errors.Is(err, io.EOF) {
				t.Fatalf("Next at end = %v, want io.EOF", err)
			}
		})
	}
}

func TestNextDiscardsUnreadData(t *testing.T) {
	d, err := NewReader(bytes.NewReader(goldenV2))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	if n, err := d.Read(b[:]); n != 1 || err != nil || b[0] != 'D' {
		t.Fatalf("Read = %d, %v, %q", n, err, b[0])
	}
	r, err := d.Next()
	if err != nil || r.Kind != Zero {
		t.Fatalf("Next = %+v, %v", r, err)
	}
	if n, err := d.Read(b[:]); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("Read on zero record = %d, %v", n, err)
	}
	if _, err := d.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("Next = %v, want io.EOF", err)
	}
	if _, err := d.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("Next after end = %v, want io.EOF", err)
	}
	if d.InputOffset() != int64(len(goldenV2)) {
		t.Fatalf("InputOffset = %d, want %d", d.InputOffset(), len(goldenV2))
	}
}

// TestTruncated cuts valid streams at every byte offset.
func TestTruncated(t *testing.T) {
	for name, full := range map[string][]byte{"v1": goldenV1, "v2": goldenV2, "v1-bare": goldenV1Bare} {
		t.Run(name, func(t *testing.T) {
			for n := 0; n < len(full); n++ {
				_, _, err := decodeAll(bytes.NewReader(full[:n]))
				if !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("cut at %d: err = %v, want io.ErrUnexpectedEOF", n, err)
				}
				var de *DecodeError
				if !errors.As(err, &de) || de.Offset > int64(n) {
					t.Fatalf("cut at %d: err = %#v, want *DecodeError at or before the cut", n, err)
				}
				if n == len(full)-1 && !errors.Is(err, ErrMissingEnd) {
					t.Fatalf("cut before 'e': err = %v, want ErrMissingEnd", err)
				}
			}
		})
	}
}

func TestTrailingData(t *testing.T) {
	in := append(bytes.Clone(goldenV1), 'e')
	_, _, err := decodeAll(bytes.NewReader(in))
	if !errors.Is(err, ErrTrailingData) {
		t.Fatalf("err = %v, want ErrTrailingData", err)
	}
	assertOffset(t, err, int64(len(goldenV1)))

	// Embedded streams stop at 'e' and leave the rest unread.
	for _, v := range [][]byte{goldenV1, goldenV2} {
		in := append(bytes.Clone(v), "rest"...)
		src := bytes.NewReader(in)
		d, err := NewReaderOptions(src, ReaderOptions{AllowTrailingData: true})
		if err != nil {
			t.Fatal(err)
		}
		for err == nil {
			_, err = d.Next()
		}
		if !errors.Is(err, io.EOF) {
			t.Fatal(err)
		}
		if rest, _ := io.ReadAll(src); string(rest) != "rest" {
			t.Fatalf("left %q, want %q", rest, "rest")
		}
	}
}

func assertOffset(t *testing.T, err error, off int64) {
	t.Helper()
	var de *DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("err = %#v, want *DecodeError", err)
	}
	if de.Offset != off {
		t.Fatalf("offset = %d, want %d (%v)", de.Offset, off, err)
	}
}

func v1() *builder { b := &builder{}; b.str(bannerV1); return b }
func v2() *builder { b := &builder{}; b.str(bannerV2); return b }

func TestDecodeErrors(t *testing.T) {
	huge := uint64(math.MaxUint64)
	tests := []struct {
		name string
		in   []byte
		want error
		off  int64 // -1: do not check
		msg  string
	}{
		{"bad banner", []byte("GIF89a\x00\x00\x00\x00\x00\x00e"), ErrBadBanner, 0, "not an rbd diff stream"},
		{"v3 banner", []byte("rbd diff v3\ne"), ErrBadBanner, 0, ""},
		{"short non-banner", []byte("hello"), ErrBadBanner, 0, ""},
		{"image banner", []byte("rbd image v2\n"), ErrBadBanner, 0, ""},
		{"v1 unknown tag in header", v1().u8('x').out(), ErrUnknownTag, 12, "'x' (0x78)"},
		{"v1 unknown tag after data", v1().u8('z').u64(0).u64(1).u8(0xff).out(), ErrUnknownTag, 29, "0xff"},
		{"v1 p tag", v1().u8('p').u8(1).u8('e').out(), ErrUnknownTag, 12, ""},
		{"v1 name too long", v1().u8('f').u32(0xffffffff).out(), ErrNameTooLong, 13, "4294967295"},
		{"v1 name just too long", v1().u8('t').u32(MaxSnapNameLen + 1).str(strings.Repeat("a", MaxSnapNameLen+1)).u8('e').out(), ErrNameTooLong, 13, ""},
		{"v2 name too long", v2().u8('f').u64(huge).out(), ErrNameTooLong, 12, ""},
		{"v2 name length short", v2().u8('f').u64(3).out(), ErrRecordLength, 12, ""},
		{"v2 name length mismatch", v2().u8('t').u64(7).u32(2).str("ab").u8('e').out(), ErrRecordLength, 12, "record length 7, contents 6"},
		{"v2 size length mismatch", v2().u8('s').u64(4).u64(0).u8('e').out(), ErrRecordLength, 12, ""},
		{"v2 p length mismatch", v2().u8('p').u64(2).u8(1).u8(0).u8('e').out(), ErrRecordLength, 12, "record length 2, contents 1"},
		{"v2 p length zero", v2().u8('p').u64(0).u8('e').out(), ErrRecordLength, 12, ""},
		{"v2 z length mismatch", v2().u8('z').u64(24).u64(0).u64(1).u8('e').out(), ErrRecordLength, 12, ""},
		{"v2 w length mismatch", v2().u8('w').u64(16).u64(0).u64(2).str("ab").u8('e').out(), ErrRecordLength, 12, ""},
		{"v2 w length overflow", v2().u8('w').u64(15).u64(0).u64(huge - 8).out(), ErrExtentOverflow, 12, ""},
		{"extent past size", v1().u8('s').u64(4096).u8('z').u64(4096).u64(1).u8('e').out(), ErrExtentOutOfRange, 21, "4096+1 (image size 4096)"},
		{"data past size", v2().u8('s').u64(8).u64(10).u8('w').u64(26).u64(1).u64(10).out(), ErrExtentOutOfRange, 29, ""},
		{"extent overflow", v1().u8('w').u64(huge).u64(2).out(), ErrExtentOverflow, 12, ""},
		{"size after data", v1().u8('z').u64(0).u64(1).u8('s').u64(8).u8('e').out(), ErrRecordOrder, 29, ""},
		{"v2 p after data", v2().u8('z').u64(16).u64(0).u64(1).u8('p').u64(1).u8(0).u8('e').out(), ErrRecordOrder, 37, ""},
		{"duplicate to-snap", v1().u8('t').u32(1).str("a").u8('t').u32(1).str("b").u8('e').out(), ErrDuplicateRecord, 18, ""},
		{"duplicate size", v2().u8('s').u64(8).u64(1).u8('s').u64(8).u64(1).u8('e').out(), ErrDuplicateRecord, 29, ""},
		{"no end", v1().u8('z').u64(0).u64(1).out(), ErrMissingEnd, 29, "missing end record"},
		{"v2 skipped record truncated", v2().u8('X').u64(100).str("abc").out(), io.ErrUnexpectedEOF, 12, "97 bytes missing"},
		{"data truncated", v1().u8('w').u64(0).u64(10).str("abc").out(), io.ErrUnexpectedEOF, 29, "7 of 10 bytes missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := decodeAll(bytes.NewReader(tc.in))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.off >= 0 {
				assertOffset(t, err, tc.off)
			}
			if !strings.Contains(err.Error(), tc.msg) || !strings.HasPrefix(err.Error(), "rbddiff: ") {
				t.Fatalf("message %q lacks %q", err, tc.msg)
			}
		})
	}
}

func TestV2SkipsUnknownRecords(t *testing.T) {
	in := v2().
		u8('X').u64(3).str("abc").
		u8('t').u64(5).u32(1).str("a").
		u8(0).u64(0).
		u8('z').u64(16).u64(0).u64(1).
		u8('Q').u64(1).u8('e').
		u8('e').out()
	h, recs, err := decodeAll(bytes.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if h.ToSnap != "a" || len(recs) != 1 || recs[0].Kind != Zero {
		t.Fatalf("got %+v %+v", h, recs)
	}
}

func TestReaderErrorIsSticky(t *testing.T) {
	d, err := NewReader(bytes.NewReader(v1().u8('x').out()[:12]))
	if d != nil || !errors.Is(err, ErrMissingEnd) {
		t.Fatalf("NewReader = %v, %v", d, err)
	}
	d, err = NewReader(bytes.NewReader(v1().u8('w').u64(0).u64(4).str("ab").out()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	if _, err := d.Read(buf); err != nil {
		t.Fatal(err) // 2 bytes
	}
	_, err1 := d.Read(buf)
	_, err2 := d.Next()
	if !errors.Is(err1, io.ErrUnexpectedEOF) || !errors.Is(err2, err1) {
		t.Fatalf("errors %v / %v", err1, err2)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestReaderIOError(t *testing.T) {
	r := io.MultiReader(bytes.NewReader(goldenV1[:30]), errReader{})
	_, _, err := decodeAll(r)
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("err = %v", err)
	}
	var de *DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("err = %#v, want *DecodeError", err)
	}
}

// TestBoundedAllocation feeds lengths that claim gigabytes and checks the
// reader does not allocate for them.
func TestBoundedAllocation(t *testing.T) {
	inputs := [][]byte{
		v1().u8('f').u32(math.MaxUint32).out(),
		v2().u8('f').u64(math.MaxUint64).u32(math.MaxUint32).out(),
		v1().u8('w').u64(0).u64(1 << 40).str("abc").out(),
		v2().u8('w').u64(16 + 1<<40).u64(0).u64(1 << 40).str("abc").out(),
		v2().u8('X').u64(math.MaxUint64).str("abc").out(),
	}
	for i, in := range inputs {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, _, err := decodeAll(bytes.NewReader(in))
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Fatalf("input %d decoded", i)
		}
		if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
			t.Fatalf("input %d: allocated %d bytes", i, d)
		}
	}
}

func TestWriterErrors(t *testing.T) {
	if _, err := NewWriter(io.Discard, Header{}); err == nil {
		t.Error("zero Version accepted")
	}
	if _, err := NewWriter(io.Discard, Header{Version: V1, HasProtected: true}); err == nil {
		t.Error("'p' accepted in v1")
	}
	long := strings.Repeat("x", MaxSnapNameLen+1)
	if _, err := NewWriter(io.Discard, Header{Version: V1, ToSnap: long, HasToSnap: true}); !errors.Is(err, ErrNameTooLong) {
		t.Errorf("long name: %v", err)
	}

	var buf bytes.Buffer
	w, err := NewWriter(&buf, Header{Version: V2, Size: 100, HasSize: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteZero(90, 11); !errors.Is(err, ErrExtentOutOfRange) {
		t.Errorf("extent past size: %v", err)
	}
	if err := w.WriteData(99, []byte("ab")); !errors.Is(err, ErrExtentOutOfRange) {
		t.Errorf("data past size: %v", err)
	}
	if err := w.WriteZero(math.MaxUint64, 2); !errors.Is(err, ErrExtentOverflow) {
		t.Errorf("overflow: %v", err)
	}
	// Rejected extents leave the writer usable.
	if err := w.WriteZero(0, 100); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := w.WriteZero(0, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("write after Close: %v", err)
	}
	if _, _, err := decodeAll(&buf); err != nil {
		t.Fatal(err)
	}

	w, _ = NewWriter(io.Discard, Header{Version: V1})
	err = w.WriteDataFrom(0, 10, strings.NewReader("short"))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short source: %v", err)
	}
	if err2 := w.Close(); !errors.Is(err2, err) {
		t.Fatalf("Close after failure = %v, want %v", err2, err)
	}
}

type memTarget struct{ b []byte }

func (m *memTarget) WriteAt(p []byte, off int64) (int, error) {
	if end := int(off) + len(p); end > len(m.b) {
		m.b = append(m.b, make([]byte, end-len(m.b))...)
	}
	return copy(m.b[off:], p), nil
}

func TestApply(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 3*applyBufSize/16+5)
	in := encodeAll(t, Header{Version: V1, Size: 1 << 23, HasSize: true}, []rec{
		{Kind: Data, Offset: 0, Data: big},
		{Kind: Zero, Offset: 10, Length: 4096},
		{Kind: Data, Offset: 20, Data: []byte("xyz")},
		{Kind: Zero, Offset: 1 << 20, Length: applyBufSize + 3},
	})
	want := bytes.Clone(big)
	clear(want[10:4106])
	copy(want[20:], "xyz")
	clear(want[1<<20 : 1<<20+applyBufSize+3])

	for _, explicit := range []bool{false, true} {
		dst := &memTarget{}
		var zero func(off, length uint64) error
		if explicit {
			zero = func(off, length uint64) error { clear(dst.b[off : off+length]); return nil }
		}
		d, err := NewReader(bytes.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Apply(dst, zero); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(dst.b, want) {
			t.Fatalf("explicit=%v: image differs", explicit)
		}
	}

	d, _ := NewReader(bytes.NewReader(goldenV1[:len(goldenV1)-3]))
	if err := d.Apply(&memTarget{}, nil); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated Apply: %v", err)
	}
}
