// Package fsys is the file system the device agent writes through: the
// operating system's ([OS]), or in tests [Faulty], which cuts the power at
// a chosen operation.
//
// Every change the agent makes is one of a few operations (create, write,
// sync, rename, remove, sync of a directory), so a test can stop it at each
// one in turn and start the device again from what is on disk.
package fsys

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// A File is a file open for writing.
type File interface {
	io.Writer
	Sync() error
	Close() error
}

// An FS is what the device agent changes files through. Reads go through
// it too, so that a test can see what a restarted device would.
type FS interface {
	// Create creates or truncates a regular file, mode 0600.
	Create(name string) (File, error)
	// CreateNew creates a regular file, mode 0600, that must not exist,
	// not even as a symbolic link.
	CreateNew(name string) (File, error)
	// OpenWrite opens an existing file or block device for writing from
	// its start, without truncating it.
	OpenWrite(name string) (File, error)
	// Open opens a file for reading.
	Open(name string) (*os.File, error)
	Rename(from, to string) error
	Remove(name string) error
	// SyncDir makes the directory's entries (renames, new files) durable.
	SyncDir(dir string) error
}

// OS is the operating system's file system.
var OS FS = osFS{}

type osFS struct{}

func (osFS) Create(name string) (File, error) {
	return os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
}
func (osFS) CreateNew(name string) (File, error) {
	return os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
}
func (osFS) OpenWrite(name string) (File, error) { return os.OpenFile(name, os.O_WRONLY, 0) }
func (osFS) Open(name string) (*os.File, error)  { return os.Open(name) }
func (osFS) Rename(from, to string) error        { return os.Rename(from, to) }
func (osFS) Remove(name string) error            { return os.Remove(name) }
func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// WriteFile replaces the file name with data atomically: it writes a
// temporary file beside it, syncs it, renames it over name and syncs the
// directory. After a power cut the file holds the old data or the new,
// never a mix.
func WriteFile(fs FS, name string, data []byte) error {
	tmp := name + ".tmp"
	// A temporary file left by a power cut, or a link planted in its
	// place, is removed (the link, not what it points to).
	if err := fs.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	f, err := fs.CreateNew(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fs.Rename(tmp, name); err != nil {
		return err
	}
	return fs.SyncDir(filepath.Dir(name))
}

// ReadFile reads the file name through fs, refusing one larger than
// limit bytes (reading at most one byte more).
func ReadFile(fs FS, name string, limit int64) ([]byte, error) {
	f, err := fs.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, limit)
	}
	return data, nil
}

// ErrPowerCut is what every operation of a [Faulty] file system returns
// from the cut on.
var ErrPowerCut = errors.New("power cut (injected)")

// A Faulty file system performs the operations of the OS file system
// until the one numbered At (counting from 1 every create, write, sync,
// rename, remove and directory sync), which it cuts short: a write writes
// half its bytes, anything else does nothing. That operation and every
// later one return ErrPowerCut. With At zero, it never cuts and only
// counts.
//
// It models a cut that keeps every operation before it, in order; it does
// not model a disk that loses writes it acknowledged (the agent syncs
// before it relies on any).
type Faulty struct {
	At int

	mu  sync.Mutex
	ops int
}

// Ops returns how many changing operations were attempted.
func (f *Faulty) Ops() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ops
}

// Cut reports whether the power has been cut.
func (f *Faulty) Cut() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.At > 0 && f.ops >= f.At
}

// step counts an operation and reports whether it may run: ok, or torn
// for the one that is cut.
func (f *Faulty) step() (ok, torn bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.At > 0 && f.ops >= f.At {
		return false, false
	}
	f.ops++
	if f.At > 0 && f.ops == f.At {
		return false, true
	}
	return true, false
}

func (f *Faulty) Create(name string) (File, error) {
	if ok, _ := f.step(); !ok {
		return nil, ErrPowerCut
	}
	w, err := OS.Create(name)
	if err != nil {
		return nil, err
	}
	return &faultyFile{f: f, w: w}, nil
}

func (f *Faulty) CreateNew(name string) (File, error) {
	if ok, _ := f.step(); !ok {
		return nil, ErrPowerCut
	}
	w, err := OS.CreateNew(name)
	if err != nil {
		return nil, err
	}
	return &faultyFile{f: f, w: w}, nil
}

func (f *Faulty) OpenWrite(name string) (File, error) {
	w, err := OS.OpenWrite(name)
	if err != nil {
		return nil, err
	}
	return &faultyFile{f: f, w: w}, nil
}

func (f *Faulty) Open(name string) (*os.File, error) { return OS.Open(name) }

func (f *Faulty) Rename(from, to string) error {
	if ok, _ := f.step(); !ok {
		return ErrPowerCut
	}
	return OS.Rename(from, to)
}

func (f *Faulty) Remove(name string) error {
	if ok, _ := f.step(); !ok {
		return ErrPowerCut
	}
	return OS.Remove(name)
}

func (f *Faulty) SyncDir(dir string) error {
	if ok, _ := f.step(); !ok {
		return ErrPowerCut
	}
	return OS.SyncDir(dir)
}

type faultyFile struct {
	f *Faulty
	w File
}

func (ff *faultyFile) Write(p []byte) (int, error) {
	ok, torn := ff.f.step()
	if torn {
		n, _ := ff.w.Write(p[:len(p)/2])
		return n, ErrPowerCut
	}
	if !ok {
		return 0, ErrPowerCut
	}
	return ff.w.Write(p)
}

func (ff *faultyFile) Sync() error {
	if ok, _ := ff.f.step(); !ok {
		return ErrPowerCut
	}
	return ff.w.Sync()
}

// Close is not counted: it changes nothing on disk.
func (ff *faultyFile) Close() error { return ff.w.Close() }
