package engine_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ceph/go-ceph/rados"
	"github.com/ceph/go-ceph/rbd"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/cephconn"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/engine"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/rbddiff"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/testcluster"
)

func clusters(t *testing.T) (src, dst *testcluster.Cluster, eng *engine.Engine) {
	t.Helper()
	if os.Getenv("TF_ACC") == "" {
		t.Skip("acceptance test: run with `make testacc`")
	}
	src, dst = testcluster.Get(t, "source"), testcluster.Get(t, "backup")
	return src, dst, adminEngine(src, dst)
}

// adminEngine works as client.admin with src as cluster and dst as
// backup_cluster, on connections of its own.
func adminEngine(src, dst *testcluster.Cluster) *engine.Engine {
	return &engine.Engine{
		SourceCluster: cephconn.NewClient("cluster", src.AdminConfig()),
		BackupCluster: cephconn.NewClient("backup_cluster", dst.AdminConfig()),
	}
}

func uniqueName(prefix string) string { return prefix + "-" + chain.NewID()[:8] }

// A chain with data, holes, and small unaligned zero ranges inside data.
func backupChain(t *testing.T, src *testcluster.Cluster, eng *engine.Engine, img string) (full, incr chain.Record) {
	t.Helper()
	ctx := context.Background()
	src.CreateImage(t, "rbd", img, 24<<20)
	// Registered first, so it runs after the backups' deletion below.
	t.Cleanup(func() {
		_, _ = src.RBDErr("snap", "purge", "--no-progress", "rbd/"+img)
		_, _ = src.RBDErr("rm", "--no-progress", "rbd/"+img)
	})
	src.WriteRandom(t, "rbd", img, 0, 9<<20+333, 1)
	src.Discard(t, "rbd", img, 2<<20+100, 4096)
	src.WriteRandom(t, "rbd", img, 20<<20, 1<<20, 2)
	full, err := eng.Backup(ctx, engine.BackupRequest{Pool: "rbd", Image: img, BackupPool: "backups"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	src.WriteRandom(t, "rbd", img, 12<<20, 300<<10, 3)
	src.Discard(t, "rbd", img, 5<<20+7, 10000)
	src.Discard(t, "rbd", img, 20<<20, 1<<20)
	src.Resize(t, "rbd", img, 28<<20)
	incr, err = eng.Backup(ctx, engine.BackupRequest{Pool: "rbd", Image: img, BackupPool: "backups", ParentID: full.ID}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, r := range []chain.Record{incr, full} {
			if _, err := eng.Delete(ctx, engine.DeleteRequest{BackupPool: "backups", Pool: "rbd", Image: img, ID: r.ID}); err != nil {
				t.Error(err)
			}
		}
	})
	return full, incr
}

func pointSum(t *testing.T, dst *testcluster.Cluster, img string, r chain.Record) string {
	return dst.ExportSHA256(t, "backups/"+chain.BackupImageName(img)+"@"+r.Snapshot)
}

// Streams the engine writes are applied by `rbd import-diff`, and by
// RestoreFromDiffFiles, and give the restore points bit for bit.
func TestAccDiffStream_engineToRBDImportDiff(t *testing.T) {
	src, dst, eng := clusters(t)
	img := uniqueName("exp")
	full, incr := backupChain(t, src, eng, img)
	dir := t.TempDir()
	export := func(req engine.ExportRequest) string {
		path := filepath.Join(dir, req.BackupID+".diff")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := eng.ExportDiff(context.Background(), req, f); err != nil {
			t.Fatal(err)
		}
		return path
	}
	fullFile := export(engine.ExportRequest{BackupID: full.ID, Pool: "rbd", Image: img, BackupPool: "backups"})
	incrFile := export(engine.ExportRequest{BackupID: incr.ID, FromID: full.ID, Pool: "rbd", Image: img, BackupPool: "backups"})

	target := img + "-imported"
	src.CreateImage(t, "rbd", target, 1<<20)
	t.Cleanup(func() {
		_, _ = src.RBDErr("snap", "purge", "--no-progress", "rbd/"+target)
		_, _ = src.RBDErr("rm", "--no-progress", "rbd/"+target)
	})
	src.RBD(t, "import-diff", "--no-progress", fullFile, "rbd/"+target)
	if got, want := src.ExportSHA256(t, "rbd/"+target+"@"+full.Snapshot), pointSum(t, dst, img, full); !testcluster.Same(got, want) {
		t.Fatalf("full stream imported by rbd: sha256 %s, want %s", got, want)
	}
	src.RBD(t, "import-diff", "--no-progress", incrFile, "rbd/"+target)
	if got, want := src.ExportSHA256(t, "rbd/"+target+"@"+incr.Snapshot), pointSum(t, dst, img, incr); !testcluster.Same(got, want) {
		t.Fatalf("incremental stream imported by rbd: sha256 %s, want %s", got, want)
	}

	// The same files rebuild the volume with no cluster but the target's.
	rebuilt := img + "-rebuilt"
	t.Cleanup(func() { _, _ = src.RBDErr("rm", "--no-progress", "rbd/"+rebuilt) })
	if _, err := eng.RestoreFromDiffFiles(context.Background(), engine.DiffFilesRequest{Files: []string{fullFile, incrFile}, TargetPool: "rbd", TargetImage: rebuilt}); err != nil {
		t.Fatal(err)
	}
	if got, want := src.ExportSHA256(t, "rbd/"+rebuilt), pointSum(t, dst, img, incr); !testcluster.Same(got, want) {
		t.Fatalf("streams applied by RestoreFromDiffFiles: sha256 %s, want %s", got, want)
	}
}

// Streams `rbd export-diff` writes are decoded by the codec and, applied to
// an image, give the restore points bit for bit.
func TestAccDiffStream_rbdExportDiffToCodec(t *testing.T) {
	src, dst, eng := clusters(t)
	img := uniqueName("imp")
	full, incr := backupChain(t, src, eng, img)
	base := "backups/" + chain.BackupImageName(img)
	fullStream := dst.RBD(t, "export-diff", "--no-progress", base+"@"+full.Snapshot, "-")
	incrStream := dst.RBD(t, "export-diff", "--no-progress", "--from-snap", full.Snapshot, base+"@"+incr.Snapshot, "-")

	target := img + "-applied"
	src.CreateImage(t, "rbd", target, 1<<20)
	t.Cleanup(func() {
		_, _ = src.RBDErr("snap", "purge", "--no-progress", "rbd/"+target)
		_, _ = src.RBDErr("rm", "--no-progress", "rbd/"+target)
	})
	apply(t, src, target, fullStream)
	if got, want := src.ExportSHA256(t, "rbd/"+target+"@"+full.Snapshot), pointSum(t, dst, img, full); !testcluster.Same(got, want) {
		t.Fatalf("rbd's full stream through the codec: sha256 %s, want %s", got, want)
	}
	apply(t, src, target, incrStream)
	if got, want := src.ExportSHA256(t, "rbd/"+target+"@"+incr.Snapshot), pointSum(t, dst, img, incr); !testcluster.Same(got, want) {
		t.Fatalf("rbd's incremental stream through the codec: sha256 %s, want %s", got, want)
	}

	// A truncated stream is refused with a clear error, and the target's
	// existing snapshots are untouched.
	snapsBefore := strings.Join(src.Snapshots(t, "rbd", target), ",")
	sumBefore := src.ExportSHA256(t, "rbd/"+target+"@"+incr.Snapshot)
	err := applyErr(t, src, target, incrStream[:len(incrStream)/2])
	if !errors.Is(err, rbddiff.ErrMissingEnd) && !strings.Contains(err.Error(), "unexpected EOF") {
		t.Fatalf("truncated stream: %v", err)
	}
	if got := strings.Join(src.Snapshots(t, "rbd", target), ","); got != snapsBefore {
		t.Fatalf("snapshots changed by a refused stream: %s, was %s", got, snapsBefore)
	}
	if got := src.ExportSHA256(t, "rbd/"+target+"@"+incr.Snapshot); got != sumBefore {
		t.Fatal("an existing snapshot changed")
	}
}

// apply does what `rbd import-diff` does, with the codec: check the
// from-snapshot, resize, write and zero, then take the end snapshot.
func apply(t *testing.T, c *testcluster.Cluster, image, stream string) {
	t.Helper()
	if err := applyErr(t, c, image, stream); err != nil {
		t.Fatal(err)
	}
}

func applyErr(t *testing.T, c *testcluster.Cluster, image, stream string) error {
	t.Helper()
	conn, err := rados.NewConnWithUser("admin")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Shutdown()
	if err := conn.ReadConfigFile(c.ConfFile); err != nil {
		t.Fatal(err)
	}
	if err := conn.SetConfigOption("rbd_skip_partial_discard", "false"); err != nil {
		t.Fatal(err)
	}
	if err := conn.Connect(); err != nil {
		t.Fatal(err)
	}
	ioctx, err := conn.OpenIOContext("rbd")
	if err != nil {
		t.Fatal(err)
	}
	defer ioctx.Destroy()
	img, err := rbd.OpenImage(ioctx, image, rbd.NoSnapshot)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()

	r, err := rbddiff.NewReader(bufio.NewReader(bytes.NewReader([]byte(stream))))
	if err != nil {
		return err
	}
	h := r.Header()
	if h.HasFromSnap {
		snaps, _ := img.GetSnapshotNames()
		found := false
		for _, s := range snaps {
			found = found || s.Name == h.FromSnap
		}
		if !found {
			t.Fatalf("the stream starts at snapshot %s, which %s lacks", h.FromSnap, image)
		}
	}
	if h.HasSize {
		if err := img.Resize(h.Size); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Apply(img, func(off, length uint64) error { _, err := img.Discard(off, length); return err }); err != nil {
		return err
	}
	if h.HasToSnap {
		if _, err := img.CreateSnapshot(h.ToSnap); err != nil {
			t.Fatal(err)
		}
	}
	return nil
}
