package rbddiff_test

import (
	"bytes"
	"fmt"
	"log"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/rbddiff"
)

// image is an in-memory stand-in for an RBD image: anything with WriteAt.
type image []byte

func (m image) WriteAt(p []byte, off int64) (int, error) { return copy(m[off:], p), nil }

// Encode a diff, then apply it to an image the way rbd import-diff would.
func ExampleReader_Apply() {
	var stream bytes.Buffer
	w, err := rbddiff.NewWriter(&stream, rbddiff.Header{
		Version:  rbddiff.V1,
		FromSnap: "monday", HasFromSnap: true,
		ToSnap: "tuesday", HasToSnap: true,
		Size: 16, HasSize: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	_ = w.WriteData(2, []byte("new"))
	_ = w.WriteZero(8, 4)
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}

	r, err := rbddiff.NewReader(&stream)
	if err != nil {
		log.Fatal(err)
	}
	h := r.Header()
	fmt.Printf("%s %s..%s, size %d\n", h.Version, h.FromSnap, h.ToSnap, h.Size)

	// A real target would check the from-snapshot exists, resize to h.Size,
	// and zero with a write-zeroes call; nil zero writes zero bytes instead.
	img := image([]byte("ABCDEFGHIJKLMNOP"))
	if err := r.Apply(img, nil); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q\n", img)
	// Output:
	// v1 monday..tuesday, size 16
	// "ABnewFGH\x00\x00\x00\x00MNOP"
}
