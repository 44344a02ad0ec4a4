package provider

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
)

func restoreFromFilesConfig(files []string, target string) string {
	list := ""
	for _, f := range files {
		list += fmt.Sprintf("%q, ", f)
	}
	return fmt.Sprintf(`
resource "cephbackup_restore_from_diff_files" "r" {
  diff_files   = [%s]
  target_pool  = %q
  target_image = %q
}
`, list, srcPool, target)
}

// Both clusters' backups lost, the diff files kept: the volume is rebuilt
// from the files alone, with the backup cluster unreachable, bit for bit the
// newest restore point; a sequence out of order is refused at plan.
func TestAccRestoreFromDiffFiles_rebuildsWithoutTheBackupCluster(t *testing.T) {
	e := newAccEnv(t)
	img := uniqueImage("rdf")
	target := img + "-rebuilt"
	e.src.CreateImage(t, srcPool, img, 12<<20)
	e.src.WriteRandom(t, srcPool, img, 0, 7<<20+3, 4)
	t.Cleanup(func() { _, _ = e.src.RBDErr("rm", "--no-progress", srcPool+"/"+target) })
	dir, kept := t.TempDir(), t.TempDir()
	fullFile, incrFile := filepath.Join(dir, "full.diff"), filepath.Join(dir, "incr.diff")
	keptFull, keptIncr := filepath.Join(kept, "full.diff"), filepath.Join(kept, "incr.diff")
	chain1 := e.providerBlock() + fullConfig("w", img)
	withFiles := chain1 + incrementalConfig("d1", "cephbackup_full.w.id", img) + chainFilesConfig(img, fullFile, incrFile)
	var sumIncr, incrID string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             e.checkNoBackupsLeft(t, img),
		Steps: []resource.TestStep{
			{Config: chain1},
			{
				PreConfig: func() {
					e.src.WriteRandom(t, srcPool, img, 10<<20, 1<<20, 8)
					e.src.Discard(t, srcPool, img, 1<<20, 512<<10)
				},
				Config: withFiles,
				Check: resource.ComposeAggregateTestCheckFunc(
					e.checkRestorePointExact(t, "cephbackup_incremental.d1", img, &sumIncr),
					func(s *terraform.State) (err error) {
						incrID, err = stateAttr(s, "cephbackup_incremental.d1", "id")
						for _, f := range [][2]string{{fullFile, keptFull}, {incrFile, keptIncr}} {
							b, rerr := os.ReadFile(f[0])
							if rerr != nil {
								return rerr
							}
							if werr := os.WriteFile(f[1], b, 0o600); werr != nil {
								return werr
							}
						}
						return err
					},
				),
			},
		},
	})

	// The backup cluster is gone: its monitor is a dead port.
	lost := fmt.Sprintf(`
provider "cephbackup" {
  cluster        = { mon_host = %q, user = %q, key = %q }
  backup_cluster = { mon_host = "127.0.0.1:9", user = %q, key = %q, timeout = "3s" }
}
`, e.src.MonHost, srcUser, e.srcKey, dstUser, e.dstKey)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy: func(*terraform.State) error {
			if !e.src.ImageExists(t, srcPool, target) {
				return fmt.Errorf("destroy removed the rebuilt image: it holds user data and must stay")
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config:      lost + restoreFromFilesConfig([]string{keptIncr, keptFull}, target),
				PlanOnly:    true,
				ExpectError: wrapped("Cannot rebuild the image from these files"),
			},
			{
				Config: lost + restoreFromFilesConfig([]string{keptFull, keptIncr}, target),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttrWith("cephbackup_restore_from_diff_files.r", "backup_id", func(v string) error {
						if v != incrID {
							return fmt.Errorf("backup_id %s, want the incremental's %s", v, incrID)
						}
						return nil
					}),
					func(*terraform.State) error {
						if got := e.src.ExportSHA256(t, srcPool+"/"+target); !sameSum(got, sumIncr) {
							return fmt.Errorf("rebuilt image sha256 %s, the newest restore point %s", got, sumIncr)
						}
						return nil
					},
				),
			},
		},
	})
}
