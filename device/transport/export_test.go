package transport

import (
	"context"
	"sync"
	"testing"
	"time"
)

// StubWaits makes retries wait no time, without jitter, while t runs, and
// returns a function that lists the waits asked for so far.
func StubWaits(t testing.TB) func() []time.Duration {
	var (
		mu    sync.Mutex
		waits []time.Duration
	)
	oldSleep, oldJitter := sleep, jitter
	sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return nil
	}
	jitter = func(d time.Duration) time.Duration { return d }
	t.Cleanup(func() { sleep, jitter = oldSleep, oldJitter })
	return func() []time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return append([]time.Duration(nil), waits...)
	}
}
