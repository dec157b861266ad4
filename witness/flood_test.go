package witness_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/logclient"
	"github.com/fwledger/fwledger/witness"
)

// statusCounter is an http.RoundTripper that counts the answers to a
// client's requests by status code, and times the successful ones.
type statusCounter struct {
	base http.RoundTripper

	mu     sync.Mutex
	counts map[int]int
	errs   int
	ok     []time.Duration
}

func (s *statusCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := s.base.RoundTrip(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.errs++
		return nil, err
	}
	s.counts[resp.StatusCode]++
	if resp.StatusCode == http.StatusOK {
		s.ok = append(s.ok, time.Since(start))
	}
	return resp, nil
}

// TestReplayFlood replays a log's public checkpoint to its witnesses from
// many goroutines, as anyone can, while the log publishes new entries and
// then while it is idle:
//   - every request of the log is answered without a 429, and each new
//     entry is published;
//   - the idle log's refreshes of its unchanged checkpoint get fresh
//     cosignatures: the published timestamps advance with each refresh
//     (threat 6, freeze);
//   - checkpoints the log key signed with another root, for the latest
//     size of a witness and for an older size it cosigned, sent several
//     times each, are all recorded at GET /forks, once each;
//   - the replays cost the witnesses no durable write.
//
// The publication latency during the flood is logged, not asserted.
func TestReplayFlood(t *testing.T) {
	wn := startWitnessesWith(t, 3, 2, witness.Config{RateLimit: 50, Burst: 100}) // fwwitness's defaults
	logRequests := &statusCounter{base: http.DefaultTransport.(*http.Transport).Clone(), counts: map[int]int{}}
	c, err := witness.NewCollector(witness.CollectorConfig{Policy: wn.policy, HTTPClient: &http.Client{Transport: logRequests, Timeout: 10 * time.Second}, Logger: fwtest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	// A refresh every second (the log's loop checks every second): one
	// second is also the resolution of cosignature timestamps.
	tl := fwtest.StartLog(t, fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{releaseKey}, Witnesser: c, WitnessRefresh: time.Second})
	lc, err := logclient.New(tl.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	// publish submits n entries one after the other and returns the time
	// each took to be published.
	publish := func(n int, what string) []time.Duration {
		var latencies []time.Duration
		for i := range n {
			_, size := tl.Log.Checkpoint()
			submit(t, lc, fmt.Sprint(what, i))
			start := time.Now()
			for {
				if _, s := tl.Log.Checkpoint(); s > size {
					break
				}
				if time.Since(start) > 20*time.Second {
					t.Fatalf("entry %d not published after 20s %s", size+1, what)
				}
				time.Sleep(time.Millisecond)
			}
			latencies = append(latencies, time.Since(start))
		}
		slices.Sort(latencies)
		return latencies
	}
	baseline := publish(5, "before the flood ")

	// The flood: fetch the log's /checkpoint and replay it to every
	// witness with old set to its size, the witness's latest size.
	ctx, stopFlood := context.WithCancel(context.Background())
	defer stopFlood()
	var replays, replayed, limited atomic.Int64
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var flood sync.WaitGroup
	for g := range 12 {
		flood.Go(func() {
			var cp []byte
			for i := 0; ctx.Err() == nil; i++ {
				if i%50 == 0 {
					resp, err := hc.Get(tl.URL + "/checkpoint")
					if err != nil {
						continue
					}
					cp, _ = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				lines := bytes.SplitN(cp, []byte("\n"), 3)
				if len(lines) < 3 {
					continue
				}
				size, _ := strconv.ParseUint(string(lines[1]), 10, 64)
				body := fmt.Appendf(nil, "old %d\n\n%s", size, cp)
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, wn.urls[(g+i)%len(wn.urls)]+"/add-checkpoint", bytes.NewReader(body))
				resp, err := hc.Do(req)
				if err != nil {
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				replays.Add(1)
				switch resp.StatusCode {
				case http.StatusOK:
					replayed.Add(1)
				case http.StatusTooManyRequests:
					limited.Add(1)
				}
			}
		})
	}
	// Let the flood get going first (it used up the budgets of earlier
	// witnesses).
	for replays.Load() < 500 {
		time.Sleep(time.Millisecond)
	}

	var writesBefore []uint64
	for _, s := range wn.stores {
		writesBefore = append(writesBefore, s.Writes())
	}
	_, sizeBefore := tl.Log.Checkpoint()
	// New entries, spread over the flood.
	floodFor := 3 * time.Second
	if testing.Short() {
		floodFor = time.Second
	}
	var latencies []time.Duration
	for start := time.Now(); time.Since(start) < floodFor || len(latencies) < 10; {
		latencies = append(latencies, publish(1, fmt.Sprint("during the flood ", len(latencies)))...)
		time.Sleep(50 * time.Millisecond)
	}
	slices.Sort(latencies)
	_, sizeAfter := tl.Log.Checkpoint()
	for i, s := range wn.stores {
		// Each write stores a larger size, so the new entries allow at most
		// one write each.
		if w := s.Writes() - writesBefore[i]; w > sizeAfter-sizeBefore {
			t.Errorf("witness %d wrote %d records during the flood, while the log grew by %d entries: replays were written", i, w, sizeAfter-sizeBefore)
		}
	}

	// The log is idle now, the flood goes on. A holder of the log key
	// offers each witness another root for its latest size and for an
	// older size it cosigned, several times each, with various old sizes.
	idle := time.Now()
	type offer struct {
		size uint64
		cp   []byte
	}
	offers := make([][]offer, len(wn.witnesss))
	latestBefore := make([]uint64, len(wn.witnesss))
	for i, w := range wn.witnesss {
		writesBefore[i] = wn.stores[i].Writes()
		latest := noteSize(t, w.Latest(logKey.Name))
		latestBefore[i] = latest
		older := latest - 1
		for ; older > 0; older-- {
			if _, ok, err := wn.stores[i].History(context.Background(), logKey.Name, older); err != nil {
				t.Fatal(err)
			} else if ok {
				break
			}
		}
		if older == 0 {
			t.Fatalf("witness %d cosigned no size before its latest %d", i, latest)
		}
		for _, size := range []uint64{latest, older} {
			root := sha256.Sum256(fmt.Appendf(nil, "another root for %d", size))
			offers[i] = append(offers[i], offer{size, fwtest.SignCheckpoint(t, logKey, size, root[:])})
		}
	}
	var forkStatuses sync.Map // status → *atomic.Int64
	var offering sync.WaitGroup
	for i, url := range wn.urls {
		for _, o := range offers[i] {
			for _, old := range []uint64{o.size, latestBefore[i], 0} {
				offering.Go(func() {
					for range 3 {
						body := (&witness.AddCheckpointRequest{OldSize: old, Checkpoint: o.cp}).Marshal()
						resp, err := hc.Post(url+"/add-checkpoint", "text/plain", bytes.NewReader(body))
						if err != nil {
							t.Error(err)
							return
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						n, _ := forkStatuses.LoadOrStore(resp.StatusCode, new(atomic.Int64))
						n.(*atomic.Int64).Add(1)
					}
				})
			}
		}
	}
	offering.Wait()

	// Meanwhile the log refreshes its unchanged checkpoint every second.
	// Each refreshed checkpoint must carry only cosignatures newer than
	// every one before it: refreshes are at least a second apart.
	refreshes := 2
	if testing.Short() {
		refreshes = 1
	}
	cp, size := tl.Log.Checkpoint()
	timestamps := func(cp []byte) (oldest, newest time.Time) {
		wc, err := wn.policy.VerifyCheckpoint(cp)
		if err != nil {
			t.Fatalf("published checkpoint: %v", err)
		}
		for i, c := range wc.Cosignatures {
			if i == 0 || c.Time.Before(oldest) {
				oldest = c.Time
			}
			if c.Time.After(newest) {
				newest = c.Time
			}
		}
		return oldest, newest
	}
	_, prevNewest := timestamps(cp)
	for seen, start := 0, time.Now(); seen < refreshes; {
		if time.Since(start) > 20*time.Second {
			t.Errorf("%d of %d refreshes of the idle log's checkpoint published in 20s of flood", seen, refreshes)
			break
		}
		next, nextSize := tl.Log.Checkpoint()
		if bytes.Equal(next, cp) {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		if nextSize != size {
			t.Fatalf("the idle log published size %d after %d", nextSize, size)
		}
		oldest, newest := timestamps(next)
		if !oldest.After(prevNewest) {
			t.Errorf("refresh %d carries a cosignature of %v, not newer than the %v published before: the cosignatures did not advance", seen+1, oldest, prevNewest)
		}
		t.Logf("refresh %d: cosignatures of seconds %d to %d, seen published %v after the start of the last", seen+1, oldest.Unix(), newest.Unix(), time.Since(newest).Round(time.Millisecond))
		cp, prevNewest = next, newest
		seen++
	}
	stopFlood()
	flood.Wait()

	logRequests.mu.Lock()
	defer logRequests.mu.Unlock()
	if n := logRequests.counts[http.StatusTooManyRequests]; n > 0 {
		t.Errorf("the log's requests were answered 429 %d times during the flood (answers: %v)", n, logRequests.counts)
	}
	forkStatuses.Range(func(k, v any) bool {
		if status := k.(int); status != http.StatusConflict && status != http.StatusBadRequest {
			t.Errorf("offers of forks were answered %d %d times; want only 409 and 400", status, v.(*atomic.Int64).Load())
		}
		return true
	})
	for i, url := range wn.urls {
		forks := getForks(t, url)
		if len(forks) != len(offers[i]) {
			t.Errorf("witness %d lists %d forks, want %d, one for each root offered: %+v", i, len(forks), len(offers[i]), forks)
		}
		for _, o := range offers[i] {
			held, _, err := wn.stores[i].History(context.Background(), logKey.Name, o.size)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, f := range forks {
				if f.Offered == string(o.cp) {
					n++
					if f.Size != o.size || f.Held != string(held.Note) {
						t.Errorf("witness %d: fork evidence %+v, want size %d held %q", i, f, o.size, held.Note)
					}
				}
			}
			if n != 1 {
				t.Errorf("witness %d lists the fork at size %d %d times, want once", i, o.size, n)
			}
		}
		// The offers write their evidence; the log's refreshes write
		// nothing, except the first one to reach a witness that missed
		// the last checkpoint; the replays nothing.
		want := uint64(len(offers[i]))
		if noteSize(t, wn.witnesss[i].Latest(logKey.Name)) != latestBefore[i] {
			want++
		}
		if got := wn.stores[i].Writes() - writesBefore[i]; got != want {
			t.Errorf("witness %d wrote %d records while the log was idle, want %d: the evidence of %d forks (and the log's checkpoint if it was behind)", i, got, want, len(offers[i]))
		}
	}
	if replayed.Load() == 0 {
		t.Error("no replay was cosigned: the flood did not reach the witnesses")
	}
	slices.Sort(logRequests.ok)
	t.Logf("publication latency before the flood: median %v, max %v", baseline[len(baseline)/2], baseline[len(baseline)-1])
	t.Logf("during the flood: %d replays (%d cosigned, %d answered 429); %d entries published, latency median %v, max %v; then %v idle",
		replays.Load(), replayed.Load(), limited.Load(), sizeAfter-sizeBefore, latencies[len(latencies)/2], latencies[len(latencies)-1], time.Since(idle).Round(time.Millisecond))
	t.Logf("the log's add-checkpoint requests, all: %v (%d transport errors), cosigned in median %v, max %v",
		logRequests.counts, logRequests.errs, logRequests.ok[len(logRequests.ok)/2], logRequests.ok[len(logRequests.ok)-1])
}

// noteSize returns the size of a checkpoint note.
func noteSize(t *testing.T, cp []byte) uint64 {
	t.Helper()
	lines := bytes.SplitN(cp, []byte("\n"), 3)
	if len(lines) < 3 {
		t.Fatalf("not a checkpoint: %q", cp)
	}
	size, err := strconv.ParseUint(string(lines[1]), 10, 64)
	if err != nil {
		t.Fatalf("not a checkpoint: %q", cp)
	}
	return size
}
