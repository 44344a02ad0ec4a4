package cephconn

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestWithEnvFillsOnlyUnsetFields(t *testing.T) {
	cfg, err := Config{MonHost: "10.0.0.1"}.WithEnv(SourceEnv, env(map[string]string{
		"CEPH_CONF": "/x/ceph.conf", "CEPH_MON_HOST": "ignored", "CEPH_USER": "backup", "CEPH_TIMEOUT": "5s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{ConfigFile: "/x/ceph.conf", MonHost: "10.0.0.1", User: "backup", Timeout: 5 * time.Second}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("WithEnv = %+v, want %+v", cfg, want)
	}
}

func TestBackupClusterUsesItsOwnVariables(t *testing.T) {
	cfg, _ := Config{}.WithEnv(BackupEnv, env(map[string]string{"CEPH_CONF": "/src.conf", "CEPHBACKUP_BACKUP_CONF": "/dst.conf"}))
	if cfg.ConfigFile != "/dst.conf" {
		t.Fatalf("backup cluster config file = %q", cfg.ConfigFile)
	}
}

func TestWithEnvRejectsBadTimeout(t *testing.T) {
	if _, err := (Config{}).WithEnv(SourceEnv, env(map[string]string{"CEPH_TIMEOUT": "soon"})); err == nil {
		t.Fatal("an unparsable CEPH_TIMEOUT was accepted")
	}
}

func TestWithDefaults(t *testing.T) {
	none := func(string) bool { return false }
	cfg := Config{User: "client.backup"}.WithDefaults(none)
	if cfg.User != "backup" || cfg.Timeout != DefaultTimeout || cfg.ConfigFile != "" {
		t.Fatalf("WithDefaults = %+v", cfg)
	}
	if cfg := (Config{}).WithDefaults(func(p string) bool { return p == DefaultConfigFile }); cfg.ConfigFile != DefaultConfigFile || cfg.User != "admin" {
		t.Fatalf("WithDefaults without settings = %+v", cfg)
	}
}

func TestParseTimeout(t *testing.T) {
	for _, bad := range []string{"", "5", "abc", "10ms", "-3s"} {
		if _, err := ParseTimeout(bad); err == nil {
			t.Errorf("ParseTimeout(%q) accepted it", bad)
		}
	}
	if d, err := ParseTimeout("2m"); err != nil || d != 2*time.Minute {
		t.Fatalf("ParseTimeout(2m) = %v, %v", d, err)
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "ceph.conf")
	if err := os.WriteFile(conf, []byte("[global]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		cfg  Config
		want string
	}{
		{Config{}, "neither config_file nor mon_host"},
		{Config{ConfigFile: filepath.Join(dir, "missing.conf")}, "does not exist"},
		{Config{MonHost: "127.0.0.1", Keyring: filepath.Join(dir, "nokeyring")}, "keyring"},
		{Config{ConfigFile: conf, User: "a b"}, "white space"},
	}
	for _, c := range cases {
		err := c.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(%+v) = %v, want an error mentioning %q", c.cfg, err, c.want)
		}
	}
	if err := (Config{ConfigFile: conf, User: "admin"}).Validate(); err != nil {
		t.Fatalf("a good config was refused: %v", err)
	}
}

type coded int

func (c coded) Error() string  { return "ceph error" }
func (c coded) ErrorCode() int { return int(c) }

func TestExplainMapsCommonErrnos(t *testing.T) {
	cases := map[syscall.Errno]string{
		syscall.ENOENT:    "does not exist",
		syscall.EEXIST:    "already exists",
		syscall.EBUSY:     "busy",
		syscall.EACCES:    "permission denied",
		syscall.EPERM:     "profile rbd",
		syscall.ETIMEDOUT: "timed out",
	}
	for errno, want := range cases {
		got := Explain("image rbd/vol", coded(-int(errno)))
		if !strings.Contains(got, want) || !strings.Contains(got, "rbd/vol") {
			t.Errorf("Explain(errno %d) = %q, want it to mention %q and the image", errno, got, want)
		}
	}
	if !Is(&Error{What: "x", Err: coded(-2)}, syscall.ENOENT) {
		t.Fatal("Is does not see the errno through Error")
	}
	named := (&Error{What: "image rbd/vol", Err: coded(-int(syscall.EPERM)), Pool: "rbd", User: "bk"}).Error()
	if want := "client.bk lacks the capability: grant it osd 'profile rbd pool=rbd'"; !strings.Contains(named, want) {
		t.Errorf("permission error %q does not say %q", named, want)
	}
}

func TestMsModeFromEnvAndItsLibradosSettings(t *testing.T) {
	cfg, err := Config{}.WithEnv(BackupEnv, env(map[string]string{"CEPH_MS_MODE": "crc", "CEPHBACKUP_BACKUP_MS_MODE": "prefer-secure"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MsMode != "prefer-secure" {
		t.Fatalf("backup ms_mode from the environment = %q, want prefer-secure", cfg.MsMode)
	}
	set, _ := Config{MsMode: "secure"}.WithEnv(SourceEnv, env(map[string]string{"CEPH_MS_MODE": "crc"}))
	if set.MsMode != "secure" {
		t.Fatalf("CEPH_MS_MODE overrode the configured ms_mode: %q", set.MsMode)
	}
	for mode, want := range map[string]string{"crc": "crc", "secure": "secure", "prefer-crc": "crc secure", "prefer-secure": "secure crc"} {
		got := msModeOptions(mode)
		if got["ms_client_mode"] != want || got["ms_mon_client_mode"] != want || len(got) != 2 {
			t.Errorf("ms_mode %s sets %v, want ms_client_mode and ms_mon_client_mode = %q", mode, got, want)
		}
	}
	if got := msModeOptions(""); len(got) != 0 {
		t.Errorf("an unset ms_mode sets %v; the config file must decide", got)
	}
}

func TestValidateMsModeAndOptions(t *testing.T) {
	base := Config{MonHost: "10.0.0.1", User: "backup"}
	for _, tc := range []struct {
		name    string
		mode    string
		options map[string]string
		wantErr string
	}{
		{name: "timeout spelt with dashes", mode: "prefer-secure", options: map[string]string{"rados-osd-op-timeout": "x"}, wantErr: "set timeout instead"},
		{name: "unknown mode", mode: "tls", wantErr: `ms_mode "tls" is not one of crc, secure`},
		{name: "a plain option", mode: "secure", options: map[string]string{"ms_connection_ready_timeout": "10"}},
		{name: "key", options: map[string]string{"key": "AQ=="}, wantErr: "set key instead"},
		{name: "keyring spelt with spaces", options: map[string]string{" keyring ": "/k"}, wantErr: "set keyring instead"},
		{name: "ms mode spelt with dashes", options: map[string]string{"ms-client-mode": "crc"}, wantErr: "set ms_mode instead"},
		{name: "pinned", options: map[string]string{"rbd_skip_partial_discard": "true"}, wantErr: "pins it to false"},
		{name: "mon host", options: map[string]string{"mon host": "x"}, wantErr: "set mon_host instead"},
		{name: "empty name", options: map[string]string{"": "x"}, wantErr: "empty option name"},
	} {
		cfg := base
		cfg.MsMode, cfg.Options = tc.mode, tc.options
		err := cfg.Validate()
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: Validate = %v, want an error containing %q", tc.name, err, tc.wantErr)
		}
	}
}

// Every option the provider pins on a connection is refused in options, so
// the order in which they are set can never matter.
func TestEveryPinnedOptionIsReserved(t *testing.T) {
	pinned := clientOptions(time.Minute)
	for opt := range msModeOptions("secure") {
		pinned[opt] = ""
	}
	for opt := range pinned {
		if CheckOption(opt) == nil {
			t.Errorf("options may set %s, which the provider pins", opt)
		}
	}
}
