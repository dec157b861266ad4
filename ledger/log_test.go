package ledger_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fwledger/fwledger/api"
	"github.com/fwledger/fwledger/bundle"
	"github.com/fwledger/fwledger/client"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/log"
	"github.com/fwledger/fwledger/log/sqlite"
	"github.com/fwledger/fwledger/logclient"
	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/revocation"
	"github.com/fwledger/fwledger/tiles"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	flog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	tclient "github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/note"
)

var (
	rel1 = fwtest.Release1
	rel2 = fwtest.Release2
)

func logVerifier(t testing.TB) note.Verifier {
	v, err := fwtest.LogKey.Public().NoteVerifier()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func startLog(t *testing.T) *fwtest.Log {
	return fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{rel1}})
}

// startLogClient starts a log, as startLog, and a client of it.
func startLogClient(t *testing.T) (*fwtest.Log, *logclient.Client) {
	l := startLog(t)
	return l, newClient(t, l)
}

func newClient(t testing.TB, l *fwtest.Log) *logclient.Client {
	lc, err := logclient.New(l.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	return lc
}

// release returns the image and signed envelope of the i-th test release.
func release(t testing.TB, i int) ([]byte, []byte) {
	img := fwtest.Image(fmt.Sprint("image ", i), 1000+i)
	return img, fwtest.SignRelease(t, fwtest.NewRelease(img, nil), rel1)
}

// submitN submits n distinct releases and returns their envelopes.
func submitN(t *testing.T, l *fwtest.Log, n int) [][]byte {
	t.Helper()
	lc := newClient(t, l)
	_, sz := l.Log.Checkpoint()
	var envs [][]byte
	for i := 0; i < n; i++ {
		_, env := release(t, int(sz)+i)
		res, err := lc.Add(context.Background(), env)
		if err != nil {
			t.Fatalf("Add %d: %v", i, err)
		}
		envs = append(envs, env)
		_ = res
	}
	return envs
}

func TestSubmitBundleVerify(t *testing.T) {
	ctx := context.Background()
	l, lc := startLogClient(t)
	img, env := release(t, 1)
	res, err := lc.Add(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if want := hex.EncodeToString(rfc6962.DefaultHasher.HashLeaf(env)); res.LeafHash != want {
		t.Errorf("leaf hash = %s, want %s (the hash of the exact submitted bytes)", res.LeafHash, want)
	}
	// A duplicate gets the same index and adds nothing.
	again, err := lc.Add(ctx, env)
	if err != nil || again.Index != res.Index {
		t.Fatalf("duplicate Add = %+v, %v; want index %d", again, err, res.Index)
	}
	l.WaitSize(t, 1)
	if _, seq, _ := l.Store.Tree(ctx); seq != 1 {
		t.Errorf("after a duplicate, %d entries are sequenced, want 1", seq)
	}
	// The entry is stored byte for byte.
	e, err := lc.Entry(ctx, res.Index)
	if err != nil || !bytes.Equal(e.Data, env) {
		t.Fatalf("Entry = %q, %v; want the submitted bytes", e.Data, err)
	}
	d := digest.Digest(sha256.Sum256(img))
	b, err := lc.Bundle(ctx, d, -1)
	if err != nil {
		t.Fatal(err)
	}
	trust := client.Trust{Log: logVerifier(t), ReleaseKeys: fwtest.Ring(t, rel1)}
	v, err := client.VerifyBundle(ctx, trust, b, bytes.NewReader(img))
	if err != nil {
		t.Fatalf("VerifyBundle: %v", err)
	}
	if v.Index != res.Index || v.Release.Version != "1.4.0" || v.Release.SecurityVersion != 7 {
		t.Errorf("VerifyBundle = %+v", v)
	}
	// Subject lookup finds it.
	s, err := lc.Subject(ctx, d)
	if err != nil || len(s.Entries) != 1 || s.Entries[0].Index != res.Index || !s.Entries[0].Integrated {
		t.Errorf("Subject = %+v, %v", s, err)
	}
	// The image store takes the image once the release is logged, and serves it.
	if err := lc.PutImage(ctx, d, bytes.NewReader(img)); err != nil {
		t.Fatalf("PutImage: %v", err)
	}
	rc, err := lc.Image(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, img) {
		t.Error("the stored image differs from the uploaded one")
	}
}

// TestCheckpointInterop opens the log's checkpoints with
// golang.org/x/mod/sumdb/note and github.com/transparency-dev/formats/log,
// and follows the log with Tessera's client, which reads only C2SP tiles.
func TestCheckpointInterop(t *testing.T) {
	ctx := context.Background()
	l := startLog(t)
	envs := submitN(t, l, 300)
	l.WaitSize(t, 300)
	raw, err := newClient(t, l).Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(raw, note.VerifierList(logVerifier(t)))
	if err != nil {
		t.Fatalf("note.Open: %v", err)
	}
	if len(n.Sigs) != 1 || n.Sigs[0].Name != fwtest.LogKey.Name {
		t.Errorf("signatures = %+v", n.Sigs)
	}
	cp, ext, _, err := flog.ParseCheckpoint(raw, fwtest.LogKey.Name, logVerifier(t))
	if err != nil {
		t.Fatalf("formats ParseCheckpoint: %v", err)
	}
	// One extension line: the commitment to the revocations, none here.
	want := revocation.Commitment{Count: 0, Root: rfc6962.DefaultHasher.EmptyRoot()}.Line() + "\n"
	if string(ext) != want {
		t.Errorf("checkpoint extension lines %q, want %q", ext, want)
	}
	if cp.Size != 300 || strings.Count(n.Text, "\n") != 4 {
		t.Errorf("checkpoint = %+v, text %q", cp, n.Text)
	}

	u, _ := url.Parse(l.URL + "/")
	f, err := tclient.NewHTTPFetcher(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	tracker, err := tclient.NewLogStateTracker(ctx, f.ReadTile, nil, logVerifier(t), fwtest.LogKey.Name, tclient.UnilateralConsensus(f.ReadCheckpoint))
	if err != nil {
		t.Fatalf("Tessera LogStateTracker: %v", err)
	}
	// Grow the log, and have Tessera's client prove consistency.
	submitN(t, l, 77)
	l.WaitSize(t, 377)
	if _, _, _, err := tracker.Update(ctx); err != nil {
		t.Fatalf("Tessera consistency check: %v", err)
	}
	latest := tracker.Latest()
	if latest.Size != 377 {
		t.Fatalf("tracker size = %d", latest.Size)
	}
	pb, err := tclient.NewProofBuilder(ctx, latest.Size, f.ReadTile)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []uint64{0, 255, 256, 299} {
		p, err := pb.InclusionProof(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, i, latest.Size, rfc6962.DefaultHasher.HashLeaf(envs[i]), p, latest.Hash); err != nil {
			t.Errorf("Tessera-built inclusion proof for %d: %v", i, err)
		}
	}
	// Entry bundles decode with Tessera's client too.
	eb, err := tclient.GetEntryBundle(ctx, f.ReadEntryBundle, 1, latest.Size)
	if err != nil {
		t.Fatal(err)
	}
	if len(eb.Entries) != 256-135 && len(eb.Entries) != 121 {
		t.Errorf("entry bundle 1 holds %d entries, want 121", len(eb.Entries))
	}
	if !bytes.Equal(eb.Entries[0], envs[256]) {
		t.Error("entry bundle 1 does not start with entry 256")
	}
}

// state is what a rejected request must leave unchanged.
type state struct {
	tree       log.Tree
	sequenced  uint64
	checkpoint []byte
}

func snapshot(t *testing.T, l *fwtest.Log) state {
	tree, seq, err := l.Store.Tree(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cp, err := l.Store.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return state{tree, seq, cp}
}

func TestBadInput(t *testing.T) {
	l := startLog(t)
	submitN(t, l, 3)
	l.WaitSize(t, 3)
	img, good := release(t, 99)

	unknownKey := fwtest.SignRelease(t, fwtest.NewRelease(img, nil), fwtest.Key("mallory"))
	badSig := editEnvelope(t, good, func(e *dsse.Envelope) {
		raw, _ := base64.StdEncoding.DecodeString(e.Signatures[0].Sig)
		raw[5] ^= 1
		e.Signatures[0].Sig = base64.StdEncoding.EncodeToString(raw)
	})
	urlSig := editEnvelope(t, good, func(e *dsse.Envelope) {
		raw, _ := base64.StdEncoding.DecodeString(e.Signatures[0].Sig)
		e.Signatures[0].Sig = base64.RawURLEncoding.EncodeToString(raw)
	})
	var indented bytes.Buffer
	json.Indent(&indented, good, "", "  ")
	future := fwtest.SignRelease(t, fwtest.NewRelease(img, func(r *provenance.Release) { r.Created = time.Date(2999, 1, 1, 0, 0, 0, 0, time.UTC) }), rel1)
	wrongType := mutateEnvelope(t, good, func(e map[string]any) { e["payloadType"] = "application/json" })
	unknownField := mutateEnvelope(t, good, func(e map[string]any) { e["extra"] = 1 })
	noSigs := mutateEnvelope(t, good, func(e map[string]any) { e["signatures"] = []any{} })
	notB64 := mutateEnvelope(t, good, func(e map[string]any) { e["payload"] = "%%%" })
	payloadNotJSON := fwtest.SignPayload(t, []byte("hello"), rel1)
	wrongPredicate := fwtest.SignPayload(t, bytes.Replace(statement(t, img), []byte(provenance.ReleasePredicateType), []byte("https://example.com/other"), 1), rel1)
	badVersion := fwtest.SignRelease(t, fwtest.NewRelease(img, nil), rel1)
	badVersion = fwtest.SignPayload(t, bytes.Replace(envelopeBody(t, badVersion), []byte(`"1.4.0"`), []byte(`"1.4"`), 1), rel1)
	dupKey := []byte(`{"payloadType":"application/vnd.in-toto+json","payloadType":"x","payload":"e30=","signatures":[{"keyid":"","sig":"AA=="}]}`)
	// in-toto-golang's validation panicked on an empty rule (FuzzParseEntry).
	emptyRuleLayout := []byte(`{"signed":{"_type":"layout","steps":[{"_type":"step","pubkeys":[],"expected_command":null,"threshold":1,"name":"build","expected_materials":[[]],"expected_products":[]}],"inspect":[],"keys":{},"expires":"2030-01-01T00:00:00Z","readme":""},"signatures":[{"keyid":"k","sig":"00"}]}`)

	for _, tc := range []struct {
		desc, method, path string
		body               []byte
		status             int
		msg                string
	}{
		{"malformed JSON", "POST", "/v1/entries", []byte(`{"payloadType":`), 400, "malformed envelope"},
		{"not an object", "POST", "/v1/entries", []byte(`[1,2]`), 400, "not a DSSE envelope"},
		{"duplicate JSON key", "POST", "/v1/entries", dupKey, 400, "duplicate JSON object key"},
		{"unknown envelope field", "POST", "/v1/entries", unknownField, 400, "unknown field"},
		{"wrong payload type", "POST", "/v1/entries", wrongType, 400, "wrong payloadType"},
		{"payload not base64", "POST", "/v1/entries", notB64, 400, "payload is not base64"},
		{"no signatures", "POST", "/v1/entries", noSigs, 400, "no signatures"},
		{"payload not a statement", "POST", "/v1/entries", payloadNotJSON, 400, "invalid statement"},
		{"wrong predicate type", "POST", "/v1/entries", wrongPredicate, 400, "predicateType"},
		{"layout with an empty artifact rule", "POST", "/v1/entries", emptyRuleLayout, 400, `"build": artifact rule 0 is empty`},
		{"invalid version", "POST", "/v1/entries", badVersion, 400, "invalid version"},
		{"bad signature", "POST", "/v1/entries", badSig, 403, "does not verify"},
		{"trailing newline", "POST", "/v1/entries", append(bytes.Clone(good), '\n'), 400, "not in the canonical encoding (docs/FORMATS.md, \"Canonical envelope\"): it ends with whitespace or a newline"},
		{"indented envelope", "POST", "/v1/entries", indented.Bytes(), 400, "whitespace between JSON tokens"},
		{"URL-alphabet signature", "POST", "/v1/entries", urlSig, 400, "signature 0 is not in standard base64"},
		{"created in 2999", "POST", "/v1/entries", future, 400, "created time 2999-01-01T00:00:00Z is in the future"},
		{"unknown key", "POST", "/v1/entries", unknownKey, 403, "unknown key"},
		{"oversize body", "POST", "/v1/entries", bytes.Repeat([]byte("a"), 70000), 413, "larger than 65535"},
		{"empty body", "POST", "/v1/entries", nil, 400, "empty"},
		{"wrong method", "DELETE", "/v1/entries", nil, 405, "method not allowed"},
		{"entry out of range", "GET", "/v1/entries/3", nil, 404, "not in the log of size 3"},
		{"entry index not a number", "GET", "/v1/entries/abc", nil, 400, "decimal integer"},
		{"entry index leading zero", "GET", "/v1/entries/01", nil, 400, "leading zeroes"},
		{"entry index negative", "GET", "/v1/entries/-1", nil, 400, "decimal integer"},
		{"entry index huge", "GET", "/v1/entries/99999999999999999999", nil, 400, "below 2^63"},
		{"inclusion index beyond size", "GET", "/v1/proofs/inclusion?index=3&size=3", nil, 400, "not below tree size"},
		{"inclusion size beyond checkpoint", "GET", "/v1/proofs/inclusion?index=0&size=4", nil, 400, "larger than the published"},
		{"inclusion missing index", "GET", "/v1/proofs/inclusion", nil, 400, "\"index\" is required"},
		{"consistency inverted", "GET", "/v1/proofs/consistency?from=3&to=2", nil, 400, "larger than to size"},
		{"consistency beyond checkpoint", "GET", "/v1/proofs/consistency?from=1&to=9", nil, 400, "larger than the published"},
		{"consistency from zero", "GET", "/v1/proofs/consistency?from=0&to=2", nil, 400, "empty tree"},
		{"tlog-proof out of range", "GET", "/v1/proofs/tlog/3", nil, 404, "not in the log"},
		{"tile: short index", "GET", "/tile/0/1", nil, 400, "malformed tile index"},
		{"tile: level out of range", "GET", "/tile/64/000", nil, 400, "malformed tile level"},
		{"tile: level leading zero", "GET", "/tile/00/000", nil, 400, "malformed tile level"},
		{"tile: width 256", "GET", "/tile/0/000.p/256", nil, 400, "malformed tile index"},
		{"tile: width zero", "GET", "/tile/0/000.p/0", nil, 400, "malformed tile index"},
		{"tile: not yet full", "GET", "/tile/0/000", nil, 404, "not in the log of size 3"},
		{"tile: wider than the log", "GET", "/tile/0/000.p/4", nil, 404, "wider than the log"},
		{"tile: beyond the log", "GET", "/tile/0/001.p/1", nil, 404, "not in the log"},
		{"entry bundle: bad path", "GET", "/tile/entries/x000/001", nil, 400, "malformed tile index"},
		{"entry bundle: wider than the log", "GET", "/tile/entries/000.p/9", nil, 404, "wider than the log"},
		{"subject: bad digest", "GET", "/v1/subjects/sha256:abc", nil, 400, "64 lowercase hex"},
		{"subject: wrong algorithm", "GET", "/v1/subjects/md5:abc", nil, 400, "does not start with"},
		{"bundle: unknown image", "GET", "/v1/bundles/sha256:" + strings.Repeat("ab", 32), nil, 404, "no release of image"},
		{"image: no release logged", "PUT", "/v1/images/sha256:" + strings.Repeat("ab", 32), []byte("x"), 404, "submit the release first"},
		{"image: not stored", "GET", "/v1/images/sha256:" + strings.Repeat("ab", 32), nil, 404, "not stored"},
		{"unknown endpoint", "GET", "/v2/whatever", nil, 404, "no such endpoint"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			before := snapshot(t, l)
			req, _ := http.NewRequest(tc.method, l.URL+tc.path, bytes.NewReader(tc.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e api.Error
			body, _ := io.ReadAll(resp.Body)
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("error body %q is not JSON: %v", body, err)
			}
			if resp.StatusCode != tc.status || !strings.Contains(e.Message, tc.msg) {
				t.Errorf("%s %s = %d %q; want %d with %q", tc.method, tc.path, resp.StatusCode, e.Message, tc.status, tc.msg)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("error Content-Type = %q", ct)
			}
			if after := snapshot(t, l); !equalState(before, after) {
				t.Errorf("state changed: %+v -> %+v", before, after)
			}
		})
	}
}

func equalState(a, b state) bool {
	return a.tree.Size == b.tree.Size && bytes.Equal(a.tree.Root, b.tree.Root) &&
		a.sequenced == b.sequenced && bytes.Equal(a.checkpoint, b.checkpoint)
}

func envelopeBody(t *testing.T, env []byte) []byte {
	e, err := provenance.ParseEnvelope(env)
	if err != nil {
		t.Fatal(err)
	}
	return e.Body
}

func statement(t *testing.T, img []byte) []byte {
	s, err := fwtest.NewRelease(img, nil).Statement()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// editEnvelope returns env changed by f, in the canonical member order
// (and otherwise as f leaves it).
func editEnvelope(t *testing.T, env []byte, f func(*dsse.Envelope)) []byte {
	var e dsse.Envelope
	if err := json.Unmarshal(env, &e); err != nil {
		t.Fatal(err)
	}
	f(&e)
	out, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func mutateEnvelope(t *testing.T, env []byte, f func(map[string]any)) []byte {
	var m map[string]any
	if err := json.Unmarshal(env, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestImageUploadChecksContent(t *testing.T) {
	ctx := context.Background()
	l, lc := startLogClient(t)
	img, env := release(t, 5)
	if _, err := lc.Add(ctx, env); err != nil {
		t.Fatal(err)
	}
	d := digest.Digest(sha256.Sum256(img))
	for _, bad := range [][]byte{img[:len(img)-1], append(append([]byte{}, img...), 0), append([]byte{img[0] ^ 1}, img[1:]...)} {
		var he *logclient.HTTPError
		if err := lc.PutImage(ctx, d, bytes.NewReader(bad)); !errors.As(err, &he) || he.Status != 400 {
			t.Errorf("PutImage of wrong content = %v, want 400", err)
		}
		if _, err := lc.Image(ctx, d); !logclient.IsNotFound(err) {
			t.Errorf("after a rejected upload, Image = %v, want 404", err)
		}
	}
	// Once stored, the same bytes again are 200 (not created), and other
	// bytes are still refused: success is never reported for bytes the log
	// did not check.
	put := func(body []byte) int {
		req, _ := http.NewRequest("PUT", l.URL+"/v1/images/"+d.String(), bytes.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, step := range []struct {
		body []byte
		want int
	}{{img, 201}, {img, 200}, {append([]byte{img[0] ^ 1}, img[1:]...), 400}, {img[:10], 400}, {nil, 400}} {
		if got := put(step.body); got != step.want {
			t.Errorf("PUT of %d bytes = %d, want %d", len(step.body), got, step.want)
		}
	}
	rc, err := lc.Image(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if got, _ := io.ReadAll(rc); !bytes.Equal(got, img) {
		t.Error("the stored image changed")
	}
}

// noQuorum is a witness policy whose witnesses never answer.
type noQuorum struct{}

func (noQuorum) Cosign(ctx context.Context, cp []byte, _ uint64, _ func(context.Context, uint64) ([][]byte, error)) ([]byte, error) {
	return cp, errors.New("no witness answered")
}

// TestBundlePendingAndByIndex: the default bundle is the latest release of
// an image; while that release is not yet covered by a published
// checkpoint, the log answers 503 with Retry-After (the bundle will exist),
// and 404 only for an image with no release. A bundle for an older release
// is still had by its index.
func TestBundlePendingAndByIndex(t *testing.T) {
	ctx := context.Background()
	// Witnesses that never cosign keep the published checkpoint empty.
	l := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{rel1, rel2}, Witnesser: noQuorum{}})
	lc := newClient(t, l)
	img, env := release(t, 7)
	d := digest.Digest(sha256.Sum256(img))
	first, err := lc.Add(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	status := func(path string) (int, string) {
		resp, err := http.Get(l.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	if code, retry := status("/v1/bundles/" + d.String()); code != 503 || retry == "" {
		t.Errorf("bundle of a pending release = %d (Retry-After %q), want 503 with Retry-After", code, retry)
	}
	if code, _ := status("/v1/bundles/sha256:" + strings.Repeat("0", 64)); code != 404 {
		t.Errorf("bundle of an image never released = %d, want 404", code)
	}
	l.Stop(t)
	l = fwtest.StartLog(t, fwtest.LogOptions{Dir: l.Dir, ReleaseKeys: []*keys.PrivateKey{rel1, rel2}})
	lc = newClient(t, l)
	l.WaitSize(t, 1)
	cosigned, err := provenance.AddSignature(ctx, env, fwtest.Signer(t, rel2))
	if err != nil {
		t.Fatal(err)
	}
	second, err := lc.Add(ctx, cosigned)
	if err != nil {
		t.Fatal(err)
	}
	l.WaitSize(t, 2)
	for _, tc := range []struct {
		index int64
		want  uint64
	}{{-1, second.Index}, {int64(first.Index), first.Index}, {int64(second.Index), second.Index}} {
		b, err := lc.Bundle(ctx, d, tc.index)
		if err != nil {
			t.Fatalf("Bundle(index %d): %v", tc.index, err)
		}
		pb, _ := bundle.Parse(b)
		if pb.Release.Proof.Index != tc.want {
			t.Errorf("Bundle(index %d) is for entry %d, want %d", tc.index, pb.Release.Proof.Index, tc.want)
		}
	}
	// Two release keys required: the co-signed release verifies.
	b, _ := lc.Bundle(ctx, d, -1)
	if _, err := client.VerifyBundle(ctx, client.Trust{Log: logVerifier(t), ReleaseKeys: fwtest.Ring(t, rel1, rel2), ReleaseThreshold: 2}, b, bytes.NewReader(img)); err != nil {
		t.Errorf("the latest bundle with threshold 2: %v", err)
	}
	var he *logclient.HTTPError
	if _, err := lc.Bundle(ctx, d, 99); !errors.As(err, &he) || he.Status != 404 || !strings.Contains(he.Message, "entry 99 is not a release of image") {
		t.Errorf("Bundle at an index that is not a release of the image = %v, want 404", err)
	}
}

// TestPartialTilesOfOlderCheckpoints checks that every partial tile and
// bundle a checkpoint ever required is still served, matching the full one.
func TestPartialTilesOfOlderCheckpoints(t *testing.T) {
	ctx := context.Background()
	l, lc := startLogClient(t)
	var sizes []uint64
	var total uint64
	for _, n := range []int{1, 5, 250, 10} {
		submitN(t, l, n)
		total += uint64(n)
		l.WaitSize(t, total)
		sizes = append(sizes, total)
	}
	full, err := lc.Tile(ctx, 0, 0, 0)
	if err != nil {
		t.Fatalf("full tile: %v", err)
	}
	fullBundle, err := lc.EntryBundle(ctx, 0, 0)
	if err != nil {
		t.Fatalf("full bundle: %v", err)
	}
	for _, sz := range sizes {
		w := tiles.WidthAt(0, 0, sz)
		if w == tiles.Width {
			continue
		}
		p, err := lc.Tile(ctx, 0, 0, w)
		if err != nil || !bytes.Equal(p, full[:w*32]) {
			t.Errorf("partial tile of width %d: %v", w, err)
		}
		b, err := lc.EntryBundle(ctx, 0, w)
		want, _ := tiles.TruncateBundle(fullBundle, w)
		if err != nil || !bytes.Equal(b, want) {
			t.Errorf("partial bundle of width %d: %v", w, err)
		}
	}
}

// TestEntryBundleGzip asks for entry bundles gzipped, as tlog-tiles clients
// do, and checks that the full bundle (compressed once and cached) and a
// partial one (compressed per request) decompress, with the standard
// library's reader, to exactly the bytes served uncompressed.
func TestEntryBundleGzip(t *testing.T) {
	l := startLog(t)
	submitN(t, l, 260)
	l.WaitSize(t, 260)
	raw := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	get := func(path string, gz bool) ([]byte, http.Header) {
		t.Helper()
		req, _ := http.NewRequest("GET", l.URL+path, nil)
		if gz {
			req.Header.Set("Accept-Encoding", "gzip")
		}
		resp, err := raw.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %q %v", path, resp.StatusCode, body, err)
		}
		return body, resp.Header
	}
	for _, path := range []string{"/tile/entries/000", "/tile/entries/000", "/tile/entries/001.p/4"} {
		plain, h := get(path, false)
		if h.Get("Content-Encoding") != "" {
			t.Errorf("%s without Accept-Encoding: Content-Encoding %q", path, h.Get("Content-Encoding"))
		}
		zipped, h := get(path, true)
		if h.Get("Content-Encoding") != "gzip" {
			t.Fatalf("%s with Accept-Encoding gzip: Content-Encoding %q", path, h.Get("Content-Encoding"))
		}
		zr, err := gzip.NewReader(bytes.NewReader(zipped))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		got, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("%s: gzipped body decompresses to %d bytes (%v), want the %d bytes served plain", path, len(got), err, len(plain))
		}
		if len(zipped) >= len(plain) {
			t.Errorf("%s: gzipped %d bytes, plain %d", path, len(zipped), len(plain))
		}
	}
}

func TestConcurrentSubmittersGetDistinctDurableIndices(t *testing.T) {
	ctx := context.Background()
	l, lc := startLogClient(t)
	const workers, per = 8, 40
	var mu sync.Mutex
	got := map[uint64][]byte{}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				_, env := release(t, 1000+w*per+i)
				res, err := lc.Add(ctx, env)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if _, dup := got[res.Index]; dup {
					t.Errorf("index %d given twice", res.Index)
				}
				got[res.Index] = env
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	l.WaitSize(t, workers*per)
	for i, env := range got {
		data, err := l.Log.Entry(ctx, i)
		if err != nil || !bytes.Equal(data, env) {
			t.Errorf("entry %d differs from the acknowledged bytes", i)
		}
	}
}

// TestRestartRefusals shows the log refusing to start on storage that is not
// its own or that disagrees with its checkpoint.
func TestRestartRefusals(t *testing.T) {
	fwtest.RequireSQLite(t, "corrupts tiles and checkpoints in the SQLite file")
	ctx := context.Background()
	dir := t.TempDir()
	l := fwtest.StartLog(t, fwtest.LogOptions{Dir: dir, ReleaseKeys: []*keys.PrivateKey{rel1}})
	submitN(t, l, 10)
	l.WaitSize(t, 10)
	l.Stop(t)

	open := func(o fwtest.LogOptions) error {
		s, err := sqlite.Open(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		o.Dir = dir
		_, err = fwtest.OpenLog(ctx, s, o)
		return err
	}
	if err := open(fwtest.LogOptions{}); err != nil {
		t.Fatalf("reopening with the same key: %v", err)
	}
	var ie *log.IdentityError
	if err := open(fwtest.LogOptions{Key: fwtest.Key("example.com/testlog")}); err != nil {
		t.Fatalf("the same key derived again: %v", err)
	}
	if err := open(fwtest.LogOptions{Key: fwtest.Key("example.com/otherlog")}); !errors.As(err, &ie) {
		t.Errorf("another origin: %v, want *log.IdentityError", err)
	}
	other := fwtest.Key("example.com/testlog-v2")
	other.Name = "example.com/testlog"
	if err := open(fwtest.LogOptions{Key: other}); !errors.As(err, &ie) {
		t.Errorf("another key with the same origin: %v, want *log.IdentityError", err)
	}

	// Corrupt one stored tile: the log must refuse to start.
	db := openDB(t, dir)
	if _, err := db.Exec(`UPDATE tiles SET data = zeroblob(length(data)) WHERE id = 0`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	var se *log.StateError
	if err := open(fwtest.LogOptions{}); !errors.As(err, &se) || se.What != "tree state" || bytes.Equal(se.Stored, se.Recomputed) {
		t.Errorf("after corrupting a tile: %v, want a *log.StateError about the tree state, with both roots", err)
	}
}

func TestRestartKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	l := fwtest.StartLog(t, fwtest.LogOptions{Dir: dir, ReleaseKeys: []*keys.PrivateKey{rel1}})
	envs := submitN(t, l, 600)
	l.WaitSize(t, 600)
	cp1, _ := l.Log.Checkpoint()
	l.Stop(t)

	l2 := fwtest.StartLog(t, fwtest.LogOptions{Dir: dir, ReleaseKeys: []*keys.PrivateKey{rel1}})
	cp2, size := l2.Log.Checkpoint()
	if !bytes.Equal(cp1, cp2) || size != 600 {
		t.Fatalf("after restart the checkpoint changed (size %d)", size)
	}
	for i, env := range envs {
		data, err := l2.Log.Entry(context.Background(), uint64(i))
		if err != nil || !bytes.Equal(data, env) {
			t.Fatalf("entry %d after restart: %v", i, err)
		}
	}
	more := submitN(t, l2, 3)
	l2.WaitSize(t, 603)
	if res, err := l2.Add(context.Background(), more[0]); err != nil || res.Index != 600 || !res.Dup {
		t.Errorf("first entry after restart: %+v, %v; want index 600, a duplicate", res, err)
	}
	if res, err := l2.Add(context.Background(), envs[7]); err != nil || res.Index != 7 || !res.Dup {
		t.Errorf("entry 7 submitted again after restart: %+v, %v; want index 7, a duplicate", res, err)
	}
}

// TestShutdownLosesNothingAcknowledged stops the log while submitters are
// busy and checks every acknowledged entry after a restart.
func TestShutdownLosesNothingAcknowledged(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := fwtest.StartLog(t, fwtest.LogOptions{Dir: dir, ReleaseKeys: []*keys.PrivateKey{rel1}})
	var mu sync.Mutex
	acked := map[uint64][]byte{}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				_, env := release(t, 10000*(w+1)+i)
				res, err := l.Add(ctx, env)
				if err != nil {
					if !errors.Is(err, log.ErrStopped) {
						t.Errorf("Add: %v", err)
					}
					return
				}
				mu.Lock()
				acked[res.Index] = env
				mu.Unlock()
			}
		}()
	}
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 200 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	l.Stop(t) // Run returns after the final integration
	close(stop)
	wg.Wait()

	l2 := fwtest.StartLog(t, fwtest.LogOptions{Dir: dir, ReleaseKeys: []*keys.PrivateKey{rel1}})
	_, size := l2.Log.Checkpoint()
	if size < uint64(len(acked)) {
		t.Fatalf("after shutdown the checkpoint covers %d entries, but %d were acknowledged", size, len(acked))
	}
	for i, env := range acked {
		data, err := l2.Log.Entry(ctx, i)
		if err != nil || !bytes.Equal(data, env) {
			t.Fatalf("acknowledged entry %d lost: %v", i, err)
		}
	}
}

// latestBundle fetches the bundle of the latest release of image d, and
// returns it as served and parsed, or fails the test.
func latestBundle(t *testing.T, lc *logclient.Client, d digest.Digest) ([]byte, *bundle.Bundle) {
	t.Helper()
	b, err := lc.Bundle(context.Background(), d, -1)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := bundle.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return b, pb
}
