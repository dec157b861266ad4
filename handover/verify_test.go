package handover_test

import (
	"crypto/sha256"
	"testing"

	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/handover"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/tlogpolicy"
)

// TestVerifyUnder: under a witness policy, a successor is taken only from
// a final checkpoint of the caller's log that the policy's quorum
// cosigned.
func TestVerifyUnder(t *testing.T) {
	p, err := tlogpolicy.Parse(fwtest.WitnessPolicy(t, fwtest.LogKey, 2, []*keys.PrivateKey{fwtest.WitnessA, fwtest.WitnessB, fwtest.WitnessC}))
	if err != nil {
		t.Fatal(err)
	}
	next, _ := fwtest.Key("example.com/testlog-2027").Public().VerifierKey()
	root := sha256.Sum256([]byte("final"))
	final := fwtest.SignCheckpoint(t, fwtest.LogKey, 9, root[:], "fwledger.dev/revocations 0 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", handover.Line(next))
	if _, _, err := handover.VerifyUnder(p, fwtest.LogKey.Name, final); err == nil {
		t.Error("a final checkpoint without cosignatures named a successor")
	}
	if _, _, err := handover.VerifyUnder(p, fwtest.LogKey.Name, fwtest.Cosign(t, final, fwtest.WitnessA)); err == nil {
		t.Error("a final checkpoint cosigned by 1 of 2 named a successor")
	}
	cp, v, err := handover.VerifyUnder(p, fwtest.LogKey.Name, fwtest.Cosign(t, final, fwtest.WitnessA, fwtest.WitnessC))
	if err != nil || cp.Size != 9 || v.Name() != "example.com/testlog-2027" {
		t.Errorf("VerifyUnder of a cosigned final checkpoint = %+v, %v, %v", cp, v, err)
	}
	if _, _, err := handover.VerifyUnder(p, "example.com/another-log", fwtest.Cosign(t, final, fwtest.WitnessA, fwtest.WitnessC)); err == nil {
		t.Error("VerifyUnder took the checkpoint of another log than the caller's")
	}
}
