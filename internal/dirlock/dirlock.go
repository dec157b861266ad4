// Package dirlock keeps a second process out of a server's data directory
// with an exclusive flock on a file in it.
package dirlock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// ErrLocked means another process holds the directory.
var ErrLocked = errors.New("the data directory is in use by another process")

// Lock creates dir (mode 0700) if needed and takes an exclusive lock on the
// file name in it. The lock lasts until the returned file is closed or the
// process exits. If another process holds it, the error wraps ErrLocked.
func Lock(dir, name string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", dir, ErrLocked)
		}
		return nil, fmt.Errorf("couldn't lock %s: %w", dir, err)
	}
	return f, nil
}
