package logclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fwledger/fwledger/api"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/logclient"
)

// TestNewLogClient checks which log URLs are accepted, and that the
// refusal of a URL without a scheme says which URL to give.
func TestNewLogClient(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want string // a phrase of the error; "" for success
	}{
		{"http://127.0.0.1:8080", ""},
		{"https://log.example.com/", ""},
		{"http://127.0.0.1:8080/prefix", ""},
		{"127.0.0.1:8080", "a scheme is needed: give http://127.0.0.1:8080"},
		{"localhost:8080", "a scheme is needed: give http://localhost:8080"},
		{"log.example.com", "a scheme is needed: give http://log.example.com"},
		{"ftp://log.example.com", "want http:// or https://"},
		{"http://", "no host"},
		{"http:///path", "no host"},
	} {
		_, err := logclient.New(tc.url, nil)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("NewLogClient(%q) = %v, want success", tc.url, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("NewLogClient(%q) = %v, want an error with %q", tc.url, err, tc.want)
		}
	}
}

// TestHTTPErrorRetryAfter checks that an error response carries the delay
// of its Retry-After header, in seconds or as a date.
func TestHTTPErrorRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		header  string
		least   time.Duration
		most    time.Duration
		status  int
		message string
	}{
		{"", 0, 0, http.StatusServiceUnavailable, "not yet"},
		{"3", 3 * time.Second, 3 * time.Second, http.StatusServiceUnavailable, "not yet"},
		{time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat), 80 * time.Second, 90 * time.Second, http.StatusServiceUnavailable, "not yet"},
		{"soon", 0, 0, http.StatusServiceUnavailable, "not yet"},
		{"-1", 0, 0, http.StatusServiceUnavailable, "not yet"},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tc.header != "" {
				w.Header().Set("Retry-After", tc.header)
			}
			w.WriteHeader(tc.status)
			json.NewEncoder(w).Encode(api.Error{Message: tc.message})
		}))
		lc, err := logclient.New(srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = lc.Bundle(context.Background(), digest.Digest{}, -1)
		srv.Close()
		var he *logclient.HTTPError
		if !errors.As(err, &he) || he.Status != tc.status || he.Message != tc.message {
			t.Errorf("Retry-After %q: Bundle = %v, want an HTTPError %d %q", tc.header, err, tc.status, tc.message)
			continue
		}
		if he.RetryAfter < tc.least || he.RetryAfter > tc.most {
			t.Errorf("Retry-After %q: RetryAfter = %s, want between %s and %s", tc.header, he.RetryAfter, tc.least, tc.most)
		}
	}
}
