package log

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNotFound is returned (wrapped) when a requested resource does not exist.
var ErrNotFound = errors.New("not found")

// notFoundError is an ErrNotFound whose message says what was not found,
// and no more.
type notFoundError struct{ msg string }

func (e *notFoundError) Error() string        { return e.msg }
func (e *notFoundError) Is(target error) bool { return target == ErrNotFound }

// NotFoundf returns an error that is ErrNotFound with the given message.
func NotFoundf(format string, a ...any) error {
	return &notFoundError{msg: fmt.Sprintf(format, a...)}
}

// A Leaf is an entry to sequence.
type Leaf struct {
	// Data is the exact entry bytes.
	Data []byte
	// Hash is the RFC 6962 leaf hash of Data.
	Hash []byte
	// Keys are lookup keys for the entry (at most MaxKeySize bytes each), such as
	// a kind byte followed by a subject digest. An entry is found by each of
	// its keys. Identical entries have identical keys.
	Keys [][]byte
	// Dedup, when not nil, decides whether the leaf duplicates an entry
	// with other bytes sequenced under the same first key. Sequence calls
	// it, within its write, with the indices of the entries sequenced,
	// before that call, under the leaf's first key, in increasing order (at most
	// MaxDedupCandidates; more is true if there are more), unless one has
	// the leaf's hash (a duplicate whatever Dedup would say). It returns
	// the index to answer with and true, or false to sequence the leaf. It
	// runs on the sequencing path: it must be quick, and must not write to
	// the storage.
	Dedup func(indices []uint64, more bool) (uint64, bool)
	// Fences, when set, refuse the leaf if any of them trips. The leaves
	// of one Log.Sequence call must carry the same fences.
	Fences []Fence
}

// A Fence trips when an entry was sequenced under Key at an index above
// Above (-1: at any index) before the Sequence call: what a leaf was judged
// by (the revocations logged, no handover) changed since, through another
// frontend of a shared storage.
type Fence struct {
	Key   []byte
	Above int64
}

// MaxKeySize is the longest lookup key, in bytes.
const MaxKeySize = 80

// MaxDedupCandidates is the most indices Sequence gives a Leaf's Dedup.
const MaxDedupCandidates = 1024

// A Sequenced reports the index a leaf got.
type Sequenced struct {
	Index uint64
	// Dup is true if the leaf was already in the log (or earlier in the
	// same call) and Index is that earlier index.
	Dup bool
	// Fenced is true if one of the leaf's fences tripped: it was not
	// sequenced, and Index means nothing.
	Fenced bool
}

// A Tree is the size and root hash of a Merkle tree.
type Tree struct {
	Size uint64
	Root []byte
}

// An IdentityError reports a data directory that belongs to another log (or
// to this log under another key).
type IdentityError struct {
	Stored, Given string
}

func (e *IdentityError) Error() string {
	return fmt.Sprintf("the storage belongs to log %q, not %q: the log key or origin changed", e.Stored, e.Given)
}

// Storage is the durable state of one log: sequenced entries, the integrated
// tree as C2SP tiles and entry bundles, and the latest checkpoint.
//
// The Log calls Sequence from one goroutine, and Integrate and SetCheckpoint
// from one other goroutine; reads may run concurrently with everything.
// Every write is durable when it returns without error, and a write that
// returns an error changed nothing.
type Storage interface {
	// BindIdentity records the log's identity (its verifier key) on first
	// use; later it returns an *IdentityError if id differs from the record.
	BindIdentity(ctx context.Context, id string) error

	// Sequence assigns consecutive indices to leaves, in order, after every
	// index already assigned; a leaf whose fence trips is left out. A leaf whose hash is already sequenced (under
	// its first key), or appears earlier in the same call, gets that index
	// with Dup set; so does a leaf its Dedup finds a duplicate of.
	Sequence(ctx context.Context, leaves []Leaf) ([]Sequenced, error)

	// Integrate adds up to max sequenced leaves to the tree, storing their
	// tiles and entry bundles, and returns the integrated tree. It returns
	// the current tree when nothing is waiting.
	Integrate(ctx context.Context, max int) (Tree, error)

	// Tree returns the integrated tree, and the number of sequenced entries.
	Tree(ctx context.Context) (tree Tree, sequenced uint64, err error)

	// Checkpoint returns the latest stored checkpoint, or nil if none.
	Checkpoint(ctx context.Context) ([]byte, error)

	// SetCheckpoint stores the signed checkpoint for a tree of the given
	// size. It fails unless size is greater than the stored checkpoint's
	// size (or none is stored) and at most the integrated size.
	SetCheckpoint(ctx context.Context, size uint64, checkpoint []byte) error

	// Witnessed returns the latest stored witnessed checkpoint (the signed
	// checkpoint with its cosignatures), or nil if none.
	Witnessed(ctx context.Context) ([]byte, error)

	// SetWitnessed stores the witnessed checkpoint for a tree of the given
	// size. It fails unless size is at least the stored witnessed size
	// (the same size again carries fresher cosignatures) and at most the
	// stored checkpoint's size.
	SetWitnessed(ctx context.Context, size uint64, checkpoint []byte) error

	// ReadTile returns the widest stored version of tile (level, index).
	ReadTile(ctx context.Context, level, index uint64) ([]byte, error)

	// ReadEntryBundle returns the entry bundle index holding every
	// integrated entry it covers.
	ReadEntryBundle(ctx context.Context, index uint64) ([]byte, error)

	// ReadEntry returns the sequenced entry at index.
	ReadEntry(ctx context.Context, index uint64) ([]byte, error)

	// Lookup returns the indices of up to limit sequenced entries with the
	// given key, in increasing order, starting after index after (use -1 for
	// the start).
	Lookup(ctx context.Context, key []byte, after int64, limit int) ([]uint64, error)

	// LookupBefore returns the indices of up to limit sequenced entries with
	// the given key, in decreasing order, starting below index before.
	LookupBefore(ctx context.Context, key []byte, before uint64, limit int) ([]uint64, error)

	// IndexVersion returns the version of the lookup keys, as recorded by
	// the last Reindex; 0 if none was.
	IndexVersion(ctx context.Context) (int, error)

	// Reindex replaces the lookup keys of every sequenced entry with
	// keysOf(index, entry), calling it in index order, and then records
	// version. Until it returns without error the recorded version is 0,
	// so that a failed or interrupted Reindex is started over; lookups
	// made meanwhile may miss entries. It may not run concurrently with
	// Sequence. progress, if not nil, is called now and then with the
	// entries done and the total.
	Reindex(ctx context.Context, version int, keysOf func(index uint64, entry []byte) ([][]byte, error), progress func(done, total uint64)) error

	// Close releases the storage.
	Close() error
}

// A GrowthSample is the size of the last checkpoint a storage stored in
// one hour, by its clock.
type GrowthSample struct {
	Hour time.Time // the hour's start, in UTC
	Size uint64
}

// MaxGrowthSamples is the most samples one Growth call returns: a year
// of hours.
const MaxGrowthSamples = 24 * 366

// A GrowthStorage is a Storage that keeps, with each checkpoint it
// stores, the tree's size by the hour: the log's growth over time, for
// people to see (the web explorer). A Storage need not be one.
type GrowthStorage interface {
	// Growth returns the samples of the hours from since's on, in
	// order: the newest MaxGrowthSamples of them.
	Growth(ctx context.Context, since time.Time) ([]GrowthSample, error)
}

// ErrNotPublisher is returned (wrapped) by a SharedStorage's writes of the
// tree and its checkpoints when this handle does not hold the publisher
// lease: another frontend publishes.
var ErrNotPublisher = errors.New("this frontend does not hold the publisher lease")

// A SharedStorage is a Storage that several Logs, in several processes (the
// frontends), use at once. Each sequences submissions and serves reads;
// one at a time, the holder of the publisher lease, integrates, signs and
// has checkpoints witnessed. The others follow the checkpoints it stores.
//
// Integrate, SetCheckpoint and SetWitnessed change nothing and return an
// error wrapping ErrNotPublisher unless this handle holds an unexpired
// lease when they commit: so a publisher whose lease ran out while it
// worked (a pause, a partition) cannot overwrite its successor's work.
type SharedStorage interface {
	Storage
	// Lease takes the publisher lease for this handle, or renews it, for
	// ttl from now by the storage's clock, if no other handle holds an
	// unexpired one; it reports whether this handle holds it.
	Lease(ctx context.Context, ttl time.Duration) (bool, error)
	// Release gives the lease up, if this handle holds it, so that
	// another frontend can take it at once.
	Release(ctx context.Context) error
}
