package engine

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/cephconn"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
)

var (
	// ErrGone says a backup no longer exists as a restore point.
	ErrGone = errors.New("backup not found on the backup cluster")
	// ErrForgotten is ErrGone with no record left either (the backup image
	// or its metadata deleted): nothing says its source snapshot is ours.
	ErrForgotten = fmt.Errorf("%w, nor any record of it", ErrGone)
	// ErrDeleting is ErrGone for a backup whose deletion was interrupted:
	// its record says so, and a deletion of it finishes the job.
	ErrDeleting = fmt.Errorf("%w: its deletion was interrupted before it finished", ErrGone)
)

// IsNotFound reports whether err means an image, snapshot or pool is missing.
func IsNotFound(err error) bool { return cephconn.Is(err, syscall.ENOENT) }

// FieldError is an input that names something that does not exist or
// cannot be used. Field is the Terraform attribute at fault (one of the
// Attr constants): the provider attaches the diagnostic to it, so the
// engine's messages may name it too.
type FieldError struct {
	Field string
	Err   error
}

// The Terraform attributes the engine's errors and messages name: the
// request fields they are set from, as the resources and the restore action
// call them.
const (
	AttrPool             = "pool"
	AttrImage            = "image"
	AttrBackupPool       = "backup_pool"
	AttrBackupID         = "backup_id"
	AttrParentID         = "parent_id"
	AttrAdoptBackupImage = "adopt_backup_image"
	AttrTargetPool       = "target_pool"
	AttrTargetImage      = "target_image"
	AttrForce            = "force"
)

func (e *FieldError) Error() string { return e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// OtherSourceError says a backup image holds the backups of another source
// image than the one being backed up.
type OtherSourceError struct {
	BackupImage string // pool/name
	Owner, Src  chain.Source
}

func (e *OtherSourceError) Error() string {
	return fmt.Sprintf("backup image %s holds backups of %s, not of %s. If %s/%s is that volume recovered after a disaster "+
		"(restored onto a replacement cluster, or into another pool), set adopt_backup_image = true on a cephbackup_full of it: "+
		"that full takes the backup image over, and the restore points already in it stay restorable. "+
		"Otherwise, two source images with the same name cannot share a backup image: back %s/%s up into another RADOS namespace of the backup pool "+
		"(backup_namespace, created with `rbd namespace create`) or into another backup_pool",
		e.BackupImage, e.Owner, e.Src, e.Src.Pool, e.Src.Image, e.Src.Pool, e.Src.Image)
}
