package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/log/sqlite"
	"github.com/fwledger/fwledger/logclient"
	"github.com/fwledger/fwledger/tlogpolicy"
	flog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

var fwlogBin string

func TestMain(m *testing.M) { fwtest.RunWithBinary(m, "fwlog", &fwlogBin) }

const origin = "example.com/crashlog"

var relKey = fwtest.Release1

// proc is a running fwlog.
type proc = fwtest.Proc

// setup writes the release public key into dir and returns its path.
func setup(t *testing.T, dir string) string {
	pub, err := relKey.Public().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "release-1.pub")
	if err := os.WriteFile(p, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// start runs fwlog with args and waits until it serves, or returns its
// exit error and output if it stops first.
func start(t *testing.T, args ...string) (*proc, error) {
	t.Helper()
	// The crash test logs bare releases; provenance has its own tests.
	return fwtest.StartProc(t, fwlogBin, append([]string{"serve", "--addr", "127.0.0.1:0", "--integrate-interval", "20ms", "--require-provenance=false"}, args...)...)
}

// TestCrashLoop kills fwlog with SIGKILL at random moments while concurrent
// submitters are busy, over and over, and checks after every restart that
// every acknowledged index still holds the same bytes, that every checkpoint
// ever seen is consistent with the latest, and that SQLite's integrity check
// passes. Every fifth round stops it with SIGTERM instead, which must exit 0,
// so 27 rounds make 22 kills.
func TestCrashLoop(t *testing.T) {
	rounds := 27
	if testing.Short() {
		rounds = 5
	}
	crashLoop(t, rounds, nil, nil)
}

// TestCrashLoopWitnessed is the crash loop with three witnesses under a
// 2-of-3 policy: besides everything TestCrashLoop checks, every checkpoint
// the log ever served must meet the policy, and after each restart the
// published checkpoint never goes back.
func TestCrashLoopWitnessed(t *testing.T) {
	rounds := 10
	if testing.Short() {
		rounds = 3
	}
	dir := t.TempDir()
	logKey := fwtest.Key(origin)
	if err := keys.Write(filepath.Join(dir, "log"), logKey); err != nil {
		t.Fatal(err)
	}
	wks := []*keys.PrivateKey{fwtest.WitnessA, fwtest.WitnessB, fwtest.WitnessC}
	urls := fwtest.StartWitnesses(t, wks, logKey)
	policy := fwtest.WitnessPolicy(t, logKey, 2, wks, urls...)
	if err := os.WriteFile(filepath.Join(dir, "policy.txt"), policy, 0o644); err != nil {
		t.Fatal(err)
	}
	wp, err := tlogpolicy.Parse(policy)
	if err != nil {
		t.Fatal(err)
	}
	crashLoop(t, rounds, []string{"--key", filepath.Join(dir, "log.key"), "--witness-policy", filepath.Join(dir, "policy.txt")}, func(raw []byte) error {
		_, err := wp.VerifyCheckpoint(raw)
		return err
	})
}

// crashLoop runs the crash test for rounds rounds with fwlog's extra args;
// check, if set, must accept every checkpoint the log serves.
func crashLoop(t *testing.T, rounds int, extra []string, check func([]byte) error) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	pub := setup(t, dir)
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	pubFile := filepath.Join(data, "log.pub")
	for i, a := range extra {
		if a == "--key" {
			pubFile = strings.TrimSuffix(extra[i+1], ".key") + ".pub"
		}
	}

	var (
		mu          sync.Mutex
		acked       = map[uint64][]byte{}
		checkpoints = map[string][]byte{} // distinct signed checkpoints seen
		seq         int
	)
	for round := 0; round < rounds; round++ {
		args := append([]string{"--data", data, "--release-keys", pub}, extra...)
		if round == 0 {
			args = append(args, "--origin", origin)
		}
		p, err := start(t, args...)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		lc, _ := logclient.New(p.URL, nil)
		verifier := logVerifier(t, pubFile)
		ctx := context.Background()

		// After a restart every acknowledged entry comes back, byte for byte.
		mu.Lock()
		var maxIdx uint64
		for i := range acked {
			maxIdx = max(maxIdx, i+1)
		}
		mu.Unlock()
		waitSize(t, lc, maxIdx)
		mu.Lock()
		for i, env := range acked {
			e, err := lc.Entry(ctx, i)
			if err != nil || !bytes.Equal(e.Data, env) {
				t.Fatalf("round %d: acknowledged entry %d lost or changed: %v", round, i, err)
			}
		}
		mu.Unlock()

		// Every checkpoint seen so far is consistent with the current one.
		cur := checkpointOf(t, lc, verifier)
		mu.Lock()
		checkpoints[string(cur.raw)] = cur.raw
		for _, raw := range checkpoints {
			checkConsistent(t, lc, verifier, raw, cur)
			if check != nil {
				if err := check(raw); err != nil {
					t.Fatalf("round %d: the log served a checkpoint that fails the check: %v\n%s", round, err, raw)
				}
			}
		}
		mu.Unlock()

		// Submit concurrently and watch checkpoints until the kill.
		stop := make(chan struct{})
		var wg sync.WaitGroup
		next := func() int {
			mu.Lock()
			defer mu.Unlock()
			seq++
			return seq
		}
		for w := 0; w < 6; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// An error is the log dying: that one was not acknowledged.
				submit(t, lc, stop, next, false, func(idx uint64, env []byte) {
					mu.Lock()
					defer mu.Unlock()
					if old, ok := acked[idx]; ok && !bytes.Equal(old, env) {
						t.Errorf("index %d acknowledged for two different entries", idx)
					}
					acked[idx] = env
				})
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			watchCheckpoints(lc, stop, func(raw []byte) {
				mu.Lock()
				checkpoints[string(raw)] = raw
				mu.Unlock()
			})
		}()
		time.Sleep(time.Duration(30+rnd.IntN(400)) * time.Millisecond)
		if round%5 == 4 {
			if err := p.Stop(syscall.SIGTERM); err != nil {
				t.Errorf("round %d: SIGTERM: fwlog exited with %v\n%s", round, err, p.Output())
			}
		} else {
			p.Stop(syscall.SIGKILL)
		}
		close(stop)
		wg.Wait()

		s, err := sqlite.Open(ctx, data)
		if err != nil {
			t.Fatalf("round %d: reopening the database: %v", round, err)
		}
		if err := s.IntegrityCheck(ctx); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		s.Close()
	}
	mu.Lock()
	defer mu.Unlock()
	for _, raw := range checkpoints {
		if check != nil {
			if err := check(raw); err != nil {
				t.Errorf("the log served a checkpoint that fails the check: %v\n%s", err, raw)
			}
		}
	}
	if len(acked) < 50 {
		t.Errorf("only %d entries were acknowledged over %d rounds; the test did not exercise the log", len(acked), rounds)
	}
	t.Logf("%d rounds, %d acknowledged entries, %d distinct checkpoints", rounds, len(acked), len(checkpoints))
}

// submit submits new releases, numbered by next, through lc until stop
// closes, and calls acked with each acknowledged index and envelope. An
// error ends it, unless retry is set: then it tries again 10 ms later.
func submit(t *testing.T, lc *logclient.Client, stop <-chan struct{}, next func() int, retry bool, acked func(idx uint64, env []byte)) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		img := fwtest.Image(fmt.Sprint("submission ", next()), 64)
		env := fwtest.SignRelease(t, fwtest.NewRelease(img, nil), relKey)
		res, err := lc.Add(context.Background(), env)
		if err != nil && !retry {
			return
		}
		if err != nil {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		acked(res.Index, env)
	}
}

// watchCheckpoints calls seen with every checkpoint lc serves, polling
// every 5 ms, until stop closes.
func watchCheckpoints(lc *logclient.Client, stop <-chan struct{}, seen func(raw []byte)) {
	for {
		select {
		case <-stop:
			return
		case <-time.After(5 * time.Millisecond):
		}
		if raw, err := lc.Checkpoint(context.Background()); err == nil {
			seen(raw)
		}
	}
}

type checkpoint struct {
	flog.Checkpoint
	raw []byte
}

// logVerifier returns the note verifier of a public key file.
func logVerifier(t *testing.T, pubFile string) note.Verifier {
	k, err := keys.LoadPublic(pubFile)
	if err != nil {
		t.Fatal(err)
	}
	v, err := k.NoteVerifier()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func checkpointOf(t *testing.T, lc *logclient.Client, v note.Verifier) checkpoint {
	// With witnesses, a new log has no checkpoint until the first quorum.
	raw, err := lc.Checkpoint(context.Background())
	for deadline := time.Now().Add(10 * time.Second); err != nil && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		raw, err = lc.Checkpoint(context.Background())
	}
	if err != nil {
		t.Fatal(err)
	}
	cp, err := tlogpolicy.VerifyCheckpoint(v, raw)
	if err != nil {
		t.Fatalf("checkpoint does not verify: %v", err)
	}
	return checkpoint{*cp, raw}
}

func checkConsistent(t *testing.T, lc *logclient.Client, v note.Verifier, raw []byte, cur checkpoint) {
	t.Helper()
	old, err := tlogpolicy.VerifyCheckpoint(v, raw)
	if err != nil {
		t.Fatalf("a checkpoint seen earlier does not verify: %v", err)
	}
	if old.Size > cur.Size {
		t.Fatalf("the log went back from size %d to %d", old.Size, cur.Size)
	}
	if old.Size == cur.Size {
		if !bytes.Equal(old.Hash, cur.Hash) {
			t.Fatalf("two roots signed for size %d", old.Size)
		}
		return
	}
	if old.Size == 0 {
		return
	}
	p, err := lc.ConsistencyProof(context.Background(), old.Size, cur.Size)
	if err != nil {
		t.Fatal(err)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, old.Size, cur.Size, p.Hashes, old.Hash, cur.Hash); err != nil {
		t.Fatalf("checkpoint of size %d is not consistent with size %d: %v", old.Size, cur.Size, err)
	}
}

func waitSize(t *testing.T, lc *logclient.Client, size uint64) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		info, err := lc.Info(context.Background())
		if err == nil && info.Size >= size {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the log did not reach size %d", size)
}

// startNew starts fwlog on a new data directory, and returns the test's
// directory, the data directory, the release key's file, and the process.
func startNew(t *testing.T) (dir, data, pub string, p *proc) {
	t.Helper()
	dir = t.TempDir()
	data = filepath.Join(dir, "data")
	pub = setup(t, dir)
	p, err := start(t, "--data", data, "--origin", origin, "--release-keys", pub)
	if err != nil {
		t.Fatal(err)
	}
	return dir, data, pub, p
}

// TestDoubleLaunch shows that a second fwlog on the same data directory
// refuses to start while the first runs.
func TestDoubleLaunch(t *testing.T) {
	_, data, pub, p := startNew(t)
	defer p.Stop(syscall.SIGTERM)
	p2, err := start(t, "--data", data, "--release-keys", pub)
	if err == nil {
		p2.Stop(syscall.SIGKILL)
		t.Fatal("a second fwlog started on the same data directory")
	}
	if !strings.Contains(err.Error(), "in use by another process") || !strings.Contains(err.Error(), "exit status 1") {
		t.Errorf("second fwlog: %v; want exit status 1 naming the lock", err)
	}
	// The first one is unaffected.
	lc, _ := logclient.New(p.URL, nil)
	if _, err := lc.Info(context.Background()); err != nil {
		t.Errorf("the first fwlog stopped answering: %v", err)
	}
}

// TestIdentityChangesRefused shows fwlog refusing a changed origin or key.
func TestIdentityChangesRefused(t *testing.T) {
	dir, data, pub, p := startNew(t)
	if err := p.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	if _, err := start(t, "--data", data, "--origin", "example.com/other", "--release-keys", pub); err == nil || !strings.Contains(err.Error(), "cannot change") {
		t.Errorf("changed --origin: %v", err)
	}
	other := fwtest.Key(origin + "-other")
	other.Name = origin
	if err := keys.Write(filepath.Join(dir, "other"), other); err != nil {
		t.Fatal(err)
	}
	if _, err := start(t, "--data", data, "--key", filepath.Join(dir, "other.key"), "--release-keys", pub); err == nil || !strings.Contains(err.Error(), "key or origin changed") {
		t.Errorf("another key: %v", err)
	}
	// Unchanged, it starts again.
	p, err := start(t, "--data", data, "--release-keys", pub)
	if err != nil {
		t.Fatal(err)
	}
	p.Stop(syscall.SIGTERM)
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"help"}, 0, "fwlog serve"},
		{[]string{"serve", "--help"}, 0, "-release-keys file"},
		{[]string{"serve", "--bogus"}, 2, "flag provided but not defined"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{nil, 2, "Usage"},
	} {
		var out, errb bytes.Buffer
		if code := run(tc.args, &out, &errb); code != tc.code || !strings.Contains(out.String()+errb.String(), tc.out) {
			t.Errorf("fwlog %q = %d, %q; want %d with %q", tc.args, code, out.String()+errb.String(), tc.code, tc.out)
		}
	}
}
