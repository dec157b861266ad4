package witness_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/fwledger/fwledger/witness"
)

type forkJSON struct {
	Origin  string `json:"origin"`
	Size    uint64 `json:"size"`
	Held    string `json:"held"`
	Offered string `json:"offered"`
}

func getForks(t *testing.T, url string) []forkJSON {
	t.Helper()
	resp, err := http.Get(url + "/forks")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var forks []forkJSON
	if err := json.NewDecoder(resp.Body).Decode(&forks); err != nil {
		t.Fatal(err)
	}
	return forks
}

// TestForkEvidenceHistory: a log key holder signs another root for a size
// the witness cosigned before its latest, and sends it with various old
// sizes, several times each. Each request gets the answer the
// specification gives it, the evidence (both notes) is kept once and
// listed at /forks, and the witness's state does not change. The history
// survives a restart.
func TestForkEvidenceHistory(t *testing.T) {
	dir := t.TempDir()
	honest, evil := newTree(10, 4, ""), newTree(10, 4, "evil ")
	w := startWitness(t, dir, witness.Config{})
	cosigned := map[uint64][]byte{} // size → the note the witness cosigned
	for _, step := range [][2]uint64{{0, 3}, {3, 6}, {6, 8}} {
		status, _, body := post(t, w.url, honest.request(t, step[0], step[1]))
		if status != 200 {
			t.Fatalf("cosigning %d: %d %s", step[1], status, body)
		}
		cosigned[step[1]] = append(honest.checkpoint(t, logKey, step[1]), body...)
	}
	latest := w.Latest(logKey.Name)
	writes := w.store.Writes()

	offered := evil.checkpoint(t, logKey, 6)
	for _, tc := range []struct {
		old    uint64
		status int
		body   string
	}{
		{0, 409, "8\n"},
		{3, 409, "8\n"},
		{5, 409, "8\n"},
		{6, 409, "8\n"},
		{8, 400, "old size 8 is larger than the checkpoint size 6"},
	} {
		for range 3 {
			status, _, body := post(t, w.url, (&witness.AddCheckpointRequest{OldSize: tc.old, Checkpoint: offered}).Marshal())
			if status != tc.status || !bytes.Contains([]byte(body), []byte(tc.body)) {
				t.Errorf("old %d: %d %q, want %d %q", tc.old, status, body, tc.status, tc.body)
			}
		}
	}
	forks := getForks(t, w.url)
	if len(forks) != 1 {
		t.Fatalf("GET /forks lists %d forks, want 1: %+v", len(forks), forks)
	}
	if f := forks[0]; f.Origin != logKey.Name || f.Size != 6 || f.Held != string(cosigned[6]) || f.Offered != string(offered) {
		t.Errorf("GET /forks = %+v, want size 6 with held %q and offered %q", f, cosigned[6], offered)
	}
	if got := w.store.Writes() - writes; got != 1 {
		t.Errorf("%d durable writes for 15 requests offering one fork, want 1", got)
	}
	all, err := w.store.All(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(w.Latest(logKey.Name), latest) || !bytes.Equal(all[logKey.Name].Note, latest) {
		t.Error("offering a fork changed the witness's state")
	}
	// The honest checkpoints of those sizes are no fork.
	for _, old := range []uint64{0, 6} {
		if status, _, body := post(t, w.url, (&witness.AddCheckpointRequest{OldSize: old, Checkpoint: honest.checkpoint(t, logKey, 6)}).Marshal()); status != 409 || body != "8\n" {
			t.Errorf("the honest checkpoint of size 6 with old %d: %d %q, want 409 8", old, status, body)
		}
	}

	// After a restart: the same offer is not kept twice, and a fork at
	// size 3, cosigned before the latest, is found in the history.
	w.store.Close()
	w = startWitness(t, dir, witness.Config{})
	evil3 := newTree(10, 1, "evil ")
	for _, cp := range [][]byte{offered, evil3.checkpoint(t, logKey, 3)} {
		if status, _, body := post(t, w.url, (&witness.AddCheckpointRequest{Checkpoint: cp}).Marshal()); status != 409 || body != "8\n" {
			t.Errorf("after the restart: %d %q, want 409 8", status, body)
		}
	}
	forks = getForks(t, w.url)
	if len(forks) != 2 || forks[1].Size != 3 || forks[1].Held != string(cosigned[3]) {
		t.Errorf("after the restart, GET /forks = %+v, want the fork at 6 and one at 3", forks)
	}
}
