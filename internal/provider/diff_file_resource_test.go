package provider

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
)

func TestAccDiffFile_filesRebuildTheChainWithRBDImportDiff(t *testing.T) {
	e := newAccEnv(t)
	img := uniqueImage("file")
	e.src.CreateImage(t, srcPool, img, 16<<20)
	e.src.WriteRandom(t, srcPool, img, 0, 5<<20+11, 1)
	e.src.Discard(t, srcPool, img, 1<<20+3, 5000)
	dir := t.TempDir()
	fullFile, incrFile := filepath.Join(dir, "full.diff"), filepath.Join(dir, "incr.diff")
	files := fmt.Sprintf(`
resource "cephbackup_diff_file" "full" {
  backup_id   = cephbackup_full.w.id
  pool        = "rbd"
  image       = %[1]q
  backup_pool = "backups"
  path        = %[2]q
}

resource "cephbackup_diff_file" "incr" {
  backup_id      = cephbackup_incremental.d1.id
  from_backup_id = cephbackup_full.w.id
  pool           = "rbd"
  image          = %[1]q
  backup_pool    = "backups"
  path           = %[3]q
}
`, img, fullFile, incrFile)
	chain1 := e.providerBlock() + fullConfig("w", img)
	var sumFull, sumIncr string
	copyImg := img + "-copy"
	t.Cleanup(func() {
		_, _ = e.src.RBDErr("snap", "purge", "--no-progress", srcPool+"/"+copyImg)
		_, _ = e.src.RBDErr("rm", "--no-progress", srcPool+"/"+copyImg)
	})
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy: func(s *terraform.State) error {
			for _, f := range []string{fullFile, incrFile} {
				if _, err := os.Stat(f); !os.IsNotExist(err) {
					return fmt.Errorf("%s survived destroy (%w)", f, err)
				}
			}
			return e.checkNoBackupsLeft(t, img)(s)
		},
		Steps: []resource.TestStep{
			{Config: chain1, Check: e.checkRestorePointExact(t, "cephbackup_full.w", img, &sumFull)},
			{
				PreConfig: func() {
					e.src.WriteRandom(t, srcPool, img, 9<<20, 1<<20, 2)
					e.src.Discard(t, srcPool, img, 2<<20, 1<<20)
				},
				Config: chain1 + incrementalConfig("d1", "cephbackup_full.w.id", img) + files,
				Check: resource.ComposeAggregateTestCheckFunc(
					e.checkRestorePointExact(t, "cephbackup_incremental.d1", img, &sumIncr),
					resource.TestCheckResourceAttrWith("cephbackup_diff_file.full", "sha256", fileSum(fullFile)),
					resource.TestCheckResourceAttrWith("cephbackup_diff_file.incr", "data_bytes", between(1<<20, 1<<20+64<<10)),
					func(*terraform.State) error {
						e.src.CreateImage(t, srcPool, copyImg, 1<<20)
						e.src.RBD(t, "import-diff", "--no-progress", fullFile, srcPool+"/"+copyImg)
						e.src.RBD(t, "import-diff", "--no-progress", incrFile, srcPool+"/"+copyImg)
						snaps := e.src.Snapshots(t, srcPool, copyImg)
						if len(snaps) != 2 {
							return fmt.Errorf("rbd import-diff made snapshots %v", snaps)
						}
						if got := e.src.ExportSHA256(t, srcPool+"/"+copyImg+"@"+snaps[0]); !sameSum(got, sumFull) {
							return fmt.Errorf("full file: sha256 %s, want %s", got, sumFull)
						}
						if got := e.src.ExportSHA256(t, srcPool+"/"+copyImg+"@"+snaps[1]); !sameSum(got, sumIncr) {
							return fmt.Errorf("incremental file: sha256 %s, want %s", got, sumIncr)
						}
						return nil
					},
				),
			},
		},
	})
}

// fileSum checks an attribute against the sha256 of a file.
func fileSum(path string) resource.CheckResourceAttrWithFunc {
	return func(v string) error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != v {
			return fmt.Errorf("sha256 %s is not the file's %x", v, sum)
		}
		return nil
	}
}
