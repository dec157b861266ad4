// Package groupcommit writes requests in groups. Callers queue requests; one
// goroutine takes a request and every other one waiting, up to a bound, and
// writes them with one call, as one durable write, so that many callers share
// the cost of one commit. fwledger's log sequences entries this way, and its
// witness stores the checkpoints it cosigns.
//
// A request, once queued, is written: its caller may stop waiting, but the
// write happens, and Close waits for every request queued before it.
package groupcommit

import (
	"context"
	"errors"
	"sync"
)

var (
	// ErrFull means the queue holds as many requests as it may.
	ErrFull = errors.New("groupcommit: the queue is full")
	// ErrClosed means the queue is closed.
	ErrClosed = errors.New("groupcommit: the queue is closed")
)

// A Result is what the write of one request gave.
type Result[T any] struct {
	Value T
	Err   error
}

// A Queue holds requests of type Req for a writer that answers each with a
// Result[Res].
type Queue[Req, Res any] struct {
	write func(group []Req) []Result[Res]
	max   int
	calls chan call[Req, Res]
	done  chan struct{}

	mu     sync.RWMutex // held for reading while a request is queued
	closed bool
}

type call[Req, Res any] struct {
	req Req
	res chan Result[Res]
}

// New returns a queue of up to size requests, written in groups of at most
// most by write, which returns one Result per request of the group, in
// order. Run runs the writer.
func New[Req, Res any](size, most int, write func(group []Req) []Result[Res]) *Queue[Req, Res] {
	return &Queue[Req, Res]{
		write: write,
		max:   max(most, 1),
		calls: make(chan call[Req, Res], size),
		done:  make(chan struct{}),
	}
}

// Run writes groups of requests until Close, then those still queued, and
// returns. It must run exactly once.
func (q *Queue[Req, Res]) Run() {
	defer close(q.done)
	group := make([]call[Req, Res], 0, q.max)
	reqs := make([]Req, 0, q.max)
	for c := range q.calls {
		group = append(group[:0], c)
	fill:
		for len(group) < q.max {
			select {
			case c, ok := <-q.calls:
				if !ok {
					break fill
				}
				group = append(group, c)
			default:
				break fill
			}
		}
		reqs = reqs[:0]
		for _, c := range group {
			reqs = append(reqs, c.req)
		}
		res := q.write(reqs)
		for i, c := range group {
			c.res <- res[i]
		}
	}
}

// TryEnqueue queues req without waiting for room: it returns ErrFull if
// the queue is full, and ErrClosed once Close is called. The result comes
// on the channel returned, once req's group is written.
func (q *Queue[Req, Res]) TryEnqueue(req Req) (<-chan Result[Res], error) {
	return q.enqueue(context.Background(), req, false)
}

// Enqueue queues req, waiting for room until ctx ends. The result comes on
// the channel returned, once req's group is written.
func (q *Queue[Req, Res]) Enqueue(ctx context.Context, req Req) (<-chan Result[Res], error) {
	return q.enqueue(ctx, req, true)
}

// enqueue queues req, waiting for room, if wait, until ctx ends.
func (q *Queue[Req, Res]) enqueue(ctx context.Context, req Req, wait bool) (<-chan Result[Res], error) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return nil, ErrClosed
	}
	c := call[Req, Res]{req: req, res: make(chan Result[Res], 1)}
	if !wait {
		select {
		case q.calls <- c:
			return c.res, nil
		default:
			return nil, ErrFull
		}
	}
	select {
	case q.calls <- c:
		return c.res, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close stops taking requests and returns once every request queued is
// written and Run has returned. Run must have been started. Close may be
// called more than once.
func (q *Queue[Req, Res]) Close() {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.calls)
	}
	q.mu.Unlock()
	<-q.done
}
