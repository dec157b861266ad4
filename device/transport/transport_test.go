package transport_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fwledger/fwledger/device/transport"
)

// fastOptions are options with timeouts small enough for tests.
func fastOptions() transport.Options {
	return transport.Options{
		ConnectTimeout: 2 * time.Second,
		HeaderTimeout:  2 * time.Second,
		StallTimeout:   200 * time.Millisecond,
		RequestTimeout: 5 * time.Second,
		MaxAttempts:    4,
		MinBackoff:     time.Millisecond,
		MaxBackoff:     8 * time.Millisecond,
	}
}

func newClient(t *testing.T, baseURL string, opts transport.Options) *transport.Client {
	t.Helper()
	c, err := transport.New(baseURL, opts)
	if err != nil {
		t.Fatalf("New(%q) = %v", baseURL, err)
	}
	return c
}

// quietServer returns an unstarted server whose errors (TLS handshakes the
// client refuses, aborted handlers) are not logged, counting connections.
func quietServer(h http.Handler) (*httptest.Server, *atomic.Int64) {
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	conns := new(atomic.Int64)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	return srv, conns
}

// startServer starts a server on 127.0.0.1 for the test, whose handler gets
// the number of the request, from 1; it returns its URL and the recorder of
// its requests.
func startServer(t *testing.T, h func(w http.ResponseWriter, r *http.Request, n int)) (string, *recorder) {
	rec := new(recorder)
	srv, _ := quietServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h(w, r, rec.add(r))
	}))
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL, rec
}

// A recorder counts a handler's requests and keeps their headers.
type recorder struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (r *recorder) add(req *http.Request) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req)
	return len(r.reqs)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

func (r *recorder) header(name string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var hs []string
	for _, req := range r.reqs {
		hs = append(hs, req.Header.Get(name))
	}
	return hs
}

func TestNew(t *testing.T) {
	pin := make([]byte, 32)
	for _, tc := range []struct {
		desc string
		url  string
		opts transport.Options
		want string // a phrase of the error; "" for success
	}{
		{"https", "https://log.example.com/", transport.Options{}, ""},
		{"http", "http://127.0.0.1:8080", transport.Options{}, ""},
		{"prefix", "https://log.example.com/fw", transport.Options{Pin: pin}, ""},
		{"no scheme", "log.example.com", transport.Options{}, "want http:// or https://"},
		{"ftp", "ftp://log.example.com", transport.Options{}, "want http:// or https://"},
		{"no host", "https:///x", transport.Options{}, "no host"},
		{"query", "https://log.example.com/?a=b", transport.Options{}, "want no query"},
		{"short pin", "https://log.example.com", transport.Options{Pin: pin[:31]}, "31 bytes"},
		{"pin over http", "http://log.example.com", transport.Options{Pin: pin}, "need an https://"},
		{"roots over http", "http://log.example.com", transport.Options{RootCAs: x509.NewCertPool()}, "need an https://"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := transport.New(tc.url, tc.opts)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("New(%q) = %v, want success", tc.url, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("New(%q) = %v, want an error with %q", tc.url, err, tc.want)
			}
		})
	}
}

func TestParsePin(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", true},
		{"sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU", false},  // no padding
		{"sha256/47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=", false}, // URL alphabet
		{"sha1/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", false},
		{"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", false},
		{"sha256/AAAA", false}, // 3 bytes
		{"", false},
	} {
		pin, err := transport.ParsePin(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParsePin(%q) = %v, want ok %v", tc.in, err, tc.ok)
			continue
		}
		if tc.ok && transport.FormatPin(pin) != tc.in {
			t.Errorf("FormatPin(ParsePin(%q)) = %q", tc.in, transport.FormatPin(pin))
		}
	}
}

// TestPin connects to a TLS server with a self-signed certificate under
// each combination of pin and roots, and checks that a refused server is
// not tried again.
func TestPin(t *testing.T) {
	var rec recorder
	srv, conns := quietServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		io.WriteString(w, "checkpoint")
	}))
	srv.StartTLS()
	defer srv.Close()
	good := transport.CertPin(srv.Certificate())
	bad := bytes.Repeat([]byte{1}, 32)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	otherRoots := x509.NewCertPool()
	otherRoots.AddCert(selfSigned(t))

	for _, tc := range []struct {
		desc  string
		pin   []byte
		roots *x509.CertPool
		check func(error) bool // nil for success
	}{
		{"pin alone", good, nil, nil},
		{"pin and roots", good, roots, nil},
		{"roots alone", nil, roots, nil},
		{"wrong pin", bad, nil, isPinError(good, bad)},
		{"wrong pin, good roots", bad, roots, isPinError(good, bad)},
		{"good pin, wrong roots", good, otherRoots, isCertError},
		{"no pin, system roots", nil, nil, isCertError},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			waits := transport.StubWaits(t)
			opts := fastOptions()
			opts.Pin, opts.RootCAs = tc.pin, tc.roots
			c := newClient(t, srv.URL, opts)
			before, beforeReqs := conns.Load(), rec.count()
			got, err := c.Get(context.Background(), "/checkpoint", nil, 100)
			if tc.check == nil {
				if err != nil || string(got) != "checkpoint" {
					t.Fatalf("Get = %q, %v, want \"checkpoint\"", got, err)
				}
				return
			}
			if !tc.check(err) {
				t.Fatalf("Get = %q, %v, want a different error", got, err)
			}
			if n := conns.Load() - before; n != 1 || len(waits()) != 0 {
				t.Errorf("the server saw %d connections and the client waited %v, want 1 and none: refused servers are not retried", n, waits())
			}
			if n := rec.count() - beforeReqs; n != 0 {
				t.Errorf("a refused server got %d requests", n)
			}
		})
	}
}

// selfSigned returns a new self-signed CA certificate for 127.0.0.1 (all
// httptest servers share one certificate).
func selfSigned(t *testing.T) *x509.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "other"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func isPinError(server, pin []byte) func(error) bool {
	return func(err error) bool {
		var pe *transport.PinError
		return errors.As(err, &pe) && bytes.Equal(pe.Got, server) && bytes.Equal(pe.Want, pin)
	}
}

func isCertError(err error) bool {
	var ve *tls.CertificateVerificationError
	var pe *transport.PinError
	return errors.As(err, &ve) && !errors.As(err, &pe)
}

// TestGet checks Get's answers to the responses of a handler: the body, or
// the typed error, and how many requests it took.
func TestGet(t *testing.T) {
	for _, tc := range []struct {
		desc      string
		handler   func(w http.ResponseWriter, r *http.Request, n int) // n counts from 1
		max       int64
		want      string
		check     func(error) bool
		requests  int
		wantWaits []time.Duration
	}{
		{
			desc:     "ok",
			handler:  func(w http.ResponseWriter, r *http.Request, n int) { io.WriteString(w, "bundle "+r.URL.RawQuery) },
			max:      100,
			want:     "bundle index=7&size=9",
			requests: 1,
		},
		{
			desc:     "exactly max",
			handler:  func(w http.ResponseWriter, r *http.Request, n int) { io.WriteString(w, "0123456789") },
			max:      10,
			want:     "0123456789",
			requests: 1,
		},
		{
			desc:     "over max, declared",
			handler:  func(w http.ResponseWriter, r *http.Request, n int) { io.WriteString(w, "0123456789!") },
			max:      10,
			check:    isTooLarge(10, 11),
			requests: 1,
		},
		{
			desc: "over max, chunked",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				for range 3 {
					io.WriteString(w, "0123456789")
					http.NewResponseController(w).Flush()
				}
			},
			max:      25,
			check:    isTooLarge(25, -1),
			requests: 1,
		},
		{
			desc: "404 with a JSON error",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusNotFound)
				io.WriteString(w, `{"error":"no release of image sha256:00 is logged"}`)
			},
			max:      100,
			check:    isStatus(404, "no release of image sha256:00 is logged", 0),
			requests: 1,
		},
		{
			desc: "400 with a text error",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				http.Error(w, "bad index", http.StatusBadRequest)
			},
			max:      100,
			check:    isStatus(400, "bad index", 0),
			requests: 1,
		},
		{
			desc: "error body bounded",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				w.WriteHeader(http.StatusForbidden)
				io.WriteString(w, strings.Repeat("x", 10<<10))
			},
			max:      100,
			check:    isStatus(403, strings.Repeat("x", 4<<10), 0),
			requests: 1,
		},
		{
			desc: "503 with Retry-After, then success",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 1 {
					w.Header().Set("Retry-After", "1")
					w.WriteHeader(http.StatusServiceUnavailable)
					io.WriteString(w, `{"error":"not yet covered by a checkpoint"}`)
					return
				}
				io.WriteString(w, "bundle")
			},
			max:       100,
			want:      "bundle",
			requests:  2,
			wantWaits: []time.Duration{time.Second},
		},
		{
			desc: "503 with a Retry-After over the cap",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Retry-After", "3600")
				w.WriteHeader(http.StatusServiceUnavailable)
			},
			max:      100,
			check:    isStatus(503, "", time.Hour),
			requests: 1,
		},
		{
			desc: "502, 504 and 503 to the last attempt",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				w.WriteHeader([]int{502, 504, 503, 503}[n-1])
				io.WriteString(w, `{"error":"busy"}`)
			},
			max:       100,
			check:     isStatus(503, "busy", 0),
			requests:  4,
			wantWaits: []time.Duration{time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond},
		},
		{
			desc: "500 is not retried",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				w.WriteHeader(http.StatusInternalServerError)
			},
			max:      100,
			check:    isStatus(500, "", 0),
			requests: 1,
		},
		{
			desc: "dropped connection, then success",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 1 {
					panic(http.ErrAbortHandler)
				}
				io.WriteString(w, "bundle")
			},
			max:       100,
			want:      "bundle",
			requests:  2,
			wantWaits: []time.Duration{time.Millisecond},
		},
		{
			desc: "stalled body, then success",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 1 {
					w.Header().Set("Content-Length", "6")
					io.WriteString(w, "bun")
					http.NewResponseController(w).Flush()
					<-r.Context().Done()
					return
				}
				io.WriteString(w, "bundle")
			},
			max:       100,
			want:      "bundle",
			requests:  2,
			wantWaits: []time.Duration{time.Millisecond},
		},
		{
			desc: "same-host redirect followed",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				if r.URL.Path == "/v1/bundles/x" {
					http.Redirect(w, r, "/mirror/x", http.StatusFound)
					return
				}
				io.WriteString(w, "bundle at "+r.URL.Path)
			},
			max:      100,
			want:     "bundle at /mirror/x",
			requests: 2,
		},
		{
			desc: "redirect to another host refused",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				http.Redirect(w, r, "http://mirror.invalid/x", http.StatusFound)
			},
			max:      100,
			check:    func(err error) bool { return err != nil && strings.Contains(err.Error(), "redirect refused") },
			requests: 1,
		},
		{
			desc: "redirect loop refused",
			handler: func(w http.ResponseWriter, r *http.Request, n int) {
				http.Redirect(w, r, "/v1/bundles/x", http.StatusFound)
			},
			max:      100,
			check:    func(err error) bool { return err != nil && strings.Contains(err.Error(), "more than 3 redirects") },
			requests: 4,
		},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			waits := transport.StubWaits(t)
			u, rec := startServer(t, tc.handler)
			c := newClient(t, u, fastOptions())
			got, err := c.Get(context.Background(), "/v1/bundles/x", url.Values{"index": {"7"}, "size": {"9"}}, tc.max)
			if tc.check == nil && (err != nil || string(got) != tc.want) {
				t.Errorf("Get = %q, %v, want %q", got, err, tc.want)
			}
			if tc.check != nil && !tc.check(err) {
				t.Errorf("Get = %q, %v, want a different error", got, err)
			}
			if rec.count() != tc.requests {
				t.Errorf("the server got %d requests, want %d", rec.count(), tc.requests)
			}
			if w := waits(); !equalDurations(w, tc.wantWaits) {
				t.Errorf("the client waited %v, want %v", w, tc.wantWaits)
			}
		})
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func isTooLarge(limit, declared int64) func(error) bool {
	return func(err error) bool {
		var e *transport.TooLargeError
		return errors.As(err, &e) && e.Limit == limit && e.Declared == declared
	}
}

func isStatus(code int, msg string, retryAfter time.Duration) func(error) bool {
	return func(err error) bool {
		var e *transport.StatusError
		return errors.As(err, &e) && e.Code == code && e.Message == msg && e.RetryAfter == retryAfter
	}
}

// TestPost checks what a submission sends and when it is sent again: only
// when the server cannot have acted on it.
func TestPost(t *testing.T) {
	for _, tc := range []struct {
		desc     string
		statuses []int
		requests int
		ok       bool
	}{
		{"201", []int{201}, 1, true},
		{"503 is retried", []int{503, 200}, 2, true},
		{"502 is not", []int{502, 200}, 1, false},
		{"504 is not", []int{504, 200}, 1, false},
		{"409 is not", []int{409, 200}, 1, false},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			transport.StubWaits(t)
			u, rec := startServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
				body, _ := io.ReadAll(r.Body)
				if r.Method != "POST" || r.Header.Get("Content-Type") != "application/json" || string(body) != `{"outcome":"installed"}` {
					t.Errorf("the server got %s %q with %q", r.Method, body, r.Header.Get("Content-Type"))
				}
				w.WriteHeader(tc.statuses[n-1])
				io.WriteString(w, `{"ok":true}`)
			})
			c := newClient(t, u, fastOptions())
			got, err := c.Post(context.Background(), "/v1/reports", "application/json", []byte(`{"outcome":"installed"}`), 100)
			if tc.ok && (err != nil || string(got) != `{"ok":true}`) {
				t.Errorf("Post = %q, %v, want {\"ok\":true}", got, err)
			}
			if !tc.ok && !isStatus(tc.statuses[0], `{"ok":true}`, 0)(err) {
				t.Errorf("Post = %q, %v, want a StatusError %d", got, err, tc.statuses[0])
			}
			if rec.count() != tc.requests {
				t.Errorf("the server got %d requests, want %d", rec.count(), tc.requests)
			}
		})
	}
}

// TestPostRetriedWhenNotSent posts to a port nothing listens on: the
// connection is refused, so the submission is retried.
func TestPostRetriedWhenNotSent(t *testing.T) {
	waits := transport.StubWaits(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := newClient(t, "http://"+addr, fastOptions())
	if _, err := c.Post(context.Background(), "/v1/reports", "application/json", []byte("{}"), 100); err == nil {
		t.Fatal("Post to a closed port succeeded")
	}
	if n := len(waits()); n != 3 {
		t.Errorf("the client waited %d times, want 3 (4 attempts)", n)
	}
}

// TestGetCancel cancels the context during a wait for a retry.
func TestGetCancel(t *testing.T) {
	transport.StubWaits(t)
	ctx, cancel := context.WithCancel(context.Background())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cancel()
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	c := newClient(t, srv.URL, fastOptions())
	if _, err := c.Get(ctx, "/checkpoint", nil, 100); !errors.Is(err, context.Canceled) {
		t.Errorf("Get = %v, want context.Canceled", err)
	}
}
