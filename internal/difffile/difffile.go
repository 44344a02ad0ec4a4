// Package difffile writes, inspects and guards the local files of the
// cephbackup_diff_file resource: rbd diff streams of one restore point.
package difffile

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/cephbackup/terraform-provider-cephbackup/internal/rbddiff"
)

// Info describes a diff file as found on disk.
type Info struct {
	Header    rbddiff.Header
	Size      int64  // bytes of the file
	DataBytes uint64 // bytes of image data its 'w' records carry
	SHA256    string // of the whole file
}

// Write streams export into a temporary file beside path and renames it into
// place once synced, so path never holds a partial file. It returns the
// file's size and sha256.
func Write(path string, export func(io.Writer) error) (size int64, sum string, err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".partial-*")
	if err != nil {
		return 0, "", err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	h := sha256.New()
	counter := &countingWriter{w: io.MultiWriter(tmp, h)}
	err = export(counter)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return 0, "", err
	}
	return counter.n, hex.EncodeToString(h.Sum(nil)), nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Fingerprint returns a file's size and sha256; fs.ErrNotExist when it is
// gone. Refresh uses it to notice a file changed since it was written; it
// stops when ctx ends.
func Fingerprint(ctx context.Context, path string) (size int64, sum string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	size, err = io.Copy(h, ctxReader{ctx, f})
	if err != nil {
		return 0, "", err
	}
	return size, hex.EncodeToString(h.Sum(nil)), nil
}

// ctxReader reads until its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Inspect decodes a whole diff file: its header, the image data it carries,
// and its size and sha256. A file that is not a complete rbd diff stream is an
// error that says where it breaks.
func Inspect(path string) (Info, error) {
	f, err := os.Open(path)
	if err != nil {
		return Info{}, err
	}
	defer f.Close()
	h := sha256.New()
	counter := &countingWriter{w: h}
	rd, err := rbddiff.NewReader(bufio.NewReaderSize(io.TeeReader(f, counter), 1<<20))
	if err != nil {
		return Info{}, fmt.Errorf("%s: %w", path, err)
	}
	info := Info{Header: rd.Header()}
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Info{}, fmt.Errorf("%s: %w", path, err)
		}
		if rec.Kind == rbddiff.Data {
			info.DataBytes += rec.Length
		}
	}
	// The reader stops at the end record; hash whatever follows it too, so
	// the checksum is the file's.
	if _, err := io.Copy(counter, f); err != nil {
		return Info{}, err
	}
	info.Size, info.SHA256 = counter.n, hex.EncodeToString(h.Sum(nil))
	return info, nil
}

// CheckOverwrite reports whether a file may be written at path: it may when
// nothing is there, or when what is there is a diff file of the same restore
// point (to snapshot toSnap, from fromSnap, "" for a whole restore point),
// which writing again only repairs. Anything else is somebody's file and is
// refused.
func CheckOverwrite(path, toSnap, fromSnap string) error {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s exists and is not a regular file; choose another path", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	rd, err := rbddiff.NewReader(bufio.NewReader(f))
	if err != nil {
		return fmt.Errorf("%s exists and is not an rbd diff file (%w): the provider writes only files it made; remove it or choose another path", path, err)
	}
	hdr := rd.Header()
	if hdr.ToSnap != toSnap || hdr.FromSnap != fromSnap {
		return fmt.Errorf("%s exists and is the diff file of another restore point (%s): the provider overwrites only a diff file of the same restore point; remove it or choose another path", path, describe(hdr))
	}
	return nil
}

func describe(h rbddiff.Header) string {
	if !h.HasToSnap {
		return "no end snapshot"
	}
	if h.HasFromSnap {
		return "from " + h.FromSnap + " to " + h.ToSnap
	}
	return "to " + h.ToSnap
}
