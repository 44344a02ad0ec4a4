// Package engine carries out backups, restores and deletions against real
// Ceph clusters. The Terraform resources are thin wrappers around it.
package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/ceph/go-ceph/rbd"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/cephconn"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/chain"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/rbdaio"
	"github.com/cephbackup/terraform-provider-cephbackup/internal/transfer"
)

// Logger receives progress and decisions, and warnings about how the
// provider was built; the provider routes it to tflog.
type Logger interface {
	Info(ctx context.Context, msg string, fields map[string]any)
	Debug(ctx context.Context, msg string, fields map[string]any)
	Warn(ctx context.Context, msg string, fields map[string]any)
}

type discardLogger struct{}

func (discardLogger) Info(context.Context, string, map[string]any)  {}
func (discardLogger) Debug(context.Context, string, map[string]any) {}
func (discardLogger) Warn(context.Context, string, map[string]any)  {}

// noAsyncIOWarning is logged once per process: every copy of the process
// falls back alike.
var noAsyncIOWarning = new(sync.Once)

// warnNoAsyncIO says, once per process, that the go-ceph built in keeps its
// librbd handle out of rbdaio's reach (why), so copies between images use
// synchronous I/O and flattens cannot be stopped.
func (e *Engine) warnNoAsyncIO(ctx context.Context, why error) {
	noAsyncIOWarning.Do(func() {
		e.log().Warn(ctx, "the go-ceph this provider was built with keeps its librbd image handle where the provider does not find it: "+
			"copies between images use synchronous I/O (as exact, slower on small extents), and a flatten that has started runs to its end "+
			"whatever the timeout. Build the provider with the go-ceph release its go.mod pins, or report this go-ceph version", map[string]any{
			"go_ceph_version": rbdaio.GoCephVersion(), "error": why.Error(),
		})
	})
}

// Engine works on a source cluster (where volumes live, and where restores
// go) and a backup cluster (which may be the same connection).
type Engine struct {
	SourceCluster *cephconn.Client
	BackupCluster *cephconn.Client
	Transfer      transfer.Options
	Log           Logger
	// Progress, when set, receives each transfer's progress as the log does
	// (op is "backup" or "restore"): the restore action shows it to the
	// user as Terraform progress events. It runs on the transfer's reporter
	// goroutine and should return quickly.
	Progress func(op string, p transfer.Progress)
	// Refresh, when set, lets ReadBackup reuse a recent read of a backup
	// image (the provider sets one; nil reads every time).
	Refresh *RefreshCache
	// Encryption, when set, encrypts new backup images at rest and opens
	// encrypted ones; nil leaves new backup images plaintext, and an
	// encrypted one is refused wherever its data would be read or written.
	Encryption *Encryption

	// beforeLock, when set by a test, runs between opening a backup image
	// and taking its lock: where another writer can slip in.
	beforeLock func()
	// beforeCopy, when set by a test, runs once the copy is planned and
	// the obsolete source snapshots are being removed; an error it returns
	// fails the copy.
	beforeCopy func() error
}

func (e *Engine) log() Logger {
	if e.Log == nil {
		return discardLogger{}
	}
	return e.Log
}

// WithProgress returns a copy of e, sharing its connections, that also
// reports transfer progress to f.
func (e *Engine) WithProgress(f func(op string, p transfer.Progress)) *Engine {
	c := *e
	c.Progress = f
	return &c
}

// Waiting for a lock: behind another backup of the same image as long as the
// operation's own timeout allows; for a restore target, only long enough for
// a dead holder's lock to be broken (a live one is a VM using the volume).
const (
	writerPatience  = 24 * time.Hour
	targetPatience  = 90 * time.Second
	maxLockTimeouts = 3
)

// backupImageFeatures are set explicitly so a cluster whose
// rbd_default_features differ still gives backup images the exclusive lock
// that serialises writers and the fast-diff that makes incrementals cheap.
const backupImageFeatures = rbd.FeatureLayering | rbd.FeatureExclusiveLock |
	rbd.FeatureObjectMap | rbd.FeatureFastDiff | rbd.FeatureDeepFlatten

// step logs that op reached a step that a kill may interrupt: what the next
// run finds, and the fault tests' cue to kill.
func (e *Engine) step(ctx context.Context, op, step, id string) {
	e.log().Info(ctx, op+" step", map[string]any{"step": step, "id": id})
}

// sameCluster reports whether cluster and backup_cluster are one cluster, by
// fsid: two configurations (other users, other monitor addresses) may name
// the same cluster.
func (e *Engine) sameCluster(ctx context.Context) (bool, error) {
	src, err := e.SourceCluster.FSID(ctx)
	if err != nil {
		return false, err
	}
	dst, err := e.BackupCluster.FSID(ctx)
	if err != nil {
		return false, err
	}
	return src == dst, nil
}

// lock takes an image's exclusive lock, waiting up to patience while another
// live client holds it. A lock left by a dead process is broken by librbd once
// the holder's watch has expired (it blocklists the dead client first), so a
// killed apply delays the next one by at most the OSD watch timeout.
func (e *Engine) lock(ctx context.Context, img *rbd.Image, patience time.Duration) (release func(), err error) {
	ctx, cancel := context.WithTimeout(ctx, patience)
	defer cancel()
	wait := 500 * time.Millisecond
	logged := false
	timeouts := 0
	for {
		err := img.LockAcquire(rbd.LockModeExclusive)
		if err == nil {
			return func() { _ = img.LockRelease() }, nil
		}
		// A lock request that timed out (the holder did not answer in time)
		// is tried again, a few times: a cluster that stays unresponsive
		// must still fail the apply well before its timeout.
		if cephconn.Is(err, syscall.ETIMEDOUT) {
			timeouts++
		}
		retryable := cephconn.Is(err, syscall.EROFS) || cephconn.Is(err, syscall.EBUSY) || cephconn.Is(err, syscall.EAGAIN) ||
			(cephconn.Is(err, syscall.ETIMEDOUT) && timeouts <= maxLockTimeouts)
		if !retryable {
			return nil, &cephconn.Error{What: "the lock of image " + img.GetName(), Err: err}
		}
		if !logged {
			owners, _ := img.LockGetOwners()
			names := make([]string, 0, len(owners))
			for _, o := range owners {
				names = append(names, o.Owner)
			}
			e.log().Info(ctx, "waiting for another client to release the image", map[string]any{
				"image": img.GetName(), "lock_owners": names,
			})
			logged = true
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("image %s is locked by another client (another backup or restore, or a VM using it): %w", img.GetName(), ctx.Err())
		case <-time.After(wait):
		}
		wait = min(wait*2, 5*time.Second)
	}
}

// ensureBackupImage opens the backup image for src, creating it with size
// when missing. Whether it holds data is for the caller to find out under its
// lock: another backup may write it between its creation and then.
func (e *Engine) ensureBackupImage(ctx context.Context, backupPool string, src chain.Source, size uint64) (*rbd.Image, error) {
	name := chain.BackupImageName(src.Image)
	what := "backup image " + spec(backupPool, name) + " on " + e.BackupCluster.Name()
	ioctx, err := e.BackupCluster.IOContext(ctx, backupPool)
	if err != nil {
		return nil, err
	}
	img, err := rbd.OpenImage(ioctx, name, rbd.NoSnapshot)
	if errors.Is(err, rbd.ErrNotFound) {
		opts := rbd.NewRbdImageOptions()
		defer opts.Destroy()
		if err := opts.SetUint64(rbd.ImageOptionFeatures, backupImageFeatures); err != nil {
			return nil, err
		}
		if e.Encryption != nil {
			if err := e.unstriped(ctx, ioctx, opts); err != nil {
				return nil, err
			}
		}
		if err := rbd.CreateImage(ioctx, name, size, opts); err != nil && !cephconn.Is(err, syscall.EEXIST) {
			return nil, &cephconn.Error{What: what, Err: err}
		}
		img, err = rbd.OpenImage(ioctx, name, rbd.NoSnapshot)
	}
	if err != nil {
		return nil, &cephconn.Error{What: what, Err: err}
	}
	return img, nil
}

// claimBackupImage makes sure img holds backups of src and nothing else, and
// marks it as such when new (formatted for encryption first, when the
// provider encrypts). With adopt, an image marked for another source is
// adopted for src when checkAdoption allows it. img is then ready for data:
// its encryption, if any, is loaded. Must hold the lock.
func (e *Engine) claimBackupImage(ctx context.Context, img *rbd.Image, backupPool string, src chain.Source, adopt bool, size uint64) error {
	unmarked, err := checkBackupImage(img, backupPool, src)
	var other *OtherSourceError
	if adopt && errors.As(err, &other) {
		a, err := e.checkAdoption(ctx, img, backupPool, other.Owner, src)
		if err != nil {
			return err
		}
		a.At = time.Now().UTC()
		// Recorded before the mark changes: an interruption in between
		// leaves the record of an adoption that the next run makes again.
		if err := img.SetMetadata(chain.AdoptionKey(a.At), a.Encode()); err != nil {
			return &cephconn.Error{What: "the adoption record on " + spec(backupPool, img.GetName()), Err: err}
		}
		if err := img.SetMetadata(chain.SourceKey, chain.EncodeSource(src)); err != nil {
			return &cephconn.Error{What: "the source mark of " + spec(backupPool, img.GetName()), Err: err}
		}
		e.log().Info(ctx, "backup image adopted", map[string]any{
			"backup_image": spec(backupPool, img.GetName()), "from": a.From.String(), "to": a.To.String(),
			"restore_points_kept": a.Points, "newest_id": a.NewestID,
		})
		return e.prepareData(img, backupPool)
	}
	if err != nil {
		return err
	}
	if !unmarked {
		return e.prepareData(img, backupPool)
	}
	if err := e.prepareNew(img, backupPool, size); err != nil {
		return err
	}
	return img.SetMetadata(chain.SourceKey, chain.EncodeSource(src))
}

// checkAdoption says whether img, which holds backups of owner, may be
// adopted for src, and returns the adoption to record. It may not while
// owner still exists on this cluster (adopting would take the backup image
// from a live volume), nor while the backup image holds what interrupted
// runs left (see chain.Points.CheckAdoptable).
func (e *Engine) checkAdoption(ctx context.Context, img *rbd.Image, backupPool string, owner, src chain.Source) (chain.Adoption, error) {
	name := spec(backupPool, img.GetName())
	if owner.FSID == src.FSID {
		exists, err := e.ImageExists(ctx, owner.Pool, owner.Image)
		switch {
		case err != nil && !IsNotFound(err):
			return chain.Adoption{}, fmt.Errorf("the backup image %s holds backups of %s, on this cluster, and whether that image still exists could not be read (%w): "+
				"it is not adopted. Nothing was changed", name, owner, err)
		case exists:
			return chain.Adoption{}, fmt.Errorf("the backup image %s holds backups of %s, which still exists on this cluster: adopting it for %s would take it from a live volume, "+
				"whose next backup would then be refused. Adoption is for a volume recovered after its source was lost. Nothing was changed. "+
				"To back up both, take a new cephbackup_full of %s into another backup_pool", name, owner, src, spec(src.Pool, src.Image))
		}
	}
	pts, err := points(img)
	if err != nil {
		return chain.Adoption{}, err
	}
	a, err := pts.CheckAdoptable(owner, name)
	a.To = src
	return a, err
}

// notHalfFormatted is false for an image that a backup was formatting for
// encryption when it was stopped, before marking it: its only metadata is
// the encryption mark, and it has no snapshots. Its data is a LUKS header.
func notHalfFormatted(img *rbd.Image) (bool, error) {
	snaps, err := img.GetSnapshotNames()
	if err != nil || len(snaps) > 0 {
		return true, err
	}
	md, err := img.ListMetadata()
	if err != nil {
		return true, err
	}
	_, marked := md[chain.EncryptionKey]
	return !marked || len(md) > 1, nil
}

// checkBackupImage fails unless img holds backups of src only (an
// *OtherSourceError when it holds another source image's). unmarked
// reports an image without the cephbackup mark that is empty (one that a
// backup created but was stopped before marking), which may be claimed.
func checkBackupImage(img *rbd.Image, backupPool string, src chain.Source) (unmarked bool, err error) {
	v, err := img.GetMetadata(chain.SourceKey)
	if errors.Is(err, rbd.ErrNotFound) {
		used, err := holdsAnything(img)
		if err == nil && used {
			used, err = notHalfFormatted(img)
		}
		if err != nil {
			return false, &cephconn.Error{What: "image " + spec(backupPool, img.GetName()), Err: err}
		}
		if used {
			return false, fmt.Errorf("image %s already exists and was not made by cephbackup (it has no %s metadata): "+
				"backing up into it would overwrite it. Choose another backup_pool, or rename that image",
				spec(backupPool, img.GetName()), chain.SourceKey)
		}
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading %s of %s: %w", chain.SourceKey, img.GetName(), err)
	}
	owner, err := chain.DecodeSource(v)
	if err != nil {
		return false, err
	}
	if owner != src {
		return false, &OtherSourceError{BackupImage: spec(backupPool, img.GetName()), Owner: owner, Src: src}
	}
	return false, nil
}
