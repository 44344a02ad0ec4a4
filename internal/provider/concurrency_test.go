package provider

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
)

// Eight images backed up in one parallel apply, two backups of the first
// image in that apply, and a second workspace backing up the same image at
// the same time: writers of a backup image are serialised by its lock, and
// every restore point is exact.
func TestAccConcurrency_parallelBackupsAndASecondWorkspace(t *testing.T) {
	e := newAccEnv(t)
	var images []string
	for i := range 8 {
		img := uniqueImage(fmt.Sprintf("par%d", i))
		e.src.CreateImage(t, srcPool, img, 32<<20)
		e.src.WriteRandom(t, srcPool, img, int64(i)<<20, 20<<20, int64(i+1))
		images = append(images, img)
	}
	var config strings.Builder
	config.WriteString(e.providerBlock())
	for i, img := range images {
		config.WriteString(fullConfig(fmt.Sprintf("b%d", i), img))
	}
	config.WriteString(fullConfig("again", images[0]))
	first, second := newWorkspace(t), newWorkspace(t)
	first.write(config.String())
	second.write(e.providerBlock() + fullConfig("other", images[0]))
	t.Cleanup(func() {
		for _, w := range []*workspace{first, second} {
			w.write(e.providerBlock())
			if out, err := w.run("apply", "-auto-approve", "-no-color"); err != nil {
				t.Errorf("cleanup apply: %v\n%s", err, tail(out, 20))
			}
		}
		for _, img := range images {
			if err := e.checkNoBackupsLeft(t, img)(nil); err != nil {
				t.Error(err)
			}
		}
	})

	var wg sync.WaitGroup
	outs, errs := make([]string, 2), make([]error, 2)
	for i, w := range []*workspace{first, second} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = w.run("apply", "-auto-approve", "-no-color", "-parallelism=10")
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("workspace %d: %v\n%s", i+1, err, tail(outs[i], 30))
		}
	}

	// Nothing was written during the apply, so every restore point of an
	// image equals its head.
	for i, img := range images {
		want := e.src.ExportSHA256(t, srcPool+"/"+img)
		points := e.dst.Snapshots(t, backupPool, chain.BackupImageName(img))
		wantPoints := 1
		if i == 0 {
			wantPoints = 3
		}
		if len(points) != wantPoints {
			t.Fatalf("%s has restore points %v, want %d", img, points, wantPoints)
		}
		for _, p := range points {
			e.checkPointSum(t, img, p, want)
		}
		if snaps := e.src.Snapshots(t, srcPool, img); len(snaps) != 1 || !contains(points, snaps[0]) {
			t.Fatalf("%s keeps source snapshots %v, want only the newest of %v", img, snaps, points)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
