package provider

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/cephconn"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/engine"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/testcluster"
)

const (
	srcPool    = "rbd"
	backupPool = "backups"
)

// newestTerraformEnv names a Terraform >= 1.14 binary (actions, list
// resources) for the tests that need one; `make testacc` builds one when the
// machine's is older and sets it.
const newestTerraformEnv = "CEPHBACKUP_TERRAFORM_NEWEST"

// newestTerraform returns the Terraform >= 1.14 that needs names, skipping
// the test when none is given and failing it when the one given is older.
func newestTerraform(t *testing.T, needs string) string {
	t.Helper()
	tf := os.Getenv(newestTerraformEnv)
	if tf == "" {
		t.Skipf("%s needs Terraform >= 1.14: %s is not set (`make testacc` builds one and sets it)", needs, newestTerraformEnv)
	}
	out, err := exec.Command(tf, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s=%s: %v\n%s", newestTerraformEnv, tf, err, out)
	}
	if minor, ok := terraformMinor(string(out)); !ok || minor < 14 {
		t.Fatalf("%s=%s is not Terraform >= 1.14:\n%s", newestTerraformEnv, tf, out)
	}
	return tf
}

func fullConfig(name, image string) string {
	return fmt.Sprintf(`
resource "cephbackup_full" %q {
  pool        = %q
  image       = %q
  backup_pool = %q
}
`, name, srcPool, image, backupPool)
}

func incrementalConfig(name, parentRef, image string) string {
	return fmt.Sprintf(`
resource "cephbackup_incremental" %q {
  parent_id   = %s
  pool        = %q
  image       = %q
  backup_pool = %q
}
`, name, parentRef, srcPool, image, backupPool)
}

// verified adds verify = true to a resource block written by one of the
// *Config helpers.
func verified(block string) string {
	i := strings.LastIndex(block, "}")
	return block[:i] + "  verify = true\n" + block[i:]
}

// sameSum records one comparison of checksums taken with `rbd export`
// (testcluster.Same); TestMain reports the count. A mismatch fails its test.
func sameSum(got, want string) bool { return testcluster.Same(got, want) }

// checkRestorePointExact compares, with the rbd CLI, the restore point of a
// backup in state with the source snapshot it was taken from; the restore
// point's checksum is saved in *sum when sum is not nil.
func (e *accEnv) checkRestorePointExact(t *testing.T, name, image string, sum *string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		snap, err := stateAttr(s, name, "snapshot")
		if err != nil {
			return err
		}
		want := e.src.ExportSHA256(t, srcPool+"/"+image+"@"+snap)
		got := e.dst.ExportSHA256(t, backupPool+"/"+chain.BackupImageName(image)+"@"+snap)
		if !sameSum(got, want) {
			return fmt.Errorf("%s: restore point sha256 %s differs from the source snapshot's %s", name, got, want)
		}
		if sum != nil {
			*sum = got
		}
		return nil
	}
}

// checkRestorePointSum checks a restore point against a checksum taken earlier
// (its source snapshot may have been pruned since).
func (e *accEnv) checkRestorePointSum(t *testing.T, name, image string, sum *string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		snap, err := stateAttr(s, name, "snapshot")
		if err != nil {
			return err
		}
		if got := e.dst.ExportSHA256(t, backupPool+"/"+chain.BackupImageName(image)+"@"+snap); !sameSum(got, *sum) {
			return fmt.Errorf("%s: restore point changed: sha256 %s, was %s", name, got, *sum)
		}
		return nil
	}
}

// checkNoBackupsLeft is a CheckDestroy: no backup snapshot on the source and
// no backup image remain.
func (e *accEnv) checkNoBackupsLeft(t *testing.T, image string) func(*terraform.State) error {
	return func(*terraform.State) error {
		for _, s := range e.src.Snapshots(t, srcPool, image) {
			if strings.HasPrefix(s, "backup.") {
				return fmt.Errorf("source snapshot %s@%s left behind", image, s)
			}
		}
		if e.dst.ImageExists(t, backupPool, chain.BackupImageName(image)) {
			return fmt.Errorf("backup image %s left behind", chain.BackupImageName(image))
		}
		return nil
	}
}

// checkUntouched verifies that a failed apply created nothing.
func (e *accEnv) checkUntouched(t *testing.T, image string) {
	t.Helper()
	if err := e.checkNoBackupsLeft(t, image)(nil); err != nil {
		t.Fatal(err)
	}
}

func importID(name string) resource.ImportStateIdFunc {
	return func(s *terraform.State) (string, error) {
		id, err := stateAttr(s, name, "id")
		if err != nil {
			return "", err
		}
		return chain.ImportID(backupPool, id), nil
	}
}

// wrapped matches the words of text in a diagnostic however Terraform
// wrapped its lines.
func wrapped(text string) *regexp.Regexp {
	return regexp.MustCompile(strings.Join(strings.Fields(regexp.QuoteMeta(text)), `\s+`))
}

// wrongKey is a well-formed cephx secret that no user has.
func wrongKey(t *testing.T) string {
	out, err := exec.Command("ceph-authtool", "--gen-print-key").Output()
	if err != nil {
		t.Fatalf("ceph-authtool --gen-print-key: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// adminEngine is an engine outside Terraform, as another workspace or an
// operator's script would be, working as client.admin on both clusters.
func (e *accEnv) adminEngine() *engine.Engine {
	client := func(name string, c *testcluster.Cluster) *cephconn.Client {
		return cephconn.NewClient(name, c.AdminConfig())
	}
	return &engine.Engine{SourceCluster: client("cluster", e.src), BackupCluster: client("backup_cluster", e.dst)}
}
