package extent

import (
	"math/rand"
	"reflect"
	"testing"
)

func TestNormalizeMergesOverlapsAndNeighbours(t *testing.T) {
	got := Normalize([]Extent{{10, 5}, {0, 4}, {4, 2}, {12, 10}, {30, 0}, {40, 1}})
	want := Set{{0, 6}, {10, 12}, {40, 1}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Normalize = %v, want %v", got, want)
	}
}

func TestSubtract(t *testing.T) {
	a := Set{{0, 100}, {200, 50}}
	b := Set{{10, 10}, {50, 160}, {240, 100}}
	want := Set{{0, 10}, {20, 30}, {210, 30}}
	if got := Subtract(a, b); !reflect.DeepEqual(got, want) {
		t.Fatalf("Subtract = %v, want %v", got, want)
	}
}

func TestClip(t *testing.T) {
	got := Set{{0, 10}, {20, 10}, {40, 5}}.Clip(25)
	want := Set{{0, 10}, {20, 5}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Clip = %v, want %v", got, want)
	}
}

func TestChunksNeverCrossAnObjectOrExceedMax(t *testing.T) {
	const obj = 4 << 20
	s := Set{{obj - 100, 2*obj + 300}, {5 * obj, 10}}
	chunks := s.Chunks(obj, 1<<20)
	var total uint64
	prevEnd := uint64(0)
	for _, c := range chunks {
		if c.Off/obj != (c.End()-1)/obj {
			t.Fatalf("chunk %v crosses an object boundary", c)
		}
		if c.Len == 0 || c.Len > 1<<20 {
			t.Fatalf("chunk %v has a bad length", c)
		}
		if c.Off < prevEnd {
			t.Fatalf("chunk %v overlaps the previous one", c)
		}
		prevEnd = c.End()
		total += c.Len
	}
	if total != s.Bytes() {
		t.Fatalf("chunks cover %d bytes, want %d", total, s.Bytes())
	}
}

// TestAgainstBitmap checks Union and Subtract against a byte-level model.
func TestAgainstBitmap(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	const size = 512
	random := func() ([]Extent, []bool) {
		var es []Extent
		bits := make([]bool, size)
		for i := rng.Intn(8); i > 0; i-- {
			off := uint64(rng.Intn(size))
			n := uint64(rng.Intn(size - int(off) + 1))
			es = append(es, Extent{off, n})
			for k := off; k < off+n; k++ {
				bits[k] = true
			}
		}
		return es, bits
	}
	toBits := func(s Set) []bool {
		bits := make([]bool, size)
		for i, e := range s {
			if e.Len == 0 || (i > 0 && s[i-1].End() >= e.Off) {
				t.Fatalf("set %v is not normalised", s)
			}
			for k := e.Off; k < e.End(); k++ {
				bits[k] = true
			}
		}
		return bits
	}
	for round := 0; round < 2000; round++ {
		ea, ba := random()
		eb, bb := random()
		a, b := Normalize(ea), Normalize(eb)
		u, d := toBits(Union(a, b)), toBits(Subtract(a, b))
		for k := 0; k < size; k++ {
			if u[k] != (ba[k] || bb[k]) {
				t.Fatalf("round %d: Union(%v, %v) wrong at byte %d", round, a, b, k)
			}
			if d[k] != (ba[k] && !bb[k]) {
				t.Fatalf("round %d: Subtract(%v, %v) wrong at byte %d", round, a, b, k)
			}
		}
	}
}
