package provider

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/testcluster"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testcluster.ReportComparisons("provider tests: restore points and restored images")
	if providerBinDir != "" {
		_ = os.RemoveAll(providerBinDir)
	}
	os.Exit(code)
}

var testAccProtoV6ProviderFactories = map[string]func() (tfprotov6.ProviderServer, error){
	"cephbackup": providerserver.NewProtocol6WithError(New("test")()),
}

// testAccPreCheck skips acceptance tests in unit runs (no TF_ACC), as
// resource.Test does, and fails, rather than skips, when they are asked for
// without their clusters: a green acceptance run must have tested something.
func testAccPreCheck(t *testing.T) {
	t.Helper()
	if os.Getenv("TF_ACC") == "" {
		t.Skip("acceptance test: run with `make testacc`")
	}
	if os.Getenv(testcluster.DirEnv) == "" {
		t.Fatalf("%s is not set: run acceptance tests with `make testacc`, which starts the test clusters", testcluster.DirEnv)
	}
}

// accEnv is a source and a backup cluster with the restricted cephx users the
// provider is configured with: never client.admin.
type accEnv struct {
	src, dst       *testcluster.Cluster
	srcKey, dstKey string
}

const (
	srcUser = "cephbackup-src"
	dstUser = "cephbackup-dst"
	// The least privilege the provider needs, as documented in the guide.
	monCaps = "profile rbd"
)

var (
	envOnce sync.Once
	envVal  *accEnv
)

func newAccEnv(t *testing.T) *accEnv {
	t.Helper()
	testAccPreCheck(t)
	envOnce.Do(func() {
		e := &accEnv{src: testcluster.Get(t, "source"), dst: testcluster.Get(t, "backup")}
		e.srcKey = e.src.CreateUser(t, srcUser, "mon", monCaps, "osd", "profile rbd pool=rbd")
		e.dstKey = e.dst.CreateUser(t, dstUser, "mon", monCaps, "osd", "profile rbd pool=backups")
		envVal = e
	})
	if envVal == nil {
		t.Fatal("test clusters could not be prepared (see the first failing test)")
	}
	return envVal
}

// providerBlock configures the provider for both clusters by mon_host and key.
func (e *accEnv) providerBlock() string {
	return fmt.Sprintf(`
provider "cephbackup" {
  cluster = {
    mon_host = %q
    user     = %q
    key      = %q
    timeout  = "20s"
  }
  backup_cluster = {
    mon_host = %q
    user     = %q
    key      = %q
    timeout  = "20s"
  }
}
`, e.src.MonHost, srcUser, e.srcKey, e.dst.MonHost, dstUser, e.dstKey)
}

// lostSourceProviderBlock configures the provider with src, a cluster of a
// test's own that it will stop, as cluster (as srcUser with key, and a 5 s
// timeout so its loss fails fast), and the suite's backup cluster.
func (e *accEnv) lostSourceProviderBlock(src *testcluster.Cluster, key string) string {
	return fmt.Sprintf(`
provider "cephbackup" {
  cluster        = { mon_host = %q, user = %q, key = %q, timeout = "5s" }
  backup_cluster = { mon_host = %q, user = %q, key = %q }
}
`, src.MonHost, srcUser, key, e.dst.MonHost, dstUser, e.dstKey)
}

// uniqueImage returns an image name no other test uses.
func uniqueImage(prefix string) string {
	return prefix + "-" + strings.ReplaceAll(chain.NewID()[:8], "-", "")
}

// attr reads an attribute of a resource from state.
func stateAttr(s *terraform.State, name, key string) (string, error) {
	rs, ok := s.RootModule().Resources[name]
	if !ok {
		return "", fmt.Errorf("%s is not in state", name)
	}
	v, ok := rs.Primary.Attributes[key]
	if !ok {
		return "", fmt.Errorf("%s has no attribute %s", name, key)
	}
	return v, nil
}
