package engine

import (
	"errors"
	"strings"
	"testing"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/rbddiff"
)

func TestCheckDiffSequence(t *testing.T) {
	full := func(to string) rbddiff.Header {
		return rbddiff.Header{ToSnap: to, HasToSnap: true, Size: 1 << 20, HasSize: true}
	}
	incr := func(from, to string) rbddiff.Header {
		h := full(to)
		h.FromSnap, h.HasFromSnap = from, true
		return h
	}
	head := func(from string) rbddiff.Header {
		return rbddiff.Header{FromSnap: from, HasFromSnap: true, Size: 1 << 20, HasSize: true}
	}
	noSize := full("s1")
	noSize.HasSize = false
	for _, tc := range []struct {
		name    string
		headers []rbddiff.Header
		want    string // "" = accepted
	}{
		{"full alone", []rbddiff.Header{full("s1")}, ""},
		{"chain", []rbddiff.Header{full("s1"), incr("s1", "s2"), incr("s2", "s3")}, ""},
		{"chain ending at the head", []rbddiff.Header{full("s1"), incr("s1", "s2"), head("s2")}, ""},
		{"gap", []rbddiff.Header{full("s1"), incr("s2", "s3")}, `changes since snapshot "s2", but the file before it, f0, ends at snapshot "s1": a file is missing`},
		{"out of order", []rbddiff.Header{full("s1"), incr("s2", "s3"), incr("s1", "s2")}, "out of order"},
		{"incremental first", []rbddiff.Header{incr("s1", "s2")}, "the first file must be a full diff"},
		{"second full", []rbddiff.Header{full("s1"), full("s2")}, "f1 is a full diff, but it comes after f0"},
		{"no size", []rbddiff.Header{noSize}, "no image size record"},
		{"head in the middle", []rbddiff.Header{full("s1"), head("s1"), incr("s2", "s3")}, "it must be the last file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := make([]string, len(tc.headers))
			for i := range files {
				files[i] = "f" + string(rune('0'+i))
			}
			err := checkDiffSequence(files, tc.headers)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// A malformed parent id is reported on parent_id, where the provider
// attaches the diagnostic.
func TestBackupRequestValidateNamesParentID(t *testing.T) {
	err := BackupRequest{Pool: "rbd", Image: "vol", BackupPool: "backups", ParentID: "not-an-id"}.Validate()
	var field *FieldError
	if !errors.As(err, &field) || field.Field != AttrParentID {
		t.Fatalf("Validate() = %v, want a FieldError on %s", err, AttrParentID)
	}
	if err := (BackupRequest{Pool: "rbd", Image: "vol", BackupPool: "backups", ParentID: "8c4f2a1e-3b7d-4e9a-9f1c-2d5e6a7b8c9d"}).Validate(); err != nil {
		t.Errorf("Validate() with a well-formed parent id: %v", err)
	}
}
