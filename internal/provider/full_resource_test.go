package provider

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
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
		{"name with a slash", withProvider(e.providerBlock(), `
resource "cephbackup_full" "x" {
  pool = "rbd"
  image = "rbd/`+img+`"
  backup_pool = "backups"
}`), regexp.MustCompile(`contains '/' or '@'`)},
		{"wrong key", withProvider(wrong, fullConfig("x", img)), regexp.MustCompile(`authentication as client\.` + srcUser + ` was refused`)},
		{"unreachable monitor", withProvider(unreachable, fullConfig("x", img)), regexp.MustCompile(`no answer from 127\.0\.0\.1:9`)},
		{"invalid timeout", withProvider(`
provider "cephbackup" {
  cluster = { mon_host = "127.0.0.1", timeout = "soon" }
}`, fullConfig("x", img)), regexp.MustCompile(`"soon" is not a duration`)},
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
