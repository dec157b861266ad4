package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/fwledger/fwledger/api"
	"github.com/fwledger/fwledger/cmd/internal/abuse"
	"github.com/fwledger/fwledger/keys"
)

// AbuseResult is what the abuse phase measures: issue 8's held-bodies
// attack on a running fwlog, with legitimate submissions going on.
type AbuseResult struct {
	Conns     int   `json:"conns"`
	BodyBytes int64 `json:"body_bytes_sent_per_conn"`
	// PeakRSS is fwlog's VmHWM after the attack; StartRSS before it.
	StartRSS int64 `json:"start_peak_rss_bytes"`
	PeakRSS  int64 `json:"peak_rss_bytes"`
	// Legitimate release+provenance submissions.
	Legit       int     `json:"legit"`
	Concurrency int     `json:"legit_concurrency"`
	LegitErrors int     `json:"legit_errors"`
	P50         float64 `json:"legit_p50_ms"`
	P99         float64 `json:"legit_p99_ms"`
	Max         float64 `json:"legit_max_ms"`
	SendingP99  float64 `json:"legit_p99_while_sending_ms"`
	HoldingP99  float64 `json:"legit_p99_while_holding_ms"`
	// What became of the attacking connections.
	Statuses  map[string]int `json:"statuses"`
	HeldP50   float64        `json:"held_p50_seconds"`
	HeldMax   float64        `json:"held_max_seconds"`
	NotClosed int            `json:"not_closed_by_server"`
}

func abusePhase(args []string) error {
	fs := flag.NewFlagSet("abuse", flag.ExitOnError)
	base := fs.String("log", "http://127.0.0.1:8080", "log URL")
	pid := fs.Int("pid", 0, "fwlog's process ID, to read its peak RSS (required)")
	keyFile := fs.String("key", "", "release private key")
	builderFile := fs.String("builder-key", "", "builder private key")
	conns := fs.Int("conns", 300, "attacking connections")
	legit := fs.Int("legit", 300, "legitimate release+provenance submissions")
	conc := fs.Int("concurrency", 8, "concurrent legitimate clients")
	wait := fs.Duration("wait", time.Minute, "how long an attacking connection waits for the server to close it")
	seed := fs.Int("seed", 9000000, "first release number")
	markdown := fs.String("markdown", "", "print a BENCHMARKS.md section, saying it was produced by this `command`, instead of JSON")
	fs.Parse(args)
	if *pid == 0 {
		return fmt.Errorf("abuse: --pid is required")
	}
	k, err := keys.LoadPrivate(*keyFile)
	if err != nil {
		return err
	}
	bk, err := keys.LoadPrivate(*builderFile)
	if err != nil {
		return err
	}
	signer, err := k.DSSESigner()
	if err != nil {
		return err
	}
	builder, err := bk.DSSESigner()
	if err != nil {
		return err
	}
	bodies, err := makeEnvelopes(signer, builder, *seed, *legit)
	if err != nil {
		return err
	}
	startRSS, err := abuse.PeakRSS(*pid)
	if err != nil {
		return err
	}
	send := int64(2<<20 - 1)
	fmt.Fprintf(os.Stderr, "abuse: %d connections sending %d bytes and holding, %d legitimate submissions\n", *conns, send, *legit)
	res, err := abuse.Scenario{
		Attack:      abuse.Attack{URL: *base + api.PathEntries, Conns: *conns, Declared: api.MaxSubmissionSize, Send: send, Wait: *wait},
		Legit:       bodies,
		Concurrency: *conc,
	}.Run(context.Background(), httpClient(*conc))
	if err != nil {
		return err
	}
	peak, err := abuse.PeakRSS(*pid)
	if err != nil {
		return err
	}
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	lat := res.Latencies()
	out := AbuseResult{
		Conns: *conns, BodyBytes: send, StartRSS: startRSS, PeakRSS: peak,
		Legit: *legit, Concurrency: *conc, LegitErrors: len(res.Errors),
		P50: ms(abuse.Percentile(lat, 0.5)), P99: ms(abuse.Percentile(lat, 0.99)), Max: ms(abuse.Percentile(lat, 1)),
		SendingP99: ms(abuse.Percentile(res.Sending, 0.99)), HoldingP99: ms(abuse.Percentile(res.Holding, 0.99)),
		Statuses: map[string]int{},
	}
	var held []time.Duration
	for _, h := range res.Held {
		out.Statuses[fmt.Sprint(h.Status)]++
		held = append(held, h.Held)
		if !h.ClosedByServer {
			out.NotClosed++
		}
	}
	out.HeldP50, out.HeldMax = abuse.Percentile(held, 0.5).Seconds(), slices.Max(append(held, 0)).Seconds()
	for i, err := range res.Errors {
		if i < 5 {
			fmt.Fprintln(os.Stderr, "legitimate submission:", err)
		}
	}
	if *markdown != "" {
		_, err := os.Stdout.WriteString(abuseSection(out, *markdown))
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

// abuseSection is the BENCHMARKS.md section of an abuse result; command, if
// set, is what produced it apart from the rest of the report.
func abuseSection(r AbuseResult, command string) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("\n## Abuse without a key\n\n")
	if command != "" {
		p("Produced by `%s` on %s, apart from the run above. ", command, time.Now().UTC().Format("2006-01-02"))
	}
	p("The attack of issue 8 on a fresh fwlog with its default limits (`--body-budget 64MiB`, `--body-timeout 10s`, `--max-conns 1024`): ")
	p("%d connections each send a `POST /v1/entries` body of %d bytes (half declaring a Content-Length just over it, half in chunks) and hold, never sending the rest. ", r.Conns, r.BodyBytes)
	p("Meanwhile %d clients submit %d releases with provenance (a third while the attack sends, the rest while it holds). ", r.Concurrency, r.Legit)
	p("Before these limits the same attack took fwlog to 1.2 GiB on this machine (1.4 GiB in the review that found it) and held every connection for the 5-minute read timeout. ")
	p("The tail of the legitimate latencies comes from the seconds while the attack sends, when fwbench's attacking connections, on the same machine, and fwlog compete for the two cores.\n\n")
	p("| measure | result | target |\n| --- | --- | --- |\n")
	p("| fwlog peak RSS (VmHWM), before → after the attack | %d MiB → %d MiB | ≤ 256 MiB: %s |\n", r.StartRSS>>20, r.PeakRSS>>20, mark(r.PeakRSS <= 256<<20))
	p("| legitimate submissions acknowledged | %d of %d | all: %s |\n", r.Legit-r.LegitErrors, r.Legit, mark(r.LegitErrors == 0))
	p("| legitimate acknowledgement, p50 | %.0f ms | |\n", r.P50)
	p("| legitimate acknowledgement, p99 | %.0f ms | ≤ 1,000 ms: %s |\n", r.P99, mark(r.P99 <= 1000))
	p("| legitimate acknowledgement, p99 while the attack sends / while it holds | %.0f ms / %.0f ms | |\n", r.SendingP99, r.HoldingP99)
	p("| legitimate acknowledgement, max | %.0f ms | |\n", r.Max)
	var st []string
	for _, s := range slices.Sorted(maps.Keys(r.Statuses)) {
		st = append(st, fmt.Sprintf("%d × %s", r.Statuses[s], s))
	}
	p("| attacking connections' answers (0: none before the close) | %s | |\n", strings.Join(st, ", "))
	p("| time an attacking connection stayed open after sending, p50 / max | %.1f s / %.1f s | the body timeout, plus net/http's 0.5 s linger before closing |\n", r.HeldP50, r.HeldMax)
	p("| attacking connections fwlog did not close | %d | 0: %s |\n", r.NotClosed, mark(r.NotClosed == 0))
	return b.String()
}
