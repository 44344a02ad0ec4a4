package provider

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
)

func TestAccFull_exactRestorePointsAndCleanDestroy(t *testing.T) {
	e := newAccEnv(t)
	img := uniqueImage("full")
	const size = 64 << 20
	e.src.CreateImage(t, srcPool, img, size)
	e.src.WriteRandom(t, srcPool, img, 0, 8<<20, 1)
	e.src.WriteRandom(t, srcPool, img, 20<<20, 5<<20+1234, 2)
	e.src.WriteRandom(t, srcPool, img, 60<<20, 4<<20, 3)
	e.src.Discard(t, srcPool, img, 1<<20+512, 4096) // a small unaligned hole inside data
	written := int64(8<<20 + 5<<20 + 1234 + 4<<20 - 4096)

	var firstSum string
	one := e.providerBlock() + fullConfig("first", img)
	two := one + fullConfig("second", img)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             e.checkNoBackupsLeft(t, img),
		Steps: []resource.TestStep{
			{
				Config: one,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("cephbackup_full.first", tfjsonpath.New("size"), knownvalue.Int64Exact(size)),
					statecheck.ExpectKnownValue("cephbackup_full.first", tfjsonpath.New("backup_image"), knownvalue.StringExact(chain.BackupImageName(img))),
					statecheck.ExpectKnownValue("cephbackup_full.first", tfjsonpath.New("pool"), knownvalue.StringExact(srcPool)),
					statecheck.ExpectKnownValue("cephbackup_full.first", tfjsonpath.New("created_at"),
						knownvalue.StringRegexp(regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`))),
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestMatchResourceAttr("cephbackup_full.first", "snapshot", regexp.MustCompile(`^backup\.[0-9a-f-]{36}\.snap\.\d+$`)),
					e.checkRestorePointExact(t, "cephbackup_full.first", img, &firstSum),
					// Only allocated data travels: far less than the 64 MiB image.
					resource.TestCheckResourceAttrWith("cephbackup_full.first", "transferred_bytes", between(written-(64<<10), written+(1<<20))),
				),
			},
			{
				// Rewrite, discard and fill holes, then take a second full into
				// the same backup image: the first backup's data must not
				// survive where the source is now empty.
				PreConfig: func() {
					e.src.Discard(t, srcPool, img, 0, 8<<20)
					e.src.WriteRandom(t, srcPool, img, 30<<20, 2<<20, 4)
					e.src.Discard(t, srcPool, img, 22<<20+777, 100000)
					e.src.WriteRandom(t, srcPool, img, 61<<20+5, 3000, 5)
				},
				Config: two,
				Check: resource.ComposeAggregateTestCheckFunc(
					e.checkRestorePointExact(t, "cephbackup_full.second", img, nil),
					e.checkRestorePointSum(t, "cephbackup_full.first", img, &firstSum),
				),
			},
			{
				ResourceName:            "cephbackup_full.second",
				Config:                  two,
				ImportState:             true,
				ImportStateVerify:       true,
				ImportStateIdFunc:       importID("cephbackup_full.second"),
				ImportStateVerifyIgnore: []string{"timeouts"},
			},
		},
	})
}

func TestAccFull_badInputCreatesNothing(t *testing.T) {
	e := newAccEnv(t)
	img := uniqueImage("bad")
	e.src.CreateImage(t, srcPool, img, 8<<20)
	e.src.WriteRandom(t, srcPool, img, 0, 1<<20, 1)

	withProvider := func(block, body string) string { return block + body }
	unreachable := fmt.Sprintf(`
provider "cephbackup" {
  cluster        = { mon_host = "127.0.0.1:9", user = %q, key = %q, timeout = "3s" }
  backup_cluster = { mon_host = %q, user = %q, key = %q }
}
`, srcUser, e.srcKey, e.dst.MonHost, dstUser, e.dstKey)
	wrong := fmt.Sprintf(`
provider "cephbackup" {
  cluster        = { mon_host = %q, user = %q, key = %q, timeout = "10s" }
  backup_cluster = { mon_host = %q, user = %q, key = %q }
}
`, e.src.MonHost, srcUser, wrongKey(t), e.dst.MonHost, dstUser, e.dstKey)

	// A user whose caps are for another pool than the one it must use.
	const noCaps = "cephbackup-nocaps"
	srcNoCaps := e.src.CreateUser(t, noCaps, "mon", monCaps, "osd", "profile rbd pool=elsewhere")
	dstNoCaps := e.dst.CreateUser(t, noCaps, "mon", monCaps, "osd", "profile rbd pool=elsewhere")
	lacking := func(srcUser, srcKey, dstUser, dstKey string) string {
		return fmt.Sprintf(`
provider "cephbackup" {
  cluster        = { mon_host = %q, user = %q, key = %q }
  backup_cluster = { mon_host = %q, user = %q, key = %q }
}
`, e.src.MonHost, srcUser, srcKey, e.dst.MonHost, dstUser, dstKey)
	}
	// Backups in the source pool, where an image already has the backup
	// image's name: it must not be taken over.
	sameCluster := fmt.Sprintf(`
provider "cephbackup" {
  cluster = { mon_host = %q, user = %q, key = %q }
}
`, e.src.MonHost, srcUser, e.srcKey)
	squatter := chain.BackupImageName(img)
	e.src.CreateImage(t, srcPool, squatter, 4<<20)
	e.src.WriteRandom(t, srcPool, squatter, 0, 1<<20, 7)
	squatterSum := e.src.ExportSHA256(t, srcPool+"/"+squatter)
	t.Cleanup(func() { e.src.RBD(t, "rm", srcPool+"/"+squatter) })
	steps := []struct {
		name, config string
		want         *regexp.Regexp
	}{
		{"missing pool", withProvider(e.providerBlock(), `
resource "cephbackup_full" "x" {
  pool = "no-such-pool"
  image = "`+img+`"
  backup_pool = "backups"
}`), regexp.MustCompile(`pool "no-such-pool" on cluster does not exist`)},
		{"missing image", withProvider(e.providerBlock(), fullConfig("x", img+"-missing")), regexp.MustCompile(`image rbd/` + img + `-missing on cluster does\s+not exist`)},
		{"missing backup pool", withProvider(e.providerBlock(), `
resource "cephbackup_full" "x" {
  pool = "rbd"
  image = "`+img+`"
  backup_pool = "no-such-backups"
}`), regexp.MustCompile(`pool "no-such-backups" on backup_cluster does not exist`)},
		{"backup image name taken in the source pool", withProvider(sameCluster, `
resource "cephbackup_full" "x" {
  pool        = "rbd"
  image       = "`+img+`"
  backup_pool = "rbd"
}`), wrapped("rbd/" + squatter + " already exists and was not made by cephbackup")},
		{"source user lacks caps", withProvider(lacking(noCaps, srcNoCaps, dstUser, e.dstKey), fullConfig("x", img)),
			wrapped("client." + noCaps + " lacks the capability: grant it osd 'profile rbd pool=rbd'")},
		{"backup user lacks caps", withProvider(lacking(srcUser, e.srcKey, noCaps, dstNoCaps), fullConfig("x", img)),
			wrapped("client." + noCaps + " lacks the capability: grant it osd 'profile rbd pool=backups'")},
		{"wrong key", withProvider(wrong, fullConfig("x", img)), regexp.MustCompile(`authentication as client\.` + srcUser + ` was refused`)},
		{"unreachable monitor", withProvider(unreachable, fullConfig("x", img)), regexp.MustCompile(`no answer from 127\.0\.0\.1:9`)},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			resource.Test(t, resource.TestCase{
				ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
				// Every one of these is caught at plan time.
				Steps: []resource.TestStep{{Config: s.config, ExpectError: s.want, PlanOnly: true}},
			})
			e.checkUntouched(t, img)
		})
	}
	if got := e.src.ExportSHA256(t, srcPool+"/"+squatter); got != squatterSum {
		t.Fatalf("the image with the backup image's name was changed: sha256 %s, was %s", got, squatterSum)
	}
}

// between checks that an integer attribute lies in [lo, hi].
func between(lo, hi int64) resource.CheckResourceAttrWithFunc {
	return func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return err
		}
		if n < lo || n > hi {
			return fmt.Errorf("%d is not within [%d, %d]", n, lo, hi)
		}
		return nil
	}
}

// A clone reads part of its data through from its parent: the backup holds
// all of it.
func TestAccFull_cloneIncludesParentData(t *testing.T) {
	e := newAccEnv(t)
	parent, clone := uniqueImage("parent"), uniqueImage("clone")
	e.src.CreateImage(t, srcPool, parent, 16<<20)
	e.src.WriteRandom(t, srcPool, parent, 0, 12<<20, 1)
	e.src.Snap(t, srcPool, parent, "gold")
	e.src.RBD(t, "snap", "protect", srcPool+"/"+parent+"@gold")
	e.src.RBD(t, "clone", srcPool+"/"+parent+"@gold", srcPool+"/"+clone)
	e.src.WriteRandom(t, srcPool, clone, 4<<20, 1<<20, 2)
	t.Cleanup(func() {
		_, _ = e.src.RBDErr("rm", "--no-progress", srcPool+"/"+clone)
		_, _ = e.src.RBDErr("snap", "unprotect", srcPool+"/"+parent+"@gold")
		_, _ = e.src.RBDErr("snap", "purge", "--no-progress", srcPool+"/"+parent)
		_, _ = e.src.RBDErr("rm", "--no-progress", srcPool+"/"+parent)
	})
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             e.checkNoBackupsLeft(t, clone),
		Steps: []resource.TestStep{{
			Config: e.providerBlock() + fullConfig("c", clone),
			Check: resource.ComposeAggregateTestCheckFunc(
				e.checkRestorePointExact(t, "cephbackup_full.c", clone, nil),
				resource.TestCheckResourceAttrWith("cephbackup_full.c", "transferred_bytes", between(12<<20, 13<<20)),
			),
		}},
	})
}

// Snapshots named like this provider's but not made by it are never
// touched, whatever backups come and go.
func TestAccFull_foreignBackupSnapshotsAreNeverDeleted(t *testing.T) {
	e := newAccEnv(t)
	img := uniqueImage("foreign")
	e.src.CreateImage(t, srcPool, img, 8<<20)
	e.src.WriteRandom(t, srcPool, img, 0, 2<<20, 1)
	foreign := []string{chain.SnapshotName(chain.NewID(), time.Unix(1700000000, 0)), "backup.manual"}
	for _, s := range foreign {
		e.src.Snap(t, srcPool, img, s)
	}
	t.Cleanup(func() {
		for _, s := range foreign {
			e.src.RBD(t, "snap", "rm", srcPool+"/"+img+"@"+s)
		}
	})
	keptForeign := func(*terraform.State) error {
		got := map[string]bool{}
		for _, s := range e.src.Snapshots(t, srcPool, img) {
			got[s] = true
		}
		for _, s := range foreign {
			if !got[s] {
				return fmt.Errorf("foreign snapshot %s@%s was deleted", img, s)
			}
		}
		return nil
	}
	full := e.providerBlock() + fullConfig("weekly", img)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy: func(s *terraform.State) error {
			if err := keptForeign(s); err != nil {
				return err
			}
			if n := len(e.src.Snapshots(t, srcPool, img)); n != len(foreign) {
				return fmt.Errorf("%d source snapshots left, want only the %d foreign ones", n, len(foreign))
			}
			return nil
		},
		Steps: []resource.TestStep{
			{Config: full, Check: keptForeign},
			{
				// The incremental prunes the full's snapshot, and only it.
				PreConfig: func() { e.src.WriteRandom(t, srcPool, img, 4<<20, 1<<20, 2) },
				Config:    full + incrementalConfig("daily", "cephbackup_full.weekly.id", img),
				Check: resource.ComposeAggregateTestCheckFunc(keptForeign,
					e.checkRestorePointExact(t, "cephbackup_incremental.daily", img, nil)),
			},
		},
	})
}

// A backup image deleted outside Terraform (restore points and records
// with it) is planned again, and the new chain is exact.
func TestAccFull_backupImageDeletedOutOfBand(t *testing.T) {
	e := newAccEnv(t)
	img := uniqueImage("oob")
	e.src.CreateImage(t, srcPool, img, 8<<20)
	e.src.WriteRandom(t, srcPool, img, 0, 2<<20, 1)
	cfg := e.providerBlock() + fullConfig("weekly", img) + incrementalConfig("daily", "cephbackup_full.weekly.id", img)
	var leftover string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             e.checkNoBackupsLeft(t, img),
		Steps: []resource.TestStep{
			{
				Config: cfg,
				Check: func(s *terraform.State) (err error) {
					leftover, err = stateAttr(s, "cephbackup_incremental.daily", "snapshot")
					return err
				},
			},
			{
				PreConfig: func() {
					backupImage := backupPool + "/" + chain.BackupImageName(img)
					e.dst.RBD(t, "snap", "purge", backupImage)
					e.dst.RBD(t, "rm", backupImage)
				},
				Config:   cfg,
				PlanOnly: true, ExpectNonEmptyPlan: true,
			},
			{
				Config: cfg,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("cephbackup_full.weekly", plancheck.ResourceActionCreate),
					plancheck.ExpectResourceAction("cephbackup_incremental.daily", plancheck.ResourceActionCreate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					e.checkRestorePointExact(t, "cephbackup_incremental.daily", img, nil),
					// The old chain's newest source snapshot is no longer known
					// to be ours: it is left, as the plan's warning says.
					func(*terraform.State) error {
						for _, s := range e.src.Snapshots(t, srcPool, img) {
							if s == leftover {
								e.src.RBD(t, "snap", "rm", srcPool+"/"+img+"@"+s)
								return nil
							}
						}
						return fmt.Errorf("the old chain's source snapshot %s is gone: who removed it?", leftover)
					},
				),
			},
		},
	})
}
