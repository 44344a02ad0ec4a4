package provider

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
)

// TestAccExamples_validate runs `terraform validate` on every example
// directory with the built provider, so the docs never show a config that
// does not work. It needs terraform, not clusters.
func TestAccExamples_validate(t *testing.T) {
	if os.Getenv("TF_ACC") == "" {
		t.Skip("acceptance test: run with `make testacc`")
	}
	var dirs []string
	err := filepath.WalkDir("../../examples", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if tf, _ := filepath.Glob(filepath.Join(path, "*.tf")); len(tf) > 0 {
			dirs = append(dirs, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 6 {
		t.Fatalf("found only %d example directories: %v", len(dirs), dirs)
	}
	for _, dir := range dirs {
		name := strings.TrimPrefix(dir, "../../examples/")
		t.Run(name, func(t *testing.T) {
			w := newWorkspace(t)
			if declaresAction(t, dir) {
				// Only Terraform >= 1.14 reads action blocks.
				w.terraform = newestTerraform(t, "an action block")
			}
			if tfContains(t, dir, callsFunction) {
				skipWithoutFunctions(t, w.terraform)
			}
			// Copy the whole examples tree so relative module sources resolve.
			if err := os.CopyFS(filepath.Join(w.dir, "examples"), os.DirFS("../../examples")); err != nil {
				t.Fatal(err)
			}
			w.dir = filepath.Join(w.dir, "examples", name)
			if !declaresProvider(t, w.dir) {
				header := "terraform {\n  required_providers {\n    cephbackup = { source = \"cephbackup/cephbackup\" }\n  }\n}\n"
				if err := os.WriteFile(filepath.Join(w.dir, "zz_providers.tf"), []byte(header), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if out, err := w.run("get", "-no-color"); err != nil {
				t.Fatalf("terraform get: %v\n%s", err, out)
			}
			if out, err := w.run("validate", "-no-color"); err != nil || !strings.Contains(out, "Success") {
				t.Fatalf("terraform validate %s: %v\n%s", name, err, out)
			}
		})
	}
}

func declaresProvider(t *testing.T, dir string) bool {
	return tfContains(t, dir, regexp.MustCompile(`required_providers`))
}

func declaresAction(t *testing.T, dir string) bool {
	return tfContains(t, dir, regexp.MustCompile(`(?m)^action\s+"`))
}

func tfContains(t *testing.T, dir string, re *regexp.Regexp) bool {
	files, _ := filepath.Glob(filepath.Join(dir, "*.tf"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if re.Match(b) {
			return true
		}
	}
	return false
}

// TestAccExamples_disasterRecoveryRestoresOnce applies the disaster-recovery
// example as `make demo` does, on the test clusters, with any Terraform or
// OpenTofu: a full backup, an incident, a restore of the pinned restore point
// into the volume, then a newer backup with the same configuration, which
// must not restore again.
func TestAccExamples_disasterRecoveryRestoresOnce(t *testing.T) {
	e := newAccEnv(t)
	img := uniqueImage("dr")
	e.src.CreateImage(t, srcPool, img, 64<<20)
	e.src.WriteRandom(t, srcPool, img, 0, 24<<20, 1)
	w := newWorkspace(t)
	if err := os.CopyFS(filepath.Join(w.dir, "examples"), os.DirFS("../../examples")); err != nil {
		t.Fatal(err)
	}
	w.dir = filepath.Join(w.dir, "examples", "disaster-recovery")
	skipWithoutFunctions(t, w.terraform)
	// A fixed week, so the plan is the same whenever the test runs.
	const monday, tuesday = "2026-11-23T06:00:00Z", "2026-11-24T06:00:00Z"
	vars := func(now, restoreID string) {
		t.Helper()
		cfg := fmt.Sprintf(`{
  "cluster": {"mon_host": %q, "user": %q, "key": %q},
  "backup_cluster": {"mon_host": %q, "user": %q, "key": %q},
  "image": %q, "now": %q, "restore_backup_id": %s, "restore_target": %q
}`, e.src.MonHost, srcUser, e.srcKey, e.dst.MonHost, dstUser, e.dstKey, img, now, restoreID, img)
		if err := os.WriteFile(filepath.Join(w.dir, "terraform.tfvars.json"), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		vars(tuesday, "null")
		if out, err := w.run("destroy", "-auto-approve", "-no-color"); err != nil {
			t.Errorf("cleanup destroy: %v\n%s", err, tail(out, 20))
		}
		if err := e.checkNoBackupsLeft(t, img)(nil); err != nil {
			t.Error(err)
		}
	})
	if out, err := w.run("get", "-no-color"); err != nil {
		t.Fatalf("get: %v\n%s", err, out)
	}

	vars(monday, "null")
	w.mustApply()
	id := strings.TrimSpace(mustOutput(t, w, "newest_id"))
	snap := strings.TrimSpace(mustOutput(t, w, "newest_snapshot"))
	pointSum := e.dst.ExportSHA256(t, backupPool+"/"+chain.BackupImageName(img)+"@"+snap)

	e.src.WriteRandom(t, srcPool, img, 4<<20, 2<<20, 2)
	vars(monday, strconv.Quote(id))
	w.mustApply()
	if got := e.src.ExportSHA256(t, srcPool+"/"+img); !sameSum(got, pointSum) {
		t.Fatalf("after the restore %s has sha256 %s, want the restore point's %s", img, got, pointSum)
	}
	if n := mustOutput(t, w, "restored_bytes"); n != "2097152" {
		t.Errorf("restored_bytes = %s, want the 2 MiB the incident wrote", n)
	}

	// The next day: a newer restore point, the restore left as it was.
	e.src.WriteRandom(t, srcPool, img, 16<<20, 1<<20, 3)
	changed := e.src.ExportSHA256(t, srcPool+"/"+img)
	vars(tuesday, strconv.Quote(id))
	w.mustApply()
	if newest := strings.TrimSpace(mustOutput(t, w, "newest_id")); newest == id {
		t.Fatal("the next day's apply took no new backup")
	}
	if got := e.src.ExportSHA256(t, srcPool+"/"+img); !sameSum(got, changed) {
		t.Fatalf("the next day's apply restored again: %s has sha256 %s, want %s", img, got, changed)
	}
}

// mustOutput is the value of a root module output (stdout alone: the logs go
// to stderr).
func mustOutput(t *testing.T, w *workspace, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := w.command(ctx, "output", "-raw", name).Output()
	if err != nil {
		t.Fatalf("output %s: %v\n%s", name, err, out)
	}
	return string(out)
}
