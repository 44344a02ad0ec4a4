package transfer

import (
	"fmt"

	"github.com/ceph/go-ceph/rbd"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/extent"
)

// ImageSink writes to an RBD image. Zero is a discard: the connection sets
// rbd_skip_partial_discard=false, so librbd zeroes ranges it cannot drop
// whole instead of leaving their data in place.
type ImageSink struct{ Image *rbd.Image }

// WriteAt writes data.
func (s ImageSink) WriteAt(p []byte, off int64) (int, error) { return s.Image.WriteAt(p, off) }

// Zero zeroes [off, off+length).
func (s ImageSink) Zero(off, length uint64) error {
	_, err := s.Image.Discard(off, length)
	return err
}

// Changes lists what differs in img (opened at the snapshot or head to compare)
// since snapshot from, over [0, size): data extents that exist and zero
// extents that were discarded. With from = "" it lists every allocated extent.
//
// A first pass asks for whole RADOS objects, which librbd answers from the
// object map when fast-diff is on: cheap even on huge sparse images. With
// exact set, each changed object is then diffed byte-precisely, so scattered
// small writes cost what they wrote, not whole objects.
func Changes(img *rbd.Image, from string, size uint64, exact bool) (data, zero extent.Set, err error) {
	if size == 0 {
		return nil, nil, nil
	}
	coarseData, coarseZero, err := diff(img, from, extent.Extent{Off: 0, Len: size}, true)
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
