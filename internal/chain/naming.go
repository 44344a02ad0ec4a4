// Package chain is the pure logic of backups: how things are named, what the
// backup cluster records about each backup, and the rules that tie a chain of
// full and incremental backups together. Nothing here talks to Ceph.
package chain

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// BackupImageName is the image in the backup pool that holds every restore
// point of one source image, as Cinder's Ceph driver names it.
func BackupImageName(image string) string { return image + backupImageSuffix }

const backupImageSuffix = ".backup.base"

// SourceImageName is the inverse of BackupImageName: the source image whose
// restore points name holds, and false for an image that is no backup image.
func SourceImageName(name string) (image string, ok bool) {
	image, ok = strings.CutSuffix(name, backupImageSuffix)
	return image, ok && image != ""
}

// SnapshotName is the name of a backup's snapshot, the same on the source
// image and on the backup image: backup.<id>.snap.<unix seconds>.
func SnapshotName(id string, at time.Time) string {
	return fmt.Sprintf("backup.%s.snap.%d", id, at.Unix())
}

var snapshotPattern = regexp.MustCompile(`^backup\.([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.snap\.([0-9]+)$`)

// ParseSnapshotName returns the backup id and time in a snapshot name made by
// SnapshotName; ok is false for any other name.
func ParseSnapshotName(name string) (id string, at time.Time, ok bool) {
	m := snapshotPattern.FindStringSubmatch(name)
	if m == nil {
		return "", time.Time{}, false
	}
	secs, err := strconv.ParseInt(m[2], 10, 64)
	if err != nil {
		return "", time.Time{}, false
	}
	return m[1], time.Unix(secs, 0).UTC(), true
}

// NewID returns a fresh backup id.
func NewID() string { return uuid.NewString() }

// ValidateID reports whether id looks like a backup id.
func ValidateID(id string) error {
	if _, err := uuid.Parse(id); err != nil || strings.ToLower(id) != id || len(id) != 36 {
		return fmt.Errorf("%q is not a backup id (a lower-case UUID such as 0f8fad5b-d9cb-469f-a165-70867728950e)", id)
	}
	return nil
}

// ValidatePoolPath checks a pool path: a pool name, or "pool/namespace" for
// a RADOS namespace of the pool (see cephconn.PoolPath).
func ValidatePoolPath(what, path string) error {
	pool, namespace, inNamespace := strings.Cut(path, "/")
	if err := ValidateName(what, pool); err != nil {
		return err
	}
	if inNamespace {
		return ValidateName(what+"'s namespace", namespace)
	}
	return nil
}

// ValidateName checks a pool or image name the way a person writes it in a
// config: not empty, free of the separators of pool/image@snap specs, and
// free of NUL and other control characters (below 0x20, and 0x7f).
func ValidateName(what, name string) error {
	if name == "" {
		return fmt.Errorf("%s must not be empty", what)
	}
	if i := strings.IndexFunc(name, isControl); i >= 0 {
		if name[i] == 0 {
			return fmt.Errorf("%s %q contains a NUL byte (a control character) at byte %d: Ceph takes names as C strings, "+
				"which end at the first NUL, so this name would address %q instead: remove the NUL from the name",
				what, name, i, name[:i])
		}
		return fmt.Errorf("%s %q contains the control character %U at byte %d: control characters are not allowed in "+
			"pool and image names (they are invisible or garble logs, specs and the rbd CLI): remove it from the name",
			what, name, rune(name[i]), i)
	}
	switch {
	case strings.ContainsAny(name, "/@"):
		return fmt.Errorf("%s %q contains '/' or '@', which Ceph uses to separate pool, image and snapshot: give the bare name", what, name)
	case strings.TrimSpace(name) != name:
		return fmt.Errorf("%s %q has leading or trailing white space", what, name)
	case len(name) > 4096:
		return fmt.Errorf("%s is longer than 4096 bytes", what)
	}
	return nil
}

// isControl reports the ASCII control characters: below 0x20, and DEL.
func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// ImportID is the id accepted by `terraform import`: <backup_pool>/<backup_id>,
// or <backup_pool>/<backup_namespace>/<backup_id> for a backup in a RADOS
// namespace (backupPool is then the pool path "pool/namespace").
func ImportID(backupPool, id string) string { return backupPool + "/" + id }

// ParseImportID splits an import id made by ImportID; backupPool is a pool
// path.
func ParseImportID(s string) (backupPool, id string, err error) {
	i := strings.LastIndexByte(s, '/')
	if i < 0 {
		return "", "", fmt.Errorf("import id %q is not <backup_pool>/<backup_id> or <backup_pool>/<backup_namespace>/<backup_id>", s)
	}
	backupPool, id = s[:i], s[i+1:]
	pool, namespace, inNamespace := strings.Cut(backupPool, "/")
	if pool == "" || inNamespace && (namespace == "" || strings.Contains(namespace, "/")) {
		return "", "", fmt.Errorf("import id %q is not <backup_pool>/<backup_id> or <backup_pool>/<backup_namespace>/<backup_id>", s)
	}
	if err := ValidateID(id); err != nil {
		return "", "", fmt.Errorf("import id %q: %w", s, err)
	}
	return backupPool, id, nil
}
