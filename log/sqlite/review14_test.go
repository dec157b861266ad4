package sqlite_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/fwledger/fwledger/log"
	"github.com/fwledger/fwledger/log/sqlite"
	"github.com/fwledger/fwledger/tiles"
)

// TestReview14DuplicateBeyondCandidates: Sequence finds an exact duplicate
// only among the first log.MaxDedupCandidates+1 rows of the leaf's first
// key, so the same entry sent again after more than that many others
// under its key is logged a second time ("Duplicates return the existing
// index" does not hold). On SQLite the log then holds a copy; on Trillian
// the copy wedges publication for good (log/trillian's test of the same
// name).
func TestReview14DuplicateBeyondCandidates(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	leaf := func(i int) log.Leaf {
		data := []byte(fmt.Sprintf("many entry %d", i))
		return log.Leaf{Data: data, Hash: tiles.LeafHash(data), Keys: [][]byte{[]byte("many")}}
	}
	const n = log.MaxDedupCandidates + 6
	var leaves []log.Leaf
	for i := 0; i < n; i++ {
		leaves = append(leaves, leaf(i))
	}
	if _, err := s.Sequence(ctx, leaves); err != nil {
		t.Fatal(err)
	}
	res, err := s.Sequence(ctx, []log.Leaf{leaf(n - 1)})
	if err != nil {
		t.Fatal(err)
	}
	if want := (log.Sequenced{Index: n - 1, Dup: true}); res[0] != want {
		t.Errorf("the same entry again = %+v, want %+v", res[0], want)
	}
}
