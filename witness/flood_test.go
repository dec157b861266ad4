package witness_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fwledger/fwledger/client"
	"github.com/fwledger/fwledger/internal/testutil"
	"github.com/fwledger/fwledger/keys"
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
// many goroutines, as anyone can, while the log publishes new entries:
// every request of the log is answered without a 429, each new entry is
// published, and the replays cost the witnesses no durable write. The
// publication latency during the flood is logged, not asserted.
func TestReplayFlood(t *testing.T) {
	wn := startWitnessesWith(t, 3, 2, witness.Config{RateLimit: 50, Burst: 100}) // fwwitness's defaults
	logRequests := &statusCounter{base: http.DefaultTransport.(*http.Transport).Clone(), counts: map[int]int{}}
	c, err := witness.NewCollector(witness.CollectorConfig{Policy: wn.policy, HTTPClient: &http.Client{Transport: logRequests, Timeout: 10 * time.Second}, Logger: testutil.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	tl := testutil.StartLog(t, testutil.LogOptions{ReleaseKeys: []*keys.PrivateKey{releaseKey}, Witnesser: c})
	lc, err := client.NewLogClient(tl.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	// publish submits n entries one after the other and returns the time
	// each took to be published.
	publish := func(n int, what string) []time.Duration {
		var latencies []time.Duration
		for i := range n {
			_, size := tl.Checkpoint()
			submit(t, lc, fmt.Sprint(what, i))
			start := time.Now()
			for {
				if _, s := tl.Checkpoint(); s > size {
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
	// Let the flood use up the witnesses' budgets first.
	for replays.Load() < 500 {
		time.Sleep(time.Millisecond)
	}

	var writesBefore []uint64
	for _, s := range wn.stores {
		writesBefore = append(writesBefore, s.Writes())
	}
	_, sizeBefore := tl.Checkpoint()
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
	stopFlood()
	flood.Wait()

	_, sizeAfter := tl.Checkpoint()
	logRequests.mu.Lock()
	defer logRequests.mu.Unlock()
	if n := logRequests.counts[http.StatusTooManyRequests]; n > 0 {
		t.Errorf("the log's requests were answered 429 %d times during the flood (answers: %v)", n, logRequests.counts)
	}
	for i, s := range wn.stores {
		// Each write stores a larger size, so the new entries allow at most
		// one write each.
		if w := s.Writes() - writesBefore[i]; w > sizeAfter-sizeBefore {
			t.Errorf("witness %d wrote %d records during the flood, while the log grew by %d entries: replays were written", i, w, sizeAfter-sizeBefore)
		}
	}
	if replayed.Load() == 0 {
		t.Error("no replay was cosigned: the flood did not reach the witnesses")
	}
	slices.Sort(logRequests.ok)
	t.Logf("publication latency before the flood: median %v, max %v", baseline[len(baseline)/2], baseline[len(baseline)-1])
	t.Logf("during the flood: %d replays (%d cosigned, %d answered 429); %d entries published, latency median %v, max %v",
		replays.Load(), replayed.Load(), limited.Load(), sizeAfter-sizeBefore, latencies[len(latencies)/2], latencies[len(latencies)-1])
	t.Logf("the log's add-checkpoint requests, all: %v (%d transport errors), cosigned in median %v, max %v",
		logRequests.counts, logRequests.errs, logRequests.ok[len(logRequests.ok)/2], logRequests.ok[len(logRequests.ok)-1])
}
