package chain

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

var src = Source{FSID: "fsid-a", Pool: "rbd", Image: "vol"}

func rec(id, parent string, status Status, minute int) Record {
	at := time.Date(2026, 1, 1, 0, minute, 0, 0, time.UTC)
	kind := Full
	if parent != "" {
		kind = Incremental
	}
	return Record{ID: id, Kind: kind, Status: status, ParentID: parent, SourceFSID: src.FSID, Pool: src.Pool,
		Image: src.Image, Snapshot: "backup." + id + ".snap.1", CreatedAt: at}
}

func chainOf(records ...Record) Points {
	p := Points{Records: records, Snapshots: map[string]bool{}}
	for _, r := range records {
		if r.Status == Complete {
			p.Snapshots[r.Snapshot] = true
		}
	}
	return p
}

func TestRecordsRoundTripThroughMetadata(t *testing.T) {
	a, b := rec("a", "", Complete, 2), rec("b", "a", Pending, 1)
	a.Labels = map[string]string{"tier": "weekly"}
	md := map[string]string{RecordKey("a"): a.Encode(), RecordKey("b"): b.Encode(), SourceKey: EncodeSource(src), "other": "x"}
	got, err := DecodeRecords(md)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "b" || got[1].ID != "a" {
		t.Fatalf("DecodeRecords = %+v, want b then a (oldest first)", got)
	}
	if !reflect.DeepEqual(got[1], a) {
		t.Fatalf("record changed in the round trip: %+v != %+v", got[1], a)
	}
	if s, err := DecodeSource(md[SourceKey]); err != nil || s != src {
		t.Fatalf("DecodeSource = %+v, %v", s, err)
	}
}

func TestDecodeRecordsRefusesCorruptRecords(t *testing.T) {
	if _, err := DecodeRecords(map[string]string{RecordKey("a"): "{not json"}); err == nil {
		t.Fatal("a corrupt record was skipped silently")
	}
	if _, err := DecodeRecords(map[string]string{RecordKey("a"): rec("b", "", Complete, 0).Encode()}); err == nil {
		t.Fatal("a record under another id's key was accepted")
	}
}

func TestChildrenBlockDeletion(t *testing.T) {
	p := chainOf(rec("full", "", Complete, 0), rec("inc1", "full", Complete, 1), rec("inc2", "inc1", Complete, 2))
	err := p.CheckDeletable("full")
	if err == nil || !strings.Contains(err.Error(), "inc1") {
		t.Fatalf("CheckDeletable(full) = %v, want a refusal naming inc1", err)
	}
	if err := p.CheckDeletable("inc2"); err != nil {
		t.Fatalf("the newest incremental must be deletable: %v", err)
	}
	// A child whose restore point is gone no longer holds its parent.
	delete(p.Snapshots, "backup.inc2.snap.1")
	if err := p.CheckDeletable("inc1"); err != nil {
		t.Fatalf("a child without a restore point blocked deletion: %v", err)
	}
}

func TestCheckParent(t *testing.T) {
	p := chainOf(rec("full", "", Complete, 0), rec("pending", "", Pending, 1))
	if _, err := p.CheckParent("full", src); err != nil {
		t.Fatalf("CheckParent(full): %v", err)
	}
	if _, err := p.CheckParent("pending", src); err == nil {
		t.Fatal("an unfinished backup was accepted as a parent")
	}
	if _, err := p.CheckParent("missing", src); err == nil {
		t.Fatal("a missing parent was accepted")
	}
	other := src
	other.Image = "other"
	if _, err := p.CheckParent("full", other); err == nil || !strings.Contains(err.Error(), "same image") {
		t.Fatalf("a parent of another image was accepted: %v", err)
	}
}

func TestAbandonedAndRestorePoints(t *testing.T) {
	p := chainOf(rec("a", "", Complete, 0), rec("b", "a", Pending, 1), rec("c", "a", Complete, 2))
	delete(p.Snapshots, "backup.c.snap.1") // deleted out of band
	if got := ids(p.RestorePoints()); got != "a" {
		t.Fatalf("RestorePoints = %s, want a", got)
	}
	if got := ids(p.Abandoned()); got != "b,c" {
		t.Fatalf("Abandoned = %s, want b,c", got)
	}
}

func TestObsoleteSourceSnapshotsOnlyEverNamesOurs(t *testing.T) {
	// Real ids: a record's snapshot must be named after its id.
	a, b, c := rec(NewID(), "", Complete, 0), rec(NewID(), "", Complete, 1), rec(NewID(), "", Complete, 2)
	forged := rec(NewID(), "", Pending, 3)
	forged.Snapshot = "user-snap" // a record naming a snapshot that is not the provider's
	p := chainOf(a, b, c, forged)
	foreign := "backup.0f8fad5b-d9cb-469f-a165-70867728950e.snap.1" // same pattern, not recorded
	onSource := []string{a.Snapshot, b.Snapshot, c.Snapshot, foreign, "user-snap"}
	got := strings.Join(p.ObsoleteSourceSnapshots(src, c.Snapshot, onSource), ",")
	if want := a.Snapshot + "," + b.Snapshot; got != want {
		t.Fatalf("ObsoleteSourceSnapshots = %s, want %s", got, want)
	}
	other := src
	other.FSID = "fsid-b"
	if got := p.ObsoleteSourceSnapshots(other, "", onSource); len(got) != 0 {
		t.Fatalf("snapshots of another cluster's image were named: %v", got)
	}
}

func ids(rs []Record) string {
	var s []string
	for _, r := range rs {
		s = append(s, r.ID)
	}
	return strings.Join(s, ",")
}

func protect(r Record) Record { r.DeletionProtection = true; return r }

func TestProtectionBlocksDeletion(t *testing.T) {
	p := chainOf(protect(rec("full", "", Complete, 0)), rec("inc1", "full", Complete, 1))
	if err := p.CheckDeletable("inc1"); err != nil {
		t.Fatalf("an unprotected child of a protected backup must be deletable: %v", err)
	}
	p = chainOf(protect(rec("full", "", Complete, 0)))
	err := p.CheckDeletable("full")
	if err == nil || !strings.Contains(err.Error(), "deletion_protection") || !strings.Contains(err.Error(), "full") {
		t.Fatalf("CheckDeletable(protected) = %v, want a refusal naming it and deletion_protection", err)
	}
	// Without its restore point there is nothing left to protect.
	delete(p.Snapshots, "backup.full.snap.1")
	if err := p.CheckDeletable("full"); err != nil {
		t.Fatalf("a protected record without a restore point blocked deletion: %v", err)
	}
}

func TestRecordsWithoutProtectionDecode(t *testing.T) {
	// A record written before deletion_protection existed.
	old := `{"id":"a","kind":"full","status":"complete","source_fsid":"f","pool":"rbd","image":"vol","snapshot":"s","size":1,"transferred_bytes":1,"created_at":"2026-01-01T00:00:00Z"}`
	got, err := DecodeRecords(map[string]string{RecordKey("a"): old})
	if err != nil || len(got) != 1 || got[0].DeletionProtection {
		t.Fatalf("DecodeRecords(old) = %+v, %v", got, err)
	}
	if strings.Contains(rec("a", "", Complete, 0).Encode(), "deletion_protection") {
		t.Fatal("an unprotected record names deletion_protection: older providers' records must stay as they were")
	}
	r := protect(rec("a", "", Complete, 0))
	back, err := DecodeRecords(map[string]string{RecordKey("a"): r.Encode()})
	if err != nil || !back[0].DeletionProtection {
		t.Fatalf("protection lost in the round trip: %+v, %v", back, err)
	}
}

func TestCheckPlannedDeletion(t *testing.T) {
	p := chainOf(rec("full", "", Complete, 0), rec("inc1", "full", Complete, 1), protect(rec("inc2", "inc1", Complete, 2)),
		rec("other", "", Complete, 3))
	// Unprotected children may be deleted first by the same plan: not known to block.
	if err := p.CheckPlannedDeletion("other"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"full", "inc1", "inc2"} {
		err := p.CheckPlannedDeletion(id)
		if err == nil || !strings.Contains(err.Error(), "inc2") {
			t.Fatalf("CheckPlannedDeletion(%s) = %v, want a refusal naming the protected inc2", id, err)
		}
	}
	p2 := chainOf(rec("full", "", Complete, 0), rec("inc1", "full", Complete, 1))
	if err := p2.CheckPlannedDeletion("full"); err != nil {
		t.Fatalf("CheckPlannedDeletion with unprotected children only: %v", err)
	}
}

func TestCheckReparent(t *testing.T) {
	other := rec("x", "", Complete, 9)
	other.Image = "other"
	p := chainOf(rec("a", "", Complete, 0), rec("a1", "a", Complete, 1), rec("a2", "a1", Complete, 2),
		rec("b", "", Complete, 3), rec("pending", "", Pending, 4), other)
	r, err := p.CheckReparent("a1", "b")
	if err != nil || r.ParentID != "b" || r.ID != "a1" {
		t.Fatalf("CheckReparent(a1, b) = %+v, %v", r, err)
	}
	for _, c := range []struct{ id, parent, want string }{
		{"a1", "missing", "not a restore point"},
		{"a1", "pending", "not a restore point"},
		{"a1", "x", "same image"},
		{"a1", "a1", "itself"},
		{"a1", "a2", "descends from"},
		{"a", "b", "full"},
		{"missing", "b", "not a restore point"},
	} {
		if _, err := p.CheckReparent(c.id, c.parent); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CheckReparent(%s, %s) = %v, want an error saying %q", c.id, c.parent, err, c.want)
		}
	}
}
