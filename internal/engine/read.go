package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/ceph/go-ceph/rbd"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/cephconn"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
)

// readPoints opens the backup image of image in backupPool read-only and
// reads its records. ok is false when the image does not exist.
func (e *Engine) readPoints(ctx context.Context, backupPool, image string) (pts chain.Points, ok bool, err error) {
	// A missing pool is a configuration error, not an empty backup set.
	if _, err := e.BackupCluster.IOContext(ctx, backupPool); err != nil {
		return chain.Points{}, false, err
	}
	img, err := openImage(ctx, e.BackupCluster, backupPool, chain.BackupImageName(image), "", true)
	if IsNotFound(err) {
		return chain.Points{}, false, nil
	}
	if err != nil {
		return chain.Points{}, false, err
	}
	defer closeImage(img)
	pts, err = points(img)
	return pts, err == nil, err
}

// GetBackup returns the restore point id of image's backups in backupPool,
// or ErrGone when it is not (or no longer) a restore point.
func (e *Engine) GetBackup(ctx context.Context, backupPool, image, id string) (chain.Record, error) {
	pts, ok, err := e.readPoints(ctx, backupPool, image)
	return findBackup(pts, ok, err, id)
}

// findBackup is GetBackup's answer from what readPoints returned.
func findBackup(pts chain.Points, ok bool, err error, id string) (chain.Record, error) {
	if err != nil {
		return chain.Record{}, err
	}
	r, found := pts.Find(id)
	if !ok || !found {
		return chain.Record{}, ErrForgotten
	}
	if r.Status == chain.Deleting {
		return r, ErrDeleting
	}
	if !pts.IsRestorePoint(r) {
		return chain.Record{}, ErrGone
	}
	r.PointProtected = pts.Protected[r.Snapshot]
	return r, nil
}

// FindBackup looks for backup id among every backup image of backupPool,
// for import, where only the pool and the id are known. It reads through the
// refresh cache: importing many backups reads each backup image once.
func (e *Engine) FindBackup(ctx context.Context, backupPool, id string) (chain.Record, error) {
	ioctx, err := e.BackupCluster.IOContext(ctx, backupPool)
	if err != nil {
		return chain.Record{}, err
	}
	names, err := rbd.GetImageNames(ioctx)
	if err != nil {
		return chain.Record{}, &cephconn.Error{What: "the images of pool " + backupPool, Err: err}
	}
	for _, name := range names {
		image, ok := chain.SourceImageName(name)
		if !ok {
			continue
		}
		r, err := e.ReadBackup(ctx, backupPool, image, id)
		if errors.Is(err, ErrGone) {
			continue
		}
		return r, err
	}
	return chain.Record{}, fmt.Errorf("no restore point with id %s in any backup image of pool %s on %s", id, backupPool, e.BackupCluster.Name())
}

// RestorePoints lists the restore points of pool/image held in backupPool,
// oldest first. It reads only the backup cluster.
func (e *Engine) RestorePoints(ctx context.Context, pool, image, backupPool string) ([]chain.Record, error) {
	pts, ok, err := e.readPoints(ctx, backupPool, image)
	if err != nil || !ok {
		return nil, err
	}
	var out []chain.Record
	for _, r := range pts.RestorePoints() {
		if r.Pool == pool && r.Image == image {
			out = append(out, r)
		}
	}
	return out, nil
}

// CheckBackupInputs verifies, before any change, that the source pool and
// image and the backup pool exist, and that an existing backup image holds
// backups of this image. With adopt, a backup image of another source image
// that may be adopted is no error: the adoption the backup will make is
// returned. Failures to reach a cluster are returned as they are.
func (e *Engine) CheckBackupInputs(ctx context.Context, pool, image, backupPool string, adopt bool) (*chain.Adoption, error) {
	if _, err := e.SourceCluster.IOContext(ctx, pool); err != nil {
		if IsNotFound(err) {
			return nil, &FieldError{Field: AttrPool, Err: err}
		}
		return nil, err
	}
	exists, err := e.ImageExists(ctx, pool, image)
	if err != nil {
		return nil, err
	}
	if !exists {
		return nil, &FieldError{Field: AttrImage, Err: &cephconn.Error{What: fmt.Sprintf("image %s on %s", spec(pool, image), e.SourceCluster.Name()), Err: rbd.ErrNotFound}}
	}
	if _, err := e.BackupCluster.IOContext(ctx, backupPool); err != nil {
		if IsNotFound(err) {
			return nil, &FieldError{Field: AttrBackupPool, Err: err}
		}
		return nil, err
	}
	// What a backup checks under the lock, checked now: an existing backup
	// image must hold backups of this image and nothing else.
	dst, err := openImage(ctx, e.BackupCluster, backupPool, chain.BackupImageName(image), "", true)
	if IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer closeImage(dst)
	fsid, err := e.SourceCluster.FSID(ctx)
	if err != nil {
		return nil, err
	}
	src := chain.Source{FSID: fsid, Pool: pool, Image: image}
	_, err = checkBackupImage(dst, backupPool, src)
	var other *OtherSourceError
	if adopt && errors.As(err, &other) {
		a, err := e.checkAdoption(ctx, dst, backupPool, other.Owner, src)
		if err != nil {
			return nil, &FieldError{Field: AttrAdoptBackupImage, Err: err}
		}
		return &a, nil
	}
	if err != nil {
		return nil, &FieldError{Field: AttrBackupPool, Err: err}
	}
	return nil, nil
}

// IncrementalBase is the snapshot the next incremental of pool/image would
// diff from (see fill), or "" when it would copy the whole image.
func (e *Engine) IncrementalBase(ctx context.Context, pool, image, backupPool string) (string, error) {
	fsid, err := e.SourceCluster.FSID(ctx)
	if err != nil {
		return "", err
	}
	src, err := openImage(ctx, e.SourceCluster, pool, image, "", true)
	if err != nil {
		return "", err
	}
	defer closeImage(src)
	dst, err := openImage(ctx, e.BackupCluster, backupPool, chain.BackupImageName(image), "", true)
	if IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	defer closeImage(dst)
	pts, err := points(dst)
	if err != nil {
		return "", err
	}
	head, err := dst.GetMetadata(chain.HeadKey)
	if err != nil && !errors.Is(err, rbd.ErrNotFound) {
		return "", err
	}
	return incrementalBase(src, pts, chain.Source{FSID: fsid, Pool: pool, Image: image}, head)
}
