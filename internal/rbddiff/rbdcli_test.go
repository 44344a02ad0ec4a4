package rbddiff_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/rbddiff"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/testcluster"
)

// The codec against the streams the installed rbd CLI really writes:
// "rbd export-diff" (v1) and "rbd export --export-format 2" (v2 diffs
// embedded, one per snapshot), on an image with data, holes, small
// unaligned discards, a whole-object discard, a shrink, a grow and a
// protected snapshot. Each decoded stream, applied in memory, must equal
// "rbd export" of its snapshot, and the same records re-encoded by Writer
// must be accepted by "rbd import-diff" and "rbd import --export-format 2"
// and give the same snapshots.

func sourceCluster(t *testing.T) *testcluster.Cluster {
	t.Helper()
	if os.Getenv("TF_ACC") == "" {
		t.Skip("acceptance test: run with `make testacc`")
	}
	return testcluster.Get(t, "source")
}

// memImage is an image in memory that grows and shrinks like an RBD image.
type memImage struct{ b []byte }

func (m *memImage) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(m.b)) {
		return 0, fmt.Errorf("write %d+%d beyond image size %d", off, len(p), len(m.b))
	}
	return copy(m.b[off:], p), nil
}

func (m *memImage) resize(size uint64) {
	if size <= uint64(len(m.b)) {
		m.b = m.b[:size]
		return
	}
	m.b = append(m.b, make([]byte, size-uint64(len(m.b)))...)
}

func (m *memImage) sum() string { s := sha256.Sum256(m.b); return hex.EncodeToString(s[:]) }

// replay decodes one stream from r, applies it to img (resizing it to the
// stream's size first, as rbd import-diff does) and re-encodes the same
// header and records into out. It returns the header and how many data and
// zero records it saw.
func replay(t *testing.T, r io.Reader, opts rbddiff.ReaderOptions, img *memImage, out io.Writer) (h rbddiff.Header, data, zero int) {
	t.Helper()
	d, err := rbddiff.NewReaderOptions(r, opts)
	if err != nil {
		t.Fatalf("decoding rbd's stream: %v", err)
	}
	h = d.Header()
	if !h.HasSize {
		t.Fatalf("rbd's stream has no size record: %+v", h)
	}
	img.resize(h.Size)
	w, err := rbddiff.NewWriter(out, h)
	if err != nil {
		t.Fatal(err)
	}
	for {
		rec, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("decoding rbd's stream: %v", err)
		}
		if rec.Kind == rbddiff.Zero {
			zero++
			clear(img.b[rec.Offset : rec.Offset+rec.Length])
			if err := w.WriteZero(rec.Offset, rec.Length); err != nil {
				t.Fatal(err)
			}
			continue
		}
		data++
		buf := make([]byte, rec.Length)
		if _, err := io.ReadFull(d, buf); err != nil {
			t.Fatalf("reading 'w' data: %v", err)
		}
		if _, err := img.WriteAt(buf, int64(rec.Offset)); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteData(rec.Offset, buf); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return h, data, zero
}

// rbdTestImage builds the image and returns its name and snapshots, oldest
// first. s1 is protected. The head differs from s4.
func rbdTestImage(t *testing.T, c *testcluster.Cluster) (string, []string) {
	t.Helper()
	const mib = 1 << 20
	img := "codec-" + chain.NewID()[:8]
	spec := "rbd/" + img
	c.CreateImage(t, "rbd", img, 8*mib)
	t.Cleanup(func() { removeImage(c, spec, "s1") })

	c.WriteRandom(t, "rbd", img, 0, 3*mib+333, 1)
	c.Discard(t, "rbd", img, mib+100, 4096) // small, unaligned, inside data
	c.WriteRandom(t, "rbd", img, 6*mib, mib, 2)
	c.Snap(t, "rbd", img, "s1")
	c.RBD(t, "snap", "protect", spec+"@s1")

	c.WriteRandom(t, "rbd", img, 4*mib, 300<<10, 3)
	c.Discard(t, "rbd", img, 100, 5000)
	c.Discard(t, "rbd", img, 6*mib, mib) // a whole object
	c.Resize(t, "rbd", img, 10*mib)
	c.WriteRandom(t, "rbd", img, 9*mib+5, 1000, 4)
	c.Snap(t, "rbd", img, "s2")

	c.Resize(t, "rbd", img, 5*mib)
	c.Snap(t, "rbd", img, "s3")

	c.Resize(t, "rbd", img, 12*mib)
	c.WriteRandom(t, "rbd", img, 11*mib, 4096, 5)
	c.Discard(t, "rbd", img, 2*mib, 64<<10)
	c.Snap(t, "rbd", img, "s4")

	c.WriteRandom(t, "rbd", img, 0, 4096, 6)
	return img, []string{"s1", "s2", "s3", "s4"}
}

func removeImage(c *testcluster.Cluster, spec, protected string) {
	_, _ = c.RBDErr("snap", "unprotect", spec+"@"+protected)
	_, _ = c.RBDErr("snap", "purge", "--no-progress", spec)
	_, _ = c.RBDErr("rm", "--no-progress", spec)
}

func snapProtected(t *testing.T, c *testcluster.Cluster, spec, snap string) bool {
	t.Helper()
	var snaps []struct {
		Name      string `json:"name"`
		Protected string `json:"protected"`
	}
	if err := json.Unmarshal([]byte(c.RBD(t, "snap", "ls", "--format", "json", spec)), &snaps); err != nil {
		t.Fatal(err)
	}
	for _, s := range snaps {
		if s.Name == snap {
			return s.Protected == "true"
		}
	}
	t.Fatalf("%s has no snapshot %s", spec, snap)
	return false
}

func TestAccRBDCLI_exportDiffV1(t *testing.T) {
	c := sourceCluster(t)
	img, snaps := rbdTestImage(t, c)
	spec := "rbd/" + img
	dir := t.TempDir()

	target := img + "-v1"
	c.CreateImage(t, "rbd", target, 1<<20)
	t.Cleanup(func() { removeImage(c, "rbd/"+target, "none") })

	var mem memImage
	var data, zero int
	// s1 from nothing, then each snapshot from the one before, then the head.
	for i := 0; i <= len(snaps); i++ {
		args := []string{"export-diff", "--no-progress"}
		from, to, point := "", "", spec
		if i > 0 {
			from = snaps[i-1]
			args = append(args, "--from-snap", from)
		}
		if i < len(snaps) {
			to = snaps[i]
			point = spec + "@" + to
		}
		stream := c.RBD(t, append(args, point, "-")...)

		var re bytes.Buffer
		h, d, z := replay(t, bufio.NewReader(bytes.NewReader([]byte(stream))), rbddiff.ReaderOptions{}, &mem, &re)
		data, zero = data+d, zero+z
		want := rbddiff.Header{Version: rbddiff.V1, FromSnap: from, HasFromSnap: from != "", ToSnap: to, HasToSnap: to != "", Size: c.ImageSize(t, "rbd", img), HasSize: true}
		if to != "" {
			want.Size = snapSize(t, c, spec, to)
		}
		if h != want {
			t.Errorf("%s: header %+v, want %+v", point, h, want)
		}
		wantSum := c.ExportSHA256(t, point)
		if got := mem.sum(); got != wantSum {
			t.Fatalf("%s: rbd export-diff decoded by the codec: sha256 %s, want %s", point, got, wantSum)
		}

		// The re-encoded stream is what rbd import-diff accepts, and gives
		// the same snapshot. (The head diff has no end snapshot to check.)
		if to == "" {
			continue
		}
		path := filepath.Join(dir, to+".diff")
		if err := os.WriteFile(path, re.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		c.RBD(t, "import-diff", "--no-progress", path, "rbd/"+target)
		if got := c.ExportSHA256(t, "rbd/"+target+"@"+to); got != wantSum {
			t.Fatalf("%s: the codec's stream through rbd import-diff: sha256 %s, want %s", point, got, wantSum)
		}
	}
	if data == 0 || zero == 0 {
		t.Fatalf("rbd's streams had %d data and %d zero records; the test needs both", data, zero)
	}
}

func snapSize(t *testing.T, c *testcluster.Cluster, spec, snap string) uint64 {
	t.Helper()
	var info struct {
		Size uint64 `json:"size"`
	}
	if err := json.Unmarshal([]byte(c.RBD(t, "info", "--format", "json", spec+"@"+snap)), &info); err != nil {
		t.Fatal(err)
	}
	return info.Size
}

// The "rbd export --export-format 2" container around the diffs, as
// Export.cc writes it: an image banner, tag + u64 length + value records up
// to an 'E' tag, a diffs banner and a u64 count of the diff streams.
const (
	imageBannerV2 = "rbd image v2\n"
	diffsBannerV2 = "rbd image diffs v2\n"
)

// readExportHeader reads the container up to the first diff stream and
// returns how many bytes that took.
func readExportHeader(t *testing.T, r *bytes.Reader) int {
	t.Helper()
	start := r.Len()
	expect := func(s string) {
		b := make([]byte, len(s))
		if _, err := io.ReadFull(r, b); err != nil || string(b) != s {
			t.Fatalf("export v2: want %q, got %q (%v)", s, b, err)
		}
	}
	u64 := func() uint64 {
		var v uint64
		if err := binary.Read(r, binary.LittleEndian, &v); err != nil {
			t.Fatalf("export v2 header: %v", err)
		}
		return v
	}
	expect(imageBannerV2)
	for {
		tag, err := r.ReadByte()
		if err != nil {
			t.Fatalf("export v2 header: %v", err)
		}
		if tag == 'E' {
			break
		}
		if _, err := r.Seek(int64(u64()), io.SeekCurrent); err != nil {
			t.Fatal(err)
		}
	}
	expect(diffsBannerV2)
	_ = u64()
	return start - r.Len()
}

func TestAccRBDCLI_exportFormat2(t *testing.T) {
	c := sourceCluster(t)
	img, snaps := rbdTestImage(t, c)
	spec := "rbd/" + img

	file := []byte(c.RBD(t, "export", "--no-progress", "--export-format", "2", spec, "-"))
	r := bytes.NewReader(file)
	var out bytes.Buffer
	out.Write(file[:readExportHeader(t, r)]) // image header and diff count, verbatim
	var mem memImage
	var data, zero int
	points := append(append([]string{}, snaps...), "") // then the head
	for i, to := range points {
		from, point := "", spec
		if i > 0 {
			from = points[i-1]
		}
		if to != "" {
			point = spec + "@" + to
		}
		// The Reader never reads past the end record, so r is positioned at
		// the next stream; no buffering here.
		h, d, z := replay(t, r, rbddiff.ReaderOptions{AllowTrailingData: true}, &mem, &out)
		data, zero = data+d, zero+z
		want := rbddiff.Header{Version: rbddiff.V2, FromSnap: from, HasFromSnap: from != "", ToSnap: to, HasToSnap: to != "", Size: c.ImageSize(t, "rbd", img), HasSize: true}
		if to != "" {
			want.Size = snapSize(t, c, spec, to)
			want.HasProtected, want.Protected = true, to == "s1"
		}
		if h != want {
			t.Errorf("%s: header %+v, want %+v", point, h, want)
		}
		if got, want := mem.sum(), c.ExportSHA256(t, point); got != want {
			t.Fatalf("%s: rbd export --export-format 2 decoded by the codec: sha256 %s, want %s", point, got, want)
		}
	}
	if r.Len() != 0 {
		t.Fatalf("%d bytes left after %d diff streams", r.Len(), len(points))
	}
	if data == 0 || zero == 0 {
		t.Fatalf("rbd's streams had %d data and %d zero records; the test needs both", data, zero)
	}

	// The codec's v2 streams, in the same container, are what rbd import
	// accepts, and give the same snapshots, protection included.
	target := img + "-v2"
	path := filepath.Join(t.TempDir(), "export.v2")
	if err := os.WriteFile(path, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeImage(c, "rbd/"+target, "s1") })
	c.RBD(t, "import", "--no-progress", "--export-format", "2", path, "rbd/"+target)
	for _, to := range points {
		got, want := "rbd/"+target, spec
		if to != "" {
			got, want = got+"@"+to, want+"@"+to
		}
		if g, w := c.ExportSHA256(t, got), c.ExportSHA256(t, want); g != w {
			t.Fatalf("%s: the codec's stream through rbd import: sha256 %s, want %s", got, g, w)
		}
	}
	if !snapProtected(t, c, "rbd/"+target, "s1") || snapProtected(t, c, "rbd/"+target, "s2") {
		t.Fatal("rbd import of the codec's streams lost the protection status")
	}
}
