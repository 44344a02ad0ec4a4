package provider

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/testcluster"
)

// providerOn configures the provider with src as cluster and dst as
// backup_cluster, as the suite's restricted users with their keys there.
func providerOn(src *testcluster.Cluster, srcKey string, dst *testcluster.Cluster, dstKey string) string {
	return fmt.Sprintf(`
provider "cephbackup" {
  cluster        = { mon_host = %q, user = %q, key = %q, timeout = "20s" }
  backup_cluster = { mon_host = %q, user = %q, key = %q, timeout = "20s" }
}
`, src.MonHost, srcUser, srcKey, dst.MonHost, dstUser, dstKey)
}

// stripStateAttrs removes the named attributes from every resource of the
// workspace's state, as a state written by an older provider has them not.
func (w *workspace) stripStateAttrs(names ...string) {
	w.t.Helper()
	file := filepath.Join(w.dir, "terraform.tfstate")
	raw, err := os.ReadFile(file)
	if err != nil {
		w.t.Fatal(err)
	}
	var state map[string]any
	if err := json.Unmarshal(raw, &state); err != nil {
		w.t.Fatal(err)
	}
	for _, res := range state["resources"].([]any) {
		for _, inst := range res.(map[string]any)["instances"].([]any) {
			attrs := inst.(map[string]any)["attributes"].(map[string]any)
			for _, n := range names {
				delete(attrs, n)
			}
		}
	}
	if raw, err = json.Marshal(state); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		w.t.Fatal(err)
	}
}

// The provider pointed at another cluster that has pools of the same names:
// every image looks gone there. A refresh must fail naming both clusters and
// keep every backup and restore in state, never forget them; pointed back,
// the plan is empty again and every restore point is as it was. State from
// before the fsids were recorded gets them at its first refresh.
func TestAccBackup_refreshAgainstAnotherClusterOfTheSamePoolsKeepsState(t *testing.T) {
	e := newAccEnv(t)
	other := testcluster.Start(t, "other-fsid")
	otherSrcKey := other.CreateUser(t, srcUser, "mon", monCaps, "osd", "profile rbd pool=rbd")
	otherDstKey := other.CreateUser(t, dstUser, "mon", monCaps, "osd", "profile rbd pool=backups")
	img := uniqueImage("fsid")
	target := img + "-r"
	e.src.CreateImage(t, srcPool, img, 16<<20)
	e.src.WriteRandom(t, srcPool, img, 0, 4<<20, 1)
	backupImage := backupPool + "/" + chain.BackupImageName(img)

	home := e.providerBlock()
	config := fullConfig("w", img) + incrementalConfig("d1", "cephbackup_full.w.id", img) +
		restoreConfig("r", "cephbackup_full.w.id", img, target, "delete_target_on_destroy = true")
	addresses := []string{"cephbackup_full.w", "cephbackup_incremental.d1", "cephbackup_restore.r"}
	w := newWorkspace(t)
	t.Cleanup(func() {
		w.write(home)
		if out, err := w.run("apply", "-auto-approve", "-no-color"); err != nil {
			t.Errorf("cleanup apply: %v\n%s", err, tail(out, 30))
		}
		_, _ = e.src.RBDErr("rm", "--no-progress", srcPool+"/"+img)
	})
	w.write(home + config)
	w.mustApply()
	points := map[string]string{} // restore point snapshot -> sha256, by the rbd CLI
	for _, a := range addresses[:2] {
		snap := w.attr(a, "snapshot")
		points[snap] = e.dst.ExportSHA256(t, backupImage+"@"+snap)
	}
	restored := e.src.ExportSHA256(t, srcPool+"/"+target)
	checkState := func(when string) {
		t.Helper()
		out, err := w.run("state", "list")
		if err != nil {
			t.Fatalf("terraform state list: %v\n%s", err, out)
		}
		for _, a := range addresses {
			if !strings.Contains(out, a+"\n") {
				t.Fatalf("%s: %s is no longer in state:\n%s", when, a, out)
			}
		}
		for snap, sum := range points {
			if got := e.dst.ExportSHA256(t, backupImage+"@"+snap); !sameSum(got, sum) {
				t.Fatalf("%s: restore point %s@%s: sha256 %s, want %s", when, backupImage, snap, got, sum)
			}
		}
	}

	for _, c := range []struct {
		what, provider, recorded, reached string
	}{
		{"backup_cluster", providerOn(e.src, e.srcKey, other, otherDstKey), e.dst.FSID, other.FSID},
		{"cluster", providerOn(other, otherSrcKey, e.dst, e.dstKey), e.src.FSID, other.FSID},
	} {
		w.write(c.provider + config)
		out, err := w.run("apply", "-refresh-only", "-auto-approve", "-no-color")
		if err == nil {
			t.Errorf("refresh with %s on another cluster succeeded:\n%s", c.what, tail(out, 40))
		}
		for _, s := range []string{"Wrong cluster", c.recorded, c.reached, "point " + c.what + " back", "terraform state rm"} {
			if !wrapped(s).MatchString(out) {
				t.Errorf("refresh with %s on another cluster printed no %q:\n%s", c.what, s, tail(out, 40))
			}
		}
		checkState("after a refresh with " + c.what + " on another cluster")
	}

	w.write(home + config)
	if out, err := w.run("plan", "-detailed-exitcode", "-no-color"); err != nil {
		t.Fatalf("plan with the provider pointed back: %v (exit 2 is a non-empty plan)\n%s", err, tail(out, 40))
	}
	checkState("pointed back")
	if got := e.src.ExportSHA256(t, srcPool+"/"+target); !sameSum(got, restored) {
		t.Fatalf("restored image %s: sha256 %s, want %s", target, got, restored)
	}

	// State written before the fsids were recorded: filled by a refresh
	// that finds everything, without any failure.
	w.stripStateAttrs("backup_cluster_fsid", "cluster_fsid")
	if out, err := w.run("apply", "-refresh-only", "-auto-approve", "-no-color"); err != nil {
		t.Fatalf("refresh of state without fsids: %v\n%s", err, tail(out, 40))
	}
	for _, a := range addresses[:2] {
		if got := w.attr(a, "backup_cluster_fsid"); got != e.dst.FSID {
			t.Fatalf("%s: backup_cluster_fsid %q after a refresh, want %s", a, got, e.dst.FSID)
		}
	}
	if got := w.attr("cephbackup_restore.r", "cluster_fsid"); got != e.src.FSID {
		t.Fatalf("cephbackup_restore.r: cluster_fsid %q after a refresh, want %s", got, e.src.FSID)
	}
}
