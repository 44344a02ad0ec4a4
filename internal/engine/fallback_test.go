package engine_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/engine"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/rbdaio"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/testcluster"
)

// warnings records the warnings an engine logs.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) Info(context.Context, string, map[string]any)  {}
func (w *warnings) Debug(context.Context, string, map[string]any) {}
func (w *warnings) Warn(_ context.Context, msg string, fields map[string]any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, msg+" "+fields["go_ceph_version"].(string))
}

// A go-ceph release that keeps its librbd handle elsewhere (simulated: the
// handle is looked for in a field that does not exist): a full, an
// incremental, a restore into a new image, an in-place restore and a clone's
// flatten all work, through synchronous I/O and go-ceph's Flatten, and are
// exact (rbd export), with one warning that names the go-ceph version. The only test that takes the fallback: the
// warning is logged once per process.
func TestAccFallback_handleNotFoundBackupAndRestoreAreExact(t *testing.T) {
	src, dst, eng := clusters(t)
	defer rbdaio.LookUpHandleIn("movedAway")()
	logged := &warnings{}
	eng.Log = logged
	ctx := context.Background()
	v := newVolume(t, src, "fallback", 16*mib)
	v.write(t, 0, 5*mib+333, 1)
	v.discard(t, 2*mib+100, 4096)
	var taken []chain.Record
	t.Cleanup(func() { deleteAll(t, eng, v.image, taken) })
	backup := func(what, parent string) chain.Record {
		t.Helper()
		rec, err := eng.Backup(ctx, engine.BackupRequest{Pool: "rbd", Image: v.image, BackupPool: "backups", ParentID: parent}, nil)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		taken = append(taken, rec)
		if got, want := pointSum(t, dst, v.image, rec), src.ExportSHA256(t, "rbd/"+v.image+"@"+rec.Snapshot); !testcluster.Same(got, want) {
			t.Fatalf("%s: restore point sha256 %s, source snapshot %s", what, got, want)
		}
		return rec
	}
	full := backup("full", "")
	v.write(t, 9*mib, 300<<10, 2)
	v.discard(t, 1*mib+7, 10000)
	incr := backup("incremental", full.ID)

	target := uniqueName("fallback-restored")
	removeImage(t, src, "rbd/"+target)
	if _, err := eng.Restore(ctx, engine.RestoreRequest{BackupID: full.ID, Pool: "rbd", Image: v.image, BackupPool: "backups",
		TargetPool: "rbd", TargetImage: target}); err != nil {
		t.Fatal(err)
	}
	if got, want := src.ExportSHA256(t, "rbd/"+target), pointSum(t, dst, v.image, full); !testcluster.Same(got, want) {
		t.Errorf("restore of the full into a new image: sha256 %s, restore point %s", got, want)
	}
	v.write(t, 12*mib, 1*mib, 3)
	v.discard(t, 9*mib+4096, 8192)
	if _, err := eng.Restore(ctx, engine.RestoreRequest{BackupID: incr.ID, Pool: "rbd", Image: v.image, BackupPool: "backups",
		TargetPool: "rbd", TargetImage: v.image, Force: true}); err != nil {
		t.Fatal(err)
	}
	if got, want := src.ExportSHA256(t, "rbd/"+v.image), pointSum(t, dst, v.image, incr); !testcluster.Same(got, want) {
		t.Errorf("in-place restore of the incremental: sha256 %s, restore point %s", got, want)
	}
	clone := uniqueName("fallback-clone")
	if _, err := eng.Clone(ctx, engine.CloneRequest{BackupPool: "backups", Image: v.image, BackupID: incr.ID,
		TargetPool: "backups", TargetImage: clone}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := eng.RemoveClone(ctx, "backups", clone, incr.ID); err != nil {
			t.Error(err)
		}
	})
	if err := eng.FlattenClone(ctx, "backups", clone, incr.ID); err != nil {
		t.Fatal(err)
	}
	if _, parent := cloneState(t, dst, "backups/"+clone); parent {
		t.Error("the clone flattened through go-ceph's Flatten still has a parent")
	}
	if got, want := dst.ExportSHA256(t, "backups/"+clone), pointSum(t, dst, v.image, incr); !testcluster.Same(got, want) {
		t.Errorf("the flattened clone: sha256 %s, restore point %s", got, want)
	}
	if len(logged.msgs) != 1 || !strings.Contains(logged.msgs[0], rbdaio.GoCephVersion()) {
		t.Errorf("warnings %q, want one naming go-ceph %s", logged.msgs, rbdaio.GoCephVersion())
	}
}
