package provider

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
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
	files := chainFilesConfig(img, fullFile, incrFile)
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

// chainFilesConfig writes the diff files of cephbackup_full.w (full) and of
// cephbackup_incremental.d1 since it (incr).
func chainFilesConfig(image, fullFile, incrFile string) string {
	return fmt.Sprintf(`
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
`, image, fullFile, incrFile)
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

// diffFileConfig is cephbackup_diff_file.f.
func diffFileConfig(backupRef, fromRef, image, file string) string {
	from := ""
	if fromRef != "" {
		from = "\n  from_backup_id = " + fromRef
	}
	return fmt.Sprintf(`
resource "cephbackup_diff_file" "f" {
  backup_id   = %s%s
  pool        = %q
  image       = %q
  backup_pool = %q
  path        = %q
}
`, backupRef, from, srcPool, image, backupPool, file)
}

// A diff file is checked at plan like the other resources, never overwrites
// a file it did not write, notices a file changed behind its back by size and
// checksum, and imports from the file and the backup cluster.
func TestAccDiffFile_guardsFilesDriftAndImport(t *testing.T) {
	e := newAccEnv(t)
	img := uniqueImage("dfg")
	e.src.CreateImage(t, srcPool, img, 8<<20)
	e.src.WriteRandom(t, srcPool, img, 0, 3<<20+5, 7)
	dir := t.TempDir()
	file, foreign := filepath.Join(dir, "w.diff"), filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(foreign, []byte("somebody's notes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	backups := e.providerBlock() + fullConfig("w", img) + incrementalConfig("d1", "cephbackup_full.w.id", img)
	withFile := backups + diffFileConfig("cephbackup_full.w.id", "", img, file)
	var wrote string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             e.checkNoBackupsLeft(t, img),
		Steps: []resource.TestStep{
			{Config: backups},
			{
				Config:      backups + diffFileConfig("cephbackup_full.w.id", "", img, foreign),
				PlanOnly:    true,
				ExpectError: wrapped("Refusing to overwrite a file"),
			},
			{
				Config:      backups + diffFileConfig("cephbackup_full.w.id", "", img, filepath.Join(dir, "no-such-dir", "w.diff")),
				PlanOnly:    true,
				ExpectError: wrapped("Directory of the diff file does not exist"),
			},
			{
				Config:      backups + diffFileConfig("cephbackup_full.w.id", "cephbackup_incremental.d1.id", img, file),
				PlanOnly:    true,
				ExpectError: wrapped("is not older than backup"),
			},
			{
				Config:      backups + diffFileConfig(`"0f8fad5b-d9cb-469f-a165-70867728950e"`, "", img, file),
				PlanOnly:    true,
				ExpectError: wrapped("is not a restore point of"),
			},
			{
				Config: withFile,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttrWith("cephbackup_diff_file.f", "sha256", fileSum(file)),
					func(s *terraform.State) (err error) {
						wrote, err = stateAttr(s, "cephbackup_diff_file.f", "sha256")
						return err
					},
					func(*terraform.State) error {
						b, err := os.ReadFile(foreign)
						if err != nil || string(b) != "somebody's notes\n" {
							return fmt.Errorf("the foreign file was touched: %q, %w", b, err)
						}
						return nil
					},
				),
			},
			{
				// Same size, one byte of image data changed: only the checksum tells.
				PreConfig: func() {
					f, err := os.OpenFile(file, os.O_RDWR, 0)
					if err != nil {
						t.Fatal(err)
					}
					defer f.Close()
					st, _ := f.Stat()
					b := make([]byte, 1)
					if _, err := f.ReadAt(b, st.Size()/2); err != nil {
						t.Fatal(err)
					}
					if _, err := f.WriteAt([]byte{b[0] ^ 0xff}, st.Size()/2); err != nil {
						t.Fatal(err)
					}
				},
				Config:             withFile,
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
			{
				Config: withFile,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttrWith("cephbackup_diff_file.f", "sha256", fileSum(file)),
					resource.TestCheckResourceAttrWith("cephbackup_diff_file.f", "sha256", func(v string) error {
						if v != wrote {
							return fmt.Errorf("rewritten file has sha256 %s, the first write %s", v, wrote)
						}
						return nil
					}),
				),
			},
			{
				// Timeouts change in place: the file is not written again.
				Config: strings.Replace(withFile, `path        = "`, "timeouts {\n    read = \"1m\"\n  }\n  path        = \"", 1),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("cephbackup_diff_file.f", plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("cephbackup_diff_file.f", "timeouts.read", "1m"),
					resource.TestCheckResourceAttrWith("cephbackup_diff_file.f", "sha256", fileSum(file)),
				),
			},
			{
				ResourceName:            "cephbackup_diff_file.f",
				ImportState:             true,
				ImportStateId:           backupPool + ":" + file,
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"timeouts"},
			},
		},
	})
}
