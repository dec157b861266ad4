// Package witness implements C2SP tlog-witness (https://c2sp.org/tlog-witness):
// a witness server that cosigns checkpoints of the logs it follows and
// refuses any rollback or fork, and the log-side Collector that gets a
// checkpoint cosigned by a quorum of witnesses under a C2SP tlog-policy.
//
// # Witness state
//
// For each log origin a witness keeps the latest checkpoint it cosigned
// (size, root hash and the cosigned note) in SQLite. A request that
// advances that state (a larger checkpoint, with a valid consistency proof
// from the latest one) is stored durably before any cosignature is
// returned. The check of an advance and its write run in one
// [Store.Update], under one lock per origin, so two racing requests cannot
// roll the state back (see the race in the specification); the store also
// refuses a smaller size on its own.
//
// A request, here the log refreshing the cosignature of its latest
// checkpoint (old size and size equal, so no proof lines), and the answer,
// one cosignature line per witness key:
//
//	POST /add-checkpoint
//
//	old 5
//
//	example.com/testlog
//	5
//	dfUtKxiZ4Lsf5Wp+61yLx5SezdN0dls56EnaT1fDqjo=
//
//	— example.com/testlog 7JqKuhCF2GPPb/2qlNld5pd/hSUQY8OT1knSDv3uT74/8o2PJg0aVW+bcinh+q+HNrOL50X2rhK1iE7y09gnY3NB9gg=
//
//	200 OK
//
//	— witness-a.example.org 4hGpqQAAAABn...
//
// Nothing else costs a durable write. The latest checkpoint sent again
// with its own size as the old size (a log refreshing its cosignature's
// timestamp, or anyone replaying the log's public checkpoint) is cosigned
// again from a snapshot of the state, without the lock and without a
// write; the stored note keeps the first cosignature. Cosignatures made
// again are kept for the second they were made in and given again to the
// same checkpoint within that second: cosignature/v1 timestamps are in
// seconds and Ed25519 signatures are deterministic, so they are the lines
// a new signature would give, and a replay costs no signature.
// A 409 for a stale old size waits for an advance in progress, if any, so
// that it carries the newest size.
// A checkpoint whose exact bytes are the last ones verified for its log
// is not verified again.
//
// # Fork evidence
//
// With each new state, in the same transaction, the store adds the
// checkpoint to the log's history of the [HistorySize] newest it
// cosigned, which it also holds in memory (sizes and roots). A checkpoint
// signed by the log with the size of one in the history and another root
// is evidence of a fork, whatever the request's old size: both notes are
// stored ([Store.AddFork]) and listed at GET /forks, once per origin, size
// and offered root and at most [MaxForks] per origin. Every request signed
// by the log is checked, in memory; only new evidence reads the held note
// from the store and writes, so evidence is recorded whatever else the
// witness is asked. The request gets the answer the specification gives
// it.
//
// # One text per size
//
// Cosignature/v1 signs a checkpoint's extension lines too, though the
// specification lets a witness make no statement about them. This witness
// does: for the size of its latest cosigned checkpoint it cosigns only
// that checkpoint's text, and refuses the same root with other extension
// lines (409, a [*ForkError] with Lines set). An fwledger log commits to
// its revocations in an extension line, so a quorum of such witnesses
// keeps the log from showing one party a commitment that leaves a
// revocation out and another party the true one at the same size.
//
// # Budget
//
// Requests carry no authentication, so anyone can replay a log's
// checkpoints to its witnesses. Replays cost little: the checks every
// request gets (parsing, and the log signature, which a 403 costs too,
// unless the bytes are those verified last), comparisons in memory, and
// at most one signature per second for the latest checkpoint; never a
// write or a read of the store. Only the requests that advance a log's
// state cost a durable write, and only they are charged to a budget, a
// token bucket per log ([Config.RateLimit]): under the origin's lock, once
// the state is known to be still the one the proof was checked against.
// Only a checkpoint signed by the log and larger than the state can be
// charged there, so replays cannot spend it; and as nothing else has a
// budget, a flood of replays delays neither the log's new checkpoints nor
// its refreshes, and hides no fork.
//
// # Errors
//
// [Witness.AddCheckpoint] returns the errors the protocol gives status
// codes to: [*BadRequestError] (400), [ErrBadSignature] (403),
// [ErrUnknownLog] (404), [*ConflictError] (409, text/x.tlog.size),
// [*ForkError] (409, same size and a different root), [ErrInconsistent]
// (422) and [ErrRateLimited] (429, only for a request that would advance
// the state). [Client] maps the status codes back to
// the same errors, so a log can use a Witness in process or over HTTP.
package witness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fwledger/fwledger/tlogpolicy"
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
	// ErrRateLimited means the log sent too many checkpoints that advance
	// its state; retry later.
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
// the witness keeps, and which the error carries.
type ForkError struct {
	Size uint64
	// Held is the checkpoint of that size the witness cosigned, with its
	// cosignatures; Offered is the conflicting one, signed by the log,
	// exactly as sent.
	Held, Offered []byte
	// Lines is true when the two have one root hash and other extension
	// lines: the witness cosigns one checkpoint text per size, so that
	// the log cannot show other extension lines (an fwledger log's
	// revocation commitment) to other parties at one size.
	Lines bool
}

func (e *ForkError) Error() string {
	if e.Lines {
		return fmt.Sprintf("the log signed other extension lines for size %d, whose checkpoint this witness cosigned: it cosigns one checkpoint text per size", e.Size)
	}
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
	// RateLimit is the most add-checkpoint requests per second that
	// advance one log's state (a larger checkpoint with a valid proof),
	// with bursts of Burst; 0 means no limit. Other requests have no
	// budget (see the package documentation).
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

	mu   sync.Mutex // guards logs
	logs map[string]*logState
}

// A logState is what a witness keeps in memory for one log it follows,
// besides its State (which the Store keeps).
type logState struct {
	// advance is the log's budget (nil: no limit).
	advance *rate.Limiter
	// verified is the checkpoint whose log signature was verified last.
	verified atomic.Pointer[verifiedCheckpoint]
	// again is the latest checkpoint's cosignature made again last;
	// againMu is held to make one, so that one is made at a time.
	again   atomic.Pointer[cosignedAgain]
	againMu sync.Mutex
	// forkMu is held to keep the evidence of a fork, so that the held
	// note is read once for each new piece of evidence.
	forkMu sync.Mutex
}

// A cosignedAgain is the cosignature lines made for a checkpoint text
// again, and the second (Unix time) they were made in.
type cosignedAgain struct {
	text  string
	unix  int64
	lines []byte
}

// timeNow is the witness's clock (tests replace it).
var timeNow = time.Now

// A verifiedCheckpoint is a checkpoint, exactly as sent, whose note is
// well-formed and signed by the log, and whose text is a checkpoint.
type verifiedCheckpoint struct {
	raw []byte
	n   *note.Note
	cp  flog.Checkpoint
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
	w := &Witness{
		cfg:     cfg,
		logger:  cfg.Logger,
		metrics: newMetrics(cfg.Registerer, cfg.Store),
		logs:    map[string]*logState{},
	}
	for origin, st := range cfg.Store.All() {
		w.metrics.size.WithLabelValues(origin).Set(float64(st.Size))
	}
	return w, nil
}

// logState returns what the witness keeps for origin, or nil if origin is
// not a log it follows.
func (w *Witness) logState(origin string) *logState {
	w.mu.Lock()
	defer w.mu.Unlock()
	ls, ok := w.logs[origin]
	if ok {
		return ls
	}
	if len(w.cfg.Logs.Verifiers(origin)) == 0 {
		return nil
	}
	ls = &logState{}
	if w.cfg.RateLimit > 0 {
		ls.advance = rate.NewLimiter(rate.Limit(w.cfg.RateLimit), w.cfg.Burst)
	}
	w.logs[origin] = ls
	return ls
}

// allow charges one request to the budget l (nil: no limit).
func allow(l *rate.Limiter) error {
	if l != nil && !l.Allow() {
		return ErrRateLimited
	}
	return nil
}

// AddCheckpoint implements C2SP tlog-witness add-checkpoint: it verifies
// the checkpoint's log signature, checks the old size against the latest
// cosigned checkpoint of the log, verifies the consistency proof (or, for
// the same size, that the root is the same), stores the checkpoint if it
// is larger and returns this witness's cosignature lines.
func (w *Witness) AddCheckpoint(ctx context.Context, req *AddCheckpointRequest) (_ []byte, err error) {
	start := time.Now()
	origin := "unknown"
	defer func() { w.metrics.observe(origin, err, time.Since(start)) }()

	first, _, _ := bytes.Cut(req.Checkpoint, []byte("\n"))
	ls := w.logState(string(first))
	if ls != nil {
		origin = string(first)
	}
	v, err := w.open(ls, req.Checkpoint)
	if err != nil {
		return nil, err
	}
	cp := v.cp
	// SPEC: The old size MUST be equal to or lower than the checkpoint
	// size. Otherwise, the witness MUST respond with a "400 Bad Request"
	// HTTP status code.
	// The checkpoint may still be evidence of a fork.
	if req.OldSize > cp.Size {
		w.checkFork(origin, ls, v)
		return nil, badRequest("old size %d is larger than the checkpoint size %d", req.OldSize, cp.Size)
	}
	if cp.Size == 0 && !bytes.Equal(cp.Hash, rfc6962.DefaultHasher.EmptyRoot()) {
		return nil, fmt.Errorf("%w: a checkpoint of size 0 must have the empty tree's root", ErrInconsistent)
	}

	for waited := false; ; {
		// A request that would not advance the state is answered from a
		// snapshot of it, without the log's lock: replays of the latest
		// checkpoint never wait behind a write, nor make one.
		st, known := w.cfg.Store.Latest(origin)
		if req.OldSize != st.Size && !waited {
			// Wait for an Update in progress, if any, so that a 409
			// carries the newest size and not one about to be replaced.
			if err := w.cfg.Store.Update(ctx, origin, func(State, bool) (*State, error) { return nil, nil }); err != nil {
				return nil, err
			}
			waited = true
			continue
		}
		if req.OldSize != st.Size || known && cp.Size <= st.Size {
			return w.noAdvance(origin, ls, v, req, st, known)
		}
		lines, err := w.advance(ctx, origin, ls, v, req)
		if errors.Is(err, errMoved) {
			continue // another request advanced the state: decide again
		}
		return lines, err
	}
}

// errMoved means the state moved between the snapshot a request was
// judged by and its Update.
var errMoved = errors.New("the state moved")

// open returns the verified checkpoint raw of the log ls (nil if the
// origin is unknown), checking, in this order, that it is a well-formed
// signed note (400), that its origin is known (404), that the log signed
// it (403) and that its text is a checkpoint (400). A checkpoint equal to
// the last one verified for the log is not verified again.
func (w *Witness) open(ls *logState, raw []byte) (*verifiedCheckpoint, error) {
	if ls != nil {
		if v := ls.verified.Load(); v != nil && bytes.Equal(v.raw, raw) {
			return v, nil
		}
	}
	// A checkpoint that is not a well-formed signed note is a bad request,
	// whatever its first line: opened with no verifiers, a well-formed
	// note gives an *UnverifiedNoteError, a malformed one another error.
	var unverified *note.UnverifiedNoteError
	if _, err := note.Open(raw, note.VerifierList()); !errors.As(err, &unverified) {
		return nil, badRequest("checkpoint is not a signed note: %v", err)
	}
	first, _, _ := bytes.Cut(raw, []byte("\n"))
	if ls == nil {
		// SPEC: If the checkpoint origin is unknown, the witness MUST
		// respond with a "404 Not Found" HTTP status code.
		return nil, fmt.Errorf("%w %q", ErrUnknownLog, truncate(first))
	}
	// SPEC: The witness MUST verify the checkpoint signature against the
	// public key(s) it trusts for the checkpoint origin, and it MUST
	// ignore signatures from unknown keys.
	n, err := note.Open(raw, note.VerifierList(w.cfg.Logs.Verifiers(string(first))...))
	if err != nil {
		// SPEC: If none of the signatures verify against a trusted public
		// key, the witness MUST respond with a "403 Forbidden" HTTP status
		// code.
		return nil, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	v := &verifiedCheckpoint{raw: bytes.Clone(raw), n: n}
	if _, err := v.cp.Unmarshal([]byte(n.Text)); err != nil {
		return nil, badRequest("invalid checkpoint: %v", err)
	}
	if len(v.cp.Hash) != rfc6962.DefaultHasher.Size() {
		return nil, badRequest("checkpoint root hash is %d bytes, want 32", len(v.cp.Hash))
	}
	ls.verified.Store(v)
	return v, nil
}

// checkConsistency verifies the consistency proof from st to cp, a larger
// checkpoint.
func checkConsistency(st State, p [][]byte, cp flog.Checkpoint) error {
	if st.Size == 0 {
		// SPEC: The proof MUST be empty if the old size is zero.
		if len(p) != 0 {
			return fmt.Errorf("%w: the proof from size 0 must be empty", ErrInconsistent)
		}
		return nil
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, st.Size, cp.Size, p, st.Root, cp.Hash); err != nil {
		return fmt.Errorf("%w from size %d to %d: %v", ErrInconsistent, st.Size, cp.Size, err)
	}
	return nil
}

// advance checks v, a larger checkpoint than origin's state, against that
// state and, if it holds, cosigns v and stores it: the check and the write
// run in one Store.Update, with no other advance of origin between them. It
// returns errMoved if the state is no longer one v advances from with
// req's old size.
func (w *Witness) advance(ctx context.Context, origin string, ls *logState, v *verifiedCheckpoint, req *AddCheckpointRequest) ([]byte, error) {
	var lines []byte
	err := w.cfg.Store.Update(ctx, origin, func(prev State, known bool) (*State, error) {
		// SPEC: The old size MUST be equal to or lower than the checkpoint
		// size. [...] the witness MUST check that the old size matches the
		// size of the latest checkpoint it cosigned for the checkpoint's
		// origin (or zero if it never cosigned a checkpoint for that
		// origin).
		if req.OldSize != prev.Size || known && v.cp.Size <= prev.Size {
			return nil, errMoved
		}
		// SPEC: The consistency proof lines MUST encode a Merkle
		// Consistency Proof from the old size to the checkpoint size
		// according to [RFC 6962], Section 2.1.2. [...] If the Merkle
		// Consistency Proof doesn't verify, the witness MUST respond with
		// a "422 Unprocessable Entity" HTTP status code.
		if err := checkConsistency(prev, req.Proof, v.cp); err != nil {
			// Anyone can send a log's checkpoint with a bad proof, and
			// this answer is not rate limited: not a warning.
			w.logger.Debug("consistency proof does not verify", "origin", origin, "old", prev.Size, "size", v.cp.Size, "err", err)
			return nil, err
		}
		if err := allow(ls.advance); err != nil {
			return nil, err
		}
		full, l, err := w.cosign(v.n)
		if err != nil {
			return nil, err
		}
		lines = l
		// SPEC: If all the checks above pass, the witness MUST update its
		// record of the latest cosigned checkpoint [...]. The witness MUST
		// persist the new checkpoint before responding.
		return &State{Size: v.cp.Size, Root: v.cp.Hash, Note: full}, nil
	})
	if err != nil {
		return nil, err
	}
	w.metrics.size.WithLabelValues(origin).Set(float64(v.cp.Size))
	w.metrics.cosignatures.WithLabelValues(origin, "new").Inc()
	return lines, nil
}

// noAdvance answers a request that does not advance origin's state st
// (known tells whether there is one): a stale old size, the latest
// checkpoint again, or another root for its size. It stores nothing but
// fork evidence. The latest checkpoint again is cosigned again, with a
// fresh timestamp, from the snapshot st: it needs no lock, since the
// answer is the one the request would have had when st was taken.
func (w *Witness) noAdvance(origin string, ls *logState, v *verifiedCheckpoint, req *AddCheckpointRequest, st State, known bool) ([]byte, error) {
	cp := v.cp
	fork := known && cp.Size == st.Size && !bytes.Equal(cp.Hash, st.Root)
	w.checkFork(origin, ls, v)
	// SPEC: The witness MUST check that the old size matches the size of
	// the latest checkpoint it cosigned for the checkpoint's origin (or
	// zero if it never cosigned a checkpoint for that origin). If it
	// doesn't match, the witness MUST respond with a "409 Conflict" HTTP
	// status code.
	if req.OldSize != st.Size {
		return nil, &ConflictError{Size: st.Size}
	}
	// Here the old size, the state's and the checkpoint's are equal.
	// SPEC: If the old size matches the checkpoint size, the witness MUST
	// check that the root hashes are also identical. If they don't match,
	// the witness MUST respond with a "409 Conflict" HTTP status code.
	if fork {
		return nil, &ForkError{Size: cp.Size, Held: st.Note, Offered: v.raw}
	}
	// The same root with other extension lines: one text per size (see
	// ForkError). Only the latest size is compared; the history keeps
	// roots.
	if known && !isNoteOf(st.Note, v.n.Text) {
		w.logger.Error("the log signed two checkpoint texts for one size and root (other extension lines); the second is refused", "origin", origin, "size", cp.Size,
			"held", string(st.Note), "offered", string(v.raw))
		return nil, &ForkError{Size: cp.Size, Held: st.Note, Offered: v.raw, Lines: true}
	}
	if len(req.Proof) != 0 {
		return nil, fmt.Errorf("%w: the proof between equal sizes must be empty", ErrInconsistent)
	}
	// The checkpoint is the state's: cosigned again, not stored again.
	return w.cosignAgain(origin, ls, v.n)
}

// isNoteOf reports whether signed is a signed note whose text is text.
func isNoteOf(signed []byte, text string) bool {
	return len(signed) > len(text) && string(signed[:len(text)]) == text && signed[len(text)] == '\n'
}

// cosignAgain returns cosignature lines for n, origin's latest cosigned
// checkpoint sent again. The lines made for the same text in the current
// second are given again, not signed anew: they are the lines a new
// signature would give.
func (w *Witness) cosignAgain(origin string, ls *logState, n *note.Note) ([]byte, error) {
	// SPEC (tlog-cosignature): `timestamp` is the time at which the
	// cosignature was generated, as a POSIX timestamp [seconds since the
	// Epoch]. Lines made within the current second carry it.
	if a := ls.again.Load(); a != nil && a.text == n.Text && a.unix == timeNow().Unix() {
		w.metrics.cosignatures.WithLabelValues(origin, "reused").Inc()
		return bytes.Clone(a.lines), nil
	}
	ls.againMu.Lock()
	defer ls.againMu.Unlock()
	// The second is read before signing: the lines' timestamps are that
	// second or a later one (then they are not given again).
	unix := timeNow().Unix()
	if a := ls.again.Load(); a != nil && a.text == n.Text && a.unix == unix {
		w.metrics.cosignatures.WithLabelValues(origin, "reused").Inc()
		return bytes.Clone(a.lines), nil
	}
	_, lines, err := w.cosign(n)
	if err != nil {
		return nil, err
	}
	ls.again.Store(&cosignedAgain{text: n.Text, unix: unix, lines: lines})
	w.metrics.cosignatures.WithLabelValues(origin, "again").Inc()
	return bytes.Clone(lines), nil
}

// SPEC: If the origin is known, and the signature is valid, the witness MAY
// log the request even if the consistency proof doesn't verify (but MUST NOT
// cosign the checkpoint) as it might be proof of log misbehavior.
//
// checkFork keeps the evidence if v, a checkpoint signed by origin's log,
// has the size of one in the history of those the witness cosigned, with
// another root. It compares in memory, and costs more (a read of the held
// note and a write) only for new evidence, which needs the log's key.
func (w *Witness) checkFork(origin string, ls *logState, v *verifiedCheckpoint) {
	root, ok := w.cfg.Store.CosignedRoot(origin, v.cp.Size)
	if ok && !bytes.Equal(root, v.cp.Hash) {
		w.keepFork(origin, ls, v)
	}
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

// keepFork stores the evidence that origin's log signed v and the
// checkpoint of the same size the witness cosigned, with another root,
// unless it is stored already. The request's answer does not depend on
// it: a failure is logged.
func (w *Witness) keepFork(origin string, ls *logState, v *verifiedCheckpoint) {
	ls.forkMu.Lock()
	defer ls.forkMu.Unlock()
	switch kept, full := w.cfg.Store.forkKept(origin, v.cp.Size, v.cp.Hash); {
	case kept:
		return
	case full:
		w.metrics.forksDropped.WithLabelValues(origin).Inc()
		return
	}
	// The evidence is stored even if the request is cancelled.
	ctx := context.Background()
	held, ok, err := w.cfg.Store.History(ctx, origin, v.cp.Size)
	switch {
	case err != nil:
		w.logger.Error("couldn't read the checkpoint cosigned for the size of a fork", "origin", origin, "size", v.cp.Size, "err", err)
		return
	case !ok:
		// Dropped from the history since it was compared.
		w.logger.Warn("the checkpoint cosigned for the size of a fork has left the history; evidence not kept", "origin", origin, "size", v.cp.Size, "offered", string(v.raw))
		return
	}
	f := Fork{Origin: origin, Size: held.Size, Held: held.Note, Offered: v.raw, OfferedRoot: v.cp.Hash, Seen: timeNow()}
	added, err := w.cfg.Store.AddFork(ctx, f)
	switch {
	case errors.Is(err, ErrForksFull):
		w.metrics.forksDropped.WithLabelValues(origin).Inc()
	case err != nil:
		w.logger.Error("couldn't store the evidence of a fork", "origin", origin, "size", held.Size, "err", err)
	case added:
		w.metrics.forks.WithLabelValues(origin).Inc()
		w.logger.Error("FORK: the log signed two root hashes for one size; both checkpoints are kept", "origin", origin, "size", held.Size,
			"held", string(held.Note), "offered", string(v.raw))
	}
}

// Latest returns the latest checkpoint the witness cosigned for origin,
// with its cosignatures, or nil if none.
func (w *Witness) Latest(origin string) []byte {
	st, _ := w.cfg.Store.Latest(origin)
	return st.Note
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
// and comment ("#") lines, as tlogpolicy.ParseLogs does. Two keys for one
// origin are both accepted (a log key rotation).
func ParseLogList(data []byte) (*LogList, error) {
	logs, err := tlogpolicy.ParseLogs(data)
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
