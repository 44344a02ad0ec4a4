package provider

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/engine"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/testcluster"
)

func restoreConfig(name, backupRef, image, target string, extra string) string {
	return fmt.Sprintf(`
resource "cephbackup_restore" %q {
  backup_id    = %s
  pool         = %q
  image        = %q
  backup_pool  = %q
  target_pool  = %q
  target_image = %q
  %s
}
`, name, backupRef, srcPool, image, backupPool, srcPool, target, extra)
}

// checkImageSum compares the head of an image on c with a checksum taken earlier.
func checkImageSum(t *testing.T, c *testcluster.Cluster, image string, sum *string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		if got := c.ExportSHA256(t, srcPool+"/"+image); !sameSum(got, *sum) {
			return fmt.Errorf("%s: sha256 %s, want %s", image, got, *sum)
		}
		return nil
	}
}

func TestAccRestore_everyPointOfAChainIntoNewImages(t *testing.T) {
	e := newAccEnv(t)
	img := uniqueImage("rst")
	e.src.CreateImage(t, srcPool, img, 24<<20)
	e.src.WriteRandom(t, srcPool, img, 0, 10<<20, 1)

	c1 := e.providerBlock() + fullConfig("w", img)
	c2 := c1 + incrementalConfig("d1", "cephbackup_full.w.id", img)
	c3 := c2 + incrementalConfig("d2", "cephbackup_incremental.d1.id", img)
	restores := c3 +
		restoreConfig("r0", "cephbackup_full.w.id", img, img+"-r0", "") +
		verified(restoreConfig("r1", "cephbackup_incremental.d1.id", img, img+"-r1", "")) +
		restoreConfig("r2", "cephbackup_incremental.d2.id", img, img+"-r2", "delete_target_on_destroy = true")
	var s0, s1, s2 string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy: func(s *terraform.State) error {
			// Restored data is user data: kept on destroy unless asked otherwise.
			for _, kept := range []string{img + "-r0", img + "-r1"} {
				if !e.src.ImageExists(t, srcPool, kept) {
					return fmt.Errorf("restored image %s was deleted on destroy", kept)
				}
				e.src.RBD(t, "rm", "--no-progress", srcPool+"/"+kept)
			}
			if e.src.ImageExists(t, srcPool, img+"-r2") {
				return fmt.Errorf("restored image %s survived delete_target_on_destroy", img+"-r2")
			}
			return e.checkNoBackupsLeft(t, img)(s)
		},
		Steps: []resource.TestStep{
			{Config: c1, Check: e.checkRestorePointExact(t, "cephbackup_full.w", img, &s0)},
			{
				PreConfig: func() {
					e.src.WriteRandom(t, srcPool, img, 12<<20, 3<<20, 2)
					e.src.Discard(t, srcPool, img, 1<<20+100, 3000)
				},
				Config: c2, Check: e.checkRestorePointExact(t, "cephbackup_incremental.d1", img, &s1),
			},
			{
				PreConfig: func() {
					e.src.Resize(t, srcPool, img, 20<<20)
					e.src.WriteRandom(t, srcPool, img, 0, 1<<20, 3)
				},
				Config: c3, Check: e.checkRestorePointExact(t, "cephbackup_incremental.d2", img, &s2),
			},
			{
				Config: restores,
				Check: resource.ComposeAggregateTestCheckFunc(
					checkImageSum(t, e.src, img+"-r0", &s0),
					checkImageSum(t, e.src, img+"-r1", &s1),
					resource.TestCheckResourceAttrPtr("cephbackup_restore.r1", "sha256", &s1),
					checkImageSum(t, e.src, img+"-r2", &s2),
					resource.TestCheckResourceAttr("cephbackup_restore.r0", "size", fmt.Sprint(24<<20)),
					resource.TestCheckResourceAttr("cephbackup_restore.r2", "size", fmt.Sprint(20<<20)),
					resource.TestCheckResourceAttr("cephbackup_restore.r2", "id", srcPool+"/"+img+"-r2"),
					resource.TestCheckResourceAttr("cephbackup_restore.r2", "target_created", "true"),
				),
			},
		},
	})
}

func TestAccRestore_overwriteNeedsForceAndSendsOnlyDifferences(t *testing.T) {
	e := newAccEnv(t)
	img := uniqueImage("orig")
	const size = 32 << 20
	e.src.CreateImage(t, srcPool, img, size)
	e.src.WriteRandom(t, srcPool, img, 0, 24<<20, 1)
	bigger, smaller := img+"-big", img+"-small"
	e.src.CreateImage(t, srcPool, bigger, 48<<20)
	e.src.WriteRandom(t, srcPool, bigger, 0, 48<<20, 2)
	e.src.CreateImage(t, srcPool, smaller, 8<<20)
	e.src.WriteRandom(t, srcPool, smaller, 0, 8<<20, 3)
	biggerBefore := e.src.ExportSHA256(t, srcPool+"/"+bigger)
	t.Cleanup(func() {
		for _, i := range []string{bigger, smaller} {
			_, _ = e.src.RBDErr("rm", "--no-progress", srcPool+"/"+i)
		}
	})

	backups := e.providerBlock() + fullConfig("w", img) + incrementalConfig("d1", "cephbackup_full.w.id", img)
	var point string
	const scribbled = 2 * 256 << 10
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             e.checkNoBackupsLeft(t, img),
		Steps: []resource.TestStep{
			{Config: backups, Check: e.checkRestorePointExact(t, "cephbackup_incremental.d1", img, &point)},
			{
				Config:      backups + restoreConfig("big", "cephbackup_incremental.d1.id", img, bigger, ""),
				ExpectError: regexp.MustCompile(`already exists and force is\s+false: nothing was\s+changed`),
			},
			{
				Config: backups,
				Check:  checkImageSum(t, e.src, bigger, &biggerBefore),
			},
			{
				// delete_target_on_destroy on a volume that existed before:
				// destroying the restore must keep it.
				Config: backups +
					restoreConfig("big", "cephbackup_incremental.d1.id", img, bigger, "force = true\n  delete_target_on_destroy = true") +
					restoreConfig("small", "cephbackup_incremental.d1.id", img, smaller, "force = true"),
				Check: resource.ComposeAggregateTestCheckFunc(
					checkImageSum(t, e.src, bigger, &point),
					checkImageSum(t, e.src, smaller, &point),
					resource.TestCheckResourceAttr("cephbackup_restore.big", "target_created", "false"),
				),
			},
			{
				Config: backups + restoreConfig("small", "cephbackup_incremental.d1.id", img, smaller, "force = true"),
				Check: func(*terraform.State) error {
					if !e.src.ImageExists(t, srcPool, bigger) {
						return fmt.Errorf("destroying a forced restore with delete_target_on_destroy deleted the volume %s it overwrote", bigger)
					}
					return checkImageSum(t, e.src, bigger, &point)(nil)
				},
			},
			{
				// The incident: the volume is scribbled on; restoring the newest
				// point into it sends only what differs.
				PreConfig: func() {
					e.src.WriteRandom(t, srcPool, img, 3<<20, 256<<10, 4)
					e.src.WriteRandom(t, srcPool, img, 28<<20, 256<<10, 5) // in a hole of the restore point
				},
				Config: backups + restoreConfig("orig", "cephbackup_incremental.d1.id", img, img, "force = true"),
				Check: resource.ComposeAggregateTestCheckFunc(
					checkImageSum(t, e.src, img, &point),
					resource.TestCheckResourceAttrWith("cephbackup_restore.orig", "restored_bytes", between(0, 2*scribbled+(1<<20))),
				),
			},
		},
	})
}

func TestAccRestore_disasterRecoveryWithoutTheSourceCluster(t *testing.T) {
	e := newAccEnv(t)
	lost := testcluster.Start(t, "dr-lost")
	replacement := testcluster.Start(t, "dr-new")
	lostKey := lost.CreateUser(t, srcUser, "mon", monCaps, "osd", "profile rbd pool=rbd")
	replacementKey := replacement.CreateUser(t, srcUser, "mon", monCaps, "osd", "profile rbd pool=rbd")
	img := uniqueImage("dr")
	lost.CreateImage(t, srcPool, img, 16<<20)
	lost.WriteRandom(t, srcPool, img, 0, 6<<20, 1)

	providerFor := func(c *testcluster.Cluster, key string) string {
		return fmt.Sprintf(`
provider "cephbackup" {
  cluster        = { mon_host = %q, user = %q, key = %q, timeout = "5s" }
  backup_cluster = { mon_host = %q, user = %q, key = %q }
}
`, c.MonHost, srcUser, key, e.dst.MonHost, dstUser, e.dstKey)
	}
	backups := fullConfig("w", img) + incrementalConfig("d1", "cephbackup_full.w.id", img)
	recovery := providerFor(replacement, replacementKey) + backups + `
data "cephbackup_restore_points" "vol" {
  pool        = "rbd"
  image       = "` + img + `"
  backup_pool = "backups"
}
` + restoreConfig("dr", "data.cephbackup_restore_points.vol.restore_points[1].id", img, img, "")
	var newest string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy: func(*terraform.State) error {
			if e.dst.ImageExists(t, backupPool, img+".backup.base") {
				return fmt.Errorf("backup image left behind")
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config: providerFor(lost, lostKey) + backups,
				Check: func(s *terraform.State) error {
					snap, err := stateAttr(s, "cephbackup_incremental.d1", "snapshot")
					if err == nil {
						newest = lost.ExportSHA256(t, srcPool+"/"+img+"@"+snap)
					}
					return err
				},
			},
			{
				// The source cluster is gone, with whatever was written after
				// the last backup; the replacement cluster gets the newest point.
				PreConfig: func() {
					lost.WriteRandom(t, srcPool, img, 0, 1<<20, 9)
					lost.StopDaemons(t)
				},
				Config: recovery,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("data.cephbackup_restore_points.vol", "restore_points.#", "2"),
					resource.TestCheckResourceAttrPair("cephbackup_restore.dr", "backup_id", "cephbackup_incremental.d1", "id"),
					checkImageSum(t, replacement, img, &newest),
				),
			},
		},
	})
}

// A restore that cannot work fails the plan on the attribute at fault, and
// nothing is created.
func TestAccRestore_badInputFailsAtPlan(t *testing.T) {
	e := newAccEnv(t)
	img := uniqueImage("rbad")
	e.src.CreateImage(t, srcPool, img, 8<<20)
	e.src.WriteRandom(t, srcPool, img, 0, 1<<20, 1)
	eng := e.adminEngine()
	full, err := eng.Backup(context.Background(), engine.BackupRequest{Pool: srcPool, Image: img, BackupPool: backupPool}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := eng.Delete(context.Background(), engine.DeleteRequest{BackupPool: backupPool, Pool: srcPool, Image: img, ID: full.ID, Snapshot: full.Snapshot}); err != nil {
			t.Error(err)
		}
	})
	target := img + "-target"
	cases := []struct {
		name, config string
		want         *regexp.Regexp
	}{
		{"backup id of no restore point", restoreConfig("r", fmt.Sprintf("%q", chain.NewID()), img, target, ""),
			regexp.MustCompile(`Cannot restore(.|\n)*is not a restore point of\s+rbd/` + img)},
		{"existing target without force", restoreConfig("r", fmt.Sprintf("%q", full.ID), img, img, ""),
			wrapped("already exists and force is false: nothing was changed")},
		{"missing target pool", strings.Replace(restoreConfig("r", fmt.Sprintf("%q", full.ID), img, target, ""),
			`target_pool  = "rbd"`, `target_pool  = "no-such-pool"`, 1), wrapped(`pool "no-such-pool" on cluster does not exist`)},
	}
	sum := e.src.ExportSHA256(t, srcPool+"/"+img)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resource.Test(t, resource.TestCase{
				ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
				Steps:                    []resource.TestStep{{Config: e.providerBlock() + c.config, ExpectError: c.want, PlanOnly: true}},
			})
			if e.src.ImageExists(t, srcPool, target) {
				t.Fatalf("target %s was created", target)
			}
			if got := e.src.ExportSHA256(t, srcPool+"/"+img); got != sum {
				t.Fatalf("existing image %s changed: sha256 %s, was %s", img, got, sum)
			}
		})
	}
}

// A restore is a one-off: when its backup_id changes (the next daily backup
// moved "the newest restore point"), replacing it would overwrite the live
// volume again. The apply refuses that unless overwrite_on_replace says so.
func TestAccRestore_replacementOverwritingAnImageNeedsOverwriteOnReplace(t *testing.T) {
	e := newAccEnv(t)
	img := uniqueImage("again")
	e.src.CreateImage(t, srcPool, img, 16<<20)
	e.src.WriteRandom(t, srcPool, img, 0, 6<<20, 1)
	backups := e.providerBlock() + fullConfig("w", img) + incrementalConfig("d1", "cephbackup_full.w.id", img)
	restoreTo := func(ref, extra string) string {
		return backups + restoreConfig("vol", ref, img, img, "force = true\n  "+extra)
	}
	newest := func(backups, dependsOn string) string {
		return backups + fmt.Sprintf(`
data "cephbackup_restore_points" "vol" {
  pool        = %q
  image       = %q
  backup_pool = %q
  depends_on  = [%s]
}
`, srcPool, img, backupPool, dependsOn) + restoreConfig("vol", "data.cephbackup_restore_points.vol.restore_points[length(data.cephbackup_restore_points.vol.restore_points) - 1].id", img, img, "force = true")
	}
	var full, daily string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             e.checkNoBackupsLeft(t, img),
		Steps: []resource.TestStep{
			{Config: fullConfig("w", img) + e.providerBlock(), Check: e.checkRestorePointExact(t, "cephbackup_full.w", img, &full)},
			{
				PreConfig: func() { e.src.WriteRandom(t, srcPool, img, 2<<20, 2<<20, 2) },
				Config:    backups, Check: e.checkRestorePointExact(t, "cephbackup_incremental.d1", img, &daily),
			},
			{
				// The incident: the live volume is overwritten with the full's point.
				Config: restoreTo("cephbackup_full.w.id", ""),
				Check:  checkImageSum(t, e.src, img, &full),
			},
			{
				// backup_id moves: the replacement would overwrite it again. The
				// plan warns (an error would also wedge `terraform destroy`), and
				// the apply refuses.
				Config:      restoreTo("cephbackup_incremental.d1.id", ""),
				ExpectError: wrapped("into rbd/" + img + " again (changed: backup_id), with force = true, overwriting the existing image"),
			},
			{
				// The apply refused before anything happened: the volume is as the
				// first restore left it. Saying so explicitly restores again.
				PreConfig: func() {
					if got := e.src.ExportSHA256(t, srcPool+"/"+img); !sameSum(got, full) {
						t.Fatalf("the refused apply changed %s: sha256 %s, want %s", img, got, full)
					}
				},
				Config: restoreTo("cephbackup_incremental.d1.id", "overwrite_on_replace = true"),
				Check: resource.ComposeAggregateTestCheckFunc(
					checkImageSum(t, e.src, img, &daily),
					resource.TestCheckResourceAttrPair("cephbackup_restore.vol", "backup_id", "cephbackup_incremental.d1", "id"),
				),
			},
			{
				// What the examples used to teach: backup_id follows the newest
				// restore point. Today that is d1, so nothing is restored again.
				Config: newest(backups, "cephbackup_incremental.d1"),
				Check:  checkImageSum(t, e.src, img, &daily),
			},
			{
				// The next daily backup moves the newest point: the data source
				// is read during that apply, so the id is unknown at plan.
				Config:      newest(backups+incrementalConfig("d2", "cephbackup_incremental.d1.id", img), "cephbackup_incremental.d2"),
				ExpectError: wrapped("into rbd/" + img + " again (changed: backup_id), with force = true"),
			},
			{
				Config: backups,
				Check:  checkImageSum(t, e.src, img, &daily),
			},
		},
	})
}

// Nothing makes `terraform destroy` impossible: with an in-place forced
// restore of the newest point, that point deleted out of band makes the plan
// want to restore again (the incremental is taken again, with a new id), and
// the plan that `terraform destroy` runs first must not fail on that.
func TestAccRestore_destroyAfterRestoredPointDeletedOutOfBand(t *testing.T) {
	e := newAccEnv(t)
	img := uniqueImage("wedge")
	e.src.CreateImage(t, srcPool, img, 16<<20)
	e.src.WriteRandom(t, srcPool, img, 0, 4<<20, 1)
	backups := e.providerBlock() + fullConfig("w", img) +
		incrementalConfig("d1", "cephbackup_full.w.id", img) +
		incrementalConfig("d2", "cephbackup_incremental.d1.id", img)
	cfg := backups + restoreConfig("vol", "cephbackup_incremental.d2.id", img, img, "force = true")
	var sumD2, snapD2 string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             e.checkNoBackupsLeft(t, img),
		Steps: []resource.TestStep{
			{
				Config: backups,
				Check: resource.ComposeAggregateTestCheckFunc(e.checkRestorePointExact(t, "cephbackup_incremental.d2", img, &sumD2),
					func(s *terraform.State) (err error) {
						snapD2, err = stateAttr(s, "cephbackup_incremental.d2", "snapshot")
						return err
					}),
			},
			{
				// The incident: the volume is damaged and restored in place.
				PreConfig: func() { e.src.WriteRandom(t, srcPool, img, 1<<20, 1<<20, 2) },
				Config:    cfg,
				Check:     checkImageSum(t, e.src, img, &sumD2),
			},
			{
				// The plan wants to restore again: it warns (the apply would
				// refuse) instead of failing, so this destroy, whose first step
				// is such a plan, goes through.
				PreConfig: func() {
					e.dst.RBD(t, "snap", "rm", "--no-progress", backupPool+"/"+chain.BackupImageName(img)+"@"+snapD2)
				},
				Config:  cfg,
				Destroy: true,
			},
		},
	})
}
