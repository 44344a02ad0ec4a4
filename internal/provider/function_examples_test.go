package provider

import (
	"context"
	"encoding/json"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// callsFunction matches a configuration that calls one of the provider's
// functions.
var callsFunction = regexp.MustCompile(`provider::cephbackup::`)

// skipWithoutFunctions skips a test whose configuration calls provider
// functions when the CLI cannot: Terraform before 1.8, OpenTofu before 1.7.
func skipWithoutFunctions(t *testing.T, bin string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "version", "-json").Output()
	if err != nil {
		t.Fatalf("%s version -json: %v", bin, err)
	}
	var v struct {
		Version string `json:"terraform_version"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("%s version -json: %v\n%s", bin, err, out)
	}
	text, err := exec.CommandContext(ctx, bin, "version").Output()
	if err != nil {
		t.Fatalf("%s version: %v", bin, err)
	}
	name, need := "Terraform", 8
	if strings.HasPrefix(string(text), "OpenTofu") {
		name, need = "OpenTofu", 7
	}
	parts := strings.SplitN(v.Version, ".", 3)
	if len(parts) < 2 {
		t.Fatalf("%s version -json gave version %q", bin, v.Version)
	}
	major, _ := strconv.Atoi(parts[0])
	minor, _ := strconv.Atoi(parts[1])
	if major == 1 && minor < need {
		t.Skipf("calls provider functions, which need %s >= 1.%d; this is %s %s", name, need, name, v.Version)
	}
}
