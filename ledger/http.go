package ledger

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/fwledger/fwledger/api"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/internal/server"
	"github.com/fwledger/fwledger/log"
	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/tiles"
)

// Caching headers: tiles, bundles, proofs at a fixed size and images are
// immutable; the checkpoint and anything under it change.
const (
	cacheImmutable = "public, max-age=31536000, immutable"
	cacheMutable   = "no-cache"
)

// NewHandler returns the HTTP API of l, as documented in docs/API.md.
func NewHandler(l *Ledger) http.Handler {
	h := &handler{l: l, logger: l.logger}
	mux := http.NewServeMux()
	mux.HandleFunc(api.PathCheckpoint, h.get(h.checkpoint))
	mux.HandleFunc("/tile/{level}/{index...}", h.get(h.tile))
	mux.HandleFunc("/tile/entries/{index...}", h.get(h.entryBundle))
	mux.HandleFunc(api.PathLog, h.get(h.info))
	mux.HandleFunc(api.PathEntries, h.method("POST", h.add))
	mux.HandleFunc(api.PathEntries+"/{index}", h.get(h.entry))
	mux.HandleFunc(api.PathInclusionProof, h.get(h.inclusion))
	mux.HandleFunc(api.PathConsistencyProof, h.get(h.consistency))
	mux.HandleFunc(api.PathTLogProof+"{index}", h.get(h.tlogProof))
	mux.HandleFunc(api.PathSubjects+"{digest}", h.get(h.subject))
	mux.HandleFunc(api.PathBundles+"{digest}", h.get(h.bundle))
	mux.HandleFunc(api.PathUpdates, h.get(h.update))
	mux.HandleFunc(api.PathReleases, h.get(h.releases))
	mux.HandleFunc(api.PathRevocations, h.get(h.revocations))
	mux.HandleFunc(api.PathImages+"{digest}", h.image)
	mux.HandleFunc(api.PathDeltas+"{digest}", h.delta)
	mux.HandleFunc(api.PathReports, h.deviceReports)
	mux.HandleFunc("/healthz", h.get(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, err := io.WriteString(w, "ok\n")
		return err
	}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, log.NotFoundf("no such endpoint %s", r.URL.Path))
	})
	return mux
}

type handler struct {
	l      *Ledger
	logger *slog.Logger
}

type handlerFunc func(http.ResponseWriter, *http.Request) error

// A methodError reports a request with the wrong HTTP method.
type methodError struct{ allowed string }

func (e *methodError) Error() string { return "method not allowed; use " + e.allowed }

// A badRequest reports a malformed request parameter.
type badRequest struct{ msg string }

func (e *badRequest) Error() string { return e.msg }

func (h *handler) get(f handlerFunc) http.HandlerFunc { return h.method("GET", f) }

func (h *handler) method(m string, f handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != m && !(m == "GET" && r.Method == "HEAD") {
			w.Header().Set("Allow", m)
			h.fail(w, r, &methodError{allowed: m})
			return
		}
		if err := f(w, r); err != nil {
			h.fail(w, r, err)
		}
	}
}

func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := server.BodyErrorStatus(w, err)
	if code == 0 {
		code = classify(err).status
	}
	msg := err.Error()
	var corrupt *log.CorruptError
	var se *log.StorageError
	switch {
	case errors.As(err, &se):
		h.l.log.CountStorageError(se)
		h.logger.ErrorContext(r.Context(), "storage failed", "method", r.Method, "path", r.URL.Path, "err", err, "cause", se.Err)
	case code == http.StatusInternalServerError && !errors.As(err, &corrupt):
		h.logger.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal error"
	}
	var prRate *ProbeRateError
	switch {
	case code == http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
	case errors.As(err, &prRate):
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(prRate.RetryAfter.Seconds()))))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(api.Error{Message: msg})
}

func writeJSON(w http.ResponseWriter, cache string, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", cache)
	return json.NewEncoder(w).Encode(v)
}

// parseUint parses a decimal unsigned integer parameter.
func parseUint(name, s string) (uint64, error) {
	if s == "" {
		return 0, &badRequest{msg: fmt.Sprintf("parameter %q is required", name)}
	}
	if s[0] < '0' || s[0] > '9' || (len(s) > 1 && s[0] == '0') {
		return 0, &badRequest{msg: fmt.Sprintf("parameter %q is %q: want a decimal integer without sign or leading zeroes", name, s)}
	}
	n, err := strconv.ParseUint(s, 10, 63)
	if err != nil {
		return 0, &badRequest{msg: fmt.Sprintf("parameter %q is %q: want a decimal integer below 2^63", name, s)}
	}
	return n, nil
}

func parseDigest(s string) (digest.Digest, error) {
	d, err := digest.Parse(s)
	if err != nil {
		return d, &badRequest{msg: err.Error()}
	}
	return d, nil
}

func (h *handler) checkpoint(w http.ResponseWriter, r *http.Request) error {
	cp, _ := h.l.log.Checkpoint()
	if cp == nil {
		return log.ErrNotWitnessed // only with witnesses, before the first quorum
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", cacheMutable)
	_, err := w.Write(cp)
	return err
}

func (h *handler) tile(w http.ResponseWriter, r *http.Request) error {
	t, err := tiles.ParsePath(r.URL.Path)
	if err != nil {
		return &badRequest{msg: err.Error()}
	}
	data, err := h.l.log.Tile(r.Context(), t.Level, t.Index, t.Width)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Cache-Control", cacheImmutable)
	_, err = w.Write(data)
	return err
}

func (h *handler) entryBundle(w http.ResponseWriter, r *http.Request) error {
	t, err := tiles.ParsePath(r.URL.Path)
	if err != nil {
		return &badRequest{msg: err.Error()}
	}
	gz := strings.Contains(r.Header.Get("Accept-Encoding"), "gzip")
	var data []byte
	if gz {
		data, err = h.l.log.GzipEntryBundle(r.Context(), t.Index, t.Width)
	} else {
		data, err = h.l.log.EntryBundle(r.Context(), t.Index, t.Width)
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Cache-Control", cacheImmutable)
	w.Header().Add("Vary", "Accept-Encoding")
	if gz {
		w.Header().Set("Content-Encoding", "gzip")
	}
	_, err = w.Write(data)
	return err
}

func (h *handler) info(w http.ResponseWriter, r *http.Request) error {
	_, size := h.l.log.Checkpoint()
	return writeJSON(w, cacheMutable, api.LogInfo{
		Origin:       h.l.log.Origin(),
		VerifierKey:  h.l.log.VerifierKey(),
		Size:         size,
		MaxEntrySize: api.MaxEntrySize,
		Successor:    h.l.Successor(),
	})
}

// add takes one envelope, or a JSON array of up to MaxBatch envelopes that
// are logged together or not at all. Array elements keep their exact bytes.
func (h *handler) add(w http.ResponseWriter, r *http.Request) error {
	body, done, err := server.ReadBody(w, r, api.MaxSubmissionSize)
	if err != nil {
		return err
	}
	defer done()
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return &badRequest{msg: "the request body is empty: send a DSSE envelope, or a JSON array of them"}
	}
	if trimmed[0] != '[' {
		res, err := h.l.Add(r.Context(), body)
		if err != nil {
			return err
		}
		return writeJSON(w, "no-store", api.AddResponse{Index: res.Index, LeafHash: hex.EncodeToString(res.LeafHash), Duplicate: res.Dup})
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return &badRequest{msg: fmt.Sprintf("the request body is not a JSON array of envelopes: %v", err)}
	}
	entries := make([][]byte, len(raw))
	for i := range raw {
		entries[i] = raw[i]
	}
	res, err := h.l.AddAll(r.Context(), entries)
	if err != nil {
		return err
	}
	out := make([]api.AddResponse, len(res))
	for i, a := range res {
		out[i] = api.AddResponse{Index: a.Index, LeafHash: hex.EncodeToString(a.LeafHash), Duplicate: a.Dup}
	}
	return writeJSON(w, "no-store", out)
}

func (h *handler) entry(w http.ResponseWriter, r *http.Request) error {
	index, err := parseUint("index", r.PathValue("index"))
	if err != nil {
		return err
	}
	data, err := h.l.log.Entry(r.Context(), index)
	if err != nil {
		return err
	}
	// Entry checked the bytes against the tree's leaf hash.
	e := api.Entry{Index: index, LeafHash: hex.EncodeToString(tiles.LeafHash(data)), Data: data}
	if content, err := h.l.content(data); err != nil {
		return err
	} else if len(content) != len(data) {
		e.Content = content
	}
	return writeJSON(w, cacheImmutable, e)
}

func (h *handler) inclusion(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	_, cur := h.l.log.Checkpoint()
	size := cur
	if s := q.Get("size"); s != "" {
		var err error
		if size, err = parseUint("size", s); err != nil {
			return err
		}
	}
	resp := api.InclusionProof{Size: size}
	var err error
	if resp.Index, err = parseUint("index", q.Get("index")); err != nil {
		return err
	}
	hashes, err := h.l.log.InclusionProof(r.Context(), resp.Index, size)
	if err != nil {
		return err
	}
	resp.Hashes = hashes
	return writeJSON(w, cacheImmutable, resp)
}

func (h *handler) consistency(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	from, err := parseUint("from", q.Get("from"))
	if err != nil {
		return err
	}
	to, err := parseUint("to", q.Get("to"))
	if err != nil {
		return err
	}
	hashes, err := h.l.log.ConsistencyProof(r.Context(), from, to)
	if err != nil {
		return err
	}
	if hashes == nil {
		hashes = [][]byte{}
	}
	return writeJSON(w, cacheImmutable, api.ConsistencyProof{From: from, To: to, Hashes: hashes})
}

func (h *handler) tlogProof(w http.ResponseWriter, r *http.Request) error {
	index, err := parseUint("index", r.PathValue("index"))
	if err != nil {
		return err
	}
	p, err := h.l.log.TLogProof(r.Context(), index)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", cacheMutable)
	_, err = w.Write(p)
	return err
}

// parseAfter parses the optional "after" parameter of a paginated lookup;
// -1 when absent.
func parseAfter(r *http.Request) (int64, error) {
	s := r.URL.Query().Get("after")
	if s == "" {
		return -1, nil
	}
	n, err := parseUint("after", s)
	return int64(n), err
}

func (h *handler) subject(w http.ResponseWriter, r *http.Request) error {
	d, err := parseDigest(r.PathValue("digest"))
	if err != nil {
		return err
	}
	after, err := parseAfter(r)
	if err != nil {
		return err
	}
	page, err := h.l.Subject(r.Context(), d, after, api.MaxLookupResults)
	if err != nil {
		return err
	}
	endorsed, err := h.l.Endorsed(r.Context(), d)
	if err != nil {
		return err
	}
	resp := api.Subject{Digest: d.String(), Entries: []api.SubjectEntry{}}
	for _, s := range page.Statements {
		e := api.SubjectEntry{Index: s.Index, Integrated: s.Index < page.Size, Kind: string(s.Kind), EntryDigest: s.Digest.String()}
		switch s.Kind {
		case provenance.KindRelease:
			sv := s.Release.SecurityVersion
			e.Version, e.SecurityVersion, e.Models = s.Release.Version, &sv, s.Release.Models
		case provenance.KindProvenance:
			p := s.Provenance
			e.Role = "rebuild"
			if endorsed[s.Digest] {
				e.Role = "build"
			}
			e.BuilderID, e.BuildType = p.BuilderID, p.BuildType
			e.Source, e.Ref, e.Commit = p.Source.Repo, p.Source.Ref, p.Source.Commit
		}
		resp.Entries = append(resp.Entries, e)
	}
	if page.More {
		next := uint64(page.Next)
		resp.Next = &next
	}
	return writeJSON(w, cacheMutable, resp)
}

func (h *handler) releases(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	model := q.Get("model")
	if model == "" {
		return &badRequest{msg: "parameter \"model\" is required"}
	}
	after, err := parseAfter(r)
	if err != nil {
		return err
	}
	page, err := h.l.Releases(r.Context(), model, q.Get("version"), after, api.MaxLookupResults)
	if err != nil {
		return err
	}
	resp := api.Releases{Releases: []api.Release{}}
	for _, s := range page.Statements {
		rel := s.Release
		a := api.Release{
			Index: s.Index, Integrated: s.Index < page.Size, Image: rel.Image.String(), ImageSize: rel.ImageSize,
			Models: rel.Models, Version: rel.Version, SecurityVersion: rel.SecurityVersion, Channel: rel.Channel,
			Created: rel.Created.UTC().Format(time.RFC3339), Provenance: []string{},
		}
		for _, pd := range rel.Provenance {
			a.Provenance = append(a.Provenance, pd.String())
		}
		resp.Releases = append(resp.Releases, a)
	}
	if page.More {
		next := uint64(page.Next)
		resp.Next = &next
	}
	return writeJSON(w, cacheMutable, resp)
}

func (h *handler) revocations(w http.ResponseWriter, r *http.Request) error {
	after, err := parseAfter(r)
	if err != nil {
		return err
	}
	page, err := h.l.Revocations(r.Context(), after, api.MaxLookupResults)
	if err != nil {
		return err
	}
	resp := api.Revocations{Revocations: []api.Revocation{}}
	for _, s := range page.Statements {
		rv := s.Revocation
		a := api.Revocation{
			Index: s.Index, Integrated: s.Index < page.Size, Revokes: rv.Revokes, Reason: rv.Reason,
			Created: rv.Created.UTC().Format(time.RFC3339), Entry: s.Data,
		}
		switch rv.Revokes {
		case provenance.RevokeKey:
			from := rv.FromIndex
			a.KeyID, a.FromIndex = rv.KeyID, &from
		case provenance.RevokeRelease:
			a.Image = rv.Image.String()
		}
		resp.Revocations = append(resp.Revocations, a)
	}
	if page.More {
		next := uint64(page.Next)
		resp.Next = &next
	}
	return writeJSON(w, cacheMutable, resp)
}

func (h *handler) bundle(w http.ResponseWriter, r *http.Request) error {
	d, err := parseDigest(r.PathValue("digest"))
	if err != nil {
		return err
	}
	index, err := optionalUint(r, "index")
	if err != nil {
		return err
	}
	from, err := optionalUint(r, "from")
	if err != nil {
		return err
	}
	b, err := h.l.Bundle(r.Context(), d, index, from)
	if err != nil {
		return err
	}
	return writeBundle(w, b)
}

// optionalUint parses an optional integer query parameter; -1 when absent.
func optionalUint(r *http.Request, name string) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return -1, nil
	}
	n, err := parseUint(name, s)
	return int64(n), err
}

func (h *handler) update(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	model, channel := q.Get("model"), q.Get("channel")
	if model == "" || channel == "" {
		return &badRequest{msg: "parameters \"model\" and \"channel\" are required"}
	}
	from, err := optionalUint(r, "from")
	if err != nil {
		return err
	}
	tv, err := optionalUint(r, "trust")
	if err != nil {
		return err
	}
	b, err := h.l.Update(r.Context(), model, channel, from, tv)
	if err != nil {
		return err
	}
	return writeBundle(w, b)
}

func writeBundle(w http.ResponseWriter, b []byte) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", cacheMutable)
	_, err := w.Write(b)
	return err
}

func (h *handler) image(w http.ResponseWriter, r *http.Request) {
	h.content(w, r, "", h.l.OpenImage, h.l.PutImage)
}

func (h *handler) delta(w http.ResponseWriter, r *http.Request) {
	h.content(w, r, "delta-", h.l.OpenDelta, h.l.PutDelta)
}

// content serves a content-addressed resource: GET or HEAD with range
// support, or PUT to store it. Its strong ETag is the digest in its path
// (after tag, for a resource named by another's digest), which never
// names other bytes: a stored image or delta is never replaced, so an
// interrupted download resumes with If-Range.
func (h *handler) content(w http.ResponseWriter, r *http.Request, tag string, open func(digest.Digest) (*os.File, error), put func(context.Context, digest.Digest, io.Reader) (bool, error)) {
	d, err := parseDigest(r.PathValue("digest"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	switch r.Method {
	case "GET", "HEAD":
		f, err := open(d)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		defer f.Close()
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Cache-Control", cacheImmutable)
		w.Header().Set("ETag", `"`+tag+d.String()+`"`)
		http.ServeContent(w, r, "", time.Time{}, f)
	case "PUT":
		body := server.NewUpload(w, r)
		created, err := put(r.Context(), d, body)
		if err != nil {
			if berr := body.Err(); berr != nil {
				err = berr
			}
			h.fail(w, r, err)
			return
		}
		if created {
			w.WriteHeader(http.StatusCreated)
		} else {
			w.WriteHeader(http.StatusOK) // already stored; these bytes checked
		}
	default:
		w.Header().Set("Allow", "GET, HEAD, PUT")
		h.fail(w, r, &methodError{allowed: "GET, HEAD or PUT"})
	}
}
