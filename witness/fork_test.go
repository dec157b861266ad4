package witness_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/fwledger/fwledger/fwtest"
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
	all := w.store.All()
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

// TestForkEvidenceUnbudgeted: whatever else the log's witness is sent,
// checkpoints the log signed with another root, for its latest size and
// for an older one it cosigned, sent many times each with various old
// sizes, get the answers the specification gives them (never a 429), and
// their evidence is kept once each. They are compared with the history in
// memory: the only store reads and writes are those of new evidence.
func TestForkEvidenceUnbudgeted(t *testing.T) {
	w := startWitness(t, "", witness.Config{RateLimit: 1000, Burst: 1000})
	honest, evil := newTree(12, -1, ""), newTree(12, 0, "evil ")
	for _, step := range [][2]uint64{{0, 4}, {4, 8}, {8, 12}} {
		if status, _, body := post(t, w.url, honest.request(t, step[0], step[1])); status != 200 {
			t.Fatalf("cosigning %d: %d %s", step[1], status, body)
		}
	}
	// Replays of the latest checkpoint, as anyone can send.
	for range 5 {
		post(t, w.url, honest.request(t, 12, 12))
	}
	held4, _, err := w.store.History(context.Background(), logKey.Name, 4)
	if err != nil {
		t.Fatal(err)
	}
	writes, reads := w.store.Writes(), witness.StoreReads(w.store)
	fork12, fork4 := evil.checkpoint(t, logKey, 12), evil.checkpoint(t, logKey, 4)
	for i := range 20 {
		for _, tc := range []struct {
			old    uint64
			cp     []byte
			status int
			body   string
		}{
			{12, fork12, 409, "the log signed another root hash for size 12"},
			{0, fork12, 409, "12\n"},
			{4, fork4, 409, "12\n"},
			{12, fork4, 400, "old size 12 is larger than the checkpoint size 4"},
		} {
			status, _, body := post(t, w.url, (&witness.AddCheckpointRequest{OldSize: tc.old, Checkpoint: tc.cp}).Marshal())
			if status != tc.status || !bytes.Contains([]byte(body), []byte(tc.body)) {
				t.Fatalf("request %d, old %d: %d %q, want %d %q", i+1, tc.old, status, body, tc.status, tc.body)
			}
		}
	}
	forks := getForks(t, w.url)
	if len(forks) != 2 {
		t.Fatalf("GET /forks lists %d forks, want 2: %+v", len(forks), forks)
	}
	for i, want := range []forkJSON{
		{Origin: logKey.Name, Size: 12, Held: string(w.Latest(logKey.Name)), Offered: string(fork12)},
		{Origin: logKey.Name, Size: 4, Held: string(held4.Note), Offered: string(fork4)},
	} {
		if forks[i] != want {
			t.Errorf("GET /forks [%d] = %+v, want %+v", i, forks[i], want)
		}
	}
	if got := w.store.Writes() - writes; got != 2 {
		t.Errorf("%d durable writes for 80 offers of two forks, want 2", got)
	}
	if got := witness.StoreReads(w.store) - reads; got != 2 {
		t.Errorf("%d store reads for 80 offers of two forks, want 2", got)
	}
}

// TestForkErrorCarriesEvidence: offered another root for its latest size,
// the witness answers with a *ForkError that holds both checkpoints: the
// one it cosigned, and the one offered, exactly as sent.
func TestForkErrorCarriesEvidence(t *testing.T) {
	honest, evil := newTree(10, 4, ""), newTree(10, 4, "evil ")
	w := startWitness(t, "", witness.Config{})
	if status, _, body := post(t, w.url, honest.request(t, 0, 6)); status != 200 {
		t.Fatalf("cosigning 6: %d %s", status, body)
	}
	offered := evil.checkpoint(t, logKey, 6)
	_, err := w.AddCheckpoint(context.Background(), &witness.AddCheckpointRequest{OldSize: 6, Checkpoint: offered})
	var fe *witness.ForkError
	if !errors.As(err, &fe) {
		t.Fatalf("AddCheckpoint of another root for size 6 = %v, want a *ForkError", err)
	}
	if fe.Size != 6 || !bytes.Equal(fe.Offered, offered) || !bytes.Equal(fe.Held, w.Latest(logKey.Name)) {
		t.Errorf("ForkError = size %d, held %q, offered %q; want size 6, the cosigned note and the offered one", fe.Size, fe.Held, fe.Offered)
	}
}

// TestOneTextPerSize: the log signs, for a size the witness cosigned, the
// same root with other extension lines (as a log hiding a revocation from
// some parties would change its revocation commitment). The witness
// refuses it with a 409 that is not a size conflict, keeps its state, and
// still cosigns the text it holds.
func TestOneTextPerSize(t *testing.T) {
	tr := newTree(10, -1, "")
	w := startWitness(t, "", witness.Config{})
	held := fwtest.SignCheckpoint(t, logKey, 6, tr.HashAt(6), "fwledger.dev/revocations 0 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")
	req := func(cp []byte) []byte {
		return (&witness.AddCheckpointRequest{OldSize: 6, Checkpoint: cp}).Marshal()
	}
	if status, _, body := post(t, w.url, (&witness.AddCheckpointRequest{OldSize: 0, Checkpoint: held}).Marshal()); status != 200 {
		t.Fatalf("cosigning 6: %d %s", status, body)
	}
	for _, other := range [][]byte{
		fwtest.SignCheckpoint(t, logKey, 6, tr.HashAt(6)),
		fwtest.SignCheckpoint(t, logKey, 6, tr.HashAt(6), "fwledger.dev/revocations 1 x4xXt8+sRWY8k0dAH2iDQokT0KIp24tQBmwEKecRdOs="),
	} {
		status, ctype, body := post(t, w.url, req(other))
		if status != http.StatusConflict || ctype == witness.ContentTypeSize {
			t.Errorf("another text for size 6: %d %s %q, want 409 without a size", status, ctype, body)
		}
		_, err := w.AddCheckpoint(context.Background(), &witness.AddCheckpointRequest{OldSize: 6, Checkpoint: other})
		var fe *witness.ForkError
		if !errors.As(err, &fe) || !fe.Lines || !bytes.Equal(fe.Held, w.Latest(logKey.Name)) {
			t.Errorf("AddCheckpoint of another text for size 6 = %v, want a *ForkError about extension lines", err)
		}
	}
	if !bytes.HasPrefix(w.Latest(logKey.Name), held[:bytes.Index(held, []byte("\n\n"))]) {
		t.Errorf("the witness's state changed: %q", w.Latest(logKey.Name))
	}
	if status, _, body := post(t, w.url, req(held)); status != 200 {
		t.Errorf("the held text again: %d %s", status, body)
	}
}

// TestHistoryServed: an auditor lists the sizes a witness cosigned and
// fetches each cosigned checkpoint, not only the latest, so that a
// checkpoint cosigned between two polls of the latest is not missed.
func TestHistoryServed(t *testing.T) {
	tr := newTree(10, -1, "")
	w := startWitness(t, "", witness.Config{})
	old := uint64(0)
	for _, n := range []uint64{2, 5, 9} {
		cp := fwtest.SignCheckpoint(t, logKey, n, tr.HashAt(n), fmt.Sprintf("example.dev/extension %d", n))
		if status, _, body := post(t, w.url, tr.requestFor(t, old, n, cp)); status != 200 {
			t.Fatalf("cosigning %d: %d %s", n, status, body)
		}
		old = n
	}
	get := func(path string) (int, string) {
		resp, err := http.Get(w.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/history/" + logKey.Name); code != 200 || body != "2\n5\n9\n" {
		t.Errorf("history = %d %q, want the three sizes", code, body)
	}
	code, body := get("/checkpoint/" + logKey.Name + "?size=5")
	if code != 200 || !strings.HasPrefix(body, logKey.Name+"\n5\n") || !strings.Contains(body, "example.dev/extension 5\n") || !strings.Contains(body, "— witness") {
		t.Errorf("checkpoint?size=5 = %d %q, want the cosigned checkpoint of size 5", code, body)
	}
	for path, want := range map[string]int{
		"/checkpoint/" + logKey.Name + "?size=4":  404,
		"/checkpoint/" + logKey.Name + "?size=05": 400,
		"/checkpoint/" + logKey.Name + "?size=x":  400,
		"/history/example.com/unknown":            404,
	} {
		if code, body := get(path); code != want {
			t.Errorf("GET %s = %d %q, want %d", path, code, body, want)
		}
	}
}
