package main

import (
	"fmt"
	"math/rand"
	"time"

	"github.com/ceph/go-ceph/rbd"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/extent"
)

// 7: as users see it, `terraform apply` of a full backup and then of an
// incremental (1% changed), plugin start, refresh and plan checks included,
// against the same backups the CLI way on the same volume.
func (b *bench) endToEnd() error {
	size := b.size(gib, 128*mib)
	fmt.Printf("end to end: terraform apply of a full and an incremental of %d MiB vs the rbd CLI ...\n", size/mib)
	if err := b.image("e2e", size, extent.Extent{Off: 0, Len: uint64(size)}); err != nil {
		return err
	}
	defer b.removeSource("e2e")
	full := b.providerConfig() + `
resource "cephbackup_full" "f" {
  pool        = "rbd"
  image       = "e2e"
  backup_pool = "backups"
}
`
	incremental := full + `
resource "cephbackup_incremental" "i" {
  parent_id   = cephbackup_full.f.id
  pool        = "rbd"
  image       = "e2e"
  backup_pool = "backups"
}
`
	w, err := newTFWorkspace(full)
	if err != nil {
		return err
	}
	defer w.cleanup()
	defer func() { _, _ = w.tf("destroy", "-auto-approve", "-input=false", "-no-color") }()
	apply := func() (time.Duration, error) {
		start := time.Now()
		_, err := w.tf("apply", "-auto-approve", "-input=false", "-no-color")
		return time.Since(start), err
	}
	// What Terraform adds before any copy: a plan alone (plugin start,
	// connections, refresh, plan-time checks); apply runs one too.
	start := time.Now()
	if _, err := w.tf("plan", "-input=false", "-no-color"); err != nil {
		return err
	}
	planOnly := time.Since(start)
	tfFull, err := apply()
	if err != nil {
		return err
	}
	start = time.Now()
	if err := b.rbdPipe("", "rbd/e2e@cli0", "backups/e2e-cli", size); err != nil {
		return err
	}
	cliFull := time.Since(start)
	defer func() {
		_, _ = b.dst.RBDErr("snap", "purge", "--no-progress", "backups/e2e-cli")
		_, _ = b.dst.RBDErr("rm", "--no-progress", "backups/e2e-cli")
	}()

	// 1% changed in scattered 4 to 64 KiB writes, as in figure 3.
	rng := rand.New(rand.NewSource(7))
	if err := b.src.OnImage("rbd", "e2e", func(img *rbd.Image) error {
		buf := make([]byte, 64<<10)
		for written := int64(0); written < size/100; {
			n := int64(4<<10) << rng.Intn(5)
			rng.Read(buf[:n])
			if _, err := img.WriteAt(buf[:n], rng.Int63n(size-n)&^4095); err != nil {
				return err
			}
			written += n
		}
		return nil
	}); err != nil {
		return err
	}
	if err := w.write(incremental); err != nil {
		return err
	}
	tfInc, err := apply()
	if err != nil {
		return err
	}
	start = time.Now()
	if err := b.rbdPipe("cli0", "rbd/e2e@cli1", "backups/e2e-cli", size); err != nil {
		return err
	}
	cliInc := time.Since(start)
	_, _ = b.src.RBDErr("snap", "rm", "--no-progress", "rbd/e2e@cli1")
	b.inform(fmt.Sprintf("7. end to end: terraform apply vs the rbd CLI, full of %d MiB, then incremental (1%% changed)", size/mib),
		fmt.Sprintf("full %.2fs vs %.2fs = %.2fx; incremental %.2fs vs %.2fs = %.2fx; a terraform plan of the full alone: %.2fs",
			tfFull.Seconds(), cliFull.Seconds(), cliFull.Seconds()/tfFull.Seconds(), tfInc.Seconds(), cliInc.Seconds(), cliInc.Seconds()/tfInc.Seconds(), planOnly.Seconds()))
	return nil
}
