package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fwledger/fwledger/api"
	"github.com/fwledger/fwledger/cmd/internal/abuse"
	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/internal/server"
	"github.com/fwledger/fwledger/logclient"
	"github.com/fwledger/fwledger/provenance"
)

var ciKey = fwtest.Builder

// pair returns the body of a legitimate submission: the SLSA provenance of
// image n and the release endorsing it, as one JSON array.
func pair(t testing.TB, n int) []byte {
	img := fwtest.Image(fmt.Sprint("held bodies ", n), 64)
	b := &provenance.Build{
		BuilderID: "https://ci.example.com/runner/v1", BuildType: provenance.BuildTypeMake,
		Source: "git+https://git.example.com/acme/fw", Ref: "refs/tags/v1.4.0", Commit: strings.Repeat("ab", 20),
		Target: "acme-x1", StartedOn: time.Date(2026, 11, 1, 11, 0, 0, 0, time.UTC), FinishedOn: time.Date(2026, 11, 1, 11, 5, 0, 0, time.UTC),
		Subjects: []provenance.Artifact{{Name: "fw.bin", SHA256: sha256.Sum256(img)}},
	}
	stmt, err := b.Statement()
	if err != nil {
		t.Fatal(err)
	}
	prov := fwtest.SignPayload(t, stmt, ciKey)
	rel := fwtest.SignRelease(t, fwtest.NewRelease(img, func(r *provenance.Release) {
		r.Provenance = []digest.Digest{sha256.Sum256(prov)}
	}), relKey)
	return fmt.Appendf(nil, "[%s,%s]", prov, rel)
}

// TestHeldBodies repeats the attack of issue 8 on the real fwlog, with its
// default limits: 300 connections each send a POST /v1/entries body of
// 2 MiB − 1 bytes (half with a Content-Length just over it, half in chunks)
// and hold, while legitimate release+provenance submissions go on, during
// the sending and after it. fwlog's peak RSS must stay at most 256 MiB,
// every legitimate submission must be acknowledged, and the server must
// close every held connection: the attackers wait 40s, four times the body
// timeout, so one still open then is a failure. Latencies and how long the
// connections lived are logged, not asserted.
func TestHeldBodies(t *testing.T) {
	if testing.Short() {
		t.Skip("the attack takes about 15s")
	}
	dir := t.TempDir()
	pub := setup(t, dir)
	ciPub, err := ciKey.Public().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ci.pub"), ciPub, 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := fwtest.StartProc(t, fwlogBin, "serve", "--addr", "127.0.0.1:0", "--data", filepath.Join(dir, "data"), "--origin", origin,
		"--release-keys", pub, "--builder-keys", filepath.Join(dir, "ci.pub"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(syscall.SIGTERM)

	var bodies [][]byte
	for i := range 300 {
		bodies = append(bodies, pair(t, i))
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: time.Minute}
	res, err := abuse.Scenario{
		Attack:      abuse.Attack{URL: p.URL + api.PathEntries, Conns: 300, Declared: api.MaxSubmissionSize, Send: 2<<20 - 1, Wait: 40 * time.Second},
		Legit:       bodies,
		Concurrency: 8,
	}.Run(context.Background(), hc)
	if err != nil {
		t.Fatal(err)
	}
	lat := res.Latencies()
	rss, err := abuse.PeakRSS(p.Cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}

	if rss > 256<<20 {
		t.Errorf("fwlog's peak RSS was %d MiB under the attack; want at most 256 MiB", rss>>20)
	}
	for _, err := range res.Errors {
		t.Errorf("legitimate submission not acknowledged: %v", err)
	}
	if len(lat) != len(bodies) {
		t.Errorf("%d of %d legitimate submissions acknowledged", len(lat), len(bodies))
	}
	statuses := map[int]int{}
	var lived []time.Duration
	open := 0
	for i, h := range res.Held {
		statuses[h.Status]++
		lived = append(lived, h.Held)
		if !h.ClosedByServer {
			open++
			if open <= 3 {
				t.Errorf("held connection %d (chunked %v, %d bytes sent) was not closed by fwlog: %v", i, h.Chunked, h.Sent, h.Err)
			}
		}
	}
	if open > 0 {
		t.Errorf("%d of %d held connections were still open after 40s", open, len(res.Held))
	}
	lc, _ := logclient.New(p.URL, nil)
	waitSize(t, lc, uint64(2*len(bodies)))

	t.Logf("fwlog peak RSS %d MiB", rss>>20)
	t.Logf("legitimate submissions: %d acknowledged, p50 %v, p99 %v, max %v; while the attack sent: p50 %v, p99 %v; while it held: p50 %v, p99 %v",
		len(lat), abuse.Percentile(lat, 0.5), abuse.Percentile(lat, 0.99), slices.Max(append(lat, 0)),
		abuse.Percentile(res.Sending, 0.5), abuse.Percentile(res.Sending, 0.99), abuse.Percentile(res.Holding, 0.5), abuse.Percentile(res.Holding, 0.99))
	t.Logf("held connections: %d open when all had sent, %d when the legitimate submissions ended; statuses %v; lived after sending: p50 %v, max %v",
		res.OpenSent, res.OpenLegit, statuses, abuse.Percentile(lived, 0.5), slices.Max(lived))
}

// getWithin fetches url on a fresh connection as curl -m5 would, giving up
// after 5s, then /metrics on the same connection, and returns the metrics.
func getWithin(t *testing.T, base, path string) []byte {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	t0 := time.Now()
	resp, err := hc.Get(base + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %q", path, resp.StatusCode, body)
	}
	t.Logf("GET %s answered in %v", path, time.Since(t0))
	resp, err = hc.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	metrics, _ := io.ReadAll(resp.Body)
	return metrics
}

// TestIdleConns repeats the connection attack of the review on the real
// fwlog, with its default --max-conns of 1024: every connection it allows
// sends GET /healthz, reads the answer and stays open, silent. A client
// must still get /checkpoint within curl -m5's 5s: fwlog closes the
// connection idle the longest to make room. Then 1024 connections that
// never send a request take every slot; /checkpoint is still served, once
// the oldest of them has had its second to send a request.
func TestIdleConns(t *testing.T) {
	dir := t.TempDir()
	p, err := start(t, "--data", filepath.Join(dir, "data"), "--origin", origin, "--release-keys", setup(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(syscall.SIGTERM)
	addr := strings.TrimPrefix(p.URL, "http://")
	const max = server.DefaultMaxConns

	t0 := time.Now()
	// The first is opened well before the others, so that it is the one
	// idle the longest even if the server, on a loaded machine, marks it
	// idle late (it does so just after writing the response).
	idle := fwtest.HoldIdle(t, addr, 1)
	time.Sleep(200 * time.Millisecond)
	idle = append(idle, fwtest.HoldIdle(t, addr, max-1)...)
	t.Logf("%d idle keep-alive connections opened in %v", max, time.Since(t0))
	metrics := getWithin(t, p.URL, "/checkpoint")
	for _, want := range []string{"\nfwlog_connections_open 1024\n", "\nfwlog_connections_evicted_total 1\n"} {
		if !bytes.Contains(metrics, []byte(want)) {
			t.Errorf("/metrics does not report %q:\n%s", strings.TrimSpace(want), grepConns(metrics))
		}
	}
	if err := fwtest.ClosedByServer(idle[0]); err != nil {
		t.Errorf("the connection idle the longest was not closed: %v", err)
	}

	t0 = time.Now()
	silent := fwtest.HoldSilent(t, addr, max)
	// On SIGTERM fwlog would wait 5s for them to send a request.
	defer func() {
		for _, c := range silent {
			c.Close()
		}
	}()
	t.Logf("%d silent connections opened in %v", max, time.Since(t0))
	// The first took the slot of the connection /metrics came on, which
	// the client closed; the others closed the 1023 idle ones left.
	metrics = getWithin(t, p.URL, "/checkpoint")
	for _, want := range []string{"\nfwlog_connections_open 1024\n", "\nfwlog_connections_evicted_total 1025\n"} {
		if !bytes.Contains(metrics, []byte(want)) {
			t.Errorf("/metrics does not report %q:\n%s", strings.TrimSpace(want), grepConns(metrics))
		}
	}
	for i, c := range idle {
		if err := fwtest.ClosedByServer(c); err != nil {
			t.Errorf("idle connection %d was not closed: %v", i, err)
			break
		}
	}
}

// grepConns returns the lines of metrics about connections.
func grepConns(metrics []byte) []byte {
	var b bytes.Buffer
	for line := range bytes.Lines(metrics) {
		if bytes.HasPrefix(line, []byte("fwlog_connections_")) {
			b.Write(line)
		}
	}
	return b.Bytes()
}

// TestMaxConns runs fwlog with --max-conns 2: with two idle keep-alive
// connections open, a third is answered, and the first is closed to make
// room for it.
func TestMaxConns(t *testing.T) {
	dir := t.TempDir()
	p, err := start(t, "--data", filepath.Join(dir, "data"), "--origin", origin, "--release-keys", setup(t, dir), "--max-conns", "2")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(syscall.SIGTERM)
	// The server marks a connection idle just after it writes the
	// response: a pause between the two keeps the first the older even
	// when the machine is loaded.
	addr := strings.TrimPrefix(p.URL, "http://")
	idle := fwtest.HoldIdle(t, addr, 1)
	time.Sleep(200 * time.Millisecond)
	idle = append(idle, fwtest.HoldIdle(t, addr, 1)...)
	metrics := getWithin(t, p.URL, "/healthz")
	for _, want := range []string{"\nfwlog_connections_open 2\n", "\nfwlog_connections_evicted_total 1\n"} {
		if !bytes.Contains(metrics, []byte(want)) {
			t.Errorf("/metrics does not report %q:\n%s", strings.TrimSpace(want), grepConns(metrics))
		}
	}
	if err := fwtest.ClosedByServer(idle[0]); err != nil {
		t.Errorf("the connection idle the longest was not closed: %v", err)
	}
}
