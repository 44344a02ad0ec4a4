package chain

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Adoption is what the backup cluster records when a backup image that held
// backups of one source image is taken over for another: the volume restored
// from it onto a replacement cluster (or into another pool) after its source
// was lost. The restore points taken before keep their records, which name
// From; restoring them never needs the source.
type Adoption struct {
	At   time.Time `json:"at"`
	From Source    `json:"from"`
	To   Source    `json:"to"`
	// NewestID and NewestSnapshot name the backup image's newest restore
	// point at the adoption, the one the new source continues from; empty
	// when the image held none.
	NewestID       string `json:"newest_id,omitempty"`
	NewestSnapshot string `json:"newest_snapshot,omitempty"`
	// Points is how many restore points of From the image held.
	Points int `json:"restore_points"`
}

const adoptionKeyPrefix = "cephbackup.adoption."

// AdoptionKey is the metadata key of an adoption made at at.
func AdoptionKey(at time.Time) string {
	return adoptionKeyPrefix + strconv.FormatInt(at.UTC().UnixNano(), 10)
}

// IsAdoptionKey says whether a metadata key holds an adoption.
func IsAdoptionKey(key string) bool { return strings.HasPrefix(key, adoptionKeyPrefix) }

// Encode serialises an adoption for image metadata.
func (a Adoption) Encode() string {
	b, err := json.Marshal(a)
	if err != nil {
		panic(err) // strings, a number and a time always marshal
	}
	return string(b)
}

// Describe says in a sentence what the adoption does.
func (a Adoption) Describe(backupImage string) string {
	s := fmt.Sprintf("The backup image %s holds backups of %s, not of %s. This backup adopts it: from now on it holds the backups of %s, "+
		"and backups of %s into it are refused. ", backupImage, a.From, a.To, a.To, a.From)
	if a.Points == 0 {
		return s + "It holds no restore point."
	}
	return s + fmt.Sprintf("Its %d restore point(s) of %s are kept as they are, records included, and stay restorable "+
		"(with pool = %q and image = %q); the newest is restore point %s (%s). The adoption is recorded on the backup cluster.",
		a.Points, a.From, a.From.Pool, a.From.Image, a.NewestID, a.NewestSnapshot)
}

// CheckAdoptable says whether a backup image whose records are p may be
// adopted for another source, and returns the adoption (At and To left for
// the caller). Records must be oldest first, as DecodeRecords returns them.
// It may when its newest restore point is safe to continue
// from: every record is a restore point, so no backup or deletion of the old
// source stopped half-way. Once adopted, nothing would ever finish those:
// backups clean up only after their own source, and the old source's
// snapshots are on a cluster that is gone. The refusal says, for each
// leftover, how to finish it by hand.
func (p Points) CheckAdoptable(from Source, backupImage string) (Adoption, error) {
	a := Adoption{From: from}
	var leftovers []string
	for _, r := range p.Records {
		if p.IsRestorePoint(r) {
			// Records are oldest first (DecodeRecords): the last one is the newest.
			a.Points++
			a.NewestID, a.NewestSnapshot = r.ID, r.Snapshot
			continue
		}
		meta := fmt.Sprintf("`rbd image-meta remove %s %s`", backupImage, RecordKey(r.ID))
		switch {
		case r.Status == Deleting && p.Snapshots[r.Snapshot]:
			leftovers = append(leftovers, fmt.Sprintf("the deletion of backup %s was interrupted: finish it by destroying that backup again "+
				"(it needs only the backup cluster), or by hand with `rbd snap rm %s@%s` then %s", r.ID, backupImage, r.Snapshot, meta))
		case r.Status == Deleting:
			leftovers = append(leftovers, fmt.Sprintf("the deletion of backup %s was interrupted after its restore point was removed: "+
				"destroy that backup again, or remove its record with %s", r.ID, meta))
		case r.Status == Pending:
			leftovers = append(leftovers, fmt.Sprintf("backup %s of %s was interrupted before its restore point was taken: "+
				"remove its record with %s (its source snapshot %s, on the old cluster, is not needed)", r.ID, r.Source(), meta, r.Snapshot))
		default:
			leftovers = append(leftovers, fmt.Sprintf("the restore point %s of backup %s was removed outside Terraform: remove its record with %s",
				r.Snapshot, r.ID, meta))
		}
	}
	if len(leftovers) > 0 {
		return a, fmt.Errorf("the backup image %s cannot be adopted while it holds what interrupted runs for %s left: %s. "+
			"After an adoption no backup would clean them up (a backup cleans up only after its own source image), so the adoption waits until they are finished. Nothing was changed. "+
			"Finish them as said, then apply again; or take a new cephbackup_full of this image into another backup_pool",
			backupImage, from, strings.Join(leftovers, "; "))
	}
	return a, nil
}
