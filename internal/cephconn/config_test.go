package cephconn

import (
	"os"
	"path/filepath"
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
	if cfg != want {
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
