// Package logclient talks to a fwledger log over its HTTP API (docs/API.md):
// submission, tiles, proofs, lookups, bundles and images. Nothing it
// returns is verified; verify with package client or package tlogpolicy.
package logclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fwledger/fwledger/api"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/internal/retryafter"
	"github.com/fwledger/fwledger/tiles"
)

// maxResponse bounds the responses the client reads (tiles, bundles, JSON).
const maxResponse = 16 << 20

// An HTTPError is an error response from the log.
type HTTPError struct {
	Status  int
	Message string
	// RetryAfter is the delay the log asked for in a Retry-After header
	// (as with 503 Service Unavailable); zero if it named none.
	RetryAfter time.Duration
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("log answered %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// A Client talks to a log's HTTP API. Nothing it returns is verified.
type Client struct {
	base *url.URL
	hc   *http.Client
}

// New returns a client for the log at baseURL, using hc (or
// http.DefaultClient). baseURL must be an http:// or https:// URL with a
// host; for a bare host:port, the error suggests the URL to give.
func New(baseURL string, hc *http.Client) (*Client, error) {
	if !strings.Contains(baseURL, "://") {
		return nil, fmt.Errorf("invalid log URL %q: a scheme is needed: give http://%s", baseURL, strings.TrimPrefix(baseURL, "//"))
	}
	u, err := url.Parse(strings.TrimSuffix(baseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("invalid log URL %q: %w", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("invalid log URL %q: want http:// or https://", baseURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("invalid log URL %q: no host", baseURL)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: u, hc: hc}, nil
}

func (c *Client) do(ctx context.Context, method, path string, body io.Reader, contentType string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, fmt.Errorf("couldn't read the response to %s %s: %w", method, path, err)
	}
	if len(data) > maxResponse {
		return nil, fmt.Errorf("the response to %s %s is larger than %d bytes", method, path, maxResponse)
	}
	if resp.StatusCode/100 != 2 {
		var e api.Error
		if json.Unmarshal(data, &e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(data))
		}
		return nil, &HTTPError{Status: resp.StatusCode, Message: e.Message, RetryAfter: retryafter.Parse(resp.Header.Get("Retry-After"), time.Now())}
	}
	return data, nil
}

func (c *Client) getJSON(ctx context.Context, path string, v any) error {
	data, err := c.do(ctx, "GET", path, nil, "")
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("malformed response to GET %s: %w", path, err)
	}
	return nil
}

// IsNotFound reports whether err is a 404 from the log.
func IsNotFound(err error) bool {
	var he *HTTPError
	return errors.As(err, &he) && he.Status == http.StatusNotFound
}

// Info returns GET /v1/log.
func (c *Client) Info(ctx context.Context) (api.LogInfo, error) {
	var info api.LogInfo
	return info, c.getJSON(ctx, api.PathLog, &info)
}

// Add submits an entry (a DSSE envelope, exact bytes).
func (c *Client) Add(ctx context.Context, entry []byte) (api.AddResponse, error) {
	var r api.AddResponse
	data, err := c.do(ctx, "POST", api.PathEntries, bytes.NewReader(entry), "application/json")
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("malformed response to POST %s: %w", api.PathEntries, err)
	}
	return r, nil
}

// AddAll submits several entries to be logged together or not at all.
func (c *Client) AddAll(ctx context.Context, entries [][]byte) ([]api.AddResponse, error) {
	var body bytes.Buffer
	body.WriteByte('[')
	for i, e := range entries {
		if i > 0 {
			body.WriteByte(',')
		}
		body.Write(e)
	}
	body.WriteByte(']')
	var r []api.AddResponse
	data, err := c.do(ctx, "POST", api.PathEntries, &body, "application/json")
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("malformed response to POST %s: %w", api.PathEntries, err)
	}
	if len(r) != len(entries) {
		return nil, fmt.Errorf("the log answered %d results for %d entries", len(r), len(entries))
	}
	return r, nil
}

// Checkpoint returns the log's latest signed checkpoint (unverified).
func (c *Client) Checkpoint(ctx context.Context) ([]byte, error) {
	return c.do(ctx, "GET", api.PathCheckpoint, nil, "")
}

// Tile returns a tile (width 0 for a full tile).
func (c *Client) Tile(ctx context.Context, level, index uint64, width int) ([]byte, error) {
	return c.do(ctx, "GET", "/"+tiles.Path(level, index, width), nil, "")
}

// EntryBundle returns an entry bundle (width 0 for a full bundle).
func (c *Client) EntryBundle(ctx context.Context, index uint64, width int) ([]byte, error) {
	return c.do(ctx, "GET", "/"+tiles.EntriesPath(index, width), nil, "")
}

// Entry returns GET /v1/entries/<index>.
func (c *Client) Entry(ctx context.Context, index uint64) (api.Entry, error) {
	var e api.Entry
	return e, c.getJSON(ctx, api.PathEntries+"/"+strconv.FormatUint(index, 10), &e)
}

// InclusionProof returns the inclusion proof of index in the tree of size.
func (c *Client) InclusionProof(ctx context.Context, index, size uint64) (api.InclusionProof, error) {
	var p api.InclusionProof
	return p, c.getJSON(ctx, fmt.Sprintf("%s?index=%d&size=%d", api.PathInclusionProof, index, size), &p)
}

// ConsistencyProof returns the consistency proof between two tree sizes.
func (c *Client) ConsistencyProof(ctx context.Context, from, to uint64) (api.ConsistencyProof, error) {
	var p api.ConsistencyProof
	return p, c.getJSON(ctx, fmt.Sprintf("%s?from=%d&to=%d", api.PathConsistencyProof, from, to), &p)
}

// TLogProof returns the C2SP tlog-proof of entry index.
func (c *Client) TLogProof(ctx context.Context, index uint64) ([]byte, error) {
	return c.do(ctx, "GET", api.PathTLogProof+strconv.FormatUint(index, 10), nil, "")
}

// maxSubjectEntries bounds the entries Subject collects over its pages.
const maxSubjectEntries = 10000

// Subject returns the entries logged about digest d, following the pages
// of the lookup (at most 10,000 entries).
func (c *Client) Subject(ctx context.Context, d digest.Digest) (api.Subject, error) {
	var all api.Subject
	path := api.PathSubjects + d.String()
	for {
		var s api.Subject
		if err := c.getJSON(ctx, path, &s); err != nil {
			return all, err
		}
		all.Digest = s.Digest
		all.Entries = append(all.Entries, s.Entries...)
		if s.Next == nil {
			return all, nil
		}
		if len(all.Entries) >= maxSubjectEntries {
			return all, fmt.Errorf("more than %d entries are logged about %s", maxSubjectEntries, d)
		}
		path = fmt.Sprintf("%s%s?after=%d", api.PathSubjects, d, *s.Next)
	}
}

// Revocations returns the logged revocations after index after (-1 for
// the start), following the pages of the list (at most MaxRevocations).
func (c *Client) Revocations(ctx context.Context, after int64) ([]api.Revocation, error) {
	var all []api.Revocation
	for {
		path := api.PathRevocations
		if after >= 0 {
			path += "?after=" + strconv.FormatInt(after, 10)
		}
		var r api.Revocations
		if err := c.getJSON(ctx, path, &r); err != nil {
			return all, err
		}
		all = append(all, r.Revocations...)
		if r.Next == nil {
			return all, nil
		}
		if len(all) > maxRevocations {
			return all, fmt.Errorf("the log lists more than %d revocations", maxRevocations)
		}
		after = int64(*r.Next)
	}
}

// maxRevocations bounds what Revocations reads: the most a log holds.
const maxRevocations = 256

// Bundle returns the offline proof bundle for the release of image d; for
// the release at index if index >= 0. The log answers 503 Service
// Unavailable (an [HTTPError] with RetryAfter) while the release is logged
// but not yet covered by a published checkpoint, and 404 Not Found when no
// such release is logged.
func (c *Client) Bundle(ctx context.Context, d digest.Digest, index int64) ([]byte, error) {
	return c.BundleFrom(ctx, d, index, -1)
}

// BundleFrom is Bundle with, if from is non-negative, the consistency
// proof from the tree size from to the bundle's checkpoint.
func (c *Client) BundleFrom(ctx context.Context, d digest.Digest, index, from int64) ([]byte, error) {
	q := url.Values{}
	if index >= 0 {
		q.Set("index", strconv.FormatInt(index, 10))
	}
	if from >= 0 {
		q.Set("from", strconv.FormatInt(from, 10))
	}
	p := api.PathBundles + d.String()
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	return c.do(ctx, "GET", p, nil, "")
}

// Update fetches the bundle of the newest eligible release for a hardware
// model on a channel, with the consistency proof from tree size from if
// from is non-negative, and the device trust files of versions above
// trustVersion if it is non-negative (GET /v1/updates).
func (c *Client) Update(ctx context.Context, model, channel string, from, trustVersion int64) ([]byte, error) {
	q := url.Values{"model": {model}, "channel": {channel}}
	if from >= 0 {
		q.Set("from", strconv.FormatInt(from, 10))
	}
	if trustVersion >= 0 {
		q.Set("trust", strconv.FormatInt(trustVersion, 10))
	}
	return c.do(ctx, "GET", api.PathUpdates+"?"+q.Encode(), nil, "")
}

// PutImage uploads the image with digest d.
func (c *Client) PutImage(ctx context.Context, d digest.Digest, image io.Reader) error {
	_, err := c.do(ctx, "PUT", api.PathImages+d.String(), image, "application/octet-stream")
	return err
}

// PutDelta uploads a delta update (package delta) to the image with
// digest target, from the base image its release names.
func (c *Client) PutDelta(ctx context.Context, target digest.Digest, d io.Reader) error {
	_, err := c.do(ctx, "PUT", api.PathDeltas+target.String(), d, "application/octet-stream")
	return err
}

// Image opens the stored image with digest d. The caller closes it and must
// check the digest of what it reads.
func (c *Client) Image(ctx context.Context, d digest.Digest) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.base.String()+api.PathImages+d.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		var e api.Error
		if json.Unmarshal(data, &e) != nil {
			e.Message = strings.TrimSpace(string(data))
		}
		return nil, &HTTPError{Status: resp.StatusCode, Message: e.Message}
	}
	return resp.Body, nil
}
