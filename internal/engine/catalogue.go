package engine

import (
	"context"
	"sort"

	"github.com/ceph/go-ceph/rbd"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/cephconn"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
)

// BackedUpImage is what a backup pool holds for one source image: its
// backup image, the source it belongs to now, and its restore points.
type BackedUpImage struct {
	BackupImage string
	Source      chain.Source
	// RestorePoints, oldest first, include those of an earlier source the
	// backup image was adopted from (a volume's lost original).
	RestorePoints []chain.Record
	// Size is the backup image's provisioned size in bytes.
	Size uint64
}

// Catalogue lists every backed-up image of backupPool, by image name, from
// one listing of the pool and one read-only open of each backup image. It
// reads only the backup cluster. Images not made by this provider are
// skipped; a backup image removed while the listing runs is left out.
func (e *Engine) Catalogue(ctx context.Context, backupPool string) ([]BackedUpImage, error) {
	ioctx, err := e.BackupCluster.IOContext(ctx, backupPool)
	if err != nil {
		return nil, err
	}
	names, err := rbd.GetImageNames(ioctx)
	if err != nil {
		return nil, &cephconn.Error{What: "the images of pool " + backupPool, Err: err}
	}
	sort.Strings(names)
	var out []BackedUpImage
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if _, ok := chain.SourceImageName(name); !ok {
			continue
		}
		entry, ok, err := e.backedUpImage(ctx, backupPool, name)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, entry)
		}
	}
	return out, nil
}

func (e *Engine) backedUpImage(ctx context.Context, backupPool, name string) (BackedUpImage, bool, error) {
	img, err := openImage(ctx, e.BackupCluster, backupPool, name, "", true)
	if IsNotFound(err) {
		return BackedUpImage{}, false, nil
	}
	if err != nil {
		return BackedUpImage{}, false, err
	}
	defer closeImage(img)
	mark, err := img.GetMetadata(chain.SourceKey)
	if IsNotFound(err) {
		return BackedUpImage{}, false, nil // an image of that name the provider did not make
	}
	if err != nil {
		return BackedUpImage{}, false, &cephconn.Error{What: "the source mark of " + name, Err: err}
	}
	src, err := chain.DecodeSource(mark)
	if err != nil {
		return BackedUpImage{}, false, err
	}
	pts, err := points(img)
	if err != nil {
		return BackedUpImage{}, false, err
	}
	size, _, err := payloadSizes(img)
	if err != nil {
		return BackedUpImage{}, false, err
	}
	return BackedUpImage{BackupImage: name, Source: src, RestorePoints: pts.RestorePoints(), Size: size}, true, nil
}
