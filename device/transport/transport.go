// Package transport is how the device agent fwdevice fetches from a fwledger
// log server: small documents (proof bundles, checkpoints) with
// [Client.Get], small submissions (outcome reports) with [Client.Post], and
// firmware images and deltas, up to many GiB, with [Client.Download]. It
// uses the standard library only and builds without cgo.
//
// # What it guarantees, and what it does not
//
// The transport authenticates nothing that the device relies on: the device
// verifies every byte it fetches with the pure verifier (package client),
// which never depends on how the bytes came. What the transport guarantees
// is that fetching is bounded and robust:
//
//   - Memory: Get and Post hold at most max bytes of a response (4 KiB of an
//     error response); Download streams through one fixed 64 KiB buffer.
//   - Disk: Download never writes more than the declared size; a server that
//     sends more is cut off with a [TooLargeError].
//   - Time: connecting, waiting for the response headers, and each pause
//     between bytes of a body are bounded (Options.ConnectTimeout,
//     HeaderTimeout, StallTimeout), and so is a whole Get or Post attempt
//     (Options.RequestTimeout). A whole download is bounded only by the
//     caller's context: a server that keeps sending slowly keeps it going.
//   - Retries: at most Options.MaxAttempts requests per call, with capped,
//     jittered exponential backoff, only after transient failures (see
//     [Client.Get]); a Retry-After longer than Options.MaxRetryAfter ends
//     the call with the [StatusError] that carries it.
//   - Redirects: at most 3, and only to the same scheme and host: the
//     server the device is configured with is the one it talks to (a pin
//     names that server's key). Other redirects fail and are not retried.
//
// It does not guarantee that a downloaded file is the one the device wants:
// that is the verifier's digest check. In particular, a resumed download
// is stitched from several responses; the If-Range validator (see
// [Client.Download]) makes the server restart from zero when the file
// changed, but a server that sends no validator (fwlog's content-addressed
// /v1/images/sha256:<hex>, which needs none, sends none today) or lies about
// it can make a file whose digest is wrong. The caller then deletes it and
// downloads again.
//
// # Server authentication
//
// HTTPS is the norm; plain http:// is allowed, since the verifier does not
// rely on the transport. Options.Pin, the SHA-256 of the server
// certificate's SubjectPublicKeyInfo ([ParsePin], [CertPin]), authenticates
// the server so that a machine in the middle cannot make the device
// download gigabytes the verifier will reject. With a pin and no
// Options.RootCAs the pin alone authenticates the server: a self-signed
// certificate works, and neither the name nor the validity period is
// checked (a device's clock may be wrong). With both, the chain must verify
// under RootCAs and the leaf must match the pin. A mismatch is a
// [PinError], never retried. With neither, the system's roots verify the
// server as usual. Proxies named by the environment are not used.
package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"time"

	"github.com/fwledger/fwledger/internal/retryafter"
)

// Options configures a [Client]. Zero values take the defaults named.
type Options struct {
	// Pin is the SHA-256 of the server certificate's SubjectPublicKeyInfo
	// (32 bytes; see ParsePin), checked on every TLS connection. Nil for
	// none. It needs an https:// base URL.
	Pin []byte
	// RootCAs, when set, verify the server's certificate chain and name.
	// Without them and without a Pin, the system's roots do.
	RootCAs *x509.CertPool

	// ConnectTimeout bounds connecting, TLS handshake included (10s).
	ConnectTimeout time.Duration
	// HeaderTimeout bounds the wait for the response headers once the
	// request is sent (30s).
	HeaderTimeout time.Duration
	// StallTimeout bounds the wait for each next byte of a response body
	// (30s). A stalled attempt is abandoned and retried.
	StallTimeout time.Duration
	// RequestTimeout bounds each attempt of a Get or Post, from sending
	// the request to the last byte of the response (60s). Downloads have
	// no such bound: the caller's context is theirs.
	RequestTimeout time.Duration

	// MaxAttempts is the most requests one call makes (4); 1 for no retry.
	MaxAttempts int
	// MinBackoff and MaxBackoff bound the wait before a retry (500ms and
	// 30s): MinBackoff doubling at each retry up to MaxBackoff, of which a
	// random half to all is waited, so that a fleet of devices spreads out.
	MinBackoff, MaxBackoff time.Duration
	// MaxRetryAfter is the longest Retry-After honoured (2m). A server
	// asking for a longer one ends the call with its StatusError, whose
	// RetryAfter tells the caller when to come back.
	MaxRetryAfter time.Duration

	// UserAgent is the User-Agent of every request ("fwledger-transport").
	UserAgent string
	// Progress, when set, is called by Download as bytes arrive, with the
	// bytes held so far and the size of the file. done grows, and goes back
	// only when the download restarts from zero; it ends at total when the
	// download succeeds.
	Progress func(done, total int64)
}

// A Client fetches from one log server. It is safe for concurrent use, but
// two concurrent downloads to the same file are not.
type Client struct {
	base *url.URL
	hc   *http.Client
	opts Options
}

const (
	maxRedirects     = 3
	maxErrorBody     = 4 << 10
	maxHeaderBytes   = 64 << 10
	defaultUserAgent = "fwledger-transport"
)

// New returns a client for the server at baseURL, an http:// or https://
// URL with a host and, optionally, a path prefix that every request path
// is appended to.
func New(baseURL string, opts Options) (*Client, error) {
	u, err := url.Parse(strings.TrimSuffix(baseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("invalid server URL %q: %w", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("invalid server URL %q: want http:// or https://", baseURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("invalid server URL %q: no host", baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("invalid server URL %q: want no query, fragment or user", baseURL)
	}
	if opts.Pin != nil && len(opts.Pin) != 32 {
		return nil, fmt.Errorf("invalid pin: %d bytes, want a SHA-256 (32)", len(opts.Pin))
	}
	if u.Scheme == "http" && (opts.Pin != nil || opts.RootCAs != nil) {
		return nil, fmt.Errorf("a pin or roots need an https:// server URL, not %q", baseURL)
	}
	setDefault(&opts.ConnectTimeout, 10*time.Second)
	setDefault(&opts.HeaderTimeout, 30*time.Second)
	setDefault(&opts.StallTimeout, 30*time.Second)
	setDefault(&opts.RequestTimeout, 60*time.Second)
	setDefault(&opts.MaxAttempts, 4)
	setDefault(&opts.MinBackoff, 500*time.Millisecond)
	setDefault(&opts.MaxBackoff, 30*time.Second)
	setDefault(&opts.MaxRetryAfter, 2*time.Minute)
	setDefault(&opts.UserAgent, defaultUserAgent)
	opts.MaxBackoff = max(opts.MaxBackoff, opts.MinBackoff)

	dialer := &net.Dialer{Timeout: opts.ConnectTimeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		TLSClientConfig:        tlsConfig(opts.Pin, opts.RootCAs),
		TLSHandshakeTimeout:    opts.ConnectTimeout,
		ResponseHeaderTimeout:  opts.HeaderTimeout,
		MaxResponseHeaderBytes: maxHeaderBytes,
		// Compression would defeat the byte counts of limits and ranges.
		DisableCompression:  true,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     90 * time.Second,
	}
	hc := &http.Client{Transport: tr, CheckRedirect: sameOrigin}
	return &Client{base: u, hc: hc, opts: opts}, nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// sameOrigin follows at most maxRedirects redirects, to the scheme and host
// of the first request only.
func sameOrigin(req *http.Request, via []*http.Request) error {
	first := via[0].URL
	if len(via) > maxRedirects {
		return fmt.Errorf("%w: more than %d redirects", errRedirect, maxRedirects)
	}
	if req.URL.Scheme != first.Scheme || req.URL.Host != first.Host {
		return fmt.Errorf("%w: from %s://%s to %s://%s", errRedirect, first.Scheme, first.Host, req.URL.Scheme, req.URL.Host)
	}
	return nil
}

// url returns the URL of path (which starts with "/") and query.
func (c *Client) url(path string, query url.Values) (string, error) {
	if !strings.HasPrefix(path, "/") {
		return "", fmt.Errorf("invalid path %q: want one starting with /", path)
	}
	u := *c.base
	u.Path = c.base.Path + path
	u.RawPath = ""
	u.RawQuery = query.Encode()
	return u.String(), nil
}

// Get fetches path with query and returns the body of a 2xx response, of at
// most max bytes ([TooLargeError] beyond). A non-2xx response is a
// [StatusError].
//
// Transient failures are retried, up to Options.MaxAttempts requests: a
// connection that could not be made or dropped, a [StallError], a timeout,
// and 502, 503 and 504 (after their Retry-After if longer than the
// backoff). Other statuses (4xx, 500), a [PinError], a certificate that does not
// verify, a refused redirect and a [TooLargeError] are not. After the last
// attempt the last error is returned, wrapped.
func (c *Client) Get(ctx context.Context, path string, query url.Values, max int64) ([]byte, error) {
	return c.call(ctx, http.MethodGet, path, query, "", nil, max)
}

// Post sends body with contentType to path and returns the body of a 2xx
// response, of at most max bytes, like [Client.Get]. Since a POST may not be
// idempotent, it is retried only when it was not sent (the connection
// could not be made) or the server refused it with 503; a submission the
// server may have received is not sent again.
func (c *Client) Post(ctx context.Context, path string, contentType string, body []byte, max int64) ([]byte, error) {
	return c.call(ctx, http.MethodPost, path, nil, contentType, body, max)
}

func (c *Client) call(ctx context.Context, method, path string, query url.Values, contentType string, body []byte, max int64) ([]byte, error) {
	if max < 0 {
		return nil, fmt.Errorf("%s %s: negative limit %d", method, path, max)
	}
	u, err := c.url(path, query)
	if err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		data, sent, err := c.once(ctx, method, u, contentType, body, max)
		if err == nil {
			return data, nil
		}
		if method == http.MethodPost && sent && !isStatus(err, http.StatusServiceUnavailable) {
			return nil, fmt.Errorf("%s %s: %w", method, path, err)
		}
		wait, ok := c.backoff(err, attempt)
		if !ok {
			if attempt > 1 {
				return nil, fmt.Errorf("%s %s: gave up after %d attempts: %w", method, path, attempt, err)
			}
			return nil, fmt.Errorf("%s %s: %w", method, path, err)
		}
		if serr := sleep(ctx, wait); serr != nil {
			return nil, fmt.Errorf("%s %s: %w (after %d attempts, the last failed: %v)", method, path, serr, attempt, err)
		}
	}
}

// once makes one attempt of a Get or Post. sent reports whether the request
// was written to a connection.
func (c *Client) once(ctx context.Context, method, u, contentType string, body []byte, max int64) (data []byte, sent bool, err error) {
	actx, cancel := context.WithTimeoutCause(ctx, c.opts.RequestTimeout, transient(fmt.Errorf("no complete response within %s", c.opts.RequestTimeout)))
	defer cancel()
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { sent = true }}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(actx, trace), method, u, rd)
	if err != nil {
		return nil, false, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, body2, err := c.send(ctx, actx, req)
	if err != nil {
		return nil, sent, err
	}
	defer body2.Close()
	if resp.StatusCode/100 != 2 {
		return nil, sent, c.statusError(ctx, actx, resp, body2)
	}
	if resp.ContentLength > max {
		return nil, sent, &TooLargeError{Limit: max, Declared: resp.ContentLength}
	}
	data, err = io.ReadAll(io.LimitReader(body2, limitPlusOne(max)))
	if err != nil {
		return nil, sent, readError(ctx, actx, err)
	}
	if int64(len(data)) > max {
		return nil, sent, &TooLargeError{Limit: max, Declared: resp.ContentLength}
	}
	return data, sent, nil
}

// send sends req, made with actx (a child of the caller's ctx that ends
// with a cause) or a child of actx, and returns the response with its body watched for
// stalls. The caller closes the body.
func (c *Client) send(ctx, actx context.Context, req *http.Request) (*http.Response, io.ReadCloser, error) {
	sctx, stall := context.WithCancelCause(req.Context())
	req = req.WithContext(sctx)
	req.Header.Set("User-Agent", c.opts.UserAgent)
	resp, err := c.hc.Do(req)
	if err != nil {
		stall(nil)
		return nil, nil, requestError(ctx, actx, err)
	}
	d := c.opts.StallTimeout
	t := time.AfterFunc(d, func() { stall(transient(&StallError{Timeout: d})) })
	return resp, &watchedBody{body: resp.Body, t: t, d: d, sctx: sctx, stop: stall}, nil
}

// A watchedBody is a response body that a timer cancels when no byte
// arrives for d; each byte read resets the timer.
type watchedBody struct {
	body io.ReadCloser
	t    *time.Timer
	d    time.Duration
	sctx context.Context
	stop context.CancelCauseFunc
}

func (w *watchedBody) Read(p []byte) (int, error) {
	n, err := w.body.Read(p)
	if n > 0 {
		w.t.Reset(w.d)
	}
	if err != nil && err != io.EOF {
		if cause := context.Cause(w.sctx); cause != nil {
			err = cause
		}
	}
	return n, err
}

func (w *watchedBody) Close() error {
	w.t.Stop()
	err := w.body.Close()
	w.stop(nil)
	return err
}

// requestError classifies an error of http.Client.Do: the caller's
// context's cause if it ended; the attempt's cause (a timeout) if that
// ended; otherwise transient unless it is a pin, certificate or redirect
// error, which another attempt would meet again.
func requestError(ctx, actx context.Context, err error) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if actx.Err() != nil {
		return context.Cause(actx)
	}
	var (
		pin      *PinError
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		record   tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &pin), errors.As(err, &verify), errors.As(err, &unknown), errors.As(err, &hostname),
		errors.As(err, &invalid), errors.As(err, &record), errors.Is(err, errRedirect):
		return err
	}
	return transient(err)
}

// readError classifies an error reading a response body: the caller's
// context's cause if it ended, otherwise transient (a dropped connection,
// a stall, a timeout).
func readError(ctx, actx context.Context, err error) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if isTransient(err) {
		return err
	}
	if actx.Err() != nil {
		return context.Cause(actx)
	}
	return transient(err)
}

// statusError returns the StatusError of a non-2xx response, transient for
// 502, 503 and 504.
func (c *Client) statusError(ctx, actx context.Context, resp *http.Response, body io.Reader) error {
	data, err := io.ReadAll(io.LimitReader(body, maxErrorBody))
	if err != nil && ctx.Err() != nil {
		return context.Cause(ctx)
	}
	var e struct {
		Error string `json:"error"`
	}
	msg := strings.ToValidUTF8(strings.TrimSpace(string(data)), "\uFFFD")
	if json.Unmarshal(data, &e) == nil && e.Error != "" {
		msg = e.Error
	}
	se := &StatusError{Code: resp.StatusCode, Message: msg, RetryAfter: retryafter.Parse(resp.Header.Get("Retry-After"), timeNow())}
	switch resp.StatusCode {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return transient(se)
	}
	return se
}

// limitPlusOne returns n+1, the bytes to read to tell whether there are
// more than n, or n if n+1 would overflow.
func limitPlusOne(n int64) int64 {
	if n == math.MaxInt64 {
		return n
	}
	return n + 1
}

func isStatus(err error, code int) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == code
}

// backoff returns how long to wait before attempt+1 after err, or false if
// there is to be none: err is not transient, attempt was the last, or the
// server asked for a wait longer than MaxRetryAfter.
func (c *Client) backoff(err error, attempt int) (time.Duration, bool) {
	if attempt >= c.opts.MaxAttempts || !isTransient(err) {
		return 0, false
	}
	d := c.opts.MaxBackoff
	if attempt-1 < 32 {
		d = min(d, c.opts.MinBackoff<<(attempt-1))
	}
	d = jitter(d)
	var se *StatusError
	if errors.As(err, &se) && se.RetryAfter > 0 {
		if se.RetryAfter > c.opts.MaxRetryAfter {
			return 0, false
		}
		d = max(d, se.RetryAfter)
	}
	return d, true
}

// Time and randomness, replaced by tests.
var (
	timeNow = time.Now
	// jitter returns a random duration between d/2 and d.
	jitter = func(d time.Duration) time.Duration { return d/2 + rand.N(d/2+1) }
	// sleep waits for d or until ctx ends.
	sleep = func(ctx context.Context, d time.Duration) error {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
)
