package testcluster

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Every test here works in its own temporary directory, never in the one of
// DirEnv: `stop DIR` without names stops every cluster under DIR.

func runScript(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(Script(), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestScript_stopWhereNoClusterIsSucceeds(t *testing.T) {
	empty := t.TempDir()
	missing := filepath.Join(t.TempDir(), "never made")
	for _, args := range [][]string{{"stop", empty}, {"stop", empty, "nosuch"}, {"stop", missing}, {"stop", missing, "nosuch"}} {
		if out, err := runScript(t, nil, args...); err != nil {
			t.Errorf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("stop created %s (stat: %v)", missing, err)
	}
}

// A pid file whose daemon has exited may name a pid the kernel has given to
// another process: stop must leave that process alone.
func TestScript_stopSparesAProcessThatReusedThePid(t *testing.T) {
	stranger := exec.Command("sleep", "60")
	if err := stranger.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = stranger.Wait(); close(exited) }()
	t.Cleanup(func() { _ = stranger.Process.Kill(); <-exited })
	d := filepath.Join(t.TempDir(), "stale")
	if err := os.MkdirAll(filepath.Join(d, "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	pid := []byte(strconv.Itoa(stranger.Process.Pid))
	for name, data := range map[string][]byte{"ceph.conf": nil, "run/osd.0.pid": pid, "run/mon.a.pid": pid} {
		if err := os.WriteFile(filepath.Join(d, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := runScript(t, nil, "stop", filepath.Dir(d))
	if err != nil {
		t.Fatalf("stop: %v\n%s", err, out)
	}
	if !strings.Contains(out, "left alone") {
		t.Errorf("stop does not say it left pid %d alone:\n%s", stranger.Process.Pid, out)
	}
	select {
	case <-exited:
		t.Fatalf("stop killed pid %d, which is not a daemon of the cluster: %v", stranger.Process.Pid, waitErr)
	case <-time.After(time.Second):
	}
	if _, err := os.Stat(d); !os.IsNotExist(err) {
		t.Errorf("stop left %s (stat: %v)", d, err)
	}
}

// A step whose output goes to the setup log still says, when it fails,
// which command it was and where its output is.
func TestScript_aFailedStepSaysWhatAndWhere(t *testing.T) {
	stubs := t.TempDir()
	stub := "#!/bin/sh\necho 'ceph-authtool: stub failure' >&2\nexit 3\n"
	if err := os.WriteFile(filepath.Join(stubs, "ceph-authtool"), []byte(stub), 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out, err := runScript(t, []string{"PATH=" + stubs + ":" + os.Getenv("PATH")}, "start", dir, "failing")
	if err == nil {
		t.Fatalf("start succeeded with a failing ceph-authtool:\n%s", out)
	}
	log := filepath.Join(dir, "failing", "log", "setup.log")
	for _, want := range []string{"ceph-authtool --create-keyring", "exit 3", log} {
		if !strings.Contains(out, want) {
			t.Errorf("the message does not name %q:\n%s", want, out)
		}
	}
	if b, _ := os.ReadFile(log); !strings.Contains(string(b), "stub failure") {
		t.Errorf("%s does not hold the failed command's output: %q", log, b)
	}
}

// A real cluster in a directory whose path has spaces: started, reachable,
// paused and resumed, stopped through a symlink to its directory (daemons gone, directory
// removed), and stopped again.
// It starts a cluster (about 15 s), so it runs with the acceptance tests.
func TestAccScript_startAndStopInAPathWithSpaces(t *testing.T) {
	if os.Getenv("TF_ACC") == "" {
		t.Skip("starts a cluster: runs with TF_ACC=1 (make testacc)")
	}
	if _, err := exec.LookPath("ceph-mon"); err != nil {
		t.Fatal("ceph-mon is not installed: run make ceph-packages")
	}
	dir := filepath.Join(t.TempDir(), "a dir", "with spaces")
	t.Cleanup(func() { _ = StopAt(dir) })
	cs, err := StartAt(dir, 256<<20, "harness-selftest")
	if err != nil {
		t.Fatal(err)
	}
	c := cs[0]
	if got := strings.TrimSpace(c.Ceph(t, "fsid")); got != c.FSID {
		t.Errorf("ceph fsid = %q, the env file says %q", got, c.FSID)
	}
	c.CreateImage(t, "rbd", "probe", 1<<20)
	if !c.ImageExists(t, "rbd", "probe") {
		t.Error("the image just created is not listed")
	}
	// A paused OSD answers nothing; once resume returns, it serves at once.
	listing := func() error {
		return exec.Command("timeout", "5", "rados", "-c", c.ConfFile, "-p", "rbd", "ls").Run()
	}
	c.PauseOSD(t)
	if err := listing(); err == nil {
		t.Error("rados ls answered while the OSD was paused")
	}
	c.ResumeOSD(t)
	if err := listing(); err != nil {
		t.Errorf("rados ls right after resume: %v", err)
	}
	var pids []int
	for _, f := range []string{"mon.a.pid", "osd.0.pid"} {
		b, err := os.ReadFile(filepath.Join(c.Dir, "run", f))
		if err != nil {
			t.Fatal(err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		pids = append(pids, pid)
	}
	link := filepath.Join(t.TempDir(), "link to clusters")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	c.closeConn()
	if err := StopAt(link, c.Name); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if running(pid) {
			t.Errorf("daemon %d still runs after stop", pid)
		}
	}
	if _, err := os.Stat(c.Dir); !os.IsNotExist(err) {
		t.Errorf("stop left %s (stat: %v)", c.Dir, err)
	}
	if err := c.Stop(); err != nil {
		t.Errorf("stopping twice: %v", err)
	}
}

// running says whether pid is a live process (a zombie, exited but not yet
// reaped by init, is not).
func running(pid int) bool {
	deadline := time.Now().Add(2 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		if err != nil {
			return false
		}
		// pid (comm) STATE ...
		fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(fields) > 0 && fields[0] == "Z" {
			return false
		}
		if time.Now().After(deadline) {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The ceph.conf a start writes (read here after a stubbed first step fails):
// v1 only by default, for the shared clusters; with TESTCLUSTER_MSGR2=secure
// the monitor also listens on msgr2 and [global] requires secure mode of
// every daemon and client. Any other value is refused.
func TestScript_msgr2SecureIsOptIn(t *testing.T) {
	stubs := t.TempDir()
	if err := os.WriteFile(filepath.Join(stubs, "ceph-authtool"), []byte("#!/bin/sh\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := "PATH=" + stubs + ":" + os.Getenv("PATH")
	conf := func(env ...string) string {
		t.Helper()
		dir := t.TempDir()
		if out, err := runScript(t, append(env, path), "start", dir, "c"); err == nil {
			t.Fatalf("start succeeded with a failing ceph-authtool:\n%s", out)
		}
		b, err := os.ReadFile(filepath.Join(dir, "c", "ceph.conf"))
		if err != nil {
			t.Fatal(err)
		}
		global, _, _ := strings.Cut(string(b), "[mon]")
		return global
	}
	plain := conf()
	if !regexp.MustCompile(`(?m)^mon host = v1:127\.0\.0\.1:\d+$`).MatchString(plain) || strings.Contains(plain, "mode = secure") {
		t.Errorf("the default cluster is not v1-only without messenger modes:\n%s", plain)
	}
	secure := conf("TESTCLUSTER_MSGR2=secure")
	if !regexp.MustCompile(`(?m)^mon host = \[v2:127\.0\.0\.1:\d+,v1:127\.0\.0\.1:\d+\]$`).MatchString(secure) {
		t.Errorf("the secure cluster's monitor is not on v2 and v1:\n%s", secure)
	}
	for _, want := range []string{"ms bind msgr2 = true", "ms cluster mode = secure", "ms service mode = secure", "ms client mode = secure",
		"ms mon cluster mode = secure", "ms mon service mode = secure", "ms mon client mode = secure"} {
		if !strings.Contains(secure, "\n"+want+"\n") {
			t.Errorf("[global] of the secure cluster lacks %q:\n%s", want, secure)
		}
	}
	out, err := runScript(t, []string{"TESTCLUSTER_MSGR2=crc"}, "start", t.TempDir(), "c")
	if err == nil || !strings.Contains(out, "TESTCLUSTER_MSGR2=crc: only 'secure'") {
		t.Errorf("TESTCLUSTER_MSGR2=crc: %v\n%s", err, out)
	}
}
