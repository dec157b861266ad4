package log

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"syscall"

	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/log/tiles"
	"github.com/fwledger/fwledger/provenance"
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

// storageError wraps an error of the storage as a *StorageError, except
// ErrNotFound (an answer, not a failure), context errors and errors that
// already say what went wrong (a *StorageError or *CorruptError).
func storageError(op string, err error) error {
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

// A Statement is a logged entry, parsed, with its index.
type Statement struct {
	Index uint64
	// Data is the leaf; Content, for a leaf that is a reference, is the
	// entry stored by digest.
	Data    []byte
	Content []byte
	// Entry is the parsed entry, nil if it no longer parses (a parser that
	// grew stricter since it was logged).
	*provenance.Entry
}

// readEntry returns the leaf at index. An integrated entry is returned only
// if its bytes hash to the leaf hash in the tree's tiles; one that does not
// is a *CorruptError, counted and logged.
func (l *Log) readEntry(ctx context.Context, index uint64) ([]byte, error) {
	data, err := l.store.ReadEntry(ctx, index)
	if err != nil {
		return nil, storageError("read an entry", err)
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
		return storageError("read a tile", err)
	}
	if got := tiles.LeafHash(data); !bytes.Equal(got, want) {
		ce := &CorruptError{Index: index, Want: want, Got: got}
		l.metrics.corruptEntries.Inc()
		l.logger.Error("CORRUPT STORAGE: a stored entry does not match the tree; it is not served", "index", index, "err", ce)
		return ce
	}
	return nil
}

// statement reads, checks and parses the entry at index. Integrated
// entries, which never change, are kept parsed in a cache; the Entry
// returned is the caller's own (see provenance.Entry.Copy).
func (l *Log) statement(ctx context.Context, index uint64) (*Statement, error) {
	if s, ok := l.entryCache.Get(index); ok {
		return s.copy(), nil
	}
	data, err := l.readEntry(ctx, index)
	if err != nil {
		return nil, err
	}
	content, err := l.content(data)
	if err != nil {
		return nil, err
	}
	s := &Statement{Index: index, Data: data}
	if len(content) != len(data) {
		s.Content = content
	}
	s.Entry, _ = provenance.ParseEntry(content)
	if index < l.integrated.Load() {
		l.entryCache.Add(index, s)
		return s.copy(), nil
	}
	return s, nil
}

// Bytes returns the entry itself: Content for an entry stored by digest,
// otherwise Data.
func (s *Statement) Bytes() []byte {
	if s.Content != nil {
		return s.Content
	}
	return s.Data
}

// copy returns s with its own copy of the parsed entry.
func (s *Statement) copy() *Statement {
	c := *s
	if s.Entry != nil {
		c.Entry = s.Entry.Copy()
	}
	return &c
}

// byDigest returns the logged entry whose exact bytes have SHA-256 digest
// d (an entry stored by digest: its content's), or nil if none is logged.
func (l *Log) byDigest(ctx context.Context, d digest.Digest) (*Statement, error) {
	idx, err := l.store.Lookup(ctx, envelopeKey(d), -1, 1)
	if err != nil {
		return nil, storageError("look up an entry", err)
	}
	if len(idx) == 0 {
		return nil, nil
	}
	s, err := l.statement(ctx, idx[0])
	if err != nil || s.Entry == nil || s.Digest != d {
		return nil, err
	}
	return s, nil
}

// lookupPage returns the statements with a lookup key, in log order after
// index after (-1 for the start), reading at most limit index rows, and
// whether more rows may follow (next is then the index to continue after).
// Entries that no longer parse are skipped.
func (l *Log) lookupPage(ctx context.Context, key []byte, after int64, limit int) (sts []*Statement, next int64, more bool, err error) {
	idxs, err := l.store.Lookup(ctx, key, after, limit)
	if err != nil {
		return nil, 0, false, storageError("look up entries", err)
	}
	for _, i := range idxs {
		s, err := l.statement(ctx, i)
		if err != nil {
			return nil, 0, false, err
		}
		if s.Entry != nil {
			sts = append(sts, s)
		}
	}
	if len(idxs) < limit {
		return sts, 0, false, nil
	}
	return sts, int64(idxs[len(idxs)-1]), true, nil
}
