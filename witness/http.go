package witness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fwledger/fwledger/internal/server"
)

// ContentTypeSize is the content type of a 409 response that carries the
// witness's latest cosigned size.
const ContentTypeSize = "text/x.tlog.size"

// NewHandler returns the witness's HTTP API:
//
//	POST /add-checkpoint           C2SP tlog-witness add-checkpoint
//	GET  /checkpoint/<origin>      the latest checkpoint cosigned for a log, with its cosignatures
//	GET  /forks                    evidence of forks, as JSON
//	GET  /                         the witness's key names and logs, as text
//	GET  /healthz                  200 ok
//
// Error responses are text/plain and name the problem, except a 409 for a
// stale old size, whose body is the latest cosigned size (text/x.tlog.size).
func NewHandler(w *Witness, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.Default()
	}
	h := &handler{w: w, logger: logger}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /add-checkpoint", h.addCheckpoint)
	mux.HandleFunc("GET /checkpoint/{origin...}", h.checkpoint)
	mux.HandleFunc("GET /history/{origin...}", h.history)
	mux.HandleFunc("GET /forks", h.forks)
	mux.HandleFunc("GET /{$}", h.info)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	return mux
}

type handler struct {
	w      *Witness
	logger *slog.Logger
}

func (h *handler) addCheckpoint(w http.ResponseWriter, r *http.Request) {
	body, done, err := server.ReadBody(w, r, MaxRequestSize)
	if err != nil {
		http.Error(w, err.Error(), server.BodyErrorStatus(w, err))
		return
	}
	defer done()
	req, err := ParseAddCheckpoint(body)
	if err != nil {
		h.w.metrics.requests.WithLabelValues("unknown", "bad_request").Inc()
	} else {
		var sigs []byte
		// SPEC: The response body MUST be a sequence of one or more note
		// signature lines, each starting with the `—` character (U+2014)
		// and ending with a newline character (U+000A).
		if sigs, err = h.w.AddCheckpoint(r.Context(), req); err == nil {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Write(sigs)
			return
		}
	}
	status, _ := classify(err)
	var conflict *ConflictError
	switch {
	case errors.As(err, &conflict):
		// SPEC: The response body MUST consist of the tree size of the
		// latest cosigned checkpoint in decimal, followed by a newline
		// (U+000A). The response MUST have a `Content-Type` of
		// `text/x.tlog.size`.
		w.Header().Set("Content-Type", ContentTypeSize)
		w.WriteHeader(http.StatusConflict)
		fmt.Fprintf(w, "%d\n", conflict.Size)
		return
	case status == http.StatusTooManyRequests:
		w.Header().Set("Retry-After", "1")
	case status == http.StatusInternalServerError:
		h.logger.Error("add-checkpoint failed", "err", err)
		http.Error(w, "internal error", status)
		return
	}
	http.Error(w, err.Error(), status)
}

func (h *handler) checkpoint(w http.ResponseWriter, r *http.Request) {
	origin := r.PathValue("origin")
	if q := r.URL.Query().Get("size"); q != "" {
		h.cosignedAt(w, r, origin, q)
		return
	}
	cp := h.w.Latest(origin)
	if cp == nil {
		http.Error(w, fmt.Sprintf("no checkpoint cosigned for %q", origin), http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(cp)
}

// cosignedAt answers GET /checkpoint/<origin>?size=N: the checkpoint of
// that size cosigned for origin, if the history keeps it.
func (h *handler) cosignedAt(w http.ResponseWriter, r *http.Request, origin, q string) {
	size, err := parseDecimal([]byte(q))
	if err != nil {
		http.Error(w, fmt.Sprintf("invalid size %q: want a decimal number", truncate([]byte(q))), http.StatusBadRequest)
		return
	}
	if _, ok := h.w.cfg.Store.CosignedRoot(origin, size); !ok {
		http.Error(w, fmt.Sprintf("no checkpoint of size %d cosigned for %q in the history", size, origin), http.StatusNotFound)
		return
	}
	st, ok, err := h.w.cfg.Store.History(r.Context(), origin, size)
	if err != nil || !ok {
		if err != nil {
			h.logger.Error("couldn't read the history", "origin", origin, "size", size, "err", err)
		}
		http.Error(w, "the checkpoint left the history; try again", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Write(st.Note)
}

// history answers GET /history/<origin>: the sizes of the checkpoints
// cosigned for origin that the witness keeps, one a line, increasing, for
// auditors to fetch each (GET /checkpoint/<origin>?size=N) and check
// every checkpoint a quorum may have cosigned, not just the latest.
func (h *handler) history(w http.ResponseWriter, r *http.Request) {
	origin := r.PathValue("origin")
	sizes := h.w.cfg.Store.CosignedSizes(origin)
	if len(sizes) == 0 {
		http.Error(w, fmt.Sprintf("no checkpoint cosigned for %q", origin), http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	for _, n := range sizes {
		fmt.Fprintf(w, "%d\n", n)
	}
}

func (h *handler) forks(w http.ResponseWriter, r *http.Request) {
	forks, err := h.w.Forks(r.Context())
	if err != nil {
		h.logger.Error("couldn't read forks", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	type fork struct {
		Origin  string    `json:"origin"`
		Size    uint64    `json:"size"`
		Held    string    `json:"held"`
		Offered string    `json:"offered"`
		Seen    time.Time `json:"seen"`
	}
	out := []fork{}
	for _, f := range forks {
		out = append(out, fork{f.Origin, f.Size, string(f.Held), string(f.Offered), f.Seen})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

func (h *handler) info(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "fwwitness: a C2SP tlog-witness (POST /add-checkpoint)\n\n")
	for _, v := range h.w.cfg.VerifierKeys {
		fmt.Fprintf(w, "cosigner %s\n", v)
	}
	for _, k := range h.w.cfg.Logs.Keys() {
		fmt.Fprintf(w, "log %s\n", k)
	}
}

// A Client is a Cosigner that talks to a witness over HTTP.
type Client struct {
	url string
	hc  *http.Client
}

// NewClient returns a client of the witness whose submission prefix is
// prefix (add-checkpoint is at prefix + "/add-checkpoint"), using hc (or
// http.DefaultClient).
func NewClient(prefix string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(prefix)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("invalid witness URL %q: want an absolute http or https URL", prefix)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{url: strings.TrimSuffix(prefix, "/") + "/add-checkpoint", hc: hc}, nil
}

// An HTTPError is a response the protocol gives no meaning to.
type HTTPError struct {
	Status int
	Body   string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("witness answered %d %s: %s", e.Status, http.StatusText(e.Status), e.Body)
}

// AddCheckpoint sends req and returns the cosignature lines, unverified,
// or the error the response's status code stands for.
func (c *Client) AddCheckpoint(ctx context.Context, req *AddCheckpointRequest) ([]byte, error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(req.Marshal()))
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(hr)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("couldn't read the witness's answer: %w", err)
	}
	msg := strings.TrimSpace(string(body))
	switch resp.StatusCode {
	case http.StatusOK:
		return body, nil
	case http.StatusConflict:
		if resp.Header.Get("Content-Type") == ContentTypeSize {
			size, err := strconv.ParseUint(msg, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("witness answered 409 with an invalid size %q", msg)
			}
			return nil, &ConflictError{Size: size}
		}
		return nil, &ForkError{Size: req.OldSize}
	case http.StatusBadRequest:
		return nil, &BadRequestError{Msg: msg}
	case http.StatusForbidden:
		return nil, fmt.Errorf("%w (witness: %s)", ErrBadSignature, msg)
	case http.StatusNotFound:
		return nil, fmt.Errorf("%w (witness: %s)", ErrUnknownLog, msg)
	case http.StatusUnprocessableEntity:
		return nil, fmt.Errorf("%w (witness: %s)", ErrInconsistent, msg)
	case http.StatusTooManyRequests:
		return nil, ErrRateLimited
	}
	return nil, &HTTPError{Status: resp.StatusCode, Body: msg}
}
