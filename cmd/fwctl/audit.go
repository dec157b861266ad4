//go:build cgo

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/fwledger/fwledger/audit"
	"github.com/fwledger/fwledger/audit/web"
	"github.com/fwledger/fwledger/cmd/internal/cli"
	"github.com/fwledger/fwledger/internal/webui"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/tlogpolicy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/mod/sumdb/note"
)

func auditCmd(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 && args[0] == "alerts" {
		return auditAlerts(ctx, e, args[1:])
	}
	if len(args) > 0 && args[0] == "verify-evidence" {
		return auditVerifyEvidence(e, args[1:])
	}
	fs := newFlags(e, "audit", "--log URL (--log-key K | --witness-policy W) (--release-keys K... | --policy P) --state DIR [--once]",
		"Follows a log as an auditor: catch up, then poll every --interval. Alerts go to stdout as\n"+
			"JSON lines (docs/AUDIT.md), progress to stderr. With --once, it stops after catching up,\n"+
			"and exits 3 if it raised an alert. \"fwctl audit alerts\" lists the alerts raised so far.\n"+
			"--http ADDR serves the auditor's own web page: its status, its alerts, and their evidence\n"+
			"to download for \"fwctl audit verify-evidence\".")
	logURL := fs.String("log", "", "the log's (or a mirror's) `URL`")
	logKey := fs.String("log-key", "", "the log's public key `file`")
	witnessPolicy := fs.String("witness-policy", "", "C2SP tlog-policy `file`: checkpoints must carry its quorum")
	policyFile := fs.String("policy", "", "policy `file` releases are judged by (instead of the key flags)")
	var releaseKeys, builderKeys, revocationKeys, checkpoints cli.Strings
	fs.Var(&releaseKeys, "release-keys", "release public key `file` (repeatable)")
	fs.Var(&builderKeys, "builder-keys", "builder public key `file` (repeatable)")
	fs.Var(&revocationKeys, "revocation-keys", "revocation public key `file` (repeatable)")
	fs.Var(&checkpoints, "checkpoint", "a signed checkpoint `file` someone was shown, to check against the log (repeatable)")
	threshold := fs.Int("threshold", 1, "distinct release keys that must sign")
	state := fs.String("state", "", "the auditor's state `directory`")
	once := fs.Bool("once", false, "catch up once and exit (3 if an alert was raised)")
	interval := fs.Duration("interval", 30*time.Second, "how often to poll the log")
	webhook := fs.String("webhook", "", "POST each alert (JSON) to this `URL`, exactly once, retried until it answers 2xx")
	metricsAddr := fs.String("metrics", "", "serve Prometheus metrics at http://`ADDR`/metrics (e.g. 127.0.0.1:9464)")
	httpAddr := fs.String("http", "", "serve the auditor's web pages (status, alerts, evidence downloads) and its metrics at http://`ADDR`/ (e.g. 127.0.0.1:8081)")
	within := fs.Duration("reproducible-within", 7*24*time.Hour, "how long after a release is made the rebuilds its policy rule requires must be logged")
	maxAge := fs.Duration("max-cosignature-age", 0, "with --witness-policy: alert (stale) when the quorum last cosigned the log's checkpoint longer ago than this")
	probeKey := fs.String("probe-key", "", "private key `file` to sign a probe with each poll (the canary, docs/AUDIT.md): the log must take probes from it (fwlog --probe-keys)")
	probeURL := fs.String("probe-url", "", "where the log takes submissions, for probes (default --log; give it when --log is a mirror)")
	mmd := fs.Duration("max-merge-delay", 5*time.Minute, "with --probe-key: how soon a probe the log acknowledged must be in a checkpoint read")
	maxStall := fs.Duration("max-stall", 0, "alert (stall) when the log's checkpoint has not grown for longer than this (default with --probe-key: --max-merge-delay; else off)")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if err := required(fs, "log", "state"); err != nil {
		return err
	}
	if *logKey == "" && *witnessPolicy == "" {
		return &usageError{msg: "give --log-key or --witness-policy"}
	}
	if (*policyFile == "") == (len(releaseKeys) == 0) {
		return &usageError{msg: "give --release-keys (and --builder-keys), or --policy"}
	}
	cfg := audit.Config{LogURL: *logURL, StateDir: *state, MaxCosignatureAge: *maxAge, ReproducibleWithin: *within,
		ProbeURL: *probeURL, MaxMergeDelay: *mmd, MaxStall: *maxStall}
	if *mmd <= 0 || *maxStall < 0 {
		return &usageError{msg: "--max-merge-delay must be positive, and --max-stall not negative"}
	}
	if *probeKey != "" {
		k, err := keys.LoadPrivate(*probeKey)
		if err != nil {
			return err
		}
		if cfg.Probe, err = k.DSSESigner(); err != nil {
			return err
		}
		if cfg.MaxStall == 0 {
			cfg.MaxStall = *mmd
		}
	}
	if *logKey != "" {
		k, err := keys.LoadPublic(*logKey)
		if err != nil {
			return err
		}
		var v note.Verifier
		if v, err = k.NoteVerifier(); err != nil {
			return err
		}
		cfg.Log = v
	}
	if *witnessPolicy != "" {
		var err error
		var wp *tlogpolicy.Policy
		if wp, err = cli.LoadWitnessPolicy(*witnessPolicy); err != nil {
			return err
		}
		cfg.Witnesses = wp
	}
	var err error
	if *policyFile != "" {
		if cfg.Policy, err = cli.LoadPolicy(*policyFile); err != nil {
			return err
		}
	} else {
		ring, err := cli.LoadRing(releaseKeys)
		if err != nil {
			return err
		}
		builders, err := cli.LoadRing(builderKeys)
		if err != nil {
			return err
		}
		cfg.Policy = provenance.KeyPolicy(provenance.KeyTrust{ReleaseKeys: ring, ReleaseThreshold: *threshold, BuilderKeys: builders, RequireProvenance: len(builderKeys) > 0})
	}
	if cfg.RevocationKeys, err = cli.LoadRing(revocationKeys); err != nil {
		return err
	}
	start, last := time.Now(), time.Time{}
	var first uint64
	cfg.Progress = func(read, size uint64) {
		if first == 0 {
			first = read
		}
		if time.Since(last) < time.Second && read != size {
			return
		}
		last = time.Now()
		rate := float64(read-first) / time.Since(start).Seconds()
		eta := ""
		if rate > 0 && read < size {
			eta = fmt.Sprintf(", %s to go", (time.Duration(float64(size-read)/rate) * time.Second).Round(time.Second))
		}
		fmt.Fprintf(e.stderr, "audit: %d of %d entries (%.0f/s%s)\n", read, size, rate, eta)
	}
	var reg *prometheus.Registry
	if *metricsAddr != "" || *httpAddr != "" {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		cfg.Registerer = reg
	}
	a, err := audit.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	if reg != nil {
		metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
		if *metricsAddr != "" && *metricsAddr != *httpAddr {
			addr, stop, err := serve(*metricsAddr, metrics)
			if err != nil {
				return err
			}
			defer stop()
			fmt.Fprintf(e.stderr, "audit: metrics at http://%s/metrics\n", addr)
		}
		if *httpAddr != "" {
			refused := prometheus.NewCounter(prometheus.CounterOpts{
				Name: "fwaudit_http_refused_total",
				Help: "Requests for the auditor's pages refused (503) because too many were being served.",
			})
			reg.MustRegister(refused)
			pages, err := web.New(a, web.Config{Refused: refused, Logger: slog.New(slog.NewTextHandler(e.stderr, nil))})
			if err != nil {
				return err
			}
			mux := http.NewServeMux()
			// /metrics beside the pages: GET and HEAD only, two at once.
			limited := promhttp.HandlerFor(reg, promhttp.HandlerOpts{MaxRequestsInFlight: 2})
			mux.Handle("/metrics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				webui.SetHeaders(w.Header())
				if r.Method != http.MethodGet && r.Method != http.MethodHead {
					w.Header().Set("Allow", "GET, HEAD")
					http.Error(w, "metrics are read with GET", http.StatusMethodNotAllowed)
					return
				}
				limited.ServeHTTP(w, r)
			}))
			mux.Handle("/", pages)
			addr, stop, err := serve(*httpAddr, mux)
			if err != nil {
				return err
			}
			defer stop()
			fmt.Fprintf(e.stderr, "audit: pages at http://%s/, metrics at http://%s/metrics\n", addr, addr)
		}
	}
	enc := json.NewEncoder(e.stdout)
	raised := 0
	emit := func(res *audit.Result) error {
		for _, al := range res.Alerts {
			raised++
			if err := enc.Encode(al); err != nil {
				return err
			}
		}
		return nil
	}
	for _, f := range checkpoints {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		res, err := a.Check(ctx, data)
		if res != nil {
			if eerr := emit(res); eerr != nil {
				return eerr
			}
		}
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
	}
	for {
		res, err := a.Step(ctx)
		if res != nil {
			if eerr := emit(res); eerr != nil {
				return eerr
			}
		}
		// The views others were shown: the witnesses', the devices'.
		if err == nil {
			for _, other := range []func(context.Context) (*audit.Result, error){a.Witnessed, a.Reported} {
				r, oerr := other(ctx)
				if r != nil {
					if eerr := emit(r); eerr != nil {
						return eerr
					}
				}
				if oerr != nil {
					fmt.Fprintf(e.stderr, "audit: %v\n", oerr)
				}
			}
		}
		if err != nil && (*once || errors.Is(err, context.Canceled)) {
			return err
		}
		if cfg.Probe != nil {
			if err := auditProbe(ctx, e, a, *once, *interval, emit); err != nil {
				return err
			}
		}
		if err != nil {
			fmt.Fprintf(e.stderr, "audit: %v (retrying in %s)\n", err, *interval)
		}
		if *webhook != "" {
			if *once {
				dctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
				_, derr := a.DeliverRetrying(dctx, *webhook, time.Second, 30*time.Second)
				cancel()
				if derr != nil {
					return fmt.Errorf("couldn't deliver the alerts to the webhook (they are kept, and delivered by the next run): %w", derr)
				}
			} else if _, derr := a.Deliver(ctx, *webhook); derr != nil {
				fmt.Fprintf(e.stderr, "audit: %v (retrying at the next poll)\n", derr)
			}
		}
		if *once {
			fmt.Fprintf(e.stderr, "audit: verified the tree of %d entries; %d alerts raised\n", res.Size, raised)
			if raised > 0 {
				return &rejectedError{err: fmt.Errorf("%d alerts raised", raised)}
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(*interval):
		}
	}
}

// serve serves h on addr until stop is called, which waits up to 5 s for
// the requests under way (the pages' own limit).
func serve(addr string, h http.Handler) (net.Addr, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	go srv.Serve(ln)
	return ln.Addr(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			srv.Close()
		}
	}, nil
}

// auditProbe submits a probe; with once, it then polls the log until the
// probe is read or its merge delay has passed.
func auditProbe(ctx context.Context, e *env, a *audit.Auditor, once bool, interval time.Duration, emit func(*audit.Result) error) error {
	res, err := a.Probe(ctx)
	if res != nil {
		if eerr := emit(res); eerr != nil {
			return eerr
		}
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "audit: %v\n", err)
	}
	if !once {
		return nil
	}
	for {
		n, deadline, err := a.PendingProbes(ctx)
		if err != nil || n == 0 {
			return err
		}
		wait := min(time.Until(deadline)+time.Second, max(interval/10, time.Second))
		if deadline.Before(time.Now().Add(-time.Second)) {
			return nil // the last step judged it late
		}
		fmt.Fprintf(e.stderr, "audit: waiting for the log to merge the probe (until %s)\n", deadline.Format(time.RFC3339))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		res, err := a.Step(ctx)
		if res != nil {
			if eerr := emit(res); eerr != nil {
				return eerr
			}
		}
		if err != nil {
			return err
		}
	}
}

func auditAlerts(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "audit alerts", "--state DIR [--json]", "Lists the alerts the auditor raised, oldest first.")
	state := fs.String("state", "", "the auditor's state `directory`")
	asJSON := fs.Bool("json", false, "one JSON object a line, with the evidence")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if err := required(fs, "state"); err != nil {
		return err
	}
	alerts, err := audit.ReadAlerts(ctx, *state)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(e.stdout)
	for _, al := range alerts {
		if *asJSON {
			if err := enc.Encode(al); err != nil {
				return err
			}
			continue
		}
		idx := ""
		if al.Index != nil {
			idx = fmt.Sprintf(" at %d", *al.Index)
		}
		fmt.Fprintf(e.stdout, "%d %s %s%s: %s\n", al.ID, al.Severity, al.Type, idx, al.Message)
	}
	return nil
}

func auditVerifyEvidence(e *env, args []string) error {
	fs := newFlags(e, "audit verify-evidence", "(--log-key K | --witness-policy W) ALERT.json",
		"Checks an alert's evidence offline (docs/AUDIT.md): its checkpoints are signed by the log,\n"+
			"its entries are included under the first, and what it says follows from them. Says\n"+
			"what it could not check offline. Exits 3 if the evidence does not prove the alert.")
	logKey := fs.String("log-key", "", "the log's public key `file`")
	witnessPolicy := fs.String("witness-policy", "", "C2SP tlog-policy `file` naming the log's keys")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return &usageError{msg: "give one alert file (a JSON line of fwctl audit)"}
	}
	if *logKey == "" && *witnessPolicy == "" {
		return &usageError{msg: "give --log-key or --witness-policy"}
	}
	var v note.Verifier
	if *logKey != "" {
		k, err := keys.LoadPublic(*logKey)
		if err != nil {
			return err
		}
		if v, err = k.NoteVerifier(); err != nil {
			return err
		}
	}
	var wp *tlogpolicy.Policy
	if *witnessPolicy != "" {
		var err error
		if wp, err = cli.LoadWitnessPolicy(*witnessPolicy); err != nil {
			return err
		}
	}
	data, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	var al audit.Alert
	if err := json.Unmarshal(data, &al); err != nil {
		return fmt.Errorf("%s is not an alert: %w", fs.Arg(0), err)
	}
	left, err := audit.VerifyEvidence(&al, v, wp)
	if err != nil {
		return &rejectedError{err: err}
	}
	fmt.Fprintf(e.stdout, "ok: the evidence proves the %s alert", al.Type)
	if left != "" {
		fmt.Fprintf(e.stdout, "; not checked offline: %s", left)
	}
	fmt.Fprintln(e.stdout)
	return nil
}
