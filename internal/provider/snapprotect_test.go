package provider

import (
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
)

// EBUSY: the rbd CLI's exit status for a protected snapshot it may not remove.
const rbdExitBusy = 16

// checkSnapRmRefused runs `rbd snap rm` on the restore point of backup name
// and expects Ceph to refuse it (the snapshot is protected).
func (e *accEnv) checkSnapRmRefused(name, image string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		snap, err := stateAttr(s, name, "snapshot")
		if err != nil {
			return err
		}
		point := backupPool + "/" + chain.BackupImageName(image) + "@" + snap
		_, err = e.dst.RBDErr("snap", "rm", "--no-progress", point)
		var exit *exec.ExitError
		switch {
		case err == nil:
			return fmt.Errorf("%s: `rbd snap rm %s` removed the restore point of a backup with deletion_protection = true", name, point)
		case !errors.As(err, &exit) || exit.ExitCode() != rbdExitBusy || !strings.Contains(err.Error(), "is protected from removal"):
			return fmt.Errorf("%s: `rbd snap rm %s`: %w, want exit status %d and \"is protected from removal\"", name, point, err, rbdExitBusy)
		}
		return nil
	}
}

// checkSnapProtected checks with `rbd info` whether the restore point of
// backup name is protected.
func (e *accEnv) checkSnapProtected(name, image string, want bool) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		snap, err := stateAttr(s, name, "snapshot")
		if err != nil {
			return err
		}
		out, err := e.dst.RBDErr("info", backupPool+"/"+chain.BackupImageName(image)+"@"+snap)
		if err != nil {
			return err
		}
		if line := fmt.Sprintf("protected: %s", map[bool]string{true: "True", false: "False"}[want]); !strings.Contains(out, line) {
			return fmt.Errorf("%s: restore point %s: want %q in rbd info:\n%s", name, snap, line, out)
		}
		return nil
	}
}

// deletion_protection binds every client of the backup cluster, the rbd CLI
// included: the restore point is protected with `rbd snap protect` while it
// is true (from creation, once turned on, or again after an `rbd snap
// unprotect` by hand), and unprotected when turned off, after which it can
// be removed by hand, and destroy works. A snapshot
// protected by hand while deletion_protection is false is reported by the
// destroy, which then deletes nothing, and never unprotected silently.
func TestAccBackup_deletionProtectionRefusesRbdSnapRm(t *testing.T) {
	e := newAccEnv(t)
	img := uniqueImage("snapprot")
	e.src.CreateImage(t, srcPool, img, 16<<20)
	e.src.WriteRandom(t, srcPool, img, 0, 4<<20, 1)
	backupImage := backupPool + "/" + chain.BackupImageName(img)
	config := func(fullOn, incOn bool, withInc bool) string {
		c := e.providerBlock() + withLine(fullConfig("p", img), fmt.Sprintf("deletion_protection = %t", fullOn))
		if withInc {
			c += withLine(incrementalConfig("p1", "cephbackup_full.p.id", img), fmt.Sprintf("deletion_protection = %t", incOn))
		}
		return c
	}
	sums := map[string]string{}
	var incSnap, fullSnap string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             e.checkNoBackupsLeft(t, img),
		Steps: []resource.TestStep{
			{
				Config: config(true, false, true),
				Check: resource.ComposeTestCheckFunc(
					e.savePoint(t, "cephbackup_full.p", img, sums),
					e.savePoint(t, "cephbackup_incremental.p1", img, sums),
					e.checkSnapRmRefused("cephbackup_full.p", img),
					e.checkSnapProtected("cephbackup_incremental.p1", img, false),
					func(*terraform.State) error { e.checkPointsStill(t, img, sums); return nil },
				),
			},
			{
				// Turned on later, in place.
				Config: config(true, true, true),
				Check: resource.ComposeTestCheckFunc(
					e.checkSnapRmRefused("cephbackup_incremental.p1", img),
					e.checkSnapRmRefused("cephbackup_full.p", img),
					func(s *terraform.State) error {
						e.checkPointsStill(t, img, sums)
						var err error
						fullSnap, err = stateAttr(s, "cephbackup_full.p", "snapshot")
						return err
					},
				),
			},
			{
				// Unprotected by hand (or taken by an older provider): the
				// refresh reads deletion_protection as false, and the apply
				// protects the restore point again.
				PreConfig: func() { e.dst.RBD(t, "snap", "unprotect", backupImage+"@"+fullSnap) },
				Config:    config(true, true, true),
				Check:     e.checkSnapRmRefused("cephbackup_full.p", img),
			},
			{
				// Turned off: removable again.
				Config: config(false, false, true),
				Check: resource.ComposeTestCheckFunc(
					e.checkSnapProtected("cephbackup_full.p", img, false),
					e.checkSnapProtected("cephbackup_incremental.p1", img, false),
					func(s *terraform.State) error {
						e.checkPointsStill(t, img, sums)
						var err error
						if incSnap, err = stateAttr(s, "cephbackup_incremental.p1", "snapshot"); err != nil {
							return err
						}
						fullSnap, err = stateAttr(s, "cephbackup_full.p", "snapshot")
						return err
					},
				),
			},
			{
				// Protected by hand while deletion_protection is false: the
				// destroy says so and deletes nothing.
				PreConfig:   func() { e.dst.RBD(t, "snap", "protect", backupImage+"@"+incSnap) },
				Config:      config(false, false, false),
				ExpectError: regexp.MustCompile(`(?s)Backup is protected against deletion.*protected\s+with\s+.?rbd\s+snap\s+protect.?\s+by\s+hand.*rbd\s+snap\s+unprotect.*delete\s+it\s+again`),
			},
			{
				PreConfig: func() {
					e.checkPointsStill(t, img, sums)
					e.dst.RBD(t, "snap", "unprotect", backupImage+"@"+incSnap)
				},
				Config: config(false, false, false),
				Check: func(*terraform.State) error {
					if snaps := e.dst.Snapshots(t, backupPool, chain.BackupImageName(img)); len(snaps) != 1 {
						return fmt.Errorf("after the incremental's destroy, the backup image has snapshots %v, want the full's only", snaps)
					}
					return nil
				},
			},
			{
				// Unprotected, a restore point is the rbd CLI's to remove; the
				// next apply takes the backup again, and destroy works.
				PreConfig: func() { e.dst.RBD(t, "snap", "rm", "--no-progress", backupImage+"@"+fullSnap) },
				Config:    config(false, false, false),
				Check: resource.TestCheckResourceAttrWith("cephbackup_full.p", "snapshot", func(v string) error {
					if v == fullSnap {
						return fmt.Errorf("snapshot %s, removed by hand, still in state", v)
					}
					return nil
				}),
			},
		},
	})
}
