package audit_test

// Helpers for the security review's proof-of-concept tests (review13).

import (
	"context"
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/fwledger/fwledger/audit"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/tiles"
)

// fakeLog is a C2SP tlog-tiles log served from memory, as a malicious
// log operator (who holds the log key) would serve it: whatever entries
// it likes, under checkpoints it signs with fwtest.LogKey.
type fakeLog struct {
	mu      sync.Mutex
	tree    *fwtest.Tree
	bld     *tiles.Builder
	stored  map[tiles.ID][]byte
	cp      []byte
	srv     *httptest.Server
	hook    func(w http.ResponseWriter, r *http.Request) bool
	entries [][]byte
}

func newFakeLog(t *testing.T) *fakeLog {
	f := &fakeLog{tree: fwtest.NewTree(fwtest.LogKey), stored: map[tiles.ID][]byte{}}
	f.bld = tiles.NewBuilder(tiles.RangeFactory.NewEmptyRange(0), func(id tiles.ID) ([]byte, error) { return f.stored[id], nil })
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// add appends entries and returns the index of the first.
func (f *fakeLog) add(t *testing.T, entries ...[]byte) uint64 {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	first := f.tree.Append(entries...)
	f.entries = append(f.entries, entries...)
	for _, e := range entries {
		if err := f.bld.Append(tiles.LeafHash(e)); err != nil {
			t.Fatal(err)
		}
	}
	changed, err := f.bld.Tiles()
	if err != nil {
		t.Fatal(err)
	}
	for id, d := range changed {
		f.stored[id] = append([]byte(nil), d...)
	}
	return first
}

// publish signs and serves the checkpoint of the first size entries.
func (f *fakeLog) publish(t *testing.T, size uint64) []byte {
	t.Helper()
	cp := f.tree.Checkpoint(t, size)
	f.mu.Lock()
	f.cp = cp
	f.mu.Unlock()
	return cp
}

func (f *fakeLog) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	hook := f.hook
	f.mu.Unlock()
	if hook != nil && hook(w, r) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path == "/checkpoint" {
		w.Write(f.cp)
		return
	}
	tl, err := tiles.ParsePath(r.URL.Path)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	if tl.Entries {
		start := tl.Index * tiles.Width
		if start+uint64(tl.Width) > uint64(len(f.entries)) {
			http.NotFound(w, r)
			return
		}
		var out []byte
		for _, e := range f.entries[start : start+uint64(tl.Width)] {
			out = binary.BigEndian.AppendUint16(out, uint16(len(e)))
			out = append(out, e...)
		}
		w.Write(out)
		return
	}
	d := f.stored[tl.ID()]
	if len(d) < tl.Width*tiles.HashSize {
		http.NotFound(w, r)
		return
	}
	w.Write(d[:tl.Width*tiles.HashSize])
}

// plainAuditor is an auditor of logURL with the test policy (Release1,
// Builder, provenance required) and the log key, in a new state dir.
func plainAuditor(t *testing.T, logURL string, edit func(*audit.Config)) *audit.Auditor {
	t.Helper()
	cfg := audit.Config{
		LogURL: logURL, Log: logVerifier(t), StateDir: t.TempDir(),
		Policy: provenance.KeyPolicy(provenance.KeyTrust{ReleaseKeys: fwtest.Ring(t, fwtest.Release1), BuilderKeys: fwtest.Ring(t, fwtest.Builder), RequireProvenance: true}),
	}
	if edit != nil {
		edit(&cfg)
	}
	a, err := audit.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}
