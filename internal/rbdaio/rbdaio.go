// Package rbdaio issues librbd's asynchronous reads and writes on images
// opened by go-ceph, which has no asynchronous RBD I/O of its own (its aio
// was removed in 2015). Everything else about an image stays with go-ceph.
//
// The I/O goes through the very handle go-ceph opened, not a second one:
// the engine holds the backup image's exclusive lock through that handle,
// and librbd refuses writes through any other, and an encryption format
// loaded into it applies to these I/Os too.
//
// Completions are waited for, never called back into Go: each operation
// returns an Op, and Wait blocks in rbd_aio_wait_for_complete. Buffers
// handed to librbd live in C memory (Alloc), since librbd keeps them after
// the call that started the operation returns, which Go memory must not be.
package rbdaio

/*
#cgo LDFLAGS: -lrbd
#include <errno.h>
#include <stdlib.h>
#include <rbd/librbd.h>

enum { rbdaio_read, rbdaio_write, rbdaio_zero };

// rbdaio_start starts one operation with a completion of its own, so that
// a Go call costs one crossing into C per start and one per wait.
static int rbdaio_start(rbd_image_t img, int kind, uint64_t off, size_t len, char *buf, rbd_completion_t *out) {
	static const char zero = 0;
	rbd_completion_t c;
	int r = rbd_aio_create_completion(NULL, NULL, &c);
	if (r < 0)
		return r;
	switch (kind) {
	case rbdaio_read:
		r = rbd_aio_read2(img, off, len, buf, c, 0);
		break;
	case rbdaio_write:
		r = rbd_aio_write2(img, off, len, buf, c, 0);
		break;
	case rbdaio_zero:
		// A write-same of one zero byte, as go-ceph's WriteSame sends
		// it: librbd turns it into write-zeroes (see transfer.ImageSink).
		r = rbd_aio_writesame(img, off, len, &zero, 1, c, 0);
		break;
	default:
		r = -EINVAL;
	}
	if (r < 0) {
		rbd_aio_release(c);
		return r;
	}
	*out = c;
	return 0;
}

// rbdaio_stop_when_cancelled is a flatten's progress callback: a non-zero
// return makes librbd stop the flatten.
static int rbdaio_stop_when_cancelled(uint64_t done, uint64_t total, void *cancelled) {
	return __atomic_load_n((int *)cancelled, __ATOMIC_ACQUIRE) ? -ECANCELED : 0;
}

static int rbdaio_flatten(rbd_image_t img, int *cancelled) {
	return rbd_flatten_with_progress(img, rbdaio_stop_when_cancelled, cancelled);
}

static void rbdaio_cancel(int *cancelled) {
	__atomic_store_n(cancelled, 1, __ATOMIC_RELEASE);
}

static ssize_t rbdaio_wait(rbd_completion_t c) {
	rbd_aio_wait_for_complete(c);
	ssize_t r = rbd_aio_get_return_value(c);
	rbd_aio_release(c);
	return r;
}
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/ceph/go-ceph/rbd"
)

// ErrUnsupported means the go-ceph in use does not keep its librbd handle
// where this package looks for it (a go-ceph other than the pinned one).
var ErrUnsupported = errors.New("rbdaio: cannot find the librbd handle of a go-ceph image")

// handleField names the field of rbd.Image that holds the librbd handle in
// the pinned go-ceph.
var handleField atomic.Pointer[string]

func init() {
	name := "image"
	handleField.Store(&name)
}

// LookUpHandleIn makes Of look for the handle in the rbd.Image field named
// field, until undo is called: a test names a field that does not exist to
// take the path of a go-ceph release that moved the handle.
func LookUpHandleIn(field string) (undo func()) {
	old := handleField.Swap(&field)
	return func() { handleField.Store(old) }
}

// GoCephVersion is the version of go-ceph built into the running binary, as
// its build information records it (test binaries record none).
func GoCephVersion() string {
	bi, _ := debug.ReadBuildInfo()
	return goCephVersionIn(bi)
}

func goCephVersionIn(bi *debug.BuildInfo) string {
	if bi != nil {
		for _, d := range bi.Deps {
			switch {
			case d.Path != "github.com/ceph/go-ceph":
			case d.Replace != nil:
				return d.Version + " (replaced by " + d.Replace.Path + " " + d.Replace.Version + ")"
			default:
				return d.Version
			}
		}
	}
	return "(version not recorded in the binary)"
}

// Image issues asynchronous I/O on an image opened by go-ceph. The go-ceph
// image must stay open until every Op started on it has been waited for.
type Image struct {
	handle C.rbd_image_t
	owner  *rbd.Image
}

// Of returns the asynchronous side of img.
//
// go-ceph keeps the librbd handle in an unexported field, image, of type
// C.rbd_image_t (a void pointer); it is read through reflection, checked
// for its kind, and a nil handle (a closed image) is refused. The go-ceph
// version is pinned in go.mod, and TestAccOfFindsTheHandle fails if a new one
// moves the field; a binary built with such a go-ceph gets ErrUnsupported,
// naming its go-ceph version, and its callers fall back to synchronous I/O.
func Of(img *rbd.Image) (*Image, error) {
	if img == nil {
		return nil, ErrUnsupported
	}
	name := *handleField.Load()
	field := reflect.ValueOf(img).Elem().FieldByName(name)
	if !field.IsValid() || field.Kind() != reflect.UnsafePointer {
		return nil, fmt.Errorf("%w: go-ceph %s has no field %s of the expected kind in rbd.Image", ErrUnsupported, GoCephVersion(), name)
	}
	handle := *(*unsafe.Pointer)(unsafe.Pointer(field.UnsafeAddr()))
	if handle == nil {
		return nil, fmt.Errorf("rbdaio: image %s is closed", img.GetName())
	}
	return &Image{handle: C.rbd_image_t(handle), owner: img}, nil
}

// Flatten flattens the image, a clone, and returns once librbd's flatten
// has stopped. When ctx is done first, librbd is asked to stop at its next
// progress report, and that is waited for: what was copied stays, and a
// later flatten finishes the job. A flatten that librbd forwards to another
// client holding the image's exclusive lock runs there to its end, and is
// waited for to its end.
func (i *Image) Flatten(ctx context.Context) error {
	cancelled := (*C.int)(C.calloc(1, C.size_t(unsafe.Sizeof(C.int(0)))))
	defer C.free(unsafe.Pointer(cancelled))
	done := make(chan C.int, 1)
	go func() { done <- C.rbdaio_flatten(i.handle, cancelled) }()
	var r C.int
	select {
	case r = <-done:
	case <-ctx.Done():
		C.rbdaio_cancel(cancelled)
		r = <-done
	}
	runtime.KeepAlive(i.owner)
	if r < 0 {
		return syscall.Errno(-r)
	}
	return nil
}

// Op is an operation in flight. Wait must be called exactly once.
type Op struct {
	completion C.rbd_completion_t
	length     int
	owner      *rbd.Image
	err        error
}

// Failed is an operation that could not start: its Wait returns err.
func Failed(err error) Op { return Op{err: err} }

// Wait blocks until the operation completes and returns its result.
func (o Op) Wait() error {
	if o.completion == nil {
		return o.err
	}
	r := C.rbdaio_wait(o.completion)
	runtime.KeepAlive(o.owner)
	switch {
	case r < 0:
		return syscall.Errno(-r)
	case o.length >= 0 && int(r) != o.length:
		return fmt.Errorf("rbdaio: short read: %d of %d bytes", int(r), o.length)
	}
	return nil
}

// An operation that cannot start returns an Op whose Wait reports why.
func (i *Image) start(kind C.int, off uint64, length int, buf *C.char) Op {
	var c C.rbd_completion_t
	if r := C.rbdaio_start(i.handle, kind, C.uint64_t(off), C.size_t(length), buf, &c); r < 0 {
		return Failed(syscall.Errno(-r))
	}
	return Op{completion: c, length: -1, owner: i.owner}
}

// ReadAt starts reading buf.Len() bytes at off into buf.
func (i *Image) ReadAt(buf Buffer, off uint64) Op {
	op := i.start(C.rbdaio_read, off, buf.Len(), buf.ptr)
	op.length = buf.Len()
	return op
}

// WriteAt starts writing buf[from:to) at off.
func (i *Image) WriteAt(buf Buffer, from, to int, off uint64) Op {
	if from < 0 || to > buf.Len() || from > to {
		return Failed(fmt.Errorf("rbdaio: range [%d, %d) outside a buffer of %d bytes", from, to, buf.Len()))
	}
	return i.start(C.rbdaio_write, off, to-from, (*C.char)(unsafe.Add(unsafe.Pointer(buf.ptr), from)))
}

// Zero starts making [off, off+length) read as zeros.
func (i *Image) Zero(off, length uint64) Op {
	return i.start(C.rbdaio_zero, off, int(length), nil)
}

// Buffer is C memory that librbd may keep while an operation runs.
type Buffer struct {
	ptr *C.char
	n   int
}

// Alloc returns a buffer of n bytes; Free it when no operation uses it.
func Alloc(n int) Buffer {
	return Buffer{ptr: (*C.char)(C.malloc(C.size_t(max(n, 1)))), n: n}
}

// Len is the buffer's length.
func (b Buffer) Len() int { return b.n }

// Bytes is the buffer as a Go slice, valid until Free.
func (b Buffer) Bytes() []byte { return unsafe.Slice((*byte)(unsafe.Pointer(b.ptr)), b.n) }

// Free releases the buffer.
func (b Buffer) Free() { C.free(unsafe.Pointer(b.ptr)) }
