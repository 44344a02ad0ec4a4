package chain

import (
	"fmt"
	"strings"
)

// Points are the records of one backup image together with the snapshots that
// image has: a restore point is a complete record whose snapshot exists.
type Points struct {
	Records   []Record
	Snapshots map[string]bool
}

// Find returns the record with id.
func (p Points) Find(id string) (Record, bool) {
	for _, r := range p.Records {
		if r.ID == id {
			return r, true
		}
	}
	return Record{}, false
}

// IsRestorePoint says whether r can be restored from.
func (p Points) IsRestorePoint(r Record) bool {
	return r.Status == Complete && p.Snapshots[r.Snapshot]
}

// RestorePoints lists the usable restore points, oldest first.
func (p Points) RestorePoints() []Record {
	var out []Record
	for _, r := range p.Records {
		if p.IsRestorePoint(r) {
			out = append(out, r)
		}
	}
	return out
}

// Children are the restore points whose parent is id.
func (p Points) Children(id string) []Record {
	var out []Record
	for _, r := range p.RestorePoints() {
		if r.ParentID == id {
			out = append(out, r)
		}
	}
	return out
}

// Abandoned are records whose restore point never came to be: their
// creation was interrupted. Their source snapshots are garbage.
func (p Points) Abandoned() []Record {
	var out []Record
	for _, r := range p.Records {
		if !p.IsRestorePoint(r) {
			out = append(out, r)
		}
	}
	return out
}

// CheckDeletable refuses to delete a backup that other backups depend on.
func (p Points) CheckDeletable(id string) error {
	children := p.Children(id)
	if len(children) == 0 {
		return nil
	}
	names := make([]string, len(children))
	for i, c := range children {
		names[i] = fmt.Sprintf("%s (%s, %s)", c.ID, c.Kind, c.Snapshot)
	}
	return fmt.Errorf("backup %s still has %d child backup(s) recorded on the backup cluster: %s. "+
		"Delete the children first (in Terraform, make each incremental reference its parent's id so they are destroyed first)",
		id, len(children), strings.Join(names, ", "))
}

// CheckParent verifies that parent can carry a new incremental of src.
func (p Points) CheckParent(parentID string, src Source) (Record, error) {
	parent, ok := p.Find(parentID)
	if !ok || !p.IsRestorePoint(parent) {
		return Record{}, fmt.Errorf("parent backup %s is not a restore point of %s on the backup cluster "+
			"(it never existed there, or it was deleted): point parent_id at an existing backup, or take a new full backup",
			parentID, src.Pool+"/"+src.Image)
	}
	if parent.Source() != src {
		return Record{}, fmt.Errorf("parent backup %s was taken of %s, not of %s: an incremental must continue a chain of the same image",
			parentID, parent.Source(), src)
	}
	return parent, nil
}

// ObsoleteSourceSnapshots are the snapshots on the source image, made by
// this provider for other backups of src than keep, that no future
// incremental needs: only the newest backup's snapshot is a useful
// from-snapshot, as in Cinder. Snapshots the records do not name are never
// returned, whatever their name.
func (p Points) ObsoleteSourceSnapshots(src Source, keep string, sourceSnaps []string) []string {
	ours := map[string]bool{}
	for _, r := range p.Records {
		if r.Source() == src && r.Snapshot != keep {
			ours[r.Snapshot] = true
		}
	}
	var out []string
	for _, s := range sourceSnaps {
		if ours[s] {
			out = append(out, s)
		}
	}
	return out
}
