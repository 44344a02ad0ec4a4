package provider

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// With TF_LOG=TRACE, terraform's log holds everything terraform and the
// provider log. The cephx keys and the encryption passphrase must appear in
// none of it, nor in the state.
func TestAccSecrets_keysNeverInLogsOrState(t *testing.T) {
	e := newAccEnv(t)
	img := uniqueImage("secret")
	e.src.CreateImage(t, srcPool, img, 8<<20)
	e.src.WriteRandom(t, srcPool, img, 0, 2<<20, 1)
	w := newWorkspace(t)
	logPath := filepath.Join(t.TempDir(), "trace.log")
	w.env = append(w.env, "TF_LOG=TRACE", "TF_LOG_PATH="+logPath)
	const passphrase = "passphrase-that-must-stay-secret-7f3a"
	tmpBefore := keyFilesIn(t, os.TempDir(), e.srcKey, e.dstKey, passphrase)
	providerBlock := withPassphrase(e.providerBlock(), passphrase)

	w.write(providerBlock + verified(fullConfig("w", img)) + `
data "cephbackup_restore_points" "p" {
  pool        = "rbd"
  image       = "` + img + `"
  backup_pool = "backups"
  depends_on  = [cephbackup_full.w]
}
`)
	w.mustApply()
	if out, err := w.run("show", "-json"); err != nil {
		t.Fatalf("terraform show: %v\n%s", err, out)
	} else if strings.Contains(out, e.srcKey) || strings.Contains(out, e.dstKey) || strings.Contains(out, passphrase) {
		t.Fatal("a key or the passphrase appears in `terraform show -json`")
	}
	w.write(providerBlock)
	w.mustApply()

	trace, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	// The log is not vacuous: it has the provider's own lines.
	for _, want := range []string{"backup transfer starting", "verified", "provider.terraform-provider-cephbackup"} {
		if !strings.Contains(string(trace), want) {
			t.Fatalf("the TRACE log has no %q: it does not capture the provider", want)
		}
	}
	for name, key := range map[string]string{"source cluster's key": e.srcKey, "backup cluster's key": e.dstKey, "encryption passphrase": passphrase} {
		if strings.Contains(string(trace), key) {
			t.Errorf("the %s appears in the TRACE log", name)
		}
		for _, f := range []string{"terraform.tfstate", "terraform.tfstate.backup"} {
			state, err := os.ReadFile(filepath.Join(w.dir, f))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(state), key) {
				t.Errorf("the %s appears in %s", name, f)
			}
		}
	}
	if after := keyFilesIn(t, os.TempDir(), e.srcKey, e.dstKey, passphrase); after > tmpBefore {
		t.Errorf("%d new files holding a key were left in %s", after-tmpBefore, os.TempDir())
	}
}

// keyFilesIn counts the regular files directly in dir that contain a key.
func keyFilesIn(t *testing.T, dir string, keys ...string) int {
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, en := range entries {
		info, err := en.Info()
		if err != nil || !info.Mode().IsRegular() || info.Size() > 1<<20 {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, en.Name()))
		if err != nil {
			continue
		}
		for _, k := range keys {
			if strings.Contains(string(b), k) {
				n++
				break
			}
		}
	}
	return n
}
