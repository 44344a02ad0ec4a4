package chain

import (
	"strings"
	"testing"
	"time"
)

func TestSnapshotNameRoundTrip(t *testing.T) {
	id := "0f8fad5b-d9cb-469f-a165-70867728950e"
	at := time.Unix(1700000000, 0)
	name := SnapshotName(id, at)
	if name != "backup.0f8fad5b-d9cb-469f-a165-70867728950e.snap.1700000000" {
		t.Fatalf("SnapshotName = %q, not Cinder's backup.<id>.snap.<unix seconds>", name)
	}
	gotID, gotAt, ok := ParseSnapshotName(name)
	if !ok || gotID != id || !gotAt.Equal(at) {
		t.Fatalf("ParseSnapshotName(%q) = %q, %v, %v", name, gotID, gotAt, ok)
	}
}

func TestParseSnapshotNameRejectsForeignNames(t *testing.T) {
	for _, name := range []string{
		"backup.snap.1", "backup.xyz.snap.1700000000", "mysnap",
		"backup.0f8fad5b-d9cb-469f-a165-70867728950e.snap.", "backup.0f8fad5b-d9cb-469f-a165-70867728950e.snap.12x",
		"xbackup.0f8fad5b-d9cb-469f-a165-70867728950e.snap.1",
	} {
		if _, _, ok := ParseSnapshotName(name); ok {
			t.Errorf("ParseSnapshotName(%q) accepted a name it did not make", name)
		}
	}
}

func TestBackupImageName(t *testing.T) {
	if got := BackupImageName("volume-1234"); got != "volume-1234.backup.base" {
		t.Fatalf("BackupImageName = %q", got)
	}
}

func TestValidateName(t *testing.T) {
	for _, bad := range []string{"", "rbd/vol", "vol@snap", " vol", strings.Repeat("a", 5000)} {
		if err := ValidateName("image", bad); err == nil {
			t.Errorf("ValidateName(%q) accepted a bad name", bad)
		}
	}
	for _, good := range []string{"rbd", "volume-1234", "a.b_c"} {
		if err := ValidateName("image", good); err != nil {
			t.Errorf("ValidateName(%q): %v", good, err)
		}
	}
}

func TestValidateID(t *testing.T) {
	if err := ValidateID(NewID()); err != nil {
		t.Fatalf("a new id is invalid: %v", err)
	}
	for _, bad := range []string{"", "abc", "0F8FAD5B-D9CB-469F-A165-70867728950E", "{0f8fad5b-d9cb-469f-a165-70867728950e}"} {
		if ValidateID(bad) == nil {
			t.Errorf("ValidateID(%q) accepted it", bad)
		}
	}
}

func TestImportID(t *testing.T) {
	id := NewID()
	pool, gotID, err := ParseImportID(ImportID("backups", id))
	if err != nil || pool != "backups" || gotID != id {
		t.Fatalf("ParseImportID round trip: %q %q %v", pool, gotID, err)
	}
	for _, bad := range []string{"backups", "/" + id, "backups/xyz", ""} {
		if _, _, err := ParseImportID(bad); err == nil {
			t.Errorf("ParseImportID(%q) accepted it", bad)
		}
	}
}
