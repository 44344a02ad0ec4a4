package engine_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/engine"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/testcluster"
)

const mib = 1 << 20

// layout is a way to create a source image, as users have them.
type layout struct {
	name string
	// create makes pool/image of size bytes.
	create func(t *testing.T, src *testcluster.Cluster, image string, size uint64)
}

func rbdCreate(args ...string) func(*testing.T, *testcluster.Cluster, string, uint64) {
	return func(t *testing.T, src *testcluster.Cluster, image string, size uint64) {
		src.RBD(t, append([]string{"create", "--no-progress", "--size", fmt.Sprintf("%dB", size), "rbd/" + image}, args...)...)
	}
}

// layouts covers the image layouts users have: Ceph 16's default features
// (object-map, fast-diff), no object map, no exclusive lock, fancy striping,
// small objects, and a clone reading through to its parent.
var layouts = []layout{
	{"fast-diff", rbdCreate()},
	{"no-object-map", rbdCreate("--image-feature", "layering,exclusive-lock")},
	{"layering-only", rbdCreate("--image-feature", "layering")},
	{"striped", rbdCreate("--stripe-unit", "65536", "--stripe-count", "4")},
	{"1MiB-objects", rbdCreate("--object-size", "1M")},
	{"clone", func(t *testing.T, src *testcluster.Cluster, image string, size uint64) {
		parent := image + "-parent"
		src.CreateImage(t, "rbd", parent, size)
		src.WriteRandom(t, "rbd", parent, 0, int64(size), 99)
		src.Snap(t, "rbd", parent, "base")
		src.RBD(t, "snap", "protect", "rbd/"+parent+"@base")
		src.RBD(t, "clone", "rbd/"+parent+"@base", "rbd/"+image)
		t.Cleanup(func() {
			// The clone's own cleanup runs first (cleanups run last in, first out).
			_, _ = src.RBDErr("snap", "unprotect", "rbd/"+parent+"@base")
			_, _ = src.RBDErr("snap", "purge", "--no-progress", "rbd/"+parent)
			_, _ = src.RBDErr("rm", "--no-progress", "rbd/"+parent)
		})
	}},
}

// step is one thing that happens to a volume between two backups. Most are
// histories from Ceph's own qa (merge_diff.sh, cli_generic.sh,
// diff_continuous.sh) and librbd's DiffIterate tests.
type step struct {
	name string
	do   func(t *testing.T, v *volume)
	// alsoFull takes a full backup after the incremental too.
	alsoFull bool
}

type volume struct {
	src   *testcluster.Cluster
	image string
}

// newVolume creates rbd/<prefix>-… of size bytes on src, removed with its
// snapshots when t ends.
func newVolume(t *testing.T, src *testcluster.Cluster, prefix string, size uint64) *volume {
	t.Helper()
	v := &volume{src: src, image: uniqueName(prefix)}
	src.CreateImage(t, "rbd", v.image, size)
	removeImage(t, src, "rbd/"+v.image)
	return v
}

func (v *volume) write(t *testing.T, off, length, seed int64) {
	v.src.WriteRandom(t, "rbd", v.image, off, length, seed)
}
func (v *volume) discard(t *testing.T, off, length int64) {
	v.src.Discard(t, "rbd", v.image, off, length)
}
func (v *volume) resize(t *testing.T, size uint64) { v.src.Resize(t, "rbd", v.image, size) }

// snapshotRollback takes a user snapshot, changes the volume, and rolls it
// back: the image returns to the snapshot's content with the objects written
// since rewritten. The snapshot stays: fast-diff goes wrong only while it
// lies between two backups.
func (v *volume) snapshotRollback(t *testing.T, snap string, between func()) {
	v.src.Snap(t, "rbd", v.image, snap)
	between()
	v.src.RBD(t, "snap", "rollback", "--no-progress", "rbd/"+v.image+"@"+snap)
}

// histories run in order on one chain, each followed by an incremental
// backup whose restore point must equal its source snapshot. The image is
// 16 MiB when they start.
var histories = []step{
	{name: "scattered writes and small unaligned discards", do: func(t *testing.T, v *volume) {
		v.write(t, 5*mib+4096, 12288, 10)
		v.write(t, 9*mib+333, 70000, 11)
		v.discard(t, 1*mib+512, 512)
		v.discard(t, 2*mib+4096, 4096)
		v.discard(t, 3*mib+100, 12288)
		v.discard(t, 6*mib+777, 200<<10) // longer than the zero-run threshold
	}},
	{name: "whole aligned object discarded", do: func(t *testing.T, v *volume) {
		v.discard(t, 4*mib, 4*mib)
		v.write(t, 13*mib, 4096, 12)
	}},
	{name: "rollback to a snapshot taken after the last backup", do: func(t *testing.T, v *volume) {
		for off := int64(0); off < 16*mib; off += 4*mib + 64<<10 {
			v.write(t, off+8192, 4096, 13+off)
		}
		v.snapshotRollback(t, "user-a", func() {
			v.write(t, 0, 16*mib, 14)
		})
	}},
	{name: "rollback to a snapshot older than the last backup", do: func(t *testing.T, v *volume) {
		// user-b is taken now, the next backup follows, then the rollback:
		// the head goes back to before that backup.
		v.src.Snap(t, "rbd", v.image, "user-b")
		v.write(t, 8*mib, 2*mib, 15)
		v.discard(t, 12*mib, 1*mib)
	}},
	{name: "(rollback of user-b)", do: func(t *testing.T, v *volume) {
		v.src.RBD(t, "snap", "rollback", "--no-progress", "rbd/"+v.image+"@user-b")
	}, alsoFull: true},
	{name: "shrink, snapshot, grow", do: func(t *testing.T, v *volume) {
		v.write(t, 11*mib, 5*mib, 16)
		v.src.Snap(t, "rbd", v.image, "user-c")
		v.resize(t, 3*mib+4096)
		v.src.Snap(t, "rbd", v.image, "user-small")
		v.resize(t, 16*mib)
		v.write(t, 14*mib, 8192, 17)
	}, alsoFull: true},
	{name: "user snapshots removed", do: func(t *testing.T, v *volume) {
		for _, s := range []string{"user-a", "user-b", "user-c", "user-small"} {
			v.src.RBD(t, "snap", "rm", "--no-progress", "rbd/"+v.image+"@"+s)
		}
		v.write(t, 1*mib, 4096, 21)
	}},
	{name: "shrink and grow without a snapshot", do: func(t *testing.T, v *volume) {
		v.write(t, 6*mib, 6*mib, 18)
		v.resize(t, 5*mib+123*512)
		v.resize(t, 20*mib)
	}},
	{name: "shrink below the last backup", do: func(t *testing.T, v *volume) {
		v.resize(t, 7*mib)
		v.write(t, 6*mib, 1*mib, 19)
	}},
	{name: "grow past the last backup", do: func(t *testing.T, v *volume) {
		v.resize(t, 24*mib)
		v.write(t, 22*mib, 1*mib, 20)
	}},
	{name: "no change", do: func(*testing.T, *volume) {}},
}

// Every incremental restore point of every history, on every layout, is bit
// for bit its source snapshot (rbd export), and so is a full backup taken
// after the history and every restore point restored into a new image.
func TestAccExact_histories(t *testing.T) {
	src, dst, eng := clusters(t)
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			v := &volume{src: src, image: uniqueName("hist")}
			l.create(t, src, v.image, 16*mib)
			t.Cleanup(func() {
				_, _ = src.RBDErr("snap", "purge", "--no-progress", "rbd/"+v.image)
				_, _ = src.RBDErr("rm", "--no-progress", "rbd/"+v.image)
			})
			v.write(t, 0, 3*mib, 1)
			v.write(t, 7*mib+512, 5*mib, 2)
			v.write(t, 15*mib, 1*mib, 3)

			var taken []chain.Record
			t.Cleanup(func() { deleteAll(t, eng, v.image, taken) })
			backup := func(what string, parent string) chain.Record {
				t.Helper()
				rec, err := eng.Backup(ctx, engine.BackupRequest{Pool: "rbd", Image: v.image, BackupPool: "backups", ParentID: parent}, nil)
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				taken = append(taken, rec)
				want := src.ExportSHA256(t, "rbd/"+v.image+"@"+rec.Snapshot)
				if got := pointSum(t, dst, v.image, rec); !testcluster.Same(got, want) {
					t.Errorf("%s: restore point sha256 %s, source snapshot %s", what, got, want)
				}
				return rec
			}
			last := backup("full", "")
			for _, h := range histories {
				h.do(t, v)
				last = backup(h.name, last.ID)
				if h.alsoFull {
					backup("full after "+h.name, "")
				}
			}
			backup("full after every history", "")
			// Restored into a new image, the newest points are exact too.
			for _, rec := range taken[len(taken)-3:] {
				target := uniqueName("hist-restored")
				if _, err := eng.Restore(ctx, engine.RestoreRequest{BackupID: rec.ID, Pool: "rbd", Image: v.image, BackupPool: "backups",
					TargetPool: "rbd", TargetImage: target}); err != nil {
					t.Fatal(err)
				}
				if got, want := src.ExportSHA256(t, "rbd/"+target), pointSum(t, dst, v.image, rec); !testcluster.Same(got, want) {
					t.Errorf("restore of %s: sha256 %s, restore point %s", rec.ID, got, want)
				}
				src.RBD(t, "rm", "--no-progress", "rbd/"+target)
			}
		})
	}
}

// deleteAll deletes backups newest first, as Terraform destroys a chain.
func deleteAll(t *testing.T, eng *engine.Engine, image string, recs []chain.Record) {
	t.Helper()
	deleteAllIn(t, eng, "backups", image, recs)
}

// deleteAllIn is deleteAll for backups held in backupPool.
func deleteAllIn(t *testing.T, eng *engine.Engine, backupPool, image string, recs []chain.Record) {
	t.Helper()
	for i := len(recs) - 1; i >= 0; i-- {
		if _, err := eng.Delete(context.Background(), engine.DeleteRequest{BackupPool: backupPool, Pool: "rbd", Image: image, ID: recs[i].ID}); err != nil {
			t.Error(err)
		}
	}
}

// A zero-length image through a chain: created empty, grown and written,
// shrunk back to nothing, grown again; every point exact and restorable.
func TestAccExact_zeroLengthImage(t *testing.T) {
	src, dst, eng := clusters(t)
	ctx := context.Background()
	v := &volume{src: src, image: uniqueName("empty")}
	src.CreateImage(t, "rbd", v.image, 0)
	t.Cleanup(func() {
		_, _ = src.RBDErr("snap", "purge", "--no-progress", "rbd/"+v.image)
		_, _ = src.RBDErr("rm", "--no-progress", "rbd/"+v.image)
	})
	var taken []chain.Record
	t.Cleanup(func() { deleteAll(t, eng, v.image, taken) })
	steps := []func(){
		func() {},
		func() { v.resize(t, 6*mib+512); v.write(t, 1*mib, 2*mib, 1) },
		func() { v.resize(t, 0) },
		func() { v.resize(t, 4*mib); v.write(t, 3*mib, 4096, 2) },
	}
	parent := ""
	for i, change := range steps {
		change()
		rec, err := eng.Backup(ctx, engine.BackupRequest{Pool: "rbd", Image: v.image, BackupPool: "backups", ParentID: parent}, nil)
		if err != nil {
			t.Fatalf("backup %d: %v", i, err)
		}
		taken, parent = append(taken, rec), rec.ID
		want := src.ExportSHA256(t, "rbd/"+v.image+"@"+rec.Snapshot)
		if got := pointSum(t, dst, v.image, rec); !testcluster.Same(got, want) {
			t.Errorf("backup %d (size %d): restore point sha256 %s, source snapshot %s", i, rec.Size, got, want)
		}
		target := uniqueName("empty-restored")
		if _, err := eng.Restore(ctx, engine.RestoreRequest{BackupID: rec.ID, Pool: "rbd", Image: v.image, BackupPool: "backups",
			TargetPool: "rbd", TargetImage: target}); err != nil {
			t.Fatalf("restore of backup %d: %v", i, err)
		}
		if got := src.ExportSHA256(t, "rbd/"+target); !testcluster.Same(got, want) {
			t.Errorf("restore of backup %d: sha256 %s, want %s", i, got, want)
		}
		src.RBD(t, "rm", "--no-progress", "rbd/"+target)
	}
}
