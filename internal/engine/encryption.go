package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/ceph/go-ceph/rbd"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/cephconn"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
)

// Encryption is what encrypts backup images at rest: librbd's LUKS2, with
// AES-256. The passphrase never leaves memory.
type Encryption struct {
	Passphrase []byte
}

func (c *Encryption) options() rbd.EncryptionOptions {
	return rbd.EncryptionOptionsLUKS2{Alg: rbd.EncryptionAlgorithmAES256, Passphrase: c.Passphrase}
}

// ErrNoPassphrase says an encrypted backup image was met by a provider
// configured without a passphrase.
var ErrNoPassphrase = errors.New("the provider has no passphrase for it")

// encryptionOf reads img's encryption mark; ok is false for a plaintext image.
func encryptionOf(img *rbd.Image) (enc chain.Encryption, ok bool, err error) {
	v, err := img.GetMetadata(chain.EncryptionKey)
	if errors.Is(err, rbd.ErrNotFound) {
		return chain.Encryption{}, false, nil
	}
	if err != nil {
		return chain.Encryption{}, false, &cephconn.Error{What: "the encryption mark of " + img.GetName(), Err: err}
	}
	enc, err = chain.DecodeEncryption(v)
	return enc, err == nil, err
}

// loadEncryption makes img, a backup image opened at its head or a
// snapshot, read and write plaintext when it is encrypted; a plaintext
// image is left as it is. Data of an encrypted image is never touched
// without it: whole-object diffs and sizes would be those of the raw image.
func (e *Engine) loadEncryption(img *rbd.Image, name string) error {
	enc, ok, err := encryptionOf(img)
	if err != nil || !ok {
		return err
	}
	return e.load(img, name, enc)
}

// load loads the encryption of img, whose mark says enc.
func (e *Engine) load(img *rbd.Image, name string, enc chain.Encryption) error {
	if e.Encryption == nil {
		return fmt.Errorf("backup image %s is encrypted at rest (%s) and %w: set backup_encryption_passphrase in the provider block "+
			"(or CEPHBACKUP_BACKUP_ENCRYPTION_PASSPHRASE) to the passphrase its backups were taken with. Nothing was changed", name, enc.Format, ErrNoPassphrase)
	}
	if err := img.EncryptionLoad(e.Encryption.options()); err != nil {
		return &cephconn.Error{What: fmt.Sprintf("the %s encryption of backup image %s (a wrong backup_encryption_passphrase fails here: "+
			"it must be the one its backups were taken with. Nothing was changed)", enc.Format, name), Err: err}
	}
	return nil
}

// openRestorePoint opens the backup image of image at snapshot snap,
// read-only, for its data: decrypted when it is encrypted at rest. The
// snapshot is found by name and opened by id, and returned: confirmRead
// then tells whether it outlived the reads.
func (e *Engine) openRestorePoint(ctx context.Context, backupPool, image, snap string) (*rbd.Image, rbd.SnapInfo, error) {
	name := chain.BackupImageName(image)
	img, err := openImage(ctx, e.BackupCluster, backupPool, name, "", true)
	if err != nil {
		return nil, rbd.SnapInfo{}, err
	}
	at, err := openAt(img, snap)
	if err != nil {
		closeImage(img)
		return nil, rbd.SnapInfo{}, &cephconn.Error{What: fmt.Sprintf("snapshot %s@%s on %s", spec(backupPool, name), snap, e.BackupCluster.Name()), Err: err}
	}
	if err := e.loadEncryption(img, spec(backupPool, name)); err != nil {
		closeImage(img)
		return nil, rbd.SnapInfo{}, err
	}
	return img, at, nil
}

// openAt sets img, opened at its head, to snapshot snap by its id.
func openAt(img *rbd.Image, snap string) (rbd.SnapInfo, error) {
	snaps, err := snapshots(img)
	if err != nil {
		return rbd.SnapInfo{}, err
	}
	at, ok := snaps[snap]
	if !ok {
		return rbd.SnapInfo{}, rbd.ErrNotFound
	}
	return at, img.SetSnapByID(at.Id)
}

// formatRoom is the raw size a backup image gets before it is formatted:
// more than any LUKS header (16 MiB for LUKS2 on Ceph 16), so that even an
// empty image can be formatted. Raw images are thin: the room costs nothing.
const formatRoom = 64 << 20

// prepareNew readies img, a new and empty backup image of size bytes that
// is not marked yet: encrypted when the provider encrypts, left plaintext
// otherwise. An image a killed run left half formatted is formatted again.
func (e *Engine) prepareNew(img *rbd.Image, backupPool string, size uint64) error {
	_, marked, err := encryptionOf(img)
	switch {
	case err != nil:
		return err
	case e.Encryption != nil:
		return e.encryptNew(img, size)
	case marked:
		return fmt.Errorf("backup image %s was being created encrypted at rest by an earlier run, and %w: set backup_encryption_passphrase in the provider block, "+
			"or remove the image (`rbd rm %s`, it holds no backup yet) to back up unencrypted. Nothing was changed", spec(backupPool, img.GetName()), ErrNoPassphrase, spec(backupPool, img.GetName()))
	}
	return nil
}

// prepareData loads the encryption of img, an existing backup image, when
// it has any. A provider that encrypts refuses to add backups to a
// plaintext one: they would not be encrypted.
func (e *Engine) prepareData(img *rbd.Image, backupPool string) error {
	name := spec(backupPool, img.GetName())
	enc, marked, err := encryptionOf(img)
	switch {
	case err != nil:
		return err
	case marked:
		return e.load(img, name, enc)
	case e.Encryption != nil:
		return fmt.Errorf("backup image %s was created without encryption at rest, and backup_encryption_passphrase applies to the backup images this provider creates: "+
			"a backup added to it would not be encrypted. Nothing was changed. To encrypt this volume's backups, take a new cephbackup_full into another backup_pool "+
			"or backup_namespace; to go on unencrypted, configure this workspace without backup_encryption_passphrase", name)
	}
	return nil
}

// encryptNew formats img, a new and empty backup image, with e.Encryption
// and leaves it loaded, holding size bytes of data. The mark goes first, so
// that an image a killed run left half formatted is known for cephbackup's.
func (e *Engine) encryptNew(img *rbd.Image, size uint64) error {
	name := img.GetName()
	enc := chain.Encryption{Format: chain.LUKS2}
	if err := img.SetMetadata(chain.EncryptionKey, enc.Encode()); err != nil {
		return &cephconn.Error{What: "the encryption mark of " + name, Err: err}
	}
	if err := resize(img, size+formatRoom, 0); err != nil {
		return err
	}
	if err := img.EncryptionFormat(e.Encryption.options()); err != nil {
		return &cephconn.Error{What: fmt.Sprintf("formatting backup image %s with %s encryption", name, enc.Format), Err: err}
	}
	// Formatting loads the encryption: the size is now what the data gets.
	data, err := img.GetSize()
	if err != nil {
		return err
	}
	enc.HeaderBytes = size + formatRoom - data
	if err := resize(img, size, enc.HeaderBytes); err != nil {
		return err
	}
	if err := img.SetMetadata(chain.EncryptionKey, enc.Encode()); err != nil {
		return &cephconn.Error{What: "the encryption mark of " + name, Err: err}
	}
	return nil
}
