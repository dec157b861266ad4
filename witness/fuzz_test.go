package witness_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/fwledger/fwledger/witness"
)

// FuzzParseAddCheckpoint checks the add-checkpoint request parser: it
// never panics, what it accepts obeys the protocol's limits, and a parsed
// request marshals back to the same bytes.
func FuzzParseAddCheckpoint(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := witness.ParseAddCheckpoint(body)
		if err != nil {
			return
		}
		if len(req.Proof) > witness.MaxProofLines || len(req.Checkpoint) == 0 {
			t.Fatalf("accepted %d proof lines and a checkpoint of %d bytes", len(req.Proof), len(req.Checkpoint))
		}
		for _, h := range req.Proof {
			if len(h) != 32 {
				t.Fatalf("accepted a proof hash of %d bytes", len(h))
			}
		}
		if got := req.Marshal(); !bytes.Equal(got, body) {
			t.Fatalf("Marshal(Parse(%q)) = %q", body, got)
		}
	})
}

// FuzzParseLogList checks the witness's log list parser: it never panics,
// and every key it accepts verifies checkpoints of the origin it is listed
// under.
func FuzzParseLogList(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := witness.ParseLogList(data)
		if err != nil {
			return
		}
		if len(l.Keys()) == 0 {
			t.Fatal("accepted a list with no log")
		}
		for _, k := range l.Keys() {
			name, _, _ := strings.Cut(k, "+")
			found := false
			for _, v := range l.Verifiers(name) {
				found = found || v.Name() == name
			}
			if !found {
				t.Fatalf("key %q is not among the verifiers of %q", k, name)
			}
		}
	})
}
