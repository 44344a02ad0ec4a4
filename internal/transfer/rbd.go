package transfer

import (
	"errors"
	"fmt"

	"github.com/ceph/go-ceph/rbd"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/extent"
)

// ImageSink writes to an RBD image.
type ImageSink struct{ Image *rbd.Image }

// WriteAt writes data.
func (s ImageSink) WriteAt(p []byte, off int64) (int, error) { return s.Image.WriteAt(p, off) }

// zeroByte is the pattern of a write-same of zeros.
var zeroByte = []byte{0}

// Zero zeroes [off, off+length). A write-same of zeros, not a discard: librbd
// turns it into write-zeroes, which drops whole objects and zeroes partial
// ranges whatever rbd_skip_partial_discard says, and a pool or image can set
// that option over the client's (then a discard of a partial range returns
// success and leaves the data in place). Were rbd_discard_on_zeroed_write_same
// turned off, the zeros are written as data: slower, still exact.
func (s ImageSink) Zero(off, length uint64) error {
	_, err := s.Image.WriteSame(off, length, zeroByte, 0)
	return err
}

// Changes lists what differs in img (opened at the snapshot or head to compare)
// since snapshot from, over [0, size): data extents that exist and zero
// extents that were discarded. With from = "" it lists every allocated extent.
//
// From the start of an image (from = ""), a first pass asks for whole RADOS
// objects, which librbd answers from the object map when fast-diff is on:
// cheap even on huge sparse images, and exact, as every object that exists at
// the snapshot is listed. With exact set, each listed object is then diffed
// byte-precisely, so scattered small writes cost what they wrote.
//
// Since a snapshot, the object map is never used: on Ceph 16, fast-diff's
// whole-object diff misses changes when a smaller snapshot lies between the
// two (shrink, snapshot, grow) or after a rollback, where the byte-precise
// diff (what `rbd export-diff --from-snap` runs) is exact. The exact
// argument is then moot.
//
// An image encrypted at rest by cephbackup (chain.EncryptionKey) is always
// diffed byte-precisely: with its LUKS encryption loaded, librbd's
// byte-precise diff reports data offsets, but the whole-object diff reports
// raw object offsets, header included, and misses data (measured on Ceph
// 16.2.15).
func Changes(img *rbd.Image, from string, size uint64, exact bool) (data, zero extent.Set, err error) {
	if size == 0 {
		return nil, nil, nil
	}
	whole := extent.Extent{Off: 0, Len: size}
	if from != "" || encrypted(img) {
		return diff(img, from, whole, false)
	}
	coarseData, coarseZero, err := diff(img, from, whole, true)
	if err != nil || !exact {
		return coarseData, coarseZero, err
	}
	var d, z []extent.Extent
	for _, e := range coarseData {
		fd, fz, err := diff(img, from, e, false)
		if err != nil {
			return nil, nil, err
		}
		d, z = append(d, fd...), append(z, fz...)
	}
	return extent.Normalize(d), extent.Union(coarseZero, extent.Normalize(z)), nil
}

// encrypted reports an image encrypted at rest by cephbackup; when the mark
// cannot be read, it answers yes, which costs only the whole-object pass.
func encrypted(img *rbd.Image) bool {
	_, err := img.GetMetadata(chain.EncryptionKey)
	return !errors.Is(err, rbd.ErrNotFound)
}

// Dirty is every range of img that differs from snapshot from ("" = from an
// empty image), data or discard alike: all of it must be rewritten to make
// img equal to something else that shared from.
func Dirty(img *rbd.Image, from string, size uint64) (extent.Set, error) {
	data, zero, err := Changes(img, from, size, false)
	return extent.Union(data, zero), err
}

func diff(img *rbd.Image, from string, within extent.Extent, wholeObject bool) (data, zero extent.Set, err error) {
	var d, z []extent.Extent
	cfg := rbd.DiffIterateConfig{
		SnapName: from,
		Offset:   within.Off,
		Length:   within.Len,
		// A clone's data includes what it reads through from its parent, as
		// `rbd export-diff` counts it.
		IncludeParent: rbd.IncludeParent,
		Callback: func(off, length uint64, exists int, _ interface{}) int {
			if exists != 0 {
				d = append(d, extent.Extent{Off: off, Len: length})
			} else {
				z = append(z, extent.Extent{Off: off, Len: length})
			}
			return 0
		},
	}
	if wholeObject {
		cfg.WholeObject = rbd.EnableWholeObject
	}
	if err := img.DiffIterate(cfg); err != nil {
		if from == "" {
			return nil, nil, fmt.Errorf("listing allocated extents of %s: %w", img.GetName(), err)
		}
		return nil, nil, fmt.Errorf("listing extents of %s changed since snapshot %s: %w", img.GetName(), from, err)
	}
	return extent.Normalize(d), extent.Normalize(z), nil
}

// CoverObjects widens p to the whole RADOS objects its ranges touch, zeros
// included, for a target whose objects must be written whole: on an image
// with librbd's LUKS encryption loaded, the bytes of an object that were
// never written decrypt to noise instead of reading as zeros (measured on
// Ceph 16.2.15), while an object that does not exist reads as zeros. With
// the header's headerBytes at the start of the raw image, object k holds
// [k*objectSize-headerBytes, (k+1)*objectSize-headerBytes) of the data.
// Every range is read from the source, whose holes read as zeros, and
// zeros are written, not skipped.
func (p Plan) CoverObjects(objectSize, headerBytes, size uint64) Plan {
	covered := make([]extent.Extent, 0, len(p.Copy)+len(p.Zero))
	for _, e := range extent.Union(p.Copy, p.Zero) {
		start := (e.Off + headerBytes) / objectSize * objectSize
		end := (e.End() + headerBytes + objectSize - 1) / objectSize * objectSize
		start = max(start, headerBytes) - headerBytes
		covered = append(covered, extent.Extent{Off: start, Len: end - headerBytes - start})
	}
	return Plan{Copy: extent.Normalize(covered).Clip(size), TargetHasData: true}
}

// NewPlan combines what changed at the source with what may be dirty at the
// target: every byte in either set is rewritten from the source, except bytes
// the source itself reports as discarded, which are zeroed without reading.
func NewPlan(srcData, srcZero, dstDirty extent.Set, size uint64, targetHasData bool) Plan {
	return Plan{
		Copy:          extent.Union(srcData, extent.Subtract(dstDirty, srcZero)).Clip(size),
		Zero:          extent.Subtract(srcZero, srcData).Clip(size),
		TargetHasData: targetHasData,
	}
}
