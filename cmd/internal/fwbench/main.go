// Command fwbench is the HTTP load benchmark for fwlog. scripts/bench.sh
// runs it against a fresh fwlog and writes docs/BENCHMARKS.md.
//
//	fwbench append --log URL --key release.key --entries 1000000 --concurrency 64
//	fwbench append --log URL --key release.key --builder-key builder.key \
//	               --rebuilder-key rebuilder.key --rebuild-every 4 --entries 100000
//	fwbench read   --log URL --duration 10s --concurrency 32
//	fwbench abuse  --log URL --pid PID --key release.key --builder-key builder.key
//	fwbench hash   --file image        (as a device hashes an image)
//	fwbench trillian --trillian ADDR --create LOG --mode queue --key release.key \
//	               --entries 20000 --concurrency 64 --pids PID,PID,PID
//	               (Trillian alone, no fwlog: QueueLeaf or AddSequencedLeaves)
//	fwbench cpu    --pids PID,PID      (their CPU time so far, for scripts)
//	fwbench explorer --log URL --key release.key --entries N [--load]
//	               (the explorer's pages: latency per kind, or load until SIGTERM)
//	fwbench explorer-report --latency L.json --before A.json --with B.json --after C.json --load D.json
//
// Every phase prints one JSON object with its measurements to stdout and
// progress to stderr.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fwledger/fwledger/api"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/tiles"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: fwbench append|read|storage|witness-setup|witness|rounds|abuse|report|compare|hash|trillian|cpu|explorer|explorer-report [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "append":
		err = appendPhase(os.Args[2:])
	case "read":
		err = readPhase(os.Args[2:])
	case "storage":
		err = storagePhase(os.Args[2:])
	case "report":
		err = reportPhase(os.Args[2:])
	case "witness-setup":
		err = witnessSetupPhase(os.Args[2:])
	case "witness":
		err = witnessPhase(os.Args[2:])
	case "rounds":
		err = roundsPhase(os.Args[2:])
	case "abuse":
		err = abusePhase(os.Args[2:])
	case "compare":
		err = comparePhase(os.Args[2:])
	case "hash":
		err = hashPhase(os.Args[2:])
	case "trillian":
		err = trillianPhase(os.Args[2:])
	case "cpu":
		err = cpuPhase(os.Args[2:])
	case "explorer":
		err = explorerPhase(os.Args[2:])
	case "explorer-report":
		err = explorerSectionPhase(os.Args[2:])
	default:
		err = fmt.Errorf("unknown phase %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fwbench:", err)
		os.Exit(1)
	}
}

func httpClient(conc int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns:        conc * 2,
		MaxIdleConnsPerHost: conc * 2,
		MaxConnsPerHost:     conc * 2,
		IdleConnTimeout:     time.Minute,
	}, Timeout: time.Minute}
}

// fixedSecurityVersion, if not negative, is every release's security
// version (append --security-version): releases submitted at once are
// logged in any order, and an auditor rightly flags a lower security
// version logged after a higher one.
var fixedSecurityVersion = -1

func securityVersion(i int) uint64 {
	if fixedSecurityVersion >= 0 {
		return uint64(fixedSecurityVersion)
	}
	return uint64(i)
}

// makeEnvelopes signs n distinct releases, starting at seed, using every
// core. Signing happens before the measurement, as a build system signs
// before it submits. With a builder signer, each body is a JSON array of the
// release's SLSA provenance and the release endorsing it.
func makeEnvelopes(signer, builder dsse.SignerVerifier, seed, n int) ([][]byte, error) {
	out, _, err := makeSubmissions(signer, builder, nil, 0, seed, n)
	return out, err
}

// RebuilderID is the builder ID of the rebuilds fwbench append submits
// (--rebuilder-key): an independent builder's, not the build system's.
const RebuilderID = "https://rebuild.example.org/r1"

// makeSubmissions is makeEnvelopes, and with a rebuilder signer (and a
// builder), also signs a rebuild of every rebuildEvery'th release (the
// first of each run of rebuildEvery): SLSA provenance of the same image,
// from the same source, by the independent builder RebuilderID, made an
// hour after the release. The release does not endorse it: it is what a
// rebuilder logs once the release is out. rebuilds[i] is the rebuild of
// release i, or nil.
func makeSubmissions(signer, builder, rebuilder dsse.SignerVerifier, rebuildEvery, seed, n int) (out, rebuilds [][]byte, err error) {
	out = make([][]byte, n)
	if rebuilder != nil {
		rebuilds = make([][]byte, n)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, runtime.NumCPU())
	for w := 0; w < runtime.NumCPU(); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				var b [8]byte
				binary.BigEndian.PutUint64(b[:], uint64(seed+i))
				r := &provenance.Release{
					ImageName:       fmt.Sprintf("acme-x1-%d.bin", seed+i),
					Image:           sha256.Sum256(b[:]),
					ImageSize:       4 << 20,
					Models:          []string{"acme-x1"},
					Version:         fmt.Sprintf("1.%d.%d", (seed+i)/1000, (seed+i)%1000),
					SecurityVersion: securityVersion(seed + i),
					Channel:         "stable",
					// In the past, whatever the seed: a log refuses times
					// in its future.
					Created: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(seed+i) * time.Second),
				}
				var prov []byte
				if builder != nil {
					b := &provenance.Build{
						BuilderID: "https://ci.example.com/runner/v1", BuildType: provenance.BuildTypeMake,
						Source: "git+https://git.example.com/acme/fw", Ref: "refs/tags/v" + r.Version,
						Commit: fmt.Sprintf("%040x", seed+i), Target: "acme-x1",
						StartedOn: r.Created.Add(-time.Minute), FinishedOn: r.Created,
						Subjects: []provenance.Artifact{{Name: r.ImageName, SHA256: r.Image}},
					}
					stmt, err := b.Statement()
					if err == nil {
						prov, err = provenance.Sign(context.Background(), stmt, builder)
					}
					if err != nil {
						errs <- err
						return
					}
					r.Provenance = []digest.Digest{sha256.Sum256(prov)}
					if rebuilder != nil && i%rebuildEvery == 0 {
						rb := *b
						rb.BuilderID = RebuilderID
						rb.StartedOn, rb.FinishedOn = r.Created.Add(time.Hour), r.Created.Add(time.Hour+time.Minute)
						stmt, err := rb.Statement()
						if err == nil {
							rebuilds[i], err = provenance.Sign(context.Background(), stmt, rebuilder)
						}
						if err != nil {
							errs <- err
							return
						}
					}
				}
				stmt, err := r.Statement()
				if err == nil {
					out[i], err = provenance.Sign(context.Background(), stmt, signer)
				}
				if err != nil {
					errs <- err
					return
				}
				if prov != nil {
					out[i] = append(append(append(append([]byte("["), prov...), ','), out[i]...), ']')
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return nil, nil, err
	default:
	}
	return out, rebuilds, nil
}

// AppendResult is what the append phase measures.
type AppendResult struct {
	// Pairs is true when each request held a release and its provenance;
	// Entries counts requests then, and the log grows by twice as many,
	// plus Rebuilds: independent rebuilds, each submitted on its own once
	// its release was acknowledged (--rebuilder-key).
	Pairs          bool    `json:"pairs"`
	PairRate       float64 `json:"pairs_per_second,omitempty"`
	Entries        int     `json:"entries"`
	Rebuilds       int     `json:"rebuilds,omitempty"`
	LogEntries     int64   `json:"log_entries"`
	Concurrency    int     `json:"concurrency"`
	EnvelopeBytes  float64 `json:"mean_envelope_bytes"`
	Seconds        float64 `json:"seconds"`
	Rate           float64 `json:"entries_per_second"`
	WindowRates    []Rate  `json:"window_rates"`
	IntegrationP50 float64 `json:"ack_to_checkpoint_p50_ms"`
	IntegrationP99 float64 `json:"ack_to_checkpoint_p99_ms"`
	IntegrationMax float64 `json:"ack_to_checkpoint_max_ms"`
	Errors         int64   `json:"errors"`
	StartSize      uint64  `json:"start_size"`
	// ServerCPUPer1000 is the CPU time (user+sys) the log's process used
	// during the load, in ms per 1,000 entries; 0 without --pid.
	ServerCPUPer1000 float64 `json:"server_cpu_ms_per_1000_entries,omitempty"`
}

// processCPU returns the CPU time, user and system, that process pid has
// used, from /proc/<pid>/stat (in clock ticks of 1/100 s, the USER_HZ of
// Linux's interfaces).
func processCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: fields count from
	// the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	var ticks int64
	for _, s := range f[11:13] { // utime and stime, fields 14 and 15
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %v", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// Rate is the append rate measured over a window of log sizes.
type Rate struct {
	FromSize uint64  `json:"from_size"`
	ToSize   uint64  `json:"to_size"`
	Rate     float64 `json:"entries_per_second"`
}

func logSize(hc *http.Client, base string) (uint64, error) {
	resp, err := hc.Get(base + api.PathCheckpoint)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	lines := strings.SplitN(string(b), "\n", 3)
	if len(lines) < 2 {
		return 0, fmt.Errorf("malformed checkpoint %q", b)
	}
	return strconv.ParseUint(lines[1], 10, 64)
}

func appendPhase(args []string) error {
	fs := flag.NewFlagSet("append", flag.ExitOnError)
	base := fs.String("log", "http://127.0.0.1:8080", "log URL; several, comma-separated, spread the clients over them (the frontends of one log), and the first is watched for checkpoints")
	keyFile := fs.String("key", "", "release private key")
	builderFile := fs.String("builder-key", "", "builder private key: submit pairs of provenance and release")
	rebuilderFile := fs.String("rebuilder-key", "", "with --builder-key, an independent rebuilder's private key: once a release is acknowledged, also submit a rebuild of its image (provenance by builder "+RebuilderID+", which the release does not endorse)")
	rebuildEvery := fs.Int("rebuild-every", 4, "with --rebuilder-key, rebuild one release in this many")
	n := fs.Int("entries", 100000, "entries to append")
	conc := fs.Int("concurrency", 64, "concurrent clients")
	window := fs.Int("window", 20000, "entries per rate window")
	seed := fs.Int("seed", 0, "first release number (for distinct entries across runs)")
	fs.IntVar(&fixedSecurityVersion, "security-version", -1, "every release's security version (default: its number)")
	pid := fs.Int("pid", 0, "the log's process ID: report its CPU time per entry")
	fs.Parse(args)
	urls := strings.Split(*base, ",")
	*base = urls[0]

	k, err := keys.LoadPrivate(*keyFile)
	if err != nil {
		return err
	}
	signer, err := k.DSSESigner()
	if err != nil {
		return err
	}
	var builder dsse.SignerVerifier
	perRequest := 1
	if *builderFile != "" {
		bk, err := keys.LoadPrivate(*builderFile)
		if err != nil {
			return err
		}
		if builder, err = bk.DSSESigner(); err != nil {
			return err
		}
		perRequest = 2
	}
	var rebuilder dsse.SignerVerifier
	if *rebuilderFile != "" {
		if builder == nil || *rebuildEvery < 1 {
			return fmt.Errorf("--rebuilder-key needs --builder-key, and --rebuild-every at least 1")
		}
		rk, err := keys.LoadPrivate(*rebuilderFile)
		if err != nil {
			return err
		}
		if rebuilder, err = rk.DSSESigner(); err != nil {
			return err
		}
	}
	t0 := time.Now()
	envs, rebuilds, err := makeSubmissions(signer, builder, rebuilder, *rebuildEvery, *seed, *n)
	if err != nil {
		return err
	}
	var bodyBytes, nRebuilds int
	for _, e := range envs {
		bodyBytes += len(e)
	}
	for _, e := range rebuilds {
		if e != nil {
			bodyBytes += len(e)
			nRebuilds++
		}
	}
	fmt.Fprintf(os.Stderr, "signed %d envelopes in %s\n", *n, time.Since(t0).Round(time.Millisecond))

	hc := httpClient(*conc)
	start, err := logSize(hc, *base)
	if err != nil {
		return err
	}
	total := *n*perRequest + nRebuilds // entries the log grows by
	ackAt := make([]int64, total)      // nanoseconds since begin, by index - start
	integratedAt := make([]int64, total)
	var errCount atomic.Int64
	var nextJob atomic.Int64
	var done, pairsDone atomic.Int64
	var cpu0 time.Duration
	if *pid != 0 {
		if cpu0, err = processCPU(*pid); err != nil {
			return err
		}
	}
	begin := time.Now()

	// Watch the checkpoint to time integration.
	stopWatch := make(chan struct{})
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		seen := start
		for {
			select {
			case <-stopWatch:
				return
			case <-time.After(5 * time.Millisecond):
			}
			s, err := logSize(hc, *base)
			if err != nil {
				continue
			}
			now := time.Since(begin).Nanoseconds()
			for ; seen < s && seen-start < uint64(total); seen++ {
				integratedAt[seen-start] = now
			}
			if seen-start >= uint64(total) {
				return
			}
		}
	}()

	// Progress and window rates.
	var windows []Rate
	winStart, winSize := time.Now(), start
	var wg sync.WaitGroup
	for w := 0; w < *conc; w++ {
		wg.Add(1)
		u := urls[w%len(urls)]
		go func() {
			defer wg.Done()
			for {
				i := int(nextJob.Add(1) - 1)
				if i >= *n {
					return
				}
				resp, err := hc.Post(u+api.PathEntries, "application/json", bytes.NewReader(envs[i]))
				if err != nil {
					errCount.Add(1)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					if errCount.Add(1) < 5 {
						fmt.Fprintf(os.Stderr, "submit: %d %s\n", resp.StatusCode, body)
					}
					continue
				}
				var ars []api.AddResponse
				if perRequest == 1 {
					var ar api.AddResponse
					if json.Unmarshal(body, &ar) == nil {
						ars = append(ars, ar)
					}
				} else {
					json.Unmarshal(body, &ars)
				}
				ok := len(ars) == perRequest
				for _, ar := range ars {
					if ar.Index < start || ar.Index-start >= uint64(total) {
						ok = false
						continue
					}
					ackAt[ar.Index-start] = time.Since(begin).Nanoseconds()
				}
				if !ok {
					errCount.Add(1)
					continue
				}
				done.Add(int64(perRequest))
				pairsDone.Add(1)
				if rebuilds == nil || rebuilds[i] == nil {
					continue
				}
				// The rebuild, once its release is logged.
				resp, err = hc.Post(*base+api.PathEntries, "application/json", bytes.NewReader(rebuilds[i]))
				if err != nil {
					errCount.Add(1)
					continue
				}
				body, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
				var ar api.AddResponse
				if resp.StatusCode != 200 || json.Unmarshal(body, &ar) != nil || ar.Index < start || ar.Index-start >= uint64(total) {
					if errCount.Add(1) < 5 {
						fmt.Fprintf(os.Stderr, "submit rebuild: %d %s\n", resp.StatusCode, body)
					}
					continue
				}
				ackAt[ar.Index-start] = time.Since(begin).Nanoseconds()
				done.Add(1)
			}
		}()
	}
	progress := time.NewTicker(100 * time.Millisecond)
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	lastPrint := time.Now()
loop:
	for {
		select {
		case <-finished:
			break loop
		case <-progress.C:
			d := uint64(done.Load())
			if start+d-winSize >= uint64(*window) {
				windows = append(windows, Rate{FromSize: winSize, ToSize: start + d, Rate: float64(start+d-winSize) / time.Since(winStart).Seconds()})
				winStart, winSize = time.Now(), start+d
			}
			if time.Since(lastPrint) > 5*time.Second {
				fmt.Fprintf(os.Stderr, "appended %d/%d entries (%.0f/s)\n", d, total, float64(d)/time.Since(begin).Seconds())
				lastPrint = time.Now()
			}
		}
	}
	progress.Stop()
	elapsed := time.Since(begin)
	var cpu time.Duration
	if *pid != 0 {
		cpu1, err := processCPU(*pid)
		if err != nil {
			return err
		}
		cpu = cpu1 - cpu0
	}
	// Wait for the last entries to be integrated.
	select {
	case <-watchDone:
	case <-time.After(30 * time.Second):
		close(stopWatch)
		<-watchDone
	}

	var lat []float64
	for i := range ackAt {
		if ackAt[i] > 0 && integratedAt[i] > 0 {
			lat = append(lat, float64(max(integratedAt[i]-ackAt[i], 0))/1e6)
		}
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return -1
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	res := AppendResult{
		Pairs: perRequest == 2, Entries: *n, Rebuilds: nRebuilds, LogEntries: done.Load(), Concurrency: *conc, EnvelopeBytes: float64(bodyBytes) / float64(total),
		Seconds: elapsed.Seconds(), Rate: float64(done.Load()) / elapsed.Seconds(),
		WindowRates: windows, IntegrationP50: pct(0.50), IntegrationP99: pct(0.99), IntegrationMax: pct(1),
		Errors: errCount.Load(), StartSize: start,
	}
	if res.Pairs {
		res.PairRate = float64(pairsDone.Load()) / elapsed.Seconds()
	}
	if d := done.Load(); *pid != 0 && d > 0 {
		res.ServerCPUPer1000 = float64(cpu.Milliseconds()) * 1000 / float64(d)
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// ReadResult is what the read phase measures.
type ReadResult struct {
	Size        uint64             `json:"size"`
	Concurrency int                `json:"concurrency"`
	Seconds     float64            `json:"seconds_per_kind"`
	Rates       map[string]float64 `json:"requests_per_second"`
	Errors      int64              `json:"errors"`
}

func readPhase(args []string) error {
	fs := flag.NewFlagSet("read", flag.ExitOnError)
	base := fs.String("log", "http://127.0.0.1:8080", "log URL")
	conc := fs.Int("concurrency", 32, "concurrent clients")
	dur := fs.Duration("duration", 10*time.Second, "time per request kind")
	only := fs.String("kinds", "", "comma-separated request kinds to measure (default every kind): checkpoint, tile, entries, entry, tlog-proof, ...")
	fs.Parse(args)
	hc := httpClient(*conc)
	size, err := logSize(hc, *base)
	if err != nil {
		return err
	}
	if size < tiles.Width {
		return fmt.Errorf("the log has %d entries; reads need at least one full tile", size)
	}
	fullTiles := size / tiles.Width
	kinds := []struct {
		name string
		path func(r *rand.Rand) string
	}{
		{"checkpoint", func(*rand.Rand) string { return api.PathCheckpoint }},
		{"tile", func(r *rand.Rand) string {
			// Level 0, 1 and 2 tiles in proportion to how many there are.
			l := uint64(0)
			if r.IntN(256) == 0 && size>>16 > 0 {
				l = 1
			}
			n := (size >> (8 * l)) / tiles.Width
			if n == 0 {
				n, l = fullTiles, 0
			}
			return "/" + tiles.Path(l, r.Uint64N(n), 0)
		}},
		{"tile+checkpoint", func(r *rand.Rand) string {
			if r.IntN(2) == 0 {
				return api.PathCheckpoint
			}
			return "/" + tiles.Path(0, r.Uint64N(fullTiles), 0)
		}},
		{"tlog-proof", func(r *rand.Rand) string { return api.PathTLogProof + strconv.FormatUint(r.Uint64N(size), 10) }},
		{"entry-bundle", func(r *rand.Rand) string { return "/" + tiles.EntriesPath(r.Uint64N(fullTiles), 0) }},
	}
	res := ReadResult{Size: size, Concurrency: *conc, Seconds: dur.Seconds(), Rates: map[string]float64{}}
	var errCount atomic.Int64
	for _, k := range kinds {
		if *only != "" && !slices.Contains(strings.Split(*only, ","), k.name) {
			continue
		}
		var count atomic.Int64
		deadline := time.Now().Add(*dur)
		var wg sync.WaitGroup
		for w := 0; w < *conc; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(w), 99))
				for time.Now().Before(deadline) {
					resp, err := hc.Get(*base + k.path(r))
					if err != nil {
						errCount.Add(1)
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						errCount.Add(1)
						continue
					}
					count.Add(1)
				}
			}(w)
		}
		wg.Wait()
		res.Rates[k.name] = float64(count.Load()) / dur.Seconds()
		fmt.Fprintf(os.Stderr, "%s: %.0f requests/s\n", k.name, res.Rates[k.name])
	}
	res.Errors = errCount.Load()
	return json.NewEncoder(os.Stdout).Encode(res)
}
