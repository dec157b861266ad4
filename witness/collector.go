package witness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fwledger/fwledger/tlogpolicy"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"
)

// A ProofFunc returns the consistency proof from tree size from to the
// size of the checkpoint being cosigned.
type ProofFunc = func(ctx context.Context, from uint64) ([][]byte, error)

// CollectorConfig configures a Collector.
type CollectorConfig struct {
	// Policy names the witnesses, with their URLs, and the quorum.
	Policy *tlogpolicy.Policy
	// HTTPClient sends the requests (default: one with keep-alive and a
	// 10s timeout per request).
	HTTPClient *http.Client
	// Dial, when set, returns the Cosigner of a policy witness instead of
	// an HTTP Client of its URL (tests run witnesses in process).
	Dial func(tlogpolicy.Witness) (Cosigner, error)
	// MinBackoff and MaxBackoff bound the wait between retries of a
	// witness that failed with a transient error (defaults 50ms and 2s).
	MinBackoff, MaxBackoff time.Duration
	Logger                 *slog.Logger
	Registerer             prometheus.Registerer
}

// A Collector gets a log's checkpoints cosigned by the witnesses of a
// C2SP tlog-policy. For each witness it keeps the size it believes the
// witness last cosigned (0 at first; a 409 answer corrects it) and sends
// the consistency proof from there. Requests to one witness never overlap.
type Collector struct {
	policy  *tlogpolicy.Policy
	remotes []*remote
	cfg     CollectorConfig
	logger  *slog.Logger

	requests *prometheus.CounterVec
	rounds   *prometheus.HistogramVec
}

type remote struct {
	name     string
	verifier note.Verifier
	c        Cosigner

	mu   sync.Mutex // held for a whole exchange
	size uint64

	statusMu sync.Mutex // guards status, apart from mu
	status   WitnessStatus
}

// A WitnessStatus is what a Collector knows of one witness of its policy.
type WitnessStatus struct {
	// Name and URL are the policy's.
	Name, URL string
	// Size is the size of the latest checkpoint the witness cosigned for
	// this collector, and Cosigned when (0 and the zero time before the
	// first).
	Size     uint64
	Cosigned time.Time
	// Err is the last request's error, and Failed when it was; empty if
	// the last request succeeded.
	Err    string
	Failed time.Time
	// Fork, if not nil, is the latest fork the witness claimed since it
	// last cosigned: it said it holds a checkpoint of Fork.Size with
	// another root (or other extension lines) than the one this
	// collector offered. The claim is the witness's; its evidence is at
	// the witness's GET /forks, unchecked here.
	Fork *WitnessFork
}

// A WitnessFork is a witness's refusal of a checkpoint because it cosigned
// another one of the same size: evidence of a fork, whose half the log
// offered is Offered. The witness's half is at its GET /forks.
type WitnessFork struct {
	Size    uint64
	Offered []byte
	At      time.Time
	Err     string
}

// Status returns what c knows of each witness, in the policy's order.
func (c *Collector) Status() []WitnessStatus {
	out := make([]WitnessStatus, len(c.remotes))
	for i, r := range c.remotes {
		r.statusMu.Lock()
		out[i] = r.status
		r.statusMu.Unlock()
	}
	return out
}

// note records the outcome of a request of r for a checkpoint of size.
func (r *remote) note(checkpoint []byte, size uint64, err error) {
	r.statusMu.Lock()
	defer r.statusMu.Unlock()
	now := time.Now()
	var fork *ForkError
	switch {
	case err == nil:
		// A witness that cosigns a larger checkpoint holds no other root
		// for a smaller size: a fork it claimed (unverified) is over.
		r.status.Size, r.status.Cosigned, r.status.Err, r.status.Failed, r.status.Fork = size, now, "", time.Time{}, nil
		return
	case errors.As(err, &fork):
		r.status.Fork = &WitnessFork{Size: size, Offered: bytes.Clone(checkpoint), At: now, Err: err.Error()}
	}
	r.status.Err, r.status.Failed = err.Error(), now
}

// NewCollector returns a collector for the policy's witnesses, each of
// which must have a URL unless cfg.Dial is set.
func NewCollector(cfg CollectorConfig) (*Collector, error) {
	if cfg.Policy == nil {
		return nil, errors.New("witness: a Collector needs a policy")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 50 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 2 * time.Second
	}
	if cfg.HTTPClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 4
		cfg.HTTPClient = &http.Client{Transport: tr, Timeout: 10 * time.Second}
	}
	c := &Collector{
		policy: cfg.Policy,
		cfg:    cfg,
		logger: cfg.Logger,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fwlog_witness_requests_total",
			Help: "add-checkpoint requests sent, by witness and result (ok, conflict, fork, inconsistent, bad_signature, unknown_log, bad_request, rate_limited, error, cancelled_after_quorum: still outstanding when the round met its quorum and the caller ended it).",
		}, []string{"witness", "result"}),
		rounds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "fwlog_witness_round_seconds",
			Help:    "Time to collect a quorum of cosignatures for a checkpoint, by outcome (quorum, no_quorum).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"outcome"}),
	}
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(c.requests, c.rounds)
	}
	for _, w := range cfg.Policy.Witnesses {
		var cs Cosigner
		var err error
		switch {
		case cfg.Dial != nil:
			cs, err = cfg.Dial(w)
		case w.URL == "":
			err = fmt.Errorf("witness %q has no URL in the policy", w.Name)
		default:
			cs, err = NewClient(w.URL, cfg.HTTPClient)
		}
		if err != nil {
			return nil, err
		}
		c.remotes = append(c.remotes, &remote{name: w.Name, verifier: w.Verifier, c: cs,
			status: WitnessStatus{Name: w.Name, URL: w.URL}})
	}
	return c, nil
}

// Cosign sends checkpoint, a log-signed checkpoint of the given size, to
// every witness in parallel and returns it with the cosignatures received
// once they meet the policy's quorum. If ctx ends or every witness has
// answered first, it returns the checkpoint with the cosignatures it has
// and a *tlogpolicy.QuorumError. Witnesses still working when it returns go on
// until ctx ends; their answers only update what the collector knows.
func (c *Collector) Cosign(ctx context.Context, checkpoint []byte, size uint64, proofs ProofFunc) ([]byte, error) {
	start := time.Now()
	type answer struct {
		r    *remote
		line []byte
		err  error
	}
	answers := make(chan answer, len(c.remotes))
	var quorum atomic.Bool // set before Cosign returns with its quorum
	for _, r := range c.remotes {
		go func() {
			line, err := c.ask(ctx, r, checkpoint, size, proofs, &quorum)
			answers <- answer{r, line, err}
		}()
	}
	signed := bytes.Clone(checkpoint)
	var names []string
	var errs []error
	for range c.remotes {
		if c.policy.Satisfied(names) {
			break
		}
		select {
		case a := <-answers:
			if a.err != nil {
				errs = append(errs, fmt.Errorf("witness %s: %w", a.r.name, a.err))
				continue
			}
			names = append(names, a.r.name)
			signed = append(signed, a.line...)
		case <-ctx.Done():
			errs = append(errs, ctx.Err())
		}
		if ctx.Err() != nil {
			break
		}
	}
	if !c.policy.Satisfied(names) {
		c.rounds.WithLabelValues("no_quorum").Observe(time.Since(start).Seconds())
		qe := &tlogpolicy.QuorumError{Quorum: c.policy.Quorum, Cosigners: names}
		if len(errs) == 0 {
			return signed, qe
		}
		return signed, fmt.Errorf("%w (%w)", qe, errors.Join(errs...))
	}
	quorum.Store(true)
	c.rounds.WithLabelValues("quorum").Observe(time.Since(start).Seconds())
	return signed, nil
}

// ask gets r's cosignature line for checkpoint, retrying transient
// failures with backoff until ctx ends. quorum tells whether the round has
// met its quorum: a request then ended by ctx is not a failure of r.
func (c *Collector) ask(ctx context.Context, r *remote, checkpoint []byte, size uint64, proofs ProofFunc, quorum *atomic.Bool) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	backoff := c.cfg.MinBackoff
	for conflicts := 0; ; {
		if r.size > size {
			return nil, fmt.Errorf("the witness has cosigned size %d, larger than this checkpoint's %d", r.size, size)
		}
		req := &AddCheckpointRequest{OldSize: r.size, Checkpoint: checkpoint}
		if r.size > 0 && r.size < size {
			p, err := proofs(ctx, r.size)
			if err != nil {
				return nil, fmt.Errorf("couldn't make the consistency proof from %d to %d: %w", r.size, size, err)
			}
			req.Proof = p
		}
		lines, err := r.c.AddCheckpoint(ctx, req)
		label := result(err)
		if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) && quorum.Load() {
			label = "cancelled_after_quorum"
		}
		c.requests.WithLabelValues(r.name, label).Inc()
		if err != nil && label != "cancelled_after_quorum" {
			r.note(checkpoint, size, err)
		}
		var conflict *ConflictError
		var bad *BadRequestError
		var fork *ForkError
		switch {
		case err == nil:
			line, err := cosignatureLine(checkpoint, lines, r.verifier)
			r.note(checkpoint, size, err)
			if err != nil {
				return nil, err
			}
			r.size = size
			return line, nil
		case errors.As(err, &conflict):
			// The witness is at another size than we thought: retry from
			// there, a few times (its size may move under concurrent
			// requests from another instance of the log).
			if conflicts++; conflicts > 3 {
				return nil, err
			}
			r.size = conflict.Size
			continue
		case errors.As(err, &fork):
			c.logger.Error("a witness holds another root for this size: a fork of this log", "witness", r.name, "size", size)
			return nil, err
		case errors.As(err, &bad), errors.Is(err, ErrBadSignature), errors.Is(err, ErrUnknownLog), errors.Is(err, ErrInconsistent):
			return nil, err
		}
		// Transient: network, 5xx, 429.
		c.logger.Debug("witness request failed; retrying", "witness", r.name, "size", size, "backoff", backoff, "err", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, c.cfg.MaxBackoff)
	}
}

// cosignatureLine returns the line of lines that is a valid cosignature by
// v over checkpoint. Lines by other keys are ignored; an invalid one by v
// is an error.
func cosignatureLine(checkpoint, lines []byte, v note.Verifier) ([]byte, error) {
	n, err := note.Open(append(bytes.Clone(checkpoint), lines...), note.VerifierList(v))
	if err != nil {
		return nil, fmt.Errorf("the witness answered without a valid cosignature: %w", err)
	}
	for _, s := range n.Sigs {
		return fmt.Appendf(nil, "— %s %s\n", s.Name, s.Base64), nil
	}
	return nil, errors.New("the witness answered without a cosignature")
}
