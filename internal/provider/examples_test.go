package provider

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
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
				if w.terraform = os.Getenv(actionsTerraformEnv); w.terraform == "" {
					t.Skipf("declares an action, which needs Terraform >= 1.14: %s is not set (`make testacc` sets it when it has one)", actionsTerraformEnv)
				}
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
