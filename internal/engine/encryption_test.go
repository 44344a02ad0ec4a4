package engine_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
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

// restoredSum restores rec into a new image with eng and returns its sha256.
func restoredSum(t *testing.T, src *testcluster.Cluster, eng *engine.Engine, image string, rec chain.Record) string {
	t.Helper()
	target := uniqueName("enc-restored")
	if _, err := eng.Restore(context.Background(), engine.RestoreRequest{BackupID: rec.ID, Pool: "rbd", Image: image, BackupPool: "backups",
		TargetPool: "rbd", TargetImage: target}); err != nil {
		t.Fatalf("restore of %s: %v", rec.ID, err)
	}
	defer src.RBD(t, "rm", "--no-progress", "rbd/"+target)
	return src.ExportSHA256(t, "rbd/"+target)
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

	var taken []chain.Record
	t.Cleanup(func() { deleteAll(t, eng, v.image, taken) })
	sums := map[string]string{} // plaintext sha256 of each point's source snapshot
	backup := func(what, parent string) chain.Record {
		t.Helper()
		rec, err := eng.Backup(ctx, engine.BackupRequest{Pool: "rbd", Image: v.image, BackupPool: "backups", ParentID: parent}, nil)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		taken = append(taken, rec)
		sums[rec.ID] = src.ExportSHA256(t, "rbd/"+v.image+"@"+rec.Snapshot)
		if got := restoredSum(t, src, eng, v.image, rec); !testcluster.Same(got, sums[rec.ID]) {
			t.Errorf("%s: restored sha256 %s, source snapshot %s", what, got, sums[rec.ID])
		}
		return rec
	}
	full := backup("full", "")

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
		last = backup(h.name, last.ID)
		if h.alsoFull {
			backup("full after "+h.name, "")
		}
	}

	// Verified over the plaintext, against the source snapshot.
	ver, err := eng.VerifyBackup(ctx, "backups", v.image, last.ID)
	if err != nil || !ver.Compared || ver.Record.SHA256 != sums[last.ID] {
		t.Fatalf("verify of the newest point: compared %v, sha256 %s, want %s: %v", ver.Compared, ver.Record.SHA256, sums[last.ID], err)
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
	if got := src.ExportSHA256(t, "rbd/"+rebuilt); !testcluster.Same(got, sums[full.ID]) {
		t.Errorf("the full's diff file imported by rbd: sha256 %s, want %s", got, sums[full.ID])
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
	inPlace := func(rec chain.Record) {
		t.Helper()
		v.write(t, 2*mib, 1*mib, 40)
		v.discard(t, 0, 64<<10)
		if _, err := eng.Restore(ctx, engine.RestoreRequest{BackupID: rec.ID, Pool: "rbd", Image: v.image, BackupPool: "backups",
			TargetPool: "rbd", TargetImage: v.image, Force: true}); err != nil {
			t.Fatalf("in-place restore of %s: %v", rec.ID, err)
		}
		if got := src.ExportSHA256(t, "rbd/"+v.image); !testcluster.Same(got, sums[rec.ID]) {
			t.Errorf("in-place restore of %s: sha256 %s, want %s", rec.ID, got, sums[rec.ID])
		}
	}
	inPlace(last)
	inPlace(taken[len(taken)-3])

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
	if n := len(dst.Snapshots(t, "backups", chain.BackupImageName(v.image))); n != len(taken) {
		t.Errorf("the backup image has %d snapshots after the refusals, want %d", n, len(taken))
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
		if got := restoredSum(t, src, eng, v.image, rec); !testcluster.Same(got, want) {
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
	if got, want := restoredSum(t, src, eng, v.image, rec), src.ExportSHA256(t, "rbd/"+v.image+"@"+rec.Snapshot); !testcluster.Same(got, want) {
		t.Errorf("restored sha256 %s, want %s", got, want)
	}
}
