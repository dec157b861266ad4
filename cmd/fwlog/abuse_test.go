package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fwledger/fwledger/api"
	"github.com/fwledger/fwledger/client"
	"github.com/fwledger/fwledger/internal/abuse"
	"github.com/fwledger/fwledger/internal/testutil"
	"github.com/fwledger/fwledger/provenance"
)

var ciKey = testutil.Key("builder.example.com/ci")

// pair returns the body of a legitimate submission: the SLSA provenance of
// image n and the release endorsing it, as one JSON array.
func pair(t testing.TB, n int) []byte {
	img := testutil.Image(fmt.Sprint("held bodies ", n), 64)
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
	prov := testutil.SignPayload(t, stmt, ciKey)
	rel := testutil.SignRelease(t, testutil.NewRelease(img, func(r *provenance.Release) {
		r.Provenance = []provenance.Digest{sha256.Sum256(prov)}
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
	p, err := testutil.StartProc(t, fwlogBin, "serve", "--addr", "127.0.0.1:0", "--data", filepath.Join(dir, "data"), "--origin", origin,
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
	lc, _ := client.NewLogClient(p.URL, nil)
	waitSize(t, lc, uint64(2*len(bodies)))

	t.Logf("fwlog peak RSS %d MiB", rss>>20)
	t.Logf("legitimate submissions: %d acknowledged, p50 %v, p99 %v, max %v; while the attack sent: p50 %v, p99 %v; while it held: p50 %v, p99 %v",
		len(lat), abuse.Percentile(lat, 0.5), abuse.Percentile(lat, 0.99), slices.Max(append(lat, 0)),
		abuse.Percentile(res.Sending, 0.5), abuse.Percentile(res.Sending, 0.99), abuse.Percentile(res.Holding, 0.5), abuse.Percentile(res.Holding, 0.99))
	t.Logf("held connections: %d open when all had sent, %d when the legitimate submissions ended; statuses %v; lived after sending: p50 %v, max %v",
		res.OpenSent, res.OpenLegit, statuses, abuse.Percentile(lived, 0.5), slices.Max(lived))
}

// TestMaxConns runs fwlog with --max-conns 2: with two keep-alive
// connections open, a third is not answered (for the 300ms the test
// watches it), and is answered once one of the two closes.
func TestMaxConns(t *testing.T) {
	dir := t.TempDir()
	p, err := start(t, "--data", filepath.Join(dir, "data"), "--origin", origin, "--release-keys", setup(t, dir), "--max-conns", "2")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(syscall.SIGTERM)
	addr := strings.TrimPrefix(p.URL, "http://")
	get := func(path, extra string) net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", path, addr, extra)
		return c
	}
	var open []net.Conn
	for range 2 {
		c := get("/healthz", "")
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET /healthz: %v", err)
		}
		open = append(open, c)
	}
	third := get("/metrics", "Connection: close\r\n")
	third.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	var ne net.Error
	if _, err := third.Read(make([]byte, 1)); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("a third connection was answered while two were open (read: %v)", err)
	}
	open[0].Close()
	third.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(third), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /metrics after a connection closed: %v", err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	if !bytes.Contains(metrics, []byte("\nfwlog_connections_open 2\n")) {
		t.Errorf("/metrics does not report 2 open connections:\n%s", metrics)
	}
}
