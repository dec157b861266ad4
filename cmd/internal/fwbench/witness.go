package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"encoding/json"

	"github.com/fwledger/fwledger/cmd/internal/cli"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/witness"
	flog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/note"
)

// WitnessResult is what the witness phase measures.
type WitnessResult struct {
	Logs         int     `json:"logs"`
	Requests     int     `json:"requests"`
	Rate         float64 `json:"requests_per_second"`
	P50          float64 `json:"p50_ms"`
	P99          float64 `json:"p99_ms"`
	SingleLog    float64 `json:"single_log_requests_per_second"`
	SingleLogP99 float64 `json:"single_log_p99_ms"`
	Errors       int     `json:"errors"`
}

// RoundsResult is what the rounds phase measures.
type RoundsResult struct {
	Rounds    int     `json:"rounds"`
	Witnesses int     `json:"witnesses"`
	Quorum    string  `json:"quorum"`
	P50       float64 `json:"p50_ms"`
	P99       float64 `json:"p99_ms"`
	Max       float64 `json:"max_ms"`
	Errors    int     `json:"errors"`
}

// witnessSetupPhase writes n log keys and the witnesses' log list.
func witnessSetupPhase(args []string) error {
	fs := flag.NewFlagSet("witness-setup", flag.ExitOnError)
	n := fs.Int("logs", 16, "log keys to make")
	out := fs.String("out", "", "output directory")
	fs.Parse(args)
	if err := os.MkdirAll(*out, 0o700); err != nil {
		return err
	}
	var list strings.Builder
	for i := range *n {
		k, err := keys.Generate(nil, fmt.Sprintf("bench.example/witnessed-log-%d", i))
		if err != nil {
			return err
		}
		if err := keys.Write(filepath.Join(*out, fmt.Sprintf("log-%d", i)), k); err != nil {
			return err
		}
		vkey, _ := k.Public().VerifierKey()
		fmt.Fprintf(&list, "log %s\n", vkey)
	}
	return os.WriteFile(filepath.Join(*out, "logs.txt"), []byte(list.String()), 0o644)
}

// feed is one log's prepared add-checkpoint requests: checkpoints of a
// growing tree, each with the proof from the previous one. It also returns
// the size of each checkpoint and the whole tree.
func feed(k *keys.PrivateKey, n int) ([]*witness.AddCheckpointRequest, []uint64, *testonly.Tree, error) {
	signer, err := k.NoteSigner()
	if err != nil {
		return nil, nil, nil, err
	}
	tree := testonly.New(rfc6962.DefaultHasher)
	var reqs []*witness.AddCheckpointRequest
	var sizes []uint64
	old := uint64(0)
	for i := range n {
		for j := range 1 + i%13 {
			tree.AppendData(fmt.Appendf(nil, "%s %d %d", k.Name, i, j))
		}
		size := tree.Size()
		cp, err := note.Sign(&note.Note{Text: string(flog.Checkpoint{Origin: k.Name, Size: size, Hash: tree.Hash()}.Marshal())}, signer)
		if err != nil {
			return nil, nil, nil, err
		}
		req := &witness.AddCheckpointRequest{OldSize: old, Checkpoint: cp}
		if old > 0 {
			if req.Proof, err = tree.ConsistencyProof(old, size); err != nil {
				return nil, nil, nil, err
			}
		}
		reqs = append(reqs, req)
		sizes = append(sizes, size)
		old = size
	}
	return reqs, sizes, tree, nil
}

func percentile(ms []float64, p float64) float64 {
	if len(ms) == 0 {
		return -1
	}
	slices.Sort(ms)
	return ms[min(len(ms)-1, int(p*float64(len(ms))))]
}

// witnessPhase measures one fwwitness: every log (but the last) sends its
// checkpoints one after another, all logs at once; then the last log alone.
func witnessPhase(args []string) error {
	fs := flag.NewFlagSet("witness", flag.ExitOnError)
	url := fs.String("witness", "", "witness URL")
	dir := fs.String("keys", "", "directory of witness-setup")
	logs := fs.Int("logs", 16, "logs sending at once (the setup must have one more)")
	n := fs.Int("requests", 40000, "requests in all")
	fs.Parse(args)

	loadKey := func(i int) (*keys.PrivateKey, error) {
		return keys.LoadPrivate(filepath.Join(*dir, fmt.Sprintf("log-%d.key", i)))
	}
	per := *n / *logs
	feeds := make([][]*witness.AddCheckpointRequest, *logs+1)
	for i := range *logs + 1 {
		k, err := loadKey(i)
		if err != nil {
			return err
		}
		if feeds[i], _, _, err = feed(k, per); err != nil {
			return err
		}
	}
	hc := httpClient(*logs)
	c, err := witness.NewClient(*url, hc)
	if err != nil {
		return err
	}
	run := func(feeds [][]*witness.AddCheckpointRequest) (rate float64, lat []float64, errs int) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := time.Now()
		for _, f := range feeds {
			wg.Go(func() {
				var mine []float64
				bad := 0
				for _, req := range f {
					t := time.Now()
					if _, err := c.AddCheckpoint(context.Background(), req); err != nil {
						if bad++; bad < 3 {
							fmt.Fprintln(os.Stderr, "add-checkpoint:", err)
						}
						continue
					}
					mine = append(mine, float64(time.Since(t).Microseconds())/1000)
				}
				mu.Lock()
				lat = append(lat, mine...)
				errs += bad
				mu.Unlock()
			})
		}
		wg.Wait()
		return float64(len(lat)) / time.Since(start).Seconds(), lat, errs
	}
	res := WitnessResult{Logs: *logs}
	rate, lat, errs := run(feeds[:*logs])
	res.Requests, res.Rate, res.P50, res.P99, res.Errors = len(lat), rate, percentile(lat, 0.5), percentile(lat, 0.99), errs
	fmt.Fprintf(os.Stderr, "witness: %d logs at once: %.0f requests/s\n", *logs, rate)
	rate, lat, errs = run(feeds[*logs:])
	res.SingleLog, res.SingleLogP99, res.Errors = rate, percentile(lat, 0.99), res.Errors+errs
	fmt.Fprintf(os.Stderr, "witness: one log: %.0f requests/s\n", rate)
	return json.NewEncoder(os.Stdout).Encode(res)
}

// roundsPhase measures rounds of cosigning by the policy's witnesses, as
// fwlog runs them: a new checkpoint of a growing tree each round, sent to
// every witness in parallel, done when the quorum has cosigned.
func roundsPhase(args []string) error {
	fs := flag.NewFlagSet("rounds", flag.ExitOnError)
	policyFile := fs.String("policy", "", "witness policy (C2SP tlog-policy) with witness URLs")
	keyFile := fs.String("key", "", "log private key (a log the witnesses follow)")
	rounds := fs.Int("rounds", 2000, "rounds")
	fs.Parse(args)
	policy, err := cli.LoadWitnessPolicy(*policyFile)
	if err != nil {
		return err
	}
	k, err := keys.LoadPrivate(*keyFile)
	if err != nil {
		return err
	}
	reqs, sizes, tree, err := feed(k, *rounds)
	if err != nil {
		return err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 4
	col, err := witness.NewCollector(witness.CollectorConfig{Policy: policy, HTTPClient: &http.Client{Transport: tr, Timeout: 10 * time.Second}})
	if err != nil {
		return err
	}
	res := RoundsResult{Rounds: *rounds, Witnesses: len(policy.Witnesses), Quorum: policy.Quorum}
	var lat []float64
	for i, req := range reqs {
		size := sizes[i]
		t := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := col.Cosign(ctx, req.Checkpoint, size, func(_ context.Context, from uint64) ([][]byte, error) {
			return tree.ConsistencyProof(from, size)
		})
		cancel()
		if err != nil {
			if res.Errors++; res.Errors < 3 {
				fmt.Fprintln(os.Stderr, "round:", err)
			}
			continue
		}
		lat = append(lat, float64(time.Since(t).Microseconds())/1000)
	}
	res.P50, res.P99, res.Max = percentile(lat, 0.5), percentile(lat, 0.99), percentile(lat, 1)
	fmt.Fprintf(os.Stderr, "rounds: p50 %.2f ms, p99 %.2f ms\n", res.P50, res.P99)
	return json.NewEncoder(os.Stdout).Encode(res)
}
