package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/extent"
)

// 8: one `terraform apply -parallelism=10` backing up 50 images, its
// aggregate rate against the copy ceiling C measured on the same clusters.
func (b *bench) parallelApply() error {
	const images = 50
	size := b.size(32*mib, 8*mib)
	fmt.Printf("terraform apply -parallelism=10 of %d full backups of %d MiB ...\n", images, size/mib)
	if err := b.image("ceilsrc", 512*mib, extent.Extent{Off: 0, Len: uint64(512 * mib)}); err != nil {
		return err
	}
	c, err := b.copyCeiling("rbd/ceilsrc", 512*mib, "4M", "seq", b.size(gib, 256*mib))
	b.removeSource("ceilsrc")
	if err != nil {
		return err
	}
	var config strings.Builder
	config.WriteString(b.providerConfig())
	for i := range images {
		name := fmt.Sprintf("par%d", i)
		if err := b.image(name, size, extent.Extent{Off: 0, Len: uint64(size)}); err != nil {
			return err
		}
		defer b.removeSource(name)
		fmt.Fprintf(&config, "resource \"cephbackup_full\" %q {\n  pool = \"rbd\"\n  image = %q\n  backup_pool = \"backups\"\n}\n", name, name)
	}
	w, err := newTFWorkspace(config.String())
	if err != nil {
		return err
	}
	defer w.cleanup()
	defer func() { _, _ = w.tf("destroy", "-auto-approve", "-input=false", "-no-color", "-parallelism=10") }()
	start := time.Now()
	if _, err := w.tf("apply", "-auto-approve", "-input=false", "-no-color", "-parallelism=10"); err != nil {
		return err
	}
	took := time.Since(start)
	aggregate := rate(images*size, took)
	b.inform(fmt.Sprintf("8. terraform apply -parallelism=10 of %d full backups of %d MiB: aggregate rate vs copy ceiling C", images, size/mib),
		fmt.Sprintf("%.1fs, %.0f MiB/s = %.0f%% of C (%.0f MiB/s, measured beside it)", took.Seconds(), aggregate, 100*aggregate/c.together, c.together))
	return nil
}
