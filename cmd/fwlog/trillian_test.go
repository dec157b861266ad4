package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/log/trillian/trilliantest"
	"github.com/fwledger/fwledger/logclient"
	"github.com/fwledger/fwledger/tiles"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// trillianArgs returns the flags that run fwlog as a frontend of the log
// on e's tree and database, with the log key and content directory in dir
// and its own data directory name.
func trillianArgs(t *testing.T, e *trilliantest.Env, dir, name string) []string {
	t.Helper()
	dsn := filepath.Join(dir, "mysql.dsn")
	if _, err := os.Stat(dsn); err != nil {
		if err := os.WriteFile(dsn, []byte(e.DSN+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return []string{"--backend", "trillian", "--trillian", e.Addr, "--tree-id", fmt.Sprint(e.TreeID), "--mysql", "@" + dsn,
		"--data", filepath.Join(dir, name), "--key", filepath.Join(dir, "log.key"), "--content-dir", filepath.Join(dir, "content"),
		"--lease-ttl", "1s"}
}

// backendArgs returns the flags of the storage of a test's fwlog on
// fwtest.Backend(): its data directory dir/name, and on the Trillian
// backend a new tree and database for dir. With them, a test that starts
// fwlog runs unchanged on either backend (make test-trillian).
func backendArgs(t *testing.T, dir, name string) []string {
	t.Helper()
	if fwtest.Backend() == "sqlite" {
		return []string{"--data", filepath.Join(dir, name)}
	}
	// A --key given after these wins over theirs.
	return trillianArgs(t, fwtest.TrillianEnv(t, dir), dir, name)
}

// TestTrillianFrontends runs two fwlog frontends on one Trillian tree and
// database under concurrent submissions through both, and kills one of
// them with SIGKILL at a random moment, round after round (the publisher
// as often as not), restarting it each time. After every restart, every
// entry either frontend acknowledged is read back through both, byte for
// byte, and proved through the one it was not submitted to; every
// checkpoint either ever served is consistent with the current one, and no
// size is ever served with two roots.
func TestTrillianFrontends(t *testing.T) {
	e := trilliantest.New(t)
	rounds := 10
	if testing.Short() {
		rounds = 3
	}
	dir := t.TempDir()
	logKey := fwtest.Key(origin)
	if err := keys.Write(filepath.Join(dir, "log"), logKey); err != nil {
		t.Fatal(err)
	}
	pub := setup(t, dir)
	verifier := logVerifier(t, filepath.Join(dir, "log.pub"))
	names := []string{"a", "b"}
	procs := map[string]*proc{}
	clients := map[string]*logclient.Client{}
	run := func(name string) {
		p, err := start(t, append(trillianArgs(t, e, dir, name), "--release-keys", pub)...)
		if err != nil {
			t.Fatalf("starting frontend %s: %v", name, err)
		}
		procs[name] = p
		clients[name], _ = logclient.New(p.URL, nil)
	}
	for _, n := range names {
		run(n)
	}
	defer func() {
		for _, p := range procs {
			p.Stop(syscall.SIGTERM)
		}
	}()
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
	ctx := context.Background()
	type acked struct {
		env []byte
		via string
	}
	var (
		mu   sync.Mutex
		ack  = map[uint64]acked{}
		seen [][]byte // checkpoints served since the last check
		seq  int
		// publisherKills counts the rounds that killed the publisher.
		publisherKills int
	)
	for round := 0; round < rounds; round++ {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := 0; w < 6; w++ {
			name := names[w%2]
			lc := clients[name]
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					mu.Lock()
					seq++
					n := seq
					mu.Unlock()
					env := fwtest.SignRelease(t, fwtest.NewRelease(fwtest.Image(fmt.Sprint("frontends ", n), 64), nil), relKey)
					res, err := lc.Add(ctx, env)
					if err != nil {
						if round := ctx.Err(); round != nil {
							return
						}
						select {
						case <-stop:
							return // its frontend was killed: not acknowledged
						default:
						}
						time.Sleep(10 * time.Millisecond)
						continue
					}
					mu.Lock()
					if old, ok := ack[res.Index]; ok && !bytes.Equal(old.env, env) {
						t.Errorf("index %d acknowledged for two different entries", res.Index)
					}
					ack[res.Index] = acked{env, name}
					mu.Unlock()
				}
			}()
		}
		for _, name := range names {
			lc := clients[name]
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					case <-time.After(5 * time.Millisecond):
					}
					raw, err := lc.Checkpoint(ctx)
					if err != nil {
						continue
					}
					mu.Lock()
					seen = append(seen, raw)
					mu.Unlock()
				}
			}()
		}
		time.Sleep(time.Duration(100+rnd.IntN(500)) * time.Millisecond)
		victim := names[rnd.IntN(2)]
		if publishing(t, procs[victim].URL) {
			publisherKills++
		}
		procs[victim].Stop(syscall.SIGKILL)
		time.Sleep(time.Duration(rnd.IntN(300)) * time.Millisecond)
		close(stop)
		wg.Wait()
		run(victim)

		// Every acknowledged entry comes back through both frontends.
		mu.Lock()
		var want uint64
		for i := range ack {
			want = max(want, i+1)
		}
		mu.Unlock()
		for _, name := range names {
			waitSize(t, clients[name], want)
		}
		for _, name := range names {
			lc := clients[name]
			cur := checkpointOf(t, lc, verifier)
			mu.Lock()
			for i, a := range ack {
				got, err := lc.Entry(ctx, i)
				if err != nil || !bytes.Equal(got.Data, a.env) {
					t.Fatalf("round %d: entry %d, acknowledged by %s, read through %s: lost or changed (%v)", round, i, a.via, name, err)
				}
				if a.via != name && i%17 == 0 {
					p, err := lc.InclusionProof(ctx, i, cur.Size)
					if err != nil {
						t.Fatal(err)
					}
					if err := proof.VerifyInclusion(rfc6962.DefaultHasher, i, cur.Size, tiles.LeafHash(a.env), p.Hashes, cur.Hash); err != nil {
						t.Fatalf("round %d: entry %d, acknowledged by %s, proved through %s: %v", round, i, a.via, name, err)
					}
				}
			}
			seen = append(seen, cur.raw)
			for _, raw := range seen {
				checkConsistent(t, lc, verifier, raw, cur)
			}
			seen = append(seen[:0], cur.raw)
			mu.Unlock()
		}
		t.Logf("round %d: killed %s; %d entries acknowledged", round, victim, len(ack))
	}
	t.Logf("%d of %d kills were of the publisher", publisherKills, rounds)
	if publisherKills == 0 && !testing.Short() {
		t.Errorf("no round killed the publisher: the takeover was not exercised")
	}
	if len(ack) < 100 {
		t.Errorf("only %d entries were acknowledged over %d rounds; the test did not exercise the log", len(ack), rounds)
	}
}

// publishing reports whether the fwlog at url holds the publisher lease,
// by its fwlog_publisher metric.
func publishing(t *testing.T, url string) bool {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return bytes.Contains(body, []byte("\nfwlog_publisher 1\n"))
}
