package provider

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/testcluster"
)

// securePair starts a private source and backup cluster that both require
// msgr2 secure mode, stopped when t ends: the shared clusters speak v1.
func securePair(t *testing.T) *accEnv {
	t.Helper()
	testAccPreCheck(t)
	dir := t.TempDir()
	t.Cleanup(func() {
		if err := testcluster.StopAt(dir); err != nil {
			t.Error(err)
		}
	})
	cs, err := testcluster.StartSecureAt(dir, 512<<20, "sec-src", "sec-dst")
	if err != nil {
		t.Fatal(err)
	}
	e := &accEnv{src: cs[0], dst: cs[1]}
	e.srcKey = e.src.CreateUser(t, srcUser, "mon", monCaps, "osd", "profile rbd pool="+srcPool)
	e.dstKey = e.dst.CreateUser(t, dstUser, "mon", monCaps, "osd", "profile rbd pool="+backupPool)
	return e
}

// msModeProvider is providerBlock with ms_mode set in both cluster blocks.
func (e *accEnv) msModeProvider(mode string) string {
	return strings.ReplaceAll(e.providerBlock(), `timeout  = "20s"`, fmt.Sprintf("timeout  = \"20s\"\n    ms_mode  = %q", mode))
}

func TestAccTransport_secureClusters(t *testing.T) {
	e := securePair(t)
	img := uniqueImage("secure")
	const size = 32 << 20
	e.src.CreateImage(t, srcPool, img, size)
	e.src.WriteRandom(t, srcPool, img, 0, size, 1)
	w := newWorkspace(t)
	provider := e.msModeProvider("secure")

	exact := func(address string) string {
		t.Helper()
		snap := w.snapshot(address)
		want := e.src.ExportSHA256(t, srcPool+"/"+img+"@"+snap)
		got := e.dst.ExportSHA256(t, backupPool+"/"+chain.BackupImageName(img)+"@"+snap)
		if !sameSum(got, want) {
			t.Fatalf("%s: restore point sha256 %s differs from the source snapshot's %s", address, got, want)
		}
		return got
	}

	w.write(provider + fullConfig("full", img))
	w.mustApply()
	exact("cephbackup_full.full")

	e.src.WriteRandom(t, srcPool, img, 4<<20, 3<<20, 2)
	backups := fullConfig("full", img) + incrementalConfig("incr", "cephbackup_full.full.id", img)
	w.write(provider + backups)
	w.mustApply()
	incrSum := exact("cephbackup_incremental.incr")

	target := img + "-restored"
	w.write(provider + backups + restoreConfig("r", "cephbackup_incremental.incr.id", img, target, ""))
	w.mustApply()
	if got := e.src.ExportSHA256(t, srcPool+"/"+target); !sameSum(got, incrSum) {
		t.Fatalf("restored image sha256 %s, the restore point's is %s", got, incrSum)
	}

	// A provider limited to crc is refused by these clusters, and says why.
	crc := newWorkspace(t)
	crc.write(e.msModeProvider("crc") + fullConfig("full", img))
	out, err := crc.run("apply", "-auto-approve", "-no-color")
	if err == nil {
		t.Fatalf("apply with ms_mode = \"crc\" against clusters that require secure mode succeeded:\n%s", tail(out, 30))
	}
	flat := strings.Join(strings.Fields(out), " ")
	for _, want := range []string{"requires secure mode", `Set ms_mode = "secure"`} {
		if !strings.Contains(flat, want) {
			t.Errorf("the crc diagnostic does not say %q:\n%s", want, tail(out, 30))
		}
	}
}
