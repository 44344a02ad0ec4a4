package provider

import (
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
)

func TestAccRestorePoints_listsTheChainOldestFirst(t *testing.T) {
	e := newAccEnv(t)
	img := uniqueImage("list")
	never := uniqueImage("never")
	e.src.CreateImage(t, srcPool, img, 8<<20)
	e.src.WriteRandom(t, srcPool, img, 0, 2<<20, 1)

	resources := fullConfig("w", img) +
		incrementalConfig("d1", "cephbackup_full.w.id", img) +
		incrementalConfig("d2", "cephbackup_incremental.d1.id", img)
	lookups := fmt.Sprintf(`
data "cephbackup_restore_points" "vol" {
  pool        = "rbd"
  image       = %q
  backup_pool = "backups"
  depends_on  = [cephbackup_incremental.d2]
}

data "cephbackup_restore_points" "never" {
  pool        = "rbd"
  image       = %q
  backup_pool = "backups"
}
`, img, never)
	// Only the backup cluster is reachable: the source's monitor is a dead port.
	sourceDown := fmt.Sprintf(`
provider "cephbackup" {
  cluster        = { mon_host = "127.0.0.1:9", user = %q, key = %q, timeout = "3s" }
  backup_cluster = { mon_host = %q, user = %q, key = %q }
}
`, srcUser, e.srcKey, e.dst.MonHost, dstUser, e.dstKey)

	const ds = "data.cephbackup_restore_points.vol"
	checks := resource.ComposeAggregateTestCheckFunc(
		resource.TestCheckResourceAttr(ds, "restore_points.#", "3"),
		resource.TestCheckResourceAttrPair(ds, "restore_points.0.id", "cephbackup_full.w", "id"),
		resource.TestCheckResourceAttr(ds, "restore_points.0.kind", "full"),
		resource.TestCheckNoResourceAttr(ds, "restore_points.0.parent_id"),
		resource.TestCheckResourceAttrPair(ds, "restore_points.1.id", "cephbackup_incremental.d1", "id"),
		resource.TestCheckResourceAttrPair(ds, "restore_points.1.parent_id", "cephbackup_full.w", "id"),
		resource.TestCheckResourceAttr(ds, "restore_points.1.kind", "incremental"),
		resource.TestCheckResourceAttrPair(ds, "restore_points.2.id", "cephbackup_incremental.d2", "id"),
		resource.TestCheckResourceAttrPair(ds, "restore_points.2.parent_id", "cephbackup_incremental.d1", "id"),
		resource.TestCheckResourceAttrPair(ds, "restore_points.2.snapshot", "cephbackup_incremental.d2", "snapshot"),
		resource.TestCheckResourceAttr(ds, "restore_points.2.size", fmt.Sprint(8<<20)),
		resource.TestCheckResourceAttr("data.cephbackup_restore_points.never", "restore_points.#", "0"),
	)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             e.checkNoBackupsLeft(t, img),
		Steps: []resource.TestStep{
			{Config: e.providerBlock() + resources + lookups, Check: checks},
			{Config: sourceDown + resources + lookups, Check: checks},
			{Config: e.providerBlock() + resources},
		},
	})
}
