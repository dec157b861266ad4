package audit_test

// The outside review of the auditor (issue 13): each test is an attack
// that once worked, kept so that it does not work again.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fwledger/fwledger/audit"
	"github.com/fwledger/fwledger/bundle"
	"github.com/fwledger/fwledger/client"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/logclient"
	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/tiles"
	"github.com/fwledger/fwledger/tlogpolicy"
	"github.com/transparency-dev/merkle/rfc6962"
)

// TestReviewCanarySilencedByHugeIndex (review13, finding 6).
//
// The canary exists against a log that acknowledges entries and does not
// log them. Such a log that answers a probe with an index of 2^63 or more
// (and the right leaf hash) makes Auditor.Probe fail on the INSERT (the
// SQLite driver refuses uint64 values with the high bit set): the probe
// is neither recorded as pending nor counted as refused, so no canary
// alert (critical or warning) is ever raised. fwctl audit prints the
// error to stderr and goes on.
func TestReviewCanarySilencedByHugeIndex(t *testing.T) {
	ctx := context.Background()
	l := canaryLog(t)
	clk := &clock{now: time.Now()}
	target, _ := url.Parse(l.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	liar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			proxy.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		// Acknowledged, and dropped.
		json.NewEncoder(w).Encode(map[string]any{"index": uint64(1) << 63, "leaf_hash": hex.EncodeToString(rfc6962.DefaultHasher.HashLeaf(body))})
	}))
	defer liar.Close()
	a := canaryAuditor(t, l.URL, liar.URL, clk, nil)
	var alerts int
	var lastErr error
	for range 10 { // ten polls, 40 s apart, with a maximum merge delay of a minute
		res, err := a.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		alerts += len(res.Alerts)
		pres, err := a.Probe(ctx)
		alerts += len(pres.Alerts)
		lastErr = err
		clk.Add(40 * time.Second)
	}
	n, _, _ := a.PendingProbes(ctx)
	all, _ := a.Alerts(ctx)
	t.Logf("after 400 s: %d alerts, %d pending probes; Probe's error: %v", len(all), n, lastErr)
	if len(all) == 0 {
		t.Errorf("SILENCED: the log dropped every probe for 400 s (max merge delay 60 s) and the canary raised nothing")
	}
}

// TestReviewCommitmentDropped (review13, finding 16).
//
// checkCommitment skips a checkpoint without a revocation commitment line
// ("not an fwledger log, or one from before revocations"), also when the
// same log's earlier checkpoints had one. A log that drops the line once
// a revocation is logged (a downgrade: devices without revocation keys
// then take its bundles without the revocation) raises no alert.
func TestReviewCommitmentDropped(t *testing.T) {
	ctx := context.Background()
	f := newFakeLog(t)
	f.add(t, fwtest.Provenance(t, fwtest.Image("x", 100), fwtest.Builder))
	f.publish(t, 1) // with "fwledger.dev/revocations 0 …"
	a := plainAuditor(t, f.srv.URL, func(c *audit.Config) { c.RevocationKeys = fwtest.Ring(t, fwtest.Security1) })
	if res, err := a.Step(ctx); err != nil || len(res.Alerts) != 0 {
		t.Fatalf("Step = %+v, %v", res, err)
	}
	f.add(t, fwtest.SignRevocation(t, &provenance.Revocation{Revokes: provenance.RevokeKey, KeyID: fwtest.KeyID(t, fwtest.Release1), FromIndex: 0,
		Reason: "stolen", Created: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)}, fwtest.Security1))
	f.tree.Extensions = nil // the log stops committing to its revocations
	f.publish(t, 2)
	res, err := a.Step(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("a checkpoint without the commitment line, after a revocation: alerts %v", types(res.Alerts))
	if len(res.Alerts) == 0 {
		t.Errorf("DOWNGRADE UNNOTICED: the log's checkpoints stopped committing to revocations right after one was logged")
	}
}

// TestReviewForgedEvidenceAccepted (review13, finding 9).
//
// audit.VerifyEvidence (fwctl audit verify-evidence) accepts alerts built
// by anyone from public data of an honest log, several with nothing left
// unchecked ("ok: the evidence proves the … alert"), and rejects a true
// alert in the way docs/AUDIT.md tells users to run it.
func TestReviewForgedEvidenceAccepted(t *testing.T) {
	f := newFakeLog(t)
	for i := range 4 {
		f.add(t, fwtest.Provenance(t, fwtest.Image(fmt.Sprint(i), 100), fwtest.Builder))
	}
	cp2, cp4 := f.tree.Checkpoint(t, 2), f.tree.Checkpoint(t, 4) // two genuine checkpoints of one honest log
	idx := func(i uint64) *uint64 { return &i }
	stranger := fwtest.Key("nobody.example/probe")
	probe := fwtest.SignProbe(t, &provenance.Probe{Origin: fwtest.LogKey.Name, Created: time.Now()}, stranger)
	// Evidence that proves nothing is refused.
	for _, tc := range []struct {
		name string
		al   *audit.Alert
	}{
		{"fork of two sizes: two genuine consistent checkpoints, no proof", &audit.Alert{Type: audit.TypeFork, Evidence: audit.Evidence{Checkpoints: [][]byte{cp2, cp4}}}},
		{"revocation_commitment: an honest checkpoint whose commitment matches (no revocations)", &audit.Alert{Type: audit.TypeRevocationCommitment, Evidence: audit.Evidence{Checkpoints: [][]byte{cp4}}}},
		{"revocation_commitment: no evidence at all", &audit.Alert{Type: audit.TypeRevocationCommitment}},
		{"tree_mismatch: no evidence at all", &audit.Alert{Type: audit.TypeTreeMismatch}},
		{"bad_tile: no evidence at all", &audit.Alert{Type: audit.TypeBadTile}},
		{"stale: no evidence at all", &audit.Alert{Type: audit.TypeStale}},
	} {
		if left, err := audit.VerifyEvidence(tc.al, logVerifier(t), nil); err == nil {
			t.Errorf("ACCEPTED (not checked offline: %q): %s", left, tc.name)
		}
	}
	// What evidence cannot prove offline, verify-evidence says it did not
	// check.
	for _, tc := range []struct {
		name, left string
		al         *audit.Alert
	}{
		{"rollback: any two genuine checkpoints, smaller first", "served the smaller checkpoint after the larger", &audit.Alert{Type: audit.TypeRollback, Evidence: audit.Evidence{Checkpoints: [][]byte{cp2, cp4}}}},
		{"bad_checkpoint: arbitrary bytes", "presented these bytes", &audit.Alert{Type: audit.TypeBadCheckpoint, Evidence: audit.Evidence{Checkpoints: [][]byte{[]byte("hello")}}}},
		{"canary: a probe nobody's probe key signed, any older checkpoint", "signed by its probe key", &audit.Alert{Type: audit.TypeCanary, Index: idx(7), Evidence: audit.Evidence{Checkpoints: [][]byte{cp4}, Probe: probe}}},
		{"canary (refused): a probe nobody's probe key signed, nothing else", "signed by its probe key", &audit.Alert{Type: audit.TypeCanary, Evidence: audit.Evidence{Probe: probe}}},
	} {
		left, err := audit.VerifyEvidence(tc.al, logVerifier(t), nil)
		if err == nil && !strings.Contains(left, tc.left) {
			t.Errorf("ACCEPTED, saying it did not check %q, not %q: %s", left, tc.left, tc.name)
		}
	}

	// A true alert, rejected: the auditor runs with a witness policy (as
	// docs/AUDIT.md's second example), the log serves a checkpoint
	// without the quorum; verify-evidence run as the doc shows
	// (--log-key only) says the evidence does not prove it.
	wp, err := tlogpolicy.Parse(fwtest.WitnessPolicy(t, fwtest.LogKey, 1, []*keys.PrivateKey{fwtest.WitnessA}))
	if err != nil {
		t.Fatal(err)
	}
	f.publish(t, 4) // signed by the log, no cosignature
	a := plainAuditor(t, f.srv.URL, func(c *audit.Config) { c.Witnesses = wp })
	res, err := a.Step(context.Background())
	if err != nil || len(res.Alerts) != 1 || res.Alerts[0].Type != audit.TypeBadCheckpoint {
		t.Fatalf("Step = %+v, %v", res, err)
	}
	if _, err := audit.VerifyEvidence(res.Alerts[0], logVerifier(t), nil); err != nil {
		t.Errorf("TRUE ALERT REJECTED with --log-key (the doc's command): %v", err)
	}
}

// fakeLog is a C2SP tlog-tiles log served from memory, as a malicious
// log operator (who holds the log key) would serve it: whatever entries
// it likes, under checkpoints it signs with fwtest.LogKey.
type fakeLog struct {
	mu      sync.Mutex
	tree    *fwtest.Tree
	bld     *tiles.Builder
	stored  map[tiles.ID][]byte
	cp      []byte
	srv     *httptest.Server
	hook    func(w http.ResponseWriter, r *http.Request) bool
	entries [][]byte
}

func newFakeLog(t *testing.T) *fakeLog {
	f := &fakeLog{tree: fwtest.NewTree(fwtest.LogKey), stored: map[tiles.ID][]byte{}}
	f.bld = tiles.NewBuilder(tiles.RangeFactory.NewEmptyRange(0), func(id tiles.ID) ([]byte, error) { return f.stored[id], nil })
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// add appends entries and returns the index of the first.
func (f *fakeLog) add(t *testing.T, entries ...[]byte) uint64 {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	first := f.tree.Append(entries...)
	f.entries = append(f.entries, entries...)
	for _, e := range entries {
		if err := f.bld.Append(tiles.LeafHash(e)); err != nil {
			t.Fatal(err)
		}
	}
	changed, err := f.bld.Tiles()
	if err != nil {
		t.Fatal(err)
	}
	for id, d := range changed {
		f.stored[id] = append([]byte(nil), d...)
	}
	return first
}

// publish signs and serves the checkpoint of the first size entries.
func (f *fakeLog) publish(t *testing.T, size uint64) []byte {
	t.Helper()
	cp := f.tree.Checkpoint(t, size)
	f.mu.Lock()
	f.cp = cp
	f.mu.Unlock()
	return cp
}

func (f *fakeLog) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	hook := f.hook
	f.mu.Unlock()
	if hook != nil && hook(w, r) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path == "/checkpoint" {
		w.Write(f.cp)
		return
	}
	tl, err := tiles.ParsePath(r.URL.Path)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	if tl.Entries {
		start := tl.Index * tiles.Width
		if start+uint64(tl.Width) > uint64(len(f.entries)) {
			http.NotFound(w, r)
			return
		}
		var out []byte
		for _, e := range f.entries[start : start+uint64(tl.Width)] {
			out = binary.BigEndian.AppendUint16(out, uint16(len(e)))
			out = append(out, e...)
		}
		w.Write(out)
		return
	}
	d := f.stored[tl.ID()]
	if len(d) < tl.Width*tiles.HashSize {
		http.NotFound(w, r)
		return
	}
	w.Write(d[:tl.Width*tiles.HashSize])
}

// plainAuditor is an auditor of logURL with the test policy (Release1,
// Builder, provenance required) and the log key, in a new state dir.
func plainAuditor(t *testing.T, logURL string, edit func(*audit.Config)) *audit.Auditor {
	t.Helper()
	cfg := audit.Config{
		LogURL: logURL, Log: logVerifier(t), StateDir: t.TempDir(),
		Policy: provenance.KeyPolicy(provenance.KeyTrust{ReleaseKeys: fwtest.Ring(t, fwtest.Release1), BuilderKeys: fwtest.Ring(t, fwtest.Builder), RequireProvenance: true}),
	}
	if edit != nil {
		edit(&cfg)
	}
	a, err := audit.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// someBundles is a stand-in keyless verifier (as in ledger's tests) that
// accepts the Sigstore bundles with the given digests.
type someBundles struct {
	ok map[digest.Digest]bool
	id provenance.CertificateIdentity
}

func (s someBundles) VerifyKeyless(e *provenance.Entry) (*provenance.CertificateIdentity, error) {
	if !s.ok[e.Digest] {
		return nil, errors.New("not a bundle this test signed")
	}
	return &s.id, nil
}

// TestReviewKeylessProvenanceFalseAlert (review13, finding 10).
//
// The log takes releases whose provenance is keyless (a Sigstore bundle
// from a keyless builder of the policy), inline or, above 64 KiB, stored
// by digest with a reference leaf. The auditor judges the same releases
// with the same policy and raises a critical provenance alert for each:
// audit.Config has no keyless verifier (release() evaluates without
// EvalOptions.Keyless, so every Sigstore bundle is "keyless, and no
// keyless verifier is configured"), and a provenance stored by digest is
// never read at all (judge skips references; statement() finds nothing).
// Every release of a vendor that builds keylessly is a false critical
// alert, which buries real ones.
func TestReviewKeylessProvenanceFalseAlert(t *testing.T) {
	ctx := context.Background()
	id := provenance.CertificateIdentity{Issuer: "https://token.actions.githubusercontent.com", SAN: "https://github.com/acme/fw/.github/workflows/release.yml@refs/tags/v9"}
	pol := fwtest.Policy(t, `
version: 1
keys: {release: {file: release.pub}}
trustedRoot: root.json
builders:
  - name: gha
    id: https://github.com/acme/fw/.github/workflows/release.yml@refs/tags/v9
    keyless: {issuer: "https://token.actions.githubusercontent.com", san: "https://github.com/acme/fw/.github/workflows/release.yml@refs/tags/v9"}
rules:
  - {name: all, models: ["*"], release: {keys: [release]}, provenance: {builders: [gha]}}
`, map[string][]byte{"release.pub": func() []byte { b, _ := fwtest.Release1.Public().Marshal(); return b }(), "root.json": []byte("{}")})
	imgSmall, imgLarge := fwtest.Image("small keyless", 900), fwtest.Image("large keyless", 900)
	small, large := fwtest.SigstoreBundle(t, imgSmall, 5), fwtest.SigstoreBundle(t, imgLarge, 900)
	kv := someBundles{ok: map[digest.Digest]bool{sha256.Sum256(small): true, sha256.Sum256(large): true}, id: id}
	l := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{fwtest.Release1}, RequireProvenance: true, Policy: pol, Keyless: kv})
	lc, _ := logclient.New(l.URL, nil)
	for i, c := range []struct{ img, prov []byte }{{imgSmall, small}, {imgLarge, large}} {
		rel := fwtest.SignRelease(t, fwtest.NewRelease(c.img, func(r *provenance.Release) {
			r.Version = fmt.Sprintf("1.%d.0", i)
			r.Provenance = []digest.Digest{sha256.Sum256(c.prov)}
		}), fwtest.Release1)
		res, err := lc.AddAll(ctx, [][]byte{c.prov, rel})
		if err != nil {
			t.Fatalf("the log refuses the keyless release %d: %v", i, err)
		}
		l.WaitSize(t, res[1].Index+1)
		t.Logf("the log took keyless provenance of %d bytes at %d and its release at %d", len(c.prov), res[0].Index, res[1].Index)
	}
	a := plainAuditor(t, l.URL, func(c *audit.Config) { c.Policy, c.Keyless = pol, kv })
	res, err := a.Step(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, al := range res.Alerts {
		t.Errorf("FALSE ALERT on a release the log and devices accept: %s %s at %d: %s", al.Severity, al.Type, *al.Index, al.Message)
	}
}

// TestReviewWitnessPolicyOriginNotPinned (review13, finding 8).
//
// With --witness-policy and no --log-key, a checkpoint is "the log's" if
// any log line of the policy signed it (tlog-policy files name several
// logs, e.g. production and staging, or a shared policy). Neither Step
// (check), Check nor VerifyEvidence compares the checkpoint's origin with
// the origin of the tree the auditor verified. Anyone can replay another
// listed log's genuine checkpoint at the audited log's URL (a mirror, a
// cache, an http path), or as a witness's or device's checkpoint: the
// auditor reports a critical fork (same size) or rollback (smaller)
// against the audited log, and verify-evidence says the evidence proves it
// with nothing left unchecked.
func TestReviewWitnessPolicyOriginNotPinned(t *testing.T) {
	ctx := context.Background()
	staging := fwtest.Key("example.com/staging-log")
	va, _ := fwtest.LogKey.Public().VerifierKey()
	vb, _ := staging.Public().VerifierKey()
	wp, err := tlogpolicy.Parse([]byte(fmt.Sprintf("log %s\nlog %s\nquorum none\n", va, vb)))
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeLog(t)
	for i := range 4 {
		f.add(t, fwtest.Provenance(t, fwtest.Image(fmt.Sprint(i), 100), fwtest.Builder))
	}
	f.publish(t, 4)
	a := plainAuditor(t, f.srv.URL, func(c *audit.Config) { c.Log, c.Witnesses = nil, wp })
	if res, err := a.Step(ctx); err != nil || len(res.Alerts) != 0 || res.Size != 4 {
		t.Fatalf("Step = %+v, %v", res, err)
	}
	// The staging log's genuine, public checkpoints.
	for _, size := range []uint64{4, 2} {
		other := fwtest.SignCheckpoint(t, staging, size, bytes.Repeat([]byte{byte(size)}, 32))
		f.mu.Lock()
		f.cp = other
		f.mu.Unlock()
		res, err := a.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Another log's checkpoint at the audited log's URL is a bad
		// checkpoint (of another origin), never a fork or rollback.
		for _, al := range res.Alerts {
			left, verr := audit.VerifyEvidence(al, nil, wp)
			t.Logf("the staging log's checkpoint of size %d served at the audited log's URL: %s alert (%s); verify-evidence: err=%v, left unchecked %q", size, al.Type, al.Message, verr, left)
			if al.Type != audit.TypeBadCheckpoint || verr != nil || !strings.Contains(left, "another log") {
				t.Errorf("FALSE %s against %s from another log's public checkpoint (%s)", al.Type, fwtest.LogKey.Name, staging.Name)
			}
		}
	}
}

// TestReviewReferenceReleaseUnaudited (review13, finding 2).
//
// The auditor skips every leaf that parses as an entry reference
// (audit/rules.go judge: "if p.reference { return nil }"): it never
// fetches the referenced bytes and never judges them. A device, however,
// accepts a release whose leaf is a reference and whose bundle carries
// the release as "content" (bundle.Parse allows content on the release;
// client/verify.go only checks that the content hashes to the reference;
// nothing requires the content to be a Sigstore bundle or a provenance).
//
// So a log operator holding the log key, together with a stolen release
// key (DESIGN threat 3 with an insider), logs a malicious release as a
// 100-byte reference leaf: it is in the log, witnesses cosign it, devices
// install it, and the auditor raises nothing. The control case (the same
// release logged as it is) raises the equivocation alert.
func TestReviewReferenceReleaseUnaudited(t *testing.T) {
	ctx := context.Background()
	imgA, imgB := fwtest.Image("genuine 1.0.0", 2000), fwtest.Image("malicious 1.0.0", 2000)
	provA, provB := fwtest.Provenance(t, imgA, fwtest.Builder), fwtest.Provenance(t, imgB, fwtest.Builder)
	rel := func(img, prov []byte) []byte {
		return fwtest.SignRelease(t, fwtest.NewRelease(img, func(r *provenance.Release) {
			r.Version, r.SecurityVersion = "1.0.0", 1
			r.Provenance = []digest.Digest{sha256.Sum256(prov)}
		}), fwtest.Release1)
	}
	relA, relB := rel(imgA, provA), rel(imgB, provB) // relB: a second image for acme-x1 1.0.0

	for _, tc := range []struct {
		name string
		leaf []byte
	}{
		{"control: the malicious release logged as it is", relB},
		{"the malicious release logged as a reference leaf", provenance.ReferenceTo(relB).Marshal()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeLog(t)
			f.add(t, provA, relA, provB, tc.leaf)
			cp := f.publish(t, 4)
			// The log serves the release as the reference's content.
			f.hook = func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Path != "/v1/entries/3" {
					return false
				}
				json.NewEncoder(w).Encode(map[string]any{"index": 3, "data": tc.leaf, "content": relB})
				return true
			}
			a := plainAuditor(t, f.srv.URL, nil)
			res, err := a.Step(ctx)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("auditor: verified %d entries, alerts %v", res.Size, types(res.Alerts))

			// A device is given the bundle of index 3, with the release as
			// the reference's content.
			b := f.tree.BundleUnder(t, cp, 3, -1, 2)
			if !bytes.Equal(tc.leaf, relB) {
				var m map[string]any
				json.Unmarshal(b, &m)
				m["release"].(map[string]any)["content"] = base64.StdEncoding.EncodeToString(relB)
				b, _ = json.Marshal(m)
			}
			trust := client.Trust{Log: logVerifier(t), ReleaseKeys: fwtest.Ring(t, fwtest.Release1), BuilderKeys: fwtest.Ring(t, fwtest.Builder), RequireProvenance: true, Model: "acme-x1"}
			v, derr := client.VerifyBundle(ctx, trust, b, bytes.NewReader(imgB))
			if derr != nil {
				t.Logf("device refuses the malicious release: %v", derr)
			} else {
				t.Logf("device ACCEPTS the malicious release %s %s", v.Release.Version, v.Release.Image)
			}
			if derr == nil && len(res.Alerts) == 0 {
				t.Errorf("UNAUDITED: a device installs the second image of acme-x1 1.0.0, and the auditor raised no alert")
			}
			if !bytes.Equal(tc.leaf, relB) && (derr == nil || len(res.Alerts) != 1 || res.Alerts[0].Type != audit.TypeUnparseable) {
				t.Errorf("a release behind a reference: device error %v, alerts %v; want it refused, and one unparseable alert", derr, types(res.Alerts))
			}

			if !bytes.Equal(tc.leaf, relB) {
				// The same leaf also makes a third party's "unparseable"
				// alert verify: a reference is not an entry ParseEntry
				// takes, though the log and devices take it.
				pb, err := bundle.Parse(b)
				if err != nil {
					t.Fatal(err)
				}
				var proof [][]byte
				for _, h := range pb.Release.Proof.Hashes {
					proof = append(proof, bytes.Clone(h[:]))
				}
				idx := uint64(3)
				forged := &audit.Alert{Type: audit.TypeUnparseable, Index: &idx, Evidence: audit.Evidence{
					Checkpoints: [][]byte{cp}, Entries: []audit.EvidenceEntry{{Index: 3, Data: tc.leaf, Proof: proof}}}}
				if left, err := audit.VerifyEvidence(forged, logVerifier(t), nil); err == nil {
					t.Errorf("FORGED: verify-evidence accepts an 'unparseable' alert about a well-formed reference leaf (left unchecked: %q)", left)
				}
			}
		})
	}
}

// withJunkSignature returns signed with one more signature line, by a key
// nobody knows: the note still verifies, and its bytes are new.
func withJunkSignature(signed []byte, i int) []byte {
	sig := make([]byte, 4+64)
	h := sha256.Sum256([]byte(fmt.Sprint(i)))
	copy(sig, h[:])
	return append(bytes.Clone(signed), []byte(fmt.Sprintf("— junk%d.example %s\n", i, base64.StdEncoding.EncodeToString(sig)))...)
}

// TestReviewReplayVariantsRaiseAgain (review13, finding 13).
//
// Alert keys of checkpoint findings (rollback, fork, bad_checkpoint,
// tree_mismatch, stale, bad_tile, revocation_commitment) are digests of
// the exact signed bytes. A signed note stays valid with signature lines
// added by unknown keys (or reordered), so anyone replaying one old,
// genuine checkpoint (a mirror, a cache, an http path, a device report,
// --checkpoint) raises a new critical alert, and a new webhook POST, for
// each byte variant: here five rollback alerts for one stale checkpoint,
// and a second fork alert for one fork a device re-reports. DESIGN threat
// 12: replaying public data with other bytes must change nothing.
func TestReviewReplayVariantsRaiseAgain(t *testing.T) {
	ctx := context.Background()
	s := newScene(t)
	s.release(t, "a", "1.0.0", 1, fwtest.Release1)
	old, _ := s.lc.Checkpoint(ctx)
	s.release(t, "b", "1.1.0", 2, fwtest.Release1)
	var mu sync.Mutex
	var serve []byte
	mirror := withCheckpoint(t, s.log.URL, func() []byte { mu.Lock(); defer mu.Unlock(); return serve })
	a := auditor(t, mirror.URL, t.TempDir())
	if res, err := a.Step(ctx); err != nil || len(res.Alerts) != 0 {
		t.Fatalf("Step = %+v, %v", res, err)
	}
	for i := range 5 {
		mu.Lock()
		serve = withJunkSignature(old, i)
		mu.Unlock()
		if _, err := a.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// One fork, checked twice (a witness's view, then a device's report
	// of the same checkpoint with one more signature line).
	forked := fwtest.SignCheckpoint(t, fwtest.LogKey, 2, bytes.Repeat([]byte{9}, 32))
	a.Check(ctx, forked)
	a.Check(ctx, withJunkSignature(forked, 99))
	all, _ := a.Alerts(ctx)
	count := map[string]int{}
	for _, al := range all {
		count[al.Type]++
	}
	t.Logf("alerts: %v", count)
	if count[audit.TypeRollback] > 1 {
		t.Errorf("REPEATED: %d rollback alerts for one replayed checkpoint", count[audit.TypeRollback])
	}
	if count[audit.TypeFork] > 1 {
		t.Errorf("REPEATED: %d fork alerts for one forked checkpoint", count[audit.TypeFork])
	}
}

// TestReviewProbeFlood (review13, finding 14).
//
// A probe key (given to outside auditors) lets its holder append entries
// without limit: no rate or count limit per probe key (device reports
// have a token bucket per device; probes have none), any created time in
// the past is taken, and each probe is a new leaf every auditor must
// read and every witness cosign. One probe per poll is all the canary
// needs.
func TestReviewProbeFlood(t *testing.T) {
	ctx := context.Background()
	l := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{fwtest.Release1}, ProbeKeys: []*keys.PrivateKey{fwtest.Prober}})
	lc, _ := logclient.New(l.URL, nil)
	const n = 200
	start := time.Now()
	taken := 0
	for i := range n {
		var nonce [32]byte
		nonce[0], nonce[1] = byte(i), byte(i>>8)
		p := fwtest.SignProbe(t, &provenance.Probe{Origin: fwtest.LogKey.Name, Nonce: nonce, Created: time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)}, fwtest.Prober)
		if _, err := lc.Add(ctx, p); err == nil {
			taken++
		}
	}
	l.WaitSize(t, uint64(taken))
	t.Logf("%d of %d probes (created in 2001) logged in %s", taken, n, time.Since(start).Round(time.Millisecond))
	if taken == n {
		t.Errorf("UNLIMITED: one probe key appended %d entries back to back", taken)
	}
}

// TestReviewReportsPaginationUnbounded (review13, finding 5).
//
// Reported follows page.Next for as long as the log gives one, with no
// bound on pages and no check that "next" moves forward. A log (or a
// mirror, or anyone on an http path) that answers GET /v1/reports with an
// empty page and the same "next" keeps Reported, and so the whole poll
// loop of fwctl audit (Step, Witnessed, Reported, probe, webhook run in
// sequence), in an endless loop: the auditor stops following the log
// without an error or an alert. A "next" far ahead is stored as
// reports_after, so the reports devices send later are never read.
func TestReviewReportsPaginationUnbounded(t *testing.T) {
	ctx := context.Background()
	f := newFakeLog(t)
	f.add(t, fwtest.Provenance(t, fwtest.Image("x", 10), fwtest.Builder))
	f.publish(t, 1)
	var mu sync.Mutex
	var queries []string
	const stopAfter = 2000
	f.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/v1/reports" {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		queries = append(queries, r.URL.RawQuery)
		if len(queries) >= stopAfter {
			// Only so that the test ends: the auditor itself never stops.
			http.Error(w, "test over", http.StatusServiceUnavailable)
			return true
		}
		fmt.Fprint(w, `{"reports":[],"next":7}`)
		return true
	}
	a := plainAuditor(t, f.srv.URL, nil)
	if _, err := a.Step(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := a.Reported(ctx)
	mu.Lock()
	n := len(queries)
	mu.Unlock()
	t.Logf("Reported returned %v after %d page requests (%q)", err, n, queries)
	if n >= stopAfter {
		t.Errorf("UNBOUNDED: Reported fetched %d pages of an empty list with the same \"next\"; only the test's server stopped it", n)
	}

	// A "next" far ahead is kept: later reports are never read.
	mu.Lock()
	queries = nil
	mu.Unlock()
	f.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/v1/reports" {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		queries = append(queries, r.URL.RawQuery)
		if len(queries) == 1 {
			fmt.Fprint(w, `{"reports":[],"next":9000000000000000000}`)
		} else {
			fmt.Fprint(w, `{"reports":[]}`)
		}
		return true
	}
	a2 := plainAuditor(t, f.srv.URL, nil)
	a2.Step(ctx)
	a2.Reported(ctx)
	a2.Reported(ctx)
	t.Logf("queries: %q", queries)
	if last := queries[len(queries)-1]; last == "after=9000000000000000000" {
		t.Errorf("SUPPRESSED: one forged page moved reports_after to 9e18 for good; every later poll asks %q", last)
	}
}

// TestReviewInvalidReleaseSquatsIndexes (review13, finding 15).
//
// The equivocation and security-version indexes take every parseable
// release, also one the auditor's policy rejects (a release_signature
// alert). Whoever can log a release the auditor does not trust (another
// tenant of a shared log, a key the log takes and the vendor's policy
// does not, or the log operator) logs one release for the vendor's model
// at security version 2^53 and version 2.0.0: from then on every genuine
// release of the model is a critical security_regression, and the
// vendor's real 2.0.0 an equivocation, and verify-evidence accepts the
// regression with nothing left unchecked (it does not ask whether the
// earlier release is valid). The genuine regressions a stolen key would
// cause are lost in that noise.
func TestReviewInvalidReleaseSquatsIndexes(t *testing.T) {
	ctx := context.Background()
	s := newScene(t) // the log takes Release1 and Release2; the auditor trusts Release1 only
	img := fwtest.Image("squat", 1000)
	prov := fwtest.Provenance(t, img, fwtest.Builder)
	s.add(t, prov, fwtest.SignRelease(t, fwtest.NewRelease(img, func(r *provenance.Release) {
		r.Version, r.SecurityVersion = "2.0.0", 1<<53
		r.Provenance = []digest.Digest{sha256.Sum256(prov)}
	}), fwtest.Release2))
	s.release(t, "genuine 1.5.0", "1.5.0", 6, fwtest.Release1)
	s.release(t, "genuine 1.6.0", "1.6.0", 7, fwtest.Release1)
	s.release(t, "genuine 2.0.0", "2.0.0", 8, fwtest.Release1)
	a := auditor(t, s.log.URL, t.TempDir())
	res, err := a.Step(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, al := range res.Alerts {
		left, verr := audit.VerifyEvidence(al, logVerifier(t), nil)
		t.Logf("%s at %d; verify-evidence err=%v left=%q", al.Type, *al.Index, verr, left)
		if al.Type == audit.TypeSecurityRegressed || al.Type == audit.TypeEquivocation {
			t.Errorf("FALSE %s on a genuine release (at %d), caused by a release the policy rejects", al.Type, *al.Index)
		}
	}
}

// TestReviewCorruptTileFalseFork (review13, finding 4).
//
// Check (witness checkpoints, device reports, --checkpoint, deferred
// checkpoints) joins a smaller checkpoint to the verified tree with a
// consistency proof built from the log's hash tiles, which are not
// authenticated, and raises a critical fork when it fails. The auditor
// does not tell a proof that fails because the old root is not a prefix
// (a fork) from one that fails because the tile bytes are wrong (the
// proof does not even rebuild the verified root): a mirror, a cache or
// anyone on the path (no key) turns every genuine older checkpoint
// into a critical "split view" alert, and verify-evidence says the
// evidence proves it.
func TestReviewCorruptTileFalseFork(t *testing.T) {
	ctx := context.Background()
	s := newScene(t)
	s.release(t, "a", "1.0.0", 1, fwtest.Release1)
	old, err := s.lc.Checkpoint(ctx) // a genuine checkpoint of size 2: what a device or a witness holds
	if err != nil {
		t.Fatal(err)
	}
	s.release(t, "b", "1.1.0", 2, fwtest.Release1)

	var mu sync.Mutex
	corrupt := false
	target, _ := url.Parse(s.log.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	direct := proxy.Director
	proxy.Director = func(r *http.Request) { direct(r); r.Header.Del("Accept-Encoding") }
	proxy.ModifyResponse = func(resp *http.Response) error {
		mu.Lock()
		defer mu.Unlock()
		if !corrupt || !strings.HasPrefix(resp.Request.URL.Path, "/tile/0/") {
			return nil
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = bytes.Clone(body)
		body[len(body)-1] ^= 1
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Del("Content-Length")
		return nil
	}
	mirror := httptest.NewServer(proxy)
	defer mirror.Close()

	a := auditor(t, mirror.URL, t.TempDir())
	if res, err := a.Step(ctx); err != nil || len(res.Alerts) != 0 || res.Size != 4 {
		t.Fatalf("Step = %+v, %v", res, err)
	}
	mu.Lock()
	corrupt = true // one flipped bit in a hash tile
	mu.Unlock()
	res, err := a.Check(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Check of a genuine older checkpoint through a corrupting path: %v", types(res.Alerts))
	for _, al := range res.Alerts {
		left, err := audit.VerifyEvidence(al, logVerifier(t), nil)
		t.Logf("  %s: %s\n  verify-evidence: err=%v, left unchecked: %q", al.Type, al.Message, err, left)
		if al.Type == audit.TypeFork {
			t.Errorf("FALSE FORK: two genuine checkpoints of one honest log reported as a split view (critical), evidence accepted: %v", err == nil)
		}
	}
}

// TestReviewBadTilesStripEvidence (review13, finding 9b).
//
// Entry alerts carry inclusion proofs read from the log's hash tiles.
// When those do not verify, raise() stores the alert without proofs (and
// one bad_tile alert per checkpoint). A log that serves wrong hash tiles
// while the auditor reads (it cannot hide the entries: they hash to the
// checkpoint) makes every entry alert's evidence fail verify-evidence:
// the true equivocation below is "not proven" offline.
func TestReviewBadTilesStripEvidence(t *testing.T) {
	ctx := context.Background()
	s := newScene(t)
	s.release(t, "a", "1.4.0", 5, fwtest.Release1)
	s.release(t, "b", "1.4.0", 5, fwtest.Release1) // a true equivocation
	target, _ := url.Parse(s.log.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	direct := proxy.Director
	proxy.Director = func(r *http.Request) { direct(r); r.Header.Del("Accept-Encoding") }
	proxy.ModifyResponse = func(resp *http.Response) error {
		if !strings.HasPrefix(resp.Request.URL.Path, "/tile/0/") {
			return nil
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = bytes.Clone(body)
		for i := range body {
			body[i] ^= 0xff
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.Header.Del("Content-Length")
		return nil
	}
	mirror := httptest.NewServer(proxy)
	defer mirror.Close()
	a := auditor(t, mirror.URL, t.TempDir())
	res, err := a.Step(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, al := range res.Alerts {
		_, verr := audit.VerifyEvidence(al, logVerifier(t), nil)
		t.Logf("%s: verify-evidence: %v", al.Type, verr)
		if al.Type == audit.TypeEquivocation && verr != nil {
			t.Errorf("TRUE ALERT NOT PROVABLE: the equivocation's evidence has no inclusion proofs")
		}
	}
}

// TestReviewWebhookRedirectMarksDelivered (review13, finding 11).
//
// Deliver posts with the auditor's http.Client, which follows redirects:
// on 301/302/303 it re-sends the request as a GET without the body. An
// alert is marked delivered on the final 2xx, so a webhook URL that
// redirects (http to https, a moved endpoint, or anyone on an http path)
// swallows every alert: "delivered", never received, never sent again.
func TestReviewWebhookRedirectMarksDelivered(t *testing.T) {
	ctx := context.Background()
	s := newScene(t)
	s.release(t, "a", "1.4.0", 5, fwtest.Release1)
	s.release(t, "b", "1.4.0", 5, fwtest.Release1) // equivocation
	s.release(t, "c", "1.5.0", 3, fwtest.Release1) // regression
	a := auditor(t, s.log.URL, t.TempDir())
	if res, err := a.Step(ctx); err != nil || len(res.Alerts) != 2 {
		t.Fatalf("Step = %+v, %v", res, err)
	}
	var mu sync.Mutex
	var got []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/hook" {
			http.Redirect(w, r, "/moved", http.StatusMovedPermanently)
			return
		}
		got = append(got, fmt.Sprintf("%s %s (%d bytes)", r.Method, r.URL.Path, len(body)))
	}))
	defer hook.Close()
	n, err := a.Deliver(ctx, hook.URL+"/hook")
	again, _ := a.Deliver(ctx, hook.URL+"/hook")
	t.Logf("Deliver = %d, %v; again = %d; the receiver saw %q", n, err, again, got)
	posts := 0
	for _, g := range got {
		if strings.HasPrefix(g, "POST") {
			posts++
		}
	}
	if n == 2 && posts == 0 {
		t.Errorf("LOST: both alerts marked delivered, and the receiver got no alert body")
	}
}

// TestReviewEntryAtRefetch (review13, finding 12).
//
// Each equivocation, security_regression, new_model or retroactive
// revoked_key alert re-reads the whole entry bundle of the earlier entry
// (entryAt: up to 256 × 64 KiB, no cache), inside the transaction of the
// bundle being judged. A release key holder (or the log) logging k such
// releases makes one step download k bundles; any one failing rolls the
// whole bundle back and the step starts over.
func TestReviewEntryAtRefetch(t *testing.T) {
	ctx := context.Background()
	s := newScene(t)
	const k = 20
	for i := range k + 1 {
		s.release(t, fmt.Sprint("img", i), "1.4.0", 5, fwtest.Release1) // k second images of 1.4.0
	}
	var mu sync.Mutex
	fetches := 0
	target, _ := url.Parse(s.log.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	counter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/tile/entries/") {
			mu.Lock()
			fetches++
			mu.Unlock()
		}
		proxy.ServeHTTP(w, r)
	}))
	defer counter.Close()
	a := auditor(t, counter.URL, t.TempDir())
	res, err := a.Step(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d entries in one bundle, %d alerts: %d entry-bundle downloads", res.Size, len(res.Alerts), fetches)
	if fetches > 2 {
		t.Errorf("AMPLIFICATION: %d downloads of the same entry bundle for one bundle of entries", fetches)
	}
}

// TestReviewWedgeAfterOneCorruptBundle (review13, finding 1).
//
// catchUp commits each entry bundle's leaves into the stored compact range
// (and its rule index) before the root is checked against the
// checkpoint. When the root does not match (tree_mismatch), nothing is
// rolled back: progress.Size/Range keep the bad leaves, and every later
// step appends to them, so no checkpoint ever verifies again.
//
// One corrupted entry-bundle response, from anyone on the path to the log
// or a mirror (no key needed), therefore:
//   - replaces what the auditor judges at that index (here a release by
//     a key the auditor does not trust is replaced by a copy of a good
//     release: its release_signature alert is never raised, even once the
//     network is honest again);
//   - wedges the auditor for good: the verified size never moves again,
//     and each new checkpoint of the log is one more critical
//     tree_mismatch alert.
func TestReviewWedgeAfterOneCorruptBundle(t *testing.T) {
	ctx := context.Background()
	s := newScene(t)
	good := s.release(t, "a", "1.0.0", 1, fwtest.Release1) // provenance at 0, release at 1

	// A proxy (a mirror, or anyone on the path) that corrupts one entry
	// bundle response once: the entry at index bad becomes entry good.
	var mu sync.Mutex
	corrupt := false
	var bad uint64
	target, _ := url.Parse(s.log.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	direct := proxy.Director
	proxy.Director = func(r *http.Request) { direct(r); r.Header.Del("Accept-Encoding") }
	proxy.ModifyResponse = func(resp *http.Response) error {
		mu.Lock()
		defer mu.Unlock()
		if !corrupt || !strings.HasPrefix(resp.Request.URL.Path, "/tile/entries/") {
			return nil
		}
		corrupt = false
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		entries, err := tiles.SplitBundle(body)
		if err != nil || uint64(len(entries)) <= bad {
			t.Errorf("unexpected bundle: %v", err)
			return nil
		}
		entries[bad] = entries[good]
		var out []byte
		for _, e := range entries {
			out = binary.BigEndian.AppendUint16(out, uint16(len(e)))
			out = append(out, e...)
		}
		resp.Body = io.NopCloser(bytes.NewReader(out))
		resp.ContentLength = int64(len(out))
		resp.Header.Del("Content-Length")
		return nil
	}
	mirror := httptest.NewServer(proxy)
	defer mirror.Close()

	a := auditor(t, mirror.URL, t.TempDir())
	if res, err := a.Step(ctx); err != nil || len(res.Alerts) != 0 || res.Size != 2 {
		t.Fatalf("first step = %+v, %v", res, err)
	}

	// A release signed by Release2, a key the auditor does not trust: a
	// release_signature alert is due at its index.
	bad = s.release(t, "b", "1.1.0", 2, fwtest.Release2)
	mu.Lock()
	corrupt = true
	mu.Unlock()
	res, err := a.Step(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("step with one corrupted bundle: size %d, alerts %v", res.Size, types(res.Alerts))

	// From now on the network is honest. The log keeps growing.
	for i, v := range []string{"1.2.0", "1.3.0", "1.4.0"} {
		s.release(t, v, v, uint64(3+i), fwtest.Release1)
		res, err := a.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, logSize := s.log.Log.Checkpoint()
		t.Logf("honest step %d: the log is at %d, the auditor verified %d; alerts %v", i, logSize, res.Size, types(res.Alerts))
	}
	all, _ := a.Alerts(ctx)
	var sawSig bool
	mismatches := 0
	for _, al := range all {
		if al.Type == audit.TypeReleaseSignature && al.Index != nil && *al.Index == bad {
			sawSig = true
		}
		if al.Type == audit.TypeTreeMismatch {
			mismatches++
		}
	}
	res, _ = a.Step(ctx)
	_, logSize := s.log.Log.Checkpoint()
	if res.Size != logSize {
		t.Errorf("WEDGED: the auditor's verified size is %d, the log's %d, although the network has been honest for 3 polls", res.Size, logSize)
	}
	if !sawSig {
		t.Errorf("SUPPRESSED: no release_signature alert was ever raised for the Release2 release at %d (the auditor judged the substituted bytes, and never reads them again)", bad)
	}
	if mismatches > 1 {
		t.Errorf("NOISE: %d tree_mismatch alerts (one per new honest checkpoint)", mismatches)
	}
}

// TestReviewWithheldBundleSuppressesEquivocation (review13, finding 7b).
//
// To raise an equivocation (and a security_regression, new_model or
// retroactive revoked_key) alert, the rules read the earlier entry again
// from the log (entryAt), inside the transaction of the bundle being
// judged. A log that serves an entry bundle once and refuses it after
// (404) makes that read fail: the bundle's transaction rolls back, Step
// returns an error, and the next step fails the same way, forever. The
// equivocation is never raised, nothing after it is read, no stall alert
// (checkStall runs only after a successful catch-up) and, in fwctl audit,
// no probe, no witness or device check: only "retrying" on stderr.
func TestReviewWithheldBundleSuppressesEquivocation(t *testing.T) {
	ctx := context.Background()
	imgA, imgB := fwtest.Image("genuine 1.0.0", 2000), fwtest.Image("second image 1.0.0", 2000)
	provA, provB := fwtest.Provenance(t, imgA, fwtest.Builder), fwtest.Provenance(t, imgB, fwtest.Builder)
	rel := func(img, prov []byte) []byte {
		return fwtest.SignRelease(t, fwtest.NewRelease(img, func(r *provenance.Release) {
			r.Version, r.SecurityVersion = "1.0.0", 1
			r.Provenance = []digest.Digest{sha256.Sum256(prov)}
		}), fwtest.Release1)
	}
	f := newFakeLog(t)
	f.add(t, provA, rel(imgA, provA))
	f.publish(t, 2)
	clk := &clock{now: time.Now()}
	a := plainAuditor(t, f.srv.URL, func(c *audit.Config) { c.Now, c.MaxStall = clk.Now, time.Minute })
	if res, err := a.Step(ctx); err != nil || len(res.Alerts) != 0 {
		t.Fatalf("Step = %+v, %v", res, err)
	}
	// The second image of 1.0.0, in the same bundle; the log serves each
	// bundle path once.
	f.add(t, provB, rel(imgB, provB))
	f.publish(t, 4)
	var mu sync.Mutex
	served := map[string]int{}
	f.hook = func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		served[r.URL.Path]++
		if r.URL.Path == "/tile/entries/000.p/4" && served[r.URL.Path] > 1 {
			http.NotFound(w, r)
			return true
		}
		return false
	}
	var lastErr error
	for range 10 { // 10 polls over an hour
		res, err := a.Step(ctx)
		if res != nil && len(res.Alerts) > 0 {
			t.Logf("alerts: %v", types(res.Alerts))
		}
		lastErr = err
		clk.Add(6 * time.Minute)
	}
	all, _ := a.Alerts(ctx)
	t.Logf("after an hour: %d alerts; the last step's error: %v", len(all), lastErr)
	if len(all) == 0 {
		t.Errorf("SUPPRESSED: the second image of acme-x1 1.0.0 is in the log's signed tree; no equivocation, and no alert of any kind (stall limit: 1 min) in an hour")
	}
}

// TestReviewWitnessAheadFalseBadCheckpoint (review13, finding 3).
//
// A witness's checkpoint (GET <witness>/checkpoint/<origin>) carries the
// log's signature and that witness's own cosignature only. Check is
// documented to need no quorum for it ("a witness's or a device's need
// not carry the quorum"), and verifyLogSigned does not ask for one; but
// when the witness's checkpoint is larger than the auditor's verified
// tree, Check hands it to check(), which verifies it under the witness
// quorum and, failing, raises a critical bad_checkpoint alert.
//
// A witness is ahead of the auditor whenever the log grew since the
// auditor's last Step (every poll of a busy log; and a witness always
// cosigns before the log can publish). With an honest log and honest
// witnesses, each such poll is a new critical bad_checkpoint alert,
// whose evidence verify-evidence accepts as proven.
func TestReviewWitnessAheadFalseBadCheckpoint(t *testing.T) {
	ctx := context.Background()
	wks := []*keys.PrivateKey{fwtest.WitnessA, fwtest.WitnessB}
	urls := fwtest.StartWitnesses(t, wks, fwtest.LogKey)
	policy := fwtest.WitnessPolicy(t, fwtest.LogKey, 2, wks, urls...)
	l := fwtest.StartLog(t, fwtest.LogOptions{
		ReleaseKeys: []*keys.PrivateKey{fwtest.Release1}, BuilderKeys: []*keys.PrivateKey{fwtest.Builder},
		Witnesser: fwtest.Collector(t, policy),
	})
	lc, _ := logclient.New(l.URL, nil)
	s := &scene{log: l, lc: lc}
	s.release(t, "a", "1.0.0", 1, fwtest.Release1)
	wp, err := tlogpolicy.Parse(policy)
	if err != nil {
		t.Fatal(err)
	}
	a := plainAuditor(t, l.URL, func(c *audit.Config) { c.Log, c.Witnesses = nil, wp })
	if res, err := a.Step(ctx); err != nil || len(res.Alerts) != 0 {
		t.Fatalf("Step = %+v, %v", res, err)
	}
	if res, err := a.Witnessed(ctx); err != nil || len(res.Alerts) != 0 {
		t.Fatalf("Witnessed at the same size = %v, %v", types(res.Alerts), err)
	}
	// The honest log takes one more release (its witnesses cosign it)
	// between the auditor's Step and its Witnessed.
	s.release(t, "b", "1.1.0", 2, fwtest.Release1)
	res, err := a.Witnessed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Witnessed after the honest log grew: %v", types(res.Alerts))
	for _, al := range res.Alerts {
		t.Logf("  %s: %s", al.Type, al.Message)
		if left, err := audit.VerifyEvidence(al, nil, wp); err == nil {
			t.Logf("  verify-evidence: ok, the evidence proves it (left unchecked: %q)", left)
		}
	}
	if len(res.Alerts) > 0 {
		t.Errorf("FALSE ALERT: an honest witness's checkpoint, one tree ahead of the auditor, raised %v", types(res.Alerts))
	}
}
