package rbddiff

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// FuzzReader decodes arbitrary input. Decoding must fail with a
// *DecodeError or succeed; on success, re-encoding must give a stream no
// longer than the input that decodes to the same header and records.
// Seeds live in testdata/fuzz/FuzzReader.
//
// The fuzzer may report "0/sec" for long stretches: executions spent
// minimizing new inputs are not counted (golang/go#51484). Pass
// -fuzzminimizetime=1s to spend more time mutating.
func FuzzReader(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		h, recs, err := decodeAll(bytes.NewReader(in))
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error is %T, not *DecodeError: %v", err, err)
			}
			return
		}
		enc := encodeAll(t, h, recs)
		if len(enc) > len(in) {
			t.Fatalf("re-encoding grew the stream from %d to %d bytes", len(in), len(enc))
		}
		h2, recs2, err := decodeAll(bytes.NewReader(enc))
		if err != nil {
			t.Fatalf("re-encoded stream does not decode: %v", err)
		}
		if h2 != h || !reflect.DeepEqual(recs2, recs) {
			t.Fatalf("round trip changed the stream:\n%+v %+v\n%+v %+v", h, recs, h2, recs2)
		}
	})
}
