package rbddiff

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"testing"
)

var benchSizes = []int{4 << 10, 64 << 10, 4 << 20}

func benchName(n int) string {
	if n >= 1<<20 {
		return strconv.Itoa(n>>20) + "MiB"
	}
	return strconv.Itoa(n>>10) + "KiB"
}

const benchTotal = 64 << 20 // data per encoded stream

func BenchmarkWriter(b *testing.B) {
	for _, v := range []Version{V1, V2} {
		for _, n := range benchSizes {
			b.Run(v.String()+"/"+benchName(n), func(b *testing.B) {
				data := bytes.Repeat([]byte{0x5a}, n)
				// A preallocated buffer makes the data actually move, as it
				// would to a file or socket, without measuring growth.
				var out bytes.Buffer
				out.Grow(benchTotal + benchTotal/n*64 + 64)
				b.SetBytes(benchTotal)
				for b.Loop() {
					out.Reset()
					w, err := NewWriter(&out, Header{Version: v, ToSnap: "s", HasToSnap: true, Size: benchTotal, HasSize: true})
					if err != nil {
						b.Fatal(err)
					}
					for off := 0; off < benchTotal; off += n {
						if err := w.WriteData(uint64(off), data); err != nil {
							b.Fatal(err)
						}
					}
					if err := w.Close(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkReader(b *testing.B) {
	for _, v := range []Version{V1, V2} {
		for _, n := range benchSizes {
			b.Run(v.String()+"/"+benchName(n), func(b *testing.B) {
				var enc bytes.Buffer
				w, _ := NewWriter(&enc, Header{Version: v, ToSnap: "s", HasToSnap: true, Size: benchTotal, HasSize: true})
				data := bytes.Repeat([]byte{0x5a}, n)
				for off := 0; off < benchTotal; off += n {
					if err := w.WriteData(uint64(off), data); err != nil {
						b.Fatal(err)
					}
				}
				w.Close()
				in := enc.Bytes()
				buf := make([]byte, 1<<20)
				b.SetBytes(benchTotal)
				for b.Loop() {
					d, err := NewReader(bytes.NewReader(in))
					if err != nil {
						b.Fatal(err)
					}
					for {
						_, err := d.Next()
						if errors.Is(err, io.EOF) {
							break
						}
						if err != nil {
							b.Fatal(err)
						}
						for err == nil {
							_, err = d.Read(buf)
						}
						if !errors.Is(err, io.EOF) {
							b.Fatal(err)
						}
					}
				}
			})
		}
	}
}
