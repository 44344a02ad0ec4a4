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
	if got, ok := SourceImageName(BackupImageName("volume-1234")); !ok || got != "volume-1234" {
		t.Errorf("SourceImageName(BackupImageName(volume-1234)) = %q, %v", got, ok)
	}
	for _, other := range []string{"volume-1234", ".backup.base", "volume.backup.base.old"} {
		if got, ok := SourceImageName(other); ok {
			t.Errorf("SourceImageName(%q) = %q, true: it is no backup image", other, got)
		}
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

// C strings end at NUL, so "vol\x00x" would address "vol": names with NUL
// or other control characters are refused, with what, why and what to do.
func TestValidateNameControlCharacters(t *testing.T) {
	for _, bad := range []string{"vol\x00x", "\x00", "vol\x00", "vol\nx", "vol\tx", "vol\rx", "vol\x1bx", "vol\x1fx", "vol\x7fx"} {
		err := ValidateName("image", bad)
		if err == nil {
			t.Errorf("ValidateName(%q) accepted a name with a control character", bad)
			continue
		}
		msg := err.Error()
		for _, want := range []string{"image", "control character", "remove"} {
			if !strings.Contains(msg, want) {
				t.Errorf("ValidateName(%q): message %q lacks %q", bad, msg, want)
			}
		}
		if strings.ContainsAny(msg, "\x00\n\r\x1b\x7f") {
			t.Errorf("ValidateName(%q): message %q carries the raw control character", bad, msg)
		}
	}
	if err := ValidateName("pool", "rbd\x00"); err == nil || !strings.Contains(err.Error(), "NUL") {
		t.Errorf("a NUL is not named as such: %v", err)
	}
	for _, good := range []string{"vol\u00e9", "vol~1", "vol x", "\u00e9"} {
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
	pool, gotID, err = ParseImportID(ImportID("backups/tenant-a", id))
	if err != nil || pool != "backups/tenant-a" || gotID != id {
		t.Fatalf("ParseImportID round trip in a namespace: %q %q %v", pool, gotID, err)
	}
	for _, bad := range []string{"backups", "/" + id, "backups/xyz", "", "backups//" + id, "a/b/c/" + id, "/ns/" + id} {
		if _, _, err := ParseImportID(bad); err == nil {
			t.Errorf("ParseImportID(%q) accepted it", bad)
		}
	}
}

func TestValidatePoolPath(t *testing.T) {
	for _, ok := range []string{"rbd", "rbd/tenant-a"} {
		if err := ValidatePoolPath("pool", ok); err != nil {
			t.Errorf("ValidatePoolPath(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "/ns", "rbd/", "rbd/a/b", "rbd/a@b"} {
		if err := ValidatePoolPath("pool", bad); err == nil {
			t.Errorf("ValidatePoolPath(%q) accepted it", bad)
		}
	}
}
