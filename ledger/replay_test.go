package ledger_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fwledger/fwledger/api"
	"github.com/fwledger/fwledger/client"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/log"
	"github.com/fwledger/fwledger/log/sqlite"
	"github.com/fwledger/fwledger/logclient"
	"github.com/fwledger/fwledger/provenance"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// otherEncodings returns encodings of env, other than its canonical one,
// that anyone can make without a key.
func otherEncodings(t *testing.T, env []byte) map[string][]byte {
	var indented bytes.Buffer
	json.Indent(&indented, env, "", "  ")
	out := map[string][]byte{
		"leading space":    append([]byte(" "), env...),
		"trailing newline": append(bytes.Clone(env), '\n'),
		"indented":         indented.Bytes(),
		"URL-alphabet signatures": editEnvelope(t, env, func(e *dsse.Envelope) {
			for i := range e.Signatures {
				raw, _ := base64.StdEncoding.DecodeString(e.Signatures[i].Sig)
				e.Signatures[i].Sig = base64.URLEncoding.EncodeToString(raw)
			}
		}),
		"unpadded payload":  editEnvelope(t, env, func(e *dsse.Envelope) { e.Payload = strings.TrimRight(e.Payload, "=") + "" }),
		"members reordered": mutateEnvelope(t, env, func(map[string]any) {}),
	}
	if e, _ := provenance.ParseEnvelope(env); len(e.Signatures) > 1 {
		out["signatures reordered"] = editEnvelope(t, env, func(e *dsse.Envelope) {
			e.Signatures[0], e.Signatures[1] = e.Signatures[1], e.Signatures[0]
		})
	}
	for name, v := range out {
		if bytes.Equal(v, env) {
			delete(out, name) // this encoding happens to be the canonical one
		}
	}
	return out
}

// TestReplaysWithOtherBytes: anyone, with no key, resubmits logged
// envelopes in other bytes. None is logged again: other encodings are
// refused, and the same statement with no new trusted signer gets the
// index of the logged entry. A co-signed envelope, which adds a trusted
// signer, is a new entry.
func TestReplaysWithOtherBytes(t *testing.T) {
	ctx := context.Background()
	l := fwtest.StartLog(t, fwtest.LogOptions{
		ReleaseKeys: []*keys.PrivateKey{rel1, rel2}, BuilderKeys: []*keys.PrivateKey{fwtest.Builder, fwtest.Rebuilder}, RequireProvenance: true,
	})
	lc := newClient(t, l)
	img, prov := ciBuild(t, "replayed image", 2500)
	rel := releaseOf(t, img, prov)
	res, err := lc.AddAll(ctx, [][]byte{prov, rel})
	if err != nil {
		t.Fatal(err)
	}
	provAt, relAt := res[0].Index, res[1].Index
	l.WaitSize(t, 2) // so that the state changes only if something is logged

	// Other encodings: 400, naming the canonical encoding, nothing logged.
	for _, env := range [][]byte{prov, rel} {
		for name, v := range otherEncodings(t, env) {
			before := snapshot(t, l)
			_, err := lc.Add(ctx, v)
			var he *logclient.HTTPError
			if !errors.As(err, &he) || he.Status != http.StatusBadRequest || !strings.Contains(he.Message, "not in the canonical encoding") {
				t.Errorf("%s: Add = %v; want a 400 naming the canonical encoding", name, err)
			}
			if after := snapshot(t, l); !equalState(before, after) {
				t.Errorf("%s: state changed", name)
			}
		}
	}

	// The same statement, signed otherwise.
	cosigned, err := provenance.AddSignature(ctx, rel, fwtest.Signer(t, rel2))
	if err != nil {
		t.Fatal(err)
	}
	byRel2Only := fwtest.SignPayload(t, envelopeBody(t, rel), rel2)
	withStranger, err := provenance.AddSignature(ctx, rel, fwtest.Signer(t, fwtest.Key("mallory")))
	if err != nil {
		t.Fatal(err)
	}
	provWithStranger, err := provenance.AddSignature(ctx, prov, fwtest.Signer(t, fwtest.Stranger))
	if err != nil {
		t.Fatal(err)
	}
	add := func(env []byte) api.AddResponse {
		t.Helper()
		r, err := lc.Add(ctx, env)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	coAt := add(cosigned).Index
	if coAt == relAt || coAt == provAt {
		t.Fatalf("the co-signed release got index %d, an existing one", coAt)
	}
	l.WaitSize(t, coAt+1)
	for _, tc := range []struct {
		desc string
		env  []byte
		want uint64
	}{
		{"the release again", rel, relAt},
		{"the provenance again", prov, provAt},
		{"the co-signed release again", cosigned, coAt},
		{"the release signed by release-2 alone (the co-signed entry has it)", byRel2Only, coAt},
		{"the release with an untrusted signature added", withStranger, relAt},
		{"the provenance with an untrusted signature added", provWithStranger, provAt},
	} {
		before := snapshot(t, l)
		r := add(tc.env)
		if r.Index != tc.want {
			t.Errorf("%s: index %d, want %d", tc.desc, r.Index, tc.want)
		}
		if after := snapshot(t, l); !equalState(before, after) {
			t.Errorf("%s: state changed", tc.desc)
		}
		if got, err := l.Log.Entry(ctx, r.Index); err != nil || hexLeaf(got) != r.LeafHash {
			t.Errorf("%s: the answer's leaf hash is not the logged entry's", tc.desc)
		}
	}
	if _, seq, _ := l.Store.Tree(ctx); seq != 3 {
		t.Errorf("%d entries logged, want 3 (provenance, release, co-signed release)", seq)
	}
}

func hexLeaf(data []byte) string {
	h := sha256.Sum256(append([]byte{0}, data...))
	return fmt.Sprintf("%x", h)
}

// TestCopiesCannotCrowdOutBundles reproduces what an outside review did
// with replays, and checks that none of it works any more:
//   - copies of the build provenance filled the bundle's eight provenance
//     slots, leaving out the real independent rebuild, so a device
//     requiring two builders refused the release;
//   - after 1,000 copies, a newer release of the image was hidden from
//     /v1/bundles and /v1/subjects;
//   - an old release became the latest in /v1/releases and in the default
//     bundle.
//
// Even a builder's own key, signing many more statements about the image,
// takes one provenance slot of a bundle.
func TestCopiesCannotCrowdOutBundles(t *testing.T) {
	ctx := context.Background()
	l := fwtest.StartLog(t, fwtest.LogOptions{
		ReleaseKeys: []*keys.PrivateKey{rel1}, BuilderKeys: []*keys.PrivateKey{fwtest.Builder, fwtest.Rebuilder}, RequireProvenance: true,
	})
	lc := newClient(t, l)
	img, prov := ciBuild(t, "crowded image", 2200)
	old := releaseOf(t, img, prov)
	if _, err := lc.AddAll(ctx, [][]byte{prov, old}); err != nil {
		t.Fatal(err)
	}
	// The build system's key signs 150 more statements about the image
	// (more than a page of a lookup) before the independent rebuild.
	for i := 0; i < 150; i++ {
		more := build(t, img, fwtest.Builder, "https://ci.example.com/runner/v1", func(b *provenance.Build) { b.InvocationID = fmt.Sprint("run ", i) })
		if _, err := lc.Add(ctx, more); err != nil {
			t.Fatal(err)
		}
	}
	rb := build(t, img, fwtest.Rebuilder, "https://rebuild.example.org/worker", nil)
	rbRes, err := lc.Add(ctx, rb)
	if err != nil {
		t.Fatal(err)
	}
	// 1,000 replays of the provenance and the release in other bytes, by
	// someone with no key.
	variants := append(mapValues(otherEncodings(t, prov)), mapValues(otherEncodings(t, old))...)
	refused := 0
	for i := 0; i < 1000; i++ {
		v := variants[i%len(variants)]
		if i >= len(variants) {
			v = append(bytes.Repeat([]byte(" "), i/len(variants)), v...)
		}
		if _, err := lc.Add(ctx, v); err != nil {
			refused++
		}
	}
	if refused != 1000 {
		t.Errorf("%d of 1000 replays refused, want all", refused)
	}
	// A newer release of the same image (for another channel), then a
	// replay of the old one by the same bytes.
	newer := fwtest.SignRelease(t, fwtest.NewRelease(img, func(r *provenance.Release) {
		r.Channel, r.Version = "beta", "1.5.0"
		r.Provenance = []digest.Digest{sha256.Sum256(prov)}
	}), rel1)
	nres, err := lc.Add(ctx, newer)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := lc.Add(ctx, old); err != nil || r.Index != 1 {
		t.Fatalf("replaying the old release = %+v, %v; want its index 1", r, err)
	}
	_, seq, _ := l.Store.Tree(ctx)
	l.WaitSize(t, seq)

	// The default bundle is the newer release's, with the build
	// provenance first and the independent rebuild next, nothing else.
	b, pb := latestBundle(t, lc, sha256.Sum256(img))
	if pb.Release.Proof.Index != nres.Index {
		t.Errorf("the default bundle is for entry %d, want the newer release %d", pb.Release.Proof.Index, nres.Index)
	}
	if len(pb.Provenance) != 2 || !bytes.Equal(pb.Provenance[0].Data, prov) || pb.Provenance[1].Proof.Index != rbRes.Index {
		t.Errorf("bundle provenance: %d entries (want the build provenance, then the rebuild at %d)", len(pb.Provenance), rbRes.Index)
	}
	// A device requiring two independent builders accepts it.
	pol := reproduciblePolicy(t)
	if _, err := client.VerifyBundle(ctx, client.Trust{Log: logVerifier(t), Policy: pol, Model: "acme-x1"}, b, bytes.NewReader(img)); err != nil {
		t.Errorf("VerifyBundle with reproducible: 2 = %v", err)
	}

	// /v1/subjects lists everything, page by page, the newer release last.
	var all []api.SubjectEntry
	var after int64 = -1
	for pages := 0; ; pages++ {
		var sub api.Subject
		path := fmt.Sprintf("%s/v1/subjects/%s", l.URL, digest.Digest(sha256.Sum256(img)))
		if after >= 0 {
			path += fmt.Sprint("?after=", after)
		}
		getJSON(t, path, &sub)
		all = append(all, sub.Entries...)
		if sub.Next == nil {
			break
		}
		if len(sub.Entries) == 0 || pages > 10 {
			t.Fatal("paging does not progress")
		}
		after = int64(*sub.Next)
	}
	if len(all) != int(seq) || all[len(all)-1].Index != nres.Index || all[len(all)-1].Kind != "release" {
		t.Errorf("subject pages list %d entries ending with %+v; want %d ending with the newer release", len(all), all[len(all)-1], seq)
	}
	if all[0].Role != "build" || all[2].Role != "rebuild" {
		t.Errorf("roles: %q, %q; want build, rebuild", all[0].Role, all[2].Role)
	}
	// /v1/releases: the newer release is the latest.
	var rels api.Releases
	getJSON(t, l.URL+"/v1/releases?model=acme-x1", &rels)
	if n := len(rels.Releases); n != 2 || rels.Releases[n-1].Index != nres.Index {
		t.Errorf("/v1/releases lists %d releases, the last at %d; want the old one, then the newer one at %d", n, rels.Releases[n-1].Index, nres.Index)
	}
}

func mapValues(m map[string][]byte) [][]byte {
	var out [][]byte
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// reproduciblePolicy trusts rel1 for releases and requires two distinct
// builders, ci and the rebuilder, to attest an image.
func reproduciblePolicy(t *testing.T) *provenance.Policy {
	files := map[string][]byte{}
	for name, k := range map[string]*keys.PrivateKey{"release.pub": rel1, "ci.pub": fwtest.Builder, "rebuild.pub": fwtest.Rebuilder} {
		files[name], _ = k.Public().Marshal()
	}
	pol := fwtest.Policy(t, `
version: 1
keys:
  release: {file: release.pub}
  ci: {file: ci.pub}
  rebuild: {file: rebuild.pub}
builders:
  - {name: ci, id: "https://ci.example.com/runner/v1", keys: [ci]}
  - {name: rebuilder, id: "https://rebuild.example.org/worker", keys: [rebuild]}
rules:
  - name: all
    models: ["*"]
    release: {keys: [release]}
    provenance: {builders: [ci, rebuilder], reproducible: 2}
`, files)
	return pol
}

// TestReindexOldDataDirectory: a data directory written before the lookup
// index kept releases apart from provenance (and recorded its version) is
// reindexed when the log starts, so that statement deduplication and the
// build/rebuild roles cover the entries logged before.
func TestReindexOldDataDirectory(t *testing.T) {
	fwtest.RequireSQLite(t, "rewrites the SQLite file as an old version made it")
	ctx := context.Background()
	var logs syncBuffer
	opts := fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{rel1}, BuilderKeys: []*keys.PrivateKey{fwtest.Builder, fwtest.Rebuilder}, RequireProvenance: true,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	l := fwtest.StartLog(t, opts)
	if strings.Contains(logs.String(), "rebuilding") {
		t.Errorf("a new log said it rebuilt its index:\n%s", logs.String())
	}
	lc := newClient(t, l)
	img, prov := ciBuild(t, "old directory", 1800)
	rel := releaseOf(t, img, prov)
	if _, err := lc.AddAll(ctx, [][]byte{prov, rel}); err != nil {
		t.Fatal(err)
	}
	l.WaitSize(t, 2)
	dir := l.Dir
	l.Stop(t)
	// Make it what an older fwlog left: releases under their image's
	// subject key, mixed with the provenance, and no index version.
	db := openDB(t, dir)
	if _, err := db.Exec(`UPDATE lookup SET key = x'01' || substr(key, 2) WHERE substr(key, 1, 1) = x'08'; DELETE FROM meta WHERE key = 'index_version'`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	opts.Dir = dir
	logs.Reset()
	l = fwtest.StartLog(t, opts)
	lc = newClient(t, l)
	if !strings.Contains(logs.String(), "rebuilt the lookup index") {
		t.Errorf("the log did not say it rebuilt its index:\n%s", logs.String())
	}
	if v, err := l.Store.IndexVersion(ctx); err != nil || v == 0 {
		t.Errorf("index version after start-up = %d, %v; want it recorded", v, err)
	}
	withStranger, err := provenance.AddSignature(ctx, rel, fwtest.Signer(t, fwtest.Key("mallory")))
	if err != nil {
		t.Fatal(err)
	}
	if r, err := lc.Add(ctx, withStranger); err != nil || r.Index != 1 {
		t.Errorf("a copy of an old release with an untrusted signature = %+v, %v; want the old index 1", r, err)
	}
	sub, err := lc.Subject(ctx, sha256.Sum256(img))
	if err != nil || len(sub.Entries) != 2 || sub.Entries[0].Role != "build" {
		t.Errorf("subject after reindexing = %+v, %v; want the provenance as the build", sub, err)
	}
}

// TestRecombinedSignatures: when trusted keys signed one statement in
// separately logged envelopes, anyone can put their signatures together in
// one envelope. The complete set is logged once (a device needing several
// signatures needs them in one envelope); any other recombination, and any
// copy padded with signatures by unknown keys, is a duplicate, so there are
// never more than two entries per trusted signer of a statement. Two
// envelopes of one statement in one submission are refused.
func TestRecombinedSignatures(t *testing.T) {
	ctx := context.Background()
	rel3 := fwtest.Release3
	l := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{rel1, rel2, rel3}})
	lc := newClient(t, l)
	stmt := statement(t, fwtest.Image("recombined", 1000))
	one := map[string][]byte{}
	for name, k := range map[string]*keys.PrivateKey{"1": rel1, "2": rel2, "3": rel3} {
		one[name] = fwtest.SignPayload(t, stmt, k)
	}
	sigsOf := func(names string) []dsse.Signature {
		var out []dsse.Signature
		for _, n := range names {
			e, _ := provenance.ParseEnvelope(one[string(n)])
			out = append(out, e.Signatures...)
		}
		return out
	}
	recombine := func(names string, junk int) []byte {
		e, _ := provenance.ParseEnvelope(one["1"])
		env := e.Envelope
		env.Signatures = sigsOf(names)
		for i := range junk {
			env.Signatures = append(env.Signatures, dsse.Signature{KeyID: fmt.Sprint("junk", i), Sig: env.Signatures[0].Sig})
		}
		out, err := provenance.CanonicalEnvelope(&env)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	var at []uint64
	for _, n := range []string{"1", "2", "3"} {
		r, err := lc.Add(ctx, one[n])
		if err != nil {
			t.Fatal(err)
		}
		at = append(at, r.Index)
	}
	all, err := lc.Add(ctx, recombine("123", 0))
	if err != nil || all.Index != 3 {
		t.Fatalf("the complete set of signatures = %+v, %v; want a new entry, 3", all, err)
	}
	for _, tc := range []struct {
		names string
		junk  int
	}{{"12", 0}, {"13", 0}, {"23", 0}, {"123", 0}, {"123", 5}, {"12", 20}, {"2", 3}} {
		r, err := lc.Add(ctx, recombine(tc.names, tc.junk))
		if err != nil || r.Index > 3 {
			t.Errorf("signatures %s with %d junk ones = %+v, %v; want an existing index", tc.names, tc.junk, r, err)
		}
	}
	if _, seq, _ := l.Store.Tree(ctx); seq != 4 {
		t.Errorf("%d entries logged, want 4", seq)
	}
	// Before the complete set is logged, partial sets are duplicates too.
	stmt2 := statement(t, fwtest.Image("recombined 2", 1000))
	for _, k := range []*keys.PrivateKey{rel1, rel2, rel3} {
		if _, err := lc.Add(ctx, fwtest.SignPayload(t, stmt2, k)); err != nil {
			t.Fatal(err)
		}
	}
	if r, err := lc.Add(ctx, fwtest.SignPayload(t, stmt2, rel1, rel2)); err != nil || r.Index > 6 {
		t.Errorf("two of three separately logged signatures = %+v, %v; want an existing index", r, err)
	}
	var he *logclient.HTTPError
	if _, err := lc.AddAll(ctx, [][]byte{fwtest.SignPayload(t, stmt2, rel1), fwtest.SignPayload(t, stmt2, rel2, rel3)}); !errors.As(err, &he) || he.Status != 400 || !strings.Contains(he.Message, "is the statement of entry 0 again") {
		t.Errorf("two envelopes of one statement in one submission = %v; want a 400", err)
	}
}

// countingStorage counts the entries read from a storage.
type countingStorage struct {
	log.Storage
	reads atomic.Int64
}

func (s *countingStorage) ReadEntry(ctx context.Context, i uint64) ([]byte, error) {
	s.reads.Add(1)
	return s.Storage.ReadEntry(ctx, i)
}

// TestBundleReadsAreBounded: an image's latest release is found by one
// lookup, whatever else is logged about the image, and entries read once
// are not read again from storage for the next request.
func TestBundleReadsAreBounded(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	cs := &countingStorage{Storage: store}
	l, err := fwtest.OpenLog(ctx, cs, fwtest.LogOptions{Dir: t.TempDir(), ReleaseKeys: []*keys.PrivateKey{rel1}, BuilderKeys: []*keys.PrivateKey{fwtest.Builder, fwtest.Rebuilder}, Interval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- l.Log().Run(rctx) }()
	defer func() { cancel(); <-done }()
	img, prov := ciBuild(t, "many statements", 1000)
	if _, err := l.AddAll(ctx, [][]byte{prov, releaseOf(t, img, prov)}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 300; i++ {
		if _, err := l.Add(ctx, build(t, img, fwtest.Builder, "https://ci.example.com/runner/v1", func(b *provenance.Build) { b.InvocationID = fmt.Sprint(i) })); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := l.Log().Checkpoint(); s < 302; _, s = l.Log().Checkpoint() {
		time.Sleep(time.Millisecond)
	}
	if _, err := l.Bundle(ctx, sha256.Sum256(img), -1, -1); err != nil {
		t.Fatal(err)
	}
	first := cs.reads.Load()
	if _, err := l.Bundle(ctx, sha256.Sum256(img), -1, -1); err != nil {
		t.Fatal(err)
	}
	if again := cs.reads.Load() - first; again != 0 {
		t.Errorf("a second bundle request read %d entries from storage, want 0 (the first read %d)", again, first)
	}
	cs.reads.Store(0)
	if _, err := l.PutImage(ctx, sha256.Sum256([]byte("x")), bytes.NewReader(nil)); err == nil {
		t.Fatal("PutImage of an image without a release succeeded")
	}
	if n := cs.reads.Load(); n != 0 {
		t.Errorf("looking for the release of an image that has none read %d entries", n)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func (b *syncBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b.Reset()
}
