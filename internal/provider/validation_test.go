package provider

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
)

// These tests need no cluster and no TF_ACC: what they check fails at
// validation or when the provider is configured, and connections open only
// when a resource first needs one (TestConfigure_connectsLazily).

// unitFactories serves the provider with env as its environment, so the
// machine's CEPH_* variables cannot change what a test sees.
func unitFactories(env map[string]string) map[string]func() (tfprotov6.ProviderServer, error) {
	p := &cephbackupProvider{version: "test", getenv: func(k string) string { return env[k] }}
	return map[string]func() (tfprotov6.ProviderServer, error){
		"cephbackup": providerserver.NewProtocol6WithError(p),
	}
}

// unreachableProvider points at a port where no monitor listens: a test
// that connected would fail with "no answer", not with what it expects.
const unreachableProvider = `
provider "cephbackup" {
  cluster = { mon_host = "127.0.0.1:9", user = "u", key = "AQAAAAAAAAAAABAAAAAAAAAAAAAAAAAAAAAAAA==", timeout = "1s" }
}
`

// planFails checks that config fails at plan with want, without a cluster.
func planFails(t *testing.T, env map[string]string, config string, want *regexp.Regexp) {
	t.Helper()
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: unitFactories(env),
		Steps:                    []resource.TestStep{{Config: config, PlanOnly: true, ExpectError: want}},
	})
}

func fullNamed(pool, image, backupPool string) string {
	return fmt.Sprintf(`
resource "cephbackup_full" "x" {
  pool        = %q
  image       = %q
  backup_pool = %q
}
`, pool, image, backupPool)
}

func TestValidation_names(t *testing.T) {
	for _, c := range []struct {
		name, config string
		want         *regexp.Regexp
	}{
		{"image with a slash", fullNamed("rbd", "rbd/vol", "backups"), regexp.MustCompile(`(?s)Invalid name.*contains '/' or '@'`)},
		{"image with an at sign", fullNamed("rbd", "vol@snap", "backups"), regexp.MustCompile(`contains '/' or '@'`)},
		{"empty image", fullNamed("rbd", "", "backups"), wrapped("image must not be empty")},
		{"empty pool", fullNamed("", "vol", "backups"), wrapped("pool must not be empty")},
		{"backup pool with a slash", fullNamed("rbd", "vol", "a/b"), regexp.MustCompile(`backup_pool "a/b" contains '/' or '@'`)},
		// HCL's "\u0000" reaches the provider as a NUL byte: librbd would stop
		// the name there and address the image vol.
		{"image with a NUL byte", `
resource "cephbackup_full" "x" {
  pool        = "rbd"
  image       = "vol\u0000x"
  backup_pool = "backups"
}`, wrapped("contains a NUL byte")},
		{"incremental image with an at sign", `
resource "cephbackup_incremental" "x" {
  parent_id   = "0f8fad5b-d9cb-469f-a165-70867728950e"
  pool        = "rbd"
  image       = "vol@1"
  backup_pool = "backups"
}`, regexp.MustCompile(`contains '/' or '@'`)},
		{"restore target with a slash", restoreConfig("r", `"0f8fad5b-d9cb-469f-a165-70867728950e"`, "vol", "rbd/copy", ""),
			regexp.MustCompile(`target_image "rbd/copy" contains '/' or '@'`)},
		{"clone target empty", cloneConfig(`"0f8fad5b-d9cb-469f-a165-70867728950e"`, "vol", "", false), wrapped("target_image must not be empty")},
		{"data source pool with an at sign", `
data "cephbackup_restore_points" "x" {
  pool        = "rbd@x"
  image       = "vol"
  backup_pool = "backups"
}`, regexp.MustCompile(`contains '/' or '@'`)},
	} {
		t.Run(c.name, func(t *testing.T) { planFails(t, nil, unreachableProvider+c.config, c.want) })
	}
}

func TestValidation_otherArguments(t *testing.T) {
	for _, c := range []struct {
		name, config string
		want         *regexp.Regexp
	}{
		{"restore backup id not a UUID", restoreConfig("r", `"last-night"`, "vol", "copy", ""),
			regexp.MustCompile(`(?s)Invalid backup id.*"last-night" is not a backup id`)},
		{"restore backup id in upper case", restoreConfig("r", `"0F8FAD5B-D9CB-469F-A165-70867728950E"`, "vol", "copy", ""),
			regexp.MustCompile(`is not a backup id \(a lower-case UUID`)},
		{"clone backup id", cloneConfig(`"x"`, "vol", "c", false), regexp.MustCompile(`Invalid backup id`)},
		{"namespace with a slash", `
resource "cephbackup_full" "x" {
  pool        = "rbd"
  namespace   = "a/b"
  image       = "vol"
  backup_pool = "backups"
}`, regexp.MustCompile(`(?s)Invalid namespace.*namespace "a/b" contains '/' or '@'`)},
		{"empty source namespace", `
resource "cephbackup_full" "x" {
  pool        = "rbd"
  namespace   = ""
  image       = "vol"
  backup_pool = "backups"
}`, regexp.MustCompile(`(?s)Invalid namespace.*namespace must not be empty.*leave it out`)},
		{"restore target namespace with an at sign", `
resource "cephbackup_restore" "x" {
  backup_id        = "0f8fad5b-d9cb-469f-a165-70867728950e"
  pool             = "rbd"
  image            = "vol"
  backup_pool      = "backups"
  target_pool      = "rbd"
  target_namespace = "t@1"
  target_image     = "copy"
}`, regexp.MustCompile(`target_namespace "t@1" contains '/' or '@'`)},
		{"labels with a bad key", `
resource "cephbackup_full" "x" {
  pool        = "rbd"
  image       = "vol"
  backup_pool = "backups"
  labels      = { "bad key" = "x" }
}`, regexp.MustCompile(`Invalid labels`)},
		{"created_after not RFC 3339", `
data "cephbackup_restore_points" "x" {
  pool          = "rbd"
  image         = "vol"
  backup_pool   = "backups"
  created_after = "yesterday"
}`, regexp.MustCompile(`(?s)Invalid time.*"yesterday" is not a time in RFC 3339.*timeadd\(\)\.`)},
		{"resource timeout", `
resource "cephbackup_full" "x" {
  pool        = "rbd"
  image       = "vol"
  backup_pool = "backups"
  timeouts {
    create = "soon"
  }
}`, regexp.MustCompile(`(?s)Invalid Attribute Value Time Duration.*"soon" must be a string containing a sequence`)},
	} {
		t.Run(c.name, func(t *testing.T) { planFails(t, nil, unreachableProvider+c.config, c.want) })
	}
}

// Provider settings are checked when the provider is configured, before
// any connection: each error names the setting and says what to do.
func TestValidation_providerSettings(t *testing.T) {
	backup := fullNamed("rbd", "vol", "backups")
	for _, c := range []struct {
		name     string
		env      map[string]string
		provider string
		want     *regexp.Regexp
	}{
		{"keyring file missing", nil, `
provider "cephbackup" {
  cluster = { mon_host = "127.0.0.1:9", user = "u", keyring = "/nonexistent/ceph.keyring" }
}`, wrapped("keyring: /nonexistent/ceph.keyring does not exist")},
		{"config file missing", nil, `
provider "cephbackup" {
  cluster = { config_file = "/nonexistent/ceph.conf", user = "u" }
}`, wrapped("config_file: /nonexistent/ceph.conf does not exist")},
		{"invalid timeout", nil, `
provider "cephbackup" {
  cluster = { mon_host = "127.0.0.1", timeout = "soon" }
}`, regexp.MustCompile(`(?s)Invalid timeout.*"soon" is not a duration`)},
		{"timeout below a second", nil, `
provider "cephbackup" {
  backup_cluster = { mon_host = "127.0.0.1", timeout = "10ms" }
}`, regexp.MustCompile(`"10ms" is shorter than one second`)},
		{"invalid timeout in the environment", map[string]string{"CEPH_MON_HOST": "127.0.0.1:9", "CEPH_USER": "u", "CEPH_TIMEOUT": "later"},
			``, regexp.MustCompile(`(?s)Invalid timeout in the environment.*CEPH_TIMEOUT: "later" is not a duration`)},
		{"backup cluster timeout in the environment", map[string]string{"CEPH_MON_HOST": "127.0.0.1:9", "CEPH_USER": "u",
			"CEPHBACKUP_BACKUP_MON_HOST": "127.0.0.1:9", "CEPHBACKUP_BACKUP_TIMEOUT": "0.5s"},
			``, wrapped(`CEPHBACKUP_BACKUP_TIMEOUT: "0.5s" is shorter than one second`)},
		{"keyring from the environment missing", map[string]string{"CEPH_MON_HOST": "127.0.0.1:9", "CEPH_USER": "u", "CEPH_KEYRING": "/nonexistent/k"},
			``, wrapped("keyring: /nonexistent/k does not exist")},
		{"unknown ms_mode", nil, `
provider "cephbackup" {
  cluster = { mon_host = "127.0.0.1:9", user = "u", ms_mode = "tls" }
}`, regexp.MustCompile(`(?s)cluster.ms_mode.*value must be one of.*"secure"`)},
		{"unknown ms_mode in the environment", map[string]string{"CEPH_MON_HOST": "127.0.0.1:9", "CEPH_USER": "u",
			"CEPHBACKUP_BACKUP_MON_HOST": "127.0.0.1:9", "CEPHBACKUP_BACKUP_MS_MODE": "on"},
			``, wrapped(`ms_mode "on" is not one of crc, secure, prefer-crc, prefer-secure`)},
		{"a secret in options", nil, `
provider "cephbackup" {
  cluster        = { mon_host = "127.0.0.1:9", user = "u" }
  backup_cluster = { mon_host = "127.0.0.1:9", user = "u", options = { keyring = "/k" } }
}`, regexp.MustCompile(`(?s)Option not allowed in backup_cluster.options.*"keyring" cannot be set in options: set keyring instead`)},
		{"a pinned option in options", nil, `
provider "cephbackup" {
  cluster = { mon_host = "127.0.0.1:9", user = "u", options = { "rbd-skip-partial-discard" = "true" } }
}`, wrapped(`"rbd-skip-partial-discard" cannot be set in options: the provider pins it to false`)},
		{"ms modes in options", nil, `
provider "cephbackup" {
  cluster = { mon_host = "127.0.0.1:9", user = "u", options = { ms_mon_client_mode = "crc" } }
}`, wrapped(`"ms_mon_client_mode" cannot be set in options: set ms_mode instead`)},
		{"user with white space", nil, `
provider "cephbackup" {
  cluster = { mon_host = "127.0.0.1:9", user = "backup user" }
}`, wrapped(`user "backup user" contains white space`)},
		{"empty encryption passphrase", nil, `
provider "cephbackup" {
  cluster                      = { mon_host = "127.0.0.1:9", user = "u" }
  backup_encryption_passphrase = ""
}`, regexp.MustCompile(`(?s)backup_encryption_passphrase.*at least 1`)},
		{"parallelism out of range", nil, `
provider "cephbackup" {
  cluster     = { mon_host = "127.0.0.1:9", user = "u" }
  parallelism = 0
}`, regexp.MustCompile(`(?s)parallelism.*between 1 and 256`)},
		{"max_in_flight_mib out of range", nil, `
provider "cephbackup" {
  cluster           = { mon_host = "127.0.0.1:9", user = "u" }
  max_in_flight_mib = 1
}`, regexp.MustCompile(`(?s)max_in_flight_mib.*between 4 and 4096`)},
	} {
		t.Run(c.name, func(t *testing.T) { planFails(t, c.env, c.provider+backup, c.want) })
	}
}
