// Package testcluster gives tests real, throwaway Ceph clusters: the ones
// `make testacc` starts (named "source" and "backup"), or extra ones a test
// starts for itself, plus helpers that check results with the rbd CLI.
//
// Helpers taking a testing.TB fail the test; the ones named ...Err, and
// Load, StartAt, StopAt and Cluster.Stop, return errors instead, for
// programs such as the benchmark.
package testcluster

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ceph/go-ceph/rados"
	"github.com/ceph/go-ceph/rbd"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/cephconn"
)

// DirEnv names the directory where `make testacc` started the clusters.
const DirEnv = "CEPHBACKUP_TEST_CLUSTERS"

// commandTimeout bounds every CLI call, so a hung cluster fails a test
// instead of hanging CI.
const commandTimeout = 2 * time.Minute

// Cluster is one running test cluster.
type Cluster struct {
	Name, Dir, ConfFile, AdminKeyring, MonHost, FSID string

	mu   sync.Mutex
	conn *rados.Conn
}

// Script is the path of testcluster.sh.
func Script() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "testcluster.sh")
}

var (
	registry   = map[string]*Cluster{}
	registryMu sync.Mutex
)

// Get returns the cluster NAME started by `make testacc`.
func Get(t testing.TB, name string) *Cluster {
	t.Helper()
	dir := os.Getenv(DirEnv)
	if dir == "" {
		t.Fatalf("%s is not set: start the test clusters with `make testacc`", DirEnv)
	}
	c, err := Load(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Load returns the running cluster DIR/NAME, from the env file the script
// wrote when it started it.
func Load(dir, name string) (*Cluster, error) {
	dir = filepath.Join(dir, name)
	registryMu.Lock()
	defer registryMu.Unlock()
	if c, ok := registry[dir]; ok {
		return c, nil
	}
	env, err := readEnv(filepath.Join(dir, "env"))
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w (is it started?)", name, err)
	}
	c := &Cluster{Name: name, Dir: dir, ConfFile: env["CEPH_CONF"], AdminKeyring: env["CEPH_KEYRING"], MonHost: env["MON_HOST"], FSID: env["FSID"]}
	for k, v := range map[string]string{"CEPH_CONF": c.ConfFile, "CEPH_KEYRING": c.AdminKeyring, "MON_HOST": c.MonHost, "FSID": c.FSID} {
		if v == "" {
			return nil, fmt.Errorf("cluster %s: %s has no %s (written by another version of testcluster.sh? stop and start it again)", name, filepath.Join(dir, "env"), k)
		}
	}
	registry[dir] = c
	return c, nil
}

func readEnv(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	return env, sc.Err()
}

// Start starts a fresh cluster of its own for t and stops it when t ends.
func Start(t testing.TB, name string) *Cluster {
	t.Helper()
	base := os.Getenv(DirEnv)
	if base == "" {
		base = t.TempDir()
	}
	base = filepath.Join(base, "extra")
	name = fmt.Sprintf("%s-%d", name, time.Now().UnixNano()%1e6)
	cs, err := StartAt(base, 0, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cs[0].Stop(); err != nil {
			t.Error(err)
		}
	})
	return cs[0]
}

// StartAt starts (or finds running) the clusters DIR/NAME... with a memstore
// OSD of memstoreBytes each (0: the script's default).
func StartAt(dir string, memstoreBytes int64, names ...string) ([]*Cluster, error) {
	return startAt(dir, memstoreBytes, nil, names...)
}

// StartSecureAt is StartAt for clusters whose monitor listens on msgr2 (and
// v1) and whose daemons and clients must all use msgr2's secure mode; their
// ceph.conf says so, so the CLI helpers speak secure to them.
func StartSecureAt(dir string, memstoreBytes int64, names ...string) ([]*Cluster, error) {
	return startAt(dir, memstoreBytes, []string{"TESTCLUSTER_MSGR2=secure"}, names...)
}

func startAt(dir string, memstoreBytes int64, env []string, names ...string) ([]*Cluster, error) {
	if memstoreBytes > 0 {
		env = append(env, fmt.Sprintf("TESTCLUSTER_MEMSTORE_BYTES=%d", memstoreBytes))
	}
	// Each start gets the time of one command: a loaded machine starts them slowly.
	if err := script(time.Duration(max(len(names), 1))*commandTimeout, env, append([]string{"start", dir}, names...)...); err != nil {
		return nil, err
	}
	cs := make([]*Cluster, len(names))
	for i, name := range names {
		c, err := Load(dir, name)
		if err != nil {
			return nil, err
		}
		cs[i] = c
	}
	return cs, nil
}

// StopAt stops the clusters DIR/NAME..., or every cluster under DIR when no
// name is given, and removes their data. Where none runs it does nothing.
func StopAt(dir string, names ...string) error {
	return script(commandTimeout, nil, append([]string{"stop", dir}, names...)...)
}

// Stop closes the cluster's connection, stops it and removes its data.
func (c *Cluster) Stop() error {
	c.closeConn()
	registryMu.Lock()
	delete(registry, c.Dir)
	registryMu.Unlock()
	return StopAt(filepath.Dir(c.Dir), filepath.Base(c.Dir))
}

func script(timeout time.Duration, env []string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, Script(), args...)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("testcluster.sh %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// CommandContext is a Ceph CLI (rbd, ceph) run as the cluster's client.admin.
func (c *Cluster) CommandContext(ctx context.Context, tool string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, tool, append([]string{"-c", c.ConfFile, "--keyring", c.AdminKeyring, "--id", "admin"}, args...)...)
}

func (c *Cluster) cli(tool string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := c.CommandContext(ctx, tool, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", tool, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// RBDErr runs the rbd CLI as client.admin.
func (c *Cluster) RBDErr(args ...string) (string, error) { return c.cli("rbd", args...) }

// RBD runs the rbd CLI as client.admin and fails t on a non-zero exit.
func (c *Cluster) RBD(t testing.TB, args ...string) string {
	t.Helper()
	out, err := c.RBDErr(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// CephErr runs the ceph CLI as client.admin.
func (c *Cluster) CephErr(args ...string) (string, error) { return c.cli("ceph", args...) }

// Ceph runs the ceph CLI as client.admin and fails t on a non-zero exit.
func (c *Cluster) Ceph(t testing.TB, args ...string) string {
	t.Helper()
	out, err := c.CephErr(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// CreateUser makes (or finds) client.ID with caps given as pairs
// ("mon", "profile rbd", "osd", "profile rbd pool=rbd") and returns its key.
func (c *Cluster) CreateUser(t testing.TB, id string, caps ...string) string {
	t.Helper()
	c.Ceph(t, append([]string{"auth", "get-or-create", "client." + id}, caps...)...)
	return strings.TrimSpace(c.Ceph(t, "auth", "print-key", "client."+id))
}

// WriteKeyring writes a keyring file for client.ID (mode 0600) and returns its path.
func (c *Cluster) WriteKeyring(t testing.TB, id, key string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ceph.client."+id+".keyring")
	if err := os.WriteFile(path, []byte(fmt.Sprintf("[client.%s]\n\tkey = %s\n", id, key)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// CreatePool creates an RBD pool if it does not exist.
func (c *Cluster) CreatePool(t testing.TB, pool string) {
	t.Helper()
	c.Ceph(t, "osd", "pool", "create", pool, "8", "8")
	c.RBD(t, "pool", "init", pool)
}

// ExportSHA256 is the sha256 of `rbd export SPEC -`, streamed.
func (c *Cluster) ExportSHA256(t testing.TB, spec string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := c.CommandContext(ctx, "rbd", "export", "--no-progress", spec, "-")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	_, copyErr := io.Copy(h, out)
	if err := cmd.Wait(); err != nil || copyErr != nil {
		t.Fatalf("rbd export %s: %v %v: %s", spec, err, copyErr, stderr.String())
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Snapshots lists the snapshot names of pool/image.
func (c *Cluster) Snapshots(t testing.TB, pool, image string) []string {
	t.Helper()
	var snaps []struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal([]byte(c.RBD(t, "snap", "ls", "--format", "json", pool+"/"+image)), &snaps); err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(snaps))
	for i, s := range snaps {
		names[i] = s.Name
	}
	return names
}

// ImageExists says whether pool/image exists.
func (c *Cluster) ImageExists(t testing.TB, pool, image string) bool {
	t.Helper()
	var names []string
	if err := json.Unmarshal([]byte(c.RBD(t, "ls", "--format", "json", pool)), &names); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if n == image {
			return true
		}
	}
	return false
}

// ImageSize is the size of pool/image in bytes.
func (c *Cluster) ImageSize(t testing.TB, pool, image string) uint64 {
	t.Helper()
	var info struct {
		Size uint64 `json:"size"`
	}
	if err := json.Unmarshal([]byte(c.RBD(t, "info", "--format", "json", pool+"/"+image)), &info); err != nil {
		t.Fatal(err)
	}
	return info.Size
}

func (c *Cluster) script(t testing.TB, cmd string) {
	t.Helper()
	if err := script(commandTimeout, nil, cmd, filepath.Dir(c.Dir), filepath.Base(c.Dir)); err != nil {
		t.Fatal(err)
	}
}

// StopDaemons kills the cluster's daemons, as if the cluster were lost.
func (c *Cluster) StopDaemons(t testing.TB) { c.closeConn(); c.script(t, "stop-daemons") }

// PauseOSD freezes the OSD (SIGSTOP); ResumeOSD thaws it and waits until it
// serves I/O again.
func (c *Cluster) PauseOSD(t testing.TB)  { c.script(t, "pause") }
func (c *Cluster) ResumeOSD(t testing.TB) { c.script(t, "resume") }

// AdminConfig is how the provider's engine reaches this cluster as
// client.admin, for tests that work outside Terraform.
func (c *Cluster) AdminConfig() cephconn.Config {
	return cephconn.Config{ConfigFile: c.ConfFile, User: "admin", Keyring: c.AdminKeyring, Timeout: 30 * time.Second}
}

// admin returns a cached go-ceph connection as client.admin. Discards zero
// even small unaligned ranges (rbd_skip_partial_discard=false).
func (c *Cluster) admin() (*rados.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		return c.conn, nil
	}
	conn, err := rados.NewConnWithUser("admin")
	if err == nil {
		err = conn.ReadConfigFile(c.ConfFile)
	}
	if err == nil {
		err = conn.SetConfigOption("rbd_skip_partial_discard", "false")
	}
	if err == nil {
		err = conn.Connect()
	}
	if err != nil {
		return nil, fmt.Errorf("connecting to %s as admin: %w", c.Name, err)
	}
	c.conn = conn
	return conn, nil
}

func (c *Cluster) closeConn() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		c.conn.Shutdown()
		c.conn = nil
	}
}

// OnImage runs f on pool/image, opened read-write as client.admin; pool
// may be a pool path ("pool/namespace").
func (c *Cluster) OnImage(pool, image string, f func(*rbd.Image) error) error {
	conn, err := c.admin()
	if err != nil {
		return err
	}
	poolName, namespace := cephconn.SplitPoolPath(pool)
	ioctx, err := conn.OpenIOContext(poolName)
	if err != nil {
		return fmt.Errorf("%s: pool %s: %w", c.Name, pool, err)
	}
	defer ioctx.Destroy()
	ioctx.SetNamespace(namespace)
	img, err := rbd.OpenImage(ioctx, image, rbd.NoSnapshot)
	if err != nil {
		return fmt.Errorf("opening %s/%s: %w", pool, image, err)
	}
	defer img.Close()
	if err := f(img); err != nil {
		return fmt.Errorf("%s/%s: %w", pool, image, err)
	}
	return nil
}

func (c *Cluster) withImage(t testing.TB, pool, image string, f func(*rbd.Image) error) {
	t.Helper()
	if err := c.OnImage(pool, image, f); err != nil {
		t.Fatal(err)
	}
}

// CreateImageErr creates pool/image with the cluster's default features.
func (c *Cluster) CreateImageErr(pool, image string, size uint64) error {
	_, err := c.RBDErr("create", "--no-progress", "--size", fmt.Sprintf("%dB", size), pool+"/"+image)
	return err
}

// CreateImage creates pool/image with the cluster's default features.
func (c *Cluster) CreateImage(t testing.TB, pool, image string, size uint64) {
	t.Helper()
	if err := c.CreateImageErr(pool, image, size); err != nil {
		t.Fatal(err)
	}
}

// Write writes data at off.
func (c *Cluster) Write(t testing.TB, pool, image string, off int64, data []byte) {
	t.Helper()
	c.withImage(t, pool, image, func(img *rbd.Image) error {
		_, err := img.WriteAt(data, off)
		return err
	})
}

// WriteRandomErr writes length bytes of pseudo-random data, the same for the same seed.
func (c *Cluster) WriteRandomErr(pool, image string, off, length, seed int64) error {
	rng := rand.New(rand.NewSource(seed))
	return c.OnImage(pool, image, func(img *rbd.Image) error {
		buf := make([]byte, 4<<20)
		for done := int64(0); done < length; {
			n := min(int64(len(buf)), length-done)
			rng.Read(buf[:n])
			if _, err := img.WriteAt(buf[:n], off+done); err != nil {
				return err
			}
			done += n
		}
		return nil
	})
}

// WriteRandom writes length bytes of pseudo-random data, the same for the same seed.
func (c *Cluster) WriteRandom(t testing.TB, pool, image string, off, length, seed int64) {
	t.Helper()
	if err := c.WriteRandomErr(pool, image, off, length, seed); err != nil {
		t.Fatal(err)
	}
}

// Discard zeroes [off, off+length), even where it is small and unaligned.
func (c *Cluster) Discard(t testing.TB, pool, image string, off, length int64) {
	t.Helper()
	c.withImage(t, pool, image, func(img *rbd.Image) error {
		_, err := img.Discard(uint64(off), uint64(length))
		return err
	})
}

// Resize changes the size of pool/image.
func (c *Cluster) Resize(t testing.TB, pool, image string, size uint64) {
	t.Helper()
	c.RBD(t, "resize", "--no-progress", "--allow-shrink", "--size", fmt.Sprintf("%dB", size), pool+"/"+image)
}

// Snap takes a snapshot of pool/image.
func (c *Cluster) Snap(t testing.TB, pool, image, snap string) {
	t.Helper()
	c.RBD(t, "snap", "create", "--no-progress", pool+"/"+image+"@"+snap)
}

var compared, differed atomic.Int64

// Same records one comparison of two `rbd export` checksums (a restore point
// or restored image against what it must equal) and says whether it held.
// ReportComparisons prints the counts.
func Same(got, want string) bool {
	compared.Add(1)
	if got != want {
		differed.Add(1)
	}
	return got == want
}

// ReportComparisons prints, for the README's reliability table, how many
// comparisons a test binary made with Same and how many held.
func ReportComparisons(what string) {
	if n := compared.Load(); n > 0 {
		fmt.Printf("%s compared bit for bit with rbd export: %d, exact: %d\n", what, n, n-differed.Load())
	}
}
