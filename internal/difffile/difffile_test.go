package difffile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/rbddiff"
)

const (
	monday  = "backup.11111111-1111-1111-1111-111111111111.snap.1764000000"
	tuesday = "backup.22222222-2222-2222-2222-222222222222.snap.1764086400"
)

// writeStream writes a small diff file from..to with 3 bytes of data.
func writeStream(t *testing.T, path, from, to string) (int64, string) {
	t.Helper()
	size, sum, err := Write(path, func(w io.Writer) error {
		enc, err := rbddiff.NewWriter(w, rbddiff.Header{Version: rbddiff.V1,
			FromSnap: from, HasFromSnap: from != "", ToSnap: to, HasToSnap: true, Size: 16, HasSize: true})
		if err != nil {
			return err
		}
		if err := enc.WriteData(2, []byte("new")); err != nil {
			return err
		}
		if err := enc.WriteZero(8, 4); err != nil {
			return err
		}
		return enc.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	return size, sum
}

func TestWriteThenInspect(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tuesday.diff")
	size, sum := writeStream(t, path, monday, tuesday)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := sha256.Sum256(b); sum != hex.EncodeToString(want[:]) || size != int64(len(b)) {
		t.Fatalf("Write returned size %d sha256 %s; the file has %d bytes, sha256 %x", size, sum, len(b), want)
	}
	info, err := Inspect(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Header.FromSnap != monday || info.Header.ToSnap != tuesday || info.DataBytes != 3 || info.Size != size || info.SHA256 != sum {
		t.Fatalf("Inspect = %+v, want from %s to %s, 3 data bytes, size %d, sha256 %s", info, monday, tuesday, size, sum)
	}
	if fsize, fsum, err := Fingerprint(context.Background(), path); err != nil || fsize != size || fsum != sum {
		t.Fatalf("Fingerprint = %d %s %v, want %d %s", fsize, fsum, err, size, sum)
	}
}

func TestWriteFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.diff")
	boom := errors.New("cluster went away")
	if _, _, err := Write(path, func(w io.Writer) error { _, _ = w.Write([]byte("partial")); return boom }); !errors.Is(err, boom) {
		t.Fatalf("Write error = %v, want %v", err, boom)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("a failed write left %v", entries)
	}
}

func TestInspectRejectsTruncatedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.diff")
	size, _ := writeStream(t, path, "", tuesday)
	if err := os.Truncate(path, size-1); err != nil {
		t.Fatal(err)
	}
	if _, err := Inspect(path); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Inspect of a truncated file: %v, want unexpected EOF", err)
	}
}

func TestCheckOverwrite(t *testing.T) {
	dir := t.TempDir()
	ours := filepath.Join(dir, "ours.diff")
	writeStream(t, ours, monday, tuesday)
	other := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(other, []byte("somebody's notes"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, to, from, wantErr string
	}{
		{"no file", filepath.Join(dir, "new.diff"), tuesday, monday, ""},
		{"same restore point", ours, tuesday, monday, ""},
		{"another restore point", ours, tuesday, "", "diff file of another restore point (from " + monday},
		{"another end snapshot", ours, monday, "", "another restore point"},
		{"not a diff file", other, tuesday, "", "is not an rbd diff file"},
		{"a directory", dir, tuesday, "", "not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckOverwrite(tc.path, tc.to, tc.from)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
