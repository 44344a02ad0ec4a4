package cephconn

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/ceph/go-ceph/rados"
	"github.com/ceph/go-ceph/rbd"
)

// Client is one cluster connection, opened on first use and then shared by
// every resource of the provider process. A plan that never touches a cluster
// never connects to it.
type Client struct {
	name string // "cluster" or "backup_cluster", for messages
	cfg  Config

	once sync.Once
	conn *rados.Conn
	fsid string
	err  error

	mu     sync.Mutex
	ioctxs map[string]*rados.IOContext
}

// NewClient returns a client that connects lazily with cfg.
func NewClient(name string, cfg Config) *Client {
	return &Client{name: name, cfg: cfg, ioctxs: map[string]*rados.IOContext{}}
}

// Name is the provider block this client comes from.
func (c *Client) Name() string { return c.name }

// User is the cephx user this client authenticates as.
func (c *Client) User() string { return c.cfg.User }

// Conn returns the connection, connecting first if needed. The outcome of the
// first attempt, good or bad, is kept: a cluster that was unreachable once
// during a run fails every later use fast instead of waiting again. The
// attempt is bounded by the configured timeout, not by the first caller's
// context: it is shared, and one caller giving up must not fail the others.
func (c *Client) Conn(ctx context.Context) (*rados.Conn, error) {
	done := make(chan struct{})
	go func() {
		c.once.Do(func() { c.conn, c.fsid, c.err = c.connect() })
		close(done)
	}()
	select {
	case <-done:
		return c.conn, c.err
	case <-ctx.Done():
		return nil, fmt.Errorf("connecting to %s: %w", c.name, ctx.Err())
	}
}

// FSID is the cluster's fsid.
func (c *Client) FSID(ctx context.Context) (string, error) {
	if _, err := c.Conn(ctx); err != nil {
		return "", err
	}
	return c.fsid, nil
}

// IOContext returns a shared I/O context for pool.
func (c *Client) IOContext(ctx context.Context, poolPath string) (*rados.IOContext, error) {
	conn, err := c.Conn(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ioctx, ok := c.ioctxs[poolPath]; ok {
		return ioctx, nil
	}
	pool, namespace := SplitPoolPath(poolPath)
	ioctx, err := conn.OpenIOContext(pool)
	if err != nil {
		return nil, &Error{What: fmt.Sprintf("pool %q on %s", pool, c.name), Err: err}
	}
	if namespace != "" {
		// librados accepts any namespace name and librbd then reports every
		// image in a missing one as missing: say which is missing instead.
		// A user whose caps are limited to the namespace may not read the
		// pool's namespace list: it then finds out on first use.
		exists, err := rbd.NamespaceExists(ioctx, namespace)
		if err == nil && !exists {
			err = syscall.ENOENT
		} else if Is(err, syscall.EPERM) || Is(err, syscall.EACCES) {
			err = nil
		}
		if err != nil {
			ioctx.Destroy()
			return nil, &NamespaceError{Pool: pool, Namespace: namespace, Cluster: c.name, Err: &Error{
				What: fmt.Sprintf("namespace %q of pool %q on %s", namespace, pool, c.name), Err: err, Pool: poolPath, User: c.cfg.User}}
		}
		ioctx.SetNamespace(namespace)
	}
	c.ioctxs[poolPath] = ioctx
	return ioctx, nil
}

// NamespaceError is a RADOS namespace that IOContext could not use (most
// often: it does not exist), so that the provider can put the diagnostic on
// the namespace attribute rather than the pool's.
type NamespaceError struct {
	Pool, Namespace, Cluster string
	Err                      error
}

func (e *NamespaceError) Error() string {
	if Is(e.Err, syscall.ENOENT) {
		return fmt.Sprintf("namespace %q of pool %q on %s does not exist: create it with `rbd namespace create --pool %s --namespace %s`, or check the name",
			e.Namespace, e.Pool, e.Cluster, e.Pool, e.Namespace)
	}
	return e.Err.Error()
}
func (e *NamespaceError) Unwrap() error { return e.Err }

// Close releases the connection if one was opened. The provider keeps its
// clients for the life of the process; tests that open their own close them.
func (c *Client) Close() {
	c.mu.Lock()
	for pool, ioctx := range c.ioctxs {
		ioctx.Destroy()
		delete(c.ioctxs, pool)
	}
	c.mu.Unlock()
	if c.conn != nil {
		c.conn.Shutdown()
	}
}

// clientOptions are set on every connection, after the config file is read
// so that it cannot override them: the timeouts make an
// unreachable monitor or a stopped OSD an error instead of a hang, and
// rbd_skip_partial_discard=false makes Discard zero small or unaligned ranges
// instead of silently keeping their data (see the engine's zero handling).
func clientOptions(timeout time.Duration) map[string]string {
	secs := strconv.Itoa(int((timeout + time.Second - 1) / time.Second))
	return map[string]string{
		"client_mount_timeout":     secs,
		"rados_mon_op_timeout":     secs,
		"rados_osd_op_timeout":     secs,
		"rbd_skip_partial_discard": "false",
		// librbd's own default, stated so a ceph.conf cannot turn it off:
		// a crashed client's writes must never be visible as a snapshot.
		"rbd_cache_writethrough_until_flush": "true",
		// Also librbd's default, pinned so a ceph.conf cannot turn it off:
		// when this client breaks a dead holder's exclusive lock, the
		// holder is blocklisted first, so none of its late writes can land
		// after the lock has changed hands.
		"rbd_blocklist_on_break_lock": "true",
	}
}

func (c *Client) connect() (*rados.Conn, string, error) {
	fail := func(format string, args ...any) (*rados.Conn, string, error) {
		return nil, "", fmt.Errorf("connecting to %s: "+format, append([]any{c.name}, args...)...)
	}
	conn, err := rados.NewConnWithUser(c.cfg.User)
	if err != nil {
		return fail("creating a librados handle for user %q: %v", c.cfg.User, err)
	}
	if c.cfg.ConfigFile != "" {
		if err := conn.ReadConfigFile(c.cfg.ConfigFile); err != nil {
			conn.Shutdown()
			return fail("reading config_file %s: %v", c.cfg.ConfigFile, err)
		}
	}
	// The operator's options come first, so that nothing the provider sets
	// below can be overridden by them (CheckOption refuses those anyway).
	for opt, val := range c.cfg.Options {
		if err := conn.SetConfigOption(OptionName(opt), val); err != nil {
			conn.Shutdown()
			return fail("setting options[%q] = %q: librados does not accept it (%v); check the name and value against Ceph's configuration reference", opt, val, err)
		}
	}
	settings := clientOptions(c.cfg.Timeout)
	for opt, val := range msModeOptions(c.cfg.MsMode) {
		settings[opt] = val
	}
	if c.cfg.MonHost != "" {
		settings["mon_host"] = c.cfg.MonHost
	}
	if c.cfg.Keyring != "" {
		settings["keyring"] = c.cfg.Keyring
	}
	for opt, val := range settings {
		if err := conn.SetConfigOption(opt, val); err != nil {
			conn.Shutdown()
			return fail("setting %s: %v", opt, err)
		}
	}
	if c.cfg.Key != "" {
		// Passed straight to librados, never written to a file or a log.
		if err := conn.SetConfigOption("key", c.cfg.Key); err != nil {
			conn.Shutdown()
			return fail("the key is not a valid cephx secret (base64, as printed by `ceph auth print-key`)")
		}
	}

	done := make(chan error, 1)
	go func() { done <- conn.Connect() }()
	// librados honours client_mount_timeout; the extra margin only guards
	// against a library that does not. On expiry the handle is abandoned
	// (freeing it while Connect runs would be unsafe).
	guard := time.NewTimer(c.cfg.Timeout + 5*time.Second)
	defer guard.Stop()
	select {
	case err = <-done:
	case <-guard.C:
		return fail("no answer from the monitors within %s", c.cfg.Timeout)
	}
	if err != nil {
		conn.Shutdown()
		if c.cfg.MsMode == "crc" && (Is(err, syscall.EACCES) || Is(err, syscall.EPERM)) && c.acceptsSecure() {
			return fail("the cluster requires secure mode (msgr2 encryption) and ms_mode = \"crc\" forbids it: " +
				"librados reports this as permission denied, and the same credentials connect in secure mode. " +
				"Set ms_mode = \"secure\" (or \"prefer-secure\")")
		}
		return fail("%s", explainConnect(c.cfg, err))
	}
	fsid, err := conn.GetFSID()
	if err != nil {
		conn.Shutdown()
		return fail("reading the fsid: %v", err)
	}
	return conn, fsid, nil
}

// acceptsSecure tells a refusal of crc mode from one of the credentials
// (librados says EACCES for both): it tries the same settings in secure mode.
func (c *Client) acceptsSecure() bool {
	cfg := c.cfg
	cfg.MsMode = "secure"
	conn, _, err := (&Client{name: c.name, cfg: cfg}).connect()
	if err != nil {
		return false
	}
	conn.Shutdown()
	return true
}

// explainConnect turns a failed Connect into what to check, for the errnos
// that mean a wrong address, user or secret.
func explainConnect(cfg Config, err error) string {
	where := cfg.MonHost
	if where == "" {
		where = "the monitors in " + cfg.ConfigFile
	}
	switch Errno(err) {
	case syscall.ETIMEDOUT:
		return fmt.Sprintf("no answer from %s within %s: check mon_host and that the monitors are up and reachable", where, cfg.Timeout)
	case syscall.EPERM, syscall.EACCES:
		return fmt.Sprintf("authentication as client.%s was refused by %s: check user and key/keyring", cfg.User, where)
	case syscall.ENOENT:
		return fmt.Sprintf("no keyring or key found for client.%s: set key or keyring", cfg.User)
	}
	return err.Error()
}
