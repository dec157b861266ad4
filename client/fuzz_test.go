package client_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"testing"

	"github.com/fwledger/fwledger/client"
	"github.com/fwledger/fwledger/internal/testutil"
	"github.com/fwledger/fwledger/keys"
)

// FuzzVerifyBundle feeds arbitrary bundles to the full verification path: it
// must never panic, and whatever it accepts must be the one genuine release.
func FuzzVerifyBundle(f *testing.F) {
	img := testutil.Image("fuzz image", 300)
	env := testutil.SignRelease(f, testutil.NewRelease(img, nil), rel1)
	other := testutil.SignRelease(f, testutil.NewRelease(testutil.Image("other", 10), nil), rel1)
	f.Add(testutil.OfflineBundle(f, testutil.LogKey, [][]byte{env}, 0))
	f.Add(testutil.OfflineBundle(f, testutil.LogKey, [][]byte{other, env, other}, 1))
	v, err := testutil.LogKey.Public().NoteVerifier()
	if err != nil {
		f.Fatal(err)
	}
	trust := client.Trust{Log: v, ReleaseKeys: testutil.Ring(f, rel1)}
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := client.VerifyBundle(context.Background(), trust, b, bytes.NewReader(img))
		if err != nil {
			return
		}
		if res.Release.ImageSize != uint64(len(img)) {
			t.Fatal("accepted a bundle for another image")
		}
	})
}

// FuzzVerifyCheckpoint checks checkpoint verification on arbitrary notes.
func FuzzVerifyCheckpoint(f *testing.F) {
	v, err := testutil.LogKey.Public().NoteVerifier()
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("example.com/testlog\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— example.com/testlog AAAA\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cp, err := client.VerifyCheckpoint(v, b)
		if err == nil && (cp.Origin != v.Name() || len(cp.Hash) != 32) {
			t.Fatalf("accepted a checkpoint %+v", cp)
		}
	})
}

// FuzzParseWitnessPolicy checks the tlog-policy parser: it never panics,
// and a parsed policy is met when every witness cosigns, and unmet when
// none does unless its quorum is "none".
func FuzzParseWitnessPolicy(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := client.ParseWitnessPolicy(b)
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

// FuzzWitnessPolicyVerifyCheckpoint feeds arbitrary notes to checkpoint
// verification under a 2-of-3 policy: it never panics, and what it accepts
// is signed by the log and cosigned by at least two of the witnesses.
func FuzzWitnessPolicyVerifyCheckpoint(f *testing.F) {
	ws := []*keys.PrivateKey{testutil.Key("witness-a.example.org"), testutil.Key("witness-b.example.org"), testutil.Key("witness-c.example.org")}
	p, err := client.ParseWitnessPolicy(testutil.WitnessPolicy(f, testutil.LogKey, 2, ws))
	if err != nil {
		f.Fatal(err)
	}
	root := sha256.Sum256([]byte("fuzz"))
	cp := testutil.SignCheckpoint(f, testutil.LogKey, 9, root[:])
	f.Add(testutil.Cosign(f, cp, ws[0], ws[2]))
	f.Add(testutil.Cosign(f, cp, ws[1]))
	f.Fuzz(func(t *testing.T, b []byte) {
		wc, err := p.VerifyCheckpoint(b)
		if err != nil {
			return
		}
		if len(wc.Cosignatures) < 2 {
			t.Fatalf("accepted %q with %d cosignatures", b, len(wc.Cosignatures))
		}
		v, _ := testutil.LogKey.Public().NoteVerifier()
		if _, err := client.VerifyCheckpoint(v, b); err != nil {
			t.Fatalf("accepted %q, which the log key does not verify: %v", b, err)
		}
	})
}
