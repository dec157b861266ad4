package witness_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/witness"
	flog "github.com/transparency-dev/formats/log"
	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/note"
)

var (
	logKey = fwtest.LogKey
	witKey = fwtest.WitnessA
)

// tree is a log's tree of n leaves; prefix names its leaves, so two trees
// with different prefixes are forks of each other from their first leaf
// that differs.
type tree struct{ *testonly.Tree }

func newTree(n int, fork int, forkPrefix string) tree {
	t := testonly.New(rfc6962.DefaultHasher)
	for i := range n {
		leaf := fmt.Sprintf("leaf %d", i)
		if fork >= 0 && i >= fork {
			leaf = forkPrefix + leaf
		}
		t.AppendData([]byte(leaf))
	}
	return tree{t}
}

func (tr tree) checkpoint(t testing.TB, key *keys.PrivateKey, size uint64) []byte {
	return fwtest.SignCheckpoint(t, key, size, tr.HashAt(size))
}

func (tr tree) request(t testing.TB, old, size uint64) []byte {
	t.Helper()
	return tr.requestFor(t, old, size, tr.checkpoint(t, logKey, size))
}

// requestFor is request for a given checkpoint of the tree's size.
func (tr tree) requestFor(t testing.TB, old, size uint64, cp []byte) []byte {
	t.Helper()
	req := &witness.AddCheckpointRequest{OldSize: old, Checkpoint: cp}
	if old > 0 && old <= size {
		p, err := tr.ConsistencyProof(old, size)
		if err != nil {
			t.Fatal(err)
		}
		req.Proof = p
	}
	return req.Marshal()
}

type testWitness struct {
	*witness.Witness
	dir   string
	store *witness.Store
	url   string
}

func startWitness(t testing.TB, dir string, cfg witness.Config) *testWitness {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	store, err := witness.OpenStore(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Signers == nil {
		s, err := witKey.CosignatureSigner()
		if err != nil {
			t.Fatal(err)
		}
		cfg.Signers = []note.Signer{s}
	}
	if cfg.Logs == nil {
		cfg.Logs = fwtest.LogList(t, logKey)
	}
	cfg.Store = store
	cfg.Logger = fwtest.Logger(t)
	w, err := witness.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(witness.NewHandler(w, cfg.Logger))
	t.Cleanup(func() { srv.Close(); store.Close() })
	return &testWitness{Witness: w, dir: dir, store: store, url: srv.URL}
}

func post(t testing.TB, url string, body []byte) (int, string, string) {
	t.Helper()
	resp, err := http.Post(url+"/add-checkpoint", "text/plain", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// cosignatureVerifier verifies witKey's cosignatures with the formats
// module, as other software would.
func cosignatureVerifier(t testing.TB, k *keys.PrivateKey) note.Verifier {
	t.Helper()
	v, err := fnote.NewVerifierForCosignatureV1(fwtest.CosignerVKey(t, k))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestAddCheckpoint is the conformance table of C2SP tlog-witness
// add-checkpoint: each case starts from a witness that cosigned size 3
// (or from a fresh witness), checks the status, content type and body,
// and checks that a rejection changed nothing, in memory and on disk.
func TestAddCheckpoint(t *testing.T) {
	tr := newTree(10, -1, "")
	forked := newTree(10, 2, "evil ")
	other := fwtest.Key("example.com/otherlog")
	impostor := &keys.PrivateKey{Name: logKey.Name, Key: fwtest.Key("impostor").Key}
	corruptSig := func(b []byte) []byte {
		b = bytes.Clone(b)
		i := bytes.LastIndex(b, []byte(" ")) + 5
		b[i] ^= 1
		return b
	}
	withProof := func(old uint64, proof [][]byte, cp []byte) []byte {
		return (&witness.AddCheckpointRequest{OldSize: old, Proof: proof, Checkpoint: cp}).Marshal()
	}
	goodProof, _ := tr.ConsistencyProof(3, 5)
	badProof := [][]byte{bytes.Clone(goodProof[0])}
	badProof = append(badProof, goodProof[1:]...)
	badProof[0][0] ^= 1
	hash := sha256.Sum256(nil)
	line := base64.StdEncoding.EncodeToString(hash[:]) + "\n"

	for _, tc := range []struct {
		desc       string
		fresh      bool // no first checkpoint
		body       []byte
		status     int
		ctype      string
		bodyHas    string
		wantSize   uint64 // the size stored afterwards
		wantForks  int
		cosigned   bool
		cosignSize uint64
		refresh    bool   // cosigned again, not stored again
		writes     uint64 // durable writes of the request
	}{
		{desc: "happy path", body: tr.request(t, 3, 5), status: 200, wantSize: 5, cosigned: true, cosignSize: 5, writes: 1},
		{desc: "first contact", fresh: true, body: tr.request(t, 0, 5), status: 200, wantSize: 5, cosigned: true, cosignSize: 5, writes: 1},
		{desc: "first contact at size 0", fresh: true, body: withProof(0, nil, fwtest.SignCheckpoint(t, logKey, 0, rfc6962.DefaultHasher.EmptyRoot())), status: 200, wantSize: 0, cosigned: true, writes: 1},
		{desc: "same checkpoint again (fresh timestamp)", body: tr.request(t, 3, 3), status: 200, wantSize: 3, cosigned: true, cosignSize: 3, refresh: true},
		{desc: "same checkpoint again with other unknown signatures", body: withProof(3, nil, fwtest.Cosign(t, tr.checkpoint(t, logKey, 3), fwtest.Key("witness-z.example.org"))), status: 200, wantSize: 3, cosigned: true, cosignSize: 3, refresh: true},
		{desc: "same checkpoint again with a proof", body: withProof(3, [][]byte{hash[:]}, tr.checkpoint(t, logKey, 3)), status: 422, bodyHas: "the proof between equal sizes must be empty", wantSize: 3},
		{desc: "stale old size", body: tr.request(t, 2, 5), status: 409, ctype: "text/x.tlog.size", bodyHas: "3\n", wantSize: 3},
		{desc: "old size 0 when 3 is cosigned", body: tr.request(t, 0, 5), status: 409, ctype: "text/x.tlog.size", bodyHas: "3\n", wantSize: 3},
		{desc: "old size unknown to a fresh witness", fresh: true, body: tr.request(t, 3, 5), status: 409, ctype: "text/x.tlog.size", bodyHas: "0\n", wantSize: 0},
		{desc: "same size different root", body: withProof(3, nil, forked.checkpoint(t, logKey, 3)), status: 409, ctype: "text/plain; charset=utf-8", bodyHas: "fork", wantSize: 3, wantForks: 1, writes: 1},
		{desc: "same size different root, stale old size", body: withProof(0, nil, forked.checkpoint(t, logKey, 3)), status: 409, ctype: "text/x.tlog.size", bodyHas: "3\n", wantSize: 3, wantForks: 1, writes: 1},
		{desc: "smaller checkpoint", body: withProof(3, nil, tr.checkpoint(t, logKey, 2)), status: 400, bodyHas: "old size 3 is larger than the checkpoint size 2", wantSize: 3},
		{desc: "smaller checkpoint with its own old size", body: tr.request(t, 1, 2), status: 409, ctype: "text/x.tlog.size", bodyHas: "3\n", wantSize: 3},
		{desc: "garbage", body: []byte("hello"), status: 400, bodyHas: "no old size line", wantSize: 3},
		{desc: "not an old line", body: []byte("new 3\n\n"), status: 400, bodyHas: `is not "old <size>"`, wantSize: 3},
		{desc: "old size with a leading zero", body: bytes.Replace(tr.request(t, 3, 5), []byte("old 3"), []byte("old 03"), 1), status: 400, bodyHas: "leading zeros", wantSize: 3},
		{desc: "too many proof lines", body: append(append([]byte("old 3\n"), strings.Repeat(line, 64)...), append([]byte("\n"), tr.checkpoint(t, logKey, 5)...)...), status: 400, bodyHas: "more than 63 consistency proof lines", wantSize: 3},
		{desc: "proof line not base64", body: append([]byte("old 3\n!!!!\n\n"), tr.checkpoint(t, logKey, 5)...), status: 400, bodyHas: "proof line 1 is not a base64 SHA-256 hash", wantSize: 3},
		{desc: "no checkpoint", body: []byte("old 3\n\n"), status: 400, bodyHas: "no checkpoint", wantSize: 3},
		{desc: "checkpoint without signatures", body: []byte("old 3\n\nexample.com/testlog\n5\n" + line), status: 400, bodyHas: "not a signed note", wantSize: 3},
		{desc: "checkpoint that is not a note", body: []byte("old 0\n\ngarbage"), status: 400, bodyHas: "not a signed note", wantSize: 3},
		{desc: "checkpoint that is not a note, one line", body: []byte("old 3\n\ngarbage\n"), status: 400, bodyHas: "not a signed note", wantSize: 3},
		{desc: "unsigned checkpoint of an unknown origin", body: []byte("old 3\n\nexample.com/otherlog\n5\n" + line), status: 400, bodyHas: "not a signed note", wantSize: 3},
		{desc: "malformed signature line", body: []byte("old 3\n\nexample.com/otherlog\n5\n" + line + "\n— example.com/otherlog !!!\n"), status: 400, bodyHas: "not a signed note", wantSize: 3},
		{desc: "control character in the checkpoint", body: append([]byte("old 3\n\n"), bytes.Replace(tr.checkpoint(t, logKey, 5), []byte("\n5\n"), []byte("\n5\r\n"), 1)...), status: 400, bodyHas: "not a signed note", wantSize: 3},
		{desc: "bad consistency proof", body: withProof(3, badProof, tr.checkpoint(t, logKey, 5)), status: 422, bodyHas: "consistency proof does not verify", wantSize: 3},
		{desc: "missing consistency proof", body: withProof(3, nil, tr.checkpoint(t, logKey, 5)), status: 422, wantSize: 3},
		{desc: "proof from a forked tree", body: func() []byte {
			p, _ := forked.ConsistencyProof(3, 5)
			return withProof(3, p, forked.checkpoint(t, logKey, 5))
		}(), status: 422, wantSize: 3},
		{desc: "proof from size 0", fresh: true, body: withProof(0, goodProof, tr.checkpoint(t, logKey, 5)), status: 422, wantSize: 0},
		{desc: "size 0 with a non-empty root", fresh: true, body: withProof(0, nil, fwtest.SignCheckpoint(t, logKey, 0, tr.HashAt(1))), status: 422, wantSize: 0},
		{desc: "unknown origin", body: withProof(3, goodProof, tr.checkpoint(t, other, 5)), status: 404, bodyHas: `unknown log origin "example.com/otherlog"`, wantSize: 3},
		{desc: "signed by another key with the log's name", body: withProof(3, goodProof, tr.checkpoint(t, impostor, 5)), status: 403, bodyHas: "no valid signature", wantSize: 3},
		{desc: "bad log signature", body: withProof(3, goodProof, corruptSig(tr.checkpoint(t, logKey, 5))), status: 403, wantSize: 3},
		{desc: "oversize body", body: append(tr.request(t, 3, 5), bytes.Repeat([]byte("x"), witness.MaxRequestSize)...), status: 413, bodyHas: "larger than 16384 bytes", wantSize: 3},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			w := startWitness(t, "", witness.Config{})
			if !tc.fresh {
				if status, _, body := post(t, w.url, tr.request(t, 0, 3)); status != 200 {
					t.Fatalf("first checkpoint: %d %s", status, body)
				}
			}
			before := w.Latest(logKey.Name)
			writes := w.store.Writes()
			status, ctype, body := post(t, w.url, tc.body)
			if status != tc.status {
				t.Fatalf("status %d (%s), want %d", status, body, tc.status)
			}
			if tc.ctype != "" && ctype != tc.ctype {
				t.Errorf("content type %q, want %q", ctype, tc.ctype)
			}
			if !strings.Contains(body, tc.bodyHas) {
				t.Errorf("body %q, want it to contain %q", body, tc.bodyHas)
			}
			all := w.store.All()
			if got := all[logKey.Name].Size; got != tc.wantSize {
				t.Errorf("stored size %d, want %d", got, tc.wantSize)
			}
			if got := w.store.Writes() - writes; got != tc.writes {
				t.Errorf("%d durable writes, want %d", got, tc.writes)
			}
			if (tc.status != 200 || tc.refresh) && !bytes.Equal(w.Latest(logKey.Name), before) {
				t.Errorf("the request changed the latest checkpoint")
			}
			if (tc.status != 200 || tc.refresh) && !bytes.Equal(all[logKey.Name].Note, before) {
				t.Errorf("the request changed the stored checkpoint")
			}
			forks, err := w.Forks(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(forks) != tc.wantForks {
				t.Errorf("%d forks kept, want %d", len(forks), tc.wantForks)
			}
			if tc.wantForks > 0 && len(forks) > 0 && (!bytes.Equal(forks[0].Held, before) || !bytes.Contains(tc.body, forks[0].Offered)) {
				t.Errorf("fork evidence %+v does not hold both checkpoints", forks[0])
			}
			if !tc.cosigned {
				return
			}
			// The body is one cosignature line per witness key; appended to
			// the checkpoint it verifies with formats' verifiers.
			req, err := witness.ParseAddCheckpoint(tc.body)
			if err != nil {
				t.Fatal(err)
			}
			signed := append(bytes.Clone(req.Checkpoint), body...)
			logV, _ := logKey.Public().NoteVerifier()
			cp, _, n, err := flog.ParseCheckpoint(signed, logKey.Name, logV, cosignatureVerifier(t, witKey))
			if err != nil {
				t.Fatalf("cosigned checkpoint does not verify: %v\n%s", err, signed)
			}
			if cp.Size != tc.cosignSize || len(n.Sigs) != 2 || strings.Count(body, "\n") != 1 {
				t.Errorf("cosigned %d with %d verified signatures (body %q)", cp.Size, len(n.Sigs), body)
			}
			if _, err := fnote.CoSigV1Timestamp(n.Sigs[1]); err != nil {
				t.Error(err)
			}
			if !bytes.Equal(all[logKey.Name].Note, w.Latest(logKey.Name)) || !tc.refresh && !bytes.Contains(w.Latest(logKey.Name), []byte(body)) {
				t.Errorf("stored note %q does not carry the cosignature %q", all[logKey.Name].Note, body)
			}
		})
	}
}

func TestMethodAndMonitorEndpoints(t *testing.T) {
	w := startWitness(t, "", witness.Config{})
	tr := newTree(4, -1, "")
	resp, err := http.Get(w.url + "/add-checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /add-checkpoint: %d, want 405", resp.StatusCode)
	}
	get := func(path string) (int, string) {
		resp, err := http.Get(w.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if status, body := get("/checkpoint/" + logKey.Name); status != 404 || !strings.Contains(body, "no checkpoint cosigned") {
		t.Errorf("before any checkpoint: %d %q", status, body)
	}
	if status, _, body := post(t, w.url, tr.request(t, 0, 4)); status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	status, body := get("/checkpoint/" + logKey.Name)
	if status != 200 || !strings.HasPrefix(body, logKey.Name+"\n4\n") || !strings.Contains(body, "— "+witKey.Name+" ") {
		t.Errorf("GET /checkpoint/<origin> = %d %q", status, body)
	}
	if status, body := get("/forks"); status != 200 || strings.TrimSpace(body) != "[]" {
		t.Errorf("GET /forks = %d %q", status, body)
	}
}

// TestRotationSigners checks that a witness with two keys returns a line
// for each, both valid.
func TestRotationSigners(t *testing.T) {
	newKey := fwtest.Key("witness-a.example.org/2027")
	var signers []note.Signer
	for _, k := range []*keys.PrivateKey{witKey, newKey} {
		s, err := k.CosignatureSigner()
		if err != nil {
			t.Fatal(err)
		}
		signers = append(signers, s)
	}
	w := startWitness(t, "", witness.Config{Signers: signers})
	tr := newTree(4, -1, "")
	status, _, body := post(t, w.url, tr.request(t, 0, 4))
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	signed := append(tr.checkpoint(t, logKey, 4), body...)
	for _, k := range []*keys.PrivateKey{witKey, newKey} {
		n, err := note.Open(signed, note.VerifierList(cosignatureVerifier(t, k)))
		if err != nil || len(n.Sigs) != 1 {
			t.Errorf("cosignature of %s: %v", k.Name, err)
		}
	}
}

// TestRateLimit checks a log's one budget, of the requests that advance
// its state. Once it is used up, those get 429 with Retry-After, while
// everything else gets the answer it would get without a budget, however
// often it comes: the latest checkpoint again (a log's refresh, or anyone's
// replay), an older one, a stale old size, and checkpoints the log signed
// with another root for a cosigned size, whose evidence is kept once each
// and is all they write. The budget is per log.
func TestRateLimit(t *testing.T) {
	// A budget that does not refill during the test.
	w := startWitness(t, "", witness.Config{RateLimit: 0.001, Burst: 3})
	tr := newTree(16, -1, "")
	evil := newTree(16, 0, "evil ")
	var codes []int
	for _, body := range [][]byte{
		tr.request(t, 0, 4),   // advances: 1 of 3
		tr.request(t, 4, 8),   // 2 of 3
		tr.request(t, 8, 12),  // 3 of 3
		tr.request(t, 12, 16), // none left
	} {
		status, _, _ := post(t, w.url, body)
		codes = append(codes, status)
	}
	if want := "[200 200 200 429]"; fmt.Sprint(codes) != want {
		t.Fatalf("statuses %v, want %s", codes, want)
	}
	resp, err := http.Post(w.url+"/add-checkpoint", "text/plain", bytes.NewReader(tr.request(t, 12, 16)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("rate limited: %d, Retry-After %q; want 429 with Retry-After: 1", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	writes := w.store.Writes()
	fork12 := (&witness.AddCheckpointRequest{OldSize: 12, Checkpoint: evil.checkpoint(t, logKey, 12)}).Marshal()
	fork4 := (&witness.AddCheckpointRequest{OldSize: 4, Checkpoint: evil.checkpoint(t, logKey, 4)}).Marshal()
	for i := range 50 {
		for _, tc := range []struct {
			desc   string
			body   []byte
			status int
			body1  string // the body's first line
		}{
			{"the latest checkpoint again", tr.request(t, 12, 12), 200, "— " + witKey.Name},
			{"an older checkpoint again", tr.request(t, 8, 8), 409, "12"},
			{"a stale old size", tr.request(t, 4, 16), 409, "12"},
			{"another root for the latest size", fork12, 409, "the log signed another root hash for size 12"},
			{"another root for an older size", fork4, 409, "12"},
			{"another root for an older size, old size too large", (&witness.AddCheckpointRequest{OldSize: 12, Checkpoint: evil.checkpoint(t, logKey, 4)}).Marshal(), 400, "bad add-checkpoint request: old size 12 is larger"},
		} {
			status, _, body := post(t, w.url, tc.body)
			if first, _, _ := strings.Cut(body, "\n"); status != tc.status || !strings.HasPrefix(first, tc.body1) {
				t.Fatalf("%s, request %d: %d %q, want %d %q", tc.desc, i+1, status, first, tc.status, tc.body1)
			}
		}
	}
	forks := getForks(t, w.url)
	if len(forks) != 2 || forks[0].Size != 12 || forks[1].Size != 4 {
		t.Errorf("GET /forks = %+v, want the forks at 12 and 4, once each", forks)
	}
	if got := w.store.Writes() - writes; got != 2 {
		t.Errorf("%d durable writes for 300 requests without a budget, want 2: the evidence of two forks", got)
	}

	otherKey := fwtest.Key("example.com/otherlog")
	other := startWitness(t, "", witness.Config{RateLimit: 0.001, Burst: 1, Logs: fwtest.LogList(t, logKey, otherKey)})
	post(t, other.url, tr.request(t, 0, 1))
	if status, _, _ := post(t, other.url, tr.request(t, 1, 2)); status != 429 {
		t.Errorf("a second advance with a burst of 1: %d, want 429", status)
	}
	otherReq := (&witness.AddCheckpointRequest{Checkpoint: tr.checkpoint(t, otherKey, 1)}).Marshal()
	if status, _, body := post(t, other.url, otherReq); status != 200 {
		t.Errorf("another log's first request: %d %s; the limit is per log", status, body)
	}
}

// TestStateSurvivesReopen checks that the state is on disk: a new witness
// over the same directory answers from it.
func TestStateSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	tr := newTree(8, -1, "")
	w := startWitness(t, dir, witness.Config{})
	if status, _, body := post(t, w.url, tr.request(t, 0, 6)); status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	if _, err := witness.OpenStore(context.Background(), dir); err == nil {
		t.Fatal("a second store opened the locked directory")
	}
	latest := w.Latest(logKey.Name)
	w.store.Close()
	w2 := startWitness(t, dir, witness.Config{})
	if !bytes.Equal(w2.Latest(logKey.Name), latest) {
		t.Errorf("after reopening: %q, want %q", w2.Latest(logKey.Name), latest)
	}
	if status, _, body := post(t, w2.url, tr.request(t, 0, 8)); status != 409 || body != "6\n" {
		t.Errorf("after reopening, old 0: %d %q, want 409 6", status, body)
	}
}
