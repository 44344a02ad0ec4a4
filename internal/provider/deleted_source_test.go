package provider

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/engine"
)

// A workspace backs up two volumes with a full and daily incrementals, and
// one volume is deleted out of band. The next day's plan succeeds (a warning
// names the gone volume), the other volume's incremental is taken, and the
// gone volume's incremental fails alone at apply. Its restore points stay
// restorable, bit for bit, and `removed` blocks with destroy = false stop
// managing them without deleting any.
func TestAccIncremental_deletedSourceFailsAloneAndKeepsItsPoints(t *testing.T) {
	e := newAccEnv(t)
	gone, kept := uniqueImage("gone"), uniqueImage("kept")
	for i, img := range []string{gone, kept} {
		e.src.CreateImage(t, srcPool, img, 16<<20)
		e.src.WriteRandom(t, srcPool, img, 0, 4<<20, int64(i+1))
	}
	// Resources are named after the volume's role: w_gone, d1_gone, ...
	labels := map[string]string{gone: "gone", kept: "kept"}
	day := func(img string, days int) string {
		cfg := fullConfig("w_"+labels[img], img)
		parent := "cephbackup_full.w_" + labels[img] + ".id"
		for d := 1; d <= days; d++ {
			name := fmt.Sprintf("d%d_%s", d, labels[img])
			cfg += incrementalConfig(name, parent, img)
			parent = "cephbackup_incremental." + name + ".id"
		}
		return cfg
	}
	address := func(kind, name, img string) string { return "cephbackup_" + kind + "." + name + "_" + labels[img] }
	day1 := e.providerBlock() + day(gone, 1) + day(kept, 1)
	day2 := e.providerBlock() + day(gone, 2) + day(kept, 2)
	var goneD1 string
	pointsOf := func(img string) int {
		n := 0
		for _, s := range e.dst.Snapshots(t, backupPool, chain.BackupImageName(img)) {
			if strings.HasPrefix(s, "backup.") {
				n++
			}
		}
		return n
	}
	var goneIDs []string
	t.Cleanup(func() {
		// The gone volume's backups were forgotten, not destroyed: remove
		// them as an operator would.
		eng := e.adminEngine()
		for i := len(goneIDs) - 1; i >= 0; i-- {
			if _, err := eng.Delete(context.Background(), engine.DeleteRequest{BackupPool: backupPool, Pool: srcPool, Image: gone, ID: goneIDs[i]}); err != nil {
				t.Error(err)
			}
		}
	})
	saveIDs := func(s *terraform.State) error {
		goneIDs = nil
		for _, name := range []string{address("full", "w", gone), address("incremental", "d1", gone)} {
			id, err := stateAttr(s, name, "id")
			if err != nil {
				return err
			}
			goneIDs = append(goneIDs, id)
		}
		return nil
	}
	restored := uniqueImage("gone-restored")
	removedBlocks := fmt.Sprintf(`
removed {
  from = %s
  lifecycle {
    destroy = false
  }
}

removed {
  from = %s
  lifecycle {
    destroy = false
  }
}
`, address("incremental", "d1", gone), address("full", "w", gone))
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             e.checkNoBackupsLeft(t, kept),
		Steps: []resource.TestStep{
			{
				Config: day1,
				Check: resource.ComposeAggregateTestCheckFunc(
					e.checkRestorePointExact(t, address("incremental", "d1", gone), gone, &goneD1),
					saveIDs,
				),
			},
			{
				// The volume is deleted out of band (its snapshots first, as
				// `rbd rm` requires). The plan goes through; the apply takes the
				// other volume's incremental and fails on this one alone.
				PreConfig: func() {
					e.src.RBD(t, "snap", "purge", "--no-progress", srcPool+"/"+gone)
					e.src.RBD(t, "rm", "--no-progress", srcPool+"/"+gone)
				},
				Config:      day2,
				ExpectError: wrapped(srcPool + "/" + gone),
			},
			{
				PreConfig: func() {
					if n := pointsOf(kept); n != 3 {
						t.Fatalf("%s has %d restore points after the failed apply, want 3 (its incremental taken although the other volume was gone)", kept, n)
					}
					if n := pointsOf(gone); n != 2 {
						t.Fatalf("%s has %d restore points, want its 2", gone, n)
					}
				},
				Config:             day2,
				PlanOnly:           true,
				ExpectNonEmptyPlan: true, // the gone volume's incremental is still due
			},
			{
				// Its points stay restorable, bit for bit.
				Config: day1 + restoreConfig("r", address("incremental", "d1", gone)+".id", gone, restored, ""),
				Check:  checkImageSum(t, e.src, restored, &goneD1),
			},
			{
				// Stop managing them, keeping them: removed blocks with
				// destroy = false (Terraform >= 1.7).
				PreConfig: func() { e.src.RBD(t, "rm", "--no-progress", srcPool+"/"+restored) },
				Config:    e.providerBlock() + day(kept, 2) + removedBlocks,
				Check: func(*terraform.State) error {
					if n := pointsOf(gone); n != 2 {
						return fmt.Errorf("%s has %d restore points after its resources were removed from the configuration, want 2", gone, n)
					}
					return nil
				},
			},
		},
	})
}
