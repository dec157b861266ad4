package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// TestGroups checks that concurrent requests are written in groups of at
// most the bound, each answered with its own result, and that every
// request queued before Close is written.
func TestGroups(t *testing.T) {
	var mu sync.Mutex
	var groups [][]int
	release := make(chan struct{})
	q := New(100, 8, func(group []int) []Result[string] {
		<-release // hold the writer, so that requests pile up
		mu.Lock()
		groups = append(groups, append([]int{}, group...))
		mu.Unlock()
		res := make([]Result[string], len(group))
		for i, r := range group {
			res[i] = Result[string]{Value: fmt.Sprint(r)}
			if r%10 == 9 {
				res[i] = Result[string]{Err: fmt.Errorf("request %d refused", r)}
			}
		}
		return res
	})
	go q.Run()
	var chans []<-chan Result[string]
	for i := range 50 {
		c, err := q.TryEnqueue(i)
		if err != nil {
			t.Fatal(err)
		}
		chans = append(chans, c)
	}
	close(release)
	for i, c := range chans {
		r := <-c
		switch {
		case i%10 == 9 && r.Err == nil:
			t.Errorf("request %d: no error", i)
		case i%10 != 9 && (r.Err != nil || r.Value != fmt.Sprint(i)):
			t.Errorf("request %d: %+v", i, r)
		}
	}
	q.Close()
	n := 0
	for _, g := range groups {
		if len(g) > 8 {
			t.Errorf("a group of %d, more than 8", len(g))
		}
		n += len(g)
	}
	// The writer held the first request while the others queued: they went
	// in groups of 8.
	if n != 50 || len(groups) > 1+49/8+1 {
		t.Errorf("%d requests in %d groups %v", n, len(groups), groups)
	}
}

// TestFullAndClosed checks the errors of a full and of a closed queue, and
// that Close writes what was queued.
func TestFullAndClosed(t *testing.T) {
	var written []int
	q := New(2, 1, func(group []int) []Result[int] {
		written = append(written, group...)
		return []Result[int]{{Value: group[0]}}
	})
	a, _ := q.TryEnqueue(1)
	b, _ := q.TryEnqueue(2)
	if _, err := q.TryEnqueue(3); !errors.Is(err, ErrFull) {
		t.Errorf("TryEnqueue on a full queue = %v, want ErrFull", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := q.Enqueue(ctx, 3); !errors.Is(err, context.Canceled) {
		t.Errorf("Enqueue with an ended context on a full queue = %v", err)
	}
	go q.Run()
	q.Close()
	if r := <-a; r.Value != 1 {
		t.Errorf("first result %+v", r)
	}
	if r := <-b; r.Value != 2 {
		t.Errorf("second result %+v", r)
	}
	if len(written) != 2 {
		t.Errorf("written %v, want [1 2]", written)
	}
	if _, err := q.TryEnqueue(4); !errors.Is(err, ErrClosed) {
		t.Errorf("TryEnqueue after Close = %v, want ErrClosed", err)
	}
	if _, err := q.Enqueue(context.Background(), 4); !errors.Is(err, ErrClosed) {
		t.Errorf("Enqueue after Close = %v, want ErrClosed", err)
	}
	q.Close() // again: no panic
}
