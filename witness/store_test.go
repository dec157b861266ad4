package witness_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fwledger/fwledger/witness"
)

// TestStoreGroupCommit writes from many goroutines at once, so that the
// committer groups them: every write lands, a write for a smaller size is
// refused without affecting the others in its group, and the state is on
// disk after reopening.
func TestStoreGroupCommit(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := witness.OpenStore(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, "log-0", witness.State{Size: 10, Root: []byte("r10"), Note: []byte("n10")}, time.Now()); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 200)
	for i := range 200 {
		wg.Go(func() {
			st := witness.State{Size: uint64(i + 1), Root: []byte("r"), Note: fmt.Appendf(nil, "n%d", i)}
			origin := fmt.Sprintf("log-%d", i)
			if i == 0 {
				st.Size = 5 // smaller than the stored 10
			}
			errs[i] = s.Set(ctx, origin, st, time.Now())
		})
	}
	wg.Wait()
	if errs[0] == nil {
		t.Error("a smaller size was stored")
	}
	if got := s.Writes(); got != 200 {
		t.Errorf("Writes() = %d, want 200: the first state and 199 of the 200 in the group", got)
	}
	for i, err := range errs[1:] {
		if err != nil {
			t.Errorf("log-%d: %v", i+1, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, "log-1", witness.State{Size: 99}, time.Now()); !errors.Is(err, witness.ErrClosed) {
		t.Errorf("Set after Close = %v, want ErrClosed", err)
	}
	s, err = witness.OpenStore(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	all, err := s.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 200 || all["log-0"].Size != 10 || string(all["log-0"].Note) != "n10" || all["log-199"].Size != 200 {
		t.Errorf("after reopening: %d logs, log-0 %+v, log-199 %+v", len(all), all["log-0"], all["log-199"])
	}
}
