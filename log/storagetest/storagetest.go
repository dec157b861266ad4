// Package storagetest is the conformance suite for log.Storage
// implementations: every backend runs Run and must pass it.
package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fwledger/fwledger/log"
	"github.com/fwledger/fwledger/tiles"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// Run runs the conformance tests. open must return a new, empty storage on
// each call; Run closes it.
func Run(t *testing.T, open func(t *testing.T) log.Storage) {
	for _, tc := range []struct {
		name string
		f    func(t *testing.T, s log.Storage)
	}{
		{"Identity", testIdentity},
		{"SequenceAndDuplicates", testSequence},
		{"IntegrateAndRead", testIntegrate},
		{"Checkpoint", testCheckpoint},
		{"Witnessed", testWitnessed},
		{"NotFound", testNotFound},
		{"LookupBefore", testLookupBefore},
		{"Dedup", testDedup},
		{"Reindex", testReindex},
		{"BadInput", testBadInput},
		{"Fences", testFences},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			defer s.Close()
			tc.f(t, s)
		})
	}
}

func leaf(i int) log.Leaf {
	data := []byte(fmt.Sprintf("entry %d %s", i, bytes.Repeat([]byte{'x'}, i%97)))
	return log.Leaf{Data: data, Hash: tiles.LeafHash(data), Keys: [][]byte{[]byte(fmt.Sprintf("k%d", i%3))}}
}

func testIdentity(t *testing.T, s log.Storage) {
	ctx := context.Background()
	if err := s.BindIdentity(ctx, "a+1234+AAAA"); err != nil {
		t.Fatalf("first BindIdentity: %v", err)
	}
	if err := s.BindIdentity(ctx, "a+1234+AAAA"); err != nil {
		t.Fatalf("BindIdentity with the same identity: %v", err)
	}
	var ie *log.IdentityError
	if err := s.BindIdentity(ctx, "b+1234+AAAA"); !errors.As(err, &ie) {
		t.Fatalf("BindIdentity with another identity = %v, want *log.IdentityError", err)
	}
}

func testSequence(t *testing.T, s log.Storage) {
	ctx := context.Background()
	res, err := s.Sequence(ctx, []log.Leaf{leaf(0), leaf(1), leaf(0), leaf(2)})
	if err != nil {
		t.Fatal(err)
	}
	want := []log.Sequenced{{Index: 0}, {Index: 1}, {Index: 0, Dup: true}, {Index: 2}}
	for i := range want {
		if res[i] != want[i] {
			t.Errorf("Sequence result %d = %+v, want %+v", i, res[i], want[i])
		}
	}
	// Leaf 4 shares key k1 with leaf 1 but is another entry; a leaf
	// without keys is deduplicated too.
	noKeys := log.Leaf{Data: []byte("no keys"), Hash: tiles.LeafHash([]byte("no keys"))}
	res, err = s.Sequence(ctx, []log.Leaf{leaf(1), leaf(3), noKeys, leaf(4)})
	if err != nil {
		t.Fatal(err)
	}
	if want := []log.Sequenced{{Index: 1, Dup: true}, {Index: 3}, {Index: 4}, {Index: 5}}; fmt.Sprint(res) != fmt.Sprint(want) {
		t.Errorf("second Sequence = %+v, want %+v", res, want)
	}
	res, err = s.Sequence(ctx, []log.Leaf{noKeys, leaf(4)})
	if err != nil || fmt.Sprint(res) != fmt.Sprint([]log.Sequenced{{Index: 4, Dup: true}, {Index: 5, Dup: true}}) {
		t.Errorf("third Sequence = %+v, %v; want both duplicates", res, err)
	}
	tree, seq, err := s.Tree(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if seq != 6 || tree.Size != 0 {
		t.Errorf("Tree = size %d, sequenced %d; want 0, 6", tree.Size, seq)
	}
	if !bytes.Equal(tree.Root, rfc6962.DefaultHasher.EmptyRoot()) {
		t.Errorf("root of the empty tree = %x", tree.Root)
	}
	for i := 0; i < 4; i++ {
		data, err := s.ReadEntry(ctx, uint64(i))
		if err != nil || !bytes.Equal(data, leaf(i).Data) {
			t.Errorf("ReadEntry(%d) of a sequenced entry = %q, %v", i, data, err)
		}
	}
	got, err := s.Lookup(ctx, []byte("k0"), -1, 10)
	if err != nil || fmt.Sprint(got) != "[0 3]" {
		t.Errorf("Lookup(k0) = %v, %v; want [0 3]", got, err)
	}
	if got, err := s.Lookup(ctx, []byte("k1"), -1, 10); err != nil || fmt.Sprint(got) != "[1 5]" {
		t.Errorf("Lookup(k1) = %v, %v; want [1 5]", got, err)
	}
	got, err = s.Lookup(ctx, []byte("k0"), 0, 10)
	if err != nil || fmt.Sprint(got) != "[3]" {
		t.Errorf("Lookup(k0, after 0) = %v, %v; want [3]", got, err)
	}
}

func testIntegrate(t *testing.T, s log.Storage) {
	ctx := context.Background()
	const n = 1000
	var hashes [][]byte
	rng := tiles.RangeFactory.NewEmptyRange(0)
	for start := 0; start < n; {
		var batch []log.Leaf
		for i := start; i < min(n, start+137); i++ {
			batch = append(batch, leaf(i))
			hashes = append(hashes, leaf(i).Hash)
			rng.Append(leaf(i).Hash, nil)
		}
		if _, err := s.Sequence(ctx, batch); err != nil {
			t.Fatal(err)
		}
		start += len(batch)
		// Integrate in uneven steps, crossing bundle boundaries.
		for {
			tree, seq, err := s.Tree(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if tree.Size == seq {
				break
			}
			if _, err := s.Integrate(ctx, 100); err != nil {
				t.Fatal(err)
			}
		}
		tree, _, _ := s.Tree(ctx)
		want, _ := rng.GetRootHash(nil)
		if tree.Size != uint64(start) || !bytes.Equal(tree.Root, want) {
			t.Fatalf("after integrating %d: tree = %d %x, want %x", start, tree.Size, tree.Root, want)
		}
	}
	tree, err := s.Integrate(ctx, 100)
	if err != nil || tree.Size != n {
		t.Fatalf("Integrate with nothing waiting = %+v, %v", tree, err)
	}
	// Entries read back exactly, from full and partial bundles.
	for i := 0; i < n; i++ {
		data, err := s.ReadEntry(ctx, uint64(i))
		if err != nil || !bytes.Equal(data, leaf(i).Data) {
			t.Fatalf("ReadEntry(%d) = %q, %v", i, data, err)
		}
	}
	for b := uint64(0); b*tiles.Width < n; b++ {
		data, err := s.ReadEntryBundle(ctx, b)
		if err != nil {
			t.Fatalf("ReadEntryBundle(%d): %v", b, err)
		}
		es, err := tiles.SplitBundle(data)
		if err != nil {
			t.Fatal(err)
		}
		if want := min(tiles.Width, n-int(b)*tiles.Width); len(es) != want {
			t.Fatalf("bundle %d holds %d entries, want %d", b, len(es), want)
		}
		for j, e := range es {
			if !bytes.Equal(e, leaf(int(b)*tiles.Width+j).Data) {
				t.Fatalf("bundle %d entry %d differs", b, j)
			}
		}
	}
	// Tiles give the right proofs.
	r := tiles.NewReader(tiles.Expanding(func(ctx context.Context, id tiles.ID) ([]byte, error) {
		return s.ReadTile(ctx, id.Level, id.Index)
	}))
	for _, i := range []uint64{0, 255, 256, 511, 999} {
		p, err := r.InclusionProof(ctx, i, n)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, i, n, hashes[i], p, tree.Root); err != nil {
			t.Errorf("inclusion proof of %d from stored tiles: %v", i, err)
		}
	}
	if w, err := s.ReadTile(ctx, 1, 0); err != nil || len(w) != 3*tiles.HashSize {
		t.Errorf("ReadTile(1, 0) = %d bytes, %v; want 3 hashes", len(w), err)
	}
}

func testCheckpoint(t *testing.T, s log.Storage) {
	ctx := context.Background()
	if cp, err := s.Checkpoint(ctx); err != nil || cp != nil {
		t.Fatalf("Checkpoint of a new storage = %q, %v; want nil", cp, err)
	}
	if err := s.SetCheckpoint(ctx, 0, []byte("cp0")); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCheckpoint(ctx, 1, []byte("cp1")); err == nil {
		t.Error("SetCheckpoint beyond the integrated size succeeded")
	}
	if _, err := s.Sequence(ctx, []log.Leaf{leaf(0), leaf(1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Integrate(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCheckpoint(ctx, 2, []byte("cp2")); err != nil {
		t.Fatal(err)
	}
	for _, size := range []uint64{0, 1, 2} {
		if err := s.SetCheckpoint(ctx, size, []byte("again")); err == nil {
			t.Errorf("SetCheckpoint(%d) after size 2 succeeded: a size may be signed only once", size)
		}
	}
	if cp, err := s.Checkpoint(ctx); err != nil || string(cp) != "cp2" {
		t.Errorf("Checkpoint = %q, %v; want cp2", cp, err)
	}
	// A storage that keeps the log's growth has this hour's size: the
	// last checkpoint stored (a refused one changes nothing).
	if g, ok := s.(log.GrowthStorage); ok {
		now := time.Now()
		got, err := g.Growth(ctx, now.Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 || got[len(got)-1].Size != 2 || got[len(got)-1].Hour.After(now) || now.Sub(got[len(got)-1].Hour) > time.Hour {
			t.Errorf("Growth = %+v; want this hour's size 2", got)
		}
		if got, err := g.Growth(ctx, now.Add(time.Hour)); err != nil || len(got) != 0 {
			t.Errorf("Growth from the next hour = %+v, %v; want none", got, err)
		}
	}
}

func testNotFound(t *testing.T, s log.Storage) {
	ctx := context.Background()
	if _, err := s.ReadEntry(ctx, 5); !errors.Is(err, log.ErrNotFound) {
		t.Errorf("ReadEntry of a missing entry = %v, want ErrNotFound", err)
	}
	if _, err := s.ReadTile(ctx, 0, 0); !errors.Is(err, log.ErrNotFound) {
		t.Errorf("ReadTile of a missing tile = %v, want ErrNotFound", err)
	}
	if _, err := s.ReadEntryBundle(ctx, 0); !errors.Is(err, log.ErrNotFound) {
		t.Errorf("ReadEntryBundle of a missing bundle = %v, want ErrNotFound", err)
	}
	if got, err := s.Lookup(ctx, []byte("nothing"), -1, 10); err != nil || len(got) != 0 {
		t.Errorf("Lookup of a missing key = %v, %v; want nothing", got, err)
	}
}

func testWitnessed(t *testing.T, s log.Storage) {
	ctx := context.Background()
	if cp, err := s.Witnessed(ctx); err != nil || cp != nil {
		t.Fatalf("Witnessed of a new storage = %q, %v; want nil", cp, err)
	}
	if err := s.SetWitnessed(ctx, 0, []byte("w0")); err == nil {
		t.Error("SetWitnessed before any checkpoint was signed succeeded")
	}
	if err := s.SetCheckpoint(ctx, 0, []byte("cp0")); err != nil {
		t.Fatal(err)
	}
	if err := s.SetWitnessed(ctx, 0, []byte("w0")); err != nil {
		t.Fatalf("SetWitnessed(0) = %v", err)
	}
	if _, err := s.Sequence(ctx, []log.Leaf{leaf(0), leaf(1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Integrate(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if err := s.SetWitnessed(ctx, 2, []byte("w2")); err == nil {
		t.Error("SetWitnessed beyond the signed size succeeded")
	}
	if err := s.SetCheckpoint(ctx, 2, []byte("cp2")); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		size uint64
		note string
		ok   bool
	}{{2, "w2", true}, {2, "w2 fresher", true}, {0, "w0 again", false}, {3, "w3", false}} {
		err := s.SetWitnessed(ctx, step.size, []byte(step.note))
		if (err == nil) != step.ok {
			t.Errorf("SetWitnessed(%d, %q) = %v, want success %v", step.size, step.note, err, step.ok)
		}
	}
	if cp, err := s.Witnessed(ctx); err != nil || string(cp) != "w2 fresher" {
		t.Errorf("Witnessed = %q, %v; want %q", cp, err, "w2 fresher")
	}
	if cp, err := s.Checkpoint(ctx); err != nil || string(cp) != "cp2" {
		t.Errorf("Checkpoint = %q, %v; the witnessed checkpoint must not replace it", cp, err)
	}
}

func testLookupBefore(t *testing.T, s log.Storage) {
	ctx := context.Background()
	var batch []log.Leaf
	for i := 0; i < 10; i++ {
		batch = append(batch, leaf(i))
	}
	if _, err := s.Sequence(ctx, batch); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key    string
		before uint64
		limit  int
		want   string
	}{
		{"k0", 100, 10, "[9 6 3 0]"},
		{"k0", 9, 10, "[6 3 0]"},
		{"k0", 100, 2, "[9 6]"},
		{"k1", 1, 10, "[]"},
		{"k2", 1 << 63, 1, "[8]"},
		{"k2", 1<<64 - 1, 1, "[8]"},
		{"nothing", 100, 10, "[]"},
	} {
		got, err := s.LookupBefore(ctx, []byte(tc.key), tc.before, tc.limit)
		if err != nil || fmt.Sprint(got) != tc.want {
			t.Errorf("LookupBefore(%s, %d, %d) = %v, %v; want %s", tc.key, tc.before, tc.limit, got, err, tc.want)
		}
	}
}

func testReindex(t *testing.T, s log.Storage) {
	ctx := context.Background()
	if v, err := s.IndexVersion(ctx); err != nil || v != 0 {
		t.Fatalf("IndexVersion of a new storage = %d, %v; want 0", v, err)
	}
	// Entries in full and partial bundles, and some not integrated.
	const n = 600
	var batch []log.Leaf
	for i := 0; i < n; i++ {
		batch = append(batch, leaf(i))
	}
	if _, err := s.Sequence(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Integrate(ctx, 550); err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	var last uint64
	keysOf := func(i uint64, data []byte) ([][]byte, error) {
		if !bytes.Equal(data, leaf(int(i)).Data) {
			return nil, fmt.Errorf("Reindex gave entry %d as %q", i, data)
		}
		if seen[i] || (len(seen) > 0 && i != last+1) {
			return nil, fmt.Errorf("Reindex gave entry %d out of order (after %d)", i, last)
		}
		seen[i], last = true, i
		return [][]byte{[]byte(fmt.Sprintf("new%d", i)), []byte(fmt.Sprintf("mod%d", i%7))}, nil
	}
	var progressed uint64
	if err := s.Reindex(ctx, 2, keysOf, func(done, total uint64) { progressed = done }); err != nil {
		t.Fatal(err)
	}
	if len(seen) != n || progressed != n {
		t.Errorf("Reindex gave %d entries and reported %d done; want %d", len(seen), progressed, n)
	}
	if v, err := s.IndexVersion(ctx); err != nil || v != 2 {
		t.Errorf("IndexVersion after Reindex = %d, %v; want 2", v, err)
	}
	if got, err := s.Lookup(ctx, []byte("k0"), -1, 10); err != nil || len(got) != 0 {
		t.Errorf("an old key still finds %v, %v", got, err)
	}
	if got, err := s.Lookup(ctx, []byte("mod3"), 500, 3); err != nil || fmt.Sprint(got) != "[507 514 521]" {
		t.Errorf("Lookup(mod3, after 500) = %v, %v", got, err)
	}
	// Duplicates are found through the new first keys.
	dup := leaf(300)
	dup.Keys = [][]byte{[]byte("new300")}
	fresh := leaf(n)
	fresh.Keys = [][]byte{[]byte("new300")} // same key, other content
	res, err := s.Sequence(ctx, []log.Leaf{dup, fresh})
	if err != nil || fmt.Sprint(res) != fmt.Sprint([]log.Sequenced{{Index: 300, Dup: true}, {Index: n}}) {
		t.Errorf("Sequence after Reindex = %+v, %v", res, err)
	}
	// A failing keysOf leaves the version as it was.
	boom := errors.New("boom")
	if err := s.Reindex(ctx, 3, func(i uint64, _ []byte) ([][]byte, error) {
		if i == 400 {
			return nil, boom
		}
		return nil, nil
	}, nil); !errors.Is(err, boom) {
		t.Errorf("Reindex with a failing keysOf = %v, want its error", err)
	}
	if v, err := s.IndexVersion(ctx); err != nil || v != 0 {
		t.Errorf("IndexVersion after a failed Reindex = %d, %v; want 0, so that it is redone", v, err)
	}
}

func testDedup(t *testing.T, s log.Storage) {
	ctx := context.Background()
	mk := func(data string, dedup func([]uint64, bool) (uint64, bool)) log.Leaf {
		return log.Leaf{Data: []byte(data), Hash: tiles.LeafHash([]byte(data)), Keys: [][]byte{[]byte("stmt"), []byte("other " + data)}, Dedup: dedup}
	}
	var got [][]uint64
	record := func(answer uint64, dup bool) func([]uint64, bool) (uint64, bool) {
		return func(idxs []uint64, more bool) (uint64, bool) {
			if more {
				t.Errorf("Dedup called with more = true for %v", idxs)
			}
			got = append(got, append([]uint64(nil), idxs...))
			return answer, dup
		}
	}
	// The first entry under a key: Dedup is not called.
	res, err := s.Sequence(ctx, []log.Leaf{mk("a", record(0, true))})
	if err != nil || fmt.Sprint(res) != fmt.Sprint([]log.Sequenced{{Index: 0}}) || len(got) != 0 {
		t.Fatalf("first leaf = %+v, %v, Dedup called with %v", res, err, got)
	}
	// Other bytes under the key: Dedup decides, with the candidates
	// sequenced before the call only.
	res, err = s.Sequence(ctx, []log.Leaf{mk("b", record(0, true)), mk("c", record(0, false)), mk("d", record(0, false))})
	if err != nil || fmt.Sprint(res) != fmt.Sprint([]log.Sequenced{{Index: 0, Dup: true}, {Index: 1}, {Index: 2}}) {
		t.Fatalf("second Sequence = %+v, %v", res, err)
	}
	if fmt.Sprint(got) != "[[0] [0] [0]]" {
		t.Errorf("Dedup was called with %v, want [[0] [0] [0]] (not with entries of the same call)", got)
	}
	// The same bytes again: a duplicate, whatever Dedup would say.
	got = nil
	res, err = s.Sequence(ctx, []log.Leaf{mk("c", record(0, false))})
	if err != nil || fmt.Sprint(res) != fmt.Sprint([]log.Sequenced{{Index: 1, Dup: true}}) || len(got) != 0 {
		t.Errorf("the same bytes again = %+v, %v, Dedup called with %v", res, err, got)
	}
	// A refused leaf was not stored.
	if idx, err := s.Lookup(ctx, []byte("other b"), -1, 10); err != nil || len(idx) != 0 {
		t.Errorf("the keys of a leaf found a duplicate by Dedup were stored: %v, %v", idx, err)
	}
}

func testBadInput(t *testing.T, s log.Storage) {
	ctx := context.Background()
	if _, err := s.Sequence(ctx, []log.Leaf{leaf(0)}); err != nil {
		t.Fatal(err)
	}
	long := leaf(1)
	long.Keys = [][]byte{bytes.Repeat([]byte{'k'}, 81)}
	if _, err := s.Sequence(ctx, []log.Leaf{leaf(2), long}); err == nil {
		t.Error("Sequence of a leaf with an 81-byte key succeeded")
	}
	// The failed write changed nothing: not even the good leaf before it.
	if _, seq, err := s.Tree(ctx); err != nil || seq != 1 {
		t.Errorf("after a refused Sequence: sequenced %d, %v; want 1", seq, err)
	}
	if _, err := s.ReadEntry(ctx, 1); !errors.Is(err, log.ErrNotFound) {
		t.Errorf("ReadEntry(1) after a refused Sequence = %v, want ErrNotFound", err)
	}
	if got, err := s.Lookup(ctx, leaf(2).Keys[0], -1, 10); err != nil || fmt.Sprint(got) != "[]" && fmt.Sprint(got) != "[0]" {
		t.Errorf("Lookup after a refused Sequence = %v, %v", got, err)
	}
	for _, tc := range []struct{ level, index uint64 }{{64, 0}, {0, 1 << 60}, {1 << 63, 1 << 63}} {
		if _, err := s.ReadTile(ctx, tc.level, tc.index); !errors.Is(err, log.ErrNotFound) {
			t.Errorf("ReadTile(%d, %d) = %v, want ErrNotFound", tc.level, tc.index, err)
		}
	}
	if _, err := s.ReadEntryBundle(ctx, 1<<62); !errors.Is(err, log.ErrNotFound) {
		t.Errorf("ReadEntryBundle(2^62) = %v, want ErrNotFound", err)
	}
	if _, err := s.ReadEntry(ctx, 1<<63); !errors.Is(err, log.ErrNotFound) {
		t.Errorf("ReadEntry(2^63) = %v, want ErrNotFound", err)
	}
}

// RunShared runs the tests of a SharedStorage: open must return two handles
// on one new, empty storage, as two frontends would hold.
func RunShared(t *testing.T, open func(t *testing.T) (a, b log.SharedStorage)) {
	for _, tc := range []struct {
		name string
		f    func(t *testing.T, a, b log.SharedStorage)
	}{
		{"Lease", testLease},
		{"LeaseExpires", testLeaseExpires},
		{"PublisherRace", testPublisherRace},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := open(t)
			defer a.Close()
			defer b.Close()
			tc.f(t, a, b)
		})
	}
}

func testLease(t *testing.T, a, b log.SharedStorage) {
	ctx := context.Background()
	if ok, err := a.Lease(ctx, time.Minute); err != nil || !ok {
		t.Fatalf("a.Lease = %v, %v; want it taken", ok, err)
	}
	if ok, err := b.Lease(ctx, time.Minute); err != nil || ok {
		t.Fatalf("b.Lease while a holds it = %v, %v; want refused", ok, err)
	}
	if ok, err := a.Lease(ctx, time.Minute); err != nil || !ok {
		t.Fatalf("a.Lease renewal = %v, %v", ok, err)
	}
	// Both frontends sequence; only the holder integrates and signs.
	if _, err := b.Sequence(ctx, []log.Leaf{leaf(0), leaf(1)}); err != nil {
		t.Fatal(err)
	}
	if res, err := a.Sequence(ctx, []log.Leaf{leaf(1), leaf(2)}); err != nil || !res[0].Dup || res[0].Index != 1 || res[1].Index != 2 {
		t.Fatalf("a.Sequence after b's = %+v, %v; want leaf 1 a duplicate of index 1", res, err)
	}
	if _, err := b.Integrate(ctx, 10); !errors.Is(err, log.ErrNotPublisher) {
		t.Errorf("b.Integrate without the lease = %v, want ErrNotPublisher", err)
	}
	if tree, _, _ := a.Tree(ctx); tree.Size != 0 {
		t.Errorf("b's refused Integrate changed the tree to size %d", tree.Size)
	}
	tree, err := a.Integrate(ctx, 10)
	if err != nil || tree.Size != 3 {
		t.Fatalf("a.Integrate = %+v, %v", tree, err)
	}
	if err := b.SetCheckpoint(ctx, 3, []byte("b3")); !errors.Is(err, log.ErrNotPublisher) {
		t.Errorf("b.SetCheckpoint without the lease = %v, want ErrNotPublisher", err)
	}
	if err := a.SetCheckpoint(ctx, 3, []byte("a3")); err != nil {
		t.Fatal(err)
	}
	if err := b.SetWitnessed(ctx, 3, []byte("b3w")); !errors.Is(err, log.ErrNotPublisher) {
		t.Errorf("b.SetWitnessed without the lease = %v, want ErrNotPublisher", err)
	}
	// b reads what a wrote.
	if cp, err := b.Checkpoint(ctx); err != nil || string(cp) != "a3" {
		t.Errorf("b.Checkpoint = %q, %v; want a3", cp, err)
	}
	if data, err := b.ReadEntry(ctx, 2); err != nil || !bytes.Equal(data, leaf(2).Data) {
		t.Errorf("b.ReadEntry(2) = %q, %v", data, err)
	}
	// A released lease passes at once.
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Lease(ctx, time.Minute); err != nil || !ok {
		t.Fatalf("b.Lease after a released it = %v, %v", ok, err)
	}
	if err := a.SetWitnessed(ctx, 3, []byte("a3w")); !errors.Is(err, log.ErrNotPublisher) {
		t.Errorf("a.SetWitnessed after releasing = %v, want ErrNotPublisher", err)
	}
	if err := b.SetWitnessed(ctx, 3, []byte("b3w")); err != nil {
		t.Errorf("b.SetWitnessed holding the lease = %v", err)
	}
}

func testLeaseExpires(t *testing.T, a, b log.SharedStorage) {
	ctx := context.Background()
	if ok, err := a.Lease(ctx, 100*time.Millisecond); err != nil || !ok {
		t.Fatalf("a.Lease = %v, %v", ok, err)
	}
	if _, err := a.Sequence(ctx, []log.Leaf{leaf(0)}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	// a's lease ran out while it was paused: its writes are fenced off
	// even before anyone else takes the lease.
	if _, err := a.Integrate(ctx, 10); !errors.Is(err, log.ErrNotPublisher) {
		t.Errorf("a.Integrate after its lease expired = %v, want ErrNotPublisher", err)
	}
	if ok, err := b.Lease(ctx, time.Minute); err != nil || !ok {
		t.Fatalf("b.Lease after a's expired = %v, %v", ok, err)
	}
	if ok, err := a.Lease(ctx, time.Minute); err != nil || ok {
		t.Errorf("a.Lease while b holds it = %v, %v; want refused", ok, err)
	}
	if tree, err := b.Integrate(ctx, 10); err != nil || tree.Size != 1 {
		t.Errorf("b.Integrate = %+v, %v", tree, err)
	}
}

// testPublisherRace runs two publishers whose leases are short against each
// other while both sequence, each integrating and storing a checkpoint that
// names its size and root whenever it can. Whatever the interleaving, no
// size gets two checkpoints, and every root stored is the root of the
// entries at that size.
func testPublisherRace(t *testing.T, a, b log.SharedStorage) {
	ctx := context.Background()
	var (
		mu     sync.Mutex
		stored = map[uint64][]string{}
		wg     sync.WaitGroup
		next   atomic.Int64
	)
	// Run for 2 s and until 10 checkpoints are stored (a new tree of a
	// backend may take a while to start), at most 60 s.
	start := time.Now()
	running := func() bool {
		mu.Lock()
		n := len(stored)
		mu.Unlock()
		d := time.Since(start)
		return d < 60*time.Second && (d < 2*time.Second || n < 10)
	}
	for _, s := range []log.SharedStorage{a, b} {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for running() {
				i := int(next.Add(1))
				if _, err := s.Sequence(ctx, []log.Leaf{leaf(i)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for running() {
				if ok, err := s.Lease(ctx, 30*time.Millisecond); err != nil || !ok {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				tree, err := s.Integrate(ctx, 64)
				if err != nil {
					continue
				}
				note := fmt.Sprintf("%d %x", tree.Size, tree.Root)
				if err := s.SetCheckpoint(ctx, tree.Size, []byte(note)); err == nil {
					mu.Lock()
					stored[tree.Size] = append(stored[tree.Size], note)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if len(stored) < 2 {
		t.Fatalf("only %d checkpoints stored: the race did not run", len(stored))
	}
	// The roots at each size, from the entries in order.
	_, seq, err := a.Tree(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rng := tiles.RangeFactory.NewEmptyRange(0)
	roots := map[uint64][]byte{0: rfc6962.DefaultHasher.EmptyRoot()}
	for i := uint64(0); i < seq; i++ {
		data, err := a.ReadEntry(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		rng.Append(tiles.LeafHash(data), nil)
		roots[i+1], _ = rng.GetRootHash(nil)
	}
	for size, notes := range stored {
		if len(notes) > 1 {
			t.Errorf("size %d got %d checkpoints: %q", size, len(notes), notes)
		}
		if want := fmt.Sprintf("%d %x", size, roots[size]); notes[0] != want {
			t.Errorf("checkpoint %q, want %q", notes[0], want)
		}
	}
	t.Logf("%d entries sequenced, %d checkpoints stored", seq, len(stored))
}

func testFences(t *testing.T, s log.Storage) {
	ctx := context.Background()
	if _, err := s.Sequence(ctx, []log.Leaf{leaf(0), leaf(1)}); err != nil { // k0 at 0, k1 at 1
		t.Fatal(err)
	}
	fenced := func(i int, fences ...log.Fence) log.Leaf {
		l := leaf(i)
		l.Fences = fences
		return l
	}
	// Nothing under k0 above 0, nor under k2 at all: not tripped.
	res, err := s.Sequence(ctx, []log.Leaf{fenced(2, log.Fence{Key: []byte("k0"), Above: 0}, log.Fence{Key: []byte("k2"), Above: -1})})
	if err != nil || res[0].Fenced || res[0].Index != 2 {
		t.Fatalf("Sequence with fences that hold = %+v, %v; want index 2", res, err)
	}
	// k1 holds entry 1, above 0: tripped; the other leaf is sequenced.
	res, err = s.Sequence(ctx, []log.Leaf{fenced(3, log.Fence{Key: []byte("k1"), Above: 0}), leaf(4)})
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].Fenced || res[1].Fenced || res[1].Index != 3 {
		t.Fatalf("Sequence with a tripped fence = %+v; want the first fenced and the second at index 3", res)
	}
	if _, seq, _ := s.Tree(ctx); seq != 4 {
		t.Errorf("sequenced %d after a fenced leaf, want 4", seq)
	}
	// An entry of the same call does not trip a fence: only what was
	// sequenced before it.
	res, err = s.Sequence(ctx, []log.Leaf{leaf(5), fenced(6, log.Fence{Key: []byte("k2"), Above: 2})})
	if err != nil || res[1].Fenced {
		t.Errorf("a fence tripped by an entry of the same call: %+v, %v", res, err)
	}
}
