package provider

import (
	"bufio"
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/testcluster"
)

// The fault tests drive the real terraform binary with the real provider
// binary (dev_overrides), so that the whole process group can be killed.

var (
	providerBinOnce sync.Once
	providerBinDir  string
	providerBinErr  error
)

// providerBinary builds the provider once per test run. The build tags come
// from GOFLAGS, which the GNUmakefile exports.
func providerBinary(t *testing.T) string {
	t.Helper()
	providerBinOnce.Do(func() {
		// Shared by every test of the run, removed by TestMain.
		providerBinDir, providerBinErr = os.MkdirTemp("", "cephbackup-provider-") //nolint:usetesting
		if providerBinErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(providerBinDir, "terraform-provider-cephbackup"), "../..").CombinedOutput()
		if err != nil {
			providerBinErr = fmt.Errorf("building the provider: %w\n%s", err, out)
		}
	})
	if providerBinErr != nil {
		t.Fatal(providerBinErr)
	}
	return providerBinDir
}

// workspace is a terraform working directory using the built provider.
type workspace struct {
	t         *testing.T
	dir       string
	env       []string
	terraform string // the binary; TF_ACC_TERRAFORM_PATH unless a test sets another
}

func newWorkspace(t *testing.T) *workspace {
	bin := providerBinary(t)
	dir := t.TempDir()
	rc := filepath.Join(dir, "cli.tfrc")
	// Both registries' names, so that OpenTofu finds the built provider too.
	cfg := fmt.Sprintf("provider_installation {\n  dev_overrides {\n    \"registry.terraform.io/cephbackup/cephbackup\" = %q\n    \"registry.opentofu.org/cephbackup/cephbackup\" = %q\n  }\n  direct {}\n}\n", bin, bin)
	if err := os.WriteFile(rc, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return &workspace{t: t, dir: dir, terraform: os.Getenv("TF_ACC_TERRAFORM_PATH"), env: append(os.Environ(), "TF_CLI_CONFIG_FILE="+rc, "TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1", "TF_LOG=INFO",
		// The provider's raw stderr (a librbd assertion) is logged at DEBUG.
		"TF_LOG_PROVIDER=DEBUG")}
}

func (w *workspace) write(config string) {
	w.t.Helper()
	const header = "terraform {\n  required_providers {\n    cephbackup = { source = \"cephbackup/cephbackup\" }\n  }\n}\n"
	if err := os.WriteFile(filepath.Join(w.dir, "main.tf"), []byte(header+config), 0o600); err != nil {
		w.t.Fatal(err)
	}
}

func (w *workspace) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, w.terraform, append([]string{"-chdir=" + w.dir}, args...)...)
	cmd.Env = w.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// run runs terraform to completion and returns its combined output.
func (w *workspace) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := w.command(ctx, args...).CombinedOutput()
	return string(out), err
}

func (w *workspace) mustApply() {
	w.t.Helper()
	if out, err := w.run("apply", "-auto-approve", "-no-color"); err != nil {
		w.t.Fatalf("terraform apply: %v\n%s", err, tail(out, 40))
	}
}

// applyAndKill starts an apply and SIGKILLs terraform's whole process group
// (terraform and the provider) at a random point of the copy: when the
// provider logs that the op ("backup" or "restore") reached a random tenth
// between 10% and 70%, so the kill lands mid-transfer however fast the
// machine is.
func (w *workspace) applyAndKill(op string, rng *rand.Rand) {
	w.t.Helper()
	at := float64(10 * (1 + rng.Intn(7)))
	percent := regexp.MustCompile(regexp.QuoteMeta(op) + ` progress: .*percent="?([0-9.]+)`)
	w.applyAndKillWhen(fmt.Sprintf("%s progress of %.0f%%", op, at), func(line string) bool {
		m := percent.FindStringSubmatch(line)
		if m == nil {
			return false
		}
		p, _ := strconv.ParseFloat(m[1], 64)
		return p >= at
	})
}

// applyAndKillAtStep kills the apply (or destroy, with args) when the
// provider logs that an op reached step (engine.step): between two steps of
// a backup's commit or of a deletion.
func (w *workspace) applyAndKillAtStep(op, step string) {
	w.t.Helper()
	pattern := regexp.MustCompile(regexp.QuoteMeta(op) + ` step: .*step="?` + regexp.QuoteMeta(step))
	w.applyAndKillWhen(op+" step "+step, pattern.MatchString)
}

func (w *workspace) applyAndKillWhen(what string, reached func(line string) bool) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := w.command(ctx, "apply", "-auto-approve", "-no-color")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		w.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	hit := make(chan string)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			if line := sc.Text(); reached(line) {
				once.Do(func() { hit <- line })
			}
		}
	}()
	select {
	case <-hit:
		if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
			w.t.Fatal(err)
		}
		_ = cmd.Wait()
		w.t.Logf("killed terraform at %s", what)
	case <-time.After(90 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		w.t.Fatalf("the provider never logged %s", what)
	}
}

// snapshot is the snapshot attribute of a backup in the workspace's state.
func (w *workspace) snapshot(address string) string {
	w.t.Helper()
	out, err := w.run("state", "show", "-no-color", address)
	if err != nil {
		w.t.Fatalf("terraform state show %s: %v\n%s", address, err, out)
	}
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if ok && strings.TrimSpace(k) == "snapshot" {
			return strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	w.t.Fatalf("%s has no snapshot in:\n%s", address, out)
	return ""
}

// pluginCrash matches what a dying provider leaves in terraform's log: a Go
// panic, a librbd assertion (raw stderr, logged at the provider's DEBUG
// level) or the exit status go-plugin reports.
var pluginCrash = regexp.MustCompile(`panic:|ceph_assert|[Aa]ssert(ion)? failed|terminate called|SIGSEGV|SIGABRT|plugin process exited|Stack trace from`)

// tail returns the last lines of s, preceded by any earlier lines of a
// plugin crash, which a failed run's last lines alone would hide.
func tail(s string, lines int) string {
	parts := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(parts) <= lines {
		return strings.Join(parts, "\n")
	}
	var crash []string
	for _, l := range parts[:len(parts)-lines] {
		if pluginCrash.MatchString(l) {
			crash = append(crash, l)
		}
	}
	parts = parts[len(parts)-lines:]
	if len(crash) > 0 {
		parts = append(append(append([]string{"[lines of a plugin crash from earlier in the output]"}, crash...), "[...]"), parts...)
	}
	return strings.Join(parts, "\n")
}

func TestAccFaults_killedMidTransferLosesNothing(t *testing.T) {
	e := newAccEnv(t)
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	img := uniqueImage("kill")
	const size = 384 << 20
	e.src.CreateImage(t, srcPool, img, size)
	e.src.WriteRandom(t, srcPool, img, 0, size, 1)
	w := newWorkspace(t)
	full := e.providerBlock() + fullConfig("w", img)
	incr := full + incrementalConfig("d1", "cephbackup_full.w.id", img)
	restore := incr + restoreConfig("r", "cephbackup_incremental.d1.id", img, img+"-r", "")
	t.Cleanup(func() {
		w.write(e.providerBlock())
		if out, err := w.run("apply", "-auto-approve", "-no-color"); err != nil {
			t.Errorf("cleanup apply: %v\n%s", err, tail(out, 20))
		}
		_, _ = e.src.RBDErr("rm", "--no-progress", srcPool+"/"+img+"-r")
		if err := e.checkNoBackupsLeft(t, img)(nil); err != nil {
			t.Error(err)
		}
	})

	// Full: killed, then applied again.
	w.write(full)
	w.applyAndKill("backup", rng)
	e.checkNoHalfRestorePoint(t, img)
	w.mustApply()
	fullSnap := w.snapshot("cephbackup_full.w")
	fullSum := e.src.ExportSHA256(t, srcPool+"/"+img+"@"+fullSnap)
	e.checkPointSum(t, img, fullSnap, fullSum)
	e.checkNothingOrphaned(t, img, fullSnap)

	// Incremental: a third of the image rewritten, killed, applied again.
	e.src.WriteRandom(t, srcPool, img, 64<<20, 128<<20, 2)
	w.write(incr)
	w.applyAndKill("backup", rng)
	if snaps := e.dst.Snapshots(t, backupPool, chain.BackupImageName(img)); len(snaps) != 1 || snaps[0] != fullSnap {
		t.Fatalf("a killed incremental left restore points %v, want only %s", snaps, fullSnap)
	}
	e.checkPointSum(t, img, fullSnap, fullSum)
	w.mustApply()
	incrSnap := w.snapshot("cephbackup_incremental.d1")
	incrSum := e.src.ExportSHA256(t, srcPool+"/"+img+"@"+incrSnap)
	e.checkPointSum(t, img, incrSnap, incrSum)
	e.checkPointSum(t, img, fullSnap, fullSum)
	e.checkNothingOrphaned(t, img, fullSnap, incrSnap)

	// Restore into a new image: killed, applied again without force.
	w.write(restore)
	w.applyAndKill("restore", rng)
	w.mustApply()
	if got := e.src.ExportSHA256(t, srcPool+"/"+img+"-r"); !sameSum(got, incrSum) {
		t.Fatalf("restore after a kill: sha256 %s, want %s", got, incrSum)
	}
	e.checkPointSum(t, img, incrSnap, incrSum)
}

// checkNoHalfRestorePoint: a killed backup never leaves a restore point.
func (e *accEnv) checkNoHalfRestorePoint(t *testing.T, image string) {
	t.Helper()
	name := chain.BackupImageName(image)
	if e.dst.ImageExists(t, backupPool, name) {
		if snaps := e.dst.Snapshots(t, backupPool, name); len(snaps) > 0 {
			t.Fatalf("a killed full backup left restore points %v", snaps)
		}
	}
}

func (e *accEnv) checkPointSum(t *testing.T, image, snap, want string) {
	t.Helper()
	if got := e.dst.ExportSHA256(t, backupPool+"/"+chain.BackupImageName(image)+"@"+snap); !sameSum(got, want) {
		t.Fatalf("restore point %s: sha256 %s, want %s", snap, got, want)
	}
}

// checkNothingOrphaned: once an apply succeeded, the source keeps only the
// newest backup snapshot, and the backup image holds exactly the live
// restore points and their records.
func (e *accEnv) checkNothingOrphaned(t *testing.T, image string, live ...string) {
	t.Helper()
	newest := live[len(live)-1]
	if snaps := e.src.Snapshots(t, srcPool, image); len(snaps) != 1 || snaps[0] != newest {
		t.Fatalf("source snapshots %v, want only %s", snaps, newest)
	}
	e.checkBackupImageHolds(t, image, live...)
}

// checkBackupImageHolds: the backup image holds exactly the live restore
// points and their records.
func (e *accEnv) checkBackupImageHolds(t *testing.T, image string, live ...string) {
	t.Helper()
	name := chain.BackupImageName(image)
	if snaps := e.dst.Snapshots(t, backupPool, name); strings.Join(snaps, ",") != strings.Join(live, ",") {
		t.Fatalf("restore points %v, want %v", snaps, live)
	}
	records := 0
	for _, line := range strings.Split(e.dst.RBD(t, "image-meta", "list", backupPool+"/"+name), "\n") {
		if strings.HasPrefix(line, "cephbackup.backup.") {
			records++
		}
	}
	if records != len(live) {
		t.Fatalf("%d backup records on %s, want %d", records, name, len(live))
	}
}

// waitForSnapshot polls until a backup snapshot appears on the source image
// (the transfer starts right after it is taken).
func (e *accEnv) waitForSnapshot(image string, done <-chan struct{}) bool {
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); {
		select {
		case <-done:
			return false
		case <-time.After(50 * time.Millisecond):
		}
		out, err := e.src.RBDErr("snap", "ls", srcPool+"/"+image)
		if err == nil && strings.Contains(out, "backup.") {
			return true
		}
	}
	return false
}

func TestAccFaults_backupOSDPausedFailsWithinTimeout(t *testing.T) {
	// A backup cluster of its own: the other tests, this package's and the
	// engine's running beside it, share the suite's clusters, whose OSD a
	// SIGSTOP would stall too.
	shared := newAccEnv(t)
	paused := testcluster.Start(t, "paused-backup")
	paused.CreatePool(t, backupPool)
	e := &accEnv{src: shared.src, srcKey: shared.srcKey, dst: paused,
		dstKey: paused.CreateUser(t, dstUser, "mon", monCaps, "osd", "profile rbd pool="+backupPool)}
	img := uniqueImage("pause")
	const size = 256 << 20
	e.src.CreateImage(t, srcPool, img, size)
	e.src.WriteRandom(t, srcPool, img, 0, size, 1)
	w := newWorkspace(t)
	provider := strings.ReplaceAll(e.providerBlock(), `timeout  = "20s"`, `timeout  = "5s"`)
	w.write(provider + fullConfig("w", img))
	t.Cleanup(func() {
		e.dst.ResumeOSD(t)
		w.write(e.providerBlock())
		if out, err := w.run("apply", "-auto-approve", "-no-color"); err != nil {
			t.Errorf("cleanup apply: %v\n%s", err, tail(out, 20))
		}
	})

	done := make(chan struct{})
	var pausedAt time.Time
	go func() {
		if e.waitForSnapshot(img, done) {
			e.dst.PauseOSD(t)
			pausedAt = time.Now()
		}
	}()
	out, err := w.run("apply", "-auto-approve", "-no-color")
	close(done)
	failedAt := time.Now()
	e.dst.ResumeOSD(t)
	if pausedAt.IsZero() {
		t.Fatalf("the OSD was never paused; apply: %v\n%s", err, tail(out, 20))
	}
	if err == nil {
		t.Fatalf("the apply succeeded although the backup cluster's OSD was paused")
	}
	if !strings.Contains(out, "timed out") {
		t.Fatalf("the error does not say it timed out:\n%s", tail(out, 30))
	}
	// No hang: a few operation timeouts (5 s each), not the 6 h create timeout.
	if took := failedAt.Sub(pausedAt); took > 90*time.Second {
		t.Fatalf("the apply took %s to fail after the OSD was paused", took)
	}
	t.Logf("failed %s after the OSD was paused", failedAt.Sub(pausedAt).Round(time.Second))

	// After SIGCONT, applying again succeeds and is exact.
	w.write(e.providerBlock() + fullConfig("w", img))
	w.mustApply()
	snap := w.snapshot("cephbackup_full.w")
	e.checkPointSum(t, img, snap, e.src.ExportSHA256(t, srcPool+"/"+img+"@"+snap))
	e.checkNothingOrphaned(t, img, snap)
}

func TestAccFaults_sourceMonitorStopped(t *testing.T) {
	e := newAccEnv(t)
	lost := testcluster.Start(t, "mon-stopped")
	key := lost.CreateUser(t, srcUser, "mon", monCaps, "osd", "profile rbd pool=rbd")
	img := uniqueImage("monstop")
	lost.CreateImage(t, srcPool, img, 8<<20)
	lost.WriteRandom(t, srcPool, img, 0, 4<<20, 1)
	provider := e.lostSourceProviderBlock(lost, key)
	w := newWorkspace(t)
	w.write(provider + fullConfig("w", img))
	w.mustApply()
	snap := w.snapshot("cephbackup_full.w")
	sum := e.dst.ExportSHA256(t, backupPool+"/"+chain.BackupImageName(img)+"@"+snap)

	lost.StopDaemons(t)
	// A new backup fails fast and says why.
	start := time.Now()
	w.write(provider + fullConfig("w", img) + incrementalConfig("d1", "cephbackup_full.w.id", img))
	out, err := w.run("apply", "-auto-approve", "-no-color")
	if err == nil || !strings.Contains(out, "no answer from") {
		t.Fatalf("backup with the source monitor stopped: %v\n%s", err, tail(out, 30))
	}
	if took := time.Since(start); took > 60*time.Second {
		t.Fatalf("took %s to fail", took)
	}
	// Reading restore points and restoring (here into the backup cluster's
	// own rbd pool, standing in for a replacement cluster) keep working.
	recovery := fmt.Sprintf(`
provider "cephbackup" {
  cluster        = { mon_host = %q, user = %q, key = %q }
  backup_cluster = { mon_host = %q, user = %q, key = %q }
}
`, e.src.MonHost, srcUser, e.srcKey, e.dst.MonHost, dstUser, e.dstKey)
	target := img + "-back"
	w.write(recovery + fullConfig("w", img) + fmt.Sprintf(`
data "cephbackup_restore_points" "p" {
  pool        = "rbd"
  image       = %q
  backup_pool = "backups"
}
`, img) + restoreConfig("r", "data.cephbackup_restore_points.p.restore_points[0].id", img, target, ""))
	w.mustApply()
	if got := e.src.ExportSHA256(t, srcPool+"/"+target); !sameSum(got, sum) {
		t.Fatalf("restore with the source monitor stopped: sha256 %s, want %s", got, sum)
	}
	e.src.RBD(t, "rm", "--no-progress", srcPool+"/"+target)
	w.write(recovery)
	if out, err := w.run("apply", "-auto-approve", "-no-color"); err != nil {
		t.Fatalf("destroy: %v\n%s", err, tail(out, 20))
	}
}

// A SIGKILL between the steps of a backup's commit or of a deletion, on an
// image with holes: the next plan reports what is left (a restore point no
// state knows, with the import command), following what it says converges,
// and nothing is lost or orphaned.
func TestAccFaults_killedAtCommitAndDeleteStepsLosesNothing(t *testing.T) {
	e := newAccEnv(t)
	img := uniqueImage("steps")
	const size = 64 << 20
	e.src.CreateImage(t, srcPool, img, size)
	for i, off := range []int64{0, 9 << 20, 30<<20 + 4096, 60 << 20} {
		e.src.WriteRandom(t, srcPool, img, off, 3<<20+512, int64(i+1))
	}
	w := newWorkspace(t)
	full := e.providerBlock() + fullConfig("w", img)
	incr := full + incrementalConfig("d1", "cephbackup_full.w.id", img)
	t.Cleanup(func() {
		w.write(e.providerBlock())
		if out, err := w.run("apply", "-auto-approve", "-no-color"); err != nil {
			t.Errorf("cleanup apply: %v\n%s", err, tail(out, 20))
		}
	})
	unconfirmed := regexp.MustCompile(`terraform\s+import\s+<address\s+of\s+a\s+(cephbackup_\w+)>\s+([\w.-]+/[0-9a-f-]{36})`)
	// converge plans, follows the plan's report of a restore point that no
	// state knows by importing it at address, then applies.
	converge := func(address string) {
		t.Helper()
		out, err := w.run("plan", "-no-color")
		if err != nil {
			t.Fatalf("plan after a kill: %v\n%s", err, tail(out, 30))
		}
		if m := unconfirmed.FindStringSubmatch(out); m != nil {
			if !strings.HasPrefix(address, m[1]+".") {
				t.Fatalf("the plan reports an unmanaged %s, expected one for %s:\n%s", m[1], address, tail(out, 30))
			}
			if out, err := w.run("import", "-no-color", address, m[2]); err != nil {
				t.Fatalf("import of the reported restore point: %v\n%s", err, tail(out, 30))
			}
			t.Logf("imported the restore point the plan reported: %s", m[2])
		}
		w.mustApply()
	}

	w.write(full)
	w.applyAndKillAtStep("backup", "record completed")
	converge("cephbackup_full.w")
	fullSnap := w.snapshot("cephbackup_full.w")
	fullSum := e.src.ExportSHA256(t, srcPool+"/"+img+"@"+fullSnap)
	e.checkPointSum(t, img, fullSnap, fullSum)
	e.checkNothingOrphaned(t, img, fullSnap)

	e.src.WriteRandom(t, srcPool, img, 20<<20, 2<<20, 9)
	e.src.Discard(t, srcPool, img, 9<<20+512, 1<<20)
	w.write(incr)
	w.applyAndKillAtStep("backup", "restore point taken")
	converge("cephbackup_incremental.d1")
	incrSnap := w.snapshot("cephbackup_incremental.d1")
	incrSum := e.src.ExportSHA256(t, srcPool+"/"+img+"@"+incrSnap)
	e.checkPointSum(t, img, incrSnap, incrSum)
	e.checkPointSum(t, img, fullSnap, fullSum)
	e.checkNothingOrphaned(t, img, fullSnap, incrSnap)

	// Deletions: the incremental's, then the full's (the image's last).
	w.write(full)
	w.applyAndKillAtStep("delete", "deletion recorded")
	w.mustApply()
	e.checkPointSum(t, img, fullSnap, fullSum)
	e.checkBackupImageHolds(t, img, fullSnap)
	w.write(e.providerBlock())
	w.applyAndKillAtStep("delete", "restore point removed")
	w.mustApply()
	if err := e.checkNoBackupsLeft(t, img)(nil); err != nil {
		t.Fatal(err)
	}
}
