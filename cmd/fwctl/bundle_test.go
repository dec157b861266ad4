package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fwledger/fwledger/api"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
)

// fakeLog is an HTTP server on 127.0.0.1 that answers GET /v1/bundles/...
// with the scripted answers in turn (the last one from then on), and
// records when each request came.
type fakeLog struct {
	*httptest.Server
	mu    sync.Mutex
	times []time.Time
}

// answer is a scripted response: a status with its Retry-After and body,
// or a dropped connection.
type answer struct {
	status     int
	retryAfter string
	body       string
	drop       bool
}

// startFakeLog starts a fakeLog; subject, if not empty, is its answer to
// the subject lookup (GET /v1/subjects/...), which otherwise is 404.
func startFakeLog(t *testing.T, subject string, answers ...answer) *fakeLog {
	f := &fakeLog{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, api.PathSubjects) && subject != "" {
			w.Write([]byte(subject))
			return
		}
		if !strings.HasPrefix(r.URL.Path, api.PathBundles) {
			http.NotFound(w, r)
			return
		}
		f.mu.Lock()
		n := len(f.times)
		f.times = append(f.times, time.Now())
		f.mu.Unlock()
		a := answers[min(n, len(answers)-1)]
		if a.drop {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		if a.retryAfter != "" {
			w.Header().Set("Retry-After", a.retryAfter)
		}
		if a.status != http.StatusOK {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(a.status)
			json.NewEncoder(w).Encode(api.Error{Message: a.body})
			return
		}
		w.Write([]byte(a.body))
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeLog) requests() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.times...)
}

// TestBundleRetries checks that fwctl bundle retries only while the log
// answers 503 (honouring Retry-After) or cannot be reached, and fails at
// once, naming the problem, on 404 and on any other answer.
func TestBundleRetries(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	const notLogged = "no release of image sha256:abab… is logged"
	provOnly := `{"digest":"` + digest + `","entries":[{"index":6,"integrated":true,"kind":"provenance","role":"rebuild"}]}`
	for _, tc := range []struct {
		desc     string
		subject  string
		answers  []answer
		wait     string
		code     int
		requests int
		gap      time.Duration // the least time between the first two requests
		msg      string        // a phrase of stderr
	}{
		{"404 fails at once", "", []answer{{status: 404, body: notLogged}}, "1m", 1, 1, 0, notLogged},
		{"404, only provenance logged, fails at once", provOnly, []answer{{status: 404, body: notLogged}}, "1m", 1, 1, 0, notLogged},
		{"400 fails at once", "", []answer{{status: 400, body: "bad index"}}, "1m", 1, 1, 0, "400 Bad Request: bad index"},
		{"403 fails at once", "", []answer{{status: 403, body: "forbidden"}}, "1m", 1, 1, 0, "403 Forbidden"},
		{"500 fails at once", "", []answer{{status: 500, body: "oops"}}, "1m", 1, 1, 0, "500 Internal Server Error"},
		{"503 then 200", "", []answer{{status: 503, body: "not yet covered"}, {status: 503, body: "not yet covered"}, {status: 200, body: "BUNDLE"}}, "1m", 0, 3, 0, "waiting for the latest release"},
		{"503 with Retry-After is honoured", "", []answer{{status: 503, retryAfter: "1", body: "not yet covered"}, {status: 200, body: "BUNDLE"}}, "1m", 0, 2, time.Second, "ready after"},
		{"Retry-After beyond --wait gives up at once", "", []answer{{status: 503, retryAfter: "3600", body: "not yet covered"}}, "5s", 1, 1, 0, "would be after --wait 5s"},
		{"dropped connections are retried", "", []answer{{drop: true}, {drop: true}, {status: 200, body: "BUNDLE"}}, "1m", 0, 3, 0, "couldn't reach the log"},
		{"503 for longer than --wait", "", []answer{{status: 503, body: "not yet covered"}}, "300ms", 1, 2, 0, "gave up"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			f := startFakeLog(t, tc.subject, tc.answers...)
			out := filepath.Join(t.TempDir(), "fw.bundle")
			start := time.Now()
			code, _, errs := fwctl(t, "bundle", "--log", f.URL, "--digest", digest, "--out", out, "--wait", tc.wait, "--poll", "20ms")
			took := time.Since(start)
			reqs := f.requests()
			if code != tc.code || !strings.Contains(errs, tc.msg) {
				t.Errorf("fwctl bundle = %d, %q; want %d with %q", code, errs, tc.code, tc.msg)
			}
			if tc.code == 1 && tc.requests == 1 && len(reqs) != 1 {
				t.Errorf("fwctl bundle made %d requests in %s; want it to fail at once", len(reqs), took)
			}
			if tc.code == 0 || tc.requests > 1 {
				if len(reqs) < tc.requests {
					t.Errorf("fwctl bundle made %d requests, want at least %d", len(reqs), tc.requests)
				}
			}
			if tc.gap > 0 && len(reqs) >= 2 && reqs[1].Sub(reqs[0]) < tc.gap {
				t.Errorf("second request %s after the first; want at least %s (Retry-After)", reqs[1].Sub(reqs[0]), tc.gap)
			}
			if tc.code == 0 {
				if got, _ := os.ReadFile(out); string(got) != "BUNDLE" {
					t.Errorf("wrote %q, want the log's answer", got)
				}
			}
		})
	}
}

// TestBundleIndexNotARelease checks that with --index, a 404 from a log
// before the 503 answer fails at once when the release pending is another.
func TestBundleIndexNotARelease(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	f := startFakeLog(t, `{"digest":"`+digest+`","entries":[{"index":7,"integrated":false,"kind":"release"}]}`,
		answer{status: 404, body: "entry 3 is not a release of image " + digest})
	code, _, errs := fwctl(t, "bundle", "--log", f.URL, "--digest", digest, "--index", "3", "--wait", "1m")
	if code != 1 || !strings.Contains(errs, "entry 3 is not a release") || len(f.requests()) != 1 {
		t.Errorf("fwctl bundle --index 3 = %d, %q after %d requests; want 1 at once", code, errs, len(f.requests()))
	}
}

// TestBundleNotLoggedRealLog checks fwctl bundle against a real log for an
// image it never logged: a 404 that fails at once, naming the problem.
func TestBundleNotLoggedRealLog(t *testing.T) {
	l := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{fwtest.Release1}})
	digest := "sha256:" + strings.Repeat("cd", 32)
	start := time.Now()
	code, _, errs := fwctl(t, "bundle", "--log", l.URL, "--digest", digest, "--wait", "1m")
	if code != 1 || !strings.Contains(errs, "no release of image "+digest+" is logged") {
		t.Errorf("fwctl bundle of an image never logged = %d, %q; want 1 naming it", code, errs)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("fwctl bundle took %s; want it to fail at once", took)
	}
}

// TestBundleFlags checks fwctl bundle's flag checks and help.
func TestBundleFlags(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--index", "-1"}, "not a log index"},
		{[]string{"--index", "x"}, "not a log index"},
		{[]string{"--wait", "0s"}, "must be positive"},
		{[]string{"--poll", "0s"}, "must be positive"},
	} {
		args := append([]string{"bundle", "--log", "http://127.0.0.1:1", "--digest", digest}, tc.args...)
		if code, _, errs := fwctl(t, args...); code != exitUsage || !strings.Contains(errs, tc.msg) {
			t.Errorf("fwctl %q = %d, %q; want %d with %q", args, code, errs, exitUsage, tc.msg)
		}
	}
	code, out, errs := fwctl(t, "bundle", "--help")
	if code != exitOK || !strings.Contains(out+errs, "-index index") || strings.Contains(out+errs, "(default -1)") {
		t.Errorf("fwctl bundle --help = %d:\n%s%s\nwant the --index flag without \"(default -1)\"", code, out, errs)
	}
}
