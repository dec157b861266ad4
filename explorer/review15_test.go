package explorer_test

// Review 15: proofs of concept against the web explorer. Each test fails
// on the code under review and shows one problem.

import (
	"bufio"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/explorer"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/log/sqlite"
	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/tlogpolicy"
)

// section returns the part of page from the heading that starts with
// from up to the next "<h3" or "<h2" (or the end).
func section(page, from string) string {
	i := strings.Index(page, from)
	if i < 0 {
		return ""
	}
	rest := page[i+len(from):]
	end := len(rest)
	for _, h := range []string{"<h3", "<h2"} {
		if j := strings.Index(rest, h); j >= 0 && j < end {
			end = j
		}
	}
	return rest[:end]
}

// TestReview15CollisionHidden: a release key holder logs a second image
// for model acme-x1 version 1.4.0 (a collision the auditor alerts on), then
// eight more releases of that same image and version (other creation
// times). The model page looks for collisions among the 8 newest
// releases of each version only, so it sees one image and drops the red
// "logged with 2 different images" panel, although both images are in
// the very list it shows.
func TestReview15CollisionHidden(t *testing.T) {
	s := startSite(t, fwtest.LogOptions{}, nil)
	imgA, imgB := fwtest.Image("collision-a", 100), fwtest.Image("collision-b", 100)
	entries := [][]byte{fwtest.SignRelease(t, fwtest.NewRelease(imgA, nil), fwtest.Release1)}
	for i := range 9 {
		r := fwtest.NewRelease(imgB, func(r *provenance.Release) {
			r.Created = r.Created.Add(time.Duration(i+1) * time.Minute)
		})
		entries = append(entries, fwtest.SignRelease(t, r, fwtest.Release1))
	}
	idx := s.add(t, entries...)
	model := s.page(t, "/models/acme-x1")
	if !strings.Contains(model, fmt.Sprintf(`href="/entries/%d"`, idx[0])) {
		t.Fatalf("the model page does not even list the first image's release")
	}
	if !strings.Contains(model, "was logged with different images") {
		t.Errorf("model page lists releases of acme-x1 1.4.0 with two images (entries %d and %d) but shows no collision: it looks at the 8 newest releases of the version only", idx[0], idx[1])
	}
}

// TestReview15KeyRevocationFromLaterIndex: the vendor retires key
// release-1 with a key revocation that applies from a later index (or its
// own): releases signed before it stay valid, and devices install them.
// The entry page of such a release still shows "Revocations that apply"
// and the alert "a key that signed this entry is revoked": it lists every
// revocation of a signer, without asking whether it applies at the
// entry's index. (And a revocation that does apply is not listed, since
// the revoked key is no longer among the verified signers.)
func TestReview15KeyRevocationFromLaterIndex(t *testing.T) {
	s := startSite(t, fwtest.LogOptions{}, nil)
	rel := fwtest.SignRelease(t, fwtest.NewRelease(fwtest.Image("retired", 100), nil), fwtest.Release1)
	relIdx := s.add(t, rel)[0]
	rev := fwtest.SignRevocation(t, &provenance.Revocation{
		Revokes: provenance.RevokeKey, KeyID: fwtest.KeyID(t, fwtest.Release1), FromIndex: 1000,
		Reason: "key retired", Created: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC),
	}, fwtest.Security1)
	s.add(t, rev)
	page := s.page(t, fmt.Sprintf("/entries/%d", relIdx))
	if !strings.Contains(page, "<code>"+fwtest.KeyID(t, fwtest.Release1)+"</code>") {
		t.Fatalf("the release no longer shows its signer: the revocation applies to it after all")
	}
	if strings.Contains(page, "Revocations that apply") || strings.Contains(page, "is revoked.</div>") {
		t.Errorf("entry %d, signed by release-1 before release-1 was revoked (from a later index), is shown under \"Revocations that apply\" with an alert that a key that signed it is revoked; devices accept it", relIdx)
	}
}

// TestReview15SelfRebuildAgrees: the builder that built an image logs a
// second provenance of the same build (another invocation ID), signed by
// the same key with the same builder.id. The page of the first provenance
// lists it under "Rebuilds that agree": one builder alone fakes an
// independent rebuild. (Bundles count a rebuild only from a signer that has
// not signed already; the page checks no signer at all, not even that the
// rebuild still verifies.)
func TestReview15SelfRebuildAgrees(t *testing.T) {
	s := startSite(t, fwtest.LogOptions{}, nil)
	img := fwtest.Image("self-rebuild", 100)
	prov := fwtest.ProvenanceWith(t, img, fwtest.Builder, func(b *provenance.Build) { b.InvocationID = "run-1" })
	again := fwtest.ProvenanceWith(t, img, fwtest.Builder, func(b *provenance.Build) { b.InvocationID = "run-2" })
	idx := s.add(t, prov, again)
	page := s.page(t, fmt.Sprintf("/entries/%d", idx[0]))
	agree := section(page, "Rebuilds that agree")
	if strings.Contains(agree, fmt.Sprintf(`href="/entries/%d"`, idx[1])) {
		t.Errorf("provenance %d by the same builder key and builder.id is listed as a rebuild that agrees with provenance %d", idx[1], idx[0])
	}
}

// TestReview15CommitVariantHidesDisagreement: a rogue builder key builds
// another image and claims the same repository and commit as the honest
// build, but writes the commit with an invisible U+034F (COMBINING
// GRAPHEME JOINER, category Mn, which Reveal passes) after its first
// digit. Its commit looks the same on its page, yet the honest
// provenance's page shows no "Rebuilds that disagree" (the lookup key and
// the comparison take the commit byte for byte; nothing checks that it is
// hex, nor folds case: an upper-case commit does the same), and the
// search "repo@commit" does not find it.
func TestReview15CommitVariantHidesDisagreement(t *testing.T) {
	s := startSite(t, fwtest.LogOptions{}, nil)
	const commit = "0123456789abcdef0123456789abcdef01234567"
	honest := fwtest.Provenance(t, fwtest.Image("honest-build", 100), fwtest.Builder)
	stmt, err := (&provenance.Build{
		BuilderID: "https://rebuilder.example.org/r1", BuildType: provenance.BuildTypeMake,
		Source: "git+https://git.example.com/acme/fw", Ref: "refs/tags/v1", Commit: commit,
		Subjects: []provenance.Artifact{{Name: "fw.bin", SHA256: sha256.Sum256(fwtest.Image("rogue-build", 100))}},
	}).Statement()
	if err != nil {
		t.Fatal(err)
	}
	stmt = []byte(strings.Replace(string(stmt), commit, "0\u034f"+commit[1:], 1))
	rogue := fwtest.SignPayload(t, stmt, fwtest.Rebuilder)
	idx := s.add(t, honest, rogue)
	// Fixed: the rogue commit is not the honest one, and its page says
	// so: the invisible character is written out, and a commit that is
	// no git digest is marked.
	rp := s.page(t, fmt.Sprintf("/entries/%d", idx[1]))
	if !strings.Contains(rp, "0⟨U&#43;034F⟩123456789abcdef") || !strings.Contains(rp, "not a git commit digest") {
		t.Errorf("the rogue provenance's page shows its commit as if it were %s", commit)
	}
	// And the lookalike commit is the honest one for the comparison.
	page := s.page(t, fmt.Sprintf("/entries/%d", idx[0]))
	if !strings.Contains(section(page, "Rebuilds that disagree"), fmt.Sprintf(`href="/entries/%d"`, idx[1])) {
		t.Errorf("provenance %d builds another image from what looks like the same repository and commit, but provenance %d's page shows no disagreeing rebuild", idx[1], idx[0])
	}
}

// withForeignSignature returns env with one more signature that names
// keyID and verifies under no key: the log takes it (an unknown signer
// beside a trusted one), and indexes the entry under the keyid it names.
func withForeignSignature(t *testing.T, env []byte, keyID string) []byte {
	t.Helper()
	var e map[string]any
	if err := json.Unmarshal(env, &e); err != nil {
		t.Fatal(err)
	}
	sigs := e["signatures"].([]any)
	sigs = append(sigs, map[string]any{"keyid": keyID, "sig": base64.StdEncoding.EncodeToString(make([]byte, 64))})
	e["signatures"] = sigs
	out, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if out, err = provenance.Canonicalize(out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestReview15SignerSearchFlood: anyone with a builder key buries what a
// release key signed. Provenance signed by the builder, with a second
// signature that only names release-1's key ID, is logged and indexed
// under release-1's signer key. The search by release-1's key reads the 25
// newest rows under that key, drops them all (release-1 did not sign
// them) and shows "(0+)": release-1's release is not on the page.
func TestReview15SignerSearchFlood(t *testing.T) {
	s := startSite(t, fwtest.LogOptions{}, nil)
	id1 := fwtest.KeyID(t, fwtest.Release1)
	rel := fwtest.SignRelease(t, fwtest.NewRelease(fwtest.Image("buried", 100), nil), fwtest.Release1)
	relIdx := s.add(t, rel)[0]
	var junk [][]byte
	for i := range explorer.PageSize {
		p := fwtest.Provenance(t, fwtest.Image(fmt.Sprint("junk", i), 64), fwtest.Builder)
		junk = append(junk, withForeignSignature(t, p, id1))
	}
	s.add(t, junk[:explorer.PageSize/2]...)
	s.add(t, junk[explorer.PageSize/2:]...)
	page := s.page(t, "/search?q="+id1+"&in=signer")
	if !strings.Contains(page, fmt.Sprintf(`href="/entries/%d"`, relIdx)) {
		t.Errorf("the search by release-1's key does not show the release it signed (entry %d): %d entries by another key that name release-1's key ID bury it", relIdx, explorer.PageSize)
	}
}

// TestReview15WitnessFakeFork: one witness of the policy (or anyone who
// can answer for its URL, often plain http) answers every add-checkpoint
// with "409 Conflict" and no body. The collector takes any 409 without
// the size content type as a fork, and the witnesses page then shows the
// red alert "Witness w2 holds another checkpoint of size N", with no
// evidence checked (nothing signed by the log's key with another root).
// It also names the size of the checkpoint offered, not the old size the
// conflict is about.
func TestReview15WitnessFakeFork(t *testing.T) {
	wkeys := []*keys.PrivateKey{fwtest.WitnessA, fwtest.WitnessB, fwtest.WitnessC}
	urls := fwtest.StartWitnesses(t, wkeys[:2], fwtest.LogKey)
	liar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusConflict)
	}))
	t.Cleanup(liar.Close)
	urls = append(urls, liar.URL)
	policyText := fwtest.WitnessPolicy(t, fwtest.LogKey, 2, wkeys, urls...)
	policy, err := tlogpolicy.Parse(policyText)
	if err != nil {
		t.Fatal(err)
	}
	col := fwtest.Collector(t, policyText)
	s := startSite(t, fwtest.LogOptions{Witnesser: col, WitnessTimeout: 2 * time.Second}, func(c *explorer.Config) {
		c.Witnesses, c.WitnessStatus = policy, col.Status
	})
	s.add(t, fwtest.SignRelease(t, fwtest.NewRelease(fwtest.Image("fake-fork", 100), nil), fwtest.Release1))
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := col.Status()
		if len(st) == 3 && st[2].Err != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the collector never asked the lying witness: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	page := s.page(t, "/witnesses")
	if strings.Contains(page, "holds another checkpoint") {
		t.Errorf("the witnesses page shows a fork alert on a bare 409 from one witness, with no evidence:\n%s", section(page, `id="forks">Forks</h2>`))
	}
}

// TestReview15SlowReaderHoldsSlot: the limiter's slot is held while the
// page is written to the client. A client that sends pipelined requests
// on one connection and never reads fills the socket buffers; the
// handler then blocks in Write, inside Limiter.Do, for as long as the
// server's WriteTimeout (5 minutes in fwlog), and every other page is
// answered 503 after a second: one TCP connection takes the explorer down
// (with the default of half the CPUs, one on a 2-core machine; a few
// connections on a larger one). "Each within 5 seconds" (README, API.md)
// does not hold: Timeout only ends the context.
func TestReview15SlowReaderHoldsSlot(t *testing.T) {
	s := startSite(t, fwtest.LogOptions{}, func(c *explorer.Config) { c.MaxConcurrent = 1 })
	img := fwtest.Image("slow", 100)
	// A release with a long image name: a page of some 20 KB.
	r := fwtest.NewRelease(img, func(r *provenance.Release) { r.ImageName = strings.Repeat("&", 1024) })
	idx := s.add(t, fwtest.SignRelease(t, r, fwtest.Release1))[0]
	path := fmt.Sprintf("/entries/%d", idx)

	addr := strings.TrimPrefix(s.URL, "http://")
	d := net.Dialer{Control: nil}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.(*net.TCPConn).SetReadBuffer(4096)
	go func() {
		w := bufio.NewWriter(c)
		for range 2000 {
			if _, err := fmt.Fprintf(w, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path); err != nil {
				return
			}
		}
		w.Flush()
	}()
	// Let the responses fill the buffers.
	time.Sleep(3 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/", nil)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET / while one client does not read its responses: %s after %s; one connection holds the explorer's only slot", resp.Status, time.Since(start).Round(time.Millisecond))
	}
}

// TestReview15LongPathErrorPage: the 404 page names the whole path,
// unclipped, revealed and escaped, and is rendered outside the limiter: a
// request of a 60 KB path of "%01" gets an error page several times its
// size (every byte becomes "⟨U&#43;0001⟩"), as many at once as there are
// connections. Other error pages clip what they echo to 64 characters.
func TestReview15LongPathErrorPage(t *testing.T) {
	s := startSite(t, fwtest.LogOptions{}, nil)
	path := "/" + strings.Repeat("%01", 20000)
	resp, body := s.get(t, path)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET a long path: %s", resp.Status)
	}
	if len(body) > 16<<10 {
		t.Errorf("GET a %d-byte path: a %d-byte error page (the path is echoed unclipped)", len(path), len(body))
	}
}

// standIn is a KeylessVerifier that accepts one Sigstore bundle with a
// given certificate identity (as a real Fulcio certificate for a GitHub
// workflow run on a branch of the attacker's naming would carry).
type standIn struct {
	digest digest.Digest
	id     provenance.CertificateIdentity
}

func (o standIn) VerifyKeyless(e *provenance.Entry) (*provenance.CertificateIdentity, error) {
	if e.Digest != o.digest {
		return nil, fmt.Errorf("not the bundle of this test")
	}
	return &o.id, nil
}

// TestReview15KeylessSignerNotRevealed: the "Signed by" line of an entry
// prints a keyless signer ("keyless:<issuer> <SAN>") as it is, not through
// reveal: a certificate identity that the policy's sanRegex admits (here
// any workflow ref of the repository) and that holds a right-to-left
// override reaches the page raw, and reorders what follows it. The
// "Certificate identity" row of the same page reveals it. (Its "what it
// signed" link is also a dead end: the search has no signer section for a
// keyless ID, a 400.)
func TestReview15KeylessSignerNotRevealed(t *testing.T) {
	img := fwtest.Image("keyless", 100)
	bundle := fwtest.SigstoreBundle(t, img, 1)
	kv := standIn{digest: sha256.Sum256(bundle), id: provenance.CertificateIdentity{
		Issuer: "https://token.actions.githubusercontent.com",
		SAN:    "https://github.com/acme/fw/.github/workflows/release.yml@refs/heads/\u202egnp.exe",
	}}
	relPub, _ := fwtest.Release1.Public().Marshal()
	pol, err := provenance.ParsePolicy([]byte(`
version: 1
keys: {release: {file: release.pub}}
trustedRoot: root.json
builders:
  - name: gha
    id: https://github.com/acme/fw/.github/workflows/release.yml@refs/tags/v9
    keyless: {issuer: "https://token.actions.githubusercontent.com", sanRegex: "^https://github.com/acme/fw/"}
rules:
  - {name: all, models: ["*"], release: {keys: [release]}, provenance: {builders: [gha]}}
`), func(n string) ([]byte, error) {
		return map[string][]byte{"release.pub": relPub, "root.json": []byte("{}")}[n], nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s := startSite(t, fwtest.LogOptions{Policy: pol, Keyless: kv}, nil)
	idx := s.add(t, bundle)[0]
	page := s.page(t, fmt.Sprintf("/entries/%d", idx))
	if !strings.Contains(page, "keyless:") {
		t.Fatalf("the entry page names no keyless signer")
	}
	if strings.ContainsRune(page, '\u202e') {
		i := strings.IndexRune(page, '\u202e')
		t.Errorf("the entry page holds a raw right-to-left override from the certificate identity: %q", page[max(0, i-120):i+12])
	}
	// Fixed: a keyless identity has no search by key, and no link to one.
	if strings.Contains(page, "what it signed") {
		t.Errorf("the entry page links a keyless signer to a search by key ID")
	}
}

// brokenWriter is a client that went away: every Write fails.
type brokenWriter struct {
	h       http.Header
	headers int
}

func (w *brokenWriter) Header() http.Header       { return w.h }
func (w *brokenWriter) WriteHeader(int)           { w.headers++ }
func (w *brokenWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

// TestReview15ClientGoneRendersTwice: when writing a page fails (the
// client closed the connection, or the write timed out), page() takes
// Render's error for a failed page: it logs "page failed" at ERROR level
// and renders the error page on top of the response already started (a
// second WriteHeader, "superfluous response.WriteHeader" and "wrote more
// than the declared Content-Length" in the server's log). Any client
// without a key fills the operator's error log by hanging up.
func TestReview15ClientGoneRendersTwice(t *testing.T) {
	s := startSite(t, fwtest.LogOptions{}, nil)
	s.add(t, fwtest.SignRelease(t, fwtest.NewRelease(fwtest.Image("gone", 100), nil), fwtest.Release1))
	var logged strings.Builder
	ex, err := explorer.New(explorer.Config{Ledger: s.Ledger, Logger: slogTo(&logged)})
	if err != nil {
		t.Fatal(err)
	}
	w := &brokenWriter{h: http.Header{}}
	ex.Handler(http.NotFoundHandler()).ServeHTTP(w, httptest.NewRequest("GET", "/entries/0", nil))
	if w.headers != 1 {
		t.Errorf("a page whose client went away wrote its header %d times", w.headers)
	}
	if strings.Contains(logged.String(), "level=ERROR") {
		t.Errorf("a client hanging up is logged as an error:\n%s", logged.String())
	}
}

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// TestReview15StaleRevokedBadgeOnFrontend (Trillian only, make
// test-trillian): the "revoked" badges of the lists (home, model, search)
// come from Ledger.ReleaseRevoked, the in-memory revocation set, which a
// frontend of a shared storage brings up to date only when it takes a
// submission or serves a bundle, never for a page. A frontend that only
// serves the explorer shows a release revoked through another frontend as
// not revoked, for as long as nobody submits through it, while its own
// entry page lists the revocation.
func TestReview15StaleRevokedBadgeOnFrontend(t *testing.T) {
	if fwtest.Backend() != "trillian" {
		t.Skip("frontends share a storage only on the Trillian backend (make test-trillian)")
	}
	dir := t.TempDir()
	a := startSite(t, fwtest.LogOptions{Dir: dir}, nil)
	b := startSite(t, fwtest.LogOptions{Dir: dir}, nil)
	img := fwtest.Image("revoked-elsewhere", 100)
	relIdx := a.add(t, fwtest.SignRelease(t, fwtest.NewRelease(img, nil), fwtest.Release1))[0]
	a.add(t, fwtest.SignRevocation(t, &provenance.Revocation{
		Revokes: provenance.RevokeRelease, Image: sha256.Sum256(img), ImageName: "fw.bin",
		Reason: "bricks rev B boards", Created: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC),
	}, fwtest.Security1))
	b.WaitSize(t, relIdx+2)
	if e := b.page(t, fmt.Sprintf("/entries/%d", relIdx)); !strings.Contains(e, "Revocations that apply") {
		t.Fatalf("frontend b's entry page does not list the revocation either")
	}
	if m := b.page(t, "/models/acme-x1"); !strings.Contains(m, `<span class="badge bad">revoked</span>`) {
		t.Errorf("frontend b's model page shows release %d, revoked through frontend a, as not revoked", relIdx)
	}
}

// TestReview15ReindexDropsVerifiedSigner: at submission an entry is
// indexed under the signers that verify under its kind's ring (release
// keys for a release); reindexing (index version 4, which every log
// written before this change runs once, and any later version) verifies
// it instead under all the log's keys merged, strictly. A release key
// holder signs a release whose signature names a stranger's key ID (so
// only the verified-signer key finds it) and adds a junk signature naming
// a builder key's ID: the release ring does not know that ID, so the log
// takes the entry; the merged ring does, so the strict check at reindex
// fails and the entry loses its verified-signer key. After the reindex,
// the search by the release key that signed it no longer finds it.
func TestReview15ReindexDropsVerifiedSigner(t *testing.T) {
	fwtest.RequireSQLite(t, "rewrites the SQLite file as an old version left it")
	s := startSite(t, fwtest.LogOptions{}, nil)
	id1 := fwtest.KeyID(t, fwtest.Release1)
	rel := fwtest.SignRelease(t, fwtest.NewRelease(fwtest.Image("reindexed", 64), nil), fwtest.Release1)
	rel = []byte(strings.Replace(string(rel), id1, fwtest.KeyID(t, fwtest.Stranger), 1))
	rel = withForeignSignature(t, rel, fwtest.KeyID(t, fwtest.Builder))
	idx := s.add(t, rel)
	if by1 := s.page(t, "/search?q="+id1+"&in=signer"); !strings.Contains(by1, fmt.Sprintf(`href="/entries/%d"`, idx[0])) {
		t.Fatalf("before reindexing, the entry is not found by the key that signed it")
	}
	dir := s.Dir
	s.Stop(t)
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, sqlite.DatabaseFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM lookup WHERE substr(key, 1, 1) >= x'0c'; UPDATE meta SET value = '3' WHERE key = 'index_version'`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s = startSite(t, fwtest.LogOptions{Dir: dir}, nil)
	if e := s.page(t, fmt.Sprintf("/entries/%d", idx[0])); !strings.Contains(e, "<code>"+id1+"</code>") {
		t.Fatalf("after reindexing, the entry page no longer names release-1 as its signer")
	}
	if by1 := s.page(t, "/search?q="+id1+"&in=signer"); !strings.Contains(by1, fmt.Sprintf(`href="/entries/%d"`, idx[0])) {
		t.Errorf("after reindexing, entry %d, which release-1 signed (its page says so), is no longer found by release-1's key", idx[0])
	}
}

// TestReview15KeyRevokedReleaseNotMarked: the answer to a stolen release
// key is a key revocation from the index where the thief began. Releases
// signed by the key from that index on are void (devices refuse them), but
// the lists (model page, home, search) mark only releases whose image is
// revoked: the thief's release is listed like any other. Its entry page
// says that no signature verifies, yet shows no "Revocations that apply":
// the revocation that voids it is looked up only for signers that still
// verify.
func TestReview15KeyRevokedReleaseNotMarked(t *testing.T) {
	s := startSite(t, fwtest.LogOptions{}, nil)
	stolen := fwtest.SignRelease(t, fwtest.NewRelease(fwtest.Image("stolen-key", 100), func(r *provenance.Release) {
		r.Version = "6.6.6"
	}), fwtest.Release1)
	relIdx := s.add(t, stolen)[0]
	s.add(t, fwtest.SignRevocation(t, &provenance.Revocation{
		Revokes: provenance.RevokeKey, KeyID: fwtest.KeyID(t, fwtest.Release1), FromIndex: relIdx,
		Reason: "stolen", Created: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC),
	}, fwtest.Security1))
	model := s.page(t, "/models/acme-x1")
	row := model[strings.Index(model, fmt.Sprintf(`href="/entries/%d"`, relIdx)):]
	row = row[:strings.Index(row, "</tr>")]
	if !strings.Contains(row, "badge bad") {
		t.Errorf("the model page lists release %d, void since its key is revoked from its index, with no mark: %s", relIdx, row)
	}
	if e := s.page(t, fmt.Sprintf("/entries/%d", relIdx)); !strings.Contains(e, "Revocations that apply") {
		t.Errorf("the entry page of release %d does not show the key revocation that voids it", relIdx)
	}
}
