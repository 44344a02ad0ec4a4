package provider

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
)

// terraform-plugin-testing reattaches the in-process provider as
// registry.terraform.io/-/cephbackup and .../hashicorp/cephbackup. OpenTofu
// resolves `cephbackup` to registry.opentofu.org/hashicorp/cephbackup and
// refuses the "-" namespace on any other host ("Invalid provider namespace"),
// so when TF_ACC_TERRAFORM_PATH is OpenTofu the reattach names its registry.
// An explicit TF_ACC_PROVIDER_HOST is left as it is.
func init() {
	bin := os.Getenv("TF_ACC_TERRAFORM_PATH")
	if os.Getenv("TF_ACC") == "" || bin == "" || os.Getenv(resource.EnvTfAccProviderHost) != "" {
		return
	}
	// A binary that does not run is reported by plugin-testing itself.
	if out, err := exec.Command(bin, "version").Output(); err == nil && strings.HasPrefix(string(out), "OpenTofu") {
		_ = os.Setenv(resource.EnvTfAccProviderHost, "registry.opentofu.org")
	}
}

// TestAccExamples_actionExampleRefusedWithoutActions: the action's example
// (examples/actions), given to OpenTofu or a Terraform older than 1.14,
// fails init, validate and plan with the CLI's own "not expected here"
// message on the action block: a clear refusal, no crash and nothing done.
func TestAccExamples_actionExampleRefusedWithoutActions(t *testing.T) {
	if os.Getenv("TF_ACC") == "" {
		t.Skip("acceptance test: run with `make testacc`")
	}
	w := newWorkspace(t)
	w.env = append(w.env, "TF_LOG=")
	out, err := w.run("version")
	if err != nil {
		t.Fatal(err, out)
	}
	if minor, ok := terraformMinor(out); ok && minor >= 14 {
		t.Skipf("TF_ACC_TERRAFORM_PATH is a Terraform that runs actions:\n%s", out)
	}
	example, err := os.ReadFile("../../examples/actions/cephbackup_restore/action.tf")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.dir, "action.tf"), example, 0o600); err != nil {
		t.Fatal(err)
	}
	w.write(`provider "cephbackup" {}`)
	client, _, _ := strings.Cut(out, "\n")
	for _, cmd := range []string{"init", "validate", "plan"} {
		out, err := w.run(cmd, "-no-color")
		if err == nil {
			t.Fatalf("%s %s accepted the action example:\n%s", client, cmd, out)
		}
		if !strings.Contains(out, `Blocks of type "action" are not expected here.`) || !strings.Contains(out, `action "cephbackup_restore" "newest"`) {
			t.Fatalf("%s %s failed otherwise than by refusing the action block:\n%s", client, cmd, out)
		}
		if strings.Contains(out, "panic") || strings.Contains(out, "crash") {
			t.Fatalf("%s %s crashed:\n%s", client, cmd, out)
		}
		t.Logf("%s %s:\n%s", client, cmd, tail(out, 6))
	}
}
