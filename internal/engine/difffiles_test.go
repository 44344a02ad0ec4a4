package engine_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/engine"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/rbddiff"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/testcluster"
)

// Diff files written by `rbd export-diff` (a full one, then incrementals, one
// of them rewritten as v2) rebuild each snapshot bit for bit, across a grow
// and a shrink; a sequence with a gap, and an existing target, are refused
// without writing anything.
func TestAccRestoreFromDiffFiles(t *testing.T) {
	src, _, eng := clusters(t)
	ctx := context.Background()
	img := uniqueName("dr-src")
	src.CreateImage(t, "rbd", img, 16<<20)
	t.Cleanup(func() {
		_, _ = src.RBDErr("snap", "purge", "--no-progress", "rbd/"+img)
		_, _ = src.RBDErr("rm", "--no-progress", "rbd/"+img)
	})
	src.WriteRandom(t, "rbd", img, 0, 5<<20+777, 11)
	src.Snap(t, "rbd", img, "s1")
	src.WriteRandom(t, "rbd", img, 9<<20, 2<<20, 12)
	src.Discard(t, "rbd", img, 1<<20+5, 70000)
	src.Resize(t, "rbd", img, 22<<20)
	src.WriteRandom(t, "rbd", img, 21<<20, 4096, 13)
	src.Snap(t, "rbd", img, "s2")
	src.Resize(t, "rbd", img, 19<<20)
	src.WriteRandom(t, "rbd", img, 3<<20, 100000, 14)
	src.Snap(t, "rbd", img, "s3")

	dir := t.TempDir()
	exportDiff := func(from, snap string) string {
		path := filepath.Join(dir, from+"-"+snap+".diff")
		args := []string{"export-diff", "--no-progress"}
		if from != "" {
			args = append(args, "--from-snap", from)
		}
		src.RBD(t, append(args, "rbd/"+img+"@"+snap, path)...)
		return path
	}
	full, s1s2, s2s3 := exportDiff("", "s1"), exportDiff("s1", "s2"), exportDiff("s2", "s3")
	s1s2v2 := rewriteAsV2(t, s1s2)

	targets := map[string]bool{}
	target := func() string {
		name := uniqueName("dr-target")
		targets[name] = true
		return name
	}
	t.Cleanup(func() {
		for name := range targets {
			_, _ = src.RBDErr("rm", "--no-progress", "rbd/"+name)
		}
	})

	for _, tc := range []struct {
		name  string
		files []string
		snap  string
	}{
		{"full only", []string{full}, "s1"},
		{"full and incrementals, one in v2", []string{full, s1s2v2, s2s3}, "s3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := target()
			res, err := eng.RestoreFromDiffFiles(ctx, engine.DiffFilesRequest{Files: tc.files, TargetPool: "rbd", TargetImage: name})
			if err != nil {
				t.Fatal(err)
			}
			want := src.ImageSize(t, "rbd", img+"@"+tc.snap)
			if res.Snapshot != tc.snap || res.Size != want || res.WrittenBytes == 0 {
				t.Errorf("result %+v, want snapshot %s, size %d and some bytes written", res, tc.snap, want)
			}
			if got := src.ImageSize(t, "rbd", name); got != want {
				t.Errorf("target size %d, want %d", got, want)
			}
			if got, want := src.ExportSHA256(t, "rbd/"+name), src.ExportSHA256(t, "rbd/"+img+"@"+tc.snap); !testcluster.Same(got, want) {
				t.Errorf("target reads with sha256 %s, snapshot %s with %s", got, tc.snap, want)
			}
		})
	}

	t.Run("gap refused before writing", func(t *testing.T) {
		name := target()
		_, err := eng.RestoreFromDiffFiles(ctx, engine.DiffFilesRequest{Files: []string{full, s2s3}, TargetPool: "rbd", TargetImage: name})
		if err == nil || !strings.Contains(err.Error(), "a file is missing between them") || !strings.Contains(err.Error(), "Nothing was written") {
			t.Fatalf("got %v, want a refusal naming the missing file", err)
		}
		if src.ImageExists(t, "rbd", name) {
			t.Errorf("the refused restore created %s", name)
		}
	})

	t.Run("existing target refused and kept", func(t *testing.T) {
		name := target()
		src.CreateImage(t, "rbd", name, 1<<20)
		src.WriteRandom(t, "rbd", name, 0, 1<<20, 15)
		before := src.ExportSHA256(t, "rbd/"+name)
		_, err := eng.RestoreFromDiffFiles(ctx, engine.DiffFilesRequest{Files: []string{full}, TargetPool: "rbd", TargetImage: name})
		var field *engine.FieldError
		if !errors.As(err, &field) || field.Field != engine.AttrTargetImage || !strings.Contains(err.Error(), "already exists") {
			t.Fatalf("got %v, want a target_image error saying it exists", err)
		}
		if after := src.ExportSHA256(t, "rbd/"+name); !testcluster.Same(after, before) {
			t.Errorf("the refused restore changed %s", name)
		}
	})
}

// rewriteAsV2 writes the v1 diff file at path again in the v2 format, which
// `rbd export --export-format 2` embeds.
func rewriteAsV2(t *testing.T, path string) string {
	t.Helper()
	in, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	r, err := rbddiff.NewReader(bufio.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	outPath := path + ".v2"
	out, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	bw := bufio.NewWriter(out)
	h := r.Header()
	h.Version = rbddiff.V2
	w, err := rbddiff.NewWriter(bw, h)
	if err != nil {
		t.Fatal(err)
	}
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.Kind == rbddiff.Zero {
			err = w.WriteZero(rec.Offset, rec.Length)
		} else {
			err = w.WriteDataFrom(rec.Offset, rec.Length, r)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	return outPath
}
