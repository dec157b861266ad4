package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// start serves h with lim on 127.0.0.1 until the test ends and returns the
// address and the metrics registry.
func start(t *testing.T, lim Limits, h http.Handler) (string, *prometheus.Registry) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ln, Config{Name: "test", Handler: h, Registry: reg, Logger: slog.New(slog.DiscardHandler), ShutdownTimeout: time.Second, Limits: lim})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String(), reg
}

// echo answers with the length and capacity of the body ReadBody read.
func echo(limit int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, done, err := ReadBody(w, r, limit)
		if err != nil {
			http.Error(w, err.Error(), BodyErrorStatus(w, err))
			return
		}
		defer done()
		fmt.Fprintf(w, "%d %d", len(body), cap(body))
	})
}

// metric returns the value of the metric name (with the label value, if
// any) in reg.
func metric(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label != "" && (len(m.GetLabel()) == 0 || m.GetLabel()[0].GetValue() != label) {
				continue
			}
			switch {
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// waitMetric waits until the metric has value want.
func waitMetric(t *testing.T, reg *prometheus.Registry, name, label string, want float64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if metric(t, reg, name, label) == want {
			return
		}
	}
	t.Fatalf("%s{%s} = %v; want %v", name, label, metric(t, reg, name, label), want)
}

// send opens a connection to addr and writes a POST with the given
// Content-Length (-1: chunked) and body bytes, without finishing it unless
// body is complete.
func send(t *testing.T, addr string, length int64, body []byte) net.Conn {
	t.Helper()
	c := dial(t, addr)
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST / HTTP/1.1\r\nHost: %s\r\n", addr)
	if length < 0 {
		fmt.Fprintf(&b, "Transfer-Encoding: chunked\r\n\r\n")
		if len(body) > 0 {
			fmt.Fprintf(&b, "%x\r\n%s\r\n", len(body), body)
		}
	} else {
		fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", length, body)
	}
	if _, err := c.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	return c
}

// response reads the response on c and then reads on until the server
// closes c (EOF), and returns the response and its body.
func response(t *testing.T, c net.Conn) (*http.Response, string) {
	t.Helper()
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	// The server closes with a reset when the client sent what it did not
	// read.
	if _, err := io.Copy(io.Discard, br); err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("the server did not close the connection: %v", err)
	}
	return resp, string(body)
}

func TestBudget(t *testing.T) {
	b := NewBudget(4 << 20) // 3 MiB for large bodies, 1 MiB kept for small ones
	steps := []struct {
		n    int64
		want bool
	}{
		{3 << 20, true},
		{SmallBody + 1, false}, // large bodies have used their part
		{SmallBody, true},
	}
	for i, s := range steps {
		if got := b.TryAcquire(s.n); got != s.want {
			t.Fatalf("step %d: TryAcquire(%d) = %v, want %v", i, s.n, got, s.want)
		}
	}
	// Small bodies get the rest of the reserve, and no more.
	n := 1
	for b.TryAcquire(SmallBody) {
		n++
	}
	if n != 64 {
		t.Errorf("%d small bodies fitted beside the large ones; want 64 (1 MiB)", n)
	}
	b.Release(3<<20 + int64(n)*SmallBody)
	if b.Used() != 0 {
		t.Errorf("Used() = %d after releasing everything", b.Used())
	}
	if !b.Fits(3<<20) || b.Fits(3<<20+1) {
		t.Errorf("Fits: want the largest body 3 MiB")
	}
}

func TestLimitsCheck(t *testing.T) {
	for _, tc := range []struct {
		lim  Limits
		body int64
		ok   bool
	}{
		{Limits{}, 2 << 20, true},
		{Limits{BodyBudget: 3 << 20}, 3 << 20, false},
		{Limits{BodyBudget: minBudget(3 << 20)}, 3 << 20, true},
		{Limits{BodyBudget: minBudget(3<<20) - 1}, 3 << 20, false},
		{Limits{BodyBudget: SmallBody}, SmallBody, true},
		{Limits{BodyBudget: SmallBody - 1}, SmallBody, false},
		{Limits{MaxConns: -1}, 1, false},
	} {
		if err := tc.lim.Check(tc.body); (err == nil) != tc.ok {
			t.Errorf("%+v.Check(%d) = %v; want ok %v", tc.lim, tc.body, err, tc.ok)
		}
	}
}

func TestReadBody(t *testing.T) {
	addr, reg := start(t, Limits{}, echo(1000))
	for _, tc := range []struct {
		desc   string
		length int64
		body   []byte
		status int
		want   string
	}{
		{"declared", 1000, bytes.Repeat([]byte("x"), 1000), 200, "1000 1000"},
		{"empty", 0, nil, 200, "0 0"},
		{"chunked", -1, bytes.Repeat([]byte("x"), 1000), 200, "1000 "},
		{"declared too large, unread", 1001, nil, 413, "larger than 1000 bytes (Content-Length 1001)"},
		{"chunked too large", -1, bytes.Repeat([]byte("x"), 1001), 413, "larger than 1000 bytes"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			c := send(t, addr, tc.length, tc.body)
			if tc.length < 0 && tc.status == 200 {
				io.WriteString(c, "0\r\n\r\n")
			}
			if tc.status == 200 {
				io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			}
			resp, body := response(t, c)
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.want) {
				t.Errorf("got %d %q; want %d with %q", resp.StatusCode, body, tc.status, tc.want)
			}
		})
	}
	if got := metric(t, reg, "test_body_reserved_bytes", ""); got != 0 {
		t.Errorf("%v bytes still reserved after every request ended", got)
	}
	if got := metric(t, reg, "test_body_refused_total", "too_large"); got != 2 {
		t.Errorf("test_body_refused_total{reason=too_large} = %v; want 2", got)
	}
}

// TestBudgetRefusesUnread holds large bodies until the budget's part for
// them is spent: one more large body is refused with 503 and Retry-After
// before any of it is sent, while small bodies still get through.
func TestBudgetRefusesUnread(t *testing.T) {
	const large = 1 << 20
	addr, reg := start(t, Limits{BodyBudget: 4 << 20}, echo(2<<20))
	for i := range 3 { // 3 MiB: the large bodies' part
		send(t, addr, large, []byte("partial"))
		waitMetric(t, reg, "test_body_reserved_bytes", "", float64((i+1)*large))
	}
	for _, length := range []int64{large, -1} {
		c := send(t, addr, length, nil)
		if length < 0 {
			// A chunked body is reserved as it grows: it passes the
			// small bodies' limit and is refused.
			fmt.Fprintf(c, "%x\r\n%s\r\n", 2*SmallBody, bytes.Repeat([]byte("y"), 2*SmallBody))
		}
		resp, body := response(t, c)
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" || !strings.Contains(body, "budget") {
			t.Errorf("length %d: got %d, Retry-After %q, %q; want 503, Retry-After 1, naming the budget", length, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
	for i := range 3 {
		c := send(t, addr, 2000, bytes.Repeat([]byte("s"), 2000))
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if resp, body := response(t, c); resp.StatusCode != 200 {
			t.Errorf("small body %d: %d %q; want 200", i, resp.StatusCode, body)
		}
	}
	if got := metric(t, reg, "test_body_refused_total", "budget"); got != 2 {
		t.Errorf("test_body_refused_total{reason=budget} = %v; want 2", got)
	}
	if got := metric(t, reg, "test_body_budget_bytes", ""); got != 4<<20 {
		t.Errorf("test_body_budget_bytes = %v; want %d", got, 4<<20)
	}
}

// TestBodyTimeout shows the server answering 408 and closing the
// connection of a body that stops arriving.
func TestBodyTimeout(t *testing.T) {
	addr, reg := start(t, Limits{BodyTimeout: 200 * time.Millisecond}, echo(1<<20))
	for _, length := range []int64{1000, -1} {
		t0 := time.Now()
		c := send(t, addr, length, []byte("partial"))
		resp, body := response(t, c)
		if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(body, "did not arrive in time") {
			t.Errorf("length %d: got %d %q; want 408", length, resp.StatusCode, body)
		}
		t.Logf("length %d: closed after %v", length, time.Since(t0))
	}
	if got := metric(t, reg, "test_body_refused_total", "timeout"); got != 2 {
		t.Errorf("test_body_refused_total{reason=timeout} = %v; want 2", got)
	}
	if got := metric(t, reg, "test_body_reserved_bytes", ""); got != 0 {
		t.Errorf("%v bytes still reserved after the timeouts", got)
	}
}

// TestUpload shows an upload that keeps up the minimum rate finishing
// after its grace period, and one that does not being cut off.
func TestUpload(t *testing.T) {
	addr, _ := start(t, Limits{BodyTimeout: 300 * time.Millisecond, UploadMinRate: 1 << 20}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := NewUpload(w, r)
		n, err := io.Copy(io.Discard, u)
		if err != nil {
			var te *TimeoutError
			if !errors.As(u.Err(), &te) {
				t.Errorf("Upload.Err() = %v; want a *TimeoutError", u.Err())
			}
			http.Error(w, u.Err().Error(), BodyErrorStatus(w, u.Err()))
			return
		}
		fmt.Fprint(w, n)
	}))
	// 4 MiB at about 5 MiB/s: longer than the grace period, faster than
	// the minimum rate.
	piece := bytes.Repeat([]byte("f"), 512<<10)
	c := send(t, addr, 8*int64(len(piece)), nil)
	t0 := time.Now()
	for range 8 {
		time.Sleep(100 * time.Millisecond)
		if _, err := c.Write(piece); err != nil {
			t.Fatal(err)
		}
	}
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if resp, body := response(t, c); resp.StatusCode != 200 || body != fmt.Sprint(8*len(piece)) {
		t.Errorf("fast upload: %d %q; want 200", resp.StatusCode, body)
	}
	t.Logf("fast upload took %v", time.Since(t0))

	// 1 KiB every 50ms is 20 KiB/s, far below the minimum rate.
	c = send(t, addr, 1<<20, nil)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 100 {
			if _, err := c.Write(make([]byte, 1<<10)); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	resp, body := response(t, c)
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("slow upload: %d %q; want 408", resp.StatusCode, body)
	}
	c.Close()
	wg.Wait()
}

// dialGet opens a connection to addr and sends GET path on it, keeping the
// connection open unless extra says Connection: close.
func dialGet(t *testing.T, addr, path, extra string) net.Conn {
	t.Helper()
	c := dial(t, addr)
	if path != "" {
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", path, addr, extra)
	}
	return c
}

// closedByServer reports whether the server has closed c: a read returns
// EOF or a reset rather than data or a timeout.
func closedByServer(c net.Conn, br *bufio.Reader) error {
	if br == nil {
		br = bufio.NewReader(c)
	}
	_, err := br.ReadByte()
	if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
		return nil
	}
	if err == nil {
		return errors.New("read data, not the end of the connection")
	}
	return err
}

// TestEvictIdle holds every connection a server with MaxConns 8 allows,
// first with keep-alive connections that made one request and then stay
// silent, then with connections that never send one: each newcomer closes
// the connection idle the longest, and a legitimate request on a fresh
// connection is served.
func TestEvictIdle(t *testing.T) {
	const max = 8
	addr, reg := start(t, Limits{MaxConns: max}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	type held struct {
		c  net.Conn
		br *bufio.Reader
	}
	var idle, silent []held
	for range max {
		c := dialGet(t, addr, "/healthz", "")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("GET /healthz: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		idle = append(idle, held{c, br})
	}
	for range max {
		silent = append(silent, held{dialGet(t, addr, "", ""), nil})
	}

	// The server accepts in the order of arrival, so this request comes
	// after every silent connection.
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	t0 := time.Now()
	resp, err := hc.Get("http://" + addr + "/checkpoint")
	if err != nil {
		t.Fatalf("a request on a fresh connection while %d connections are held: %v", 2*max, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok" {
		t.Errorf("GET /checkpoint: %d %q; want 200", resp.StatusCode, body)
	}
	t.Logf("a request served after %v while %d connections were held", time.Since(t0), 2*max)
	for i, h := range idle {
		if err := closedByServer(h.c, h.br); err != nil {
			t.Errorf("idle connection %d was not closed for a newcomer: %v", i, err)
		}
	}
	// The oldest silent connection made room; the others are still open.
	if err := closedByServer(silent[0].c, nil); err != nil {
		t.Errorf("the oldest silent connection was not closed for the newcomer: %v", err)
	}
	waitMetric(t, reg, "test_connections_open", "", max-1)
	if got := metric(t, reg, "test_connections_evicted_total", ""); got != max+1 {
		t.Errorf("test_connections_evicted_total = %v; want %d", got, max+1)
	}
}

// TestMaxConnsActive fills a server with MaxConns 8 with requests in
// progress: a newcomer is not served, and evicts none of them, until one
// of them ends; then it is served, and every held request is answered.
func TestMaxConnsActive(t *testing.T) {
	const max = 8
	var (
		mu     sync.Mutex
		events []string
	)
	event := func(e string) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}
	entered := make(chan string, max+1)
	release := map[string]chan struct{}{}
	for i := range max {
		release[fmt.Sprintf("/%d", i)] = make(chan struct{})
	}
	addr, reg := start(t, Limits{MaxConns: max}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		event("served " + r.URL.Path)
		entered <- r.URL.Path
		if ch, ok := release[r.URL.Path]; ok {
			<-ch
		}
		io.WriteString(w, r.URL.Path)
	}))
	var active []net.Conn
	for i := range max {
		active = append(active, dialGet(t, addr, fmt.Sprintf("/%d", i), ""))
		<-entered
	}
	c := dialGet(t, addr, "/new", "Connection: close\r\n")
	// Give a server that does not wait time to serve /new before /0 ends.
	time.Sleep(200 * time.Millisecond)
	if got := metric(t, reg, "test_connections_evicted_total", ""); got != 0 {
		t.Errorf("test_connections_evicted_total = %v with every connection active; want 0", got)
	}
	event("released /0")
	close(release["/0"])
	if resp, body := response(t, c); resp.StatusCode != 200 || body != "/new" {
		t.Errorf("/new: %d %q", resp.StatusCode, body)
	}
	for i, ac := range active {
		if i > 0 {
			close(release[fmt.Sprintf("/%d", i)])
		}
		resp, err := http.ReadResponse(bufio.NewReader(ac), nil)
		if err != nil {
			t.Errorf("/%d: %v", i, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != fmt.Sprintf("/%d", i) {
			t.Errorf("/%d: %d %q", i, resp.StatusCode, body)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) < max+2 || fmt.Sprint(events[max:max+2]) != fmt.Sprint([]string{"released /0", "served /new"}) {
		t.Errorf("events %q; want the %d held requests served, then /0 released, then /new served", events, max)
	}
}

// TestEvictUnderLoad runs 16 keep-alive clients against MaxConns 4: idle
// connections are closed for newcomers all the time, and every request
// succeeds (clients retry a GET on a reused connection closed before its
// answer, as HTTP/1.1 allows), with no request in progress cut off.
func TestEvictUnderLoad(t *testing.T) {
	addr, reg := start(t, Limits{MaxConns: 4}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	const clients, requests = 16, 30
	var wg sync.WaitGroup
	errs := make(chan error, clients*requests)
	t0 := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := &http.Client{Transport: &http.Transport{}, Timeout: 30 * time.Second}
			defer hc.CloseIdleConnections()
			for range requests {
				resp, err := hc.Get("http://" + addr + "/x")
				if err != nil {
					errs <- err
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(body) != "ok" {
					errs <- fmt.Errorf("%d %q", resp.StatusCode, body)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("GET: %v", err)
	}
	t.Logf("%d requests from %d clients in %v; %v connections evicted", clients*requests, clients, time.Since(t0), metric(t, reg, "test_connections_evicted_total", ""))
}

// TestEvictRace drives a limiter of one connection through both orders of
// the race between a newcomer and the connection it would evict reporting
// a request: reported first, the connection is not evicted and the
// newcomer waits; evicted first, the request it reports is not run.
func TestEvictRace(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	open := prometheus.NewGauge(prometheus.GaugeOpts{Name: "open"})
	evicted := prometheus.NewCounter(prometheus.CounterOpts{Name: "evicted"})
	reg := prometheus.NewRegistry()
	reg.MustRegister(open, evicted)
	l := newConnLimiter(ln, 1, open, evicted)
	defer l.Close()
	accept := func() <-chan net.Conn {
		ch := make(chan net.Conn, 1)
		go func() {
			c, err := l.Accept()
			if err != nil {
				t.Errorf("Accept: %v", err)
			}
			ch <- c
		}()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return ch
	}
	a := <-accept()
	l.connState(a, http.StateNew)
	l.connState(a, http.StateIdle)
	l.connState(a, http.StateActive) // a request read before the newcomer
	next := accept()
	select {
	case <-next:
		t.Fatal("a newcomer was admitted while the one connection had a request in progress")
	case <-time.After(100 * time.Millisecond):
	}
	if evictedBefore(withConn(context.Background(), a)) {
		t.Error("an active connection was evicted")
	}
	l.connState(a, http.StateIdle)
	b := <-next
	if !evictedBefore(withConn(context.Background(), a)) {
		t.Error("an idle connection was not evicted for the newcomer")
	}
	// The request a reads now, too late, is not run, and its state
	// changes and close free no slot twice.
	l.connState(a, http.StateActive)
	l.connState(a, http.StateIdle)
	a.Close()
	l.connState(a, http.StateClosed)
	if evictedBefore(withConn(context.Background(), b)) {
		t.Error("the newcomer is marked evicted")
	}
	// The next newcomer evicts b, the one connection held.
	l.connState(b, http.StateNew)
	l.connState(b, http.StateIdle)
	c := <-accept()
	if !evictedBefore(withConn(context.Background(), b)) {
		t.Error("the second newcomer did not evict the idle connection")
	}
	l.mu.Lock()
	n := l.n
	l.mu.Unlock()
	if o, e := metric(t, reg, "open", ""), metric(t, reg, "evicted", ""); n != 1 || o != 1 || e != 2 {
		t.Errorf("%d slots taken, open %v, evicted %v; want 1, 1, 2", n, o, e)
	}
	c.Close()
}

// dial opens a connection to addr, closed when the test ends, with a
// deadline of 30s for everything the test does on it.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return c
}
