// Package abuse reproduces attacks on fwledger's servers that need no key
// (threat 12 of docs/DESIGN): many connections each sending a large request
// body but its last bytes and then holding, while legitimate clients go on.
// The fwlog tests assert on what it measures; fwbench abuse reports it.
package abuse

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// An Attack holds request bodies open: each of Conns connections sends the
// headers of a POST to URL and Send bytes of body, then holds, never
// sending the rest. Every other connection declares a Content-Length of
// Declared; the others send chunks and never the last one.
type Attack struct {
	URL      string
	Conns    int
	Declared int64
	Send     int64
	// Wait bounds how long a connection waits for the server to close it;
	// one still open then was not closed by the server.
	Wait time.Duration
}

// A Held is what became of one attacking connection.
type Held struct {
	Chunked bool
	// Sent is the body bytes written before the connection held, or before
	// the server cut it off.
	Sent int64
	// Status is the status code the server answered before closing, or 0.
	Status int
	// ClosedByServer is true if the server closed the connection (EOF or
	// reset) within Wait.
	ClosedByServer bool
	// Held is the time from the end of sending to the close.
	Held time.Duration
	// Err is the error that ended the connection, other than the server
	// closing it.
	Err error
}

// A Run is an attack under way.
type Run struct {
	sent sync.WaitGroup
	done sync.WaitGroup
	mu   sync.Mutex
	held []Held
	open int
}

// Start dials every connection and starts sending.
func (a Attack) Start(ctx context.Context) (*Run, error) {
	u, err := url.Parse(a.URL)
	if err != nil {
		return nil, err
	}
	r := &Run{held: make([]Held, a.Conns)}
	r.sent.Add(a.Conns)
	r.done.Add(a.Conns)
	for i := range a.Conns {
		go func() {
			defer r.done.Done()
			h := a.hold(ctx, u, i%2 == 1, &r.sent, r)
			r.mu.Lock()
			r.held[i] = h
			r.mu.Unlock()
		}()
	}
	return r, nil
}

// WaitSent waits until every connection has sent its bytes or was cut off.
func (r *Run) WaitSent() { r.sent.Wait() }

// Open returns how many connections are held open now.
func (r *Run) Open() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.open
}

// Wait waits for every connection to end and returns what became of each.
func (r *Run) Wait() []Held {
	r.done.Wait()
	return r.held
}

func (a Attack) hold(ctx context.Context, u *url.URL, chunked bool, sent *sync.WaitGroup, r *Run) (h Held) {
	h.Chunked = chunked
	var once sync.Once
	markSent := func() { once.Do(sent.Done) }
	defer markSent()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		h.Err = err
		return h
	}
	defer c.Close()
	r.mu.Lock()
	r.open++
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.open--
		r.mu.Unlock()
	}()
	deadline := time.Now().Add(a.Wait)
	c.SetDeadline(deadline)
	hdr := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n", u.RequestURI(), u.Host)
	if chunked {
		hdr += "Transfer-Encoding: chunked\r\n\r\n"
	} else {
		hdr += "Content-Length: " + strconv.FormatInt(a.Declared, 10) + "\r\n\r\n"
	}
	bw := bufio.NewWriterSize(c, 64<<10)
	bw.WriteString(hdr)
	for h.Sent < a.Send && err == nil {
		n := min(int64(len(chunk)), a.Send-h.Sent)
		if chunked {
			fmt.Fprintf(bw, "%x\r\n", n)
		}
		_, err = bw.Write(chunk[:n])
		if chunked && err == nil {
			_, err = bw.WriteString("\r\n")
		}
		if err == nil {
			h.Sent += n
		}
	}
	if err == nil {
		err = bw.Flush()
	}
	heldAt := time.Now()
	markSent()
	// Whether or not the writes went through, read what the server says
	// until it closes the connection.
	br := bufio.NewReader(c)
	if resp, rerr := http.ReadResponse(br, nil); rerr == nil {
		h.Status = resp.StatusCode
		resp.Body.Close()
	} else {
		err = rerr
	}
	if err == nil || h.Status != 0 {
		_, err = io.Copy(io.Discard, br)
		if err == nil {
			err = io.EOF
		}
	}
	h.Held = time.Since(heldAt)
	if serverClosed(err) {
		h.ClosedByServer = true
	} else {
		h.Err = err
	}
	return h
}

// chunk is the body the attack sends, 32 KiB at a time.
var chunk = bytes.Repeat([]byte("a"), 32<<10)

// serverClosed reports whether err means the peer closed the connection.
func serverClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// A Scenario is an Attack with legitimate submissions going on: the first
// third of Legit is posted to the attack's URL while the attack sends, the
// rest once every attacking connection has sent and holds.
type Scenario struct {
	Attack      Attack
	Legit       [][]byte
	Concurrency int
}

// A Result is what a Scenario measured.
type Result struct {
	Held []Held
	// OpenSent and OpenLegit are the attacking connections open when all
	// had sent, and when the last legitimate submission was answered.
	OpenSent, OpenLegit int
	// Sending and Holding are the acknowledgement latencies of the
	// legitimate submissions while the attack sent, and while it held.
	Sending, Holding []time.Duration
	// Errors are the legitimate submissions not acknowledged.
	Errors []error
}

// Latencies returns every acknowledgement latency.
func (r *Result) Latencies() []time.Duration { return append(slices.Clone(r.Sending), r.Holding...) }

// Run runs the scenario; hc posts the legitimate submissions.
func (s Scenario) Run(ctx context.Context, hc *http.Client) (*Result, error) {
	run, err := s.Attack.Start(ctx)
	if err != nil {
		return nil, err
	}
	first := len(s.Legit) / 3
	type part struct {
		lat  []time.Duration
		errs []error
	}
	sending := make(chan part, 1)
	go func() {
		lat, errs := Submit(ctx, hc, s.Attack.URL, s.Legit[:first], max(s.Concurrency/2, 1))
		sending <- part{lat, errs}
	}()
	run.WaitSent()
	res := &Result{OpenSent: run.Open()}
	var errs []error
	res.Holding, errs = Submit(ctx, hc, s.Attack.URL, s.Legit[first:], s.Concurrency)
	res.OpenLegit = run.Open()
	p := <-sending
	res.Sending, res.Errors = p.lat, append(p.errs, errs...)
	res.Held = run.Wait()
	return res, nil
}

// Submit posts each body to url from conc clients and returns the latency of
// each acknowledgement (2xx), in order of completion, and the errors.
func Submit(ctx context.Context, hc *http.Client, url string, bodies [][]byte, conc int) ([]time.Duration, []error) {
	var (
		mu   sync.Mutex
		lat  []time.Duration
		errs []error
		next int
		wg   sync.WaitGroup
	)
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= len(bodies) {
					return
				}
				t0 := time.Now()
				err := post(ctx, hc, url, bodies[i])
				d := time.Since(t0)
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Errorf("submission %d: %w", i, err))
				} else {
					lat = append(lat, d)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return lat, errs
}

// A StatusError is a submission that was not acknowledged.
type StatusError struct {
	Status int
	Body   string
}

func (e *StatusError) Error() string { return fmt.Sprintf("answered %d: %s", e.Status, e.Body) }

func post(ctx context.Context, hc *http.Client, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode/100 != 2 {
		return &StatusError{Status: resp.StatusCode, Body: strings.TrimSpace(string(b))}
	}
	return nil
}

// Percentile returns the p-th percentile (0 < p ≤ 1) of ds, or 0 for none.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(p*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// PeakRSS returns the peak resident set size of process pid (VmHWM in
// /proc/<pid>/status), in bytes.
func PeakRSS(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("unexpected VmHWM line %q", line)
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no VmHWM line", pid)
}
