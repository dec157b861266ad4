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

	"github.com/fwledger/fwledger/provenance"
)

// A Store is a directory of images.
type Store struct {
	dir string
}

// Open returns the store in dir, creating it if needed.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		return nil, err
	}
	return &Store{dir: dir}, nil
}

func (s *Store) path(d provenance.Digest) string {
	h := d.String()[len("sha256:"):]
	return filepath.Join(s.dir, "sha256", h[:2], h)
}

// Put stores the image read from r if it has digest want and length size;
// otherwise it returns a *provenance.DigestError and stores nothing.
// Storing an image that is already present succeeds without a second copy.
func (s *Store) Put(want provenance.Digest, size int64, r io.Reader) error {
	if _, err := os.Stat(s.path(want)); err == nil {
		// Consume nothing: the content is known.
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "upload-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	// A mismatch is a *provenance.DigestError; nothing is stored.
	if err := provenance.CheckImage(want, uint64(size), io.TeeReader(r, tmp)); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	dst := s.path(want)
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
func (s *Store) Open(d provenance.Digest) (*os.File, error) {
	f, err := os.Open(s.path(d))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("image %s: %w", d, os.ErrNotExist)
	}
	return f, err
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
