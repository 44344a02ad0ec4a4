package provider

import (
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
)

// verify, force, delete_target_on_destroy and timeouts steer what the next
// operation does: changing them updates the resource in place, restores
// nothing again, and the new values take effect (here: destroy deletes the
// restored image).
func TestAccRestore_steeringArgumentsChangeInPlace(t *testing.T) {
	e := newAccEnv(t)
	img := uniqueImage("steer")
	target := img + "-r"
	e.src.CreateImage(t, srcPool, img, 8<<20)
	e.src.WriteRandom(t, srcPool, img, 0, 4<<20, 1)

	before := e.providerBlock() + fullConfig("w", img) + restoreConfig("r", "cephbackup_full.w.id", img, target, "")
	after := e.providerBlock() +
		withLine(fullConfig("w", img), `timeouts {
    create = "2h"
    update = "1h"
  }`) +
		restoreConfig("r", "cephbackup_full.w.id", img, target, `verify = true
  force = true
  delete_target_on_destroy = true
  timeouts {
    create = "2h"
    delete = "5m"
  }`)
	// Written into the restored image between the steps: a second restore
	// (force = true would allow one) would overwrite it.
	var userSum string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy: func(s *terraform.State) error {
			if e.src.ImageExists(t, srcPool, target) {
				return fmt.Errorf("%s survived destroy although delete_target_on_destroy was changed to true", target)
			}
			return e.checkNoBackupsLeft(t, img)(s)
		},
		Steps: []resource.TestStep{
			{
				Config: before,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("cephbackup_restore.r", tfjsonpath.New("delete_target_on_destroy"), knownvalue.Bool(false)),
					statecheck.ExpectKnownValue("cephbackup_restore.r", tfjsonpath.New("target_created"), knownvalue.Bool(true)),
				},
			},
			{
				PreConfig: func() {
					e.src.WriteRandom(t, srcPool, target, 0, 1<<20, 9)
					userSum = e.src.ExportSHA256(t, srcPool+"/"+target)
				},
				Config: after,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("cephbackup_restore.r", plancheck.ResourceActionUpdate),
					plancheck.ExpectResourceAction("cephbackup_full.w", plancheck.ResourceActionUpdate),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("cephbackup_restore.r", tfjsonpath.New("verify"), knownvalue.Bool(true)),
					statecheck.ExpectKnownValue("cephbackup_restore.r", tfjsonpath.New("force"), knownvalue.Bool(true)),
					statecheck.ExpectKnownValue("cephbackup_restore.r", tfjsonpath.New("delete_target_on_destroy"), knownvalue.Bool(true)),
					statecheck.ExpectKnownValue("cephbackup_restore.r", tfjsonpath.New("timeouts").AtMapKey("delete"), knownvalue.StringExact("5m")),
					statecheck.ExpectKnownValue("cephbackup_full.w", tfjsonpath.New("timeouts").AtMapKey("update"), knownvalue.StringExact("1h")),
				},
				Check: checkImageSum(t, e.src, target, &userSum),
			},
			// The new values are in state and the plan is empty.
			{Config: after, PlanOnly: true},
		},
	})
}
