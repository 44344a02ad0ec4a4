// Package cephconn holds what the provider knows about a Ceph cluster
// connection: its settings, their environment fallbacks, and a lazily opened,
// shared librados connection.
package cephconn

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// DefaultTimeout bounds connecting and each monitor or OSD operation when the
// configuration does not say otherwise.
const DefaultTimeout = 30 * time.Second

// DefaultConfigFile is where Ceph's own tools look when CEPH_CONF is unset.
const DefaultConfigFile = "/etc/ceph/ceph.conf"

// Config describes how to reach one cluster. Empty fields mean "not set".
type Config struct {
	ConfigFile string
	MonHost    string
	User       string
	Keyring    string
	Key        string
	Timeout    time.Duration
	// MsMode is one of MsModes; Options are extra librados settings,
	// checked by CheckOption.
	MsMode  string
	Options map[string]string
}

// MsModes are the accepted ms_mode values, named as krbd's map option names
// them, and the msgr2 connection modes each one asks Ceph for, in order of
// preference (ms_client_mode / ms_mon_client_mode take such a list).
var MsModes = map[string]string{
	"crc":           "crc",
	"secure":        "secure",
	"prefer-crc":    "crc secure",
	"prefer-secure": "secure crc",
}

// MsModeNames lists MsModes for messages, in a fixed order.
const MsModeNames = "crc, secure, prefer-crc, prefer-secure"

// msModeOptions are the librados settings ms_mode sets; empty when unset, so
// the config file (or Ceph's default, "crc secure") decides.
func msModeOptions(mode string) map[string]string {
	modes, ok := MsModes[mode]
	if !ok {
		return nil
	}
	return map[string]string{"ms_client_mode": modes, "ms_mon_client_mode": modes}
}

// reservedOptions are librados settings an `options` entry may not set,
// with the attribute that sets them (or why they are the provider's own).
var reservedOptions = map[string]string{
	"mon_host":                           "set mon_host instead",
	"mon_addr":                           "set mon_host instead",
	"keyring":                            "set keyring instead (keys never go in options)",
	"key":                                "set key instead (it is Sensitive; options are not)",
	"keyfile":                            "set key or keyring instead (keys never go in options)",
	"name":                               "set user instead",
	"id":                                 "set user instead",
	"ms_client_mode":                     "set ms_mode instead",
	"ms_mon_client_mode":                 "set ms_mode instead",
	"client_mount_timeout":               "set timeout instead",
	"rados_mon_op_timeout":               "set timeout instead",
	"rados_osd_op_timeout":               "set timeout instead",
	"rbd_skip_partial_discard":           "the provider pins it to false so that discarded ranges read back as zeros",
	"rbd_cache_writethrough_until_flush": "the provider pins it to true so that a crashed client's writes are never seen in a snapshot",
	"rbd_blocklist_on_break_lock":        "the provider pins it to true so that a dead lock holder cannot write after its lock is broken",
}

// OptionName is how Ceph reads an option name: dashes and spaces mean
// underscores.
func OptionName(name string) string {
	return strings.NewReplacer("-", "_", " ", "_").Replace(strings.TrimSpace(name))
}

// CheckOption reports why an `options` entry is refused, nil when it may be
// passed to librados.
func CheckOption(name string) error {
	n := OptionName(name)
	if n == "" {
		return errors.New("an empty option name")
	}
	if why, ok := reservedOptions[n]; ok {
		return fmt.Errorf("%q cannot be set in options: %s", name, why)
	}
	return nil
}

// EnvPrefix names the environment variables that fill unset fields of a
// cluster block: the source cluster uses Ceph's own names (CEPH_CONF, ...),
// the backup cluster the same names with a CEPHBACKUP_BACKUP_ prefix.
type EnvPrefix string

const (
	SourceEnv EnvPrefix = "CEPH_"
	BackupEnv EnvPrefix = "CEPHBACKUP_BACKUP_"
)

// Var returns the environment variable name for a setting, e.g. CEPH_CONF.
func (p EnvPrefix) Var(setting string) string { return string(p) + setting }

// WithEnv fills the unset fields of c from the environment. Timeout strings
// that do not parse are reported, not ignored.
func (c Config) WithEnv(p EnvPrefix, getenv func(string) string) (Config, error) {
	fill := func(field *string, setting string) {
		if *field == "" {
			*field = getenv(p.Var(setting))
		}
	}
	fill(&c.ConfigFile, "CONF")
	fill(&c.MonHost, "MON_HOST")
	fill(&c.User, "USER")
	fill(&c.Keyring, "KEYRING")
	fill(&c.Key, "KEY")
	fill(&c.MsMode, "MS_MODE")
	if c.Timeout == 0 {
		if v := getenv(p.Var("TIMEOUT")); v != "" {
			d, err := ParseTimeout(v)
			if err != nil {
				return c, fmt.Errorf("%s: %w", p.Var("TIMEOUT"), err)
			}
			c.Timeout = d
		}
	}
	return c, nil
}

// WithDefaults applies the defaults Ceph's tools use: user admin, the
// standard config file when it exists and nothing else says where the
// monitors are.
func (c Config) WithDefaults(fileExists func(string) bool) Config {
	if c.User == "" {
		c.User = "admin"
	}
	c.User = strings.TrimPrefix(c.User, "client.")
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.ConfigFile == "" && fileExists(DefaultConfigFile) {
		c.ConfigFile = DefaultConfigFile
	}
	return c
}

// ParseTimeout parses a Go duration ("30s", "2m") and requires it positive.
func ParseTimeout(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as \"30s\" or \"2m\"", s)
	}
	if d < time.Second {
		return 0, fmt.Errorf("%q is shorter than one second", s)
	}
	return d, nil
}

// Validate reports settings that can never lead to a connection.
func (c Config) Validate() error {
	if c.ConfigFile == "" && c.MonHost == "" {
		return errors.New("neither config_file nor mon_host is set, and " + DefaultConfigFile +
			" does not exist: set one of them (or CEPH_CONF / CEPH_MON_HOST)")
	}
	if c.ConfigFile != "" {
		if err := readable(c.ConfigFile); err != nil {
			return fmt.Errorf("config_file: %w", err)
		}
	}
	if c.Keyring != "" {
		if err := readable(c.Keyring); err != nil {
			return fmt.Errorf("keyring: %w", err)
		}
	}
	if _, ok := MsModes[c.MsMode]; c.MsMode != "" && !ok {
		return fmt.Errorf("ms_mode %q is not one of %s: set ms_mode (or %s / %s) to one of them",
			c.MsMode, MsModeNames, SourceEnv.Var("MS_MODE"), BackupEnv.Var("MS_MODE"))
	}
	for name := range c.Options {
		if err := CheckOption(name); err != nil {
			return fmt.Errorf("options: %w", err)
		}
	}
	if strings.ContainsAny(c.User, " \t\n") {
		return fmt.Errorf("user %q contains white space", c.User)
	}
	return nil
}

func readable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s does not exist", path)
		}
		if errors.Is(err, os.ErrPermission) {
			return fmt.Errorf("%s is not readable by the provider (permission denied)", path)
		}
		return err
	}
	return f.Close()
}

// FileExists reports whether path names an existing file.
func FileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir()
}
