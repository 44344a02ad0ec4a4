package chain

import (
	"encoding/json"
	"fmt"
)

// EncryptionKey marks a backup image encrypted at rest with librbd's LUKS
// encryption. Only the format and the header's length are recorded, never
// the passphrase. It is set before the image is formatted, so an image a
// killed run left half made is known for the provider's.
const EncryptionKey = "cephbackup.encryption"

// LUKS2 is the format of encrypted backup images (librbd offers it from
// Ceph 16, Pacific).
const LUKS2 = "luks2"

// Encryption describes how a backup image is encrypted at rest.
type Encryption struct {
	Format string `json:"format"`
	// HeaderBytes is the LUKS header's length at the start of the image:
	// the raw image is that much longer than the data it holds. 0 while
	// the image is being formatted.
	HeaderBytes uint64 `json:"header_bytes"`
}

// Encode serialises e for image metadata.
func (e Encryption) Encode() string {
	b, _ := json.Marshal(e)
	return string(b)
}

// DecodeEncryption parses the value of EncryptionKey.
func DecodeEncryption(v string) (Encryption, error) {
	var e Encryption
	if err := json.Unmarshal([]byte(v), &e); err != nil {
		return Encryption{}, fmt.Errorf("the %s metadata %q is not cephbackup's: %w", EncryptionKey, v, err)
	}
	if e.Format != LUKS2 {
		return Encryption{}, fmt.Errorf("the %s metadata %q names format %q, which this provider does not know (only %s)", EncryptionKey, v, e.Format, LUKS2)
	}
	return e, nil
}
