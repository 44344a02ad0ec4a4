// Package testcluster gives tests real, throwaway Ceph clusters: the ones
// `make testacc` starts (named "source" and "backup"), or extra ones a test
// starts for itself, plus helpers that check results with the rbd CLI.
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
	return load(t, filepath.Join(dir, name), name)
}

func load(t testing.TB, dir, name string) *Cluster {
	t.Helper()
	registryMu.Lock()
	defer registryMu.Unlock()
	if c, ok := registry[dir]; ok {
		return c
	}
	env, err := readEnv(filepath.Join(dir, "env"))
	if err != nil {
		t.Fatalf("cluster %s: %v (is it started?)", name, err)
	}
	c := &Cluster{Name: name, Dir: dir, ConfFile: env["CEPH_CONF"], AdminKeyring: env["CEPH_KEYRING"], MonHost: env["MON_HOST"], FSID: env["FSID"]}
	registry[dir] = c
	return c
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
	if out, err := run(Script(), "start", base, name); err != nil {
		t.Fatalf("starting cluster %s: %v\n%s", name, err, out)
	}
	c := load(t, filepath.Join(base, name), name)
	t.Cleanup(func() {
		c.closeConn()
		if out, err := run(Script(), "stop", base, name); err != nil {
			t.Errorf("stopping cluster %s: %v\n%s", name, err, out)
		}
		registryMu.Lock()
		delete(registry, c.Dir)
		registryMu.Unlock()
	})
	return c
}

func run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

func (c *Cluster) cli(tool string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	full := append([]string{"-c", c.ConfFile, "--keyring", c.AdminKeyring, "--id", "admin"}, args...)
	cmd := exec.CommandContext(ctx, tool, full...)
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

// Ceph runs the ceph CLI as client.admin and fails t on a non-zero exit.
func (c *Cluster) Ceph(t testing.TB, args ...string) string {
	t.Helper()
	out, err := c.cli("ceph", args...)
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
	cmd := exec.CommandContext(ctx, "rbd", "-c", c.ConfFile, "--keyring", c.AdminKeyring, "--id", "admin", "export", "--no-progress", spec, "-")
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
	if out, err := run(Script(), cmd, filepath.Dir(c.Dir), filepath.Base(c.Dir)); err != nil {
		t.Fatalf("%s %s: %v\n%s", cmd, c.Name, err, out)
	}
}

// StopDaemons kills the cluster's daemons, as if the cluster were lost.
func (c *Cluster) StopDaemons(t testing.TB) { c.closeConn(); c.script(t, "stop-daemons") }

// PauseOSD freezes the OSD (SIGSTOP); ResumeOSD thaws it.
func (c *Cluster) PauseOSD(t testing.TB)  { c.script(t, "pause") }
func (c *Cluster) ResumeOSD(t testing.TB) { c.script(t, "resume") }

// AdminConfig is how the provider's engine reaches this cluster as
// client.admin, for tests that work outside Terraform.
func (c *Cluster) AdminConfig() cephconn.Config {
	return cephconn.Config{ConfigFile: c.ConfFile, User: "admin", Keyring: c.AdminKeyring, Timeout: 30 * time.Second}
}

// admin returns a cached go-ceph connection as client.admin. Discards zero
// even small unaligned ranges (rbd_skip_partial_discard=false).
func (c *Cluster) admin(t testing.TB) *rados.Conn {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		return c.conn
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
		t.Fatalf("connecting to %s as admin: %v", c.Name, err)
	}
	c.conn = conn
	return conn
}

func (c *Cluster) closeConn() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		c.conn.Shutdown()
		c.conn = nil
	}
}

func (c *Cluster) withImage(t testing.TB, pool, image string, f func(*rbd.Image) error) {
	t.Helper()
	ioctx, err := c.admin(t).OpenIOContext(pool)
	if err != nil {
		t.Fatal(err)
	}
	defer ioctx.Destroy()
	img, err := rbd.OpenImage(ioctx, image, rbd.NoSnapshot)
	if err != nil {
		t.Fatalf("opening %s/%s: %v", pool, image, err)
	}
	defer img.Close()
	if err := f(img); err != nil {
		t.Fatalf("%s/%s: %v", pool, image, err)
	}
}

// CreateImage creates pool/image with the cluster's default features.
func (c *Cluster) CreateImage(t testing.TB, pool, image string, size uint64) {
	t.Helper()
	c.RBD(t, "create", "--no-progress", "--size", fmt.Sprintf("%dB", size), pool+"/"+image)
}

// Write writes data at off.
func (c *Cluster) Write(t testing.TB, pool, image string, off int64, data []byte) {
	t.Helper()
	c.withImage(t, pool, image, func(img *rbd.Image) error {
		_, err := img.WriteAt(data, off)
		return err
	})
}

// WriteRandom writes length bytes of pseudo-random data, the same for the same seed.
func (c *Cluster) WriteRandom(t testing.TB, pool, image string, off, length, seed int64) {
	t.Helper()
	rng := rand.New(rand.NewSource(seed))
	c.withImage(t, pool, image, func(img *rbd.Image) error {
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
