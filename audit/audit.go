// Package audit follows an fwledger log as an independent auditor: it
// reads only the log's C2SP checkpoint and entry bundles (so it audits a
// mirror as well as the log), verifies every checkpoint and its
// consistency with the last one verified, recomputes the tree from the
// entries and checks it against the checkpoint, and judges every entry
// by a policy. What it finds it raises as an Alert with the evidence that
// proves it, once.
//
// Its state is a SQLite database (audit.db in its state directory): the
// last checkpoint verified, the compact range of the entries read, the
// index of releases and statements the rules need, and the alerts. What
// the entries of a few bundles changed is committed together with the
// range that covers them, so that after a crash it resumes without
// reading again what it committed, and without raising an alert twice.
package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/logclient"
	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/provenance/keyless"
	"github.com/fwledger/fwledger/revocation"
	"github.com/fwledger/fwledger/tiles"
	"github.com/fwledger/fwledger/tlogpolicy"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	flog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// Config configures an auditor.
type Config struct {
	// LogURL is where the log (or a mirror) serves C2SP tlog-tiles.
	LogURL string
	// Log verifies the log's checkpoints; Witnesses, if set, is the
	// witness policy they must meet. One of them is required.
	Log       note.Verifier
	Witnesses *tlogpolicy.Policy
	// Keyless verifies keyless (Sigstore bundle) provenance (default: one
	// from the Policy's trusted root, if it has one).
	Keyless provenance.KeylessVerifier
	// Policy judges releases and their provenance. RevocationKeys (and
	// RevocationThreshold) sign the revocations that apply, or the
	// policy's revocation section names them.
	Policy              *provenance.Policy
	RevocationKeys      *keys.Ring
	RevocationThreshold int
	// StateDir holds the audit database.
	StateDir string
	// HTTP is the client the log is read with (default: one with a
	// timeout of a minute).
	HTTP *http.Client
	// Logger receives progress and errors (default: discarded).
	Logger *slog.Logger
	// Progress, if set, is called as entries are read.
	Progress func(read, size uint64)
	// ReproducibleWithin is how long after a release is made (its created
	// time) the rebuilds its policy rule requires must be logged
	// (default 7 days).
	ReproducibleWithin time.Duration
	// Now is the auditor's clock (default time.Now), for the deadlines.
	Now func() time.Time
	// Registerer, if set, registers the auditor's Prometheus metrics.
	Registerer prometheus.Registerer
	// MaxCosignatureAge, with Witnesses, is how long before now the
	// witness quorum may have last cosigned the log's checkpoint; older is
	// a stale alert (zero: not checked).
	MaxCosignatureAge time.Duration
	// Probe, if set, signs a probe the auditor submits to the log each
	// step (the canary, docs/AUDIT.md): the log must take probes from its
	// key (fwlog --probe-keys). ProbeURL is where the log takes
	// submissions (default LogURL: give it when LogURL is a mirror).
	Probe    dsse.SignerVerifier
	ProbeURL string
	// MaxMergeDelay is how long after the log acknowledged a probe it
	// must be in a checkpoint the auditor read (default 5 minutes).
	MaxMergeDelay time.Duration
	// MaxStall, if not zero, is how long the log's verified tree may stay
	// the same size; longer is a stall alert. A log that takes probes
	// grows every step.
	MaxStall time.Duration
}

// An Auditor follows one log.
type Auditor struct {
	cfg     Config
	store   *store
	log     *slog.Logger
	base    *url.URL
	metrics *metrics
	// submit submits probes.
	submit *logclient.Client
	// bundles are entry bundles read again (entryAt), by path.
	bundles *lru.Cache[string, [][]byte]
	// last is how the last Step went, for Status.
	last poll
}

// New opens the auditor's state.
func New(ctx context.Context, cfg Config) (*Auditor, error) {
	if cfg.Log == nil && cfg.Witnesses == nil {
		return nil, errors.New("audit: a log key or a witness policy is required")
	}
	if cfg.Policy == nil {
		return nil, errors.New("audit: a policy is required")
	}
	base, err := url.Parse(strings.TrimSuffix(cfg.LogURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") {
		return nil, fmt.Errorf("audit: the log URL %q is not http(s)", cfg.LogURL)
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: time.Minute}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ReproducibleWithin <= 0 {
		cfg.ReproducibleWithin = 7 * 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Keyless == nil && cfg.Policy.TrustedRoot != nil {
		kv, err := keyless.NewVerifier(cfg.Policy.TrustedRoot)
		if err != nil {
			return nil, fmt.Errorf("audit: the policy's trusted root: %w", err)
		}
		cfg.Keyless = kv
	}
	if cfg.MaxMergeDelay <= 0 {
		cfg.MaxMergeDelay = 5 * time.Minute
	}
	if cfg.ProbeURL == "" {
		cfg.ProbeURL = cfg.LogURL
	}
	submit, err := logclient.New(cfg.ProbeURL, cfg.HTTP)
	if err != nil {
		return nil, fmt.Errorf("audit: the probe URL: %w", err)
	}
	if cfg.RevocationKeys.Len() == 0 && cfg.Policy.RevocationKeys != nil {
		cfg.RevocationKeys, cfg.RevocationThreshold = cfg.Policy.RevocationKeys, cfg.Policy.RevocationThreshold
	}
	st, err := openStore(ctx, cfg.StateDir)
	if err != nil {
		return nil, err
	}
	bundles, _ := lru.New[string, [][]byte](4)
	return &Auditor{cfg: cfg, store: st, log: cfg.Logger, base: base, metrics: newMetrics(cfg.Registerer), submit: submit, bundles: bundles}, nil
}

// Close closes the auditor's state.
func (a *Auditor) Close() error { return a.store.Close() }

// Alerts returns every alert raised so far, oldest first.
func (a *Auditor) Alerts(ctx context.Context) ([]*Alert, error) { return a.store.alerts(ctx) }

// Limits on what is read from the log.
const (
	maxCheckpoint = 16 << 10
	maxBundle     = tiles.Width * (tiles.MaxEntrySize + 2)
)

func (a *Auditor) get(ctx context.Context, path string, limit int64) ([]byte, error) {
	return a.getURL(ctx, a.base.String()+path, limit)
}

// A statusError is an answer other than 200.
type statusError struct {
	url  string
	code int
}

func (e *statusError) Error() string {
	return fmt.Sprintf("GET %s: %d %s", e.url, e.code, http.StatusText(e.code))
}

func (a *Auditor) getURL(ctx context.Context, u string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := a.cfg.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &statusError{url: u, code: resp.StatusCode}
	}
	path := u
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("GET %s: more than %d bytes", path, limit)
	}
	return data, nil
}

// verifyCheckpoint verifies a signed checkpoint under the log key and the
// witness policy, and returns it with the newest time at which the
// witness quorum had cosigned it (zero without a witness policy).
func (a *Auditor) verifyCheckpoint(signed []byte) (*flog.Checkpoint, error) {
	cp, _, err := a.verifyWitnessed(signed)
	return cp, err
}

func (a *Auditor) verifyWitnessed(signed []byte) (*flog.Checkpoint, time.Time, error) {
	var quorumAt time.Time
	if a.cfg.Witnesses != nil {
		v, err := a.cfg.Witnesses.VerifyCheckpoint(signed)
		if err != nil {
			return nil, quorumAt, err
		}
		cosigs := slices.Clone(v.Cosignatures)
		slices.SortFunc(cosigs, func(x, y tlogpolicy.Cosignature) int { return y.Time.Compare(x.Time) })
		var names []string
		for _, c := range cosigs {
			names = append(names, c.Witness)
			if a.cfg.Witnesses.Satisfied(names) {
				quorumAt = c.Time
				break
			}
		}
		if a.cfg.Log == nil {
			return &v.Checkpoint, quorumAt, nil
		}
	}
	cp, err := tlogpolicy.VerifyCheckpoint(a.cfg.Log, signed)
	return cp, quorumAt, err
}

// A Result is what one step of the audit did.
type Result struct {
	// Size is the size of the checkpoint verified, and Read how many
	// entries were read in this step.
	Size, Read uint64
	// Alerts are the alerts this step raised.
	Alerts []*Alert
}

// Step fetches the log's checkpoint and, if it is new, verifies it, reads
// the entries up to it and judges them. It returns the alerts it raised;
// an error means the step could not be done (the log could not be read)
// and is to be retried.
//
// With a probe key, it raises a canary alert for each probe (see Probe)
// the checkpoint should hold and does not.
func (a *Auditor) Step(ctx context.Context) (res *Result, err error) {
	fetchedAt := a.cfg.Now()
	defer func() {
		if res == nil {
			res = &Result{}
		}
		if ferr := a.unreadable(ctx, fetchedAt, err, res); ferr != nil && err == nil {
			err = ferr
		}
		a.metrics.count(res, err)
		a.polled(err)
	}()
	signed, err := a.get(ctx, "/checkpoint", maxCheckpoint)
	if err != nil {
		return nil, fmt.Errorf("couldn't fetch the checkpoint: %w", err)
	}
	res, err = a.check(ctx, signed)
	if err != nil {
		return res, err
	}
	p, err := a.store.progress(ctx)
	if err != nil || len(p.Checkpoint) == 0 {
		return res, err
	}
	if err := a.recheck(ctx, p, fetchedAt, res); err != nil {
		return res, err
	}
	if a.cfg.Probe != nil {
		if err := a.checkProbes(ctx, p.Checkpoint, p.Verified, fetchedAt, res); err != nil {
			return res, err
		}
	}
	if a.cfg.MaxStall > 0 {
		if err := a.checkStall(ctx, p, fetchedAt, res); err != nil {
			return res, err
		}
	}
	// Rebuilds come due with time, also while the log is idle.
	return res, a.checkRebuilds(ctx, p.Checkpoint, p.Verified, a.cfg.Now(), res)
}

// Check verifies a checkpoint someone else was shown (a witness, a
// device, a user) against what the auditor verified: it must be signed by
// the log, and be consistent with the verified tree (a proof from the
// log's tiles must join them), or it is a fork. One larger than the
// verified tree is kept and judged again at each step, once the log's
// own checkpoint has reached its size (see recheck): the log's tree is
// read only up to what the log itself publishes, with its quorum.
func (a *Auditor) Check(ctx context.Context, signed []byte) (*Result, error) {
	p, err := a.store.progress(ctx)
	if err != nil {
		return nil, err
	}
	res := &Result{Size: p.Verified}
	cp, err := a.verifyLogSigned(signed)
	if err == nil {
		err = a.checkOrigin(p, cp)
	}
	if err != nil {
		return res, a.raiseOne(ctx, res, &Alert{
			Key:  "bad_checkpoint/" + digestKey(signed),
			Type: TypeBadCheckpoint, Severity: Critical, Time: time.Now().UTC(),
			Message:  fmt.Sprintf("a checkpoint that does not verify as the log's: %v", err),
			Evidence: Evidence{Checkpoints: [][]byte{signed}},
		})
	}
	if len(p.Checkpoint) == 0 || cp.Size > p.Verified {
		return res, a.deferCheckpoint(ctx, signed, cp.Size)
	}
	old, err := parseCheckpoint(p.Checkpoint)
	if err != nil {
		return res, err
	}
	if cp.Size == p.Verified {
		if !bytes.Equal(old.Hash, cp.Hash) {
			return res, a.raiseOne(ctx, res, forkAlert(signed, p.Checkpoint, "two checkpoints of one size with different roots", nil))
		}
		return res, nil
	}
	hashes, ok, err := a.consistentWith(ctx, cp.Size, cp.Hash, p.Verified, old.Hash)
	var bt *badTileError
	switch {
	case errors.As(err, &bt):
		return res, a.raiseOne(ctx, res, &Alert{
			Key: "bad_tile/" + digestKey(p.Checkpoint), Type: TypeBadTile, Severity: Critical, Time: time.Now().UTC(),
			Message: bt.Error(), Evidence: Evidence{Checkpoints: [][]byte{p.Checkpoint}},
		})
	case err != nil:
		return res, err
	case !ok:
		return res, a.raiseOne(ctx, res, forkAlert(signed, p.Checkpoint, fmt.Sprintf("the log's tree of %d entries has another root at size %d than the checkpoint of that size (the consistency proof from its tiles rebuilds its verified root)", p.Verified, cp.Size), hashes))
	}
	return res, nil
}

// checkOrigin requires cp to be of the log the auditor verified (with a
// witness policy naming several logs, any of them verifies).
func (a *Auditor) checkOrigin(p *progress, cp *flog.Checkpoint) error {
	if len(p.Checkpoint) == 0 {
		return nil
	}
	origin, _, _ := bytes.Cut(p.Checkpoint, []byte("\n"))
	if cp.Origin != string(origin) {
		return fmt.Errorf("the checkpoint is of the log %q, not of the audited log %q", cp.Origin, origin)
	}
	return nil
}

// verifyLogSigned verifies that the log signed a checkpoint (a witness's
// or a device's need not carry the quorum).
func (a *Auditor) verifyLogSigned(signed []byte) (*flog.Checkpoint, error) {
	v := a.cfg.Log
	if v == nil {
		origin, _, _ := bytes.Cut(signed, []byte("\n"))
		var vs []note.Verifier
		for _, l := range a.cfg.Witnesses.LogKeys(string(origin)) {
			vs = append(vs, l.Verifier)
		}
		if len(vs) == 0 {
			return nil, fmt.Errorf("origin %q is not the log's", origin)
		}
		n, err := note.Open(signed, note.VerifierList(vs...))
		if err != nil {
			return nil, err
		}
		return parseCheckpoint([]byte(n.Text + "\n"))
	}
	return tlogpolicy.VerifyCheckpoint(v, signed)
}

// tileReader reads the log's tiles for the tree of the given size.
func (a *Auditor) tileReader(size uint64) *tiles.Reader {
	return tiles.NewReader(func(ctx context.Context, id tiles.ID, _ int) (*tiles.Expanded, error) {
		w := tiles.WidthAt(id.Level, id.Index, size)
		data, err := a.get(ctx, "/"+tiles.Path(id.Level, id.Index, w), tiles.Width*tiles.HashSize)
		if err != nil {
			return nil, err
		}
		return tiles.Expand(data)
	})
}

// prover returns inclusion proofs under cp from the log's tiles, each
// verified against cp's root.
func (a *Auditor) prover(ctx context.Context, cp *flog.Checkpoint) func(uint64, []byte) ([][]byte, error) {
	r := a.tileReader(cp.Size)
	return func(index uint64, data []byte) ([][]byte, error) {
		hashes, err := r.InclusionProof(ctx, index, cp.Size)
		if err != nil {
			return nil, fmt.Errorf("couldn't read the inclusion proof of entry %d from the log's tiles: %w", index, err)
		}
		if err := proof.VerifyInclusion(hasher, index, cp.Size, hasher.HashLeaf(data), hashes, cp.Hash); err != nil {
			return nil, &badTileError{index: index, err: err}
		}
		return hashes, nil
	}
}

// check verifies the log's checkpoint against what the auditor verified,
// and reads the log up to it.
func (a *Auditor) check(ctx context.Context, signed []byte) (*Result, error) {
	p, err := a.store.progress(ctx)
	if err != nil {
		return nil, err
	}
	res := &Result{Size: p.Verified}
	cp, quorumAt, err := a.verifyWitnessed(signed)
	if err == nil {
		err = a.checkOrigin(p, cp)
	}
	if err == nil && a.cfg.MaxCosignatureAge > 0 && time.Since(quorumAt) > a.cfg.MaxCosignatureAge {
		if err := a.raiseOne(ctx, res, &Alert{
			Key: "stale/" + digestKey(signed), Type: TypeStale, Severity: Warning, Time: time.Now().UTC(),
			Message:  fmt.Sprintf("the log's checkpoint was last cosigned by the witness quorum at %s, more than %s ago: the log or its witnesses are stuck, or the log shows an old view", quorumAt.UTC().Format(time.RFC3339), a.cfg.MaxCosignatureAge),
			Evidence: Evidence{Checkpoints: [][]byte{signed}},
		}); err != nil {
			return res, err
		}
	}
	if err != nil {
		return res, a.raiseOne(ctx, res, &Alert{
			Key:  "bad_checkpoint/" + digestKey(signed),
			Type: TypeBadCheckpoint, Severity: Critical, Time: time.Now().UTC(),
			Message:  fmt.Sprintf("a checkpoint that does not verify: %v", err),
			Evidence: Evidence{Checkpoints: [][]byte{signed}},
		})
	}
	switch {
	case len(p.Checkpoint) == 0:
	case cp.Size < p.Verified:
		// A smaller tree: a rollback of the log's view, or a fork if its
		// root is not the verified tree's at its size.
		old, err := parseCheckpoint(p.Checkpoint)
		if err != nil {
			return res, err
		}
		if hashes, ok, err := a.consistentWith(ctx, cp.Size, cp.Hash, p.Verified, old.Hash); err == nil && !ok {
			return res, a.raiseOne(ctx, res, forkAlert(signed, p.Checkpoint, fmt.Sprintf("the log's checkpoint went back to size %d from the verified %d, with another root than the verified tree's at that size", cp.Size, p.Verified), hashes))
		}
		return res, a.raiseOne(ctx, res, &Alert{
			Key:  "rollback/" + digestKey(signed),
			Type: TypeRollback, Severity: Critical, Time: time.Now().UTC(),
			Message:  fmt.Sprintf("the log's checkpoint went back to size %d from the verified %d", cp.Size, p.Verified),
			Evidence: Evidence{Checkpoints: [][]byte{signed, p.Checkpoint}},
		})
	case cp.Size == p.Verified:
		old, err := parseCheckpoint(p.Checkpoint)
		if err != nil {
			return res, err
		}
		if !bytes.Equal(old.Hash, cp.Hash) {
			return res, a.raiseOne(ctx, res, forkAlert(signed, p.Checkpoint, "two checkpoints of one size with different roots", nil))
		}
		return res, nil
	}
	return res, a.catchUp(ctx, p, cp, signed, res)
}

func forkAlert(a, b []byte, why string, failed [][]byte) *Alert {
	ka, kb := digestKey(a), digestKey(b)
	if ka > kb {
		ka, kb = kb, ka
	}
	return &Alert{
		Key:  "fork/" + ka + "/" + kb,
		Type: TypeFork, Severity: Critical, Time: time.Now().UTC(),
		Message:  "split view: " + why,
		Evidence: Evidence{Checkpoints: [][]byte{a, b}, Proof: failed},
	}
}

// raiseOne records one alert in a transaction of its own.
func (a *Auditor) raiseOne(ctx context.Context, res *Result, al *Alert) error {
	t, err := a.store.begin(ctx)
	if err != nil {
		return err
	}
	defer t.Rollback()
	if err := t.raise(al); err != nil {
		return err
	}
	if err := t.Commit(); err != nil {
		return err
	}
	res.Alerts = append(res.Alerts, t.raised...)
	return nil
}

// digestKey names a checkpoint in alert keys by its text (origin, size,
// root, extensions), without its signatures: the same checkpoint with a
// signature line added or cosignatures refreshed is the same finding.
func digestKey(signed []byte) string {
	text, _, _ := bytes.Cut(signed, []byte("\n\n"))
	h := sha256.Sum256(text)
	return fmt.Sprintf("%x", h[:8])
}

func parseCheckpoint(signed []byte) (*flog.Checkpoint, error) {
	body, _, _ := bytes.Cut(signed, []byte("\n\n"))
	var cp flog.Checkpoint
	if _, err := cp.Unmarshal(append(body, '\n')); err != nil {
		return nil, err
	}
	return &cp, nil
}

var hasher = rfc6962.DefaultHasher

// A catch-up commits what it read every commitBundles entry bundles, or
// sooner when commitInterval has passed since the transaction began, and
// at its end: a crash loses at most that much work, read again on restart,
// and never an alert that was reported (alerts are reported once their
// transaction commits). Fewer, larger transactions spare a WAL commit, with
// its fsync, for each bundle; a bound keeps the WAL and the work lost
// small.
const (
	commitBundles  = 16
	commitInterval = time.Second
)

// A fetched is an entry bundle read ahead of the rules: the entries from
// start that the auditor has not read, parsed, with their leaf hashes. Or
// the error that kept it from being read, or the alert for a malformed
// bundle.
type fetched struct {
	start   uint64
	entries [][]byte
	parsed  []parsed
	err     error
	bad     *Alert
}

// readAhead reads the entry bundles from entry from up to size into out,
// in order, each parsed on every core (parseAll), while the rules judge the
// one before: the judging, on one goroutine, and its commits overlap the
// parsing, and the parsing overlaps the fetching of the next bundles
// (fetchAhead of them). It stops after the first bundle it could not read,
// or when ctx is done, and closes out.
func (a *Auditor) readAhead(ctx context.Context, from, size uint64, signed []byte, out chan<- *fetched) {
	defer close(out)
	raw := make(chan *fetched, fetchAhead)
	go func() {
		defer close(raw)
		for start := from; start < size; {
			n := min(uint64(tiles.Width)-start%tiles.Width, size-start)
			f := a.readBundle(ctx, start, n, size, signed)
			select {
			case raw <- f:
			case <-ctx.Done():
				return
			}
			if f.err != nil || f.bad != nil {
				return
			}
			start += n
		}
	}()
	defer func() {
		for range raw { // until the fetching returns
		}
	}()
	for f := range raw {
		if f.err == nil && f.bad == nil {
			f.parsed = a.parseAll(ctx, f.entries)
		}
		select {
		case out <- f:
		case <-ctx.Done():
			return
		}
	}
}

// fetchAhead is how many entry bundles readAhead fetches ahead of the one
// it parses: with the one parsed, the one judged and one waiting between
// them, a catch-up holds at most fetchAhead+4 bundles (each at most
// maxBundle bytes), whatever the size of the log.
const fetchAhead = 1

// readBundle fetches the n entries from start, of the tree of size
// entries.
func (a *Auditor) readBundle(ctx context.Context, start, n, size uint64, signed []byte) *fetched {
	bundleIndex := start / tiles.Width
	width := int((start%tiles.Width + n))
	if width == tiles.Width {
		width = 0
	}
	data, err := a.get(ctx, "/"+tiles.EntriesPath(bundleIndex, width), maxBundle)
	if err != nil {
		return &fetched{err: fmt.Errorf("couldn't fetch entries from %d: %w", start, err)}
	}
	entries, err := tiles.SplitBundle(data)
	if err != nil || uint64(len(entries)) != start%tiles.Width+n {
		why := fmt.Sprintf("the entry bundle %d holds %d entries, want %d", bundleIndex, len(entries), start%tiles.Width+n)
		if err != nil {
			why = fmt.Sprintf("the entry bundle %d is malformed: %v", bundleIndex, err)
		}
		return &fetched{bad: &Alert{
			Key: fmt.Sprintf("bad_bundle/%d/%d", bundleIndex, size), Type: TypeBadBundle, Severity: Critical,
			Time: time.Now().UTC(), Message: why, Evidence: Evidence{Checkpoints: [][]byte{signed}},
		}}
	}
	return &fetched{start: start, entries: entries[start%tiles.Width:]}
}

// catchUp reads the entries from p.Size up to cp's size, a bundle at a
// time (read ahead, see readAhead, and committed with what they changed,
// see commitBundles), judges them, and checks the recomputed root against
// cp's.
func (a *Auditor) catchUp(ctx context.Context, p *progress, cp *flog.Checkpoint, signed []byte, res *Result) error {
	rf := &compact.RangeFactory{Hash: hasher.HashChildren}
	rng := rf.NewEmptyRange(0)
	if p.Size > 0 {
		var err error
		if rng, err = tiles.DecodeRange(p.Size, p.Range); err != nil {
			return fmt.Errorf("the audit database's range: %w", err)
		}
	}
	// The auditor has read past what it verified only if a step stopped
	// after reading; the entries are the same (their range is kept).
	r := &rules{a: a, cp: signed, size: cp.Size}
	aheadCtx, stop := context.WithCancel(ctx)
	ahead := make(chan *fetched, 1)
	go a.readAhead(aheadCtx, rng.End(), cp.Size, signed, ahead)
	defer func() {
		stop()
		for range ahead { // until readAhead returns
		}
	}()
	// t is the open transaction, if any, with the bundles and entries it
	// holds.
	var t *tx
	var began time.Time
	var bundles int
	var read uint64
	commit := func() error {
		if t == nil {
			return nil
		}
		// Nothing read is kept unless the tree it makes is a prefix of
		// the checkpoint's: bytes changed on the way (or by the log) are
		// read again at the next step, and judged then.
		if err := a.checkPrefix(ctx, rng, cp, signed); err != nil {
			t.Rollback()
			t = nil
			a.bundles.Purge()
			return err
		}
		p.Size, p.Range = rng.End(), tiles.EncodeRange(rng)
		if err := t.setProgress(p); err != nil {
			return err // rolled back below
		}
		err := t.Commit()
		if err != nil {
			t = nil
			return err
		}
		res.Read += read
		res.Alerts = append(res.Alerts, t.raised...)
		t, bundles, read = nil, 0, 0
		return nil
	}
	var mismatch *mismatchError
	defer func() {
		if t != nil {
			t.Rollback()
		}
	}()
	for f := range ahead {
		if f.err != nil || f.bad != nil {
			// What was read before stands.
			if err := commit(); errors.As(err, &mismatch) {
				return a.raiseOne(ctx, res, mismatch.alert)
			} else if err != nil {
				return err
			}
			if f.err != nil {
				return f.err
			}
			return a.raiseOne(ctx, res, f.bad)
		}
		if t == nil {
			var err error
			if t, err = a.store.begin(ctx); err != nil {
				return err
			}
			t.prove = a.prover(ctx, cp)
			r.tx, began = t, time.Now()
		}
		for i, e := range f.entries {
			if err := rng.Append(f.parsed[i].leaf, nil); err != nil {
				return err
			}
			if err := r.judge(ctx, f.start+uint64(i), e, f.parsed[i]); err != nil {
				return err
			}
		}
		bundles++
		read += uint64(len(f.entries))
		if bundles >= commitBundles || time.Since(began) >= commitInterval || rng.End() == cp.Size {
			if err := commit(); errors.As(err, &mismatch) {
				return a.raiseOne(ctx, res, mismatch.alert)
			} else if err != nil {
				return err
			}
		}
		if a.cfg.Progress != nil {
			a.cfg.Progress(rng.End(), cp.Size)
		}
	}
	if err := commit(); errors.As(err, &mismatch) {
		return a.raiseOne(ctx, res, mismatch.alert)
	} else if err != nil {
		return err
	}
	if rng.End() < cp.Size {
		// readAhead stopped without a reason: ctx is done.
		return ctx.Err()
	}
	// Entries read by an earlier step that stopped before verifying them
	// were checked against that step's checkpoint; they must make this
	// one's tree too.
	if err := a.checkPrefix(ctx, rng, cp, signed); errors.As(err, &mismatch) {
		return a.raiseOne(ctx, res, mismatch.alert)
	} else if err != nil {
		return err
	}
	if err := a.checkCommitment(ctx, signed, cp, res); err != nil {
		return err
	}

	vt, err := a.store.begin(ctx)
	if err != nil {
		return err
	}
	defer vt.Rollback()
	p.Checkpoint, p.Verified, p.VerifiedAt = signed, cp.Size, a.cfg.Now().UTC()
	if err := vt.setProgress(p); err != nil {
		return err
	}
	if err := vt.Commit(); err != nil {
		return err
	}
	res.Size = cp.Size
	return nil
}

// A mismatchError is entries read that do not make a prefix of the
// checkpoint's tree: the alert to raise.
type mismatchError struct{ alert *Alert }

func (e *mismatchError) Error() string { return e.alert.Message }

// checkPrefix checks that rng, the tree of the entries read, is the
// checkpoint's tree or a prefix of it: its root is the checkpoint's, or
// the log's tiles give a consistency proof from it to the checkpoint. If
// not, the entries read or the tiles are not the log's: a *mismatchError.
func (a *Auditor) checkPrefix(ctx context.Context, rng *compact.Range, cp *flog.Checkpoint, signed []byte) error {
	root := hasher.EmptyRoot()
	if rng.End() > 0 {
		var err error
		if root, err = rng.GetRootHash(nil); err != nil {
			return err
		}
	}
	var why string
	switch {
	case rng.End() == cp.Size:
		if bytes.Equal(root, cp.Hash) {
			return nil
		}
		why = fmt.Sprintf("the log's %d entries hash to root %x, not the checkpoint's %x: an entry was changed, or the checkpoint is of another tree", cp.Size, root, cp.Hash)
	default:
		p, err := a.tileReader(cp.Size).ConsistencyProof(ctx, rng.End(), cp.Size)
		if err != nil {
			return fmt.Errorf("couldn't read a consistency proof from the log's tiles: %w", err)
		}
		if proof.VerifyConsistency(hasher, rng.End(), cp.Size, p, root, cp.Hash) == nil {
			return nil
		}
		why = fmt.Sprintf("the log's first %d entries hash to root %x, which the log's tiles do not prove a prefix of the checkpoint's tree of %d: an entry or a tile was changed, or the checkpoint is of another tree", rng.End(), root, cp.Size)
	}
	return &mismatchError{alert: &Alert{
		Key: fmt.Sprintf("tree_mismatch/%s", digestKey(signed)), Type: TypeTreeMismatch, Severity: Critical, Time: time.Now().UTC(),
		Message: why + "; what was read is not kept, and is read again at the next poll", Evidence: Evidence{Checkpoints: [][]byte{signed}},
	}}
}

// ReadAlerts returns the alerts recorded in an auditor's state directory.
func ReadAlerts(ctx context.Context, dir string) ([]*Alert, error) {
	st, err := openStore(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return st.alerts(ctx)
}

// checkCommitment checks the checkpoint's revocation commitment (an
// fwledger log's extension line) against the revocations logged below
// its size, which the auditor has read.
func (a *Auditor) checkCommitment(ctx context.Context, signed []byte, cp *flog.Checkpoint, res *Result) error {
	size := cp.Size
	c, err := revocation.FromCheckpoint(signed)
	seen, serr := a.stateInt(ctx, "commitment_seen")
	if serr != nil {
		return serr
	}
	switch {
	case errors.Is(err, revocation.ErrNoCommitment) && seen < 0:
		return nil // not an fwledger log, or one from before revocations
	case errors.Is(err, revocation.ErrNoCommitment):
		err = fmt.Errorf("it carries none, and the log's checkpoint of size %d did", seen)
	case err == nil && seen < 0:
		if serr := a.setStateInt(ctx, "commitment_seen", int64(size)); serr != nil {
			return serr
		}
	}
	var hashes [][]byte
	var entries []EvidenceEntry
	if err == nil {
		var qerr error
		entries, qerr = queryAll(ctx, a.store.db.W, func(rows *sql.Rows, e *EvidenceEntry) error {
			return rows.Scan(&e.Index, &e.Data)
		}, revocationsQuery+" AND idx < ? ORDER BY idx", size)
		if qerr != nil {
			return qerr
		}
		for _, e := range entries {
			hashes = append(hashes, hasher.HashLeaf(e.Data))
		}
		got, cerr := revocation.Commit(hashes)
		if cerr != nil {
			return cerr
		}
		if got.Equal(c) {
			return nil
		}
		err = fmt.Errorf("it commits to %d revocations, and the log holds %d below its size", c.Count, len(hashes))
	}
	t, terr := a.store.begin(ctx)
	if terr != nil {
		return terr
	}
	defer t.Rollback()
	t.prove = a.prover(ctx, cp)
	if err := t.raise(&Alert{
		Key: "revocation_commitment/" + digestKey(signed), Type: TypeRevocationCommitment, Severity: Critical, Time: time.Now().UTC(),
		Message:  fmt.Sprintf("the checkpoint's revocation commitment does not match the logged revocations: %v", err),
		Evidence: Evidence{Checkpoints: [][]byte{signed}, Entries: entries},
	}); err != nil {
		return err
	}
	if err := t.Commit(); err != nil {
		return err
	}
	res.Alerts = append(res.Alerts, t.raised...)
	return nil
}
