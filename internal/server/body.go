package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// SmallBody is the largest request body that may use a [Budget]'s reserve:
// a single submission or add-checkpoint request fits many times over.
const SmallBody = 16 << 10

// A Budget is a weighted semaphore over the request body bytes a server
// holds in memory at once. It never waits: a body that does not fit is
// refused. A body of at most [SmallBody] bytes may use the whole budget; a
// larger one only what a quarter of the budget, the reserve, leaves. So
// large bodies, however many are held open, cannot starve small ones.
type Budget struct {
	mu      sync.Mutex
	size    int64
	reserve int64
	used    int64
	// reserved, if set, follows used.
	reserved prometheus.Gauge
}

// NewBudget returns a budget of size bytes, a quarter of it kept for
// bodies of at most SmallBody bytes.
func NewBudget(size int64) *Budget {
	return &Budget{size: size, reserve: size / 4}
}

// Size returns the budget's size in bytes.
func (b *Budget) Size() int64 { return b.size }

// Fits reports whether a body of n bytes fits the budget when nothing else
// is held.
func (b *Budget) Fits(n int64) bool {
	return n <= b.limit(n)
}

func (b *Budget) limit(n int64) int64 {
	if n <= SmallBody {
		return b.size
	}
	return b.size - b.reserve
}

// TryAcquire reserves n bytes if they fit, and reports whether they did.
func (b *Budget) TryAcquire(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.limit(n) {
		return false
	}
	b.used += n
	if b.reserved != nil {
		b.reserved.Set(float64(b.used))
	}
	return true
}

// Release returns n bytes reserved by TryAcquire.
func (b *Budget) Release(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	if b.used < 0 {
		panic("server: Budget released more than it reserved")
	}
	if b.reserved != nil {
		b.reserved.Set(float64(b.used))
	}
}

// Used returns the bytes reserved now.
func (b *Budget) Used() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// A TooLargeError reports a request body over its limit. Declared is the
// body's Content-Length, or -1 if it came in chunks and grew past Limit.
type TooLargeError struct {
	Limit, Declared int64
}

func (e *TooLargeError) Error() string {
	if e.Declared >= 0 {
		return fmt.Sprintf("the request body is larger than %d bytes (Content-Length %d)", e.Limit, e.Declared)
	}
	return fmt.Sprintf("the request body is larger than %d bytes", e.Limit)
}

// A BusyError reports a request refused, its body unread, because the
// server already holds as many request body bytes as its budget allows.
// Retry later: held bodies are released as they are handled or time out.
type BusyError struct {
	Need, Budget int64
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("the server is busy: its budget of %d bytes for request bodies has no room for %d more; retry later", e.Budget, e.Need)
}

// A TimeoutError reports a request body that did not arrive in time.
type TimeoutError struct {
	// Timeout is the time the body was given; Received the bytes that
	// arrived within it.
	Timeout  time.Duration
	Received int64
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("the request body did not arrive in time: %d bytes in %s", e.Received, e.Timeout)
}

// A ReadError reports a request body that could not be read: the client
// closed the connection, or sent malformed chunks.
type ReadError struct {
	Received int64
	Err      error
}

func (e *ReadError) Error() string {
	return fmt.Sprintf("couldn't read the request body after %d bytes: %v", e.Received, e.Err)
}

func (e *ReadError) Unwrap() error { return e.Err }

// RetryAfter is the Retry-After, in seconds, of a 503 for a full budget.
const RetryAfter = "1"

// BodyErrorStatus returns the HTTP status code for an error of ReadBody or
// an Upload (413, 503, 408 or 400), or 0 if err is none of theirs. For
// theirs it sets the headers the response needs: Connection: close, since
// what is left of the body is not read, and Retry-After for a 503.
func BodyErrorStatus(w http.ResponseWriter, err error) int {
	var (
		large   *TooLargeError
		busy    *BusyError
		timeout *TimeoutError
		read    *ReadError
		code    int
	)
	switch {
	case errors.As(err, &large):
		code = http.StatusRequestEntityTooLarge
	case errors.As(err, &busy):
		code = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", RetryAfter)
	case errors.As(err, &timeout):
		code = http.StatusRequestTimeout
	case errors.As(err, &read):
		code = http.StatusBadRequest
	default:
		return 0
	}
	w.Header().Set("Connection", "close")
	return code
}

// limiter is what Serve gives handlers, through the request context, to
// read bodies with.
type limiter struct {
	budget       *Budget // nil: no budget
	bodyTimeout  time.Duration
	minRate      int64
	writeTimeout time.Duration
	refused      *prometheus.CounterVec // by reason; nil: not counted
}

type limiterKey struct{}

// defaultLimiter serves handlers run outside Serve (in tests): no budget,
// the default deadlines.
var defaultLimiter = &limiter{bodyTimeout: DefaultBodyTimeout, minRate: DefaultUploadMinRate}

func limiterOf(ctx context.Context) *limiter {
	if l, ok := ctx.Value(limiterKey{}).(*limiter); ok {
		return l
	}
	return defaultLimiter
}

func (l *limiter) refuse(reason string) {
	if l.refused != nil {
		l.refused.WithLabelValues(reason).Inc()
	}
}

// firstChunk is the buffer a body of unknown length is first read into.
const firstChunk = 4 << 10

// ReadBody reads r's body, of at most limit bytes, for a handler served by
// Serve. The body must arrive within the server's body timeout from the
// call. Its bytes are held under the server's [Budget]: a body of declared
// length is reserved whole, before any of it is read, and read into a
// buffer of exactly that size; a body sent in chunks is reserved as its
// buffer grows. When the budget has no room ReadBody returns a
// [*BusyError] without reading the body.
//
// done returns the reservation; call it when the body is no longer needed.
// It is never nil. Errors are a [*TooLargeError], [*BusyError],
// [*TimeoutError] or [*ReadError]; [BodyErrorStatus] maps them to status
// codes. Outside Serve there is no budget and the deadline is
// [DefaultBodyTimeout].
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) (body []byte, done func(), err error) {
	l := limiterOf(r.Context())
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Now().Add(l.bodyTimeout))
	// A refused body is left unread: net/http would otherwise read up to
	// 256 KiB of it, waiting for the client, to keep the connection.
	refuse := func(err error) ([]byte, func(), error) {
		rc.SetReadDeadline(time.Now())
		return nil, func() {}, err
	}
	if r.ContentLength > limit {
		l.refuse("too_large")
		return refuse(&TooLargeError{Limit: limit, Declared: r.ContentLength})
	}
	if r.ContentLength >= 0 {
		n := r.ContentLength
		if !l.acquire(n) {
			return refuse(&BusyError{Need: n, Budget: l.budget.Size()})
		}
		done = func() { l.release(n) }
		body = make([]byte, n)
		got, err := io.ReadFull(r.Body, body)
		if err != nil {
			done()
			return nil, func() {}, l.readError(int64(got), err)
		}
		return body, done, nil
	}
	body, done, err = l.readChunked(r.Body, limit)
	if err != nil {
		return refuse(err)
	}
	return body, done, nil
}

// readChunked reads a body of unknown length, reserving each buffer before
// it is allocated.
func (l *limiter) readChunked(rd io.Reader, limit int64) ([]byte, func(), error) {
	var (
		buf      []byte
		reserved int64
	)
	fail := func(err error) ([]byte, func(), error) {
		l.release(reserved)
		return nil, func() {}, err
	}
	for {
		if len(buf) == cap(buf) {
			size := min(max(2*int64(cap(buf)), firstChunk), limit+1)
			if !l.acquire(size) {
				return fail(&BusyError{Need: size, Budget: l.budget.Size()})
			}
			nb := make([]byte, len(buf), size)
			copy(nb, buf)
			l.release(reserved)
			buf, reserved = nb, size
		}
		n, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			l.refuse("too_large")
			return fail(&TooLargeError{Limit: limit, Declared: -1})
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fail(l.readError(int64(len(buf)), err))
		}
	}
	return buf, func() { l.release(reserved) }, nil
}

func (l *limiter) acquire(n int64) bool {
	if l.budget == nil || n == 0 {
		return true
	}
	if l.budget.TryAcquire(n) {
		return true
	}
	l.refuse("budget")
	return false
}

func (l *limiter) release(n int64) {
	if l.budget != nil && n > 0 {
		l.budget.Release(n)
	}
}

func (l *limiter) readError(received int64, err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		l.refuse("timeout")
		return &TimeoutError{Timeout: l.bodyTimeout, Received: received}
	}
	return &ReadError{Received: received, Err: err}
}

// An Upload is a request body streamed to disk, such as a firmware image:
// it is not held in memory, so it takes no budget, but it must keep up a
// minimum rate. Its read deadline is the body timeout after the start,
// plus the time the bytes received so far take at the minimum rate; each
// read moves it.
type Upload struct {
	r        io.Reader
	rc       *http.ResponseController
	l        *limiter
	start    time.Time
	received int64
	err      error
}

// NewUpload returns r's body as an Upload, for a handler served by Serve.
func NewUpload(w http.ResponseWriter, r *http.Request) *Upload {
	u := &Upload{r: r.Body, rc: http.NewResponseController(w), l: limiterOf(r.Context()), start: time.Now()}
	u.setDeadline()
	return u
}

func (u *Upload) setDeadline() {
	d := u.start.Add(u.l.bodyTimeout)
	if u.l.minRate > 0 {
		d = d.Add(time.Duration(float64(u.received) / float64(u.l.minRate) * float64(time.Second)))
	}
	u.rc.SetReadDeadline(d)
	if u.l.writeTimeout > 0 {
		// The response follows the body; a long upload must not use up
		// the time to write it.
		u.rc.SetWriteDeadline(d.Add(u.l.writeTimeout))
	}
}

// Read reads from the body and moves the deadline.
func (u *Upload) Read(p []byte) (int, error) {
	n, err := u.r.Read(p)
	u.received += int64(n)
	if err != nil && err != io.EOF && u.err == nil {
		u.err = u.l.readError(u.received, err)
		if t, ok := u.err.(*TimeoutError); ok {
			t.Timeout = time.Since(u.start).Round(time.Millisecond)
		}
		return n, u.err
	}
	if n > 0 {
		u.setDeadline()
	}
	return n, err
}

// Err returns the error of the upload's first failed read, a
// [*TimeoutError] or [*ReadError], or nil. A handler whose consumer failed
// reports Err in its place when it is set: the consumer's error may not
// say that the body stopped.
func (u *Upload) Err() error { return u.err }
