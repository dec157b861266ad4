package witness_test

import (
	"bytes"
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
