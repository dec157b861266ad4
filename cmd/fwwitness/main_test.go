package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fwledger/fwledger/cmd/internal/abuse"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/witness"
	flog "github.com/transparency-dev/formats/log"
	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
)

var fwwitnessBin string

func TestMain(m *testing.M) { fwtest.RunWithBinary(m, "fwwitness", &fwwitnessBin) }

var (
	logKey = fwtest.LogKey
	witKey = fwtest.WitnessA
)

// setup writes the witness key and a log list naming the test log into
// dir, and returns the serve arguments.
func setup(t *testing.T, dir string) []string {
	t.Helper()
	if err := keys.Write(filepath.Join(dir, "witness-a"), witKey); err != nil {
		t.Fatal(err)
	}
	vkey, _ := logKey.Public().VerifierKey()
	if err := os.WriteFile(filepath.Join(dir, "logs.txt"), []byte("# logs this witness follows\nlog "+vkey+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{"serve", "--addr", "127.0.0.1:0", "--key", filepath.Join(dir, "witness-a.key"),
		"--logs", filepath.Join(dir, "logs.txt"), "--data", filepath.Join(dir, "state"), "--rate-limit", "0"}
}

// TestKillAndRestart feeds checkpoints of a growing tree to fwwitness and
// kills it with SIGKILL at random moments, over and over. After each
// restart, the witness's size must be at least the largest it acknowledged,
// and everything it cosigned must be consistent.
func TestKillAndRestart(t *testing.T) {
	dir := t.TempDir()
	args := setup(t, dir)
	tree := testonly.New(rfc6962.DefaultHasher)
	for i := range 100000 {
		tree.AppendData(fmt.Appendf(nil, "leaf %d", i))
	}
	cosigV, err := fnote.NewVerifierForCosignatureV1(fwtest.CosignerVKey(t, witKey))
	if err != nil {
		t.Fatal(err)
	}
	logV, _ := logKey.Public().NoteVerifier()
	var acked uint64 // largest size cosigned
	rounds := 6
	if testing.Short() {
		rounds = 2
	}
	for round := range rounds {
		p, err := fwtest.StartProc(t, fwwitnessBin, args...)
		if err != nil {
			t.Fatal(err)
		}
		c, err := witness.NewClient(p.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		// The witness must answer from its state: old 0 gives its size.
		_, err = c.AddCheckpoint(ctx, &witness.AddCheckpointRequest{OldSize: 0, Checkpoint: fwtest.SignCheckpoint(t, logKey, 1, tree.HashAt(1))})
		var conflict *witness.ConflictError
		old := uint64(0)
		switch {
		case errors.As(err, &conflict):
			old = conflict.Size
		case err == nil && acked == 0:
			old = 1
		default:
			t.Fatalf("round %d: old 0: %v (acknowledged %d)", round, err, acked)
		}
		if old < acked {
			t.Fatalf("round %d: after SIGKILL the witness is at size %d, but it acknowledged %d", round, old, acked)
		}
		acked = old
		var mu sync.Mutex
		done := make(chan struct{})
		go func() {
			defer close(done)
			for n := old; n < tree.Size(); {
				n = min(tree.Size(), n+uint64(rand.IntN(5))+1)
				req := &witness.AddCheckpointRequest{OldSize: old, Checkpoint: fwtest.SignCheckpoint(t, logKey, n, tree.HashAt(n))}
				if old > 0 {
					req.Proof, _ = tree.ConsistencyProof(old, n)
				}
				sigs, err := c.AddCheckpoint(ctx, req)
				if err != nil {
					return // killed
				}
				cp, _, _, err := flog.ParseCheckpoint(append(req.Checkpoint, sigs...), logKey.Name, logV, cosigV)
				if err != nil || cp.Size != n {
					t.Errorf("cosignature for %d does not verify: %v", n, err)
					return
				}
				mu.Lock()
				acked, old = n, n
				mu.Unlock()
			}
		}()
		time.Sleep(time.Duration(20+rand.IntN(150)) * time.Millisecond)
		p.Cmd.Process.Kill()
		p.Stop(syscall.SIGKILL)
		<-done
	}
	// Finally, a clean restart serves the latest cosigned checkpoint, which
	// verifies and is consistent with the tree.
	p, err := fwtest.StartProc(t, fwwitnessBin, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(syscall.SIGTERM)
	resp, err := http.Get(p.URL + "/checkpoint/" + logKey.Name)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	cp, _, _, err := flog.ParseCheckpoint(body, logKey.Name, logV, cosigV)
	if err != nil {
		t.Fatalf("GET /checkpoint/<origin>: %v\n%s", err, body)
	}
	if cp.Size < acked {
		t.Fatalf("final size %d < acknowledged %d", cp.Size, acked)
	}
	if !bytes.Equal(cp.Hash, tree.HashAt(cp.Size)) {
		t.Fatal("the witness holds a root that is not the tree's")
	}
	if acked > 0 {
		pf, _ := tree.ConsistencyProof(acked, cp.Size)
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, acked, cp.Size, pf, tree.HashAt(acked), cp.Hash); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d kills; acknowledged up to %d; the witness holds %d", rounds, acked, cp.Size)
	if err := p.Stop(syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM: %v\n%s", err, p.Output())
	}
}

func TestDoubleLaunch(t *testing.T) {
	dir := t.TempDir()
	args := setup(t, dir)
	p, err := fwtest.StartProc(t, fwwitnessBin, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(syscall.SIGTERM)
	q, err := fwtest.StartProc(t, fwwitnessBin, args...)
	if err == nil {
		q.Stop(syscall.SIGKILL)
		t.Fatal("a second fwwitness started on the same data directory")
	}
	if !strings.Contains(q.Output(), "in use by another process") {
		t.Errorf("second fwwitness output does not name the lock:\n%s", q.Output())
	}
}

func TestUsage(t *testing.T) {
	dir := t.TempDir()
	setup(t, dir)
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{nil, 2, "Usage:"},
		{[]string{"help"}, 0, "fwwitness serve"},
		{[]string{"bogus"}, 2, `unknown command "bogus"`},
		{[]string{"serve", "--help"}, 0, "--logs"},
		{[]string{"serve"}, 2, "--key and --logs are required"},
		// Replays and refreshes have no budget (package witness, Budget).
		{[]string{"serve", "--refresh-rate-limit", "10"}, 2, "flag provided but not defined: -refresh-rate-limit"},
		{[]string{"serve", "--key", filepath.Join(dir, "witness-a.key"), "--logs", filepath.Join(dir, "nope.txt")}, 1, "couldn't read the log list"},
		{[]string{"serve", "--key", filepath.Join(dir, "witness-a.key"), "--logs", filepath.Join(dir, "witness-a.pub")}, 1, "invalid log list"},
		{[]string{"vkey"}, 2, "usage: fwwitness vkey"},
		{[]string{"vkey", "--key", filepath.Join(dir, "witness-a.pub")}, 0, fwtest.CosignerVKey(t, witKey)},
		{[]string{"vkey", "--key", filepath.Join(dir, "witness-a.key")}, 0, fwtest.CosignerVKey(t, witKey)},
	} {
		var stdout, stderr bytes.Buffer
		code := run(tc.args, &stdout, &stderr)
		if code != tc.code || !strings.Contains(stdout.String()+stderr.String(), tc.out) {
			t.Errorf("fwwitness %q = %d, %q %q; want %d and %q", tc.args, code, stdout.String(), stderr.String(), tc.code, tc.out)
		}
	}
}

// TestHeldBodies holds 50 add-checkpoint bodies open, each one byte short,
// while a log gets a checkpoint cosigned: the witness must cosign it and
// close every held connection itself (after its 10s body timeout; the
// attackers wait 40s, so one still open then is a failure).
func TestHeldBodies(t *testing.T) {
	if testing.Short() {
		t.Skip("the held bodies take 10s to time out")
	}
	dir := t.TempDir()
	p, err := fwtest.StartProc(t, fwwitnessBin, setup(t, dir)...)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(syscall.SIGTERM)
	ctx := context.Background()
	run, err := abuse.Attack{URL: p.URL + "/add-checkpoint", Conns: 50, Declared: witness.MaxRequestSize, Send: witness.MaxRequestSize - 1, Wait: 40 * time.Second}.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	run.WaitSent()
	c, err := witness.NewClient(p.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	tree := testonly.New(rfc6962.DefaultHasher)
	tree.AppendData([]byte("leaf 0"))
	t0 := time.Now()
	if _, err := c.AddCheckpoint(ctx, &witness.AddCheckpointRequest{Checkpoint: fwtest.SignCheckpoint(t, logKey, 1, tree.HashAt(1))}); err != nil {
		t.Errorf("add-checkpoint while %d bodies were held: %v", run.Open(), err)
	}
	t.Logf("cosigned in %v while %d bodies were held", time.Since(t0), run.Open())
	var lived time.Duration
	statuses := map[int]int{}
	for i, h := range run.Wait() {
		statuses[h.Status]++
		lived = max(lived, h.Held)
		if !h.ClosedByServer {
			t.Errorf("held connection %d was not closed by fwwitness: %v", i, h.Err)
		}
	}
	t.Logf("held connections: statuses %v; the longest lived %v after sending", statuses, lived)
}

// TestIdleConns takes every connection fwwitness allows by default (256)
// with keep-alive connections that send GET /healthz, read the answer and
// stay silent: a log's add-checkpoint must still be cosigned within 5s,
// fwwitness closing the connection idle the longest to make room.
func TestIdleConns(t *testing.T) {
	dir := t.TempDir()
	p, err := fwtest.StartProc(t, fwwitnessBin, setup(t, dir)...)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(syscall.SIGTERM)
	addr := strings.TrimPrefix(p.URL, "http://")
	const held = 256
	fwtest.HoldIdle(t, addr, held)
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	c, err := witness.NewClient(p.URL, hc)
	if err != nil {
		t.Fatal(err)
	}
	tree := testonly.New(rfc6962.DefaultHasher)
	tree.AppendData([]byte("leaf 0"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	t0 := time.Now()
	if _, err := c.AddCheckpoint(ctx, &witness.AddCheckpointRequest{Checkpoint: fwtest.SignCheckpoint(t, logKey, 1, tree.HashAt(1))}); err != nil {
		t.Fatalf("add-checkpoint while %d idle connections were held: %v", held, err)
	}
	t.Logf("cosigned in %v while %d idle connections were held", time.Since(t0), held)
	resp, err := hc.Get(p.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	metrics, _ := io.ReadAll(resp.Body)
	if !bytes.Contains(metrics, []byte("\nfwwitness_connections_evicted_total 1\n")) {
		t.Errorf("/metrics does not report fwwitness_connections_evicted_total 1")
	}
}
