// Command benchmark measures the transfer engine on two local clusters and
// prints each figure with its target and PASS or MISS: `make bench`.
// Figures, not assertions: nothing here fails a test suite.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ceph/go-ceph/rbd"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/cephconn"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/engine"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/extent"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/testcluster"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/transfer"
)

const (
	mib = int64(1) << 20
	gib = int64(1) << 30
	// pipeTimeout bounds one rbd pipe copy, so a hung cluster fails the run.
	pipeTimeout = 10 * time.Minute
)

type bench struct {
	src, dst *testcluster.Cluster
	eng      *engine.Engine
	lastCopy time.Duration // the copy phase of the last backup, from the engine's final progress report
	phases   *phaseLog     // when the last backup's steps happened
	dir      string        // the clusters' directory
	quick    bool
	rows     [][]string
}

func main() {
	quick := flag.Bool("quick", false, "smaller images, for a fast smoke run")
	child := flag.String("child-backup", "", "internal: take one full backup of this image and exit (for the RSS figure)")
	dir := flag.String("clusters", "", "internal: cluster directory of the parent run")
	flag.Parse()
	if *child != "" {
		os.Exit(childBackup(*dir, *child))
	}
	if err := run(*quick); err != nil {
		fmt.Fprintln(os.Stderr, "benchmark:", err)
		os.Exit(1)
	}
}

// config is client.admin with a longer timeout than tests use: the
// benchmark's images are larger.
func config(c *testcluster.Cluster) cephconn.Config {
	cfg := c.AdminConfig()
	cfg.Timeout = 60 * time.Second
	return cfg
}

func newEngine(src, dst *testcluster.Cluster) *engine.Engine {
	return &engine.Engine{
		SourceCluster: cephconn.NewClient("cluster", config(src)),
		BackupCluster: cephconn.NewClient("backup_cluster", config(dst)),
	}
}

func run(quick bool) error {
	var rows [][]string
	// A memstore OSD keeps the memory it once held. The incremental figure,
	// whose scattered writes clone every object of the image on both sides,
	// gets clusters of its own so that the two OSDs fit a 24 GiB machine.
	for _, steps := range [][]func(*bench) error{
		{(*bench).fullVersusPipe, (*bench).sparse, (*bench).rss, (*bench).endToEnd, (*bench).refresh},
		{(*bench).incremental},
		{(*bench).parallelApply},
	} {
		b, err := onClusters(quick, steps)
		if err != nil {
			return err
		}
		rows = append(rows, b.rows...)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i][0] < rows[j][0] })
	printTable(rows)
	return nil
}

// onClusters runs steps on two fresh clusters, stopped afterwards. They live
// in a directory of their own, on ports nobody listens on, so they cannot
// meet the test clusters.
func onClusters(quick bool, steps []func(*bench) error) (*bench, error) {
	dir, err := os.MkdirTemp("", "cephbackup-bench-")
	if err != nil {
		return nil, err
	}
	var clusters []*testcluster.Cluster
	stop := func() {
		for _, c := range clusters {
			if err := c.Stop(); err != nil {
				fmt.Fprintln(os.Stderr, "benchmark:", err)
			}
		}
		if err := testcluster.StopAt(dir); err != nil { // what a failed start left
			fmt.Fprintln(os.Stderr, "benchmark:", err)
		}
		_ = os.RemoveAll(dir)
	}
	defer stop()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer func() { signal.Stop(sig); close(sig) }()
	go func() {
		if _, ok := <-sig; ok {
			stop()
			os.Exit(130)
		}
	}()

	fmt.Println("starting two clusters ...")
	if clusters, err = testcluster.StartAt(dir, 16*gib, "source", "backup"); err != nil {
		return nil, err
	}
	b := &bench{src: clusters[0], dst: clusters[1], dir: dir, quick: quick, phases: &phaseLog{}}
	eng := newEngine(b.src, b.dst)
	eng.Log = b.phases
	b.eng = eng.WithProgress(func(op string, p transfer.Progress) {
		// The final report of a transfer comes last and carries its whole duration.
		if op == "backup" {
			b.lastCopy = p.Elapsed
		}
	})
	for _, step := range steps {
		if err := step(b); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func (b *bench) size(full, quick int64) int64 {
	if b.quick {
		return quick
	}
	return full
}

// inform records a figure printed for comparison, with no target.
func (b *bench) inform(figure, measured string) {
	b.rows = append(b.rows, []string{figure, measured, "none", "-"})
	fmt.Printf("  %s: %s\n", figure, measured)
}

func (b *bench) record(figure, measured, target string, pass bool) {
	verdict := "MISS"
	if pass {
		verdict = "PASS"
	}
	b.rows = append(b.rows, []string{figure, measured, target, verdict})
	fmt.Printf("  %s: %s (target %s) %s\n", figure, measured, target, verdict)
}

// image creates rbd/name and writes random data at the given extents.
func (b *bench) image(name string, size int64, data ...extent.Extent) error {
	if err := b.src.CreateImageErr("rbd", name, uint64(size)); err != nil {
		return err
	}
	for i, e := range data {
		if err := b.src.WriteRandomErr("rbd", name, int64(e.Off), int64(e.Len), size+int64(i)); err != nil {
			return err
		}
	}
	return nil
}

func (b *bench) removeSource(name string) {
	_, _ = b.src.RBDErr("snap", "purge", "--no-progress", "rbd/"+name)
	_, _ = b.src.RBDErr("rm", "--no-progress", "rbd/"+name)
}

// backup times a full or incremental backup with the engine.
func (b *bench) backup(name, parent string) (time.Duration, chain.Record, error) {
	start := b.phases.reset()
	rec, err := b.eng.Backup(context.Background(), engine.BackupRequest{Pool: "rbd", Image: name, BackupPool: "backups", ParentID: parent}, nil)
	return time.Since(start), rec, err
}

// phaseLog is the engine's logger in the benchmark: it keeps when the last
// backup started and finished copying.
type phaseLog struct {
	mu                 sync.Mutex
	start              time.Time
	copyStart, copyEnd time.Duration
}

func (l *phaseLog) reset() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.start, l.copyStart, l.copyEnd = time.Now(), 0, 0
	return l.start
}

func (l *phaseLog) Info(_ context.Context, msg string, _ map[string]any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch msg {
	case "backup transfer starting":
		l.copyStart = time.Since(l.start)
	case "backup transfer done":
		l.copyEnd = time.Since(l.start)
	}
}

func (*phaseLog) Debug(context.Context, string, map[string]any) {}
func (*phaseLog) Warn(context.Context, string, map[string]any)  {}

// split is the last backup of total time cut into before, during and after
// its copy.
func (l *phaseLog) split(total time.Duration) [3]time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return [3]time.Duration{l.copyStart, l.copyEnd - l.copyStart, total - l.copyEnd}
}

// medianSplit is the median of each phase.
func medianSplit(splits [][3]time.Duration) string {
	var phase [3][]time.Duration
	for _, s := range splits {
		for i := range s {
			phase[i] = append(phase[i], s[i])
		}
	}
	return fmt.Sprintf("%.2fs before the copy (the source snapshot), %.2fs copying, %.2fs after (the restore point, joining the source snapshots' removal)",
		median(phase[0]).Seconds(), median(phase[1]).Seconds(), median(phase[2]).Seconds())
}

// forget deletes every backup of name, newest first.
func (b *bench) forget(name string, recs ...chain.Record) error {
	for i := len(recs) - 1; i >= 0; i-- {
		if _, err := b.eng.Delete(context.Background(), engine.DeleteRequest{BackupPool: "backups", Pool: "rbd", Image: name, ID: recs[i].ID}); err != nil {
			return err
		}
	}
	return nil
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func rate(bytes int64, d time.Duration) float64 { return float64(bytes) / float64(mib) / d.Seconds() }

// 1 and 2: a full backup of random data, engine against the rbd pipe, and the
// backup cluster's own write ceiling.
func (b *bench) fullVersusPipe() error {
	size := b.size(gib, 128*mib)
	fmt.Printf("full backup of %d MiB of random data, engine vs rbd export-diff | rbd import-diff ...\n", size/mib)
	if err := b.image("full", size, extent.Extent{Off: 0, Len: uint64(size)}); err != nil {
		return err
	}
	defer b.removeSource("full")
	var engineTimes, copyTimes, pipeTimes []time.Duration
	var splits [][3]time.Duration
	for i := range 3 {
		for _, engineFirst := range []bool{i%2 == 0, i%2 != 0} {
			if engineFirst {
				d, rec, err := b.backup("full", "")
				if err != nil {
					return err
				}
				engineTimes, copyTimes = append(engineTimes, d), append(copyTimes, b.lastCopy)
				splits = append(splits, b.phases.split(d))
				if err := b.forget("full", rec); err != nil {
					return err
				}
				continue
			}
			// A whole full backup the CLI way, as Cinder takes it: source
			// snapshot, target image, then the copy, which ends with the
			// target's snapshot.
			target, snap := fmt.Sprintf("backups/pipe%d", i), fmt.Sprintf("rbd/full@pipe%d", i)
			start := time.Now()
			if err := b.rbdPipe("", snap, target, size); err != nil {
				return err
			}
			pipeTimes = append(pipeTimes, time.Since(start))
			_, _ = b.src.RBDErr("snap", "rm", "--no-progress", snap)
			_, _ = b.dst.RBDErr("snap", "purge", "--no-progress", target)
			_, _ = b.dst.RBDErr("rm", "--no-progress", target)
		}
	}
	e, p := median(engineTimes), median(pipeTimes)
	b.record(fmt.Sprintf("1. full backup %d MiB: engine vs rbd pipe (median of 3)", size/mib),
		fmt.Sprintf("%.2fs vs %.2fs = %.2fx (%.0f vs %.0f MiB/s)", e.Seconds(), p.Seconds(), p.Seconds()/e.Seconds(), rate(size, e), rate(size, p)),
		">= 1.30x", p.Seconds()/e.Seconds() >= 1.3)

	c, err := b.copyCeiling("rbd/full", size, "4M", "seq", size)
	if err != nil {
		return err
	}
	engineRate, copyRate := rate(size, e), rate(size, median(copyTimes))
	b.record("2. engine full backup vs copy ceiling C (rbd bench read of the source and write into the backup cluster, 4M, 16 threads, together)",
		fmt.Sprintf("%.0f of %.0f MiB/s = %.0f%%; copy phase alone %.0f MiB/s = %.0f%% (R alone %.0f, W alone %.0f, 1/(1/R+1/W) = %.0f MiB/s)",
			engineRate, c.together, 100*engineRate/c.together, copyRate, 100*copyRate/c.together, c.read, c.write, 1/(1/c.read+1/c.write)),
		">= 85% of C", engineRate >= 0.85*c.together)
	b.inform("2b. engine full backup in phases (median of 3)", medianSplit(splits))

	// The memory bound allows 8 object-sized I/Os at a time; twice that
	// shows what the bound costs in copy speed (and figure 5 what it saves).
	var wider []time.Duration
	b.eng.Transfer.MaxInFlight = 64 << 20
	for range 3 {
		_, rec, err := b.backup("full", "")
		if err != nil {
			return err
		}
		wider = append(wider, b.lastCopy)
		if err := b.forget("full", rec); err != nil {
			return err
		}
	}
	b.eng.Transfer.MaxInFlight = 0
	widerRate := rate(size, median(wider))
	b.inform("2c. copy phase of a full backup with max_in_flight_mib = 64 (16 I/Os of 4 MiB) instead of 32 (median of 3)",
		fmt.Sprintf("%.0f MiB/s = %.0f%% of C (with 32: %.0f MiB/s)", widerRate, 100*widerRate/c.together, copyRate))
	return nil
}

// ceiling is what rbd bench moves: reading alone, writing alone, and both
// at once (bytes / wall time until both finish), in MiB/s, and how long the
// pair took.
type ceiling struct {
	read, write, together float64
	pair                  time.Duration
}

// copyCeiling measures the fair ceiling of a copy: rbd bench reading src on
// the source cluster and writing a fresh image of imageSize on the backup
// cluster, io-size ioSize, 16 threads, total bytes each, pattern seq or rand;
// alone, then started together.
func (b *bench) copyCeiling(src string, imageSize int64, ioSize, pattern string, total int64) (ceiling, error) {
	const target = "backups/ceiling"
	if err := b.dst.CreateImageErr("backups", "ceiling", uint64(imageSize)); err != nil {
		return ceiling{}, err
	}
	defer func() { _, _ = b.dst.RBDErr("rm", "--no-progress", target) }()
	args := func(io, spec string) []string {
		return []string{"bench", "--io-type", io, "--io-size", ioSize, "--io-threads", "16", "--io-pattern", pattern,
			"--io-total", fmt.Sprintf("%dB", total), spec}
	}
	run := func(c *testcluster.Cluster, io, spec string) (float64, error) {
		ctx, cancel := context.WithTimeout(context.Background(), pipeTimeout)
		defer cancel()
		out, err := c.CommandContext(ctx, "rbd", args(io, spec)...).CombinedOutput()
		if err != nil {
			return 0, fmt.Errorf("rbd bench --io-type %s %s: %w: %s", io, spec, err, out)
		}
		return benchRate(string(out))
	}
	var c ceiling
	var err error
	if c.read, err = run(b.src, "read", src); err != nil {
		return c, err
	}
	if c.write, err = run(b.dst, "write", target); err != nil {
		return c, err
	}
	start := time.Now()
	done := make(chan error, 1)
	go func() { _, err := run(b.src, "read", src); done <- err }()
	_, werr := run(b.dst, "write", target)
	rerr := <-done
	c.pair = time.Since(start)
	c.together = rate(total, c.pair)
	return c, errors.Join(rerr, werr)
}

// rbdPipe takes a backup the CLI way, as Cinder does: it snapshots the
// source as snap and copies it with rbd export-diff | rbd import-diff, which
// ends with the same snapshot on target. With from == "" it is a full into a
// new target; otherwise an incremental since the source snapshot from, which
// is then removed, as only the newest is kept.
func (b *bench) rbdPipe(from, snap, target string, size int64) error {
	if _, err := b.src.RBDErr("snap", "create", "--no-progress", snap); err != nil {
		return err
	}
	args := []string{"export-diff", "--no-progress", snap, "-"}
	if from == "" {
		if _, err := b.dst.RBDErr("create", "--size", fmt.Sprintf("%dB", size), target); err != nil {
			return err
		}
	} else {
		args = []string{"export-diff", "--no-progress", "--from-snap", from, snap, "-"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), pipeTimeout)
	defer cancel()
	export := b.src.CommandContext(ctx, "rbd", args...)
	imp := b.dst.CommandContext(ctx, "rbd", "import-diff", "--no-progress", "-", target)
	var exportErr, importErr strings.Builder
	export.Stderr, imp.Stderr = &exportErr, &importErr
	pipe, err := export.StdoutPipe()
	if err != nil {
		return err
	}
	imp.Stdin = pipe
	if err := export.Start(); err != nil {
		return err
	}
	if err := imp.Run(); err != nil {
		_ = export.Process.Kill()
		_ = export.Wait()
		return fmt.Errorf("rbd import-diff %s: %w: %s", target, err, importErr.String())
	}
	if err := export.Wait(); err != nil {
		return fmt.Errorf("rbd export-diff %s: %w: %s", snap, err, exportErr.String())
	}
	if from != "" {
		image, _, _ := strings.Cut(snap, "@")
		if _, err := b.src.RBDErr("snap", "rm", "--no-progress", image+"@"+from); err != nil {
			return err
		}
	}
	return nil
}

// benchRate reads the bytes/sec of rbd bench's summary line, in MiB/s.
func benchRate(out string) (float64, error) {
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "elapsed:") {
			continue
		}
		fields := strings.Fields(line)
		for i, f := range fields {
			if f == "bytes/sec:" && i+2 < len(fields) {
				var v float64
				if _, err := fmt.Sscan(fields[i+1], &v); err != nil {
					return 0, err
				}
				unit := map[string]float64{"B/s": 1.0 / float64(mib), "KiB/s": 1.0 / 1024, "MiB/s": 1, "GiB/s": 1024}[fields[i+2]]
				return v * unit, nil
			}
		}
	}
	return 0, fmt.Errorf("no summary line in rbd bench output:\n%s", out)
}

// 3: an incremental after changing 1% of the image.
func (b *bench) incremental() error {
	// 2 GiB, not 4: the backup cluster's memstore OSD holds both the
	// engine's chain and the CLI's in memory, and at 4 GiB the kernel's OOM
	// killer stopped it at 13.7 GB RSS during the CLI's full copy, on a
	// 24 GiB machine (2026-11-28, dmesg).
	size := b.size(2*gib, 512*mib)
	fmt.Printf("incremental after changing 1%% of a %d MiB image ...\n", size/mib)
	if err := b.image("incr", size, extent.Extent{Off: 0, Len: uint64(size)}); err != nil {
		return err
	}
	defer b.removeSource("incr")
	fullTime, full, err := b.backup("incr", "")
	if err != nil {
		return err
	}
	fullCopy := b.lastCopy
	// The same volume backed up the CLI way beside it, for figure 3c.
	if err := b.rbdPipe("", "rbd/incr@cli0", "backups/incr-cli", size); err != nil {
		return err
	}
	defer func() {
		_, _ = b.dst.RBDErr("snap", "purge", "--no-progress", "backups/incr-cli")
		_, _ = b.dst.RBDErr("rm", "--no-progress", "backups/incr-cli")
	}()
	// Scattered writes of 4 to 64 KiB until 1% of the image has changed.
	rng := rand.New(rand.NewSource(42))
	var changed extent.Set
	var writes []extent.Extent
	for changed.Bytes() < uint64(size/100) {
		n := uint64(4<<10) << rng.Intn(5)
		off := uint64(rng.Int63n(size-int64(n))) &^ 4095
		writes = append(writes, extent.Extent{Off: off, Len: n})
		changed = extent.Union(changed, extent.Set{{Off: off, Len: n}})
	}
	if err := b.src.OnImage("rbd", "incr", func(img *rbd.Image) error {
		buf := make([]byte, 64<<10)
		for _, w := range writes {
			rng.Read(buf[:w.Len])
			if _, err := img.WriteAt(buf[:w.Len], int64(w.Off)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	incTime, inc, err := b.backup("incr", full.ID)
	if err != nil {
		return err
	}
	incCopy := b.lastCopy
	incSplit := b.phases.split(incTime)
	defer func() { _ = b.forget("incr", full, inc) }()
	start := time.Now()
	if err := b.rbdPipe("cli0", "rbd/incr@cli1", "backups/incr-cli", size); err != nil {
		return err
	}
	cliTime := time.Since(start)
	_, _ = b.src.RBDErr("snap", "rm", "--no-progress", "rbd/incr@cli1")
	b.record("3c. incremental (1% changed): engine vs rbd export-diff --from-snap piped to import-diff, snapshot removal included",
		fmt.Sprintf("%.2fs vs %.2fs = %.2fx", incTime.Seconds(), cliTime.Seconds(), cliTime.Seconds()/incTime.Seconds()),
		">= 1.30x", cliTime.Seconds() >= 1.3*incTime.Seconds())
	// The parent's source snapshot is removed while the copy runs (a
	// monitor commit paced by paxos_propose_interval, about 0.85 s here), so
	// the whole time holds the snapshots' commits and the copy; the copy
	// phase alone leaves the commits out.
	b.record(fmt.Sprintf("3a. incremental (1%% of %d MiB changed) time vs full", size/mib),
		fmt.Sprintf("%.2fs vs %.2fs = %.1f%% (copy phase alone: %.2fs vs %.2fs = %.1f%%)",
			incTime.Seconds(), fullTime.Seconds(), 100*incTime.Seconds()/fullTime.Seconds(),
			incCopy.Seconds(), fullCopy.Seconds(), 100*incCopy.Seconds()/fullCopy.Seconds()),
		"<= 5%", incTime.Seconds() <= 0.05*fullTime.Seconds())
	// The small-extent ceiling: as many 16 KiB random reads and writes as
	// the incremental has extents, read and written together.
	ops := int64(len(changed))
	small, err := b.copyCeiling("rbd/incr", size, "16K", "rand", ops*16<<10)
	if err != nil {
		return err
	}
	b.record("3d. incremental copy phase vs small-extent ceiling (rbd bench 16K random read and write together, one op per extent)",
		fmt.Sprintf("%d extents (%d MiB): ceiling pair %.2fs, engine copy phase %.2fs = %.0f%% of the ceiling's speed (16K ops alone: R %.1f, W %.1f MiB/s)",
			ops, changed.Bytes()/uint64(mib), small.pair.Seconds(), incCopy.Seconds(), 100*small.pair.Seconds()/incCopy.Seconds(), small.read, small.write),
		">= 85%", small.pair.Seconds() >= 0.85*incCopy.Seconds())
	b.inform("3f. incremental in phases", medianSplit([][3]time.Duration{incSplit}))
	if err := b.snapshotRemovalPacing(); err != nil {
		return err
	}
	dev := float64(inc.TransferredBytes)/float64(changed.Bytes()) - 1
	b.record("3b. incremental transferred_bytes vs bytes changed",
		fmt.Sprintf("%d vs %d (%+.1f%%)", inc.TransferredBytes, changed.Bytes(), 100*dev), "within 10%", dev <= 0.10 && dev >= -0.10)
	return nil
}

// snapshotRemovalPacing times `rbd snap rm` right after the snapshot's own
// creation and 2 s later: the monitor proposes a map change at most once per
// paxos_propose_interval after the last one, which is the fixed part of an
// incremental that no copy speed removes (3a).
func (b *bench) snapshotRemovalPacing() error {
	if err := b.src.CreateImageErr("rbd", "pace", uint64(64*mib)); err != nil {
		return err
	}
	defer b.removeSource("pace")
	removal := func(idle time.Duration) (time.Duration, error) {
		var ds []time.Duration
		for i := range 3 {
			snap := fmt.Sprintf("rbd/pace@s%d", i)
			if _, err := b.src.RBDErr("snap", "create", "--no-progress", snap); err != nil {
				return 0, err
			}
			time.Sleep(idle)
			start := time.Now()
			if _, err := b.src.RBDErr("snap", "rm", "--no-progress", snap); err != nil {
				return 0, err
			}
			ds = append(ds, time.Since(start))
		}
		return median(ds), nil
	}
	now, err := removal(0)
	if err != nil {
		return err
	}
	later, err := removal(2 * time.Second)
	if err != nil {
		return err
	}
	b.inform("3e. `rbd snap rm` right after the snapshot's creation vs 2 s later (median of 3, the CLI's start included)",
		fmt.Sprintf("%.2fs vs %.2fs", now.Seconds(), later.Seconds()))
	return nil
}

// 4: a huge thin image with little data costs what its data costs.
func (b *bench) sparse() error {
	thin, data := b.size(64*gib, 8*gib), b.size(256*mib, 64*mib)
	fmt.Printf("sparse: %d GiB thin image with %d MiB written vs a %d MiB image ...\n", thin/gib, data/mib, data/mib)
	part := uint64(data / 4)
	regions := []extent.Extent{{Off: 0, Len: part}, {Off: uint64(thin/3) &^ 4095, Len: part}, {Off: uint64(thin/2) &^ 4095, Len: part}, {Off: uint64(thin) - part, Len: part}}
	if err := b.image("thin", thin, regions...); err != nil {
		return err
	}
	defer b.removeSource("thin")
	if err := b.image("dense", data, extent.Extent{Off: 0, Len: uint64(data)}); err != nil {
		return err
	}
	defer b.removeSource("dense")
	var thinTimes, denseTimes []time.Duration
	for range 3 {
		for _, name := range []string{"thin", "dense"} {
			d, rec, err := b.backup(name, "")
			if err != nil {
				return err
			}
			if name == "thin" {
				thinTimes = append(thinTimes, d)
			} else {
				denseTimes = append(denseTimes, d)
			}
			if err := b.forget(name, rec); err != nil {
				return err
			}
		}
	}
	t, d := median(thinTimes), median(denseTimes)
	b.record(fmt.Sprintf("4. full backup, %d GiB thin with %d MiB written vs %d MiB image", thin/gib, data/mib, data/mib),
		fmt.Sprintf("%.2fs vs %.2fs = %.2fx", t.Seconds(), d.Seconds(), t.Seconds()/d.Seconds()), "<= 1.50x", t.Seconds() <= 1.5*d.Seconds())
	return nil
}

// 5: peak RSS of a process taking one full backup, for two image sizes.
func (b *bench) rss() error {
	small, large := b.size(gib, 128*mib), b.size(4*gib, 512*mib)
	fmt.Printf("peak RSS of a full backup, %d MiB and %d MiB images ...\n", small/mib, large/mib)
	peak := map[int64]int64{}
	for _, size := range []int64{small, large} {
		name := fmt.Sprintf("rss%d", size/mib)
		if err := b.image(name, size, extent.Extent{Off: 0, Len: uint64(size)}); err != nil {
			return err
		}
		self, err := os.Executable()
		if err != nil {
			return err
		}
		cmd := exec.Command(self, "-child-backup", name, "-clusters", b.dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("child backup: %w: %s", err, out)
		}
		peak[size] = cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10 // KiB on Linux
		b.removeSource(name)
	}
	growth := float64(peak[large]) / float64(peak[small])
	b.record(fmt.Sprintf("5. peak RSS of a full backup, %d MiB image (vs %d MiB)", large/mib, small/mib),
		fmt.Sprintf("%d MiB (vs %d MiB, x%.2f)", peak[large]>>20, peak[small]>>20, growth),
		"<= 256 MiB, flat", peak[large] <= 256*mib && growth <= 1.25)
	return nil
}

func childBackup(dir, name string) int {
	src, srcErr := testcluster.Load(dir, "source")
	dst, dstErr := testcluster.Load(dir, "backup")
	err := errors.Join(srcErr, dstErr)
	if err == nil {
		eng := newEngine(src, dst)
		var rec chain.Record
		rec, err = eng.Backup(context.Background(), engine.BackupRequest{Pool: "rbd", Image: name, BackupPool: "backups"}, nil)
		if err == nil {
			_, err = eng.Delete(context.Background(), engine.DeleteRequest{BackupPool: "backups", Pool: "rbd", Image: name, ID: rec.ID})
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
