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
	// Protected are the snapshots protected with `rbd snap protect`.
	Protected map[string]bool
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

// CheckDeletable refuses to delete a protected restore point, or a backup
// that other backups depend on.
func (p Points) CheckDeletable(id string) error {
	if r, ok := p.Find(id); ok && p.IsRestorePoint(r) && r.DeletionProtection {
		return errProtected(r)
	}
	children := p.Children(id)
	if len(children) == 0 {
		return nil
	}
	return fmt.Errorf("backup %s still has %d child backup(s) recorded on the backup cluster: %s. "+
		"Delete the children first (in Terraform, make each incremental reference its parent's id so they are destroyed first)",
		id, len(children), describe(children))
}

func errProtected(r Record) error {
	return fmt.Errorf("backup %s (%s backup of %s/%s, restore point %s) has deletion_protection set on the backup cluster: "+
		"set deletion_protection = false on it and apply before deleting it", r.ID, r.Kind, r.Pool, r.Image, r.Snapshot)
}

func describe(records []Record) string {
	names := make([]string, len(records))
	for i, c := range records {
		names[i] = fmt.Sprintf("%s (%s, %s)", c.ID, c.Kind, c.Snapshot)
	}
	return strings.Join(names, ", ")
}

// Descendants are the restore points below id: its children, theirs, and so
// on, each once.
func (p Points) Descendants(id string) []Record {
	var out []Record
	seen := map[string]bool{id: true}
	queue := []string{id}
	for len(queue) > 0 {
		for _, c := range p.Children(queue[0]) {
			if !seen[c.ID] {
				seen[c.ID] = true
				out = append(out, c)
				queue = append(queue, c.ID)
			}
		}
		queue = queue[1:]
	}
	return out
}

// CheckPlannedDeletion is what can be known, before a plan that deletes id
// is applied, to make that deletion fail whatever else the same plan
// deletes: id is a protected restore point, or a protected restore point
// descends from id (it cannot be deleted, so neither can the backups it
// hangs from). Unprotected children are not reported: the same plan may
// delete them first; CheckDeletable refuses at deletion time if it does not.
func (p Points) CheckPlannedDeletion(id string) error {
	if r, ok := p.Find(id); ok && p.IsRestorePoint(r) && r.DeletionProtection {
		return errProtected(r)
	}
	var protected []Record
	for _, d := range p.Descendants(id) {
		if d.DeletionProtection {
			protected = append(protected, d)
		}
	}
	if len(protected) == 0 {
		return nil
	}
	return fmt.Errorf("backup %s has protected descendant backup(s) recorded on the backup cluster: %s. "+
		"They have deletion_protection set and cannot be deleted, so neither can the backups they continue: "+
		"clear their deletion_protection and delete them first",
		id, describe(protected))
}

// CheckReparent checks that the incremental id may record newParent as its
// parent, and returns its record with the new parent. A parent is
// bookkeeping for the deletion order (a restore point is complete on its
// own), so any restore point of the same source image will do, except id
// itself and its descendants: either would make a cycle that no deletion
// order could undo.
func (p Points) CheckReparent(id, newParent string) (Record, error) {
	r, ok := p.Find(id)
	if !ok || !p.IsRestorePoint(r) {
		return Record{}, fmt.Errorf("backup %s is not a restore point on the backup cluster (it never existed there, or it was deleted)", id)
	}
	if r.Kind != Incremental {
		return Record{}, fmt.Errorf("backup %s is a full backup: it has no parent", id)
	}
	if newParent == id {
		return Record{}, fmt.Errorf("backup %s cannot be the parent of itself", id)
	}
	if _, err := p.CheckParent(newParent, r.Source()); err != nil {
		return Record{}, err
	}
	for _, d := range p.Descendants(id) {
		if d.ID == newParent {
			return Record{}, fmt.Errorf("backup %s descends from %s: making it the parent of %s would make a cycle in the chain, "+
				"and neither could ever be deleted", newParent, id, id)
		}
	}
	r.ParentID = newParent
	return r, nil
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
// returned, whatever their name, nor those of records that fail CheckOwn.
func (p Points) ObsoleteSourceSnapshots(src Source, keep string, sourceSnaps []string) []string {
	ours := map[string]bool{}
	for _, r := range p.Records {
		if r.Source() == src && r.Snapshot != keep && r.CheckOwn(src.Image) == nil {
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
