// Package web serves an auditor's own pages (fwctl audit --http): its
// status and its alerts, newest first, a page for each alert with its
// evidence shown readably, and the evidence as a download that fwctl audit
// verify-evidence checks offline.
//
// # Pages
//
//	/                             the status, and a page of alerts (?before=ID, ?after=ID)
//	/alerts/{id}                  one alert (id: Alert.ID, its row in the audit database)
//	/alerts/{id}/evidence.json    the alert as fwctl audit alerts --json prints it, as an attachment
//	/assets/style.<hash>.css      the stylesheet (package webui)
//
// The pages are read-only: GET and HEAD, anything else is 405. Each
// request reads at most one page of alerts ([PageSize]) and runs under a
// [webui.Limiter].
//
// # Hostile content
//
// Alerts are about a log that may be hostile, and carry what it served:
// every value is escaped for its context by html/template, free text is
// passed through webui.Reveal (RevealText for checkpoints), and data is
// isolated in <bdi>. No page has script or inline style (package webui's
// Content-Security-Policy forbids both).
package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/fwledger/fwledger/audit"
	"github.com/fwledger/fwledger/internal/webui"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/transparency-dev/merkle/rfc6962"
)

//go:embed pages/*.html
var pages embed.FS

// PageSize is the number of alerts a page lists.
const PageSize = 50

// maxEntries is the number of evidence entries an alert's page lists; the
// download holds them all.
const maxEntries = 500

// A Source is what the pages show: an *audit.Auditor. Its methods may be
// called concurrently, also while the auditor steps.
type Source interface {
	Status(ctx context.Context) (*audit.Status, error)
	// AlertsBefore returns at most n alerts with IDs below before (the
	// newest if before is 0), newest first; AlertsAfter at most n with
	// IDs above after, oldest first.
	AlertsBefore(ctx context.Context, before int64, n int) ([]*audit.Alert, error)
	AlertsAfter(ctx context.Context, after int64, n int) ([]*audit.Alert, error)
	// Alert returns the alert of an ID, or an error that wraps
	// audit.ErrNoAlert.
	Alert(ctx context.Context, id int64) (*audit.Alert, error)
}

// Config configures the pages.
type Config struct {
	// Logger receives the errors of pages that failed (default:
	// discarded).
	Logger *slog.Logger
	// MaxInFlight is the number of requests served at once (default 8),
	// and Timeout how long each may take (default 5 s); more at once are
	// answered 503. Refused, if set, counts them.
	MaxInFlight int
	Timeout     time.Duration
	Refused     prometheus.Counter
}

// A server serves the pages.
type server struct {
	src     Source
	t       *webui.Templates
	log     *slog.Logger
	limiter *webui.Limiter
	mux     *http.ServeMux
}

// Site is the frame of the auditor's pages.
var Site = webui.Site{
	Name:   "fwledger auditor",
	Nav:    []webui.Link{{Path: "/", Label: "Status and alerts"}},
	Footer: "fwctl audit: an independent auditor of an fwledger log",
}

// New returns the handler of the auditor's pages, showing src.
func New(src Source, cfg Config) (http.Handler, error) {
	t, err := webui.Parse(Site, pages, "pages/*.html", template.FuncMap{"severity": severityClass})
	if err != nil {
		return nil, fmt.Errorf("audit/web: the page templates: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 8
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	s := &server{src: src, t: t, log: cfg.Logger, limiter: webui.NewLimiter(cfg.MaxInFlight, 0, cfg.Timeout, cfg.Refused), mux: http.NewServeMux()}
	s.mux.HandleFunc("/{$}", s.status)
	s.mux.HandleFunc("/alerts/{id}", s.alert)
	s.mux.HandleFunc("/alerts/{id}/evidence.json", s.evidence)
	s.mux.Handle(webui.AssetsPath, webui.AssetHandler())
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, webui.Errorf(http.StatusNotFound, "there is no page at this address"))
	})
	return s, nil
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Also on what the mux answers itself (a redirect to a clean path).
	webui.SetHeaders(w.Header())
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		s.fail(w, r, webui.Errorf(http.StatusMethodNotAllowed, "these pages are read-only: only GET and HEAD"))
		return
	}
	// Made under the limiter's turn, sent after it (Limiter.Serve).
	s.limiter.Serve(w, r, s.mux, func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, webui.Errorf(http.StatusServiceUnavailable, "too many pages at once: try again in a second"))
	})
}

// fail answers with the error page of err.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, audit.ErrNoAlert):
		err = webui.Errorf(http.StatusNotFound, "there is no alert %s", r.PathValue("id"))
	case errors.Is(err, context.DeadlineExceeded) && r.Context().Err() != nil:
		err = webui.Errorf(http.StatusServiceUnavailable, "the page took too long: try again")
	}
	s.t.Fail(w, r, s.log, http.StatusInternalServerError, err)
}

// errBadID is the error of parseID.
var errBadID = errors.New("not an alert ID (alert IDs are whole numbers from 1)")

// parseID parses an alert ID as the pages write it, in a path or a query
// parameter: a positive decimal number that fits in an int64, with no
// sign, space or leading zero, so that each alert has one address.
func parseID(s string) (int64, error) {
	if s == "" || len(s) > 19 || s[0] == '0' {
		return 0, errBadID
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errBadID
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, errBadID
	}
	return n, nil
}

// statusView is the data of the status page.
type statusView struct {
	Status *audit.Status
	// Checkpoint is Status.Checkpoint as text.
	Checkpoint string
	// Alerts are the page's alerts, newest first; Paged says the page is
	// not the newest (a cursor was given).
	Alerts []*audit.Alert
	Paged  bool
	// Newer and Older are the queries of the pages next to this one
	// ("" if there is none).
	Newer, Older string
	PageSize     int
}

func (s *server) status(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	var before, after int64
	var err error
	switch b, a := q.Get("before"), q.Get("after"); {
	case b != "" && a != "":
		s.fail(w, r, webui.Errorf(http.StatusBadRequest, "give ?before= or ?after=, not both"))
		return
	case b != "":
		if before, err = parseID(b); err != nil {
			s.fail(w, r, webui.Errorf(http.StatusBadRequest, "?before=: %v", err))
			return
		}
	case a != "":
		if after, err = parseID(a); err != nil {
			s.fail(w, r, webui.Errorf(http.StatusBadRequest, "?after=: %v", err))
			return
		}
	}
	st, err := s.src.Status(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := &statusView{Status: st, Checkpoint: string(st.Checkpoint), Paged: before > 0 || after > 0, PageSize: PageSize}
	if after > 0 {
		v.Alerts, err = s.src.AlertsAfter(ctx, after, PageSize)
		for i, j := 0, len(v.Alerts)-1; i < j; i, j = i+1, j-1 {
			v.Alerts[i], v.Alerts[j] = v.Alerts[j], v.Alerts[i]
		}
	} else {
		v.Alerts, err = s.src.AlertsBefore(ctx, before, PageSize)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if n := len(v.Alerts); n > 0 {
		if newest := v.Alerts[0].ID; newest < st.LastAlert {
			v.Newer = "?after=" + strconv.FormatInt(newest, 10)
		}
		if oldest := v.Alerts[n-1].ID; oldest > st.FirstAlert {
			v.Older = "?before=" + strconv.FormatInt(oldest, 10)
		}
	}
	s.render(w, r, "status", v)
}

// alertView is the data of an alert's page.
type alertView struct {
	Alert *audit.Alert
	// Index is the alert's entry index, as text ("" if none).
	Index string
	// Checkpoints are the evidence's checkpoints as text.
	Checkpoints []string
	// Entries are the first maxEntries of the evidence's entries, of
	// AllEntries.
	Entries    []entryView
	AllEntries int
	// Proof is the evidence's consistency proof, in hex.
	Proof []string
	// Probe is the canary's probe, if any.
	Probe *blobView
	// Download is the path of the evidence download, and
	// File its name.
	Download, File string
	Size           int
}

type entryView struct {
	Index    uint64
	Size     int
	LeafHash string
	Proof    []string
	Content  *blobView
}

// A blobView is bytes shown by their size and SHA-256.
type blobView struct {
	Size   int
	SHA256 string
}

func (s *server) alert(w http.ResponseWriter, r *http.Request) {
	al, err := s.lookup(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// Not the download's size: that would encode all of the evidence,
	// which a hostile log makes as large as it likes, for every view.
	v := &alertView{Alert: al, Download: fmt.Sprintf("/alerts/%d/evidence.json", al.ID), File: evidenceFile(al)}
	if al.Index != nil {
		v.Index = strconv.FormatUint(*al.Index, 10)
	}
	ev := al.Evidence
	for _, c := range ev.Checkpoints {
		v.Checkpoints = append(v.Checkpoints, string(c))
	}
	v.AllEntries = len(ev.Entries)
	for _, e := range ev.Entries[:min(len(ev.Entries), maxEntries)] {
		ew := entryView{Index: e.Index, Size: len(e.Data), LeafHash: hex.EncodeToString(rfc6962.DefaultHasher.HashLeaf(e.Data)), Proof: hexAll(e.Proof)}
		if e.Content != nil {
			ew.Content = blob(e.Content)
		}
		v.Entries = append(v.Entries, ew)
	}
	v.Proof = hexAll(ev.Proof)
	if ev.Probe != nil {
		v.Probe = blob(ev.Probe)
	}
	s.render(w, r, "alert", v)
}

// evidence sends the alert as fwctl audit alerts --json prints it (one
// JSON object and a newline), which fwctl audit verify-evidence reads.
func (s *server) evidence(w http.ResponseWriter, r *http.Request) {
	al, err := s.lookup(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	data, err := MarshalAlert(al)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	webui.Attachment(w, r, evidenceFile(al), "application/json", data)
}

// lookup returns the alert the request's path names.
func (s *server) lookup(r *http.Request) (*audit.Alert, error) {
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		return nil, webui.Errorf(http.StatusNotFound, "there is no alert %s: %v", webui.Clip(24, r.PathValue("id")), err)
	}
	return s.src.Alert(r.Context(), id)
}

// MarshalAlert returns an alert's JSON as fwctl audit alerts --json (and
// fwctl audit, on stdout) writes it: one object and a newline.
func MarshalAlert(al *audit.Alert) ([]byte, error) {
	var b bytes.Buffer
	if err := json.NewEncoder(&b).Encode(al); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func evidenceFile(al *audit.Alert) string { return fmt.Sprintf("alert-%d.json", al.ID) }

func (s *server) render(w http.ResponseWriter, r *http.Request, page string, data any) {
	if err := s.t.Render(w, r, http.StatusOK, page, data); err != nil {
		s.fail(w, r, err)
	}
}

func hexAll(bs [][]byte) []string {
	var out []string
	for _, b := range bs {
		out = append(out, hex.EncodeToString(b))
	}
	return out
}

func blob(b []byte) *blobView {
	h := sha256.Sum256(b)
	return &blobView{Size: len(b), SHA256: hex.EncodeToString(h[:])}
}

// severityClass is the stylesheet's class of a severity's badge.
func severityClass(severity string) string {
	switch severity {
	case audit.Critical:
		return "bad"
	case audit.Warning:
		return "warn"
	}
	return ""
}
