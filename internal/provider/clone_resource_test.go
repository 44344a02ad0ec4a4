package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/config"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/engine"
)

// Clones go to the backup pool itself, where the test's user has its caps.
const clonePool = backupPool

func cloneConfig(backupRef, image, target string, flatten bool) string {
	return fmt.Sprintf(`
resource "cephbackup_clone" "c" {
  backup_id    = %s
  image        = %q
  backup_pool  = %q
  target_pool  = %q
  target_image = %q
  flatten      = %t
}
`, backupRef, image, backupPool, clonePool, target, flatten)
}

// An instant restore is a clone of the restore point, checked with the rbd
// CLI: same content, its parent the restore point, writes to it leave the
// restore point alone; the restore point cannot be deleted while the clone
// depends on it; flattening ends that, and the clone is deleted on destroy.
func TestAccClone_instantRestoreGuardsItsRestorePoint(t *testing.T) {
	e := newAccEnv(t)
	img := uniqueImage("cln")
	target := img + "-instant"
	e.src.CreateImage(t, srcPool, img, 24<<20)
	e.src.WriteRandom(t, srcPool, img, 0, 9<<20+77, 5)
	e.src.Discard(t, srcPool, img, 3<<20, 100<<10)
	foreign := img + "-foreign"
	e.dst.CreateImage(t, clonePool, foreign, 1<<20)
	t.Cleanup(func() { _, _ = e.dst.RBDErr("rm", "--no-progress", clonePool+"/"+foreign) })

	var pointSum, snap, backupID string
	point := func() string { return backupPool + "/" + chain.BackupImageName(img) + "@" + snap }
	withClone := e.providerBlock() + fullConfig("w", img) + cloneConfig("cephbackup_full.w.id", img, target, false)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy: func(s *terraform.State) error {
			if e.dst.ImageExists(t, clonePool, target) {
				return fmt.Errorf("clone %s/%s survived destroy", clonePool, target)
			}
			if !e.dst.ImageExists(t, clonePool, foreign) {
				return fmt.Errorf("the foreign image %s/%s was removed", clonePool, foreign)
			}
			return e.checkNoBackupsLeft(t, img)(s)
		},
		Steps: []resource.TestStep{
			{
				Config: e.providerBlock() + fullConfig("w", img),
				Check: resource.ComposeAggregateTestCheckFunc(
					e.checkRestorePointExact(t, "cephbackup_full.w", img, &pointSum),
					func(s *terraform.State) (err error) {
						if backupID, err = stateAttr(s, "cephbackup_full.w", "id"); err != nil {
							return err
						}
						snap, err = stateAttr(s, "cephbackup_full.w", "snapshot")
						return err
					},
				),
			},
			{
				Config:      e.providerBlock() + fullConfig("w", img) + cloneConfig("cephbackup_full.w.id", img, foreign, false),
				PlanOnly:    true,
				ExpectError: wrapped("a clone never overwrites an image"),
			},
			{
				Config: withClone,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("cephbackup_clone.c", "flattened", "false"),
					resource.TestCheckResourceAttrPair("cephbackup_clone.c", "snapshot", "cephbackup_full.w", "snapshot"),
					func(*terraform.State) error {
						if info := e.dst.RBD(t, "info", clonePool+"/"+target); !strings.Contains(info, "parent: "+point()) {
							return fmt.Errorf("rbd info shows no parent %s:\n%s", point(), info)
						}
						if got := e.dst.ExportSHA256(t, clonePool+"/"+target); !sameSum(got, pointSum) {
							return fmt.Errorf("clone sha256 %s, restore point %s", got, pointSum)
						}
						// Another client's deletion is refused too (librbd alone would
						// move the snapshot to its trash and report success).
						_, err := e.adminEngine().Delete(context.Background(), engine.DeleteRequest{
							BackupPool: backupPool, Pool: srcPool, Image: img, ID: backupID, Snapshot: snap})
						if !errors.Is(err, engine.ErrHasClones) || !strings.Contains(err.Error(), clonePool+"/"+target) {
							return fmt.Errorf("deleting the cloned restore point: %w, want a refusal naming the clone", err)
						}
						if got := e.dst.ExportSHA256(t, point()); !sameSum(got, pointSum) {
							return fmt.Errorf("after the refused deletion the restore point reads %s, was %s", got, pointSum)
						}
						// Writes go to the clone only.
						e.dst.WriteRandom(t, clonePool, target, 1<<20, 2<<20, 9)
						if got := e.dst.ExportSHA256(t, point()); !sameSum(got, pointSum) {
							return fmt.Errorf("a write to the clone changed the restore point: %s, was %s", got, pointSum)
						}
						return nil
					},
				),
			},
			{
				// The restore point cannot go while the clone needs it.
				Config:          e.providerBlock() + backupIDVariable + cloneConfig("var.backup_id", img, target, false),
				PlanOnly:        true,
				ConfigVariables: config.Variables{"backup_id": lazyString{&backupID}},
				ExpectError:     wrapped("Backup has clones"),
			},
			{
				Config: e.providerBlock() + fullConfig("w", img) + cloneConfig("cephbackup_full.w.id", img, target, true),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("cephbackup_clone.c", plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("cephbackup_clone.c", "flattened", "true"),
					func(*terraform.State) error {
						if info := e.dst.RBD(t, "info", clonePool+"/"+target); strings.Contains(info, "parent:") {
							return fmt.Errorf("the flattened clone still has a parent:\n%s", info)
						}
						return nil
					},
				),
			},
			{
				// Flattened, the clone no longer holds its restore point back.
				Config:          e.providerBlock() + backupIDVariable + cloneConfig("var.backup_id", img, target, true),
				ConfigVariables: config.Variables{"backup_id": lazyString{&backupID}},
				Check: func(*terraform.State) error {
					if !e.dst.ImageExists(t, clonePool, target) {
						return fmt.Errorf("the clone went with its restore point")
					}
					return nil
				},
			},
		},
	})
}

// backupIDVariable declares var.backup_id, for configurations that no longer
// have the backup's resource; its value is set with lazyString.
const backupIDVariable = `
variable "backup_id" {
  type = string
}
`

// lazyString is a configuration variable whose value is read when the step
// runs, from a string an earlier step's check filled in.
type lazyString struct{ v *string }

func (l lazyString) MarshalJSON() ([]byte, error) { return json.Marshal(*l.v) }
