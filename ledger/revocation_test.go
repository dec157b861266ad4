package ledger_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fwledger/fwledger/bundle"
	"github.com/fwledger/fwledger/client"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/logclient"
	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/revocation"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

var (
	sec1 = fwtest.Security1
	sec2 = fwtest.Security2
	sec3 = fwtest.Security3
)

func startRevocableLog(t *testing.T, dir string) (*fwtest.Log, *logclient.Client) {
	l := fwtest.StartLog(t, fwtest.LogOptions{
		Dir: dir, ReleaseKeys: []*keys.PrivateKey{rel1, rel2},
		RevocationKeys: []*keys.PrivateKey{sec1, sec2, sec3}, RevocationThreshold: 2,
	})
	return l, newClient(t, l)
}

func revokeKey(t *testing.T, k *keys.PrivateKey, from uint64, signers ...*keys.PrivateKey) []byte {
	return fwtest.SignRevocation(t, &provenance.Revocation{
		Revokes: provenance.RevokeKey, KeyID: fwtest.KeyID(t, k), FromIndex: from,
		Reason: "compromised", Created: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC),
	}, signers...)
}

func revokeImage(t *testing.T, img []byte, signers ...*keys.PrivateKey) []byte {
	return fwtest.SignRevocation(t, &provenance.Revocation{
		Revokes: provenance.RevokeRelease, Image: sha256.Sum256(img), ImageName: "fw.bin",
		Reason: "bricks rev B boards", Created: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC),
	}, signers...)
}

// addStatus submits env and returns the HTTP status of a refusal (0 for
// success) and the error.
func addStatus(t *testing.T, lc *logclient.Client, env []byte) (int, error) {
	t.Helper()
	_, err := lc.Add(context.Background(), env)
	var he *logclient.HTTPError
	if errors.As(err, &he) {
		return he.Status, err
	}
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	return 0, nil
}

func revocationTrust(t *testing.T) client.Trust {
	return client.Trust{
		Log: logVerifier(t), ReleaseKeys: fwtest.Ring(t, rel1, rel2),
		RevocationKeys: fwtest.Ring(t, sec1, sec2, sec3), RevocationThreshold: 2,
	}
}

// TestRevokedKey is DESIGN.md threat 9: a release key stolen at index 1,
// with which the thief logged a release there, is revoked from index 1.
// The release logged before stays valid; the thief's release is refused
// by verifiers, and the log refuses new releases the key alone signs.
func TestRevokedKey(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, lc := startRevocableLog(t, dir)
	imgA, imgB, imgC := fwtest.Image("a", 1000), fwtest.Image("b", 1001), fwtest.Image("c", 1002)
	envA := fwtest.SignRelease(t, fwtest.NewRelease(imgA, nil), rel1)
	envB := fwtest.SignRelease(t, fwtest.NewRelease(imgB, nil), rel1)
	for _, env := range [][]byte{envA, envB} {
		if _, err := addStatus(t, lc, env); err != nil {
			t.Fatal(err)
		}
	}

	// One revocation key of the two needed: refused, nothing logged.
	if code, err := addStatus(t, lc, revokeKey(t, rel1, 1, sec1)); code != http.StatusForbidden {
		t.Fatalf("a revocation signed by 1 of 2 revocation keys: status %d (%v), want 403", code, err)
	}
	// A release key cannot revoke.
	if code, err := addStatus(t, lc, revokeKey(t, rel2, 0, rel1, rel2)); code != http.StatusForbidden {
		t.Fatalf("a revocation signed by release keys: status %d (%v), want 403", code, err)
	}
	if _, seq, _ := l.Store.Tree(ctx); seq != 2 {
		t.Fatalf("%d entries sequenced after refused revocations, want 2", seq)
	}
	res, err := lc.Add(ctx, revokeKey(t, rel1, 1, sec2, sec1))
	if err != nil {
		t.Fatalf("a revocation signed by 2 of 2 (in the other order): %v", err)
	}
	if res.Index != 2 {
		t.Fatalf("revocation logged at %d, want 2", res.Index)
	}

	// The log refuses a new release rel1 alone signs, and takes one rel2
	// signs too: its threshold is 1, and rel2 is not revoked.
	envC := fwtest.SignRelease(t, fwtest.NewRelease(imgC, nil), rel1)
	code, err := addStatus(t, lc, envC)
	if code != http.StatusForbidden || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("a release signed by the revoked key: status %d (%v), want 403 naming the revocation", code, err)
	}
	if _, err := lc.Add(ctx, fwtest.SignRelease(t, fwtest.NewRelease(imgC, nil), rel1, rel2)); err != nil {
		t.Fatalf("a release signed by the revoked key and a valid one: %v", err)
	}
	l.WaitSize(t, 4)

	// The checkpoint commits to the one revocation.
	cp, _ := l.Log.Checkpoint()
	c, err := revocation.FromCheckpoint(cp)
	if err != nil || c.Count != 1 {
		t.Fatalf("checkpoint commitment = %+v, %v; want 1 revocation", c, err)
	}
	revs, err := lc.Revocations(ctx, -1)
	if err != nil || len(revs) != 1 || revs[0].Index != 2 || revs[0].KeyID != fwtest.KeyID(t, rel1) || *revs[0].FromIndex != 1 || !revs[0].Integrated {
		t.Fatalf("/v1/revocations = %+v, %v", revs, err)
	}

	trust := revocationTrust(t)
	bundleOf := func(img []byte) []byte {
		b, err := lc.Bundle(ctx, digest.Digest(sha256.Sum256(img)), -1)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// The release before the revocation's index verifies.
	v, err := client.VerifyBundle(ctx, trust, bundleOf(imgA), bytes.NewReader(imgA))
	if err != nil {
		t.Fatalf("the release logged before the key's revocation index: %v", err)
	}
	if v.Revocations != 1 || v.Applied != 1 {
		t.Errorf("Verified carries %d revocations, applied %d; want 1, 1", v.Revocations, v.Applied)
	}
	// The thief's release, at the revocation index, is refused.
	_, err = client.VerifyBundle(ctx, trust, bundleOf(imgB), bytes.NewReader(imgB))
	var re *client.RevokedError
	if !errors.As(err, &re) || re.By.Index != 2 || re.By.Revocation.KeyID != fwtest.KeyID(t, rel1) {
		t.Fatalf("the release signed by the revoked key at the revocation index: %v, want a *RevokedError", err)
	}
	// Without the revocation keys, the verifier does not apply it.
	if _, err := client.VerifyBundle(ctx, client.Trust{Log: logVerifier(t), ReleaseKeys: fwtest.Ring(t, rel1)}, bundleOf(imgB), bytes.NewReader(imgB)); err != nil {
		t.Errorf("without revocation keys: %v", err)
	}

	// A restarted log still applies the revocation.
	l.Stop(t)
	l, lc = startRevocableLog(t, dir)
	envD := fwtest.SignRelease(t, fwtest.NewRelease(fwtest.Image("d", 1003), nil), rel1)
	if code, err := addStatus(t, lc, envD); code != http.StatusForbidden {
		t.Fatalf("after a restart, a release signed by the revoked key: status %d (%v), want 403", code, err)
	}
}

// TestRevokedRelease revokes an image: verifiers refuse its release, and
// the log refuses a new release of it.
func TestRevokedRelease(t *testing.T) {
	ctx := context.Background()
	l, lc := startRevocableLog(t, t.TempDir())
	img := fwtest.Image("a", 1000)
	if _, err := lc.Add(ctx, fwtest.SignRelease(t, fwtest.NewRelease(img, nil), rel1)); err != nil {
		t.Fatal(err)
	}
	if _, err := lc.Add(ctx, revokeImage(t, img, sec1, sec3)); err != nil {
		t.Fatal(err)
	}
	again := fwtest.SignRelease(t, fwtest.NewRelease(img, func(r *provenance.Release) { r.Version = "1.4.1" }), rel2)
	if code, err := addStatus(t, lc, again); code != http.StatusForbidden {
		t.Fatalf("a new release of a revoked image: status %d (%v), want 403", code, err)
	}
	l.WaitSize(t, 2)
	b, err := lc.Bundle(ctx, digest.Digest(sha256.Sum256(img)), -1)
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.VerifyBundle(ctx, revocationTrust(t), b, bytes.NewReader(img))
	var re *client.RevokedError
	if !errors.As(err, &re) || re.By.Revocation.Revokes != provenance.RevokeRelease {
		t.Fatalf("VerifyBundle of a revoked release: %v, want a *RevokedError", err)
	}
}

// TestHiddenRevocation is DESIGN.md threat 13: a bundle assembled without
// a logged revocation, or with one changed, is refused, by a verifier with
// revocation keys and by one without.
func TestHiddenRevocation(t *testing.T) {
	ctx := context.Background()
	l, lc := startRevocableLog(t, t.TempDir())
	imgA, imgB := fwtest.Image("a", 1000), fwtest.Image("b", 1001)
	for _, env := range [][]byte{
		fwtest.SignRelease(t, fwtest.NewRelease(imgA, nil), rel1),
		revokeImage(t, imgB, sec1, sec2),
		revokeKey(t, rel2, 0, sec1, sec2),
		fwtest.SignRelease(t, fwtest.NewRelease(imgB, nil), rel1),
	} {
		if _, err := lc.Add(ctx, env); err != nil && !strings.Contains(err.Error(), "revoked") {
			t.Fatal(err)
		}
	}
	l.WaitSize(t, 3)
	b, err := lc.Bundle(ctx, digest.Digest(sha256.Sum256(imgA)), -1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.VerifyBundle(ctx, revocationTrust(t), b, bytes.NewReader(imgA)); err != nil {
		t.Fatalf("the bundle as the log made it: %v", err)
	}
	edit := func(f func(revs []any) []any) []byte {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		revs, _ := m["revocations"].([]any)
		if out := f(revs); out == nil {
			delete(m, "revocations")
		} else {
			m["revocations"] = out
		}
		data, _ := json.Marshal(m)
		return data
	}
	for name, tampered := range map[string][]byte{
		"one left out":  edit(func(r []any) []any { return r[1:] }),
		"all left out":  edit(func([]any) []any { return nil }),
		"one twice":     edit(func(r []any) []any { return []any{r[0], r[0], r[1]} }),
		"order swapped": edit(func(r []any) []any { return []any{r[1], r[0]} }),
	} {
		for _, trust := range []client.Trust{revocationTrust(t), {Log: logVerifier(t), ReleaseKeys: fwtest.Ring(t, rel1)}} {
			_, err := client.VerifyBundle(ctx, trust, tampered, bytes.NewReader(imgA))
			var re *client.RevocationError
			var be *client.BundleError
			if !errors.As(err, &re) && !errors.As(err, &be) {
				t.Errorf("%s (revocation keys: %v): %v, want a *RevocationError or *BundleError", name, trust.RevocationKeys != nil, err)
			}
		}
	}
}

// TestRevocationCap fills the log with the most revocations a bundle
// carries, each as large as its fields allow: one more is refused (409),
// a logged one sent again still gets its index, and a bundle carrying
// them all verifies, within the bundle's size limit.
func TestRevocationCap(t *testing.T) {
	if testing.Short() {
		t.Skip("logs 1,024 revocations")
	}
	ctx := context.Background()
	l, lc := startRevocableLog(t, t.TempDir())
	img := fwtest.Image("capped", 1000)
	if _, err := lc.Add(ctx, fwtest.SignRelease(t, fwtest.NewRelease(img, nil), rel1)); err != nil {
		t.Fatal(err)
	}
	revoke := func(i int) []byte {
		return fwtest.SignRevocation(t, &provenance.Revocation{
			Revokes: provenance.RevokeRelease, Image: sha256.Sum256([]byte(fmt.Sprint("other ", i))),
			ImageName: strings.Repeat("n", provenance.MaxRevocationNameLength), Reason: strings.Repeat("r", provenance.MaxReasonLength),
			Created: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC),
		}, sec1, sec2)
	}
	for i := 0; i < revocation.MaxRevocations; i += 16 {
		var batch [][]byte
		for j := i; j < i+16; j++ {
			batch = append(batch, revoke(j))
		}
		if _, err := lc.AddAll(ctx, batch); err != nil {
			t.Fatalf("revocations %d to %d: %v", i, i+15, err)
		}
	}
	if code, err := addStatus(t, lc, revoke(revocation.MaxRevocations)); code != http.StatusConflict {
		t.Fatalf("revocation %d: status %d (%v), want 409", revocation.MaxRevocations+1, code, err)
	}
	if res, err := lc.Add(ctx, revoke(7)); err != nil || !res.Duplicate || res.Index != 8 {
		t.Errorf("a logged revocation sent again at the cap: %+v, %v; want the duplicate's index 8", res, err)
	}
	l.WaitSize(t, 1+revocation.MaxRevocations)
	b, err := lc.Bundle(ctx, digest.Digest(sha256.Sum256(img)), -1)
	if err != nil {
		t.Fatal(err)
	}
	v, err := client.VerifyBundle(ctx, revocationTrust(t), b, bytes.NewReader(img))
	if err != nil || v.Revocations != revocation.MaxRevocations || v.Applied != revocation.MaxRevocations {
		t.Fatalf("VerifyBundle with %d revocations (%d bytes) = %+v, %v", revocation.MaxRevocations, len(b), v, err)
	}
	if len(b) > bundle.MaxSize/2 {
		t.Errorf("a bundle with the most revocations is %d bytes, more than half the bundle limit", len(b))
	}
	t.Logf("a bundle carrying %d revocations is %d bytes", revocation.MaxRevocations, len(b))
}

// TestRevocationsAlone: a revocation is submitted on its own, so that no
// entry of a submission is judged without a revocation logged with it.
func TestRevocationsAlone(t *testing.T) {
	l, lc := startRevocableLog(t, t.TempDir())
	rel := fwtest.SignRelease(t, fwtest.NewRelease(fwtest.Image("x", 100), nil), rel1)
	for _, batch := range [][][]byte{{revokeKey(t, rel1, 0, sec1, sec2), rel}, {rel, revokeKey(t, rel1, 0, sec1, sec2)}} {
		_, err := lc.AddAll(context.Background(), batch)
		var he *logclient.HTTPError
		if !errors.As(err, &he) || he.Status != http.StatusBadRequest || !strings.Contains(he.Message, "on their own") {
			t.Errorf("a revocation and a release in one submission: %v, want 400", err)
		}
	}
	if _, seq, _ := l.Store.Tree(context.Background()); seq != 0 {
		t.Errorf("%d entries sequenced, want 0", seq)
	}
}

// TestRevokedBuilderKey: a revoked builder key's provenance is refused by
// the log from then on, and by a verifier at or after the revocation's
// index, while provenance it signed before stays valid.
func TestRevokedBuilderKey(t *testing.T) {
	ctx := context.Background()
	l := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{rel1}, BuilderKeys: []*keys.PrivateKey{fwtest.Builder, fwtest.Rebuilder},
		RequireProvenance: true, RevocationKeys: []*keys.PrivateKey{sec1, sec2}, RevocationThreshold: 2})
	lc := newClient(t, l)
	imgA, provA := ciBuild(t, "before", 600)
	imgB, provB := ciBuild(t, "after", 601)
	if _, err := lc.AddAll(ctx, [][]byte{provA, releaseOf(t, imgA, provA)}); err != nil { // 0, 1
		t.Fatal(err)
	}
	if _, err := lc.AddAll(ctx, [][]byte{provB, releaseOf(t, imgB, provB)}); err != nil { // 2, 3
		t.Fatal(err)
	}
	if _, err := lc.Add(ctx, revokeKey(t, fwtest.Builder, 2, sec1, sec2)); err != nil { // 4
		t.Fatal(err)
	}
	imgC, provC := ciBuild(t, "later", 602)
	_, err := lc.AddAll(ctx, [][]byte{provC, releaseOf(t, imgC, provC)})
	var he *logclient.HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusForbidden || !strings.Contains(he.Message, "revoked") {
		t.Errorf("provenance by the revoked builder key: %v, want 403 naming the revocation", err)
	}
	l.WaitSize(t, 5)
	trust := client.Trust{Log: logVerifier(t), ReleaseKeys: fwtest.Ring(t, rel1), BuilderKeys: fwtest.Ring(t, fwtest.Builder), RequireProvenance: true,
		RevocationKeys: fwtest.Ring(t, sec1, sec2), RevocationThreshold: 2}
	for _, c := range []struct {
		img []byte
		ok  bool
	}{{imgA, true}, {imgB, false}} {
		b, err := lc.Bundle(ctx, digest.Digest(sha256.Sum256(c.img)), -1)
		if err != nil {
			t.Fatal(err)
		}
		_, err = client.VerifyBundle(ctx, trust, b, bytes.NewReader(c.img))
		var pe *client.ProvenanceError
		if c.ok && err != nil || !c.ok && !errors.As(err, &pe) {
			t.Errorf("provenance at index %d: VerifyBundle = %v, want ok %v or a *ProvenanceError", map[bool]int{true: 0, false: 2}[c.ok], err, c.ok)
		}
	}
}

// TestPolicyRevocationSection: a verifier given a policy applies the
// revocations its revocation section names, without more configuration;
// revocation keys given twice are refused.
func TestPolicyRevocationSection(t *testing.T) {
	ctx := context.Background()
	l, lc := startRevocableLog(t, t.TempDir())
	img := fwtest.Image("a", 1000)
	if _, err := lc.Add(ctx, fwtest.SignRelease(t, fwtest.NewRelease(img, nil), rel1)); err != nil {
		t.Fatal(err)
	}
	if _, err := lc.Add(ctx, revokeImage(t, img, sec1, sec2)); err != nil {
		t.Fatal(err)
	}
	pol := provenance.KeyPolicy(provenance.KeyTrust{ReleaseKeys: fwtest.Ring(t, rel1)})
	pol.RevocationKeys, pol.RevocationThreshold = fwtest.Ring(t, sec1, sec2), 2
	l.WaitSize(t, 2)
	b, err := lc.Bundle(ctx, digest.Digest(sha256.Sum256(img)), -1)
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.VerifyBundle(ctx, client.Trust{Log: logVerifier(t), Policy: pol}, b, bytes.NewReader(img))
	var re *client.RevokedError
	if !errors.As(err, &re) {
		t.Errorf("with the policy's revocation keys: %v, want a *RevokedError", err)
	}
	_, err = client.VerifyBundle(ctx, client.Trust{Log: logVerifier(t), Policy: pol, RevocationKeys: fwtest.Ring(t, sec3)}, b, bytes.NewReader(img))
	var ve *client.RevocationError
	if !errors.As(err, &ve) {
		t.Errorf("revocation keys in the trust and the policy: %v, want a *RevocationError", err)
	}
}

// TestRetroactiveRevocationAndDuplicates: a key revoked from an index
// below the revocation's own changes who signed entries logged already.
// A release signed by the two keys a threshold-2 device still trusts is
// then new, not a duplicate of an entry that carries one valid signature
// once the revoked key is left out.
func TestRetroactiveRevocationAndDuplicates(t *testing.T) {
	ctx := context.Background()
	l := fwtest.StartLog(t, fwtest.LogOptions{
		ReleaseKeys: []*keys.PrivateKey{rel1, rel2, fwtest.Release3}, RevocationKeys: []*keys.PrivateKey{sec1, sec2, sec3}, RevocationThreshold: 2,
	})
	lc := newClient(t, l)
	img := fwtest.Image("threshold-2", 1000)
	r := fwtest.NewRelease(img, nil)
	e12, e13, e23 := fwtest.SignRelease(t, r, rel1, rel2), fwtest.SignRelease(t, r, rel1, fwtest.Release3), fwtest.SignRelease(t, r, rel2, fwtest.Release3)
	for _, env := range [][]byte{e12, e13, e13} { // the replay reads the signers of 0 and 1
		if _, err := lc.Add(ctx, env); err != nil {
			t.Fatal(err)
		}
	}
	if res, err := lc.Add(ctx, revokeKey(t, rel1, 0, sec1, sec2)); err != nil || res.Index != 2 {
		t.Fatalf("revocation: %+v, %v", res, err)
	}
	res, err := lc.Add(ctx, e23)
	if err != nil || res.Duplicate || res.Index != 3 {
		t.Fatalf("the release signed by the two unrevoked keys: %+v, %v; want it logged at 3", res, err)
	}
	l.WaitSize(t, 4)
	b, err := lc.Bundle(ctx, digest.Digest(sha256.Sum256(img)), 3)
	if err != nil {
		t.Fatal(err)
	}
	trust := client.Trust{Log: logVerifier(t), ReleaseKeys: fwtest.Ring(t, rel1, rel2, fwtest.Release3), ReleaseThreshold: 2,
		RevocationKeys: fwtest.Ring(t, sec1, sec2, sec3), RevocationThreshold: 2}
	if _, err := client.VerifyBundle(ctx, trust, b, bytes.NewReader(img)); err != nil {
		t.Errorf("a threshold-2 device, the new entry: %v", err)
	}
}

// TestRevocationPaddingRefused: nobody on a revocation's way to the log
// can pad it: the log takes only signatures by its revocation keys, each
// valid, and at most 4096 bytes.
func TestRevocationPaddingRefused(t *testing.T) {
	_, lc := startRevocableLog(t, t.TempDir())
	clean := revokeKey(t, rel1, 0, sec1, sec2)
	env, err := provenance.ParseEnvelope(clean)
	if err != nil {
		t.Fatal(err)
	}
	pad := func(sigs ...dsse.Signature) []byte {
		e := env.Envelope
		e.Signatures = append(append([]dsse.Signature{}, e.Signatures...), sigs...)
		out, err := provenance.CanonicalEnvelope(&e)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	junk := env.Signatures[0].Sig
	for name, padded := range map[string][]byte{
		"a signature by an unknown key":       pad(dsse.Signature{KeyID: strings.Repeat("ab", 32), Sig: junk}),
		"a bad signature by a revocation key": pad(dsse.Signature{KeyID: fwtest.KeyID(t, sec3), Sig: junk}),
		"many signatures":                     pad(slices.Repeat([]dsse.Signature{{KeyID: "x", Sig: junk}}, 30)...),
	} {
		if code, err := addStatus(t, lc, padded); code/100 != 4 {
			t.Errorf("%s: status %d (%v), want a 4xx refusal", name, code, err)
		}
	}
	if _, err := lc.Add(context.Background(), clean); err != nil {
		t.Errorf("the clean revocation: %v", err)
	}
}
