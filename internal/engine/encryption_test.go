package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ceph/go-ceph/rbd"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/engine"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/testcluster"
)

// marker is plaintext that must never be found on the backup cluster.
var marker = []byte("CEPHBACKUP-PLAINTEXT-MARKER:")

func encrypting(e *engine.Engine, passphrase string) *engine.Engine {
	c := *e
	c.Encryption = &engine.Encryption{Passphrase: []byte(passphrase)}
	return &c
}

// restoredSum restores rec, held in backupPool, into a new image with eng
// and returns its sha256.
func restoredSum(t *testing.T, src *testcluster.Cluster, eng *engine.Engine, backupPool, image string, rec chain.Record) string {
	t.Helper()
	target := uniqueName("enc-restored")
	if _, err := eng.Restore(context.Background(), engine.RestoreRequest{BackupID: rec.ID, Pool: "rbd", Image: image, BackupPool: backupPool,
		TargetPool: "rbd", TargetImage: target}); err != nil {
		t.Fatalf("restore of %s: %v", rec.ID, err)
	}
	defer src.RBD(t, "rm", "--no-progress", "rbd/"+target)
	return src.ExportSHA256(t, "rbd/"+target)
}

// encryptedChain is a chain of encrypted backups of one volume into
// backupPool, every point checked as it is taken: restored into a new
// image, its plaintext must be its source snapshot (rbd export of both).
type encryptedChain struct {
	src        *testcluster.Cluster
	eng        *engine.Engine
	backupPool string
	v          *volume
	verify     bool              // backups read their copy back before the point is taken
	taken      []chain.Record    // oldest first
	sums       map[string]string // by id: the sha256 of the point's source snapshot
}

// newEncryptedChain starts an empty chain of v; its backups are deleted when t ends.
func newEncryptedChain(t *testing.T, src *testcluster.Cluster, eng *engine.Engine, backupPool string, v *volume) *encryptedChain {
	c := &encryptedChain{src: src, eng: eng, backupPool: backupPool, v: v, sums: map[string]string{}}
	t.Cleanup(func() { deleteAllIn(t, eng, backupPool, v.image, c.taken) })
	return c
}

// backup takes a backup (a full when parent is ""), checks its point and
// returns its record.
func (c *encryptedChain) backup(t *testing.T, what, parent string) chain.Record {
	t.Helper()
	rec, err := c.eng.Backup(context.Background(), engine.BackupRequest{Pool: "rbd", Image: c.v.image, BackupPool: c.backupPool, ParentID: parent, Verify: c.verify}, nil)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	c.taken = append(c.taken, rec)
	c.sums[rec.ID] = c.src.ExportSHA256(t, "rbd/"+c.v.image+"@"+rec.Snapshot)
	if got := restoredSum(t, c.src, c.eng, c.backupPool, c.v.image, rec); !testcluster.Same(got, c.sums[rec.ID]) {
		t.Errorf("%s (%d bytes): restored into a new image, sha256 %s; source snapshot %s", what, rec.Size, got, c.sums[rec.ID])
	}
	return rec
}

// restoreInPlace restores rec over the volume itself (force) and checks
// the volume is then its source snapshot.
func (c *encryptedChain) restoreInPlace(t *testing.T, what string, rec chain.Record) {
	t.Helper()
	if _, err := c.eng.Restore(context.Background(), engine.RestoreRequest{BackupID: rec.ID, Pool: "rbd", Image: c.v.image, BackupPool: c.backupPool,
		TargetPool: "rbd", TargetImage: c.v.image, Force: true}); err != nil {
		t.Fatalf("%s: in-place restore of %s: %v", what, rec.ID, err)
	}
	if got := c.src.ExportSHA256(t, "rbd/"+c.v.image); !testcluster.Same(got, c.sums[rec.ID]) {
		t.Errorf("%s (%d bytes) restored in place over the volume: sha256 %s, want %s", what, rec.Size, got, c.sums[rec.ID])
	}
}

// Backups encrypted at rest with LUKS2: every point of Ceph's qa histories
// (discards, rollbacks, shrink/snapshot/grow) restores bit for bit, in new
// images and in place by both diff directions; `rbd export` of the backup
// cluster shows no plaintext; without the passphrase or with a wrong one
// nothing is read or written, a plaintext chain is not extended by an
// encrypting provider, and a clone is refused.
func TestAccEncryption_historiesExactCiphertextAtRest(t *testing.T) {
	src, dst, plain := clusters(t)
	eng := encrypting(plain, "correct horse battery staple")
	ctx := context.Background()
	v := newVolume(t, src, "enc", 16*mib)
	v.write(t, 0, 3*mib, 1)
	if err := src.OnImage("rbd", v.image, func(img *rbd.Image) error {
		_, err := img.WriteAt(bytes.Repeat(marker, 2000), 5*mib+100)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	v.write(t, 15*mib, 1*mib, 3)

	c := newEncryptedChain(t, src, eng, "backups", v)
	full := c.backup(t, "full", "")

	// At rest: ciphertext, and a LUKS2 header on the raw image.
	exported := filepath.Join(t.TempDir(), "point")
	dst.RBD(t, "export", "--no-progress", "backups/"+chain.BackupImageName(v.image)+"@"+full.Snapshot, exported)
	raw, err := os.ReadFile(exported)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, marker) {
		t.Fatal("rbd export of the encrypted restore point shows the plaintext marker")
	}
	if !bytes.HasPrefix(raw, []byte("LUKS\xba\xbe\x00\x02")) {
		t.Fatalf("the backup image does not start with a LUKS2 header: %q", raw[:8])
	}

	last := full
	for _, h := range histories {
		h.do(t, v)
		last = c.backup(t, h.name, last.ID)
		if h.alsoFull {
			c.backup(t, "full after "+h.name, "")
		}
	}

	// Verified over the plaintext, against the source snapshot.
	ver, err := eng.VerifyBackup(ctx, "backups", v.image, last.ID)
	if err != nil || !ver.Compared || ver.Record.SHA256 != c.sums[last.ID] {
		t.Fatalf("verify of the newest point: compared %v, sha256 %s, want %s: %v", ver.Compared, ver.Record.SHA256, c.sums[last.ID], err)
	}

	// A diff file of an encrypted point carries the plaintext: `rbd
	// import-diff` rebuilds the point from it.
	stream := filepath.Join(t.TempDir(), "full.diff")
	f, err := os.Create(stream)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.ExportDiff(ctx, engine.ExportRequest{BackupID: full.ID, Pool: "rbd", Image: v.image, BackupPool: "backups"}, f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	rebuilt := uniqueName("enc-rebuilt")
	src.CreateImage(t, "rbd", rebuilt, 1*mib)
	removeImage(t, src, "rbd/"+rebuilt)
	src.RBD(t, "import-diff", "--no-progress", stream, "rbd/"+rebuilt)
	if got := src.ExportSHA256(t, "rbd/"+rebuilt); !testcluster.Same(got, c.sums[full.ID]) {
		t.Errorf("the full's diff file imported by rbd: sha256 %s, want %s", got, c.sums[full.ID])
	}
	// The catalogue gives the data's size, not the raw image's.
	cat, err := eng.Catalogue(ctx, "backups")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range cat {
		if b.BackupImage == chain.BackupImageName(v.image) && b.Size != last.Size {
			t.Errorf("the catalogue gives %s a size of %d bytes, want the volume's %d", b.BackupImage, b.Size, last.Size)
		}
	}

	// In place: the newest point over a changed volume (forward diff from
	// the shared snapshot), then an older one (reverse diff).
	for _, rec := range []chain.Record{last, c.taken[len(c.taken)-3]} {
		v.write(t, 2*mib, 1*mib, 40)
		v.discard(t, 0, 64<<10)
		c.restoreInPlace(t, "backup "+rec.ID, rec)
	}

	// Without the passphrase, or with a wrong one: refused, nothing written.
	for name, other := range map[string]*engine.Engine{"no passphrase": plain, "wrong passphrase": encrypting(plain, "wrong")} {
		_, err := other.Restore(ctx, engine.RestoreRequest{BackupID: last.ID, Pool: "rbd", Image: v.image, BackupPool: "backups",
			TargetPool: "rbd", TargetImage: uniqueName("enc-refused")})
		if err == nil || !strings.Contains(err.Error(), "backup_encryption_passphrase") {
			t.Errorf("restore with %s: %v, want a refusal naming backup_encryption_passphrase", name, err)
		}
		if _, err := other.Backup(ctx, engine.BackupRequest{Pool: "rbd", Image: v.image, BackupPool: "backups", ParentID: last.ID}, nil); err == nil {
			t.Errorf("an incremental with %s was taken", name)
		}
	}
	if _, err := plain.Restore(ctx, engine.RestoreRequest{BackupID: last.ID, Pool: "rbd", Image: v.image, BackupPool: "backups",
		TargetPool: "rbd", TargetImage: "x"}); !errors.Is(err, engine.ErrNoPassphrase) {
		t.Errorf("restore without a passphrase: %v, want ErrNoPassphrase", err)
	}
	clone := uniqueName("enc-clone")
	if _, err := eng.Clone(ctx, engine.CloneRequest{BackupPool: "backups", Image: v.image, BackupID: last.ID, TargetPool: "backups", TargetImage: clone}); err == nil ||
		!strings.Contains(err.Error(), "encrypted at rest") {
		t.Errorf("clone of an encrypted point: %v, want a refusal", err)
	}
	if dst.ImageExists(t, "backups", clone) {
		t.Error("a refused clone left an image")
	}
	if n := len(dst.Snapshots(t, "backups", chain.BackupImageName(v.image))); n != len(c.taken) {
		t.Errorf("the backup image has %d snapshots after the refusals, want %d", n, len(c.taken))
	}

	// An encrypting provider does not extend a plaintext chain.
	other := newVolume(t, src, "plain", 4*mib)
	plainFull, err := plain.Backup(ctx, engine.BackupRequest{Pool: "rbd", Image: other.image, BackupPool: "backups"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteAll(t, plain, other.image, []chain.Record{plainFull}) })
	if _, err := eng.Backup(ctx, engine.BackupRequest{Pool: "rbd", Image: other.image, BackupPool: "backups", ParentID: plainFull.ID}, nil); err == nil ||
		!strings.Contains(err.Error(), "created without encryption") {
		t.Errorf("an encrypting incremental onto a plaintext chain: %v, want a refusal", err)
	}
}

// A zero-length image, encrypted: the header needs room that the image
// does not have, and every point still restores exactly.
func TestAccEncryption_zeroLengthImage(t *testing.T) {
	src, _, plain := clusters(t)
	eng := encrypting(plain, "p")
	ctx := context.Background()
	v := newVolume(t, src, "enc-empty", 0)
	var taken []chain.Record
	t.Cleanup(func() { deleteAll(t, eng, v.image, taken) })
	parent := ""
	for i, change := range []func(){
		func() {},
		func() { v.resize(t, 6*mib+512); v.write(t, 1*mib, 2*mib, 1) },
		func() { v.resize(t, 0) },
	} {
		change()
		rec, err := eng.Backup(ctx, engine.BackupRequest{Pool: "rbd", Image: v.image, BackupPool: "backups", ParentID: parent}, nil)
		if err != nil {
			t.Fatalf("backup %d: %v", i, err)
		}
		taken, parent = append(taken, rec), rec.ID
		want := src.ExportSHA256(t, "rbd/"+v.image+"@"+rec.Snapshot)
		if got := restoredSum(t, src, eng, "backups", v.image, rec); !testcluster.Same(got, want) {
			t.Errorf("backup %d (size %d): restored sha256 %s, want %s", i, rec.Size, got, want)
		}
	}
}

// A backup stopped between formatting a new backup image and marking it
// leaves a LUKS header and the encryption mark: the next full formats it
// again and goes on, and a provider without a passphrase says what to do.
func TestAccEncryption_halfFormattedImageIsTakenOver(t *testing.T) {
	src, dst, plain := clusters(t)
	eng := encrypting(plain, "p")
	ctx := context.Background()
	v := newVolume(t, src, "enc-half", 8*mib)
	v.write(t, 1*mib, 3*mib, 1)
	half := "backups/" + chain.BackupImageName(v.image)
	dst.RBD(t, "create", "--no-progress", "--size", "72M", half)
	dst.RBD(t, "image-meta", "set", half, chain.EncryptionKey, chain.Encryption{Format: chain.LUKS2}.Encode())
	passfile := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(passfile, []byte("p"), 0o600); err != nil {
		t.Fatal(err)
	}
	dst.RBD(t, "encryption", "format", half, "luks2", passfile)
	t.Cleanup(func() { _, _ = dst.RBDErr("rm", "--no-progress", half) })

	if _, err := plain.Backup(ctx, engine.BackupRequest{Pool: "rbd", Image: v.image, BackupPool: "backups"}, nil); !errors.Is(err, engine.ErrNoPassphrase) {
		t.Fatalf("a full without a passphrase into the half-formatted image: %v, want ErrNoPassphrase", err)
	}
	rec, err := eng.Backup(ctx, engine.BackupRequest{Pool: "rbd", Image: v.image, BackupPool: "backups"}, nil)
	if err != nil {
		t.Fatalf("a full into the half-formatted image: %v", err)
	}
	t.Cleanup(func() { deleteAll(t, eng, v.image, []chain.Record{rec}) })
	if got, want := restoredSum(t, src, eng, "backups", v.image, rec), src.ExportSHA256(t, "rbd/"+v.image+"@"+rec.Snapshot); !testcluster.Same(got, want) {
		t.Errorf("restored sha256 %s, want %s", got, want)
	}
}

// encryptedResizes are chains of an encrypted volume whose size changes
// between backups, each change followed by an incremental. The volume is
// written whole before the full. The LUKS header makes every raw size of
// the backup image 16 MiB more than the volume's.
var encryptedResizes = []struct {
	name    string
	size    uint64 // at the full
	changes []func(t *testing.T, v *volume)
}{
	{"shrink", 40 * mib, []func(*testing.T, *volume){
		func(t *testing.T, v *volume) { v.resize(t, 30*mib); v.write(t, 29*mib, 512<<10, 11) },
	}},
	{"grow", 30 * mib, []func(*testing.T, *volume){
		func(t *testing.T, v *volume) { v.resize(t, 40*mib); v.write(t, 35*mib, 1*mib, 11) },
	}},
	{"shrink then grow", 40 * mib, []func(*testing.T, *volume){
		func(t *testing.T, v *volume) { v.resize(t, 30*mib+512); v.write(t, 2*mib, 4096, 11) },
		func(t *testing.T, v *volume) { v.resize(t, 44*mib); v.write(t, 42*mib, 1*mib, 12) },
	}},
	{"grow then shrink", 30 * mib, []func(*testing.T, *volume){
		func(t *testing.T, v *volume) { v.resize(t, 44*mib); v.write(t, 40*mib, 2*mib, 11) },
		func(t *testing.T, v *volume) { v.resize(t, 24*mib+4096); v.write(t, 24*mib, 4096, 12) },
	}},
}

// With encryption at rest, every point of a chain whose volume shrinks and
// grows is its source snapshot bit for bit (rbd export of the snapshot
// against the plaintext restored from the point): restored into a new
// image, restored in place over the volume (force) from the newest point
// back to the full, which diffs forward from the shared snapshot and then
// backward, and an incremental taken after the volume was restored to the
// full's size.
func TestAccEncryption_resizedVolumeRestoresExactly(t *testing.T) {
	src, _, plain := clusters(t)
	eng := encrypting(plain, "p")
	for _, h := range encryptedResizes {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			v := newVolume(t, src, "enc-resize", h.size)
			v.write(t, 0, int64(h.size), 1)
			c := newEncryptedChain(t, src, eng, "backups", v)
			c.verify = true
			last := c.backup(t, "full", "")
			for i, change := range h.changes {
				change(t, v)
				last = c.backup(t, fmt.Sprintf("incremental %d", i+1), last.ID)
			}
			points := slices.Clone(c.taken)
			for i := len(points) - 1; i >= 0; i-- {
				v.write(t, 0, 1*mib, 40+int64(i))
				c.restoreInPlace(t, fmt.Sprintf("backup %d", i), points[i])
			}
			c.backup(t, "incremental after the in-place restores", last.ID)
		})
	}
}

// stripedBackupPool is a backup pool of the test's own whose new images are
// striped (stripe unit 64 KiB over 4 objects), as `rbd config pool set`
// makes them: checked on an image created there. The settings are removed
// when t ends; the pool stays.
func stripedBackupPool(t *testing.T, dst *testcluster.Cluster) string {
	t.Helper()
	pool := "backups-striped"
	dst.CreatePool(t, pool)
	for key, value := range map[string]string{"rbd_default_stripe_unit": "65536", "rbd_default_stripe_count": "4"} {
		dst.RBD(t, "config", "pool", "set", pool, key, value)
		t.Cleanup(func() { _, _ = dst.RBDErr("config", "pool", "remove", pool, key) })
	}
	probe := pool + "/" + uniqueName("striped")
	dst.RBD(t, "create", "--no-progress", "--size", "16M", probe)
	defer dst.RBD(t, "rm", "--no-progress", probe)
	if unit, count := striping(t, dst, probe); unit != 64<<10 || count != 4 {
		t.Fatalf("an image created in %s has stripe unit %d and count %d: the pool's default striping does not apply", pool, unit, count)
	}
	return pool
}

// striping is the stripe unit and count of an image, as `rbd info` gives
// them (0 and 0 for an image without fancy striping).
func striping(t *testing.T, c *testcluster.Cluster, spec string) (unit, count uint64) {
	t.Helper()
	var info struct {
		StripeUnit  uint64 `json:"stripe_unit"`
		StripeCount uint64 `json:"stripe_count"`
	}
	if err := json.Unmarshal([]byte(c.RBD(t, "info", "--format", "json", spec)), &info); err != nil {
		t.Fatal(err)
	}
	return info.StripeUnit, info.StripeCount
}

// Encrypted backups into a pool whose images are striped by default, of a
// volume with the default layout and of a fancy-striped one: the backup
// image is created unstriped, and every point of Ceph's qa histories
// (discards, rollbacks, shrink/snapshot/grow) is its source snapshot bit for
// bit, restored into a new image and in place. librbd's encryption does not
// read back what it wrote to a striped image.
func TestAccEncryption_stripedBackupPoolIsExact(t *testing.T) {
	src, dst, plain := clusters(t)
	eng := encrypting(plain, "p")
	pool := stripedBackupPool(t, dst)
	for _, l := range []layout{layouts[0], layouts[3]} {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			v := &volume{src: src, image: uniqueName("enc-striped")}
			l.create(t, src, v.image, 16*mib)
			removeImage(t, src, "rbd/"+v.image)
			v.write(t, 0, 3*mib, 1)
			v.write(t, 7*mib+512, 5*mib, 2)
			v.write(t, 15*mib, 1*mib, 3)
			c := newEncryptedChain(t, src, eng, pool, v)
			last := c.backup(t, "full", "")
			if unit, count := striping(t, dst, pool+"/"+chain.BackupImageName(v.image)); count > 1 {
				t.Errorf("the encrypted backup image has stripe unit %d over %d objects, want no striping", unit, count)
			}
			for _, h := range histories {
				h.do(t, v)
				last = c.backup(t, h.name, last.ID)
				if h.alsoFull {
					c.backup(t, "full after "+h.name, "")
				}
			}
			for _, rec := range []chain.Record{last, c.taken[len(c.taken)-3], c.taken[0]} {
				v.write(t, 2*mib, 1*mib, 40)
				v.discard(t, 0, 64<<10)
				c.restoreInPlace(t, "backup "+rec.ID, rec)
			}
		})
	}
}

// An encrypted backup image that is striped, as earlier versions created
// them under a pool's default striping (here a deep copy of a good one,
// striped, and a new image left striped), is refused before anything is
// written: a restore creates no target, an incremental or a full adds no
// snapshot, record or mark, on either cluster.
func TestAccEncryption_stripedBackupImageIsRefused(t *testing.T) {
	src, dst, plain := clusters(t)
	eng := encrypting(plain, "p")
	ctx := context.Background()
	pool := "backups-striped"
	dst.CreatePool(t, pool)
	v := newVolume(t, src, "enc-refused", 8*mib)
	v.write(t, 0, 8*mib, 1)
	c := newEncryptedChain(t, src, eng, "backups", v)
	full := c.backup(t, "full", "")
	striped := pool + "/" + chain.BackupImageName(v.image)
	dst.RBD(t, "deep", "cp", "--no-progress", "--stripe-unit", "65536", "--stripe-count", "4", "backups/"+chain.BackupImageName(v.image), striped)
	removeImage(t, dst, striped)
	if unit, count := striping(t, dst, striped); unit != 64<<10 || count != 4 {
		t.Fatalf("the deep copy has stripe unit %d and count %d, want 65536 and 4", unit, count)
	}
	snaps, meta := dst.Snapshots(t, pool, chain.BackupImageName(v.image)), dst.RBD(t, "image-meta", "list", "--format", "json", striped)
	sourceSnaps := src.Snapshots(t, "rbd", v.image)

	target := uniqueName("enc-refused-target")
	_, err := eng.Restore(ctx, engine.RestoreRequest{BackupID: full.ID, Pool: "rbd", Image: v.image, BackupPool: pool, TargetPool: "rbd", TargetImage: target})
	if !errors.Is(err, engine.ErrStripedEncryption) || !strings.Contains(err.Error(), "Nothing was changed") {
		t.Errorf("restore from the striped encrypted backup image: %v, want ErrStripedEncryption saying nothing was changed", err)
	}
	if src.ImageExists(t, "rbd", target) {
		removeImage(t, src, "rbd/"+target)
		t.Error("the refused restore created its target")
	}
	v.write(t, 0, 1*mib, 2)
	if _, err := eng.Backup(ctx, engine.BackupRequest{Pool: "rbd", Image: v.image, BackupPool: pool, ParentID: full.ID}, nil); !errors.Is(err, engine.ErrStripedEncryption) {
		t.Errorf("an incremental into the striped encrypted backup image: %v, want ErrStripedEncryption", err)
	}
	if got := dst.Snapshots(t, pool, chain.BackupImageName(v.image)); !slices.Equal(got, snaps) {
		t.Errorf("the refused incremental changed the backup image's snapshots: %v, were %v", got, snaps)
	}
	if got := dst.RBD(t, "image-meta", "list", "--format", "json", striped); got != meta {
		t.Errorf("the refused incremental changed the backup image's metadata: %s, was %s", got, meta)
	}
	if got := src.Snapshots(t, "rbd", v.image); !slices.Equal(got, sourceSnaps) {
		t.Errorf("the refused incremental changed the source's snapshots: %v, were %v", got, sourceSnaps)
	}

	// A new backup image that came out striped: the full refuses to format it.
	other := newVolume(t, src, "enc-refused-new", 4*mib)
	half := pool + "/" + chain.BackupImageName(other.image)
	dst.RBD(t, "create", "--no-progress", "--size", "4M", "--stripe-unit", "65536", "--stripe-count", "4", half)
	removeImage(t, dst, half)
	if _, err := eng.Backup(ctx, engine.BackupRequest{Pool: "rbd", Image: other.image, BackupPool: pool}, nil); !errors.Is(err, engine.ErrStripedEncryption) ||
		!strings.Contains(err.Error(), "rbd rm "+half) {
		t.Errorf("a full into a new, striped backup image: %v, want ErrStripedEncryption naming `rbd rm %s`", err, half)
	}
	if got := dst.RBD(t, "image-meta", "list", "--format", "json", half); strings.Contains(got, "cephbackup") {
		t.Errorf("the refused full marked the new backup image: %s", got)
	}
	if got := src.Snapshots(t, "rbd", other.image); len(got) != 0 {
		t.Errorf("the refused full left source snapshots: %v", got)
	}
}
