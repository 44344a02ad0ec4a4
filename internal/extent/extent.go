// Package extent does the interval arithmetic of a transfer plan: which byte
// ranges of an image to copy, which to zero, and how to cut them into chunks.
package extent

import "sort"

// Extent is the byte range [Off, Off+Len).
type Extent struct{ Off, Len uint64 }

// End is one past the last byte.
func (e Extent) End() uint64 { return e.Off + e.Len }

// Set is a sorted list of non-empty, non-overlapping, non-adjacent extents.
type Set []Extent

// Normalize sorts extents and merges the ones that overlap or touch.
func Normalize(in []Extent) Set {
	s := make([]Extent, 0, len(in))
	for _, e := range in {
		if e.Len > 0 {
			s = append(s, e)
		}
	}
	sort.Slice(s, func(i, j int) bool { return s[i].Off < s[j].Off })
	out := s[:0]
	for _, e := range s {
		if n := len(out); n > 0 && e.Off <= out[n-1].End() {
			if e.End() > out[n-1].End() {
				out[n-1].Len = e.End() - out[n-1].Off
			}
			continue
		}
		out = append(out, e)
	}
	return Set(out)
}

// Union is every byte in a or b.
func Union(a, b Set) Set {
	all := make([]Extent, 0, len(a)+len(b))
	return Normalize(append(append(all, a...), b...))
}

// Subtract is every byte of a that is not in b.
func Subtract(a, b Set) Set {
	var out []Extent
	j := 0
	for _, e := range a {
		start, end := e.Off, e.End()
		for j < len(b) && b[j].End() <= start {
			j++
		}
		for k := j; k < len(b) && b[k].Off < end; k++ {
			if b[k].Off > start {
				out = append(out, Extent{start, b[k].Off - start})
			}
			if b[k].End() > start {
				start = b[k].End()
			}
		}
		if start < end {
			out = append(out, Extent{start, end - start})
		}
	}
	return Set(out)
}

// Clip drops every byte at or past size.
func (s Set) Clip(size uint64) Set {
	var out []Extent
	for _, e := range s {
		if e.Off >= size {
			break
		}
		if e.End() > size {
			e.Len = size - e.Off
		}
		out = append(out, e)
	}
	return Set(out)
}

// Bytes is the total length.
func (s Set) Bytes() uint64 {
	var n uint64
	for _, e := range s {
		n += e.Len
	}
	return n
}

// Chunks cuts every extent at multiples of align (the object size, so no
// chunk spans two RADOS objects) and into pieces of at most maxLen bytes.
func (s Set) Chunks(align, maxLen uint64) []Extent {
	maxLen = min(maxLen, align)
	var out []Extent
	for _, e := range s {
		for off := e.Off; off < e.End(); {
			end := (off/align + 1) * align
			if end > off+maxLen {
				end = off + maxLen
			}
			if end > e.End() {
				end = e.End()
			}
			out = append(out, Extent{off, end - off})
			off = end
		}
	}
	return out
}
