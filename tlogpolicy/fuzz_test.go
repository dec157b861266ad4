package tlogpolicy_test

import (
	"crypto/sha256"
	"testing"

	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/tlogpolicy"
)

// FuzzVerifyCheckpoint checks checkpoint verification on arbitrary notes.
func FuzzVerifyCheckpoint(f *testing.F) {
	v, err := fwtest.LogKey.Public().NoteVerifier()
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("example.com/testlog\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— example.com/testlog AAAA\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cp, err := tlogpolicy.VerifyCheckpoint(v, b)
		if err == nil && (cp.Origin != v.Name() || len(cp.Hash) != 32) {
			t.Fatalf("accepted a checkpoint %+v", cp)
		}
	})
}

// FuzzParse checks the tlog-policy parser: it never panics,
// and a parsed policy is met when every witness cosigns, and unmet when
// none does unless its quorum is "none".
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := tlogpolicy.Parse(b)
		if err != nil {
			return
		}
		var all []string
		for _, w := range p.Witnesses {
			all = append(all, w.Name)
		}
		if !p.Satisfied(all) {
			t.Fatalf("policy %q is not met by all of its witnesses", b)
		}
		if p.Satisfied(nil) != (p.Quorum == "none") {
			t.Fatalf("policy %q with quorum %q: Satisfied(nil) = %v", b, p.Quorum, p.Satisfied(nil))
		}
	})
}

// FuzzPolicyVerifyCheckpoint feeds arbitrary notes to checkpoint
// verification under a 2-of-3 policy: it never panics, and what it accepts
// is signed by the log and cosigned by at least two of the witnesses.
func FuzzPolicyVerifyCheckpoint(f *testing.F) {
	ws := []*keys.PrivateKey{fwtest.WitnessA, fwtest.WitnessB, fwtest.WitnessC}
	p, err := tlogpolicy.Parse(fwtest.WitnessPolicy(f, fwtest.LogKey, 2, ws))
	if err != nil {
		f.Fatal(err)
	}
	root := sha256.Sum256([]byte("fuzz"))
	cp := fwtest.SignCheckpoint(f, fwtest.LogKey, 9, root[:])
	f.Add(fwtest.Cosign(f, cp, ws[0], ws[2]))
	f.Add(fwtest.Cosign(f, cp, ws[1]))
	f.Fuzz(func(t *testing.T, b []byte) {
		wc, err := p.VerifyCheckpoint(b)
		if err != nil {
			return
		}
		if len(wc.Cosignatures) < 2 {
			t.Fatalf("accepted %q with %d cosignatures", b, len(wc.Cosignatures))
		}
		v, _ := fwtest.LogKey.Public().NoteVerifier()
		if _, err := tlogpolicy.VerifyCheckpoint(v, b); err != nil {
			t.Fatalf("accepted %q, which the log key does not verify: %v", b, err)
		}
	})
}
