package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/extent"
)

// 6: `terraform plan` over 2,000 existing backups (200 images x 10 points),
// imported into a state of Terraform's own making beforehand.
func (b *bench) refresh() error {
	images, points := 200, 10
	if b.quick {
		images, points = 4, 5
	}
	fmt.Printf("terraform plan refreshing %d backups ...\n", images*points)
	var config strings.Builder
	config.WriteString(b.providerConfig())
	// Snapshot trimming is switched off on the source: each of the 1,800
	// backups after an image's first removes its parent's source snapshot,
	// and trimming that many crashed the memstore OSD (a segfault in
	// MemStore::OmapIteratorImpl::value under SnapMapper::get_next_objects_to_trim,
	// Ceph 16.2.15, 2026-11-29). These clusters are removed whole afterwards.
	if _, err := b.src.CephErr("osd", "set", "nosnaptrim"); err != nil {
		return err
	}
	// Setting up is not measured. Each backup waits on monitor commits, so
	// the images' chains are built in parallel, where those commits batch,
	// 16 at a time so that the OSDs keep up.
	chains := make([][]chain.Record, images)
	errs := make([]error, images)
	var wg sync.WaitGroup
	slots := make(chan struct{}, 16)
	setup := time.Now()
	for i := range images {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			chains[i], errs[i] = b.chainOf(fmt.Sprintf("many%d", i), points)
		}()
	}
	wg.Wait()
	fmt.Printf("  %d backups taken in %.0fs\n", images*points, time.Since(setup).Seconds())
	// Nothing is deleted afterwards: 2,000 deletions would take half an
	// hour of monitor commits, and this is the last step on these clusters,
	// which are removed whole.
	if err := errors.Join(errs...); err != nil {
		return err
	}
	want := map[string]string{} // resource address -> backup id
	for i, recs := range chains {
		for p, rec := range recs {
			typ, block := "cephbackup_full", fmt.Sprintf("r%d_%d", i, p)
			body := fmt.Sprintf("  pool = \"rbd\"\n  image = %q\n  backup_pool = \"backups\"\n", rec.Image)
			if rec.ParentID != "" {
				typ = "cephbackup_incremental"
				body += fmt.Sprintf("  parent_id = %q\n", rec.ParentID)
			}
			address := typ + "." + block
			want[address] = rec.ID
			fmt.Fprintf(&config, "resource %q %q {\n%s}\nimport {\n  to = %s\n  id = \"backups/%s\"\n}\n", typ, block, body, address, rec.ID)
		}
	}

	w, err := newTFWorkspace(config.String())
	if err != nil {
		return err
	}
	defer w.cleanup()
	tf := w.tf
	imported := time.Now()
	if _, err := tf("apply", "-auto-approve", "-input=false", "-no-color"); err != nil {
		return err
	}
	fmt.Printf("  imported into a state in %.0fs\n", time.Since(imported).Seconds())
	if err := checkImported(tf, want); err != nil {
		return err
	}

	// Count the provider's TCP sessions to each cluster's monitor while it runs.
	var srcMons, dstMons atomic.Int32
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
			s, d := monSessions(b.src.MonHost), monSessions(b.dst.MonHost)
			if s > srcMons.Load() {
				srcMons.Store(s)
			}
			if d > dstMons.Load() {
				dstMons.Store(d)
			}
		}
	}()
	start := time.Now()
	_, err = tf("plan", "-input=false", "-no-color", "-out=refresh.tfplan")
	took := time.Since(start)
	close(done)
	if err != nil {
		return err
	}
	if err := checkNoChanges(tf, "refresh.tfplan"); err != nil {
		return err
	}
	// Where the time goes: the same plan without refreshing (no provider
	// read at all), and refreshing with more reads at once.
	timed := func(args ...string) (time.Duration, error) {
		start := time.Now()
		_, err := tf(append([]string{"plan", "-input=false", "-no-color"}, args...)...)
		return time.Since(start), err
	}
	noRefresh, err := timed("-refresh=false")
	if err != nil {
		return err
	}
	wide, err := timed("-parallelism=32")
	if err != nil {
		return err
	}
	b.record(fmt.Sprintf("6. terraform plan refreshing %d backups", images*points),
		fmt.Sprintf("%.1fs, no changes, %d monitor session(s) to the source and %d to the backup cluster; the same plan with -refresh=false (no read): %.1fs; refreshing with -parallelism=32: %.1fs",
			took.Seconds(), srcMons.Load(), dstMons.Load(), noRefresh.Seconds(), wide.Seconds()),
		"<= 10s, one connection per cluster", took <= 10*time.Second && srcMons.Load() <= 1 && dstMons.Load() <= 1)
	return nil
}

// tfWorkspace is a directory where the benchmark runs the real terraform
// with the provider built from this tree as a dev override.
type tfWorkspace struct{ dir string }

// newTFWorkspace builds the provider into a new directory holding config as
// main.tf; remove it with cleanup.
func newTFWorkspace(config string) (*tfWorkspace, error) {
	work, err := os.MkdirTemp("", "cephbackup-bench-tf-")
	if err != nil {
		return nil, err
	}
	w := &tfWorkspace{dir: work}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	build := exec.Command("go", "build", "-o", filepath.Join(work, "bin", "terraform-provider-cephbackup"), ".")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		w.cleanup()
		return nil, fmt.Errorf("building the provider: %w: %s", err, out)
	}
	rc := fmt.Sprintf("provider_installation {\n  dev_overrides {\n    \"registry.terraform.io/cephbackup/cephbackup\" = %q\n  }\n  direct {}\n}\n", filepath.Join(work, "bin"))
	err = os.WriteFile(filepath.Join(work, "cli.tfrc"), []byte(rc), 0o600)
	if err == nil {
		err = w.write(config)
	}
	if err != nil {
		w.cleanup()
		return nil, err
	}
	return w, nil
}

func (w *tfWorkspace) cleanup() { _ = os.RemoveAll(w.dir) }

// write replaces the workspace's configuration.
func (w *tfWorkspace) write(config string) error {
	return os.WriteFile(filepath.Join(w.dir, "main.tf"), []byte(config), 0o600)
}

// tf runs terraform in the workspace and returns its standard output.
func (w *tfWorkspace) tf(args ...string) ([]byte, error) {
	cmd := exec.Command("terraform", append([]string{"-chdir=" + w.dir}, args...)...)
	cmd.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE="+filepath.Join(w.dir, "cli.tfrc"), "CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("terraform %s: %w\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return out, nil
}

// providerConfig is the provider block of the benchmark's workspaces:
// client.admin on both clusters.
func (b *bench) providerConfig() string {
	return fmt.Sprintf(`terraform {
  required_providers {
    cephbackup = { source = "cephbackup/cephbackup" }
  }
}
provider "cephbackup" {
  cluster        = { config_file = %q, keyring = %q }
  backup_cluster = { config_file = %q, keyring = %q }
}
`, b.src.ConfFile, b.src.AdminKeyring, b.dst.ConfFile, b.dst.AdminKeyring)
}

// tfState is what the benchmark reads of `terraform show -json`.
type tfState struct {
	Values struct {
		RootModule struct {
			Resources []struct {
				Address string `json:"address"`
				Values  struct {
					ID string `json:"id"`
				} `json:"values"`
			} `json:"resources"`
		} `json:"root_module"`
	} `json:"values"`
}

// tfPlan is what the benchmark reads of `terraform show -json PLANFILE`.
type tfPlan struct {
	ResourceChanges []struct {
		Address string `json:"address"`
		Change  struct {
			Actions []string `json:"actions"`
		} `json:"change"`
	} `json:"resource_changes"`
}

// checkImported says which of want (address -> backup id) the state lacks
// or holds with another id.
func checkImported(tf func(...string) ([]byte, error), want map[string]string) error {
	out, err := tf("show", "-json")
	if err != nil {
		return err
	}
	var st tfState
	if err := json.Unmarshal(out, &st); err != nil {
		return fmt.Errorf("reading terraform show -json: %w", err)
	}
	got := map[string]string{}
	for _, r := range st.Values.RootModule.Resources {
		got[r.Address] = r.Values.ID
	}
	var wrong []string
	for address, id := range want {
		if got[address] != id {
			wrong = append(wrong, fmt.Sprintf("%s: id %q, want %q", address, got[address], id))
		}
	}
	if len(wrong) > 0 {
		sort.Strings(wrong)
		return fmt.Errorf("the import left %d of %d backups wrong in the state:\n%s", len(wrong), len(want), strings.Join(wrong, "\n"))
	}
	return nil
}

// checkNoChanges fails naming every resource the plan would change: a
// refresh of backups that are all there must change nothing.
func checkNoChanges(tf func(...string) ([]byte, error), planFile string) error {
	out, err := tf("show", "-json", planFile)
	if err != nil {
		return err
	}
	var plan tfPlan
	if err := json.Unmarshal(out, &plan); err != nil {
		return fmt.Errorf("reading terraform show -json %s: %w", planFile, err)
	}
	var changed []string
	for _, rc := range plan.ResourceChanges {
		if a := rc.Change.Actions; len(a) != 1 || a[0] != "no-op" {
			changed = append(changed, fmt.Sprintf("%s: %s", rc.Address, strings.Join(a, ", ")))
		}
	}
	if len(changed) > 0 {
		return fmt.Errorf("terraform plan wants to change %d backups that are all there:\n%s", len(changed), strings.Join(changed, "\n"))
	}
	return nil
}

// chainOf makes an image and a chain of n backups of it, a little data
// changed between them. What was made is returned even on error.
func (b *bench) chainOf(name string, n int) ([]chain.Record, error) {
	if err := b.image(name, 8*mib, extent.Extent{Off: 0, Len: uint64(mib)}); err != nil {
		return nil, err
	}
	var recs []chain.Record
	parent := ""
	for p := range n {
		if p > 0 {
			if _, err := b.src.RBDErr("bench", "--io-type", "write", "--io-size", "4K", "--io-total", "16K", "rbd/"+name); err != nil {
				return recs, err
			}
		}
		_, rec, err := b.backup(name, parent)
		if err != nil {
			return recs, err
		}
		recs = append(recs, rec)
		parent = rec.ID
	}
	return recs, nil
}

// monSessions counts established TCP connections from the provider process
// to a monitor address such as v1:127.0.0.1:6789.
func monSessions(monHost string) int32 {
	addr := monHost[strings.LastIndex(monHost, ":")+1:]
	out, err := exec.Command("ss", "-Htnp", "state", "established", "dport", "= :"+addr).Output()
	if err != nil {
		return 0
	}
	return int32(strings.Count(string(out), "terraform-provi"))
}

func printTable(rows [][]string) {
	host, _ := os.Hostname()
	cpu := "?"
	if info, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(info), "\n") {
			if strings.HasPrefix(l, "model name") {
				cpu = strings.TrimSpace(l[strings.Index(l, ":")+1:])
				break
			}
		}
	}
	mem := "?"
	if info, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(strings.SplitN(string(info), "\n", 2)[0], "MemTotal: %d kB", &kb); err == nil {
			mem = fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
		}
	}
	fmt.Printf("\nMachine: %s, %d cores (%s), %s RAM; both clusters local (one mon, one memstore OSD each)\n\n", host, runtime.NumCPU(), cpu, mem)
	fmt.Println("| figure | measured | target | |")
	fmt.Println("| --- | --- | --- | --- |")
	for _, r := range rows {
		fmt.Printf("| %s | %s | %s | %s |\n", r[0], r[1], r[2], r[3])
	}
}
