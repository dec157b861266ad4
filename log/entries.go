package log

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"syscall"

	"github.com/fwledger/fwledger/tiles"
)

// A StorageError reports that the log's storage failed: a full disk, a
// permission or an I/O error. Nothing was changed, and the request may be
// retried later. Its message names the kind of failure, not the paths or
// the storage's own words, which go to the log's logs.
type StorageError struct {
	// Op is what the log was doing, such as "store the entries".
	Op  string
	Err error
}

func (e *StorageError) Error() string {
	return fmt.Sprintf("the log's storage failed to %s (%s); retry later", e.Op, e.Kind())
}

func (e *StorageError) Unwrap() error { return e.Err }

// Kind is "disk full", "permission denied" or "I/O error".
func (e *StorageError) Kind() string {
	switch {
	case errors.Is(e.Err, syscall.ENOSPC), errors.Is(e.Err, syscall.EDQUOT), errors.Is(e.Err, syscall.EFBIG):
		return "disk full"
	case errors.Is(e.Err, syscall.EACCES), errors.Is(e.Err, syscall.EPERM), errors.Is(e.Err, syscall.EROFS):
		return "permission denied"
	}
	return "I/O error"
}

// WrapStorageError wraps an error of a storage as a *StorageError that
// says it was doing op, except ErrNotFound (an answer, not a failure),
// context errors and errors that already say what went wrong (a
// *StorageError or *CorruptError). Layers above the log wrap the failures of
// their own stores with it, so that every storage failure is answered alike.
func WrapStorageError(op string, err error) error {
	var se *StorageError
	var ce *CorruptError
	switch {
	case err == nil, errors.Is(err, ErrNotFound), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &se), errors.As(err, &ce):
		return err
	}
	return &StorageError{Op: op, Err: err}
}

// A CorruptError reports a stored entry whose bytes do not hash to its leaf
// hash: the one the tree holds for it, or, before it is integrated, the one
// recorded when it was sequenced. The storage was altered or damaged; the
// log never serves such an entry, nor integrates it.
type CorruptError struct {
	Index uint64
	// Want is the leaf hash the entry must have; Got the hash of the
	// stored bytes.
	Want, Got []byte
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("the log's copy of entry %d is corrupt: its bytes hash to %x, its leaf hash is %x (run fwlog fsck)", e.Index, e.Got, e.Want)
}

// readEntry returns the leaf at index. An integrated entry is returned only
// if its bytes hash to the leaf hash in the tree's tiles; one that does not
// is a *CorruptError, counted and logged.
func (l *Log) readEntry(ctx context.Context, index uint64) ([]byte, error) {
	data, err := l.store.ReadEntry(ctx, index)
	if err != nil {
		return nil, WrapStorageError("read an entry", err)
	}
	if index >= l.integrated.Load() {
		return data, nil // checked against its sequenced leaf hash when integrated
	}
	if err := l.checkLeaf(ctx, index, data); err != nil {
		return nil, err
	}
	return data, nil
}

// checkLeaf checks that entry index, integrated, has bytes data.
func (l *Log) checkLeaf(ctx context.Context, index uint64, data []byte) error {
	want, err := l.tiles.Node(ctx, 0, index)
	if err != nil {
		return WrapStorageError("read a tile", err)
	}
	if got := tiles.LeafHash(data); !bytes.Equal(got, want) {
		ce := &CorruptError{Index: index, Want: want, Got: got}
		l.metrics.corruptEntries.Inc()
		l.logger.Error("CORRUPT STORAGE: a stored entry does not match the tree; it is not served", "index", index, "err", ce)
		return ce
	}
	return nil
}
