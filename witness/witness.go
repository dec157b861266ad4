// Package witness implements C2SP tlog-witness (https://c2sp.org/tlog-witness):
// a witness server that cosigns checkpoints of the logs it follows and
// refuses any rollback or fork, and the log-side Collector that gets a
// checkpoint cosigned by a quorum of witnesses under a C2SP tlog-policy.
//
// # Witness state
//
// For each log origin a witness keeps the latest checkpoint it cosigned
// (size, root hash and the cosigned note) in SQLite. An add-checkpoint
// request is checked against that state and, if it passes, the new state
// is stored durably before any cosignature is returned. Checking and
// storing happen under one lock per origin, so two racing requests cannot
// roll the state back (see the race in the specification); the store also
// refuses a smaller size on its own.
//
// # Errors
//
// [Witness.AddCheckpoint] returns the errors the protocol gives status
// codes to: [*BadRequestError] (400), [ErrBadSignature] (403),
// [ErrUnknownLog] (404), [*ConflictError] (409, text/x.tlog.size),
// [*ForkError] (409, same size and a different root), [ErrInconsistent]
// (422) and [ErrRateLimited] (429). [Client] maps the status codes back to
// the same errors, so a log can use a Witness in process or over HTTP.
package witness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/fwledger/fwledger/client"
	"github.com/prometheus/client_golang/prometheus"
	flog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/time/rate"
)

// Errors of AddCheckpoint that callers branch on.
var (
	// ErrUnknownLog means the checkpoint's origin is not a log the witness
	// follows.
	ErrUnknownLog = errors.New("unknown log origin")
	// ErrBadSignature means no signature on the checkpoint verifies with a
	// key the witness trusts for its origin, or one by such a key is
	// invalid.
	ErrBadSignature = errors.New("the checkpoint has no valid signature by the log's key")
	// ErrInconsistent means the consistency proof does not verify.
	ErrInconsistent = errors.New("the consistency proof does not verify")
	// ErrRateLimited means the log sent too many requests; retry later.
	ErrRateLimited = errors.New("too many requests for this log; retry later")
)

// A ConflictError means the request's old size is not the size of the
// latest checkpoint the witness cosigned for the log, which is Size.
type ConflictError struct{ Size uint64 }

func (e *ConflictError) Error() string {
	return fmt.Sprintf("old size does not match the latest cosigned checkpoint, of size %d", e.Size)
}

// A ForkError means the log signed a checkpoint of the size the witness
// already cosigned, with a different root hash: evidence of a fork, which
// the witness keeps.
type ForkError struct{ Size uint64 }

func (e *ForkError) Error() string {
	return fmt.Sprintf("the log signed another root hash for size %d, which this witness cosigned: a fork; the witness keeps both checkpoints as evidence", e.Size)
}

// A Cosigner gets checkpoints cosigned: a Witness in process, or a Client
// of one over HTTP.
type Cosigner interface {
	// AddCheckpoint returns the cosignature lines for the request's
	// checkpoint, or one of the errors in the package documentation.
	AddCheckpoint(ctx context.Context, req *AddCheckpointRequest) ([]byte, error)
}

// Config configures a Witness.
type Config struct {
	// Signers make the witness's cosignature/v1 cosignatures; each
	// cosigned checkpoint gets one line from each (several keys allow a
	// rotation). See keys.PrivateKey.CosignatureSigner.
	Signers []note.Signer
	// VerifierKeys are the signers' cosignature/v1 vkeys, shown on GET /.
	VerifierKeys []string
	// Logs are the logs the witness follows.
	Logs *LogList
	// Store keeps the witness's state.
	Store *Store
	// RateLimit is the most add-checkpoint requests per second accepted
	// for one log, with bursts of Burst; 0 means no limit.
	RateLimit float64
	Burst     int
	// Logger receives structured logs (default slog.Default()).
	Logger *slog.Logger
	// Registerer receives the witness's metrics (default: not registered).
	Registerer prometheus.Registerer
}

// A Witness cosigns checkpoints of the logs it follows.
type Witness struct {
	cfg     Config
	logger  *slog.Logger
	metrics *metrics

	mu       sync.Mutex // guards the maps
	locks    map[string]*sync.Mutex
	state    map[string]State
	limiters map[string]*rate.Limiter
}

// New returns a witness over cfg.Store, loading its state.
func New(ctx context.Context, cfg Config) (*Witness, error) {
	if len(cfg.Signers) == 0 || cfg.Logs == nil || cfg.Store == nil {
		return nil, errors.New("witness: Signers, Logs and Store are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Burst <= 0 {
		cfg.Burst = max(1, int(cfg.RateLimit))
	}
	state, err := cfg.Store.All(ctx)
	if err != nil {
		return nil, fmt.Errorf("couldn't read the witness state: %w", err)
	}
	w := &Witness{
		cfg:      cfg,
		logger:   cfg.Logger,
		metrics:  newMetrics(cfg.Registerer, cfg.Store),
		locks:    map[string]*sync.Mutex{},
		state:    state,
		limiters: map[string]*rate.Limiter{},
	}
	for origin, st := range state {
		w.metrics.size.WithLabelValues(origin).Set(float64(st.Size))
	}
	return w, nil
}

// lock returns origin's lock, and its rate limiter (nil for no limit).
func (w *Witness) lock(origin string) (*sync.Mutex, *rate.Limiter) {
	w.mu.Lock()
	defer w.mu.Unlock()
	m, ok := w.locks[origin]
	if !ok {
		m = new(sync.Mutex)
		w.locks[origin] = m
		if w.cfg.RateLimit > 0 {
			w.limiters[origin] = rate.NewLimiter(rate.Limit(w.cfg.RateLimit), w.cfg.Burst)
		}
	}
	return m, w.limiters[origin]
}

// AddCheckpoint implements C2SP tlog-witness add-checkpoint: it verifies
// the checkpoint's log signature, checks the old size against the latest
// cosigned checkpoint of the log, verifies the consistency proof (or, for
// the same size, that the root is the same), stores the checkpoint and
// returns this witness's cosignature lines.
func (w *Witness) AddCheckpoint(ctx context.Context, req *AddCheckpointRequest) (_ []byte, err error) {
	start := time.Now()
	origin := "unknown"
	defer func() { w.metrics.observe(origin, err, time.Since(start)) }()

	// A checkpoint that is not a well-formed signed note is a bad request,
	// whatever its first line: opened with no verifiers, a well-formed
	// note gives an *UnverifiedNoteError, a malformed one another error.
	var unverified *note.UnverifiedNoteError
	if _, err := note.Open(req.Checkpoint, note.VerifierList()); !errors.As(err, &unverified) {
		return nil, badRequest("checkpoint is not a signed note: %v", err)
	}
	first, _, _ := bytes.Cut(req.Checkpoint, []byte("\n"))
	verifiers := w.cfg.Logs.Verifiers(string(first))
	if len(verifiers) == 0 {
		// SPEC: If the checkpoint origin is unknown, the witness MUST
		// respond with a "404 Not Found" HTTP status code.
		return nil, fmt.Errorf("%w %q", ErrUnknownLog, truncate(first))
	}
	origin = string(first)
	n, err := note.Open(req.Checkpoint, note.VerifierList(verifiers...))
	if err != nil {
		// SPEC: If none of the signatures verify against a trusted public
		// key, the witness MUST respond with a "403 Forbidden" HTTP status
		// code.
		return nil, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	var cp flog.Checkpoint
	if _, err := cp.Unmarshal([]byte(n.Text)); err != nil {
		return nil, badRequest("invalid checkpoint: %v", err)
	}
	if len(cp.Hash) != rfc6962.DefaultHasher.Size() {
		return nil, badRequest("checkpoint root hash is %d bytes, want 32", len(cp.Hash))
	}
	if req.OldSize > cp.Size {
		return nil, badRequest("old size %d is larger than the checkpoint size %d", req.OldSize, cp.Size)
	}
	if cp.Size == 0 && !bytes.Equal(cp.Hash, rfc6962.DefaultHasher.EmptyRoot()) {
		return nil, fmt.Errorf("%w: a checkpoint of size 0 must have the empty tree's root", ErrInconsistent)
	}

	m, limiter := w.lock(origin)
	if limiter != nil && !limiter.Allow() {
		return nil, ErrRateLimited
	}
	m.Lock()
	defer m.Unlock()
	w.mu.Lock()
	st, known := w.state[origin]
	w.mu.Unlock()

	if req.OldSize != st.Size {
		return nil, &ConflictError{Size: st.Size}
	}
	switch {
	case known && cp.Size == st.Size:
		if !bytes.Equal(cp.Hash, st.Root) {
			w.keepFork(ctx, origin, st, req.Checkpoint)
			return nil, &ForkError{Size: cp.Size}
		}
		if len(req.Proof) != 0 {
			return nil, fmt.Errorf("%w: the proof between equal sizes must be empty", ErrInconsistent)
		}
	case st.Size == 0:
		if len(req.Proof) != 0 {
			return nil, fmt.Errorf("%w: the proof from size 0 must be empty", ErrInconsistent)
		}
	default:
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, st.Size, cp.Size, req.Proof, st.Root, cp.Hash); err != nil {
			w.logger.Warn("consistency proof does not verify", "origin", origin, "old", st.Size, "size", cp.Size, "err", err)
			return nil, fmt.Errorf("%w from size %d to %d: %v", ErrInconsistent, st.Size, cp.Size, err)
		}
	}

	full, lines, err := w.cosign(n)
	if err != nil {
		return nil, err
	}
	next := State{Size: cp.Size, Root: cp.Hash, Note: full}
	if err := w.cfg.Store.Set(ctx, origin, next, time.Now()); err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.state[origin] = next
	w.mu.Unlock()
	w.metrics.size.WithLabelValues(origin).Set(float64(cp.Size))
	return lines, nil
}

// cosign returns the checkpoint with the log's verified signatures and
// this witness's cosignatures, and the cosignature lines alone.
func (w *Witness) cosign(n *note.Note) (full, lines []byte, err error) {
	full, err = note.Sign(&note.Note{Text: n.Text, Sigs: n.Sigs}, w.cfg.Signers...)
	if err != nil {
		return nil, nil, fmt.Errorf("couldn't cosign: %w", err)
	}
	// The new signatures are the last lines.
	end := len(full)
	for range w.cfg.Signers {
		end = bytes.LastIndexByte(full[:end-1], '\n') + 1
	}
	return full, bytes.Clone(full[end:]), nil
}

func (w *Witness) keepFork(ctx context.Context, origin string, held State, offered []byte) {
	w.metrics.forks.WithLabelValues(origin).Inc()
	f := Fork{Origin: origin, Size: held.Size, Held: held.Note, Offered: offered, Seen: time.Now()}
	if err := w.cfg.Store.AddFork(ctx, f); err != nil {
		w.logger.Error("couldn't store the evidence of a fork", "origin", origin, "size", held.Size, "err", err)
		return
	}
	w.logger.Error("FORK: the log signed two root hashes for one size; both checkpoints are kept", "origin", origin, "size", held.Size,
		"held", string(held.Note), "offered", string(offered))
}

// Latest returns the latest checkpoint the witness cosigned for origin,
// with its cosignatures, or nil if none.
func (w *Witness) Latest(origin string) []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.state[origin].Note
}

// Forks returns the evidence of forks the witness was shown.
func (w *Witness) Forks(ctx context.Context) ([]Fork, error) { return w.cfg.Store.Forks(ctx) }

// A LogList is the logs a witness follows: origin and verifier keys.
type LogList struct {
	logs map[string][]note.Verifier
	keys []string
}

// ParseLogList parses a witness's log list: C2SP tlog-policy log lines
// ("log <vkey> [<url>]"), whose key name is the log's origin, with blank
// and comment ("#") lines, as client.ParsePolicyLogs does. Two keys for one
// origin are both accepted (a log key rotation).
func ParseLogList(data []byte) (*LogList, error) {
	logs, err := client.ParsePolicyLogs(data)
	if err != nil {
		return nil, err
	}
	l := &LogList{logs: map[string][]note.Verifier{}}
	for _, pl := range logs {
		l.keys = append(l.keys, pl.VKey)
		l.logs[pl.Verifier.Name()] = append(l.logs[pl.Verifier.Name()], pl.Verifier)
	}
	return l, nil
}

// Verifiers returns the verifiers of origin's log keys.
func (l *LogList) Verifiers(origin string) []note.Verifier { return l.logs[origin] }

// Keys returns the logs' verifier keys, in file order.
func (l *LogList) Keys() []string { return l.keys }
