// Package log is the transparency-log mechanism: it sequences entries
// durably, integrates them into an RFC 6962 Merkle tree stored as C2SP tiles
// and entry bundles, signs C2SP checkpoints, has them cosigned by witnesses,
// and serves tiles, entries and proofs. It knows nothing of what its entries
// mean: package ledger, in front of it, decides what is logged, and serves
// the HTTP API.
//
// # Lifecycle of an entry
//
//  1. Sequence takes a group of leaves (with their lookup keys and, for
//     deduplication, a function that judges earlier entries under the first
//     key). The sequencer batches concurrent groups into one durable write
//     (group commit) and only then returns each leaf's index.
//  2. The integrator appends sequenced entries to the tree in batches,
//     storing tiles and entry bundles durably, and then signs one checkpoint
//     for the new size. A size is never signed with two roots: the root is
//     fixed by durable state before any signature over it exists.
//  3. With a Witnesser, the latest signed checkpoint is sent to the
//     witnesses, and published (stored with its cosignatures, then served)
//     only once a quorum has cosigned it. Without one, the signed
//     checkpoint is published at once.
//
// Reads serve only what the published checkpoint covers, and an integrated
// entry only if its bytes hash to its leaf in the tree.
//
// A checkpoint, as signed and served (C2SP tlog-checkpoint), here the one in
// testdata/fw.bundle, of a log of five entries:
//
//	example.com/testlog
//	5
//	dfUtKxiZ4Lsf5Wp+61yLx5SezdN0dls56EnaT1fDqjo=
//
//	— example.com/testlog 7JqKuhCF2GPPb/2qlNld5pd/hSUQY8OT1knSDv3uT74/8o2PJg0aVW+bcinh+q+HNrOL50X2rhK1iE7y09gnY3NB9gg=
//
// # Start-up checks
//
// New refuses to start if the storage belongs to another log identity
// (origin or key changed), if the stored checkpoint does not verify under
// the log's key, or if the tree recomputed from the stored tiles disagrees
// with the stored checkpoint.
package log

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/fwledger/fwledger/internal/groupcommit"
	"github.com/fwledger/fwledger/tiles"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/klauspost/compress/gzip"
	"github.com/prometheus/client_golang/prometheus"
	flog "github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
)

// Errors that callers branch on.
var (
	// ErrPushback means the sequencing queue is full; retry later.
	ErrPushback = errors.New("too many pending submissions; retry later")
	// ErrStopped means the log is shutting down.
	ErrStopped = errors.New("the log is shutting down")
	// ErrNotWitnessed means no checkpoint is published yet because the
	// witnesses have not cosigned one.
	ErrNotWitnessed = errors.New("no checkpoint is published yet: waiting for the witnesses' quorum")
	// ErrEntryTooLarge means an entry exceeds the size limit.
	ErrEntryTooLarge = fmt.Errorf("entry is larger than %d bytes", tiles.MaxEntrySize)
	// ErrFenced means a fence of the entries tripped (see Fence): they
	// were not sequenced, and should be judged again.
	ErrFenced = errors.New("what the entries were judged by changed while they were submitted (a revocation or handover logged through another frontend); submit them again")
	// ErrEmptyEntry means an entry of no bytes: no log entry is empty,
	// and Trillian refuses an empty leaf.
	ErrEmptyEntry = errors.New("entry is empty")
)

// A RangeError reports a proof asked for beyond what the published
// checkpoint covers, or for an inverted range. It holds what was asked.
type RangeError struct {
	// Proof is "inclusion" or "consistency".
	Proof string
	// From is the entry index (inclusion) or the smaller tree size
	// (consistency); To is the tree size the proof is for.
	From, To uint64
	// Published is the size of the published checkpoint when asked.
	Published uint64
}

func (e *RangeError) Error() string {
	switch {
	case e.To > e.Published:
		return fmt.Sprintf("tree size %d is larger than the published checkpoint's %d", e.To, e.Published)
	case e.Proof == "inclusion":
		return fmt.Sprintf("index %d is not below tree size %d", e.From, e.To)
	case e.From > e.To:
		return fmt.Sprintf("from size %d is larger than to size %d", e.From, e.To)
	}
	return "there is no consistency proof from the empty tree"
}

// A StateError is New's refusal to start on stored state that does not hold
// together: a tree whose tiles do not hash to its stored root, or a stored
// checkpoint that does not verify with the log's key, is beyond the tree, or
// disagrees with it. The storage was altered, damaged or lost data; fwlog
// fsck says more.
type StateError struct {
	// What is "tree state", "checkpoint" or "witnessed checkpoint".
	What string
	// Size is the tree size at issue; Stored the root hash the state or
	// checkpoint holds, and Recomputed the one its tiles give (nil when
	// the check did not get that far).
	Size               uint64
	Stored, Recomputed []byte
	// Err is why a stored checkpoint does not verify, if that is the fault.
	Err error
	msg string
}

func (e *StateError) Error() string { return e.msg }
func (e *StateError) Unwrap() error { return e.Err }

// Config configures a Log.
type Config struct {
	// Signer signs checkpoints. Its name is the log's origin.
	Signer note.Signer
	// Verifier is the verifier for Signer; its key is the log's identity.
	Verifier note.Verifier
	// VerifierKey is the encoded verifier key (vkey) of Signer.
	VerifierKey string
	// Storage holds the log's durable state.
	Storage Storage
	// Witnesser, when set, gets each signed checkpoint cosigned by a
	// quorum of witnesses; the log publishes only cosigned checkpoints.
	Witnesser Witnesser
	// WitnessTimeout bounds one round of cosigning (default 5s); a failed
	// round is retried every second.
	WitnessTimeout time.Duration
	// WitnessRefresh is how often an unchanged checkpoint is cosigned
	// again, so that its cosignatures' timestamps stay fresh for devices
	// that refuse stale ones (default 1m).
	WitnessRefresh time.Duration
	// WitnessFailOpen publishes a checkpoint without its quorum when a
	// round fails. It defeats the witnesses' protection: development only.
	WitnessFailOpen bool

	// IntegrateInterval is the least time between integrations (default
	// 50ms: acknowledgement to checkpoint p99 about 110 ms under load, at
	// no measurable cost in CPU; see docs/BENCHMARKS.md). Integration also
	// runs soon after each sequenced batch.
	IntegrateInterval time.Duration
	// IntegrateBatch is the most entries integrated at once (default 8192).
	IntegrateBatch int
	// SequenceBatch is the most entries sequenced in one write (default 1024).
	SequenceBatch int
	// QueueSize bounds the submissions waiting to be sequenced (default
	// 16384); beyond it Add returns ErrPushback.
	QueueSize int
	// TileCacheSize is the number of tiles cached for serving (8 KiB each)
	// and, separately, expanded for proofs (16 KiB each); default 4096.
	TileCacheSize int
	// BundleCacheSize is the number of gzipped full entry bundles cached
	// for serving (default 256).
	BundleCacheSize int

	// Extensions, when set, returns the extension lines (C2SP
	// tlog-checkpoint) of the checkpoint the log signs for the tree of the
	// given size, which is integrated. It must return the same lines for
	// the same tree: the log never signs two checkpoints of one size. An
	// error fails the integration round, which is retried.
	Extensions func(ctx context.Context, lg *Log, size uint64) ([]string, error)

	// LeaseTTL is how long the publisher lease of a SharedStorage lasts
	// unless renewed (default 10s). The publisher renews it every
	// quarter of it; after a publisher dies, another frontend takes over
	// within LeaseTTL.
	LeaseTTL time.Duration

	// Logger receives structured logs (default slog.Default()).
	Logger *slog.Logger
	// Registerer receives the log's metrics (default: not registered).
	Registerer prometheus.Registerer
}

// followInterval is how often a frontend that does not publish reads the
// stored checkpoints, and tries to take the publisher lease.
const followInterval = 250 * time.Millisecond

// A Witnesser gets a signed checkpoint of the given size cosigned by a
// quorum of witnesses, and returns it with the cosignatures; proofs returns
// the consistency proof from a smaller size to size. Package witness's
// Collector is one.
type Witnesser interface {
	Cosign(ctx context.Context, checkpoint []byte, size uint64, proofs func(ctx context.Context, from uint64) ([][]byte, error)) ([]byte, error)
}

// Published is a signed checkpoint the log published, and its tree size.
// Its Note is nil before the first checkpoint is published.
type Published struct {
	Size uint64
	Note []byte
}

// A Log is a running transparency log.
type Log struct {
	cfg    Config
	origin string
	store  Storage
	tiles  *tiles.Reader
	// expanded caches tiles expanded for proofs, at their widest version
	// read; expandMu serializes the fills of partial tiles.
	expanded *lru.Cache[tiles.ID, *tiles.Expanded]
	expandMu sync.Mutex
	// rawTiles caches stored tiles by ID at their widest version read; a
	// narrower version is a prefix.
	rawTiles *lru.Cache[tiles.ID, []byte]
	// gzBundles caches gzipped full entry bundles, which never change.
	gzBundles *lru.Cache[uint64, []byte]
	logger    *slog.Logger
	metrics   *metrics
	// integrated is the integrated tree size: entries below it are
	// checked against the tree when read.
	integrated atomic.Uint64

	// seq writes groups of leaves, each group all or none, in one storage
	// write (group commit).
	seq  *groupcommit.Queue[[]Leaf, []Sequenced]
	kick chan struct{}

	// latest is the published checkpoint (note nil before the first one
	// with witnesses); signed the latest signed one.
	latest      atomic.Pointer[Published]
	signed      atomic.Pointer[Published]
	witnessKick chan struct{}
	witnessedAt time.Time // used by the witnessing goroutine only

	ackMu   sync.Mutex
	ackTime []ackMark // the end and time of each acknowledged batch, in order

	// shared is the storage when it is a SharedStorage: then this Log
	// integrates, signs and witnesses only while leading (it holds the
	// publisher lease), and otherwise follows the stored checkpoints.
	shared  SharedStorage
	leading atomic.Bool
	leaseAt time.Time // the last attempt to take or renew the lease (Run's goroutine only)
}

type ackMark struct {
	end uint64 // index after the batch
	at  time.Time
}

// New opens a log over cfg.Storage after the start-up checks in the package
// documentation. Call Run to start sequencing and integration.
func New(ctx context.Context, cfg Config) (*Log, error) {
	if cfg.Signer == nil || cfg.Verifier == nil || cfg.Storage == nil {
		return nil, errors.New("log: Signer, Verifier and Storage are required")
	}
	if cfg.Signer.Name() != cfg.Verifier.Name() || cfg.Signer.KeyHash() != cfg.Verifier.KeyHash() {
		return nil, errors.New("log: Signer and Verifier are for different keys")
	}
	if cfg.IntegrateInterval <= 0 {
		cfg.IntegrateInterval = 50 * time.Millisecond
	}
	if cfg.IntegrateBatch <= 0 {
		cfg.IntegrateBatch = 8192
	}
	if cfg.SequenceBatch <= 0 {
		cfg.SequenceBatch = 1024
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 16384
	}
	if cfg.TileCacheSize <= 0 {
		cfg.TileCacheSize = 4096
	}
	if cfg.BundleCacheSize <= 0 {
		cfg.BundleCacheSize = 256
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.WitnessTimeout <= 0 {
		cfg.WitnessTimeout = 5 * time.Second
	}
	if cfg.WitnessRefresh <= 0 {
		cfg.WitnessRefresh = time.Minute
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 10 * time.Second
	}
	l := &Log{
		cfg:     cfg,
		origin:  cfg.Signer.Name(),
		store:   cfg.Storage,
		logger:  cfg.Logger,
		metrics: newMetrics(cfg.Registerer),
		kick:    make(chan struct{}, 1),

		witnessKick: make(chan struct{}, 1),
	}
	l.seq = groupcommit.New(cfg.QueueSize, cfg.SequenceBatch, l.sequence)
	l.latest.Store(&Published{})
	l.expanded, _ = lru.New[tiles.ID, *tiles.Expanded](max(cfg.TileCacheSize, 16))
	l.tiles = tiles.NewReader(l.expandedTile)
	l.rawTiles, _ = lru.New[tiles.ID, []byte](cfg.TileCacheSize)
	l.gzBundles, _ = lru.New[uint64, []byte](cfg.BundleCacheSize)
	if err := l.store.BindIdentity(ctx, cfg.VerifierKey); err != nil {
		return nil, err
	}
	l.shared, _ = cfg.Storage.(SharedStorage)
	sign := true
	if l.shared != nil {
		// A frontend of a shared storage signs only while it holds the
		// lease; it tries for it once now, and then in Run.
		l.leaseAt = time.Now()
		held, err := l.shared.Lease(ctx, cfg.LeaseTTL)
		if err != nil {
			return nil, fmt.Errorf("couldn't read the publisher lease: %w", err)
		}
		sign = held
		l.setLeading(held)
	}
	if err := l.recover(ctx, sign); err != nil {
		if l.leading.Load() {
			l.shared.Release(context.WithoutCancel(ctx))
		}
		return nil, err
	}
	return l, nil
}

// isCheckpointOf reports whether signed is a signed note whose text is text.
func isCheckpointOf(signed, text []byte) bool {
	return len(signed) > len(text) && bytes.HasPrefix(signed, text) && signed[len(text)] == '\n'
}

// expandedTile returns tile id expanded, at least width hashes wide: from
// the cache, or read from the storage and cached if wider than the cached
// version.
func (l *Log) expandedTile(ctx context.Context, id tiles.ID, width int) (*tiles.Expanded, error) {
	if e, ok := l.expanded.Get(id); ok && e.Width() >= width {
		return e, nil
	}
	data, err := l.store.ReadTile(ctx, id.Level, id.Index)
	if err != nil {
		return nil, err
	}
	e, err := tiles.Expand(data)
	if err != nil {
		return nil, err
	}
	l.expandMu.Lock()
	if old, ok := l.expanded.Peek(id); !ok || old.Width() < e.Width() {
		l.expanded.Add(id, e)
	}
	l.expandMu.Unlock()
	return e, nil
}

// recover checks the stored checkpoint against the stored tree and publishes
// it, and, if sign is set, signs a new one if the tree has grown past it.
func (l *Log) recover(ctx context.Context, sign bool) error {
	witnessed, raw, tree, err := l.readStored(ctx)
	if err != nil {
		return err
	}
	// The stored root must be the root of the stored tiles.
	root, err := l.tiles.Root(ctx, tree.Size)
	if err != nil {
		return fmt.Errorf("couldn't recompute the root of %d entries from the stored tiles: %w", tree.Size, err)
	}
	if !bytes.Equal(root, tree.Root) {
		return &StateError{What: "tree state", Size: tree.Size, Stored: tree.Root, Recomputed: root,
			msg: fmt.Sprintf("stored tree state is corrupt: the tiles of %d entries hash to %x, the state says %x", tree.Size, root, tree.Root)}
	}
	l.integrated.Store(tree.Size)
	// Entries not yet in full entry bundles are rows of their own: check
	// those integrated against the tree (the others are checked against
	// their sequenced leaf hashes when integrated).
	for i := tree.Size / tiles.Width * tiles.Width; i < tree.Size; i++ {
		data, err := l.store.ReadEntry(ctx, i)
		if err != nil {
			return fmt.Errorf("couldn't read entry %d: %w", i, err)
		}
		if err := l.checkLeaf(ctx, i, data); err != nil {
			return fmt.Errorf("refusing to start: %w", err)
		}
	}
	if raw != nil {
		cp, err := l.checkStored(ctx, "checkpoint", raw, tree.Size)
		if err != nil {
			return err
		}
		l.signed.Store(&Published{Size: cp.Size, Note: raw})
		if l.cfg.Witnesser == nil {
			l.setPublished(&Published{Size: cp.Size, Note: raw})
		} else if err := l.recoverWitnessed(ctx, witnessed, cp.Size); err != nil {
			return err
		}
		if cp.Size == tree.Size {
			return nil
		}
	}
	if !sign {
		return nil
	}
	return l.publish(ctx, tree)
}

// readStored reads the stored witnessed checkpoint (with a Witnesser), the
// signed one, and the tree, in that order: each is at most the next, and
// with a shared storage the publisher may advance them between the reads.
func (l *Log) readStored(ctx context.Context) (witnessed, signed []byte, tree Tree, err error) {
	if l.cfg.Witnesser != nil {
		if witnessed, err = l.store.Witnessed(ctx); err != nil {
			return nil, nil, Tree{}, fmt.Errorf("couldn't read the stored witnessed checkpoint: %w", err)
		}
	}
	if signed, err = l.store.Checkpoint(ctx); err != nil {
		return nil, nil, Tree{}, fmt.Errorf("couldn't read the stored checkpoint: %w", err)
	}
	if tree, _, err = l.store.Tree(ctx); err != nil {
		return nil, nil, Tree{}, fmt.Errorf("couldn't read the tree state: %w", err)
	}
	return witnessed, signed, tree, nil
}

// checkStored checks a stored checkpoint (what names it in errors): it
// verifies with the log's key and origin, is for at most max entries, and
// its root is the root of the stored tiles at its size.
func (l *Log) checkStored(ctx context.Context, what string, raw []byte, max uint64) (*flog.Checkpoint, error) {
	cp, _, _, err := flog.ParseCheckpoint(raw, l.origin, l.cfg.Verifier)
	if err != nil {
		return nil, &StateError{What: what, Err: err,
			msg: fmt.Sprintf("the stored %s does not verify with this log's key and origin %q (did the key or origin change?): %v", what, l.origin, err)}
	}
	if cp.Size > max {
		return nil, &StateError{What: what, Size: cp.Size, Stored: cp.Hash,
			msg: fmt.Sprintf("the stored %s is for %d entries but only %d are there: storage lost data", what, cp.Size, max)}
	}
	root, err := l.tiles.Root(ctx, cp.Size)
	if err != nil {
		return nil, fmt.Errorf("couldn't recompute the root at the size of the stored %s, %d: %w", what, cp.Size, err)
	}
	if !bytes.Equal(root, cp.Hash) {
		return nil, &StateError{What: what, Size: cp.Size, Stored: cp.Hash, Recomputed: root,
			msg: fmt.Sprintf("the stored tree disagrees with the stored %s: at size %d the tiles hash to %x, the %s says %x", what, cp.Size, root, what, cp.Hash)}
	}
	return cp, nil
}

// recoverWitnessed publishes the stored witnessed checkpoint, after
// checking it against the log's key and the stored tree.
func (l *Log) recoverWitnessed(ctx context.Context, raw []byte, signedSize uint64) error {
	if raw == nil {
		return nil
	}
	cp, err := l.checkStored(ctx, "witnessed checkpoint", raw, signedSize)
	if err != nil {
		return err
	}
	l.latest.Store(&Published{Size: cp.Size, Note: raw})
	l.metrics.checkpointSize.Set(float64(cp.Size))
	return nil
}

// publish signs and stores a checkpoint for tree and makes it the latest.
func (l *Log) publish(ctx context.Context, tree Tree) error {
	text := flog.Checkpoint{Origin: l.origin, Size: tree.Size, Hash: tree.Root}.Marshal()
	if l.cfg.Extensions != nil {
		lines, err := l.cfg.Extensions(ctx, l, tree.Size)
		if err != nil {
			return fmt.Errorf("couldn't make the checkpoint's extension lines: %w", err)
		}
		for _, line := range lines {
			if line == "" || strings.ContainsAny(line, "\n\r") || !utf8.ValidString(line) {
				return fmt.Errorf("invalid checkpoint extension line %q", line)
			}
			text = append(append(text, line...), '\n')
		}
	}
	signed, err := note.Sign(&note.Note{Text: string(text)}, l.cfg.Signer)
	if err != nil {
		return fmt.Errorf("couldn't sign the checkpoint: %w", err)
	}
	if err := l.store.SetCheckpoint(ctx, tree.Size, signed); err != nil {
		// A write that reported an error may still have been made (an
		// error after the commit, a failed sync): if the stored
		// checkpoint is the one for this tree, it was, and it is the one
		// to publish. Otherwise the log would retry a write the storage
		// refuses (it holds this size) until the tree grows.
		stored, rerr := l.store.Checkpoint(ctx)
		if rerr != nil || !isCheckpointOf(stored, text) {
			return fmt.Errorf("couldn't store the checkpoint: %w", err)
		}
		l.logger.Warn("the storage reported a failed checkpoint write that was made", "size", tree.Size, "err", err)
		signed = stored
	}
	p := &Published{Size: tree.Size, Note: signed}
	l.signed.Store(p)
	l.metrics.signedSize.Set(float64(tree.Size))
	l.logger.Debug("signed checkpoint", "size", tree.Size, "root", hex.EncodeToString(tree.Root))
	if l.cfg.Witnesser == nil {
		l.setPublished(p)
		return nil
	}
	select {
	case l.witnessKick <- struct{}{}:
	default:
	}
	return nil
}

// setPublished makes p the published checkpoint.
func (l *Log) setPublished(p *Published) {
	l.latest.Store(p)
	l.metrics.checkpointSize.Set(float64(p.Size))
	l.observeIntegrated(p.Size)
}

// witnessLoop gets checkpoints cosigned until ctx is done: each newly
// signed one, a failed one again every second, and an unchanged one every
// WitnessRefresh.
func (l *Log) witnessLoop(ctx context.Context) {
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.witnessKick:
		case <-ticker.C:
		}
		l.witness(ctx)
	}
}

// witness gets the latest signed checkpoint cosigned, if it is newer than
// the published one or the published one's cosignatures are due for a
// refresh, and publishes it.
func (l *Log) witness(ctx context.Context) {
	if l.shared != nil && !l.leading.Load() {
		return
	}
	s, p := l.signed.Load(), l.latest.Load()
	if s == nil || (p.Note != nil && s.Size == p.Size && time.Since(l.witnessedAt) < l.cfg.WitnessRefresh) {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, l.cfg.WitnessTimeout)
	defer cancel()
	cosigned, err := l.cfg.Witnesser.Cosign(rctx, s.Note, s.Size, func(ctx context.Context, from uint64) ([][]byte, error) {
		return l.tiles.ConsistencyProof(ctx, from, s.Size)
	})
	if err != nil {
		l.metrics.witnessFailures.Inc()
		if !l.cfg.WitnessFailOpen {
			l.logger.Warn("checkpoint not published: no witness quorum yet", "size", s.Size, "err", err)
			return
		}
		l.logger.Warn("publishing a checkpoint without its witness quorum (fail-open is for development only)", "size", s.Size, "err", err)
	}
	if err := l.store.SetWitnessed(ctx, s.Size, cosigned); err != nil {
		if errors.Is(err, ErrNotPublisher) {
			l.leading.Store(false)
		}
		l.logger.Error("couldn't store the witnessed checkpoint", "size", s.Size, "err", err)
		return
	}
	l.witnessedAt = time.Now()
	l.setPublished(&Published{Size: s.Size, Note: cosigned})
	l.logger.Debug("published witnessed checkpoint", "size", s.Size)
}

// observeIntegrated records, for each acknowledged batch now covered by a
// checkpoint, the time from acknowledgement to the checkpoint.
func (l *Log) observeIntegrated(size uint64) {
	now := time.Now()
	l.ackMu.Lock()
	defer l.ackMu.Unlock()
	i := 0
	for ; i < len(l.ackTime) && l.ackTime[i].end <= size; i++ {
		l.metrics.integrationDelay.Observe(now.Sub(l.ackTime[i].at).Seconds())
	}
	l.ackTime = l.ackTime[i:]
}

// Run sequences and integrates until ctx is done. Then it refuses new
// submissions, sequences those already queued, integrates everything and
// signs a final checkpoint before returning.
func (l *Log) Run(ctx context.Context) error {
	go l.seq.Run()
	witDone := make(chan struct{})
	if l.cfg.Witnesser != nil {
		go func() { l.witnessLoop(ctx); close(witDone) }()
	} else {
		close(witDone)
	}

	// Integrate soon after each sequenced batch, at most once per interval;
	// the ticker is a fallback.
	ticker := time.NewTicker(l.cfg.IntegrateInterval)
	defer ticker.Stop()
	for running := true; running; {
		select {
		case <-ctx.Done():
			running = false
			continue
		case <-l.kick:
		case <-ticker.C:
		}
		start := time.Now()
		if l.shared != nil && !l.lead(context.WithoutCancel(ctx)) {
			if err := l.follow(context.WithoutCancel(ctx)); err != nil {
				l.CountStorageError(WrapStorageError("read the stored checkpoints", err))
				l.logger.Error("couldn't follow the published checkpoints; retrying", "err", err)
			}
		} else if err := l.integrate(context.WithoutCancel(ctx)); err != nil {
			if errors.Is(err, ErrNotPublisher) {
				l.setLeading(false)
			}
			l.CountStorageError(WrapStorageError("integrate", err))
			l.logger.Error("integration failed; retrying", "err", err)
		}
		if wait := l.cfg.IntegrateInterval - time.Since(start); wait > 0 {
			select {
			case <-ctx.Done():
				running = false
			case <-time.After(wait):
			}
		}
	}

	// Shut down: stop taking submissions, write those queued, then
	// integrate everything. A frontend that does not publish leaves the
	// entries it sequenced to the publisher.
	l.seq.Close()
	if l.shared != nil && !l.leading.Load() {
		<-witDone
		return nil
	}
	if err := l.integrate(context.Background()); errors.Is(err, ErrNotPublisher) {
		// The lease passed to another frontend (this one paused past it):
		// that one integrates what this one sequenced.
		l.logger.Info("stopping without a final integration: another frontend holds the publisher lease", "err", err)
		l.setLeading(false)
		<-witDone
		return nil
	} else if err != nil {
		return fmt.Errorf("final integration: %w", err)
	}
	// A last round of witnessing for the final checkpoint; what is not
	// witnessed now is at the next start.
	<-witDone
	if l.cfg.Witnesser != nil {
		l.witness(context.Background())
	}
	if l.shared != nil {
		if err := l.shared.Release(context.Background()); err != nil {
			l.logger.Warn("couldn't release the publisher lease; another frontend takes it when it expires", "err", err)
		}
		l.setLeading(false)
	}
	return nil
}

// lead takes or renews the publisher lease when due, and reports whether
// this Log publishes. On taking the lease it first loads, and checks, what
// the previous publisher stored.
func (l *Log) lead(ctx context.Context) bool {
	since := time.Since(l.leaseAt)
	if l.leading.Load() && since < l.cfg.LeaseTTL/4 {
		return true
	}
	if !l.leading.Load() && since < followInterval {
		return false
	}
	l.leaseAt = time.Now()
	held, err := l.shared.Lease(ctx, l.cfg.LeaseTTL)
	if err != nil {
		l.CountStorageError(WrapStorageError("take the publisher lease", err))
		l.logger.Error("couldn't take or renew the publisher lease", "err", err)
		held = false
	}
	if held && !l.leading.Load() {
		if err := l.recover(ctx, true); err != nil {
			l.logger.Error("took the publisher lease but refuse to publish on the stored state", "err", err)
			if err := l.shared.Release(ctx); err != nil {
				l.logger.Warn("couldn't release the publisher lease", "err", err)
			}
			held = false
		} else {
			l.logger.Info("publishing: this frontend holds the publisher lease", "signed", l.SignedSize())
		}
	}
	l.setLeading(held)
	return held
}

func (l *Log) setLeading(v bool) {
	if l.leading.Swap(v) != v && !v {
		l.logger.Info("following: another frontend publishes")
	}
	if v {
		l.metrics.publisher.Set(1)
	} else {
		l.metrics.publisher.Set(0)
	}
}

// Shared reports whether the storage is a SharedStorage: other frontends
// log entries too, which this Log learns of only by reading the storage.
func (l *Log) Shared() bool { return l.shared != nil }

// Publishing reports whether this Log integrates and signs: always for a
// storage of its own, and for a SharedStorage while it holds the lease.
func (l *Log) Publishing() bool { return l.shared == nil || l.leading.Load() }

// follow reads the checkpoints the publisher stored, checks them as the
// start-up checks do (the log's key, and the root of the stored tiles at
// their size), and publishes them.
func (l *Log) follow(ctx context.Context) error {
	witnessed, raw, tree, err := l.readStored(ctx)
	if err != nil {
		return err
	}
	if tree.Size > l.integrated.Load() {
		l.integrated.Store(tree.Size)
		l.metrics.treeSize.Set(float64(tree.Size))
	}
	if s := l.signed.Load(); raw != nil && (s == nil || !bytes.Equal(s.Note, raw)) {
		cp, err := l.checkStored(ctx, "checkpoint", raw, tree.Size)
		if err != nil {
			return err
		}
		if s == nil || cp.Size > s.Size {
			l.signed.Store(&Published{Size: cp.Size, Note: raw})
			l.metrics.signedSize.Set(float64(cp.Size))
		}
	}
	s := l.signed.Load()
	if s == nil {
		return nil
	}
	if l.cfg.Witnesser == nil {
		if s.Size > l.size() {
			l.setPublished(s)
		}
		return nil
	}
	if witnessed == nil || bytes.Equal(witnessed, l.latest.Load().Note) {
		return nil
	}
	cp, err := l.checkStored(ctx, "witnessed checkpoint", witnessed, s.Size)
	if err != nil {
		return err
	}
	if cp.Size >= l.size() {
		l.setPublished(&Published{Size: cp.Size, Note: witnessed})
	}
	return nil
}

// integrate integrates what was sequenced when it was called, in batches,
// and publishes a checkpoint after each batch. Entries sequenced meanwhile
// wait for the next call, so that a steady stream cannot keep it running.
func (l *Log) integrate(ctx context.Context) error {
	_, target, err := l.store.Tree(ctx)
	if err != nil {
		return err
	}
	for {
		start := time.Now()
		tree, err := l.store.Integrate(ctx, l.cfg.IntegrateBatch)
		if err != nil {
			return err
		}
		l.metrics.integrateSeconds.Observe(time.Since(start).Seconds())
		l.metrics.treeSize.Set(float64(tree.Size))
		l.integrated.Store(tree.Size)
		if p := l.signed.Load(); p == nil || tree.Size > p.Size {
			if err := l.publish(ctx, tree); err != nil {
				return err
			}
		}
		if tree.Size >= target {
			return nil
		}
	}
}

// sequencer writes queued submissions in batches until ctx is done and the
// queue is empty. A failed write fails that batch's submissions only.
// sequence writes a group of Sequence calls' leaves in one storage write,
// and answers each call.
func (l *Log) sequence(batch [][]Leaf) []groupcommit.Result[[]Sequenced] {
	out := make([]groupcommit.Result[[]Sequenced], len(batch))
	var leaves []Leaf
	for _, p := range batch {
		leaves = append(leaves, p...)
	}
	start := time.Now()
	res, err := l.store.Sequence(context.Background(), leaves)
	l.metrics.sequenceSeconds.Observe(time.Since(start).Seconds())
	l.metrics.sequenceBatch.Observe(float64(len(leaves)))
	if err != nil {
		l.logger.Error("sequencing failed", "entries", len(leaves), "err", err)
		err = WrapStorageError("store the entries", err)
		for i := range out {
			out[i].Err = err
		}
		return out
	}
	var end uint64
	for _, r := range res {
		if !r.Dup && !r.Fenced {
			end = max(end, r.Index+1)
		}
	}
	for i, p := range batch {
		out[i].Value = res[:len(p)]
		res = res[len(p):]
		for _, r := range out[i].Value {
			if r.Fenced {
				out[i] = groupcommit.Result[[]Sequenced]{Err: ErrFenced}
				break
			}
		}
	}
	if end > 0 {
		l.ackMu.Lock()
		l.ackTime = append(l.ackTime, ackMark{end: end, at: time.Now()})
		l.ackMu.Unlock()
	}
	select {
	case l.kick <- struct{}{}:
	default:
	}
	return out
}

// Sequence queues a group of leaves for the sequencer, which writes them
// in one storage write (all or none), and returns their indices once that
// write is durable. A leaf already logged, or judged a duplicate by its
// Dedup, gets the earlier index (see Storage.Sequence).
//
// done, if not nil, is called once the leaves are sequenced or refused,
// even if ctx ends first (then in the background): a caller that must not
// let a second group race this one waits for it. Sequence returns
// ErrPushback when the queue is full, and ErrStopped once Run is ending.
func (l *Log) Sequence(ctx context.Context, leaves []Leaf, done func()) ([]Sequenced, error) {
	if done == nil {
		done = func() {}
	}
	for i := range leaves {
		if len(leaves[i].Data) > tiles.MaxEntrySize {
			done()
			return nil, ErrEntryTooLarge
		}
		if len(leaves[i].Data) == 0 {
			done()
			return nil, ErrEmptyEntry
		}
		if leaves[i].Hash == nil {
			leaves[i].Hash = tiles.LeafHash(leaves[i].Data)
		}
	}
	res, err := l.seq.TryEnqueue(leaves)
	switch {
	case errors.Is(err, groupcommit.ErrFull):
		done()
		return nil, ErrPushback
	case err != nil:
		done()
		return nil, ErrStopped
	}
	select {
	case r := <-res:
		done()
		return r.Value, r.Err
	case <-ctx.Done():
		// The entries may still be sequenced; a retry finds them as
		// duplicates.
		go func() { <-res; done() }()
		return nil, ctx.Err()
	}
}

// Origin returns the log's origin.
func (l *Log) Origin() string { return l.origin }

// VerifierKey returns the log's verifier key.
func (l *Log) VerifierKey() string { return l.cfg.VerifierKey }

// Checkpoint returns the latest published signed checkpoint and its size.
func (l *Log) Checkpoint() ([]byte, uint64) {
	p := l.latest.Load()
	return p.Note, p.Size
}

func (l *Log) size() uint64 { return l.latest.Load().Size }

// Published returns the published checkpoint.
func (l *Log) Published() Published { return *l.latest.Load() }

// Growth returns the log's size by the hour from since on (see
// GrowthStorage), or nil if its storage does not keep it.
func (l *Log) Growth(ctx context.Context, since time.Time) ([]GrowthSample, error) {
	g, ok := l.store.(GrowthStorage)
	if !ok {
		return nil, nil
	}
	out, err := g.Growth(ctx, since)
	return out, WrapStorageError("read the log's growth", err)
}

// Integrated returns the size of the integrated tree: entries below it are
// in the tiles, and are checked against them when read.
func (l *Log) Integrated() uint64 { return l.integrated.Load() }

// ReadEntry returns the sequenced entry at index, published or not. An
// integrated entry is returned only if its bytes hash to its leaf hash in
// the tree; one that does not is a *CorruptError.
func (l *Log) ReadEntry(ctx context.Context, index uint64) ([]byte, error) {
	return l.readEntry(ctx, index)
}

// Lookup returns the indices of up to limit sequenced entries with the
// given lookup key, in increasing order, after index after (-1 for the
// start).
func (l *Log) Lookup(ctx context.Context, key []byte, after int64, limit int) ([]uint64, error) {
	idx, err := l.store.Lookup(ctx, key, after, limit)
	return idx, WrapStorageError("look up entries", err)
}

// LookupBefore returns the indices of up to limit sequenced entries with
// the given lookup key, in decreasing order, below index before.
func (l *Log) LookupBefore(ctx context.Context, key []byte, before uint64, limit int) ([]uint64, error) {
	idx, err := l.store.LookupBefore(ctx, key, before, limit)
	return idx, WrapStorageError("look up entries", err)
}

// IndexVersion returns the version of the lookup keys (see
// Storage.IndexVersion).
func (l *Log) IndexVersion(ctx context.Context) (int, error) {
	v, err := l.store.IndexVersion(ctx)
	return v, WrapStorageError("read the lookup index version", err)
}

// Reindex replaces the lookup keys of every sequenced entry with those
// keysOf gives, and records version (see Storage.Reindex). It must be
// called before Run.
func (l *Log) Reindex(ctx context.Context, version int, keysOf func(index uint64, entry []byte) ([][]byte, error), progress func(done, total uint64)) error {
	return WrapStorageError("rebuild the lookup index", l.store.Reindex(ctx, version, keysOf, progress))
}

// SignedSize returns the size of the latest signed checkpoint. With a
// Witnesser it may be ahead of the published one's (see Checkpoint).
func (l *Log) SignedSize() uint64 {
	if s := l.signed.Load(); s != nil {
		return s.Size
	}
	return 0
}

// Tile returns tile (level, index) at width (0 for the full tile), if the
// published checkpoint covers it.
func (l *Log) Tile(ctx context.Context, level, index uint64, width int) ([]byte, error) {
	if err := l.checkTile(level, index, width, "tile"); err != nil {
		return nil, err
	}
	w := width
	if w == 0 {
		w = tiles.Width
	}
	id := tiles.ID{Level: level, Index: index}
	data, ok := l.rawTiles.Get(id)
	if !ok || len(data) < w*tiles.HashSize {
		var err error
		if data, err = l.store.ReadTile(ctx, level, index); err != nil {
			return nil, WrapStorageError("read a tile", err)
		}
		l.rawTiles.Add(id, data)
	}
	if len(data) < w*tiles.HashSize {
		return nil, fmt.Errorf("stored tile %s is narrower than the checkpoint says", tiles.Path(level, index, width))
	}
	return data[:w*tiles.HashSize], nil
}

// GzipEntryBundle returns EntryBundle(ctx, index, width) gzipped. Full
// bundles never change, so theirs are cached.
func (l *Log) GzipEntryBundle(ctx context.Context, index uint64, width int) ([]byte, error) {
	full := width == 0 || width == tiles.Width
	if gz, ok := l.gzBundles.Get(index); ok && full {
		return gz, nil
	}
	data, err := l.EntryBundle(ctx, index, width)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Grow(len(data) / 2)
	if err := gzipTo(&b, data); err != nil {
		return nil, err
	}
	if full {
		l.gzBundles.Add(index, b.Bytes())
	}
	return b.Bytes(), nil
}

// gzipWriters holds gzip writers for reuse: a new one allocates its
// compressor's tables, which costs as much as compressing a bundle.
var gzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return zw
}}

// gzipTo writes data to w gzipped, at the fastest level: a full entry bundle
// is compressed once and cached, a partial one on every request.
func gzipTo(w io.Writer, data []byte) error {
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	zw.Reset(w)
	if _, err := zw.Write(data); err != nil {
		return err
	}
	return zw.Close()
}

// EntryBundle returns entry bundle index at width (0 for the full bundle),
// if the published checkpoint covers it, after checking every entry in it
// against the tree's leaf hashes.
func (l *Log) EntryBundle(ctx context.Context, index uint64, width int) ([]byte, error) {
	if err := l.checkTile(0, index, width, "entry bundle"); err != nil {
		return nil, err
	}
	data, err := l.store.ReadEntryBundle(ctx, index)
	if err != nil {
		return nil, WrapStorageError("read an entry bundle", err)
	}
	if width == 0 {
		width = tiles.Width
	}
	data, err = tiles.TruncateBundle(data, width)
	if err != nil {
		return nil, fmt.Errorf("stored entry bundle %d: %w", index, err)
	}
	entries, err := tiles.SplitBundle(data)
	if err != nil {
		return nil, fmt.Errorf("stored entry bundle %d: %w", index, err)
	}
	for j, e := range entries {
		if err := l.checkLeaf(ctx, index*tiles.Width+uint64(j), e); err != nil {
			return nil, err
		}
	}
	return data, nil
}

func (l *Log) checkTile(level, index uint64, width int, what string) error {
	if width == tiles.Width {
		width = 0 // the full tile
	}
	size := l.size()
	have := tiles.WidthAt(level, index, size)
	if have == 0 || (width == 0 && have < tiles.Width) {
		return NotFoundf("%s %s is not in the log of size %d", what, tiles.Path(level, index, width), size)
	}
	if width > have {
		return NotFoundf("%s %s is wider than the log of size %d", what, tiles.Path(level, index, width), size)
	}
	return nil
}

// Entry returns the entry at index, if the published checkpoint covers it,
// after checking its bytes against the tree's leaf hash.
func (l *Log) Entry(ctx context.Context, index uint64) ([]byte, error) {
	if size := l.size(); index >= size {
		return nil, NotFoundf("entry %d is not in the log of size %d", index, size)
	}
	return l.readEntry(ctx, index)
}

// CountStorageError counts a storage failure (a *StorageError) in the
// log's metrics: layers above count the failures they answer with it.
func (l *Log) CountStorageError(err error) {
	var se *StorageError
	if errors.As(err, &se) {
		l.metrics.storageErrors.WithLabelValues(se.Kind()).Inc()
	}
}

// InclusionProof returns the inclusion proof of entry index in the tree of
// the given size, which must be at most the published size.
func (l *Log) InclusionProof(ctx context.Context, index, size uint64) ([][]byte, error) {
	if cur := l.size(); size > cur || index >= size {
		return nil, &RangeError{Proof: "inclusion", From: index, To: size, Published: cur}
	}
	p, err := l.tiles.InclusionProof(ctx, index, size)
	return p, WrapStorageError("read the tiles of a proof", err)
}

// ConsistencyProof returns the consistency proof between trees of sizes
// from <= to, where to is at most the published size.
func (l *Log) ConsistencyProof(ctx context.Context, from, to uint64) ([][]byte, error) {
	if cur := l.size(); to > cur || from > to || from == 0 {
		return nil, &RangeError{Proof: "consistency", From: from, To: to, Published: cur}
	}
	p, err := l.tiles.ConsistencyProof(ctx, from, to)
	return p, WrapStorageError("read the tiles of a proof", err)
}
