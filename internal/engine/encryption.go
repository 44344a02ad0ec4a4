package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/ceph/go-ceph/rados"
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

// payloadSizes reads the sizes of the data img, a backup image opened
// without its encryption loaded, holds at its head and at each snapshot.
// librbd gives those raw, and the raw image of an encrypted backup image
// begins with its LUKS header. Every size of a backup image's data that the
// engine plans, resizes or diffs with comes from here, or from GetSize on an
// image whose encryption is loaded: librbd gives that one as the data's.
func payloadSizes(img *rbd.Image) (head uint64, snaps map[string]rbd.SnapInfo, err error) {
	enc, _, err := encryptionOf(img)
	if err != nil {
		return 0, nil, err
	}
	payload := func(what string, raw uint64) (uint64, error) {
		if raw < enc.HeaderBytes {
			return 0, fmt.Errorf("%s of backup image %s is %d bytes, less than its %d-byte LUKS header: the image is damaged", what, img.GetName(), raw, enc.HeaderBytes)
		}
		return raw - enc.HeaderBytes, nil
	}
	raw, err := img.GetSize()
	if err != nil {
		return 0, nil, &cephconn.Error{What: "the size of " + img.GetName(), Err: err}
	}
	if head, err = payload("the head", raw); err != nil {
		return 0, nil, err
	}
	if snaps, err = snapshots(img); err != nil {
		return 0, nil, err
	}
	for name, s := range snaps {
		if s.Size, err = payload("snapshot "+name, s.Size); err != nil {
			return 0, nil, err
		}
		snaps[name] = s
	}
	return head, snaps, nil
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

// unstriped makes opts create an image of one object per stripe, of the
// object size librbd would choose (rbd_default_order, the pool's override
// first), whatever the pool's or the client's rbd_default_stripe_unit and
// rbd_default_stripe_count say: see refuseStriped.
func (e *Engine) unstriped(ctx context.Context, ioctx *rados.IOContext, opts *rbd.ImageOptions) error {
	order, err := rbd.GetPoolMetadata(ioctx, "conf_rbd_default_order")
	if IsNotFound(err) {
		conn, connErr := e.BackupCluster.Conn(ctx)
		if connErr != nil {
			return connErr
		}
		order, err = conn.GetConfigOption("rbd_default_order")
	}
	if err != nil {
		return &cephconn.Error{What: "rbd_default_order on " + e.BackupCluster.Name(), Err: err}
	}
	bits, err := strconv.ParseUint(order, 10, 8)
	if err != nil {
		return fmt.Errorf("rbd_default_order on %s is %q, not a number: %w", e.BackupCluster.Name(), order, err)
	}
	for _, o := range []struct {
		option rbd.ImageOption
		value  uint64
	}{{rbd.ImageOptionOrder, bits}, {rbd.ImageOptionStripeUnit, 1 << bits}, {rbd.ImageOptionStripeCount, 1}} {
		if err := opts.SetUint64(o.option, o.value); err != nil {
			return err
		}
	}
	return nil
}

// refuseStriped fails for a backup image to encrypt, or encrypted, with
// fancy striping (a stripe unit smaller than its objects, over several of
// them): on Ceph 16, librbd's LUKS encryption does not read back what it
// wrote to such an image (measured on 16.2.15: of 16 MiB written, all but
// the first 4 MiB read back different), so no backup is added to it and no
// point restored from it. The provider creates encrypted backup images
// unstriped; older versions took the pool's default striping.
func refuseStriped(img *rbd.Image, name string) error {
	unit, err := img.GetStripeUnit()
	if err != nil {
		return &cephconn.Error{What: "the striping of " + name, Err: err}
	}
	count, err := img.GetStripeCount()
	if err != nil {
		return &cephconn.Error{What: "the striping of " + name, Err: err}
	}
	st, err := img.Stat()
	if err != nil {
		return &cephconn.Error{What: "the layout of " + name, Err: err}
	}
	if count <= 1 || unit >= st.Obj_size {
		return nil
	}
	return fmt.Errorf("%w: backup image %s is striped (stripe unit %d bytes over %d objects of %d bytes: the pool's rbd_default_stripe_unit and "+
		"rbd_default_stripe_count stripe new images, and earlier versions of this provider kept that for encrypted backup images), and librbd's "+
		"encryption on Ceph 16 does not read back what it wrote to a striped image, so its restore points may not hold their volume's data. "+
		"Nothing was changed. Take a new cephbackup_full into another backup_pool or backup_namespace (this provider now creates encrypted "+
		"backup images unstriped), then delete the backups held in %s; if it holds no backup yet, remove it with `rbd rm %s`",
		ErrStripedEncryption, name, unit, count, st.Obj_size, name, name)
}

// ErrStripedEncryption is the refusal to use an encrypted backup image
// with fancy striping (see refuseStriped).
var ErrStripedEncryption = errors.New("librbd's encryption is not exact on striped images")

// load loads the encryption of img, whose mark says enc.
func (e *Engine) load(img *rbd.Image, name string, enc chain.Encryption) error {
	if err := refuseStriped(img, name); err != nil {
		return err
	}
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
		if err := refuseStriped(img, spec(backupPool, img.GetName())); err != nil {
			return err
		}
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
