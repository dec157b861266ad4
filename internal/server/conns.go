package server

import (
	"container/list"
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// newConnGrace is how long a connection that has not yet sent a request is
// safe from eviction. It gives a client that has just connected time to
// send its request, so that newcomers arriving while every other slot is
// busy wait for a slot instead of closing each other in turn. A connection
// idle between requests has no grace.
const newConnGrace = time.Second

// A connLimiter is a listener that holds at most max connections. When a
// connection arrives at the cap, the limiter closes the connection that has
// been idle the longest, or new without a request (after [newConnGrace]), to
// make room for it. Only while every connection has a request in progress
// do newcomers wait, in the listen backlog, for one to end or turn idle.
//
// It learns connections' states from [http.Server.ConnState], through
// connState. It serves HTTP/1 only: net/http runs no hooks for HTTP/2
// connections, which would stay new, and be evicted, however busy.
type connLimiter struct {
	net.Listener
	max     int
	open    prometheus.Gauge   // follows n
	evicted prometheus.Counter // connections closed to make room

	mu sync.Mutex
	// changed is signalled, with mu held, when a slot is freed, a
	// connection turns evictable, or the listener closes.
	changed *sync.Cond
	n       int
	// fresh holds the connections that have sent no request, idle those
	// between requests, each in the order they entered that state.
	fresh, idle list.List
	closed      bool
}

func newConnLimiter(ln net.Listener, max int, open prometheus.Gauge, evicted prometheus.Counter) *connLimiter {
	l := &connLimiter{Listener: ln, max: max, open: open, evicted: evicted}
	l.changed = sync.NewCond(&l.mu)
	return l
}

// A limitedConn is a connection a connLimiter admitted. Its fields other
// than Conn and l are guarded by l.mu.
type limitedConn struct {
	net.Conn
	l *connLimiter
	// in is the list, fresh or idle, that holds elem while the
	// connection may be evicted; nil while a request is in progress.
	in    *list.List
	elem  *list.Element
	since time.Time // when it entered in
	// gone is set when the connection is closed or evicted and its slot
	// freed.
	gone bool
	// evicted is set, before the connection is closed, if the limiter
	// closed it to make room.
	evicted atomic.Bool
}

// Accept waits until there is room for a connection, accepts one, and
// admits it once there is room for it still, closing an idle connection if
// that is what makes the room.
func (l *connLimiter) Accept() (net.Conn, error) {
	// While every slot is busy, leave newcomers in the listen backlog
	// rather than accept one to hold.
	if err := l.await(false); err != nil {
		return nil, err
	}
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	// The room seen above may be gone: the idle connection may have sent
	// a request meanwhile. Then this one waits, accepted, for the next.
	if err := l.await(true); err != nil {
		nc.Close()
		return nil, err
	}
	c := &limitedConn{Conn: nc, l: l}
	l.mu.Lock()
	l.list(c, &l.fresh)
	l.mu.Unlock()
	return c, nil
}

// await returns once a slot is free, or with take once it has taken one,
// closing the connection idle the longest to free it if need be. Without
// take, it also returns once there is a connection it could close.
func (l *connLimiter) await(take bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		if l.closed {
			return net.ErrClosed
		}
		if l.n < l.max {
			if take {
				l.n++
				l.open.Set(float64(l.n))
			}
			return nil
		}
		v, wait := l.victim(time.Now())
		switch {
		case v != nil && !take:
			return nil
		case v != nil:
			// v is idle or new now, under mu: its goroutine cannot
			// mark it active before it is closed. A request it has
			// read but not yet reported is not run (see
			// evictedBefore); it is lost, as one sent when an idle
			// connection times out is, and clients retry requests on
			// a reused connection that closes before it answers.
			v.evicted.Store(true)
			l.release(v)
			v.Conn.Close()
			l.evicted.Inc()
		case wait > 0:
			t := time.AfterFunc(wait, l.signal)
			l.changed.Wait()
			t.Stop()
		default:
			l.changed.Wait()
		}
	}
}

// victim returns the connection to evict: the one idle the longest, or new
// the longest if that is longer and past its grace. With no connection to
// evict now, wait is the time until the oldest new one's grace ends, or 0
// if there is none.
func (l *connLimiter) victim(now time.Time) (v *limitedConn, wait time.Duration) {
	if e := l.idle.Front(); e != nil {
		v = e.Value.(*limitedConn)
	}
	if e := l.fresh.Front(); e != nil {
		c := e.Value.(*limitedConn)
		switch ready := c.since.Add(newConnGrace); {
		case ready.After(now):
			if v == nil {
				wait = ready.Sub(now)
			}
		case v == nil || c.since.Before(v.since):
			v = c
		}
	}
	return v, wait
}

func (l *connLimiter) signal() {
	l.mu.Lock()
	l.changed.Broadcast()
	l.mu.Unlock()
}

// list puts c at the back of in (fresh or idle), or off both if in is nil.
// l.mu must be held.
func (l *connLimiter) list(c *limitedConn, in *list.List) {
	if c.in != nil {
		c.in.Remove(c.elem)
		c.in, c.elem = nil, nil
	}
	if in != nil {
		c.in, c.elem, c.since = in, in.PushBack(c), time.Now()
		l.changed.Broadcast()
	}
}

// release frees c's slot. l.mu must be held.
func (l *connLimiter) release(c *limitedConn) {
	l.list(c, nil)
	if c.gone {
		return
	}
	c.gone = true
	l.n--
	l.open.Set(float64(l.n))
	l.changed.Broadcast()
}

// connState is the server's ConnState hook. It runs on the connection's
// goroutine (StateNew on the accepting one).
func (l *connLimiter) connState(nc net.Conn, state http.ConnState) {
	c, ok := nc.(*limitedConn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.gone {
		return
	}
	switch state {
	case http.StateIdle:
		l.list(c, &l.idle)
	case http.StateActive, http.StateHijacked:
		l.list(c, nil)
	case http.StateClosed:
		l.release(c)
	}
	// StateNew: Accept listed it as fresh.
}

// Close closes the listener and wakes Accept.
func (l *connLimiter) Close() error {
	l.mu.Lock()
	l.closed = true
	l.changed.Broadcast()
	l.mu.Unlock()
	return l.Listener.Close()
}

// Close closes the connection and frees its slot.
func (c *limitedConn) Close() error {
	c.l.mu.Lock()
	c.l.release(c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

type connKey struct{}

// withConn is the server's ConnContext: it lets evictedBefore find the
// request's connection.
func withConn(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// evictedBefore reports whether the connection of the request with ctx was
// evicted before the request started, which happens when the connection
// reads a request just as the limiter finds it idle. Serve does not run
// such a request: nobody would receive its answer. Once a request has
// started, net/http has marked its connection active, so it is not evicted.
func evictedBefore(ctx context.Context) bool {
	c, ok := ctx.Value(connKey{}).(*limitedConn)
	return ok && c.evicted.Load()
}
