package cephconn

import (
	"errors"
	"syscall"
)

// Errno extracts the errno carried by a go-ceph error, 0 when there is none.
func Errno(err error) syscall.Errno {
	var coded interface{ ErrorCode() int }
	if errors.As(err, &coded) {
		code := coded.ErrorCode()
		if code < 0 {
			code = -code
		}
		return syscall.Errno(code)
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return 0
}

// Is reports whether err carries the given errno.
func Is(err error, errno syscall.Errno) bool { return err != nil && Errno(err) == errno }

// Explain turns a librados/librbd error into a sentence a person can act on.
// what names the object involved ("pool \"rbd\"", "image rbd/vol-1").
func Explain(what string, err error) string {
	switch Errno(err) {
	case syscall.ENOENT:
		return what + " does not exist"
	case syscall.EEXIST:
		return what + " already exists"
	case syscall.EBUSY:
		return what + " is busy (in use, locked, or has dependent snapshots or clones)"
	case syscall.EPERM, syscall.EACCES:
		return permissionDenied(what, "the cephx user", "<pool>")
	case syscall.ETIMEDOUT:
		return "timed out talking to the cluster about " + what +
			" (monitors unreachable or OSDs not answering); check mon_host and the cluster's health, or raise timeout"
	case syscall.EROFS:
		return what + " is locked by another client"
	case syscall.ENOSPC, syscall.EDQUOT:
		return "the cluster is out of space or over quota writing " + what
	case syscall.EINVAL:
		return "Ceph rejected an invalid argument for " + what
	}
	return what + ": " + err.Error()
}

func permissionDenied(what, user, poolPath string) string {
	return "permission denied on " + what + ": " + user + " lacks the capability: grant it " +
		"osd '" + capsFor(poolPath) + "' and mon 'profile rbd' (see the getting-started guide)"
}

// Error keeps the errno of a Ceph failure while saying what it was about.
// Pool and User, when set, name the capability a permission error lacks.
type Error struct {
	What       string
	Err        error
	Pool, User string
}

func (e *Error) Error() string {
	if e.Pool != "" && e.User != "" && (Is(e.Err, syscall.EPERM) || Is(e.Err, syscall.EACCES)) {
		return permissionDenied(e.What, "client."+e.User, e.Pool)
	}
	return Explain(e.What, e.Err)
}
func (e *Error) Unwrap() error { return e.Err }
