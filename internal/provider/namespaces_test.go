package provider

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
)

// namespaceConfig is a backup resource of pool/namespace/image into the
// backup pool, with its backup_namespace left to default.
func namespaceConfig(kind, name, namespace, image, extra string) string {
	return fmt.Sprintf(`
resource "cephbackup_%s" %q {
  pool        = %q
  namespace   = %q
  image       = %q
  backup_pool = %q
%s}
`, kind, name, srcPool, namespace, image, backupPool, extra)
}

// namespaces creates fresh RADOS namespaces, one per prefix, in the source
// and the backup pool, and an image of 16 MiB with data in each source
// namespace (the same name in all); all is removed when the test ends.
func (e *accEnv) namespaces(t *testing.T, img string, prefixes ...string) []string {
	var out []string
	for i, prefix := range prefixes {
		ns := prefix + "-" + img[len(img)-8:]
		e.src.RBD(t, "namespace", "create", "--pool", srcPool, "--namespace", ns)
		e.dst.RBD(t, "namespace", "create", "--pool", backupPool, "--namespace", ns)
		t.Cleanup(func() {
			for _, c := range []struct {
				rbd  func(...string) (string, error)
				pool string
			}{{e.src.RBDErr, srcPool}, {e.dst.RBDErr, backupPool}} {
				_, _ = c.rbd("rm", "--no-progress", c.pool+"/"+ns+"/"+img)
				_, _ = c.rbd("rm", "--no-progress", c.pool+"/"+ns+"/"+img+"-restored")
				_, _ = c.rbd("namespace", "remove", "--pool", c.pool, "--namespace", ns)
			}
		})
		e.src.CreateImage(t, srcPool+"/"+ns, img, 16<<20)
		e.src.WriteRandom(t, srcPool+"/"+ns, img, int64(i)<<20, 6<<20, int64(i+1))
		out = append(out, ns)
	}
	return out
}

// namespacePointExact compares, with the rbd CLI, a backup's restore point in
// backups/ns with its source snapshot in rbd/ns.
func (e *accEnv) namespacePointExact(t *testing.T, name, ns, img string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		snap, err := stateAttr(s, name, "snapshot")
		if err != nil {
			return err
		}
		spec := backupPool + "/" + ns + "/" + chain.BackupImageName(img) + "@" + snap
		want := e.src.ExportSHA256(t, srcPool+"/"+ns+"/"+img+"@"+snap)
		if got := e.dst.ExportSHA256(t, spec); !sameSum(got, want) {
			return fmt.Errorf("%s: restore point %s has sha256 %s, its source snapshot %s", name, spec, got, want)
		}
		return nil
	}
}

// namespaceRestoreConfig restores backup into rbd/ns/<image>-restored.
func namespaceRestoreConfig(backupRef, ns, img string) string {
	return fmt.Sprintf(`
resource "cephbackup_restore" "r" {
  backup_id        = %s
  pool             = %q
  namespace        = %q
  image            = %q
  backup_pool      = %q
  target_pool      = %q
  target_namespace = %q
  target_image     = "%s-restored"
  verify           = true
}
`, backupRef, srcPool, ns, img, backupPool, srcPool, ns, img)
}

// restoredExact checks rbd/ns/<image>-restored against a restore point.
func (e *accEnv) restoredExact(t *testing.T, name, ns, img string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		snap, err := stateAttr(s, name, "snapshot")
		if err != nil {
			return err
		}
		want := e.dst.ExportSHA256(t, backupPool+"/"+ns+"/"+chain.BackupImageName(img)+"@"+snap)
		if got := e.src.ExportSHA256(t, srcPool+"/"+ns+"/"+img+"-restored"); !sameSum(got, want) {
			return fmt.Errorf("restored %s/%s/%s-restored has sha256 %s, the restore point %s", srcPool, ns, img, got, want)
		}
		return nil
	}
}

// checkNamespacesClean is a CheckDestroy: no backup image and no backup
// snapshot left in any of the namespaces.
func (e *accEnv) checkNamespacesClean(t *testing.T, img string, namespaces ...string) func(*terraform.State) error {
	return func(*terraform.State) error {
		for _, ns := range namespaces {
			if e.dst.ImageExists(t, backupPool+"/"+ns, chain.BackupImageName(img)) {
				return fmt.Errorf("backup image %s/%s/%s left behind", backupPool, ns, chain.BackupImageName(img))
			}
			for _, s := range e.src.Snapshots(t, srcPool+"/"+ns, img) {
				if strings.HasPrefix(s, "backup.") {
					return fmt.Errorf("source snapshot %s/%s/%s@%s left behind", srcPool, ns, img, s)
				}
			}
		}
		return nil
	}
}

// Two images of one name in two RADOS namespaces of the source pool, backed
// up into one backup pool: each lands in its own namespace there (the
// default backup_namespace), nothing in the pool's default namespace. A
// chain and a restore within a namespace, the restore points data source,
// import by <pool>/<namespace>/<id>, a missing namespace refused at plan,
// and a clean destroy; every content checked with the rbd CLI.
func TestAccNamespaces_sameNameInTwoNamespacesNeverCollide(t *testing.T) {
	e := newAccEnv(t)
	img := uniqueImage("nsvol")
	ns := e.namespaces(t, img, "ta", "tb")
	nsA, nsB := ns[0], ns[1]

	fulls := e.providerBlock() + namespaceConfig("full", "a", nsA, img, "") + namespaceConfig("full", "b", nsB, img, "")
	chainA := fulls + namespaceConfig("incremental", "a1", nsA, img, "  parent_id = cephbackup_full.a.id\n") +
		namespaceRestoreConfig("cephbackup_incremental.a1.id", nsA, img) + fmt.Sprintf(`
data "cephbackup_restore_points" "b" {
  pool        = %q
  namespace   = %q
  image       = %q
  backup_pool = %q
  depends_on  = [cephbackup_full.b]
}
`, srcPool, nsB, img, backupPool)
	notInDefaultNamespace := func(*terraform.State) error {
		if e.dst.ImageExists(t, backupPool, chain.BackupImageName(img)) {
			return fmt.Errorf("a backup image %s/%s was made in the pool's default namespace", backupPool, chain.BackupImageName(img))
		}
		return nil
	}
	var sumA string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             e.checkNamespacesClean(t, img, nsA, nsB),
		Steps: []resource.TestStep{
			{
				Config:      e.providerBlock() + namespaceConfig("full", "missing", "no-"+nsA, img, ""),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)namespace "no-` + nsA + `" of pool "rbd".*does not exist.*rbd namespace create`),
			},
			{
				Config: fulls,
				Check: resource.ComposeAggregateTestCheckFunc(
					e.namespacePointExact(t, "cephbackup_full.a", nsA, img), e.namespacePointExact(t, "cephbackup_full.b", nsB, img),
					notInDefaultNamespace,
					func(s *terraform.State) error {
						snap, err := stateAttr(s, "cephbackup_full.a", "snapshot")
						sumA = e.dst.ExportSHA256(t, backupPool+"/"+nsA+"/"+chain.BackupImageName(img)+"@"+snap)
						return err
					},
					resource.TestCheckNoResourceAttr("cephbackup_full.a", "backup_namespace"),
				),
			},
			{
				PreConfig: func() { e.src.WriteRandom(t, srcPool+"/"+nsA, img, 9<<20, 1<<20, 3) },
				Config:    chainA,
				Check: resource.ComposeAggregateTestCheckFunc(
					e.namespacePointExact(t, "cephbackup_incremental.a1", nsA, img), notInDefaultNamespace,
					resource.TestCheckResourceAttr("cephbackup_incremental.a1", "transferred_bytes", fmt.Sprint(1<<20)),
					e.restoredExact(t, "cephbackup_incremental.a1", nsA, img),
					resource.TestCheckResourceAttr("data.cephbackup_restore_points.b", "restore_points.#", "1"),
					resource.TestCheckResourceAttrPair("data.cephbackup_restore_points.b", "restore_points.0.id", "cephbackup_full.b", "id"),
				),
			},
			{
				// Spelling out the namespace backup_namespace defaulted to
				// changes nothing on the clusters: an update, not a new backup.
				Config: strings.Replace(chainA, namespaceConfig("full", "a", nsA, img, ""),
					namespaceConfig("full", "a", nsA, img, fmt.Sprintf("  backup_namespace = %q\n", nsA)), 1),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("cephbackup_full.a", plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("cephbackup_full.a", "backup_namespace", nsA),
					func(s *terraform.State) error {
						snap, err := stateAttr(s, "cephbackup_full.a", "snapshot")
						if err != nil {
							return err
						}
						if got := e.dst.ExportSHA256(t, backupPool+"/"+nsA+"/"+chain.BackupImageName(img)+"@"+snap); !sameSum(got, sumA) {
							return fmt.Errorf("restore point of cephbackup_full.a changed: sha256 %s, was %s", got, sumA)
						}
						return nil
					},
				),
			},
			{
				ResourceName:      "cephbackup_incremental.a1",
				ImportState:       true,
				ImportStateVerify: true,
				ImportStateIdFunc: func(s *terraform.State) (string, error) {
					id, err := stateAttr(s, "cephbackup_incremental.a1", "id")
					return backupPool + "/" + nsA + "/" + id, err
				},
				ImportStateVerifyIgnore: []string{"timeouts"},
			},
		},
	})
}

// A tenant whose cephx caps stop at its namespace, on both clusters (as with
// Ceph CSI's RADOS namespace per tenant), backs up, continues the chain and
// restores within it.
func TestAccNamespaces_tenantLimitedToItsNamespace(t *testing.T) {
	e := newAccEnv(t)
	img := uniqueImage("nsten")
	ns := e.namespaces(t, img, "tt")[0]
	user := "cephbackup-tenant-" + ns
	srcKey := e.src.CreateUser(t, user, "mon", monCaps, "osd", "profile rbd pool="+srcPool+" namespace="+ns)
	dstKey := e.dst.CreateUser(t, user, "mon", monCaps, "osd", "profile rbd pool="+backupPool+" namespace="+ns)
	provider := fmt.Sprintf(`
provider "cephbackup" {
  cluster        = { mon_host = %q, user = %q, key = %q, timeout = "20s" }
  backup_cluster = { mon_host = %q, user = %q, key = %q, timeout = "20s" }
}
`, e.src.MonHost, user, srcKey, e.dst.MonHost, user, dstKey)
	full := provider + namespaceConfig("full", "w", ns, img, "")
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             e.checkNamespacesClean(t, img, ns),
		Steps: []resource.TestStep{
			{
				Config: full,
				Check:  e.namespacePointExact(t, "cephbackup_full.w", ns, img),
			},
			{
				PreConfig: func() { e.src.Discard(t, srcPool+"/"+ns, img, 1<<20, 2<<20) },
				Config: full + namespaceConfig("incremental", "d1", ns, img, "  parent_id = cephbackup_full.w.id\n") +
					namespaceRestoreConfig("cephbackup_incremental.d1.id", ns, img),
				Check: resource.ComposeAggregateTestCheckFunc(
					e.namespacePointExact(t, "cephbackup_incremental.d1", ns, img),
					e.restoredExact(t, "cephbackup_incremental.d1", ns, img),
				),
			},
		},
	})
}
