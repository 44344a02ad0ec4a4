package engine

import (
	"context"
	"fmt"

	"github.com/ceph/go-ceph/rbd"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/cephconn"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/transfer"
)

// spec names an image as rbd does.
func spec(pool, image string) string { return pool + "/" + image }

// openImage opens pool/image at snap ("" = head) on c, read-only or not.
func openImage(ctx context.Context, c *cephconn.Client, pool, image, snap string, readOnly bool) (*rbd.Image, error) {
	ioctx, err := c.IOContext(ctx, pool)
	if err != nil {
		return nil, err
	}
	open := rbd.OpenImage
	if readOnly {
		open = rbd.OpenImageReadOnly
	}
	img, err := open(ioctx, image, snap)
	if err != nil {
		what := fmt.Sprintf("image %s on %s", spec(pool, image), c.Name())
		if snap != "" {
			what = fmt.Sprintf("snapshot %s@%s on %s", spec(pool, image), snap, c.Name())
		}
		return nil, &cephconn.Error{What: what, Err: err, Pool: pool, User: c.User()}
	}
	return img, nil
}

// closeImage closes img when it was opened; a failed close leaves nothing to undo.
func closeImage(img *rbd.Image) {
	if img != nil {
		_ = img.Close()
	}
}

// ImageExists reports whether pool/image exists on the source cluster.
func (e *Engine) ImageExists(ctx context.Context, pool, image string) (bool, error) {
	if _, err := e.SourceCluster.IOContext(ctx, pool); err != nil {
		return false, err
	}
	img, err := openImage(ctx, e.SourceCluster, pool, image, "", true)
	if IsNotFound(err) {
		return false, nil
	}
	closeImage(img)
	return err == nil, err
}

// snapshots returns the snapshot names of img with their ids and sizes.
func snapshots(img *rbd.Image) (map[string]rbd.SnapInfo, error) {
	infos, err := img.GetSnapshotNames()
	if err != nil {
		return nil, fmt.Errorf("listing snapshots of %s: %w", img.GetName(), err)
	}
	out := make(map[string]rbd.SnapInfo, len(infos))
	for _, s := range infos {
		out[s.Name] = s
	}
	return out, nil
}

// resize makes img hold size bytes of data, when it does not already. With
// LUKS encryption loaded, librbd resizes the raw image, whose first
// headerBytes (0 for a plaintext image) hold the header.
func resize(img *rbd.Image, size, headerBytes uint64) error {
	cur, err := img.GetSize()
	if err != nil || cur == size {
		return err
	}
	if err := img.Resize(size + headerBytes); err != nil {
		return &cephconn.Error{What: fmt.Sprintf("resizing %s to %d bytes", img.GetName(), size), Err: err}
	}
	return nil
}

// points reads the records and snapshots of a backup image.
func points(img *rbd.Image) (chain.Points, error) {
	md, err := img.ListMetadata()
	if err != nil {
		return chain.Points{}, fmt.Errorf("reading backup records of %s: %w", img.GetName(), err)
	}
	records, err := chain.DecodeRecords(md)
	if err != nil {
		return chain.Points{}, fmt.Errorf("backup image %s: %w", img.GetName(), err)
	}
	snaps, err := snapshots(img)
	if err != nil {
		return chain.Points{}, err
	}
	names := make(map[string]bool, len(snaps))
	protected := map[string]bool{}
	for n := range snaps {
		names[n] = true
		is, err := img.GetSnapshot(n).IsProtected()
		if IsNotFound(err) {
			// Removed since the listing, or not a user snapshot (one in the
			// trash namespace, named by a uuid): protected it is not.
			continue
		}
		if err != nil {
			return chain.Points{}, &cephconn.Error{What: "the protection of snapshot " + img.GetName() + "@" + n, Err: err}
		}
		protected[n] = is
	}
	return chain.Points{Records: records, Snapshots: names, Protected: protected}, nil
}

// setProtection protects or unprotects the snapshot snap of img (`rbd snap
// protect`), unless it is so already. Ceph then refuses its removal to every
// client until it is unprotected.
func setProtection(img *rbd.Image, snap string, protect bool) error {
	s := img.GetSnapshot(snap)
	is, err := s.IsProtected()
	if err != nil {
		return &cephconn.Error{What: "the protection of snapshot " + img.GetName() + "@" + snap, Err: err}
	}
	if is == protect {
		return nil
	}
	if protect {
		err = s.Protect()
	} else {
		err = s.Unprotect()
	}
	if err != nil {
		verb := map[bool]string{true: "protecting", false: "unprotecting"}[protect]
		return &cephconn.Error{What: verb + " snapshot " + img.GetName() + "@" + snap, Err: err}
	}
	return nil
}

// holdsAnything reports whether img has snapshots, metadata or data.
func holdsAnything(img *rbd.Image) (bool, error) {
	snaps, err := img.GetSnapshotNames()
	if err != nil || len(snaps) > 0 {
		return len(snaps) > 0, err
	}
	if md, err := img.ListMetadata(); err != nil || len(md) > 0 {
		return len(md) > 0, err
	}
	size, err := img.GetSize()
	if err != nil {
		return false, err
	}
	data, _, err := transfer.Changes(img, "", size, false)
	return len(data) > 0, err
}

// removeSnapshot removes snap from img; already gone is success.
func removeSnapshot(img *rbd.Image, snap string) error {
	err := img.GetSnapshot(snap).Remove()
	if err != nil && !IsNotFound(err) {
		return &cephconn.Error{What: "snapshot " + img.GetName() + "@" + snap, Err: err}
	}
	return nil
}
