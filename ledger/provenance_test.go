package ledger_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fwledger/fwledger/api"
	"github.com/fwledger/fwledger/client"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/logclient"
	"github.com/fwledger/fwledger/provenance"
	intoto "github.com/in-toto/in-toto-golang/in_toto"
)

// startProvLog starts a log that requires provenance, trusting rel1 for
// releases and the CI builder and the rebuilder, and a client of it.
func startProvLog(t *testing.T) (*fwtest.Log, *logclient.Client) {
	l := fwtest.StartLog(t, fwtest.LogOptions{
		ReleaseKeys: []*keys.PrivateKey{rel1}, BuilderKeys: []*keys.PrivateKey{fwtest.Builder, fwtest.Rebuilder}, RequireProvenance: true,
	})
	return l, newClient(t, l)
}

// ciBuild returns a test image made of name and size, and its provenance by
// the CI builder.
func ciBuild(t testing.TB, name string, size int) (img, prov []byte) {
	img = fwtest.Image(name, size)
	return img, build(t, img, fwtest.Builder, "https://ci.example.com/runner/v1", nil)
}

// build returns provenance for img signed by builder, changed by edit.
func build(t testing.TB, img []byte, builder *keys.PrivateKey, id string, edit func(*provenance.Build)) []byte {
	b := &provenance.Build{
		BuilderID: id, BuildType: provenance.BuildTypeMake,
		Source: "git+https://git.example.com/acme/fw", Ref: "refs/tags/v1.4.0", Commit: strings.Repeat("ab", 20),
		Target: "acme-x1", StartedOn: time.Date(2026, 11, 1, 11, 0, 0, 0, time.UTC), FinishedOn: time.Date(2026, 11, 1, 11, 5, 0, 0, time.UTC),
		Subjects: []provenance.Artifact{{Name: "fw.bin", SHA256: sha256.Sum256(img)}},
	}
	if edit != nil {
		edit(b)
	}
	stmt, err := b.Statement()
	if err != nil {
		t.Fatal(err)
	}
	return fwtest.SignPayload(t, stmt, builder)
}

// releaseOf returns a release of img endorsing the given provenance.
func releaseOf(t testing.TB, img []byte, prov ...[]byte) []byte {
	return fwtest.SignRelease(t, fwtest.NewRelease(img, func(r *provenance.Release) {
		for _, p := range prov {
			r.Provenance = append(r.Provenance, sha256.Sum256(p))
		}
	}), rel1)
}

func TestReleaseWithProvenance(t *testing.T) {
	ctx := context.Background()
	l, lc := startProvLog(t)
	img, prov := ciBuild(t, "provenance image", 3000)
	rel := releaseOf(t, img, prov)
	res, err := lc.AddAll(ctx, [][]byte{rel, prov}) // order in the request does not matter
	if err != nil {
		t.Fatal(err)
	}
	if res[1].Index != 0 || res[0].Index != 1 {
		t.Errorf("indices = %d (release), %d (provenance); want the provenance logged first", res[0].Index, res[1].Index)
	}
	l.WaitSize(t, 2)

	// An independent rebuild of the same image, submitted alone.
	rb := build(t, img, fwtest.Rebuilder, "https://rebuild.example.org/worker", nil)
	if _, err := lc.Add(ctx, rb); err != nil {
		t.Fatalf("rebuild attestation: %v", err)
	}
	l.WaitSize(t, 3)
	d := digest.Digest(sha256.Sum256(img))
	sub, err := lc.Subject(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	var roles []string
	for _, e := range sub.Entries {
		roles = append(roles, e.Kind+"/"+e.Role)
	}
	if fmt.Sprint(roles) != "[provenance/build release/ provenance/rebuild]" {
		t.Errorf("subject entries = %v", roles)
	}
	if sub.Entries[0].Commit != strings.Repeat("ab", 20) || sub.Entries[2].BuilderID != "https://rebuild.example.org/worker" {
		t.Errorf("subject entries = %+v", sub.Entries)
	}

	// Releases by model and version.
	var rels api.Releases
	getJSON(t, l.URL+"/v1/releases?model=acme-x1&version=1.4.0", &rels)
	if len(rels.Releases) != 1 || rels.Releases[0].Index != 1 || rels.Releases[0].Provenance[0] != digest.Digest(sha256.Sum256(prov)).String() {
		t.Errorf("releases = %+v", rels)
	}
	getJSON(t, l.URL+"/v1/releases?model=acme-x1&version=9.9.9", &rels)
	if len(rels.Releases) != 0 {
		t.Errorf("releases of another version = %+v", rels)
	}

	// The bundle carries the build provenance and the rebuild; a device
	// verifies both.
	b, err := lc.Bundle(ctx, d, -1)
	if err != nil {
		t.Fatal(err)
	}
	trust := client.Trust{Log: logVerifier(t), ReleaseKeys: fwtest.Ring(t, rel1), BuilderKeys: fwtest.Ring(t, fwtest.Builder, fwtest.Rebuilder), RequireProvenance: true}
	v, err := client.VerifyBundle(ctx, trust, b, bytes.NewReader(img))
	if err != nil {
		t.Fatalf("VerifyBundle: %v", err)
	}
	if len(v.Provenance) != 2 || !v.Provenance[0].Endorsed || v.Provenance[1].Endorsed {
		t.Errorf("verified provenance = %+v", v.Provenance)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s = %d %s", url, resp.StatusCode, body)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func jsonArray(entries ...[]byte) []byte {
	return append(append([]byte("["), bytes.Join(entries, []byte(","))...), ']')
}

func TestProvenanceRules(t *testing.T) {
	l, _ := startProvLog(t)
	img := fwtest.Image("rules image", 2000)
	other := fwtest.Image("another image", 2000)
	prov := build(t, img, fwtest.Builder, "https://ci.example.com/runner/v1", nil)
	rel := releaseOf(t, img, prov)
	// Log one unrelated pair so that the state is not empty.
	p0 := build(t, other, fwtest.Builder, "https://ci.example.com/runner/v1", nil)
	if _, err := newClient(t, l).AddAll(context.Background(), [][]byte{p0, releaseOf(t, other, p0)}); err != nil {
		t.Fatal(err)
	}
	l.WaitSize(t, 2)

	unknownBuilder := build(t, img, fwtest.Stranger, "https://ci.evil.example/", nil)
	aboutOther := build(t, other, fwtest.Builder, "https://ci.example.com/runner/v1", func(b *provenance.Build) { b.InvocationID = "x" })
	backwards := build(t, img, fwtest.Builder, "https://ci.example.com/runner/v1", nil)
	backwards = fwtest.SignPayload(t, bytes.Replace(envelopeBody(t, backwards), []byte(`"finishedOn":"2026-11-01T11:05:00Z"`), []byte(`"finishedOn":"2026-11-01T10:05:00Z"`), 1), fwtest.Builder)
	var subjects []provenance.Artifact
	for i := 0; i < 800; i++ {
		subjects = append(subjects, provenance.Artifact{Name: fmt.Sprintf("part-%04d-with-a-long-name.bin", i), SHA256: sha256.Sum256([]byte{byte(i), byte(i >> 8)})})
	}
	huge := build(t, img, fwtest.Builder, "https://ci.example.com/runner/v1", func(b *provenance.Build) { b.Subjects = append(b.Subjects, subjects...) })
	futureBuild := build(t, img, fwtest.Builder, "https://ci.example.com/runner/v1", func(b *provenance.Build) {
		b.StartedOn, b.FinishedOn = time.Date(2999, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2999, 1, 1, 1, 0, 0, 0, time.UTC)
	})
	soonBuild := build(t, img, fwtest.Builder, "https://ci.example.com/runner/v1", func(b *provenance.Build) {
		b.FinishedOn = time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	})
	noProv := fwtest.SignRelease(t, fwtest.NewRelease(img, nil), rel1)
	badSecond := mutateEnvelope(t, rel, func(e map[string]any) { e["payloadType"] = "text/plain" })
	many := make([][]byte, 17)
	for i := range many {
		many[i] = build(t, img, fwtest.Builder, fmt.Sprintf("https://ci.example.com/runner/%d", i), nil)
	}

	for _, tc := range []struct {
		desc   string
		body   []byte
		status int
		msg    string
	}{
		{"release without its provenance", rel, 400, "neither logged nor in this submission"},
		{"release endorsing no provenance", noProv, 400, "endorses no provenance"},
		{"provenance by an unknown builder", jsonArray(unknownBuilder), 403, "unknown key"},
		{"endorsed provenance about another image", jsonArray(aboutOther, releaseOf(t, img, aboutOther)), 400, "is not about the released image"},
		{"finishedOn before startedOn", jsonArray(backwards), 400, "finishedOn"},
		{"build started in 2999", jsonArray(futureBuild), 400, "the provenance's startedOn time 2999-01-01T00:00:00Z is in the future"},
		{"build finished an hour from now", jsonArray(soonBuild), 400, "plus the allowed clock skew of 10m0s"},
		{"provenance over the entry limit", jsonArray(huge), 413, "larger than 65535"},
		{"second entry malformed: nothing logged", jsonArray(prov, badSecond), 400, "entry 1: wrong payloadType"},
		{"too many entries", jsonArray(many...), 400, "more than the limit of 16"},
		{"empty array", []byte("[]"), 400, "no entries"},
		{"not an array of envelopes", []byte(`[1,`), 400, "not a JSON array"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if tc.desc == "provenance over the entry limit" && len(huge) <= 65535 {
				t.Fatalf("the oversize provenance is only %d bytes", len(huge))
			}
			before := snapshot(t, l)
			resp, err := http.Post(l.URL+"/v1/entries", "application/json", bytes.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e api.Error
			json.NewDecoder(resp.Body).Decode(&e)
			if resp.StatusCode != tc.status || !strings.Contains(e.Message, tc.msg) {
				t.Errorf("status %d %q; want %d with %q", resp.StatusCode, e.Message, tc.status, tc.msg)
			}
			if after := snapshot(t, l); !equalState(before, after) {
				t.Errorf("state changed: %+v -> %+v", before, after)
			}
		})
	}
}

// TestSubmissionAllOrNothing injects a fault inside the storage write,
// between the provenance and the release of one submission: neither may be
// logged. Then, without the fault, the same submission logs both.
func TestSubmissionAllOrNothing(t *testing.T) {
	fwtest.RequireSQLite(t, "makes SQLite fail a write with a trigger")
	ctx := context.Background()
	l, lc := startProvLog(t)
	img, prov := ciBuild(t, "atomic image", 1500)
	rel := releaseOf(t, img, prov)

	// A trigger aborts the insert of the second entry (index 1), after the
	// first was inserted in the same transaction.
	db := openDB(t, l.Dir)
	defer db.Close()
	if _, err := db.Exec(`CREATE TRIGGER inject_fault BEFORE INSERT ON entries WHEN NEW.idx = 1 BEGIN SELECT RAISE(ABORT, 'injected fault'); END`); err != nil {
		t.Fatal(err)
	}
	_, err := lc.AddAll(ctx, [][]byte{prov, rel})
	var he *logclient.HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusServiceUnavailable || !strings.Contains(he.Message, "the log's storage failed to store the entries") {
		t.Fatalf("submission with a fault = %v, want a 503 naming the storage", err)
	}
	if _, seq, _ := l.Store.Tree(ctx); seq != 0 {
		t.Fatalf("after the fault %d entries are sequenced, want 0", seq)
	}
	if sub, err := lc.Subject(ctx, sha256.Sum256(img)); err != nil || len(sub.Entries) != 0 {
		t.Fatalf("after the fault the subject has %+v, %v", sub, err)
	}
	if _, err := db.Exec(`DROP TRIGGER inject_fault`); err != nil {
		t.Fatal(err)
	}
	res, err := lc.AddAll(ctx, [][]byte{prov, rel})
	if err != nil || res[0].Index != 0 || res[1].Index != 1 {
		t.Fatalf("retry = %+v, %v", res, err)
	}
	l.WaitSize(t, 2)
	for i, want := range [][]byte{prov, rel} {
		if got, err := l.Log.Entry(ctx, uint64(i)); err != nil || !bytes.Equal(got, want) {
			t.Errorf("entry %d after the retry: %v", i, err)
		}
	}
}

// TestReleaseEndorsingLoggedProvenance logs provenance first and the release
// later, as separate submissions.
func TestReleaseEndorsingLoggedProvenance(t *testing.T) {
	ctx := context.Background()
	_, lc := startProvLog(t)
	img, prov := ciBuild(t, "two steps", 900)
	if _, err := lc.Add(ctx, prov); err != nil {
		t.Fatal(err)
	}
	res, err := lc.Add(ctx, releaseOf(t, img, prov))
	if err != nil || res.Index != 1 {
		t.Fatalf("release of logged provenance = %+v, %v", res, err)
	}
}

// TestLogPolicy runs a log with a policy: a release must pass it for each of
// its models at submission (reproducibility excepted).
func TestLogPolicy(t *testing.T) {
	ctx := context.Background()
	pubs := fwtest.PubFiles(t, map[string]*keys.PrivateKey{"release-1": rel1, "release-2": rel2, "ci": fwtest.Builder, "rebuild": fwtest.Rebuilder})
	pol := fwtest.Policy(t, `
version: 1
keys:
  release-1: {file: release-1}
  release-2: {file: release-2}
  ci: {file: ci}
  rebuilder: {file: rebuild}
builders:
  - {name: ci, id: "https://ci.example.com/runner/v1", keys: [ci], slsaLevel: 2}
  - {name: rebuilder, id: "https://rebuild.example.org/worker", keys: [rebuilder], slsaLevel: 3}
rules:
  - name: acme
    models: [acme-x1]
    release: {keys: [release-1, release-2], threshold: 2}
    provenance:
      builders: [ci, rebuilder]
      sources: [{repo: "git+https://git.example.com/acme/fw", refs: ["refs/tags/v*"]}]
      reproducible: 2
`, pubs)
	l := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{rel1, rel2}, BuilderKeys: []*keys.PrivateKey{fwtest.Builder, fwtest.Rebuilder}, RequireProvenance: true, Policy: pol})
	lc := newClient(t, l)
	img, prov := ciBuild(t, "policy log", 700)
	twoSigs := func(prov []byte) []byte {
		return fwtest.SignRelease(t, fwtest.NewRelease(img, func(r *provenance.Release) { r.Provenance = []digest.Digest{sha256.Sum256(prov)} }), rel1, rel2)
	}
	branch := build(t, img, fwtest.Builder, "https://ci.example.com/runner/v1", func(b *provenance.Build) { b.Ref = "refs/heads/dev" })
	var he *logclient.HTTPError
	if _, err := lc.AddAll(ctx, [][]byte{prov, releaseOf(t, img, prov)}); !errors.As(err, &he) || he.Status != 403 || !strings.Contains(he.Message, "release signatures") {
		t.Errorf("one release signature under a 2-of-2 policy = %v, want 403 naming the release signatures", err)
	}
	if _, err := lc.AddAll(ctx, [][]byte{branch, twoSigs(branch)}); !errors.As(err, &he) || he.Status != 403 || !strings.Contains(he.Message, "refs/heads/dev") {
		t.Errorf("a build from a branch = %v, want 403 naming the ref", err)
	}
	// Passes without rebuilds: reproducibility is not judged at submission.
	if _, err := lc.AddAll(ctx, [][]byte{prov, twoSigs(prov)}); err != nil {
		t.Errorf("a release the policy accepts: %v", err)
	}
}

// TestReleasesByVersion looks releases up by model and version, including
// versions longer than the part of a version the lookup key holds and
// versions that are prefixes of others.
func TestReleasesByVersion(t *testing.T) {
	l := startLog(t)
	long := "1.0.0-" + strings.Repeat("a", 80)
	versions := []string{"1.2.0", "1.10.0", "1.2.0-rc.1", long + ".1", long + ".2", "1.2.0"}
	for i, v := range versions {
		env := fwtest.SignRelease(t, fwtest.NewRelease(fwtest.Image(fmt.Sprint("img", i), 100), func(r *provenance.Release) { r.Version = v }), rel1)
		if _, err := newClient(t, l).Add(context.Background(), env); err != nil {
			t.Fatalf("release %s: %v", v, err)
		}
	}
	for _, tc := range []struct {
		version string
		want    []uint64
	}{
		{"1.2.0", []uint64{0, 5}},
		{"1.10.0", []uint64{1}},
		{"1.2.0-rc.1", []uint64{2}},
		{long + ".1", []uint64{3}},
		{long + ".2", []uint64{4}},
		{long + ".3", nil},
		{"1.2", nil},
	} {
		var rels api.Releases
		getJSON(t, l.URL+"/v1/releases?model=acme-x1&version="+tc.version, &rels)
		var got []uint64
		for _, r := range rels.Releases {
			got = append(got, r.Index)
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("version %.20s…: indices %v, want %v", tc.version, got, tc.want)
		}
	}
}

// TestEndorsingWhatIsNotProvenance: a release whose provenance list names an
// in-toto link or layout (in the same submission or logged) is refused with
// a 400 naming the kind; it once panicked with a nil pointer.
func TestEndorsingWhatIsNotProvenance(t *testing.T) {
	ctx := context.Background()
	l := fwtest.StartLog(t, fwtest.LogOptions{
		ReleaseKeys: []*keys.PrivateKey{rel1}, BuilderKeys: []*keys.PrivateKey{fwtest.Builder}, RequireProvenance: true,
		LayoutKeys: []*keys.PublicKey{fwtest.LayoutKey.Public()},
	})
	lc := newClient(t, l)
	img := fwtest.Image("endorsing a link", 1200)
	layout, links := fwtest.NewPipeline(t, img).Signed(t)
	// A link signed by nobody the log knows.
	stray := fwtest.SignMetablock(t, fwtest.NewPipeline(t, img).Build, fwtest.Stranger)
	if _, err := lc.Add(ctx, layout); err != nil {
		t.Fatalf("logging the layout: %v", err)
	}
	l.WaitSize(t, 1)
	for _, tc := range []struct {
		desc    string
		entries [][]byte
		kind    string
	}{
		{"a link in the same submission", [][]byte{stray, releaseOf(t, img, stray)}, "link"},
		{"a vendor link in the same submission", [][]byte{links[0], releaseOf(t, img, links[0])}, "link"},
		{"a logged layout", [][]byte{releaseOf(t, img, layout)}, "layout"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			before := snapshot(t, l)
			_, err := lc.AddAll(ctx, tc.entries)
			var he *logclient.HTTPError
			if !errors.As(err, &he) || he.Status != http.StatusBadRequest || !strings.Contains(he.Message, "is an in-toto "+tc.kind+", not SLSA provenance") {
				t.Errorf("AddAll = %v; want a 400 naming the in-toto %s", err, tc.kind)
			}
			if after := snapshot(t, l); !equalState(before, after) {
				t.Errorf("state changed: %+v -> %+v", before, after)
			}
		})
	}
}

// TestLayoutEndToEnd logs a release with its provenance, the vendor's in-toto
// layout and the links of its two steps, in one submission; a device then
// verifies the bundle under a policy that requires the layout.
func TestLayoutEndToEnd(t *testing.T) {
	ctx := context.Background()
	l := fwtest.StartLog(t, fwtest.LogOptions{
		ReleaseKeys: []*keys.PrivateKey{rel1}, BuilderKeys: []*keys.PrivateKey{fwtest.Builder}, RequireProvenance: true,
		LayoutKeys: []*keys.PublicKey{fwtest.LayoutKey.Public()},
	})
	lc := newClient(t, l)
	img, prov := ciBuild(t, "pipeline image", 3333)
	layout, links := fwtest.NewPipeline(t, img).Signed(t)
	release := func(layout []byte, links ...[]byte) []byte {
		return layoutRelease(t, img, prov, layout, links, nil)
	}
	var he *logclient.HTTPError

	// Refusals, each leaving nothing behind.
	if _, err := lc.Add(ctx, links[0]); !errors.As(err, &he) || !strings.Contains(he.Message, "only with a release that names it") {
		t.Errorf("a link alone = %v", err)
	}
	otherLayout := fwtest.NewPipeline(t, img)
	otherLayout.LayoutSigner = fwtest.Key("not the vendor")
	strange, _ := otherLayout.Signed(t)
	if _, err := lc.Add(ctx, strange); !errors.As(err, &he) || he.Status != 403 || !strings.Contains(he.Message, "not signed by a layout key") {
		t.Errorf("a layout by an unknown key = %v", err)
	}
	broken := fwtest.NewPipeline(t, img)
	broken.Package.Materials = map[string]intoto.HashObj{"fw.bin": fwtest.HashObj([]byte("tampered"))}
	bLayout, bLinks := broken.Signed(t)
	if _, err := lc.AddAll(ctx, [][]byte{prov, bLayout, bLinks[0], bLinks[1], release(bLayout, bLinks...)}); !errors.As(err, &he) || he.Status != 403 || !strings.Contains(he.Message, "in-toto layout verification failed") {
		t.Errorf("a supply chain whose artifact rules break = %v", err)
	}
	if _, err := lc.AddAll(ctx, [][]byte{prov, release(layout, links...)}); !errors.As(err, &he) || !strings.Contains(he.Message, "in-toto layout") {
		t.Errorf("a release naming a layout that is not logged = %v", err)
	}
	if _, seq, _ := l.Store.Tree(ctx); seq != 0 {
		t.Fatalf("%d entries sequenced after refusals", seq)
	}

	res, err := lc.AddAll(ctx, [][]byte{release(layout, links...), links[1], prov, layout, links[0]})
	if err != nil {
		t.Fatalf("submitting the supply chain: %v", err)
	}
	if res[0].Index != 4 {
		t.Errorf("the release is at %d, want 4 (after everything it names)", res[0].Index)
	}
	l.WaitSize(t, 5)
	b, err := lc.Bundle(ctx, sha256.Sum256(img), -1)
	if err != nil {
		t.Fatal(err)
	}
	layoutPub, _ := fwtest.LayoutKey.Public().Marshal()
	relPub, _ := rel1.Public().Marshal()
	ciPub, _ := fwtest.Builder.Public().Marshal()
	files := map[string][]byte{"layout.pub": layoutPub, "release.pub": relPub, "ci.pub": ciPub}
	pol := fwtest.Policy(t, `
version: 1
keys:
  vendor: {file: layout.pub}
  release: {file: release.pub}
  ci: {file: ci.pub}
builders:
  - {name: ci, id: "https://ci.example.com/runner/v1", keys: [ci]}
rules:
  - name: all
    models: ["*"]
    release: {keys: [release]}
    provenance: {builders: [ci]}
    layout: {keys: [vendor]}
`, files)
	v, err := client.VerifyBundle(ctx, client.Trust{Log: logVerifier(t), Policy: pol, Model: "acme-x1"}, b, bytes.NewReader(img))
	if err != nil {
		t.Fatalf("VerifyBundle under a layout policy: %v", err)
	}
	if v.Index != 4 {
		t.Errorf("verified index %d", v.Index)
	}
}

// layoutRelease signs, with rel1, a release of img that endorses prov and
// names the in-toto layout and links, changed by edit if not nil.
func layoutRelease(t testing.TB, img, prov, layout []byte, links [][]byte, edit func(*provenance.Release)) []byte {
	t.Helper()
	return fwtest.SignRelease(t, fwtest.NewRelease(img, func(r *provenance.Release) {
		r.Provenance = []digest.Digest{sha256.Sum256(prov)}
		d := digest.Digest(sha256.Sum256(layout))
		r.Layout = &d
		for _, lk := range links {
			r.Links = append(r.Links, sha256.Sum256(lk))
		}
		if edit != nil {
			edit(r)
		}
	}), rel1)
}
