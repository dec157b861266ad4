// Package cas stores firmware images on the local filesystem, addressed by
// their SHA-256 digest.
//
// An image is written to a temporary file while it is hashed, checked against
// the expected digest and size, synced, and renamed into place, so a stored
// image is always complete and always matches its name.
package cas

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/fwledger/fwledger/digest"
)

// A Store is a directory of images.
type Store struct {
	dir string
}

// StaleUpload is how long a temporary file of an upload goes unwritten
// before Open takes it for one that never finished. An upload in progress
// writes at least --upload-min-rate bytes a second; several processes (the
// frontends of one log) may share the store, so a fresh file may be
// another's upload in progress.
const StaleUpload = time.Hour

// Open returns the store in dir, creating it if needed. It removes the
// temporary files of uploads that never finished (the process was killed
// while one was written): those unwritten for StaleUpload.
func Open(dir string) (*Store, error) {
	tmp := filepath.Join(dir, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, err
	}
	left, err := os.ReadDir(tmp)
	if err != nil {
		return nil, err
	}
	for _, f := range left {
		fi, err := f.Info()
		if err != nil || time.Since(fi.ModTime()) < StaleUpload {
			continue // gone meanwhile, or perhaps in progress
		}
		if err := os.RemoveAll(filepath.Join(tmp, f.Name())); err != nil {
			return nil, fmt.Errorf("couldn't remove an unfinished upload: %w", err)
		}
	}
	return &Store{dir: dir}, nil
}

func (s *Store) path(d digest.Digest) string {
	h := d.String()[len("sha256:"):]
	return filepath.Join(s.dir, "sha256", h[:2], h)
}

// Put stores the image read from r if it has digest want and length size;
// otherwise it returns a *digest.MismatchError and stores nothing. It
// reports whether it stored a new copy: an image already present is read
// and checked all the same (success is never reported for bytes that were
// not checked), and not stored twice.
func (s *Store) Put(want digest.Digest, size int64, r io.Reader) (created bool, err error) {
	if _, err := os.Stat(s.path(want)); err == nil {
		return false, digest.Check(&reader{r}, uint64(size), want, nil)
	}
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "upload-*")
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	// A mismatch is a *digest.MismatchError; nothing is stored.
	fw := &fileWriter{f: tmp}
	if err := digest.Check(io.TeeReader(&reader{r}, fw), uint64(size), want, nil); err != nil {
		if fw.err != nil {
			return false, fw.err // the store failed: a full disk, say
		}
		return false, err
	}
	if err := tmp.Sync(); err != nil {
		return false, err
	}
	return true, place(tmp, s.path(want))
}

// place closes the synced temporary file tmp and renames it to dst,
// durably: a stored file is always complete.
func place(tmp *os.File, dst string) error {
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return err
	}
	return syncDir(filepath.Dir(dst))
}

// Open opens the stored image with digest d.
func (s *Store) Open(d digest.Digest) (*os.File, error) {
	f, err := os.Open(s.path(d))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("image %s: %w", d, os.ErrNotExist)
	}
	return f, err
}

// A ReadError reports that the image could not be read from its source
// (a client that went away, a body over its limit): the store is fine.
type ReadError struct{ Err error }

func (e *ReadError) Error() string { return "couldn't read the image: " + e.Err.Error() }
func (e *ReadError) Unwrap() error { return e.Err }

// reader marks the errors of the image's source as *ReadError.
type reader struct{ r io.Reader }

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = &ReadError{Err: err}
	}
	return n, err
}

// fileWriter remembers the first error writing the temporary file.
type fileWriter struct {
	f   *os.File
	err error
}

func (w *fileWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if err != nil && w.err == nil {
		w.err = err
	}
	return n, err
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func (s *Store) deltaPath(target digest.Digest) string {
	h := target.String()[len("sha256:"):]
	return filepath.Join(s.dir, "delta", h[:2], h)
}

// PutDelta stores what r holds, at most max bytes, as the delta update to
// the image target, if check accepts the complete file (checks it
// against the release and the base image); otherwise it returns check's
// error and stores nothing. A delta already stored is kept, and created
// is false.
func (s *Store) PutDelta(target digest.Digest, max int64, r io.Reader, check func(*os.File) error) (created bool, err error) {
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "delta-*")
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	fw := &fileWriter{f: tmp}
	n, err := io.Copy(fw, &reader{io.LimitReader(r, max+1)})
	if err != nil {
		if fw.err != nil {
			return false, fw.err
		}
		return false, err
	}
	if n > max {
		return false, &ReadError{Err: fmt.Errorf("the delta is more than %d bytes", max)}
	}
	if err := tmp.Sync(); err != nil {
		return false, err
	}
	if err := check(tmp); err != nil {
		return false, err
	}
	if s.HasDelta(target) {
		return false, nil
	}
	return true, place(tmp, s.deltaPath(target))
}

// HasDelta reports whether a delta update to the image target is stored.
func (s *Store) HasDelta(target digest.Digest) bool {
	_, err := os.Stat(s.deltaPath(target))
	return err == nil
}

// OpenDelta opens the stored delta update to the image target.
func (s *Store) OpenDelta(target digest.Digest) (*os.File, error) {
	f, err := os.Open(s.deltaPath(target))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("delta to %s: %w", target, os.ErrNotExist)
	}
	return f, err
}
