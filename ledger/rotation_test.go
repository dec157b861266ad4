package ledger_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fwledger/fwledger/client"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/logclient"
	"github.com/fwledger/fwledger/provenance"
)

// rotationPolicy hands release signing from release-1 to release-2 at log
// index 2: release-1 is valid below it, release-2 from it on, and neither
// for releases created from 2027 on.
func rotationPolicy(t *testing.T) *provenance.Policy {
	pubs := fwtest.PubFiles(t, map[string]*keys.PrivateKey{"release-1": rel1, "release-2": rel2, "ci": fwtest.Builder})
	return fwtest.Policy(t, `
version: 1
keys:
  release-1: {file: release-1, validity: {untilIndex: 4}}
  release-2: {file: release-2, validity: {fromIndex: 4, until: 2027-01-01T00:00:00Z}}
  ci: {file: ci}
builders:
  - {name: ci, id: "https://ci.example.com/runner/v1", keys: [ci]}
rules:
  - name: acme
    models: ["*"]
    release: {keys: [release-1, release-2]}
    provenance: {builders: [ci]}
`, pubs)
}

// TestKeyValidityWindows rotates release keys by log index: a release
// signed by a key outside its window is refused by the log and by the
// verifier; one inside it passes both.
func TestKeyValidityWindows(t *testing.T) {
	ctx := context.Background()
	pol := rotationPolicy(t)
	// A log that knows no windows logs everything, so that the verifier
	// is tested on its own; the second log applies the policy.
	plain := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{rel1, rel2}, BuilderKeys: []*keys.PrivateKey{fwtest.Builder}, RequireProvenance: true})
	strict := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{rel1, rel2}, BuilderKeys: []*keys.PrivateKey{fwtest.Builder}, RequireProvenance: true, Policy: pol})
	type rel struct {
		name    string
		key     *keys.PrivateKey
		created time.Time
		ok      bool // under the policy, at its index
	}
	nov := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	// Each release and its provenance take two indices: releases land at
	// 1, 3, 5, 7.
	rels := []rel{
		{"release-1 at index 1", rel1, nov, true},
		{"release-2 at index 3, before its window", rel2, nov, false},
		{"release-1 at index 5, after its window", rel1, nov, false},
		{"release-2 at index 7", rel2, nov, true},
	}
	imgs := map[string][]byte{}
	for i, r := range rels {
		img, prov := ciBuild(t, r.name, 600+i)
		imgs[r.name] = img
		env := fwtest.SignRelease(t, fwtest.NewRelease(img, func(x *provenance.Release) {
			x.Provenance = []digest.Digest{sha256.Sum256(prov)}
			x.Created = r.created
		}), r.key)
		res, err := newClient(t, plain).AddAll(ctx, [][]byte{prov, env})
		if err != nil || res[1].Index != uint64(2*i+1) {
			t.Fatalf("%s on the plain log: %+v, %v", r.name, res, err)
		}
		plain.WaitSize(t, uint64(2*i+2))

		// The strict log judges by its integrated size: the same as the
		// plain log's here. Keep the two logs at the same size.
		_, err = newClient(t, strict).AddAll(ctx, [][]byte{prov, env})
		var he *logclient.HTTPError
		switch {
		case r.ok && err != nil:
			t.Errorf("%s: the strict log refused it: %v", r.name, err)
		case !r.ok && (!errors.As(err, &he) || he.Status != 403 || !strings.Contains(he.Message, "validity window")):
			t.Errorf("%s: the strict log answered %v, want 403 naming the validity window", r.name, err)
		}
		if !r.ok {
			// Fill the two indices the refused pair would have taken.
			fill, fillProv := ciBuild(t, r.name+" filler", 900+i)
			if _, err := newClient(t, strict).AddAll(ctx, [][]byte{fillProv, fwtest.SignRelease(t, fwtest.NewRelease(fill, func(x *provenance.Release) {
				x.Provenance = []digest.Digest{sha256.Sum256(fillProv)}
			}), map[bool]*keys.PrivateKey{true: rel1, false: rel2}[i < 2])}); err != nil {
				t.Fatalf("filler: %v", err)
			}
		}
		strict.WaitSize(t, uint64(2*i+2))
	}

	trust := client.Trust{Log: logVerifier(t), Policy: pol}
	for _, r := range rels {
		img := imgs[r.name]
		b, err := newClient(t, plain).Bundle(ctx, digest.Digest(sha256.Sum256(img)), -1)
		if err != nil {
			t.Fatal(err)
		}
		_, err = client.VerifyBundle(ctx, trust, b, bytes.NewReader(img))
		var se *client.SignatureError
		switch {
		case r.ok && err != nil:
			t.Errorf("%s: VerifyBundle: %v", r.name, err)
		case !r.ok && (!errors.As(err, &se) || !strings.Contains(err.Error(), "validity window")):
			t.Errorf("%s: VerifyBundle = %v, want a *SignatureError naming the validity window", r.name, err)
		}
	}

	// A time window: release-2 signs nothing created from 2027 on, even
	// in its index window.
	img, prov := ciBuild(t, "from the future", 777)
	late := fwtest.SignRelease(t, fwtest.NewRelease(img, func(x *provenance.Release) {
		x.Provenance = []digest.Digest{sha256.Sum256(prov)}
		x.Created = time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	}), rel2)
	if res := pol.Evaluate(ctx, mustParse(t, late), []*provenance.Entry{mustParse(t, prov)}, provenance.EvalOptions{IndexOf: func(digest.Digest) (uint64, bool) { return 9, true }}); res.Err() == nil || !strings.Contains(res.Err().Error(), "valid until 2027-01-01") {
		t.Errorf("a release created after its key's time window: %v", res.Err())
	}
}

func mustParse(t *testing.T, data []byte) *provenance.Entry {
	t.Helper()
	e, err := provenance.ParseEntry(data)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestBuilderKeyRotation hands a builder over from one key to another at
// log index 10: provenance counts only when signed by the key valid at
// its own index.
func TestBuilderKeyRotation(t *testing.T) {
	ctx := context.Background()
	oldCI, newCI := fwtest.Builder, fwtest.Key("builder.example.com/ci-2027")
	pubs := fwtest.PubFiles(t, map[string]*keys.PrivateKey{"release-1": rel1, "ci": oldCI, "ci-2027": newCI})
	pol := fwtest.Policy(t, `
version: 1
keys:
  release-1: {file: release-1}
  ci: {file: ci, validity: {untilIndex: 10}}
  ci-2027: {file: ci-2027, validity: {fromIndex: 10}}
builders:
  - {name: ci, id: "https://ci.example.com/runner/v1", keys: [ci, ci-2027]}
rules:
  - {name: acme, models: ["*"], release: {keys: [release-1]}, provenance: {builders: [ci]}}
`, pubs)
	img := fwtest.Image("rotated build", 500)
	for _, c := range []struct {
		name    string
		builder *keys.PrivateKey
		at      uint64
		ok      bool
	}{
		{"old key before the handover", oldCI, 9, true},
		{"old key after it", oldCI, 10, false},
		{"new key before it", newCI, 9, false},
		{"new key after it", newCI, 10, true},
	} {
		prov := build(t, img, c.builder, "https://ci.example.com/runner/v1", nil)
		rel := fwtest.SignRelease(t, fwtest.NewRelease(img, func(r *provenance.Release) { r.Provenance = []digest.Digest{sha256.Sum256(prov)} }), rel1)
		pe, re := mustParse(t, prov), mustParse(t, rel)
		res := pol.Evaluate(ctx, re, []*provenance.Entry{pe}, provenance.EvalOptions{IndexOf: func(d digest.Digest) (uint64, bool) {
			if d == pe.Digest {
				return c.at, true
			}
			return c.at + 1, true
		}})
		if err := res.Err(); (err == nil) != c.ok {
			t.Errorf("%s: %v, want ok %v", c.name, err, c.ok)
		} else if err != nil && !strings.Contains(err.Error(), "validity window") {
			t.Errorf("%s: %v, want the validity window named", c.name, err)
		}
	}
}
