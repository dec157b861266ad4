package client_test

import (
	"strings"
	"testing"

	"github.com/fwledger/fwledger/client"
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
		_, err := client.NewLogClient(tc.url, nil)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("NewLogClient(%q) = %v, want success", tc.url, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("NewLogClient(%q) = %v, want an error with %q", tc.url, err, tc.want)
		}
	}
}
