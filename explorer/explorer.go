// Package explorer is the web explorer that fwlog serves beside its API:
// pages for people, rendered on the server from html/template, with an
// embedded stylesheet and no script. Anyone can look up an image, a model,
// a builder, a source repository or a key; see who signed a release and
// how it was built; check an entry's inclusion proof, verified by the page
// itself under the published checkpoint; see what each witness cosigned;
// and follow what devices report.
//
//	GET /                     the published checkpoint, its cosignatures, growth (30 days), recent releases
//	GET /search?q=            digests (sha256sum output too), models, versions, builders, sources, key IDs
//	GET /entries/{index}      one entry, its signers, provenance, rebuilds, revocations and proof
//	GET /entries/{index}/raw  its exact bytes, as a download
//	GET /models/{model}       a model's releases, newest first, with collisions and revocations
//	GET /witnesses            each witness: its latest cosigned size and time, lag, failures, forks
//	GET /reports              device reports over time, as charts, and fork reports
//
// # Limits
//
// Every page reads a bounded number of index rows and entries (at most
// PageSize results, each section of a search apart), pages are paginated
// by the index to continue before, and the explorer renders at most
// Config.MaxConcurrent pages at once (by default on half the CPUs), at
// most Config.Rate a second on average (default DefaultRate), each
// within Config.Timeout: a request that finds no turn within Config.Wait
// is answered 503, so that readers cannot crowd out the log's appends.
//
// # Hostile content
//
// Every field shown comes from an entry that anyone holding a release or
// builder key could have written. See package webui: context-aware
// escaping, control and direction characters written out, a strict
// Content-Security-Policy without script, and downloads as attachments.
package explorer

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fwledger/fwledger/internal/webui"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/ledger"
	"github.com/fwledger/fwledger/log"
	"github.com/fwledger/fwledger/tlogpolicy"
	"github.com/fwledger/fwledger/witness"
	"github.com/prometheus/client_golang/prometheus"
	flog "github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
)

//go:embed all:pages
var pages embed.FS

// DefaultRate is how many pages the explorer starts a second, on
// average, unless Config.Rate says otherwise: at a few milliseconds of
// CPU a page, a tenth of one core or so, whatever readers ask for.
const DefaultRate = 50

// PageSize is the most results a list or a search section shows at once.
const PageSize = 25

// Config configures an Explorer.
type Config struct {
	// Ledger is the log's ledger, which the pages read.
	Ledger *ledger.Ledger
	// Witnesses is the witness policy the log publishes under; nil if
	// it publishes without witnesses.
	Witnesses *tlogpolicy.Policy
	// WitnessStatus, when set, reports what the log's witness collector
	// knows of each witness (witness.Collector.Status).
	WitnessStatus func() []witness.WitnessStatus
	// Keys are the keys the log trusts, whose names the pages show beside
	// their key IDs.
	Keys *keys.Ring
	// MaxConcurrent is the most pages rendered at once (default half of
	// GOMAXPROCS, at least 1: the explorer never has more than half the
	// CPUs, so that readers cannot starve appends). A page waits for its
	// turn at most Wait (default 1s), and is then answered 503; it may
	// take Timeout (default 5s).
	MaxConcurrent int
	Wait          time.Duration
	Timeout       time.Duration
	// Rate bounds the pages started a second, on average (default
	// DefaultRate; negative: no bound), in bursts of twice as many.
	Rate       float64
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// An Explorer serves the explorer's pages.
type Explorer struct {
	cfg      Config
	l        *ledger.Ledger
	lg       *log.Log
	verifier note.Verifier
	t        *webui.Templates
	limit    *webui.Limiter
	logger   *slog.Logger

	// cp caches the published checkpoint, parsed and verified.
	cp atomic.Pointer[checkpoint]
	// counts caches the device report counts.
	counts countsCache
}

// New returns an Explorer of cfg.Ledger's log.
func New(cfg Config) (*Explorer, error) {
	if cfg.Ledger == nil {
		return nil, errors.New("explorer: a ledger is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = max(1, runtime.GOMAXPROCS(0)/2)
	}
	if cfg.Wait <= 0 {
		cfg.Wait = time.Second
	}
	if cfg.Rate == 0 {
		cfg.Rate = DefaultRate
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	lg := cfg.Ledger.Log()
	v, err := note.NewVerifier(lg.VerifierKey())
	if err != nil {
		return nil, fmt.Errorf("explorer: the log's verifier key: %w", err)
	}
	site := webui.Site{
		Name: lg.Origin(),
		Nav: []webui.Link{
			{Path: "/", Label: "Log"},
			{Path: "/witnesses", Label: "Witnesses"},
			{Path: "/reports", Label: "Device reports"},
		},
		Search: "/search",
		Footer: "fwledger transparency log " + lg.Origin() + " · the API is under /v1/ (docs/API.md)",
	}
	sub, _ := fs.Sub(pages, "pages")
	t, err := webui.Parse(site, sub, "*.html", funcs)
	if err != nil {
		return nil, err
	}
	refused := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "fwlog_explorer_refused_total",
		Help: "Explorer pages refused with 503 because MaxConcurrent pages were being rendered for longer than a page may wait.",
	})
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(refused)
	}
	limit := webui.NewLimiter(cfg.MaxConcurrent, cfg.Wait, cfg.Timeout, refused)
	if cfg.Rate > 0 {
		limit.SetRate(cfg.Rate, int(2*cfg.Rate))
	}
	return &Explorer{
		cfg: cfg, l: cfg.Ledger, lg: lg, verifier: v, t: t, logger: cfg.Logger, limit: limit,
	}, nil
}

// apiPrefixes are the paths of the log's API (package ledger), which
// Handler passes to the API handler.
var apiPrefixes = []string{"/v1/", "/tile/", "/checkpoint", "/healthz"}

// Handler returns the explorer's pages, and api for the paths of the API.
// Any other path is an HTML 404 page.
func (e *Explorer) Handler(api http.Handler) http.Handler {
	mux := http.NewServeMux()
	for _, p := range apiPrefixes {
		mux.Handle(p, api)
	}
	mux.Handle(webui.AssetsPath, e.get(webui.AssetHandler()))
	mux.Handle("/{$}", e.get(e.page(e.home)))
	mux.Handle("/search", e.get(e.page(e.search)))
	mux.Handle("/entries/{index}", e.get(e.page(e.entry)))
	mux.Handle("/entries/{index}/raw", e.get(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.limit.Serve(w, r, http.HandlerFunc(e.raw), e.busy)
	})))
	mux.Handle("/models/{model...}", e.get(e.page(e.model)))
	mux.Handle("/witnesses", e.get(e.page(e.witnesses)))
	mux.Handle("/reports", e.get(e.page(e.reports)))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		e.t.Fail(w, r, e.logger, http.StatusNotFound, webui.Errorf(http.StatusNotFound, "there is no page at %s", clipParam(r.URL.Path)))
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isAPI(r.URL.Path) {
			webui.SetHeaders(w.Header())
		}
		mux.ServeHTTP(w, r)
	})
}

// get refuses other methods than GET and HEAD, with a 405 page and Allow.
func (e *Explorer) get(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			e.t.Fail(w, r, e.logger, http.StatusMethodNotAllowed, webui.Errorf(http.StatusMethodNotAllowed, "the explorer's pages take GET and HEAD, not %s", clipParam(r.Method)))
			return
		}
		h.ServeHTTP(w, r)
	})
}

func isAPI(path string) bool {
	for _, p := range apiPrefixes {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// A pageFunc returns the name of the page to render and its data.
type pageFunc func(r *http.Request) (page string, data any, err error)

// page serves a pageFunc under the limiter (Limiter.Serve: rendered under
// a turn, written after it).
func (e *Explorer) page(f pageFunc) http.HandlerFunc {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, data, err := f(r)
		if err == nil {
			if err = e.t.Render(w, r, http.StatusOK, name, data); err == nil {
				return
			}
		}
		e.t.Fail(w, r, e.logger, status(err), err)
	})
	return func(w http.ResponseWriter, r *http.Request) { e.limit.Serve(w, r, h, e.busy) }
}

// busy answers a request that found no turn.
func (e *Explorer) busy(w http.ResponseWriter, r *http.Request) {
	e.t.Fail(w, r, e.logger, http.StatusServiceUnavailable, webui.Errorf(http.StatusServiceUnavailable, "the explorer is busy; try again in a second"))
}

// status is the HTTP status of a page's error.
func status(err error) int {
	var we *webui.Error
	switch {
	case errors.As(err, &we):
		return we.Code
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	}
	return ledger.HTTPStatus(err)
}

// A checkpoint is the published checkpoint, verified.
type checkpoint struct {
	Note []byte
	flog.Checkpoint
	Extensions []string
	// Cosignatures are the valid cosignatures of the policy's witnesses.
	Cosignatures []tlogpolicy.Cosignature
	// QuorumErr is set when they do not meet the quorum (a log that
	// publishes with --witness-fail-open).
	QuorumErr string
}

// checkpoint returns the published checkpoint, verified under the log's
// key and the witness policy, or nil if none is published yet.
func (e *Explorer) checkpoint() (*checkpoint, error) {
	pub := e.lg.Published()
	if pub.Note == nil {
		return nil, nil
	}
	if c := e.cp.Load(); c != nil && bytes.Equal(c.Note, pub.Note) {
		return c, nil
	}
	cp, ext, _, err := flog.ParseCheckpoint(pub.Note, e.lg.Origin(), e.verifier)
	if err != nil {
		return nil, fmt.Errorf("the published checkpoint does not verify under the log's key: %w", err)
	}
	c := &checkpoint{Note: pub.Note, Checkpoint: *cp}
	for l := range strings.Lines(string(ext)) {
		c.Extensions = append(c.Extensions, strings.TrimSuffix(l, "\n"))
	}
	if p := e.cfg.Witnesses; p != nil {
		v, err := p.VerifyCheckpoint(pub.Note)
		var qe *tlogpolicy.QuorumError
		switch {
		case err == nil:
			c.Cosignatures = v.Cosignatures
		case errors.As(err, &qe):
			c.QuorumErr = err.Error()
		default:
			return nil, fmt.Errorf("the published checkpoint does not verify under the witness policy: %w", err)
		}
	}
	e.cp.Store(c)
	return c, nil
}
