package trillian_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/fwledger/fwledger/log"
	"github.com/fwledger/fwledger/log/trillian"
	"github.com/fwledger/fwledger/log/trillian/trilliantest"
	"github.com/fwledger/fwledger/tiles"
	tpb "github.com/google/trillian"
	"github.com/google/trillian/types"
	"github.com/prometheus/client_golang/prometheus"
	flog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/grpc"
)

// recordingSigner signs checkpoints and records the text of each.
type recordingSigner struct {
	note.Signer
	mu    sync.Mutex
	texts []string
}

func (r *recordingSigner) Sign(msg []byte) ([]byte, error) {
	r.mu.Lock()
	r.texts = append(r.texts, string(msg))
	r.mu.Unlock()
	return r.Signer.Sign(msg)
}

type key struct{ skey, vkey string }

func newKey(t *testing.T) key {
	skey, vkey, err := note.GenerateKey(rand.Reader, "example.com/trillian-test")
	if err != nil {
		t.Fatal(err)
	}
	return key{skey, vkey}
}

// frontend is one fwlog process's log: its own storage handle on the
// shared tree and database.
type frontend struct {
	*log.Log
	store    *trillian.Storage
	signer   *recordingSigner
	verifier note.Verifier
	stop     func()
	// failing is set by a test whose log must end with an error.
	failing bool
}

func startFrontend(t *testing.T, e *trilliantest.Env, k key, holder string, client tpb.TrillianLogClient, cfg log.Config, reg prometheus.Registerer) *frontend {
	t.Helper()
	ctx := context.Background()
	db, err := trillian.OpenDB(e.DSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if client == nil {
		client = e.Client
	}
	store, err := trillian.Open(ctx, trillian.Config{DB: db, Client: client, TreeID: e.TreeID, Holder: holder, IntegrateTimeout: 5 * time.Second,
		Logger: slog.New(slog.DiscardHandler), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := note.NewSigner(k.skey)
	signer := &recordingSigner{Signer: s}
	verifier, _ := note.NewVerifier(k.vkey)
	cfg.Signer, cfg.Verifier, cfg.VerifierKey, cfg.Storage = signer, verifier, k.vkey, store
	if cfg.IntegrateInterval == 0 {
		cfg.IntegrateInterval = 5 * time.Millisecond
	}
	cfg.Logger = slog.New(slog.DiscardHandler)
	l, err := log.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- l.Run(rctx) }()
	f := &frontend{Log: l, store: store, signer: signer, verifier: verifier}
	var once sync.Once
	f.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil && !f.failing {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(func() { f.stop() })
	return f
}

func entry(tag string, i int) log.Leaf {
	data := []byte(fmt.Sprintf("%s entry %d", tag, i))
	return log.Leaf{Data: data, Keys: [][]byte{[]byte(tag)}}
}

// waitPublished waits until f publishes a checkpoint of at least size.
func waitPublished(t *testing.T, f *frontend, size uint64) log.Published {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if p := f.Published(); p.Size >= size {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint of size %d published after 30 s (published %d, integrated %d)", size, f.Published().Size, f.Integrated())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestTwoFrontends: an entry submitted through one frontend is readable
// and provable through the other, and only one of them signs.
func TestTwoFrontends(t *testing.T) {
	e := trilliantest.New(t)
	k := newKey(t)
	a := startFrontend(t, e, k, "a", nil, log.Config{}, nil)
	b := startFrontend(t, e, k, "b", nil, log.Config{}, nil)
	ctx := context.Background()
	var idx []uint64
	for i := 0; i < 300; i++ {
		f := a
		if i%2 == 1 {
			f = b
		}
		res, err := f.Sequence(ctx, []log.Leaf{entry("two", i)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		idx = append(idx, res[0].Index)
	}
	pa, pb := waitPublished(t, a, 300), waitPublished(t, b, 300)
	if a.Publishing() == b.Publishing() {
		t.Fatalf("Publishing: a %v, b %v; want exactly one publisher", a.Publishing(), b.Publishing())
	}
	for _, f := range []*frontend{a, b} {
		other := a
		if f == a {
			other = b
		}
		p := f.Published()
		cp, _, _, err := flog.ParseCheckpoint(p.Note, f.Origin(), f.verifier)
		if err != nil {
			t.Fatal(err)
		}
		for i, ix := range idx {
			data, err := f.Entry(ctx, ix)
			if err != nil || !bytes.Equal(data, entry("two", i).Data) {
				t.Fatalf("entry %d (submitted through %v) read through the other = %q, %v", ix, other == a, data, err)
			}
			pr, err := f.InclusionProof(ctx, ix, cp.Size)
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, ix, cp.Size, tiles.LeafHash(data), pr, cp.Hash); err != nil {
				t.Fatalf("entry %d's inclusion proof: %v", ix, err)
			}
		}
	}
	if pa.Size == pb.Size && !bytes.Equal(pa.Note, pb.Note) {
		t.Errorf("the frontends publish different checkpoints of size %d", pa.Size)
	}
	// Only the publisher signed.
	if len(a.signer.texts) > 0 && len(b.signer.texts) > 0 && a.Publishing() && b.Publishing() {
		t.Errorf("both frontends signed")
	}
}

// TestPublisherRace: two frontends whose leases are short and whose
// publisher is paused now and then, so that the lease passes back and
// forth under load, never sign two roots for one size, and lose nothing
// they acknowledged.
func TestPublisherRace(t *testing.T) {
	e := trilliantest.New(t)
	k := newKey(t)
	cfg := log.Config{LeaseTTL: 150 * time.Millisecond}
	// Slow clients make integrations outlast leases.
	slowA := &slowClient{TrillianLogClient: e.Client}
	slowB := &slowClient{TrillianLogClient: e.Client}
	a := startFrontend(t, e, k, "a", slowA, cfg, nil)
	b := startFrontend(t, e, k, "b", slowB, cfg, nil)
	ctx := context.Background()
	var (
		mu    sync.Mutex
		acked = map[uint64][]byte{}
		wg    sync.WaitGroup
	)
	stop := time.Now().Add(4 * time.Second)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := []*frontend{a, b}[w%2]
			for i := 0; time.Now().Before(stop); i++ {
				l := entry(fmt.Sprintf("race%d", w), i)
				res, err := f.Sequence(ctx, []log.Leaf{l}, nil)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked[res[0].Index] = l.Data
				mu.Unlock()
				if i%50 == 0 {
					// Pause one publisher's Trillian calls past its lease.
					c := []*slowClient{slowA, slowB}[i/50%2]
					c.delay(300 * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	slowA.delay(0)
	slowB.delay(0)
	n := uint64(len(acked))
	pa := waitPublished(t, a, n)
	waitPublished(t, b, n)

	roots := map[uint64]string{}
	signers := map[string]int{}
	for name, f := range map[string]*frontend{"a": a, "b": b} {
		f.signer.mu.Lock()
		for _, text := range f.signer.texts {
			cp := new(flog.Checkpoint)
			if _, err := cp.Unmarshal([]byte(text)); err != nil {
				t.Fatal(err)
			}
			if r, ok := roots[cp.Size]; ok && r != string(cp.Hash) {
				t.Errorf("two roots signed for size %d", cp.Size)
			}
			roots[cp.Size] = string(cp.Hash)
			signers[name]++
		}
		f.signer.mu.Unlock()
	}
	t.Logf("%d entries; checkpoints signed: %v; final size %d", n, signers, pa.Size)
	if signers["a"] == 0 || signers["b"] == 0 {
		t.Logf("the lease did not change hands (signed: %v): the race was not exercised", signers)
	}
	for i, data := range acked {
		got, err := a.Entry(ctx, i)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("acknowledged entry %d = %q, %v", i, got, err)
		}
	}
}

// slowClient delays every call of one frontend to Trillian while set.
type slowClient struct {
	tpb.TrillianLogClient
	mu    sync.Mutex
	until time.Time
}

func (c *slowClient) delay(d time.Duration) {
	c.mu.Lock()
	c.until = time.Now().Add(d)
	c.mu.Unlock()
}

func (c *slowClient) wait() {
	c.mu.Lock()
	d := time.Until(c.until)
	c.mu.Unlock()
	if d > 0 {
		time.Sleep(d)
	}
}

func (c *slowClient) GetLatestSignedLogRoot(ctx context.Context, in *tpb.GetLatestSignedLogRootRequest, opts ...grpc.CallOption) (*tpb.GetLatestSignedLogRootResponse, error) {
	c.wait()
	return c.TrillianLogClient.GetLatestSignedLogRoot(ctx, in, opts...)
}

// badRootClient answers with Trillian's roots, but with another root hash
// once the tree is larger than from.
type badRootClient struct {
	tpb.TrillianLogClient
	from uint64
}

func (c *badRootClient) GetLatestSignedLogRoot(ctx context.Context, in *tpb.GetLatestSignedLogRootRequest, opts ...grpc.CallOption) (*tpb.GetLatestSignedLogRootResponse, error) {
	resp, err := c.TrillianLogClient.GetLatestSignedLogRoot(ctx, in, opts...)
	if err != nil {
		return nil, err
	}
	var r types.LogRootV1
	if err := r.UnmarshalBinary(resp.SignedLogRoot.LogRoot); err != nil {
		return nil, err
	}
	if r.TreeSize > c.from {
		r.RootHash = bytes.Repeat([]byte{0xba}, 32)
		if resp.SignedLogRoot.LogRoot, err = r.MarshalBinary(); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// TestBadRoot: a Trillian root that disagrees with the leaves stops
// publication; it is counted in a metric.
func TestBadRoot(t *testing.T) {
	e := trilliantest.New(t)
	k := newKey(t)
	reg := prometheus.NewRegistry()
	bad := &badRootClient{TrillianLogClient: e.Client, from: 10}
	f := startFrontend(t, e, k, "a", bad, log.Config{}, reg)
	f.failing = true // its final integration fails too
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		if _, err := f.Sequence(ctx, []log.Leaf{entry("bad", i)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	waitPublished(t, f, 10)
	for i := 10; i < 20; i++ {
		if _, err := f.Sequence(ctx, []log.Leaf{entry("bad", i)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for gathered(t, reg, "fwlog_trillian_root_mismatches_total") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no root mismatch counted after 20 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // a few more rounds
	if p := f.Published(); p.Size != 10 || f.SignedSize() != 10 || f.Integrated() != 10 {
		t.Errorf("after a bad root: published %d, signed %d, integrated %d; want all 10", p.Size, f.SignedSize(), f.Integrated())
	}
	// The storage says why.
	_, err := f.store.Integrate(ctx, 100)
	var rm *trillian.RootMismatchError
	if !errors.As(err, &rm) || rm.Size <= 10 {
		t.Errorf("Integrate = %v, want a *RootMismatchError beyond size 10", err)
	}
}

// gathered returns the value of the counter name in reg (0 if absent).
func gathered(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}
