package engine

import (
	"context"
	"fmt"
	"sync"

	"github.com/ceph/go-ceph/rbd"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/transfer"
)

// checksum is the sha256 of the first size bytes of img, reading only the
// objects that may hold data.
func (e *Engine) checksum(ctx context.Context, img *rbd.Image, size uint64) (string, error) {
	data, _, err := transfer.Changes(img, "", size, false)
	if err != nil {
		return "", err
	}
	return transfer.Checksum(ctx, img, size, data, e.Transfer)
}

// verifyCopy reads both images in parallel and fails unless their first size
// bytes are identical; it returns their common sha256. want, when known (a
// checksum recorded at backup time), stands in for reading the source.
func (e *Engine) verifyCopy(ctx context.Context, src, dst *rbd.Image, size uint64, want string) (string, error) {
	var wg sync.WaitGroup
	var srcSum, dstSum string
	var srcErr, dstErr error
	if want == "" {
		wg.Add(1)
		go func() { defer wg.Done(); srcSum, srcErr = e.checksum(ctx, src, size) }()
	} else {
		srcSum = want
	}
	dstSum, dstErr = e.checksum(ctx, dst, size)
	wg.Wait()
	if srcErr != nil {
		return "", fmt.Errorf("verifying: reading %s: %w", src.GetName(), srcErr)
	}
	if dstErr != nil {
		return "", fmt.Errorf("verifying: reading %s: %w", dst.GetName(), dstErr)
	}
	if srcSum != dstSum {
		return "", fmt.Errorf("verification failed: the copy in %s has sha256 %s but its source has %s", dst.GetName(), dstSum, srcSum)
	}
	e.log().Info(ctx, "verified", map[string]any{"image": dst.GetName(), "sha256": dstSum})
	return dstSum, nil
}
