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
