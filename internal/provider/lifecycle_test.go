package provider

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
)

// What the chains and retention guide says about Terraform's own guards,
// checked with the real terraform: a backup forgotten with a `removed` block
// stays on the backup cluster and still counts as a child of its parent,
// whose deletion is then refused with nothing deleted; prevent_destroy fails
// this workspace's destroy plan; an import block brings the forgotten backup
// back under management.
func TestAccBackup_removedBlockAndPreventDestroy(t *testing.T) {
	e := newAccEnv(t)
	img := uniqueImage("forget")
	e.src.CreateImage(t, srcPool, img, 8<<20)
	e.src.WriteRandom(t, srcPool, img, 0, 2<<20, 1)
	w := newWorkspace(t)
	full := fullConfig("w", img)
	chainCfg := e.providerBlock() + full + incrementalConfig("d1", "cephbackup_full.w.id", img)
	t.Cleanup(func() {
		w.write(e.providerBlock())
		if out, err := w.run("apply", "-auto-approve", "-no-color"); err != nil {
			t.Errorf("cleanup apply: %v\n%s", err, tail(out, 20))
		}
		e.checkUntouched(t, img)
	})
	w.write(chainCfg)
	w.mustApply()
	fullSnap, d1Snap, d1ID := w.snapshot("cephbackup_full.w"), w.snapshot("cephbackup_incremental.d1"), w.attr("cephbackup_incremental.d1", "id")
	sums := map[string]string{}
	for _, s := range []string{fullSnap, d1Snap} {
		sums[s] = e.dst.ExportSHA256(t, backupPool+"/"+chain.BackupImageName(img)+"@"+s)
	}

	// prevent_destroy: this workspace's destroy fails at plan.
	w.write(e.providerBlock() + withLine(full, "lifecycle {\n    prevent_destroy = true\n  }") + incrementalConfig("d1", "cephbackup_full.w.id", img))
	if out, err := w.run("destroy", "-auto-approve", "-no-color"); err == nil || !wrapped("Instance cannot be destroyed").MatchString(out) {
		t.Fatalf("destroy with prevent_destroy: %v\n%s", err, tail(out, 30))
	}
	e.checkPointsStill(t, img, sums)

	// removed { destroy = false }: the incremental leaves the state, not the
	// backup cluster.
	forget := "\nremoved {\n  from = cephbackup_incremental.d1\n  lifecycle {\n    destroy = false\n  }\n}\n"
	w.write(e.providerBlock() + full + forget)
	w.mustApply()
	if out, _ := w.run("state", "list"); strings.Contains(out, "cephbackup_incremental.d1") {
		t.Fatalf("d1 still in state:\n%s", out)
	}
	e.checkPointsStill(t, img, sums)
	e.checkBackupImageHolds(t, img, fullSnap, d1Snap)

	// The forgotten backup is still the full's child: deleting the full is
	// refused when applied, and nothing is deleted.
	w.write(e.providerBlock() + forget)
	out, err := w.run("apply", "-auto-approve", "-no-color")
	if err == nil || !wrapped("still has 1 child backup(s) recorded on the backup cluster: "+d1ID).MatchString(out) {
		t.Fatalf("deleting the parent of a forgotten backup: %v\n%s", err, tail(out, 30))
	}
	e.checkPointsStill(t, img, sums)

	// Imported back, the chain is managed again (and the cleanup deletes it).
	w.write(chainCfg + fmt.Sprintf("\nimport {\n  to = cephbackup_incremental.d1\n  id = %q\n}\n", chain.ImportID(backupPool, d1ID)))
	w.mustApply()
	if got := w.attr("cephbackup_incremental.d1", "snapshot"); got != d1Snap {
		t.Fatalf("imported d1 has snapshot %s, want %s", got, d1Snap)
	}
}
