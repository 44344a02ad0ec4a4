package chain

import (
	"strings"
	"testing"
	"time"
)

func TestAdoptableWhenEveryRecordIsARestorePoint(t *testing.T) {
	p := chainOf(rec("full", "", Complete, 0), rec("inc1", "full", Complete, 1))
	a, err := p.CheckAdoptable(src, "backups/vol.backup.base")
	if err != nil {
		t.Fatal(err)
	}
	if a.Points != 2 || a.NewestID != "inc1" || a.NewestSnapshot != "backup.inc1.snap.1" || a.From != src {
		t.Fatalf("adoption %+v, want 2 points, newest inc1, from %v", a, src)
	}
	if a, err := (Points{Snapshots: map[string]bool{}}).CheckAdoptable(src, "b/v"); err != nil || a.Points != 0 || a.NewestID != "" {
		t.Fatalf("an empty backup image: %+v, %v", a, err)
	}
}

func TestNotAdoptableWithLeftoversOfInterruptedRuns(t *testing.T) {
	gone := rec("gone", "inc1", Complete, 3)
	cases := map[string]struct {
		p    Points
		want []string
	}{
		"interrupted backup": {chainOf(rec("full", "", Complete, 0), rec("inc1", "full", Pending, 1)),
			[]string{"backup inc1 of rbd/vol on cluster fsid-a was interrupted", "`rbd image-meta remove backups/vol.backup.base cephbackup.backup.inc1`"}},
		"interrupted deletion": {func() Points {
			p := chainOf(rec("full", "", Complete, 0), rec("inc1", "full", Deleting, 1))
			p.Snapshots["backup.inc1.snap.1"] = true
			return p
		}(), []string{"the deletion of backup inc1 was interrupted", "destroying that backup again", "`rbd snap rm backups/vol.backup.base@backup.inc1.snap.1`"}},
		"deletion interrupted after its restore point went": {chainOf(rec("full", "", Complete, 0), rec("inc1", "full", Deleting, 1)),
			[]string{"the deletion of backup inc1 was interrupted after its restore point was removed"}},
		"restore point removed by hand": {func() Points {
			p := chainOf(rec("full", "", Complete, 0), rec("inc1", "full", Complete, 1), gone)
			delete(p.Snapshots, gone.Snapshot)
			return p
		}(), []string{"the restore point backup.gone.snap.1 of backup gone was removed outside Terraform"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := c.p.CheckAdoptable(src, "backups/vol.backup.base")
			if err == nil {
				t.Fatal("adoptable")
			}
			for _, w := range append(c.want, "cannot be adopted", "Nothing was changed", "into another backup_pool") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("refusal %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestAdoptionRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 28, 4, 0, 0, 5, time.UTC)
	key := AdoptionKey(at)
	if !IsAdoptionKey(key) || IsAdoptionKey(RecordKey("x")) || IsAdoptionKey(SourceKey) {
		t.Fatalf("AdoptionKey %q is not told apart from other keys", key)
	}
	// An adoption is not a backup record: DecodeRecords ignores it.
	a := Adoption{At: at, From: src, To: Source{FSID: "fsid-b", Pool: "rbd", Image: "vol"}, NewestID: "inc1", Points: 2}
	got, err := DecodeRecords(map[string]string{key: a.Encode(), RecordKey("full"): rec("full", "", Complete, 0).Encode()})
	if err != nil || len(got) != 1 {
		t.Fatalf("DecodeRecords with an adoption: %v, %v", got, err)
	}
	if d := a.Describe("backups/vol.backup.base"); !strings.Contains(d, "fsid-a") || !strings.Contains(d, "restore point inc1") {
		t.Fatalf("Describe: %s", d)
	}
}
