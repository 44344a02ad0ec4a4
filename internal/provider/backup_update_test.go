package provider

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/engine"
)

// withLine adds a line to a resource block written by one of the *Config helpers.
func withLine(block, line string) string {
	i := strings.LastIndex(block, "}")
	return block[:i] + "  " + line + "\n" + block[i:]
}

// checkRecord checks, on the backup cluster, the record of a backup in state.
func (e *accEnv) checkRecord(name, image string, check func(chain.Record) error) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		id, err := stateAttr(s, name, "id")
		if err != nil {
			return err
		}
		rec, err := e.adminEngine().GetBackup(context.Background(), backupPool, image, id)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := check(rec); err != nil {
			return fmt.Errorf("%s: record on the backup cluster: %w", name, err)
		}
		return nil
	}
}

func recordProtected(want bool) func(chain.Record) error {
	return func(r chain.Record) error {
		if r.DeletionProtection != want {
			return fmt.Errorf("deletion_protection %v, want %v", r.DeletionProtection, want)
		}
		return nil
	}
}

// checkPointsStill verifies with the rbd CLI that the restore points saved in
// sums (snapshot name -> sha256) are all there, unchanged.
func (e *accEnv) checkPointsStill(t *testing.T, image string, sums map[string]string) {
	t.Helper()
	for snap, sum := range sums {
		if got := e.dst.ExportSHA256(t, backupPool+"/"+chain.BackupImageName(image)+"@"+snap); !sameSum(got, sum) {
			t.Fatalf("restore point %s: sha256 %s, was %s", snap, got, sum)
		}
	}
}

// savePoint records a restore point's snapshot and checksum in sums.
func (e *accEnv) savePoint(t *testing.T, name, image string, sums map[string]string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		snap, err := stateAttr(s, name, "snapshot")
		if err != nil {
			return err
		}
		sums[snap] = e.dst.ExportSHA256(t, backupPool+"/"+chain.BackupImageName(image)+"@"+snap)
		return nil
	}
}

func TestAccBackup_deletionProtection(t *testing.T) {
	e := newAccEnv(t)
	img, other := uniqueImage("protect"), uniqueImage("protect-other")
	for _, i := range []string{img, other} {
		e.src.CreateImage(t, srcPool, i, 16<<20)
		e.src.WriteRandom(t, srcPool, i, 0, 4<<20, 1)
	}
	eng := e.adminEngine()
	// Protection given by an expression, as a retention rule would.
	config := func(fullOn, incOn, image string) string {
		return e.providerBlock() + `
locals {
  protect = { full = ` + fullOn + `, inc = ` + incOn + ` }
}
` + withLine(fullConfig("p", image), `deletion_protection = local.protect["full"]`) +
			withLine(incrementalConfig("p1", "cephbackup_full.p.id", img), `deletion_protection = local.protect["inc"]`)
	}
	sums := map[string]string{}
	var child chain.Record
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             e.checkNoBackupsLeft(t, img),
		Steps: []resource.TestStep{
			{
				Config: config("length(\"x\") > 0", "false", img),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("cephbackup_full.p", "deletion_protection", "true"),
					resource.TestCheckResourceAttr("cephbackup_incremental.p1", "deletion_protection", "false"),
					e.checkRecord("cephbackup_full.p", img, recordProtected(true)),
					e.checkRecord("cephbackup_incremental.p1", img, recordProtected(false)),
					e.savePoint(t, "cephbackup_full.p", img, sums),
					e.savePoint(t, "cephbackup_incremental.p1", img, sums),
				),
			},
			{
				// terraform destroy: the plan fails, naming the protected
				// backup, and nothing is deleted, not even the unprotected child.
				Config:      config("true", "false", img),
				Destroy:     true,
				ExpectError: regexp.MustCompile(`(?s)Backup is protected against deletion.*cephbackup_full.*deletion_protection`),
			},
			{
				// Removed from the configuration: the same.
				PreConfig:   func() { e.checkPointsStill(t, img, sums) },
				Config:      e.providerBlock(),
				ExpectError: regexp.MustCompile(`(?s)Backup is protected against deletion`),
			},
			{
				// A change that would replace it: the same.
				PreConfig:   func() { e.checkPointsStill(t, img, sums) },
				Config:      config("true", "false", other),
				ExpectError: regexp.MustCompile(`(?s)Backup is protected against deletion.*replace`),
			},
			{
				// Another workspace, or a script, is refused by the backup
				// cluster's record; then protection moves to the child, in place.
				PreConfig: func() {
					e.checkPointsStill(t, img, sums)
					var p chain.Record
					for _, r := range mustRestorePoints(t, eng, img) {
						if r.Kind == chain.Full {
							p = r
						}
					}
					_, err := eng.Delete(context.Background(), engine.DeleteRequest{BackupPool: backupPool, Pool: srcPool, Image: img, ID: p.ID, Snapshot: p.Snapshot})
					if err == nil || !strings.Contains(err.Error(), "deletion_protection") {
						t.Fatalf("another engine's delete of a protected backup: got %v, want a refusal naming deletion_protection", err)
					}
					e.checkPointsStill(t, img, sums)
				},
				Config: config("false", "true", img),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("cephbackup_full.p", plancheck.ResourceActionUpdate),
					plancheck.ExpectResourceAction("cephbackup_incremental.p1", plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					e.checkRecord("cephbackup_full.p", img, recordProtected(false)),
					e.checkRecord("cephbackup_incremental.p1", img, recordProtected(true)),
					resource.TestCheckResourceAttr("cephbackup_full.p", "deletion_protection", "false"),
					resource.TestCheckResourceAttr("cephbackup_incremental.p1", "deletion_protection", "true"),
				),
			},
			{
				// The protected incremental keeps its unprotected parent too:
				// the plan fails on both, before anything is deleted.
				Config:      e.providerBlock(),
				ExpectError: regexp.MustCompile(`(?s)Backup is protected against deletion.*protected`),
			},
			{
				// Unprotected, but another workspace has continued p1 with a
				// protected backup: p1 cannot go, and the plan says so.
				PreConfig: func() {
					e.checkPointsStill(t, img, sums)
					e.src.WriteRandom(t, srcPool, img, 8<<20, 1<<20, 2)
					var p1 chain.Record
					for _, r := range mustRestorePoints(t, eng, img) {
						if r.Kind == chain.Incremental {
							p1 = r
						}
					}
					var err error
					if child, err = eng.Backup(context.Background(), engine.BackupRequest{Pool: srcPool, Image: img, BackupPool: backupPool, ParentID: p1.ID}, nil); err != nil {
						t.Fatal(err)
					}
					protect := true
					if _, err := eng.UpdateBackup(context.Background(), backupPool, img, child.ID, engine.BackupChange{DeletionProtection: &protect}); err != nil {
						t.Fatal(err)
					}
				},
				Config:      e.providerBlock(),
				ExpectError: regexp.MustCompile(`(?s)Backup is protected against deletion.*protected\s+descendant`),
			},
			{
				// Once nothing is protected, destroy works, children first.
				PreConfig: func() {
					e.checkPointsStill(t, img, sums)
					off := false
					if _, err := eng.UpdateBackup(context.Background(), backupPool, img, child.ID, engine.BackupChange{DeletionProtection: &off}); err != nil {
						t.Fatal(err)
					}
					if _, err := eng.Delete(context.Background(), engine.DeleteRequest{BackupPool: backupPool, Pool: srcPool, Image: img, ID: child.ID, Snapshot: child.Snapshot}); err != nil {
						t.Fatal(err)
					}
				},
				Config: config("false", "false", img),
				Check: resource.ComposeAggregateTestCheckFunc(
					e.checkRecord("cephbackup_incremental.p1", img, recordProtected(false)),
				),
			},
		},
	})
}

func mustRestorePoints(t *testing.T, eng *engine.Engine, image string) []chain.Record {
	t.Helper()
	pts, err := eng.RestorePoints(context.Background(), srcPool, image, backupPool)
	if err != nil {
		t.Fatal(err)
	}
	return pts
}

// verify = true on existing backups reads their restore points and records
// their checksums: compared with the source snapshot when it still exists.
func TestAccBackup_verifyExistingBackup(t *testing.T) {
	e := newAccEnv(t)
	img := uniqueImage("verify")
	e.src.CreateImage(t, srcPool, img, 16<<20)
	e.src.WriteRandom(t, srcPool, img, 0, 5<<20, 1)
	older := e.providerBlock() + fullConfig("older", img)
	both := older + incrementalConfig("newer", "cephbackup_full.older.id", img)
	var sumOlder, sumNewer string
	sumIs := func(sum *string) func(chain.Record) error {
		return func(r chain.Record) error {
			if r.SHA256 != *sum {
				return fmt.Errorf("sha256 %q, want %q", r.SHA256, *sum)
			}
			return nil
		}
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             e.checkNoBackupsLeft(t, img),
		Steps: []resource.TestStep{
			{Config: older, Check: e.checkRestorePointExact(t, "cephbackup_full.older", img, &sumOlder)},
			{
				// The newer backup prunes the older one's source snapshot.
				PreConfig: func() { e.src.WriteRandom(t, srcPool, img, 9<<20, 1<<20, 2) },
				Config:    both,
				Check: resource.ComposeAggregateTestCheckFunc(
					e.checkRestorePointExact(t, "cephbackup_incremental.newer", img, &sumNewer),
					resource.TestCheckNoResourceAttr("cephbackup_full.older", "sha256"),
					resource.TestCheckNoResourceAttr("cephbackup_incremental.newer", "sha256"),
				),
			},
			{
				Config: e.providerBlock() + verified(fullConfig("older", img)) + verified(incrementalConfig("newer", "cephbackup_full.older.id", img)),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("cephbackup_full.older", plancheck.ResourceActionUpdate),
					plancheck.ExpectResourceAction("cephbackup_incremental.newer", plancheck.ResourceActionUpdate),
					plancheck.ExpectUnknownValue("cephbackup_full.older", tfjsonpath.New("sha256")),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					// Compared with the source snapshot, which still exists.
					resource.TestCheckResourceAttrPtr("cephbackup_incremental.newer", "sha256", &sumNewer),
					e.checkRecord("cephbackup_incremental.newer", img, sumIs(&sumNewer)),
					// The source snapshot is gone: the restore point's own
					// checksum, as rbd export gives it.
					resource.TestCheckResourceAttrPtr("cephbackup_full.older", "sha256", &sumOlder),
					e.checkRecord("cephbackup_full.older", img, sumIs(&sumOlder)),
					e.checkRestorePointSum(t, "cephbackup_full.older", img, &sumOlder),
					e.checkRestorePointSum(t, "cephbackup_incremental.newer", img, &sumNewer),
				),
			},
		},
	})
}

// The retention guide's scheme: weekly backups in for_each, the newest two
// protected by an expression. A week leaves protection in place when a newer
// one arrives, and then ages out; a protected week cannot be dropped.
func TestAccBackup_protectNewestWeeks(t *testing.T) {
	e := newAccEnv(t)
	img := uniqueImage("weeks")
	e.src.CreateImage(t, srcPool, img, 8<<20)
	e.src.WriteRandom(t, srcPool, img, 0, 1<<20, 1)
	config := func(weeks ...string) string {
		return e.providerBlock() + fmt.Sprintf(`
locals {
  weeks           = toset(%s)
  protected_weeks = slice(reverse(sort(tolist(local.weeks))), 0, min(2, length(local.weeks)))
}

resource "cephbackup_full" "week" {
  for_each            = local.weeks
  pool                = %q
  image               = %q
  backup_pool         = %q
  deletion_protection = contains(local.protected_weeks, each.key)
}
`, `["`+strings.Join(weeks, `", "`)+`"]`, srcPool, img, backupPool)
	}
	week := func(w string) string { return `cephbackup_full.week["` + w + `"]` }
	// for_each instances: state checks, as the legacy Check functions and
	// CheckDestroy cannot read them (the last step leaves the state empty).
	protected := func(w string, want bool) statecheck.StateCheck {
		return protectionCheck{e: e, address: week(w), image: img, want: want}
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:            config("w1", "w2", "w3"),
				ConfigStateChecks: []statecheck.StateCheck{protected("w1", false), protected("w2", true), protected("w3", true)},
			},
			{
				// A new week: w2 leaves protection in place, w1 ages out.
				Config: config("w2", "w3", "w4"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(week("w1"), plancheck.ResourceActionDestroy),
					plancheck.ExpectResourceAction(week("w2"), plancheck.ResourceActionUpdate),
					plancheck.ExpectResourceAction(week("w3"), plancheck.ResourceActionNoop),
					plancheck.ExpectResourceAction(week("w4"), plancheck.ResourceActionCreate),
				}},
				ConfigStateChecks: []statecheck.StateCheck{protected("w2", false), protected("w3", true), protected("w4", true)},
			},
			{
				// Dropping a protected week by mistake fails the plan.
				Config:      config("w2", "w4"),
				ExpectError: regexp.MustCompile(`Backup is protected against deletion`),
			},
			{
				// To end: unprotect everything, then drop every week.
				Config: e.providerBlock() + strings.Replace(config("w2", "w3", "w4")[len(e.providerBlock()):],
					"contains(local.protected_weeks, each.key)", "false", 1),
				ConfigStateChecks: []statecheck.StateCheck{protected("w3", false), protected("w4", false)},
			},
			{Config: e.providerBlock()},
		},
	})
	e.checkUntouched(t, img)
}

// protectionCheck checks deletion_protection of a backup in state, and in its
// record on the backup cluster.
type protectionCheck struct {
	e              *accEnv
	address, image string
	want           bool
}

func (c protectionCheck) CheckState(ctx context.Context, req statecheck.CheckStateRequest, resp *statecheck.CheckStateResponse) {
	if req.State == nil || req.State.Values == nil || req.State.Values.RootModule == nil {
		resp.Error = fmt.Errorf("no state")
		return
	}
	for _, r := range req.State.Values.RootModule.Resources {
		if r.Address != c.address {
			continue
		}
		id, _ := r.AttributeValues["id"].(string)
		if got, _ := r.AttributeValues["deletion_protection"].(bool); got != c.want {
			resp.Error = fmt.Errorf("%s: deletion_protection %v in state, want %v", c.address, got, c.want)
			return
		}
		rec, err := c.e.adminEngine().GetBackup(ctx, backupPool, c.image, id)
		if err == nil {
			err = recordProtected(c.want)(rec)
		}
		if err != nil {
			resp.Error = fmt.Errorf("%s: record on the backup cluster: %w", c.address, err)
		}
		return
	}
	resp.Error = fmt.Errorf("%s is not in state", c.address)
}

// The warnings of in-place updates, as the real terraform prints them.
func TestAccBackup_inPlaceWarnings(t *testing.T) {
	e := newAccEnv(t)
	img := uniqueImage("warn")
	e.src.CreateImage(t, srcPool, img, 8<<20)
	e.src.WriteRandom(t, srcPool, img, 0, 2<<20, 1)
	w := newWorkspace(t)
	cfg := e.providerBlock() + fullConfig("w", img) + incrementalConfig("d1", "cephbackup_full.w.id", img)
	t.Cleanup(func() {
		w.write(e.providerBlock())
		if out, err := w.run("apply", "-auto-approve", "-no-color"); err != nil {
			t.Errorf("cleanup apply: %v\n%s", err, tail(out, 20))
		}
		e.checkUntouched(t, img)
	})
	apply := func(config string, want ...string) {
		t.Helper()
		w.write(config)
		out, err := w.run("apply", "-auto-approve", "-no-color")
		if err != nil {
			t.Fatalf("terraform apply: %v\n%s", err, tail(out, 40))
		}
		for _, s := range want {
			if !wrapped(s).MatchString(out) {
				t.Fatalf("terraform apply printed no %q:\n%s", s, tail(out, 60))
			}
		}
	}
	apply(cfg)
	show := func(attr string) string {
		t.Helper()
		out, err := w.run("state", "show", "-no-color", attr)
		if err != nil {
			t.Fatalf("terraform state show %s: %v\n%s", attr, err, out)
		}
		return out
	}
	idOf := func(res string) string {
		m := regexp.MustCompile(`(?m)^\s*id\s*=\s*"([^"]+)"`).FindStringSubmatch(show(res))
		if m == nil {
			t.Fatalf("no id for %s", res)
		}
		return m[1]
	}
	d1 := idOf("cephbackup_incremental.d1")
	snap := regexp.MustCompile(`(?m)^\s*snapshot\s*=\s*"([^"]+)"`).FindStringSubmatch(show("cephbackup_full.w"))[1]
	e.dst.RBD(t, "snap", "rm", backupPool+"/"+chain.BackupImageName(img)+"@"+snap)

	// The full is taken again; the incremental is kept, and says so.
	apply(cfg, "Backup kept: only its recorded parent changed", "Its restore point", "is unchanged and complete on its own")
	if got := idOf("cephbackup_incremental.d1"); got != d1 {
		t.Fatalf("the incremental was replaced: id %s, was %s", got, d1)
	}
	// Its source snapshot was pruned by the new full: verified without it.
	apply(e.providerBlock()+fullConfig("w", img)+verified(incrementalConfig("d1", "cephbackup_full.w.id", img)),
		"Restore point checksummed, not compared with its source", "no longer exists")
	// The new full still has its source snapshot: compared, no warning.
	w.write(e.providerBlock() + verified(fullConfig("w", img)) + verified(incrementalConfig("d1", "cephbackup_full.w.id", img)))
	out, err := w.run("apply", "-auto-approve", "-no-color")
	if err != nil || strings.Contains(out, "not compared") {
		t.Fatalf("verifying the newest backup: %v\n%s", err, tail(out, 40))
	}
}
