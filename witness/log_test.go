package witness_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fwledger/fwledger/client"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/log"
	"github.com/fwledger/fwledger/log/sqlite"
	"github.com/fwledger/fwledger/logclient"
	"github.com/fwledger/fwledger/tlogpolicy"
	"github.com/fwledger/fwledger/witness"
	flog "github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
)

var releaseKey = fwtest.Release1

// switchable serves a witness, or 503 while down is set: a witness that is
// unreachable for a while.
type switchable struct {
	h       http.Handler
	down    atomic.Bool
	slow    atomic.Bool  // hold add-checkpoint requests until the client goes away
	posts   atomic.Int64 // add-checkpoint requests answered
	limited atomic.Int64 // of which 429
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) { r.status = code; r.ResponseWriter.WriteHeader(code) }

func (s *switchable) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		s.posts.Add(1)
	}
	if s.down.Load() {
		http.Error(w, "down for the test", http.StatusServiceUnavailable)
		return
	}
	if s.slow.Load() && r.Method == http.MethodPost {
		// Once the body is read, the server notices the client leaving.
		io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
		http.Error(w, "too slow for the test", http.StatusServiceUnavailable)
		return
	}
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	s.h.ServeHTTP(rec, r)
	if rec.status == http.StatusTooManyRequests {
		s.limited.Add(1)
	}
}

type witnessNet struct {
	keys     []*keys.PrivateKey
	servers  []*switchable
	urls     []string
	policy   *tlogpolicy.Policy
	witnesss []*witness.Witness
	stores   []*witness.Store
}

// startWitnesses starts n fwwitness servers on 127.0.0.1 that follow the
// test log, and a k-of-n policy naming them.
func startWitnesses(t *testing.T, n, k int) *witnessNet {
	return startWitnessesWith(t, n, k, witness.Config{})
}

// startWitnessesWith is startWitnesses with cfg's rate limits.
func startWitnessesWith(t *testing.T, n, k int, cfg witness.Config) *witnessNet {
	t.Helper()
	wn := &witnessNet{}
	for i := range n {
		key := fwtest.Key("witness-" + string(rune('a'+i)) + ".example.org")
		s, err := key.CosignatureSigner()
		if err != nil {
			t.Fatal(err)
		}
		store, err := witness.OpenStore(context.Background(), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		w, err := witness.New(context.Background(), witness.Config{Signers: []note.Signer{s}, Logs: fwtest.LogList(t, logKey), Store: store, Logger: fwtest.Logger(t), RateLimit: cfg.RateLimit, Burst: cfg.Burst})
		if err != nil {
			t.Fatal(err)
		}
		sw := &switchable{h: witness.NewHandler(w, nil)}
		srv := httptest.NewServer(sw)
		t.Cleanup(func() { srv.Close(); store.Close() })
		wn.keys = append(wn.keys, key)
		wn.servers = append(wn.servers, sw)
		wn.urls = append(wn.urls, srv.URL)
		wn.witnesss = append(wn.witnesss, w)
		wn.stores = append(wn.stores, store)
	}
	p, err := tlogpolicy.Parse(fwtest.WitnessPolicy(t, logKey, k, wn.keys, wn.urls...))
	if err != nil {
		t.Fatal(err)
	}
	wn.policy = p
	return wn
}

func (wn *witnessNet) collector(t *testing.T) *witness.Collector {
	c, err := witness.NewCollector(witness.CollectorConfig{Policy: wn.policy, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Logger: fwtest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func submit(t *testing.T, lc *logclient.Client, seed string) {
	t.Helper()
	env := fwtest.SignRelease(t, fwtest.NewRelease(fwtest.Image(seed, 100), nil), releaseKey)
	if _, err := lc.Add(context.Background(), env); err != nil {
		t.Fatal(err)
	}
}

// TestLogPublishesOnlyWitnessed runs fwlog's log with three fwwitness
// servers under a 2-of-3 policy: the published checkpoint carries a quorum
// of cosignatures that verify with the policy and with the formats module;
// bundles carry them too; with two witnesses down the log keeps signing
// but publishes nothing new, and publishes again once one is back.
func TestLogPublishesOnlyWitnessed(t *testing.T) {
	wn := startWitnesses(t, 3, 2)
	tl := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{releaseKey}, Witnesser: wn.collector(t), WitnessTimeout: 300 * time.Millisecond, Logger: fwtest.Logger(t)})
	lc, err := logclient.New(tl.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 5 {
		submit(t, lc, "image "+string(rune('0'+i)))
	}
	tl.WaitSize(t, 5)
	cp, err := lc.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wc, err := wn.policy.VerifyCheckpoint(cp)
	if err != nil {
		t.Fatalf("published checkpoint does not meet the policy: %v\n%s", err, cp)
	}
	if wc.Checkpoint.Size != 5 || len(wc.Cosignatures) < 2 {
		t.Errorf("checkpoint of size %d with %d cosignatures", wc.Checkpoint.Size, len(wc.Cosignatures))
	}
	// Interop: the formats module opens it with the log key and the
	// witnesses' cosignature/v1 verifiers.
	logV, _ := logKey.Public().NoteVerifier()
	var cosigVs []note.Verifier
	for _, k := range wn.keys {
		cosigVs = append(cosigVs, cosignatureVerifier(t, k))
	}
	if _, _, n, err := flog.ParseCheckpoint(cp, logKey.Name, logV, cosigVs...); err != nil || len(n.Sigs) < 3 {
		t.Errorf("formats: ParseCheckpoint = %v with %d verified signatures", err, len(n.Sigs))
	}
	// The witnesses hold it.
	held := 0
	for _, w := range wn.witnesss {
		if bytes.HasPrefix(w.Latest(logKey.Name), cp[:bytes.Index(cp, []byte("\n\n"))]) {
			held++
		}
	}
	if held < 2 {
		t.Errorf("%d witnesses hold the published checkpoint", held)
	}

	// A device bundle carries the cosigned checkpoint and verifies under
	// the policy.
	img := fwtest.Image("image 3", 100)
	b, err := lc.Bundle(ctx, digest.Digest(sha256.Sum256(img)), -1)
	if err != nil {
		t.Fatal(err)
	}
	v, err := client.VerifyBundle(ctx, client.Trust{Witnesses: wn.policy, ReleaseKeys: fwtest.Ring(t, releaseKey)}, b, bytes.NewReader(img))
	if err != nil {
		t.Fatalf("VerifyBundle with the witness policy: %v", err)
	}
	if len(v.Cosignatures) < 2 {
		t.Errorf("bundle verified with %d cosignatures", len(v.Cosignatures))
	}
	strict, err := tlogpolicy.Parse(fwtest.WitnessPolicy(t, logKey, 3, append(wn.keys[:2:2], fwtest.Key("witness-z.example.org"))))
	if err != nil {
		t.Fatal(err)
	}
	var qe *tlogpolicy.QuorumError
	if _, err := client.VerifyBundle(ctx, client.Trust{Witnesses: strict, ReleaseKeys: fwtest.Ring(t, releaseKey)}, b, bytes.NewReader(img)); !errors.As(err, &qe) {
		t.Errorf("VerifyBundle under a policy the witnesses cannot meet = %v, want a *QuorumError", err)
	}

	// Two witnesses down: entries are still acknowledged and signed, but
	// the published checkpoint stays.
	wn.servers[0].down.Store(true)
	wn.servers[1].down.Store(true)
	submit(t, lc, "while down")
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		if _, s := tl.Log.Checkpoint(); s != 5 {
			t.Fatalf("published size %d without a quorum", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if cp2, _ := lc.Checkpoint(ctx); !bytes.Equal(cp2[:bytes.Index(cp2, []byte("\n\n"))], cp[:bytes.Index(cp, []byte("\n\n"))]) {
		t.Errorf("the served checkpoint changed without a quorum:\n%s", cp2)
	}
	wn.servers[1].down.Store(false)
	tl.WaitSize(t, 6)
	cp3, _ := lc.Checkpoint(ctx)
	if _, err := wn.policy.VerifyCheckpoint(cp3); err != nil {
		t.Errorf("after a witness came back: %v", err)
	}
}

// TestFailOpen checks the development flag: without a quorum the log
// publishes anyway, and the policy then rejects what it published.
func TestFailOpen(t *testing.T) {
	wn := startWitnesses(t, 3, 2)
	wn.servers[0].down.Store(true)
	wn.servers[1].down.Store(true)
	tl := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{releaseKey}, Witnesser: wn.collector(t), WitnessTimeout: 100 * time.Millisecond, WitnessFailOpen: true, Logger: fwtest.Logger(t)})
	lc, _ := logclient.New(tl.URL, nil)
	submit(t, lc, "fail open")
	tl.WaitSize(t, 1)
	cp, _ := lc.Checkpoint(context.Background())
	var qe *tlogpolicy.QuorumError
	if _, err := wn.policy.VerifyCheckpoint(cp); !errors.As(err, &qe) || len(qe.Cosigners) != 1 {
		t.Errorf("VerifyCheckpoint of a fail-open checkpoint = %v, want a *QuorumError naming one cosigner", err)
	}
}

// TestNoCheckpointBeforeQuorum checks that a new log with unreachable
// witnesses serves 503 for /checkpoint, not an unwitnessed checkpoint.
func TestNoCheckpointBeforeQuorum(t *testing.T) {
	wn := startWitnesses(t, 2, 2)
	wn.servers[0].down.Store(true)
	tl := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{releaseKey}, Witnesser: wn.collector(t), WitnessTimeout: 100 * time.Millisecond})
	resp, err := http.Get(tl.URL + "/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("GET /checkpoint before any quorum: %d, want 503", resp.StatusCode)
	}
	wn.servers[0].down.Store(false)
	tl.WaitSize(t, 0)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if cp, _ := tl.Log.Checkpoint(); cp != nil {
			if _, err := wn.policy.VerifyCheckpoint(cp); err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint published after the witness came back")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// witnessedOnce runs a log witnessed by wn in a new directory until it
// publishes one release, named after name, and stops it; it returns the
// directory.
func witnessedOnce(t *testing.T, wn *witnessNet, name string) string {
	t.Helper()
	dir := t.TempDir()
	tl := fwtest.StartLog(t, fwtest.LogOptions{Dir: dir, ReleaseKeys: []*keys.PrivateKey{releaseKey}, Witnesser: wn.collector(t)})
	lc, _ := logclient.New(tl.URL, nil)
	submit(t, lc, name)
	tl.WaitSize(t, 1)
	tl.Stop(t)
	return dir
}

// TestWitnessedCheckpointSurvivesRestart checks that a restarted log
// serves the stored cosigned checkpoint at once.
func TestWitnessedCheckpointSurvivesRestart(t *testing.T) {
	wn := startWitnesses(t, 3, 2)
	dir := witnessedOnce(t, wn, "before restart")
	for _, s := range wn.servers {
		s.down.Store(true)
	}
	tl2 := fwtest.StartLog(t, fwtest.LogOptions{Dir: dir, ReleaseKeys: []*keys.PrivateKey{releaseKey}, Witnesser: wn.collector(t), WitnessTimeout: 100 * time.Millisecond})
	cp, size := tl2.Log.Checkpoint()
	if size != 1 {
		t.Fatalf("after restart the published size is %d, want 1", size)
	}
	if _, err := wn.policy.VerifyCheckpoint(cp); err != nil {
		t.Errorf("after restart: %v", err)
	}
	// The restarted log does not know the witnesses' sizes: its first
	// request to each says old 0, the 409 answer tells it the size, and it
	// sends the proof from there.
	for _, s := range wn.servers {
		s.down.Store(false)
	}
	lc2, _ := logclient.New(tl2.URL, nil)
	submit(t, lc2, "after restart")
	tl2.WaitSize(t, 2)
	cp, _ = tl2.Log.Checkpoint()
	if wc, err := wn.policy.VerifyCheckpoint(cp); err != nil || wc.Checkpoint.Size != 2 {
		t.Errorf("after the witnesses came back: %v", err)
	}
}

// TestForkAttempt: someone holding the log key signs two roots for one
// size and offers one to each of two witnesses, then each the other. The
// witnesses refuse the second and keep both as evidence; neither
// checkpoint meets a policy needing both witnesses.
func TestForkAttempt(t *testing.T) {
	wn := startWitnesses(t, 2, 2)
	honest, evil := newTree(6, -1, ""), newTree(6, 4, "evil ")
	cpH, cpE := honest.checkpoint(t, logKey, 6), evil.checkpoint(t, logKey, 6)
	ctx := context.Background()
	ask := func(i int, cp []byte, old uint64) ([]byte, error) {
		c, err := witness.NewClient(wn.urls[i], nil)
		if err != nil {
			t.Fatal(err)
		}
		return c.AddCheckpoint(ctx, &witness.AddCheckpointRequest{OldSize: old, Checkpoint: cp})
	}
	sigA, err := ask(0, cpH, 0)
	if err != nil {
		t.Fatal(err)
	}
	sigB, err := ask(1, cpE, 0)
	if err != nil {
		t.Fatal(err)
	}
	var fork *witness.ForkError
	if _, err := ask(0, cpE, 6); !errors.As(err, &fork) {
		t.Errorf("witness a, offered the other root: %v, want a *ForkError", err)
	}
	if _, err := ask(1, cpH, 6); !errors.As(err, &fork) {
		t.Errorf("witness b, offered the other root: %v, want a *ForkError", err)
	}
	for i, w := range wn.witnesss {
		forks, err := w.Forks(ctx)
		if err != nil || len(forks) != 1 {
			t.Errorf("witness %d kept %d forks (%v)", i, len(forks), err)
		}
	}
	var qe *tlogpolicy.QuorumError
	for _, n := range [][]byte{append(bytes.Clone(cpH), sigA...), append(bytes.Clone(cpE), sigB...)} {
		if _, err := wn.policy.VerifyCheckpoint(n); !errors.As(err, &qe) {
			t.Errorf("a checkpoint with one of two cosignatures: %v, want a *QuorumError", err)
		}
	}
	var ce *tlogpolicy.CheckpointError
	if _, err := wn.policy.VerifyCheckpoint(append(append(bytes.Clone(cpH), sigA...), sigB...)); !errors.As(err, &ce) {
		t.Errorf("a checkpoint with the other root's cosignature: %v, want a *CheckpointError", err)
	}
}

// TestRefresh checks that an idle log gets its unchanged checkpoint
// cosigned again every WitnessRefresh, so its timestamps stay fresh.
func TestRefresh(t *testing.T) {
	wn := startWitnesses(t, 3, 2)
	tl := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{releaseKey}, Witnesser: wn.collector(t), WitnessRefresh: 100 * time.Millisecond})
	lc, _ := logclient.New(tl.URL, nil)
	submit(t, lc, "refresh")
	tl.WaitSize(t, 1)
	time.Sleep(100 * time.Millisecond)
	before := wn.servers[0].posts.Load() + wn.servers[1].posts.Load() + wn.servers[2].posts.Load()
	time.Sleep(1500 * time.Millisecond) // the retry ticker runs every second
	after := wn.servers[0].posts.Load() + wn.servers[1].posts.Load() + wn.servers[2].posts.Load()
	if after-before < 2 {
		t.Errorf("%d add-checkpoint requests in 1.5s of an idle log with a 100ms refresh; want the checkpoint cosigned again", after-before)
	}
	cp, size := tl.Log.Checkpoint()
	if _, err := wn.policy.VerifyCheckpoint(cp); err != nil || size != 1 {
		t.Errorf("after refreshes: size %d, %v", size, err)
	}
}

// TestRateLimitedWitnesses checks that the log keeps getting checkpoints
// cosigned by witnesses that answer 429 to part of its requests: it backs
// off and retries.
func TestRateLimitedWitnesses(t *testing.T) {
	wn := startWitnessesWith(t, 3, 3, witness.Config{RateLimit: 5, Burst: 1})
	tl := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{releaseKey}, Witnesser: wn.collector(t), Interval: 20 * time.Millisecond})
	lc, _ := logclient.New(tl.URL, nil)
	for i := range 20 {
		submit(t, lc, fmt.Sprint("rate limited ", i))
		time.Sleep(10 * time.Millisecond)
	}
	tl.WaitSize(t, 20)
	cp, _ := tl.Log.Checkpoint()
	if _, err := wn.policy.VerifyCheckpoint(cp); err != nil {
		t.Error(err)
	}
	var limited int64
	for _, s := range wn.servers {
		limited += s.limited.Load()
	}
	if limited == 0 {
		t.Error("no witness answered 429: the test did not exercise the backoff")
	}
	t.Logf("%d requests answered 429", limited)
}

// TestStoredWitnessedCheckpointChecked checks that a log refuses to start
// when its stored witnessed checkpoint is not its own or not its tree's.
func TestStoredWitnessedCheckpointChecked(t *testing.T) {
	fwtest.RequireSQLite(t, "writes checkpoints into the SQLite file")
	wn := startWitnesses(t, 1, 1)
	dir := witnessedOnce(t, wn, "stored")
	ctx := context.Background()
	other := sha256.Sum256([]byte("another root"))
	for _, tc := range []struct {
		desc string
		note []byte
		want string
	}{
		{"signed by another key", fwtest.SignCheckpoint(t, &keys.PrivateKey{Name: logKey.Name, Key: fwtest.Key("impostor").Key}, 1, other[:]), "the stored witnessed checkpoint does not verify"},
		{"another root", fwtest.SignCheckpoint(t, logKey, 1, other[:]), "the stored tree disagrees with the stored witnessed checkpoint"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			s, err := sqlite.Open(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.SetWitnessed(ctx, 1, tc.note); err != nil {
				t.Fatal(err)
			}
			_, err = fwtest.OpenLog(ctx, s, fwtest.LogOptions{Dir: dir, Witnesser: wn.collector(t)})
			var se *log.StateError
			if !errors.As(err, &se) || se.What != "witnessed checkpoint" || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("opening the log: %v, want a *log.StateError about the witnessed checkpoint saying %q", err, tc.want)
			}
		})
	}
}
