package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fwledger/fwledger/explorer"
	"github.com/fwledger/fwledger/internal/webui"
	"github.com/fwledger/fwledger/keys"
)

// ExplorerResult is what the explorer phase measures: the latency of each
// kind of page, one request at a time (the server's render time plus a
// loopback round trip), or, with --load, the pages served while it ran.
type ExplorerResult struct {
	LogSize     uint64                  `json:"log_size"`
	Concurrency int                     `json:"concurrency"`
	Kinds       map[string]ExplorerKind `json:"kinds,omitempty"`
	// With --load: pages served, their rate, and errors.
	Pages   int64   `json:"pages,omitempty"`
	Target  float64 `json:"target_pages_per_second,omitempty"`
	Seconds float64 `json:"seconds,omitempty"`
	Rate    float64 `json:"pages_per_second,omitempty"`
	Errors  int64   `json:"errors"`
}

// ExplorerKind is one kind of page.
type ExplorerKind struct {
	Requests int     `json:"requests"`
	P50      float64 `json:"p50_ms"`
	P95      float64 `json:"p95_ms"`
	P99      float64 `json:"p99_ms"`
	Bytes    int     `json:"mean_bytes"`
	// The render times the server gave in its Server-Timing header.
	Render Percentiles `json:"render"`
}

// Percentiles are milliseconds at the 50th, 95th and 99th percentile.
type Percentiles struct {
	P50 float64 `json:"p50_ms"`
	P95 float64 `json:"p95_ms"`
	P99 float64 `json:"p99_ms"`
}

func percentiles(ms []float64) Percentiles {
	return Percentiles{P50: percentile(ms, 0.5), P95: percentile(ms, 0.95), P99: percentile(ms, 0.99)}
}

// explorerPages are the kinds of page the phase asks for, given the log's
// size, a random source, and what fwbench append logged (releases seed to
// seed+entries, all of model acme-x1, signed by the key with ID keyID).
var explorerPages = []struct {
	name string
	path func(r *rand.Rand, size uint64, seed, entries int, keyID string) string
}{
	{"home", func(*rand.Rand, uint64, int, int, string) string { return "/" }},
	{"entry", func(r *rand.Rand, size uint64, _, _ int, _ string) string {
		return fmt.Sprintf("/entries/%d", r.Uint64N(size))
	}},
	{"search_digest", func(r *rand.Rand, _ uint64, seed, entries int, _ string) string {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(seed+r.IntN(entries)))
		d := sha256.Sum256(b[:])
		return "/search?q=sha256:" + hex.EncodeToString(d[:])
	}},
	{"search_model", func(*rand.Rand, uint64, int, int, string) string { return "/search?q=acme-x1" }},
	{"search_model_version", func(r *rand.Rand, _ uint64, seed, entries int, _ string) string {
		i := seed + r.IntN(entries)
		return "/search?q=" + url.QueryEscape(fmt.Sprintf("acme-x1 1.%d.%d", i/1000, i%1000))
	}},
	{"search_key", func(_ *rand.Rand, _ uint64, _, _ int, keyID string) string { return "/search?q=" + keyID }},
	{"model", func(*rand.Rand, uint64, int, int, string) string { return "/models/acme-x1" }},
	{"witnesses", func(*rand.Rand, uint64, int, int, string) string { return "/witnesses" }},
}

func explorerPhase(args []string) error {
	fs := flag.NewFlagSet("explorer", flag.ExitOnError)
	base := fs.String("log", "http://127.0.0.1:8080", "log URL")
	keyFile := fs.String("key", "", "the release private key fwbench append signed with (for the search by key ID)")
	seed := fs.Int("seed", 0, "the first release number fwbench append logged")
	entries := fs.Int("entries", 0, "how many releases fwbench append logged from --seed (for searches by digest and version)")
	duration := fs.Duration("duration", 5*time.Second, "time per kind of page")
	conc := fs.Int("concurrency", 1, "concurrent clients")
	load := fs.Bool("load", false, "ask for every kind of page in turn until SIGTERM or SIGINT, then print the pages served")
	kinds := fs.String("kinds", "", "comma-separated kinds of page to measure (default all)")
	rate := fs.Float64("rate", 0, "with --load, ask for at most this many pages a second, all clients together (0: as fast as they are served)")
	fs.Parse(args)
	if *entries <= 0 {
		return fmt.Errorf("--entries is required")
	}
	k, err := keys.LoadPrivate(*keyFile)
	if err != nil {
		return err
	}
	keyID, err := k.Public().KeyID()
	if err != nil {
		return err
	}
	hc := httpClient(*conc)
	size, err := logSize(hc, *base)
	if err != nil {
		return err
	}
	if size == 0 {
		return fmt.Errorf("the log is empty")
	}
	res := ExplorerResult{LogSize: size, Concurrency: *conc, Target: *rate}
	// get returns the size of the page at path and its render time.
	get := func(path string) (int, time.Duration, error) {
		resp, err := hc.Get(*base + path)
		if err != nil {
			return 0, 0, err
		}
		defer resp.Body.Close()
		n, err := io.Copy(io.Discard, resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		render, ok := webui.ParseRenderTiming(resp.Header.Get("Server-Timing"))
		if err == nil && !ok {
			err = fmt.Errorf("GET %s: no render time in Server-Timing %q", path, resp.Header.Get("Server-Timing"))
		}
		return int(n), render, err
	}
	if *load {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		var pages, errs atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		var tick <-chan time.Time
		if *rate > 0 {
			t := time.NewTicker(time.Duration(float64(time.Second) / *rate))
			defer t.Stop()
			tick = t.C
		}
		for c := range *conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(c), 1))
				for i := c; ctx.Err() == nil; i++ {
					if tick != nil {
						select {
						case <-tick:
						case <-ctx.Done():
							return
						}
					}
					p := explorerPages[i%len(explorerPages)]
					if _, _, err := get(p.path(r, size, *seed, *entries, keyID)); err != nil {
						errs.Add(1)
						continue
					}
					pages.Add(1)
				}
			}()
		}
		wg.Wait()
		res.Seconds = time.Since(start).Seconds()
		res.Pages, res.Errors = pages.Load(), errs.Load()
		res.Rate = float64(res.Pages) / res.Seconds
		return json.NewEncoder(os.Stdout).Encode(res)
	}
	res.Kinds = map[string]ExplorerKind{}
	for _, p := range explorerPages {
		if *kinds != "" && !slices.Contains(strings.Split(*kinds, ","), p.name) {
			continue
		}
		var mu sync.Mutex
		var ms, render []float64
		var bytes int
		var wg sync.WaitGroup
		deadline := time.Now().Add(*duration)
		for c := range *conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(c), 2))
				for time.Now().Before(deadline) {
					path := p.path(r, size, *seed, *entries, keyID)
					t := time.Now()
					n, rd, err := get(path)
					d := time.Since(t)
					mu.Lock()
					if err != nil {
						res.Errors++
						if res.Errors <= 3 {
							fmt.Fprintln(os.Stderr, "fwbench explorer:", err)
						}
					} else {
						ms = append(ms, float64(d.Microseconds())/1000)
						render = append(render, float64(rd.Microseconds())/1000)
						bytes += n
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		k := ExplorerKind{Requests: len(ms), P50: percentile(ms, 0.5), P95: percentile(ms, 0.95), P99: percentile(ms, 0.99), Render: percentiles(render)}
		if len(ms) > 0 {
			k.Bytes = bytes / len(ms)
		}
		res.Kinds[p.name] = k
		fmt.Fprintf(os.Stderr, "explorer %-22s %6d requests, p50 %.2f ms, p95 %.2f ms, p99 %.2f ms; rendered in p50 %.2f ms, p95 %.2f ms, p99 %.2f ms\n",
			p.name, k.Requests, k.P50, k.P95, k.P99, k.Render.P50, k.Render.P95, k.Render.P99)
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// explorerSection writes the explorer's part of docs/BENCHMARKS.md from
// the latency phase and the three append runs (without, with, and again
// without explorer traffic) and the load that ran beside the second.
func explorerSectionPhase(args []string) error {
	fs := flag.NewFlagSet("explorer-report", flag.ExitOnError)
	latency := fs.String("latency", "", "explorer phase result (latency)")
	before := fs.String("before", "", "append result without explorer traffic, before")
	with := fs.String("with", "", "append result with explorer traffic as fast as it is served")
	paced := fs.String("paced", "", "append result with explorer traffic at a fixed rate")
	pacedLoad := fs.String("paced-load", "", "explorer --load --rate result beside the paced append")
	after := fs.String("after", "", "append result without explorer traffic, after")
	load := fs.String("load", "", "explorer --load result beside the append with traffic")
	command := fs.String("command", "scripts/bench-explorer.sh", "the command that produced the results")
	cpu := fs.String("cpu", "", "the CPU")
	fs.Parse(args)
	var lat, ld, pld ExplorerResult
	var a, w, pa, b AppendResult
	for _, f := range []struct {
		path string
		v    any
	}{{*latency, &lat}, {*before, &a}, {*with, &w}, {*after, &b}, {*load, &ld}, {*paced, &pa}, {*pacedLoad, &pld}} {
		if err := readJSON(f.path, f.v); err != nil {
			return err
		}
	}
	var s strings.Builder
	fmt.Fprintf(&s, "<!-- explorer -->\n## The web explorer (issue 15)\n\n")
	fmt.Fprintf(&s, "`%s`, run on %s (%d cores, %s, %s). A fresh fwlog on SQLite holds %s entries (release+provenance pairs and rebuilds, as `fwbench append` logs them); ",
		*command, time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), *cpu, runtime.Version(), webui.Count(lat.LogSize))
	fmt.Fprintf(&s, "`fwbench explorer` asks for each kind of page for a few seconds, one request at a time, over loopback HTTP (fwlog runs with `--explorer-rate 0` for this). *Rendered* is the time the server took to make the page, as its `Server-Timing` header says (what the targets are about); *seen by the client* adds the round trip and the HTTP work on both sides, on the same two cores. The targets are checked against both.\n\n")
	fmt.Fprintf(&s, "| page | requests | rendered p50 / p95 / p99 | seen by the client p50 / p95 / p99 | target | mean size |\n| --- | --- | --- | --- | --- | --- |\n")
	targets := map[string]float64{"home": 5, "entry": 5, "search_digest": 20, "search_model": 20, "search_key": 20, "search_model_version": 20}
	for _, p := range explorerPages {
		k := lat.Kinds[p.name]
		target := "—"
		if t, ok := targets[p.name]; ok {
			target = fmt.Sprintf("≤ %g ms at p99: rendered %s, seen %s", t, mark(k.Render.P99 <= t), mark(k.P99 <= t))
		}
		fmt.Fprintf(&s, "| `%s` | %d | %.2f / %.2f / %.2f ms | %.2f / %.2f / %.2f ms | %s | %s B |\n", p.name, k.Requests,
			k.Render.P50, k.Render.P95, k.Render.P99, k.P50, k.P95, k.P99, target, webui.Count(uint64(k.Bytes)))
	}
	fmt.Fprintf(&s, "\nAppends with and without explorer traffic, in the same run, into the same log, with fwlog restarted with the explorer's defaults (a page at a time on this 2-core machine, at most %d pages a second on average): %s bare releases from %d clients, four times in a row: without explorer traffic; with `fwbench explorer --load` asking for every kind of page in turn from %d clients as fast as they are served (%s pages, %.0f pages/s, %d errors); with %.0f pages a second from %d clients (%s pages, %.0f pages/s, %d errors); and without again.\n\n",
		explorer.DefaultRate, webui.Count(uint64(a.Entries)), a.Concurrency, ld.Concurrency, webui.Count(uint64(ld.Pages)), ld.Rate, ld.Errors, pld.Target, pld.Concurrency, webui.Count(uint64(pld.Pages)), pld.Rate, pld.Errors)
	base := (a.Rate + b.Rate) / 2
	fmt.Fprintf(&s, "| run | appends/s | of the runs without | ack to checkpoint p50 / p99 |\n| --- | --- | --- | --- |\n")
	for _, r := range []struct {
		name string
		r    AppendResult
	}{{"without explorer traffic", a}, {"with explorer traffic, as fast as served", w}, {fmt.Sprintf("with explorer traffic, %.0f pages/s", pld.Target), pa}, {"without explorer traffic, again", b}} {
		fmt.Fprintf(&s, "| %s | %.0f | %.0f%% | %.0f / %.0f ms |\n", r.name, r.r.Rate, 100*r.r.Rate/base, r.r.IntegrationP50, r.r.IntegrationP99)
	}
	fmt.Fprintf(&s, "<!-- /explorer -->\n")
	fmt.Print(s.String())
	return nil
}
