package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/ceph/go-ceph/rbd"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/cephconn"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/rbdaio"
)

// CloneOfKey marks an image made by Clone with the backup id it was cloned
// from, so that removing it never removes an image of somebody else's.
const CloneOfKey = "cephbackup.clone_of"

// CloneRequest names a restore point and the image to clone it into, both on
// the backup cluster (a clone cannot span clusters).
type CloneRequest struct {
	BackupPool, Image, BackupID string // the restore point
	TargetPool, TargetImage     string // the clone, created; never overwritten
}

// Clone makes an instant restore: a copy-on-write clone (format 2, so the
// restore point's snapshot needs no protection) of a restore point, usable at
// once whatever its size, reading unchanged data from the restore point. The
// restore point cannot be deleted while the clone depends on it (Delete
// refuses, naming the clone); FlattenClone ends the dependency.
func (e *Engine) Clone(ctx context.Context, req CloneRequest) (chain.Record, error) {
	if err := chain.ValidatePoolPath(AttrTargetPool, req.TargetPool); err != nil {
		return chain.Record{}, &FieldError{Field: AttrTargetPool, Err: err}
	}
	if err := chain.ValidateName(AttrTargetImage, req.TargetImage); err != nil {
		return chain.Record{}, &FieldError{Field: AttrTargetImage, Err: err}
	}
	rec, err := e.GetBackup(ctx, req.BackupPool, req.Image, req.BackupID)
	if err != nil {
		return chain.Record{}, &FieldError{Field: AttrBackupID, Err: err}
	}
	target, err := e.BackupCluster.IOContext(ctx, req.TargetPool)
	if err != nil {
		return chain.Record{}, &FieldError{Field: AttrTargetPool, Err: err}
	}
	if exists, err := imageExists(ctx, e.BackupCluster, req.TargetPool, req.TargetImage); err != nil {
		return chain.Record{}, err
	} else if exists {
		return chain.Record{}, &FieldError{Field: AttrTargetImage, Err: fmt.Errorf("image %s already exists on %s: a clone never overwrites an image",
			spec(req.TargetPool, req.TargetImage), e.BackupCluster.Name())}
	}
	parent, err := e.BackupCluster.IOContext(ctx, req.BackupPool)
	if err != nil {
		return chain.Record{}, err
	}
	// Under the backup image's lock, so no deletion of the restore point
	// runs between the check above and the clone's attachment to it.
	dst, err := openImage(ctx, e.BackupCluster, req.BackupPool, chain.BackupImageName(req.Image), "", false)
	if err != nil {
		return chain.Record{}, err
	}
	defer closeImage(dst)
	unlock, err := e.lock(ctx, dst, writerPatience)
	if err != nil {
		return chain.Record{}, err
	}
	defer unlock()
	if _, err := e.GetBackup(ctx, req.BackupPool, req.Image, req.BackupID); err != nil {
		return chain.Record{}, &FieldError{Field: AttrBackupID, Err: err}
	}
	if enc, encrypted, err := encryptionOf(dst); err != nil {
		return chain.Record{}, err
	} else if encrypted {
		return chain.Record{}, &FieldError{Field: AttrBackupID, Err: fmt.Errorf("backup %s is encrypted at rest (%s): a clone of it would hold the ciphertext, "+
			"readable only by a librbd client that loads the encryption with the passphrase (no krbd, no older QEMU). Restore it with cephbackup_restore instead, "+
			"which decrypts. Nothing was changed", req.BackupID, enc.Format)}
	}
	opts := rbd.NewRbdImageOptions()
	defer opts.Destroy()
	if err := opts.SetUint64(rbd.ImageOptionCloneFormat, 2); err != nil {
		return chain.Record{}, err
	}
	if err := rbd.CloneImage(parent, chain.BackupImageName(req.Image), rec.Snapshot, target, req.TargetImage, opts); err != nil {
		return chain.Record{}, &cephconn.Error{What: "a clone of " + spec(req.BackupPool, chain.BackupImageName(req.Image)) + "@" + rec.Snapshot, Err: err}
	}
	clone, err := openImage(ctx, e.BackupCluster, req.TargetPool, req.TargetImage, "", false)
	if err == nil {
		err = clone.SetMetadata(CloneOfKey, rec.ID)
		closeImage(clone)
	}
	if err != nil {
		// An unmarked clone would be left to nobody: take it back.
		_ = rbd.RemoveImage(target, req.TargetImage)
		return chain.Record{}, &cephconn.Error{What: "marking the clone " + spec(req.TargetPool, req.TargetImage), Err: err}
	}
	e.log().Info(ctx, "restore point cloned", map[string]any{"id": rec.ID, "clone": spec(req.TargetPool, req.TargetImage)})
	return rec, nil
}

// CloneState is what the backup cluster says about an image made by Clone.
type CloneState struct {
	Exists bool
	// Flattened: the clone no longer depends on a restore point.
	Flattened bool
	Size      uint64
}

// ReadClone reports on a clone of backup id; an image of that name that is
// not such a clone is an error, so nothing treats it as one.
func (e *Engine) ReadClone(ctx context.Context, pool, image, id string) (CloneState, error) {
	img, err := e.openClone(ctx, pool, image, id, true)
	if IsNotFound(err) {
		return CloneState{}, nil
	}
	if err != nil {
		return CloneState{}, err
	}
	defer closeImage(img)
	size, err := img.GetSize()
	if err != nil {
		return CloneState{}, &cephconn.Error{What: "the size of " + spec(pool, image), Err: err}
	}
	_, err = img.GetParent()
	if err != nil && !IsNotFound(err) {
		return CloneState{}, &cephconn.Error{What: "the parent of " + spec(pool, image), Err: err}
	}
	return CloneState{Exists: true, Flattened: IsNotFound(err), Size: size}, nil
}

// FlattenClone copies into a clone what it still reads from its restore
// point, so that it stands alone and the restore point can be deleted. The
// clone stays usable meanwhile (clients may have it open).
func (e *Engine) FlattenClone(ctx context.Context, pool, image, id string) error {
	img, err := e.openClone(ctx, pool, image, id, false)
	if err != nil {
		return err
	}
	defer closeImage(img)
	if _, err := img.GetParent(); IsNotFound(err) {
		return nil
	}
	e.log().Info(ctx, "flattening clone", map[string]any{"clone": spec(pool, image)})
	// The flatten is waited for whatever happens: closing the image under
	// it makes librbd abort the process.
	if aio, aioErr := rbdaio.Of(img); aioErr == nil {
		err = aio.Flatten(ctx)
	} else {
		e.warnNoAsyncIO(ctx, aioErr)
		err = img.Flatten() // cannot be stopped: waited for to its end
	}
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("flattening %s: %w: the flatten was stopped (the clone stays usable, and what it copied stays; apply again to finish)", spec(pool, image), ctx.Err())
	}
	return &cephconn.Error{What: "flattening " + spec(pool, image), Err: err}
}

// RemoveClone removes a clone of backup id; an image that is not one is
// refused and kept.
func (e *Engine) RemoveClone(ctx context.Context, pool, image, id string) error {
	img, err := e.openClone(ctx, pool, image, id, true)
	if IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	closeImage(img)
	ioctx, err := e.BackupCluster.IOContext(ctx, pool)
	if err != nil {
		return err
	}
	if err := rbd.RemoveImage(ioctx, image); err != nil && !IsNotFound(err) {
		return &cephconn.Error{What: "removing the clone " + spec(pool, image), Err: err}
	}
	return nil
}

// openClone opens pool/image after checking it is the clone of backup id
// that Clone made.
func (e *Engine) openClone(ctx context.Context, pool, image, id string, readOnly bool) (*rbd.Image, error) {
	img, err := openImage(ctx, e.BackupCluster, pool, image, "", readOnly)
	if err != nil {
		return nil, err
	}
	mark, err := img.GetMetadata(CloneOfKey)
	if err != nil || mark != id {
		closeImage(img)
		if err != nil && !IsNotFound(err) {
			return nil, &cephconn.Error{What: "the clone mark of " + spec(pool, image), Err: err}
		}
		return nil, fmt.Errorf("%w: %s on %s is not the clone of backup %s that this provider made (its %s mark is %q); it was left alone",
			ErrNotOurClone, spec(pool, image), e.BackupCluster.Name(), id, CloneOfKey, mark)
	}
	return img, nil
}

// ErrNotOurClone is an image where a clone of a given backup was expected.
var ErrNotOurClone = errors.New("not this backup's clone")

// ErrHasClones is the refusal to delete a restore point that clones depend on.
var ErrHasClones = errors.New("clones depend on this restore point")

// clonesOf lists the images cloned from a snapshot of img (the backup
// image), as pool/image, leaving out those already removed (in the trash).
func clonesOf(ctx context.Context, c *cephconn.Client, pool, image, snap string) ([]string, error) {
	at, err := openImage(ctx, c, pool, image, snap, true)
	if IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer closeImage(at)
	children, err := at.ListChildrenAttributes()
	if err != nil {
		return nil, &cephconn.Error{What: "the clones of " + spec(pool, image) + "@" + snap, Err: err}
	}
	var out []string
	for _, ch := range children {
		if !ch.Trash {
			out = append(out, spec(cephconn.PoolPath(ch.PoolName, ch.PoolNamespace), ch.ImageName))
		}
	}
	sort.Strings(out)
	return out, nil
}

// refuseIfCloned fails with ErrHasClones, naming them, when clones depend on
// the restore point snap.
func refuseIfCloned(ctx context.Context, c *cephconn.Client, backupPool, image, id, snap string) error {
	if snap == "" {
		return nil
	}
	clones, err := clonesOf(ctx, c, backupPool, chain.BackupImageName(image), snap)
	if err != nil || len(clones) == 0 {
		return err
	}
	return fmt.Errorf("%w: backup %s has the clone(s) %s; flatten them (flatten = true on their cephbackup_clone) or delete them first",
		ErrHasClones, id, strings.Join(clones, ", "))
}

// imageExists says whether pool/image exists on c.
func imageExists(ctx context.Context, c *cephconn.Client, pool, image string) (bool, error) {
	img, err := openImage(ctx, c, pool, image, "", true)
	if IsNotFound(err) {
		return false, nil
	}
	closeImage(img)
	return err == nil, err
}
