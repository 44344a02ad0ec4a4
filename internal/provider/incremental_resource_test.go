package provider

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/engine"
)

func TestAccIncremental_chainIsExactAndSendsOnlyChanges(t *testing.T) {
	e := newAccEnv(t)
	img := uniqueImage("chain")
	e.src.CreateImage(t, srcPool, img, 64<<20)
	e.src.WriteRandom(t, srcPool, img, 0, 40<<20, 1)

	base := e.providerBlock() + fullConfig("weekly", img)
	one := base + incrementalConfig("d1", "cephbackup_full.weekly.id", img)
	two := one + verified(incrementalConfig("d2", "cephbackup_incremental.d1.id", img))
	var sumFull, sumD1, sumD2 string
	// Changes between backups: scattered small writes, an unaligned
	// discard inside data, and a resize.
	const changed1 = 3 * 256 << 10
	const changed2 = 2*300<<10 + 5000
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             e.checkNoBackupsLeft(t, img),
		Steps: []resource.TestStep{
			{Config: base, Check: e.checkRestorePointExact(t, "cephbackup_full.weekly", img, &sumFull)},
			{
				PreConfig: func() {
					e.src.WriteRandom(t, srcPool, img, 1<<20, 256<<10, 2)
					e.src.WriteRandom(t, srcPool, img, 17<<20+4096, 256<<10, 3)
					e.src.Discard(t, srcPool, img, 30<<20+512, 8192)
					e.src.Resize(t, srcPool, img, 80<<20) // grow
					e.src.WriteRandom(t, srcPool, img, 70<<20, 256<<10, 4)
				},
				Config: one,
				Check: resource.ComposeAggregateTestCheckFunc(
					e.checkRestorePointExact(t, "cephbackup_incremental.d1", img, &sumD1),
					e.checkRestorePointSum(t, "cephbackup_full.weekly", img, &sumFull),
					resource.TestCheckResourceAttr("cephbackup_incremental.d1", "size", fmt.Sprint(80<<20)),
					resource.TestCheckResourceAttrPair("cephbackup_incremental.d1", "parent_id", "cephbackup_full.weekly", "id"),
					resource.TestCheckResourceAttrWith("cephbackup_incremental.d1", "transferred_bytes", between(changed1, changed1+(128<<10))),
				),
			},
			{
				PreConfig: func() {
					e.src.Resize(t, srcPool, img, 48<<20) // shrink below written data
					e.src.WriteRandom(t, srcPool, img, 5<<20+3, 300<<10, 5)
					e.src.WriteRandom(t, srcPool, img, 47<<20, 300<<10, 6) // crosses the old end
					e.src.Discard(t, srcPool, img, 2<<20, 1<<20)
					e.src.WriteRandom(t, srcPool, img, 3<<20, 5000, 7)
				},
				Config: two,
				Check: resource.ComposeAggregateTestCheckFunc(
					e.checkRestorePointExact(t, "cephbackup_incremental.d2", img, &sumD2),
					resource.TestCheckResourceAttrPtr("cephbackup_incremental.d2", "sha256", &sumD2),
					resource.TestCheckNoResourceAttr("cephbackup_incremental.d1", "sha256"),
					e.checkRestorePointSum(t, "cephbackup_incremental.d1", img, &sumD1),
					e.checkRestorePointSum(t, "cephbackup_full.weekly", img, &sumFull),
					resource.TestCheckResourceAttr("cephbackup_incremental.d2", "size", fmt.Sprint(48<<20)),
					resource.TestCheckResourceAttrWith("cephbackup_incremental.d2", "transferred_bytes", between(changed2-(300<<10), changed2+(128<<10))),
					e.checkSourceSnapshots(t, img, "cephbackup_incremental.d2"),
				),
			},
			{
				// Dropping the newest incremental destroys only it.
				Config: one,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("cephbackup_incremental.d2", plancheck.ResourceActionDestroy),
					plancheck.ExpectResourceAction("cephbackup_incremental.d1", plancheck.ResourceActionNoop),
					plancheck.ExpectResourceAction("cephbackup_full.weekly", plancheck.ResourceActionNoop),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					e.checkRestorePointSum(t, "cephbackup_incremental.d1", img, &sumD1),
					e.checkRestorePointSum(t, "cephbackup_full.weekly", img, &sumFull),
					func(*terraform.State) error {
						if n := len(e.dst.Snapshots(t, backupPool, chain.BackupImageName(img))); n != 2 {
							return fmt.Errorf("%d restore points left, want 2", n)
						}
						return nil
					},
				),
			},
			{
				// Dropping the whole chain: children go first, or the
				// provider's chain rule would refuse to delete the parent.
				Config: e.providerBlock(),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("cephbackup_incremental.d1", plancheck.ResourceActionDestroy),
					plancheck.ExpectResourceAction("cephbackup_full.weekly", plancheck.ResourceActionDestroy),
				}},
				Check: func(s *terraform.State) error { return e.checkNoBackupsLeft(t, img)(s) },
			},
		},
	})
}

// checkSourceSnapshots verifies that only the newest backup's snapshot is
// kept on the source.
func (e *accEnv) checkSourceSnapshots(t *testing.T, image, newest string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		snap, err := stateAttr(s, newest, "snapshot")
		if err != nil {
			return err
		}
		snaps := e.src.Snapshots(t, srcPool, image)
		if len(snaps) != 1 || snaps[0] != snap {
			return fmt.Errorf("source snapshots %v, want only %s", snaps, snap)
		}
		return nil
	}
}

func TestAccIncremental_chainRuleProtectsParentsOfUnmanagedChildren(t *testing.T) {
	e := newAccEnv(t)
	img := uniqueImage("rule")
	e.src.CreateImage(t, srcPool, img, 16<<20)
	e.src.WriteRandom(t, srcPool, img, 0, 4<<20, 1)
	cfg := e.providerBlock() + fullConfig("weekly", img)
	eng := e.adminEngine()
	var child chain.Record
	var sumFull string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             e.checkNoBackupsLeft(t, img),
		Steps: []resource.TestStep{
			{
				Config: cfg,
				Check: resource.ComposeAggregateTestCheckFunc(
					e.checkRestorePointExact(t, "cephbackup_full.weekly", img, &sumFull),
					// Another workspace continues the chain.
					func(s *terraform.State) error {
						parent, err := stateAttr(s, "cephbackup_full.weekly", "id")
						if err != nil {
							return err
						}
						e.src.WriteRandom(t, srcPool, img, 8<<20, 1<<20, 2)
						child, err = eng.Backup(context.Background(), engine.BackupRequest{Pool: srcPool, Image: img, BackupPool: backupPool, ParentID: parent}, nil)
						return err
					},
				),
			},
			{
				Config:      e.providerBlock(),
				ExpectError: regexp.MustCompile(`still has 1 child backup\(s\)(.|\n)*recorded on the backup cluster`),
			},
			{
				// Nothing was deleted: the parent's restore point is intact.
				Config: cfg,
				Check:  e.checkRestorePointSum(t, "cephbackup_full.weekly", img, &sumFull),
			},
			{
				PreConfig: func() {
					if _, err := eng.Delete(context.Background(), engine.DeleteRequest{BackupPool: backupPool, Pool: srcPool, Image: img, ID: child.ID}); err != nil {
						t.Fatal(err)
					}
				},
				Config: e.providerBlock(),
			},
		},
	})
}

func TestAccIncremental_driftAndTwoChains(t *testing.T) {
	e := newAccEnv(t)
	img := uniqueImage("drift")
	e.src.CreateImage(t, srcPool, img, 16<<20)
	e.src.WriteRandom(t, srcPool, img, 0, 6<<20, 1)
	chainA := e.providerBlock() + fullConfig("a", img) + incrementalConfig("a1", "cephbackup_full.a.id", img)
	both := chainA + `
resource "cephbackup_full" "b" {
  pool        = "rbd"
  image       = "` + img + `"
  backup_pool = "backups"
  depends_on  = [cephbackup_incremental.a1]
}
` + incrementalConfig("b1", "cephbackup_full.b.id", img)
	var sumA, sumA1, sumB, sumB1, snapB, idB1 string
	eng := e.adminEngine()
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             e.checkNoBackupsLeft(t, img),
		Steps: []resource.TestStep{
			{
				Config: chainA,
				Check: resource.ComposeAggregateTestCheckFunc(
					e.checkRestorePointExact(t, "cephbackup_incremental.a1", img, &sumA1),
					func(*terraform.State) error { sumA = sumA1; return nil }, // nothing changed in between
				),
			},
			{
				PreConfig: func() { e.src.WriteRandom(t, srcPool, img, 10<<20, 1<<20, 2) },
				Config:    both,
				Check: resource.ComposeAggregateTestCheckFunc(
					e.checkRestorePointExact(t, "cephbackup_incremental.b1", img, &sumB1),
					e.checkRestorePointSum(t, "cephbackup_full.a", img, &sumA),
					e.checkRestorePointSum(t, "cephbackup_incremental.a1", img, &sumA1),
					func(s *terraform.State) (err error) {
						sumB = sumB1 // nothing changed between b and b1
						if idB1, err = stateAttr(s, "cephbackup_incremental.b1", "id"); err != nil {
							return err
						}
						snapB, err = stateAttr(s, "cephbackup_full.b", "snapshot")
						return err
					},
					e.checkRestorePointSum(t, "cephbackup_full.b", img, &sumB),
				),
			},
			{
				// A restore point deleted out of band is planned for
				// re-creation; its child, whose restore point is complete on
				// its own, is kept: only its recorded parent changes, in place.
				PreConfig: func() {
					e.src.WriteRandom(t, srcPool, img, 2<<20, 1<<20, 3) // the new b differs from b1
					e.dst.RBD(t, "snap", "rm", backupPool+"/"+chain.BackupImageName(img)+"@"+snapB)
				},
				Config: both,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("cephbackup_full.b", plancheck.ResourceActionCreate),
					plancheck.ExpectResourceAction("cephbackup_incremental.b1", plancheck.ResourceActionUpdate),
					plancheck.ExpectResourceAction("cephbackup_incremental.a1", plancheck.ResourceActionNoop),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					e.checkRestorePointExact(t, "cephbackup_full.b", img, nil),
					resource.TestCheckResourceAttrPtr("cephbackup_incremental.b1", "id", &idB1),
					resource.TestCheckResourceAttrPair("cephbackup_incremental.b1", "parent_id", "cephbackup_full.b", "id"),
					// b1's restore point is bit for bit what it was.
					e.checkRestorePointSum(t, "cephbackup_incremental.b1", img, &sumB1),
					e.checkRestorePointSum(t, "cephbackup_full.a", img, &sumA),
					e.checkRestorePointSum(t, "cephbackup_incremental.a1", img, &sumA1),
					// The backup cluster records the new parent, so the chain
					// rule keeps the new b while b1 exists.
					func(s *terraform.State) error {
						newB, err := stateAttr(s, "cephbackup_full.b", "id")
						if err != nil {
							return err
						}
						rec, err := eng.GetBackup(context.Background(), backupPool, img, idB1)
						if err != nil {
							return err
						}
						if rec.ParentID != newB {
							return fmt.Errorf("backup cluster records parent %s for b1, want %s", rec.ParentID, newB)
						}
						_, err = eng.Delete(context.Background(), engine.DeleteRequest{BackupPool: backupPool, Pool: srcPool, Image: img, ID: newB})
						if err == nil || !strings.Contains(err.Error(), "child backup") {
							return fmt.Errorf("deleting the new parent of b1: got %w, want the chain rule's refusal", err)
						}
						return nil
					},
				),
			},
			{
				// Nothing left to do: the re-parented child is stable.
				Config:   both,
				PlanOnly: true,
			},
		},
	})
}

// Every kind of unusable parent_id fails the plan on parent_id, and nothing
// is created or deleted.
func TestAccIncremental_badParentFailsAtPlan(t *testing.T) {
	e := newAccEnv(t)
	img, other := uniqueImage("parent"), uniqueImage("parent-other")
	for _, i := range []string{img, other} {
		e.src.CreateImage(t, srcPool, i, 8<<20)
		e.src.WriteRandom(t, srcPool, i, 0, 1<<20, 1)
	}
	eng := e.adminEngine()
	backup := func(image string) chain.Record {
		t.Helper()
		r, err := eng.Backup(context.Background(), engine.BackupRequest{Pool: srcPool, Image: image, BackupPool: backupPool}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// older's source snapshot is pruned by newer; newer's restore point is
	// then deleted out of band.
	older, newer, otherFull := backup(img), backup(img), backup(other)
	e.dst.RBD(t, "snap", "rm", backupPool+"/"+chain.BackupImageName(img)+"@"+newer.Snapshot)
	t.Cleanup(func() {
		for _, r := range []chain.Record{newer, older, otherFull} {
			if _, err := eng.Delete(context.Background(), engine.DeleteRequest{BackupPool: backupPool, Pool: r.Pool, Image: r.Image, ID: r.ID, Snapshot: r.Snapshot}); err != nil {
				t.Error(err)
			}
		}
		e.checkUntouched(t, img)
	})
	srcSnaps := e.src.Snapshots(t, srcPool, img)
	points := e.dst.Snapshots(t, backupPool, chain.BackupImageName(img))

	cases := []struct {
		name, parent string
		want         *regexp.Regexp
	}{
		{"does not exist", chain.NewID(), regexp.MustCompile(`Parent backup not found`)},
		{"belongs to another image", otherFull.ID, regexp.MustCompile(`Parent backup not found(.|\n)*belongs\s+to\s+another\s+image`)},
		{"restore point deleted out of band", newer.ID, regexp.MustCompile(`Parent backup not found(.|\n)*was\s+deleted`)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resource.Test(t, resource.TestCase{
				ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
				Steps: []resource.TestStep{{
					Config:      e.providerBlock() + incrementalConfig("x", fmt.Sprintf("%q", c.parent), img),
					ExpectError: c.want, PlanOnly: true,
				}},
			})
			if got := e.src.Snapshots(t, srcPool, img); fmt.Sprint(got) != fmt.Sprint(srcSnaps) {
				t.Fatalf("source snapshots changed: %v, were %v", got, srcSnaps)
			}
			if got := e.dst.Snapshots(t, backupPool, chain.BackupImageName(img)); fmt.Sprint(got) != fmt.Sprint(points) {
				t.Fatalf("restore points changed: %v, were %v", got, points)
			}
		})
	}
}

// The newest incremental's restore point deleted out of band (its parent's
// source snapshot pruned long ago): plan and destroy keep working, the point
// is taken again still incrementally (the backup image's head still holds
// its content), and when even the source snapshot is gone the incremental
// copies the whole image, exact.
func TestAccIncremental_newestPointDeletedOutOfBand(t *testing.T) {
	e := newAccEnv(t)
	img := uniqueImage("newest")
	const size, written = 32 << 20, 20 << 20
	e.src.CreateImage(t, srcPool, img, size)
	e.src.WriteRandom(t, srcPool, img, 0, written, 1)
	cfg := e.providerBlock() + fullConfig("w", img) +
		incrementalConfig("d1", "cephbackup_full.w.id", img) +
		incrementalConfig("d2", "cephbackup_incremental.d1.id", img)
	var sumD2, snapD2 string
	removePoint := func(alsoSource bool) func() {
		return func() {
			e.src.WriteRandom(t, srcPool, img, 4<<20, 64<<10, 3)
			e.dst.RBD(t, "snap", "rm", "--no-progress", backupPool+"/"+chain.BackupImageName(img)+"@"+snapD2)
			if alsoSource {
				e.src.RBD(t, "snap", "rm", "--no-progress", srcPool+"/"+img+"@"+snapD2)
			}
		}
	}
	saveSnap := func(s *terraform.State) (err error) {
		snapD2, err = stateAttr(s, "cephbackup_incremental.d2", "snapshot")
		return err
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             e.checkNoBackupsLeft(t, img),
		Steps: []resource.TestStep{
			{
				PreConfig: func() { e.src.WriteRandom(t, srcPool, img, 1<<20, 64<<10, 2) },
				Config:    cfg,
				Check:     resource.ComposeAggregateTestCheckFunc(e.checkRestorePointExact(t, "cephbackup_incremental.d2", img, &sumD2), saveSnap),
			},
			{
				// Taken again from the head it left: only the change travels.
				PreConfig: removePoint(false),
				Config:    cfg,
				Check: resource.ComposeAggregateTestCheckFunc(
					e.checkRestorePointExact(t, "cephbackup_incremental.d2", img, nil),
					resource.TestCheckResourceAttrWith("cephbackup_incremental.d2", "transferred_bytes", between(64<<10, 128<<10)),
					saveSnap,
				),
			},
			{
				// Nothing left to diff from: the whole image, exact.
				PreConfig: removePoint(true),
				Config:    cfg,
				Check: resource.ComposeAggregateTestCheckFunc(
					e.checkRestorePointExact(t, "cephbackup_incremental.d2", img, nil),
					resource.TestCheckResourceAttrWith("cephbackup_incremental.d2", "transferred_bytes", between(written, written+(128<<10))),
				),
			},
		},
	})
}

// An incremental may continue an older chain after a newer backup exists:
// its parent is bookkeeping for the deletion order, and its data is diffed
// from the newest backup snapshot, so the point is exact and only the change
// travels.
func TestAccIncremental_continuesAnOlderChain(t *testing.T) {
	e := newAccEnv(t)
	img := uniqueImage("older")
	e.src.CreateImage(t, srcPool, img, 16<<20)
	e.src.WriteRandom(t, srcPool, img, 0, 8<<20, 1)
	fulls := e.providerBlock() + fullConfig("a", img) + fullConfig("b", img)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             e.checkNoBackupsLeft(t, img),
		Steps: []resource.TestStep{
			{Config: e.providerBlock() + fullConfig("a", img)},
			{Config: fulls, Check: e.checkRestorePointExact(t, "cephbackup_full.b", img, nil)},
			{
				PreConfig: func() { e.src.WriteRandom(t, srcPool, img, 4<<20, 64<<10, 2) },
				Config:    fulls + incrementalConfig("a1", "cephbackup_full.a.id", img),
				Check: resource.ComposeAggregateTestCheckFunc(
					e.checkRestorePointExact(t, "cephbackup_incremental.a1", img, nil),
					resource.TestCheckResourceAttrPair("cephbackup_incremental.a1", "parent_id", "cephbackup_full.a", "id"),
					resource.TestCheckResourceAttrWith("cephbackup_incremental.a1", "transferred_bytes", between(64<<10, 128<<10)),
				),
			},
		},
	})
}
