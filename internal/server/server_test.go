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
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
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

// TestMaxConns shows a third connection waiting while two are open, and
// served once one closes.
func TestMaxConns(t *testing.T) {
	var (
		mu     sync.Mutex
		events []string
	)
	event := func(e string) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}
	entered := make(chan string, 3)
	addr, reg := start(t, Limits{MaxConns: 2}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		event("served " + r.URL.Path)
		entered <- r.URL.Path
	}))
	var conns []net.Conn
	for _, name := range []string{"/a", "/b"} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", name)
		<-entered
		conns = append(conns, c)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	// Give a server without the cap time to serve /c before /a closes.
	time.Sleep(200 * time.Millisecond)
	if got := metric(t, reg, "test_connections_open", ""); got != 2 {
		t.Errorf("test_connections_open = %v with two connections served and one waiting; want 2", got)
	}
	event("closed /a")
	conns[0].Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if resp, _ := response(t, c); resp.StatusCode != 200 {
		t.Errorf("/c: %d", resp.StatusCode)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"served /a", "served /b", "closed /a", "served /c"}; fmt.Sprint(events) != fmt.Sprint(want) {
		t.Errorf("events %q; want %q", events, want)
	}
}
