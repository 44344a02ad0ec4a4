package provider

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
)

// withLabels adds a labels argument to a resource block written by one of
// the *Config helpers.
func withLabels(block string, labels string) string {
	i := strings.LastIndex(block, "}")
	return block[:i] + "  labels = " + labels + "\n" + block[i:]
}

// Labels are recorded on the backup cluster (read back with the rbd CLI),
// change in place, show drift, and select restore points in the data source
// with the time, kind and most_recent filters; the catalogue lists the image.
func TestAccLabels_recordedFilteredAndCatalogued(t *testing.T) {
	e := newAccEnv(t)
	img := uniqueImage("lbl")
	e.src.CreateImage(t, srcPool, img, 4<<20)
	e.src.WriteRandom(t, srcPool, img, 0, 1<<20, 3)
	full := withLabels(fullConfig("w", img), `{ tier = "weekly", app = "db" }`)
	chainOf := func(d2Labels string) string {
		return e.providerBlock() + full +
			withLabels(incrementalConfig("d1", "cephbackup_full.w.id", img), `{ tier = "daily", app = "db" }`) +
			withLabels(incrementalConfig("d2", "cephbackup_incremental.d1.id", img), d2Labels)
	}
	lookups := fmt.Sprintf(`
data "cephbackup_restore_points" "daily" {
  pool        = "rbd"
  image       = %[1]q
  backup_pool = "backups"
  labels      = { tier = "daily" }
  depends_on  = [cephbackup_incremental.d2]
}

data "cephbackup_restore_points" "newest_db" {
  pool        = "rbd"
  image       = %[1]q
  backup_pool = "backups"
  labels      = { app = "db" }
  most_recent = true
  depends_on  = [cephbackup_incremental.d2]
}

data "cephbackup_restore_points" "fulls" {
  pool        = "rbd"
  image       = %[1]q
  backup_pool = "backups"
  kind        = "full"
  depends_on  = [cephbackup_incremental.d2]
}

data "cephbackup_restore_points" "after_full" {
  pool          = "rbd"
  image         = %[1]q
  backup_pool   = "backups"
  created_after = cephbackup_full.w.created_at
  depends_on    = [cephbackup_incremental.d2]
}

data "cephbackup_backed_up_images" "pool" {
  backup_pool = "backups"
  pool        = "rbd"
  depends_on  = [cephbackup_incremental.d2]
}
`, img)
	recordLabels := func(s *terraform.State, name string) map[string]string {
		var rec chain.Record
		id, err := stateAttr(s, name, "id")
		if err != nil {
			t.Fatal(err)
		}
		out := e.dst.RBD(t, "image-meta", "get", backupPool+"/"+chain.BackupImageName(img), chain.RecordKey(id))
		if err := json.Unmarshal([]byte(out), &rec); err != nil {
			t.Fatalf("record of %s: %v in %q", name, err, out)
		}
		return rec.Labels
	}
	const daily, newest, fulls, after = "data.cephbackup_restore_points.daily", "data.cephbackup_restore_points.newest_db",
		"data.cephbackup_restore_points.fulls", "data.cephbackup_restore_points.after_full"
	var d2 string // id of the newest incremental, for the out-of-band edit
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             e.checkNoBackupsLeft(t, img),
		Steps: []resource.TestStep{
			{Config: e.providerBlock() + full},
			{
				// The incrementals a second later, so created_after can tell them from the full.
				PreConfig: func() { time.Sleep(1100 * time.Millisecond) },
				Config:    chainOf(`{ tier = "daily" }`) + lookups,
				Check: resource.ComposeAggregateTestCheckFunc(
					func(s *terraform.State) (err error) {
						d2, err = stateAttr(s, "cephbackup_incremental.d2", "id")
						if got := recordLabels(s, "cephbackup_full.w"); got["tier"] != "weekly" || got["app"] != "db" || len(got) != 2 {
							return fmt.Errorf("rbd image-meta shows the full's labels as %v", got)
						}
						return err
					},
					resource.TestCheckResourceAttr(daily, "restore_points.#", "2"),
					resource.TestCheckResourceAttrPair(daily, "restore_points.0.id", "cephbackup_incremental.d1", "id"),
					resource.TestCheckResourceAttrPair(daily, "restore_points.1.id", "cephbackup_incremental.d2", "id"),
					resource.TestCheckResourceAttr(daily, "restore_points.1.labels.tier", "daily"),
					resource.TestCheckResourceAttr(daily, "restore_points.1.verified", "false"),
					resource.TestCheckResourceAttrPair(daily, "restore_points.1.transferred_bytes", "cephbackup_incremental.d2", "transferred_bytes"),
					resource.TestCheckNoResourceAttr(daily, "restore_point.id"),
					resource.TestCheckResourceAttrPair(newest, "restore_point.id", "cephbackup_incremental.d1", "id"),
					resource.TestCheckResourceAttr(newest, "restore_points.#", "2"),
					resource.TestCheckResourceAttr(fulls, "restore_points.#", "1"),
					resource.TestCheckResourceAttrPair(fulls, "restore_points.0.id", "cephbackup_full.w", "id"),
					resource.TestCheckResourceAttr(after, "restore_points.#", "2"),
					resource.TestCheckResourceAttrPair(after, "restore_points.0.id", "cephbackup_incremental.d1", "id"),
					resource.TestCheckTypeSetElemNestedAttrs("data.cephbackup_backed_up_images.pool", "images.*", map[string]string{
						"image": img, "pool": srcPool, "backup_image": chain.BackupImageName(img),
						"restore_points": "3", "fulls": "1", "incrementals": "2", "size": fmt.Sprint(4 << 20),
					}),
					resource.TestCheckTypeSetElemAttrPair("data.cephbackup_backed_up_images.pool", "images.*.newest_id", "cephbackup_incremental.d2", "id"),
				),
			},
			{
				// Labels change in place: the record is rewritten, the restore point kept.
				Config: chainOf(`{ tier = "daily", app = "db" }`) + lookups,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("cephbackup_incremental.d2", plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					func(s *terraform.State) error {
						if got := recordLabels(s, "cephbackup_incremental.d2"); got["app"] != "db" {
							return fmt.Errorf("rbd image-meta shows d2's labels as %v after the update", got)
						}
						return nil
					},
					resource.TestCheckResourceAttrPair(newest, "restore_point.id", "cephbackup_incremental.d2", "id"),
				),
			},
			{
				// Labels changed outside Terraform are drift, planned back in place.
				PreConfig: func() {
					key := chain.RecordKey(d2)
					spec := backupPool + "/" + chain.BackupImageName(img)
					var rec chain.Record
					if err := json.Unmarshal([]byte(e.dst.RBD(t, "image-meta", "get", spec, key)), &rec); err != nil {
						t.Fatal(err)
					}
					rec.Labels = map[string]string{"tier": "tampered"}
					e.dst.RBD(t, "image-meta", "set", spec, key, rec.Encode())
				},
				Config:             chainOf(`{ tier = "daily", app = "db" }`) + lookups,
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
			{
				Config:      chainOf(`{ tier = "daily", app = "db" }`) + strings.Replace(lookups, `labels      = { app = "db" }`, `labels      = { app = "web" }`, 1),
				ExpectError: regexp.MustCompile(`No restore point matches`),
			},
			{
				Config:      chainOf(`{ "bad key" = "x" }`),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`Invalid labels`),
			},
			{Config: chainOf(`{ tier = "daily", app = "db" }`)},
		},
	})
}
