package chain

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Kind says whether a backup holds a whole image or the changes since its parent.
type Kind string

const (
	Full        Kind = "full"
	Incremental Kind = "incremental"
)

// Status tracks a backup through its creation. A record is written as
// pending before anything else happens, so that a crash at any later point
// leaves a trace the next run can clean up.
type Status string

const (
	Pending  Status = "pending"
	Complete Status = "complete"
	// Deleting marks a backup whose deletion has started: what is left of
	// it (source snapshot, restore point, record) is garbage that the next
	// deletion or backup of the image removes.
	Deleting Status = "deleting"
)

// Record is what the backup cluster stores about one backup, as image
// metadata on the backup image: the backup cluster alone says what it holds.
type Record struct {
	ID               string    `json:"id"`
	Kind             Kind      `json:"kind"`
	Status           Status    `json:"status"`
	ParentID         string    `json:"parent_id,omitempty"`
	SourceFSID       string    `json:"source_fsid"`
	Pool             string    `json:"pool"`
	Image            string    `json:"image"`
	Snapshot         string    `json:"snapshot"`
	Size             uint64    `json:"size"`
	TransferredBytes uint64    `json:"transferred_bytes"`
	CreatedAt        time.Time `json:"created_at"`
	SHA256           string    `json:"sha256,omitempty"`
	// Unconfirmed is set from the moment the restore point's snapshot is
	// taken until the backup is handed back to its caller: a restore point
	// still unconfirmed was made by an interrupted run, and no Terraform
	// state knows it.
	Unconfirmed bool `json:"unconfirmed,omitempty"`
	// DeletionProtection refuses the deletion of this restore point to every
	// client of the backup cluster (Terraform or not) until it is cleared.
	// omitempty: records written before it existed decode as unprotected,
	// and unprotected records are written as older providers wrote them.
	DeletionProtection bool `json:"deletion_protection,omitempty"`
	// Labels are the user's key/value pairs, kept with the record so that
	// every workspace and the restore points data source can select by them.
	Labels map[string]string `json:"labels,omitempty"`
	// PointProtected says the restore point's snapshot is protected (`rbd
	// snap protect`), which binds every client of the cluster, the rbd CLI
	// included. Read from the snapshot, never stored.
	PointProtected bool `json:"-"`
}

// Source identifies the image a backup image belongs to.
type Source struct {
	FSID  string `json:"fsid"`
	Pool  string `json:"pool"`
	Image string `json:"image"`
}

func (s Source) String() string { return s.Pool + "/" + s.Image + " on cluster " + s.FSID }

// Metadata keys on the backup image.
const (
	recordKeyPrefix = "cephbackup.backup."
	SourceKey       = "cephbackup.source"
	// HeadKey names the backup snapshot whose content the backup image's
	// head holds, unchanged since: set when a restore point is taken,
	// removed before the head is written. It outlives that restore point,
	// so a chain goes on incrementally after the point is deleted.
	HeadKey = "cephbackup.head"
)

// RecordKey is the metadata key of a backup's record.
func RecordKey(id string) string { return recordKeyPrefix + id }

// Encode serialises a record for image metadata.
func (r Record) Encode() string {
	b, err := json.Marshal(r)
	if err != nil {
		panic(err) // a struct of strings, numbers and a time always marshals
	}
	return string(b)
}

// CheckOwn fails unless r is a record as this provider writes them on the
// backup image of image: a record of that image, whose snapshot is named
// after its own id (SnapshotName). A record that fails was forged or
// damaged: nothing it names is the provider's to remove.
func (r Record) CheckOwn(image string) error {
	if r.Image != image {
		return fmt.Errorf("it is a record of image %q, on the backup image of %q", r.Image, image)
	}
	if id, _, ok := ParseSnapshotName(r.Snapshot); !ok || id != r.ID {
		return fmt.Errorf("its snapshot %q is not named after its id as the provider names its snapshots (backup.%s.snap.<unix time>)", r.Snapshot, r.ID)
	}
	return nil
}

// Source is the image the backup was taken of.
func (r Record) Source() Source { return Source{FSID: r.SourceFSID, Pool: r.Pool, Image: r.Image} }

// EncodeSource serialises a source for image metadata.
func EncodeSource(s Source) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// DecodeSource parses a value written by EncodeSource.
func DecodeSource(v string) (Source, error) {
	var s Source
	if err := json.Unmarshal([]byte(v), &s); err != nil || s.Image == "" {
		return Source{}, fmt.Errorf("unreadable %s metadata %q", SourceKey, v)
	}
	return s, nil
}

// DecodeRecords picks the backup records out of an image's metadata. Keys
// that are not records are ignored; a record that does not parse is an error
// naming its key, since silently skipping it could hide a child backup.
func DecodeRecords(metadata map[string]string) ([]Record, error) {
	var records []Record
	for key, value := range metadata {
		id, ok := strings.CutPrefix(key, recordKeyPrefix)
		if !ok {
			continue
		}
		var r Record
		if err := json.Unmarshal([]byte(value), &r); err != nil {
			return nil, fmt.Errorf("backup record %s does not parse (%w)%s", key, err, damagedRecordHint(key))
		}
		if r.ID != id {
			return nil, fmt.Errorf("backup record %s holds id %q%s", key, r.ID, damagedRecordHint(key))
		}
		records = append(records, r)
	}
	SortOldestFirst(records)
	return records, nil
}

// damagedRecordHint says what to do about a record that does not decode.
func damagedRecordHint(key string) string {
	return fmt.Sprintf(": it was not written by this provider as it stands, or was damaged. Nothing was changed: no backup of this image is read, "+
		"taken or deleted while it is there. Look at it with `rbd image-meta get <backup image> %s`, then repair it or, if it is garbage, "+
		"remove it with `rbd image-meta remove <backup image> %s`", key, key)
}

// SortOldestFirst orders records by creation time, then id for a stable order.
func SortOldestFirst(records []Record) {
	sort.Slice(records, func(i, j int) bool {
		if !records[i].CreatedAt.Equal(records[j].CreatedAt) {
			return records[i].CreatedAt.Before(records[j].CreatedAt)
		}
		return records[i].ID < records[j].ID
	})
}
