package ledger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/fwledger/fwledger/api"
	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/log"
	"github.com/fwledger/fwledger/log/sqlite"
	"github.com/fwledger/fwledger/tiles"
)

// TestCorruptEntries alters stored entries behind the log's back, in a
// full entry bundle and in the rows of the partial one. fsck names the
// first bad index; the log refuses to start while an entry of the partial
// bundle is bad; and an entry that does not hash to its leaf is never
// served (it once was, with a leaf hash recomputed from the altered bytes).
func TestCorruptEntries(t *testing.T) {
	fwtest.RequireSQLite(t, "alters entries in the SQLite file")
	ctx := context.Background()
	opts := fwtest.LogOptions{ReleaseKeys: []*keys.PrivateKey{rel1}}
	l := fwtest.StartLog(t, opts)
	submitN(t, l, 300)
	l.WaitSize(t, 300)
	dir := l.Dir
	l.Stop(t)

	db := openDB(t, dir)
	defer db.Close()
	// Entry 10, in the full bundle 0: change one byte of it in the blob.
	var blob []byte
	if err := db.QueryRow(`SELECT data FROM bundles WHERE idx = 0`).Scan(&blob); err != nil {
		t.Fatal(err)
	}
	entries, _ := tiles.SplitBundle(blob)
	off := bytes.Index(blob, entries[10]) + 40
	blob[off] ^= 1
	if _, err := db.Exec(`UPDATE bundles SET data = ? WHERE idx = 0`, blob); err != nil {
		t.Fatal(err)
	}
	// Entry 280, a row of the partial bundle.
	var orig []byte
	if err := db.QueryRow(`SELECT data FROM entries WHERE idx = 280`).Scan(&orig); err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(orig)
	bad[40] ^= 1
	if _, err := db.Exec(`UPDATE entries SET data = ? WHERE idx = 280`, bad); err != nil {
		t.Fatal(err)
	}

	store, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := log.Fsck(ctx, store, logVerifier(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || rep.FirstBad != 10 || rep.Bad != 2 || rep.StateOK || rep.Entries != 300 || len(rep.Checkpoints) != 1 || rep.Checkpoints[0].OK {
		t.Errorf("Fsck = %+v; want entries 10 and 280 bad, the state and the checkpoint not matching", rep)
	}
	_, err = fwtest.OpenLog(ctx, store, opts)
	var ce *log.CorruptError
	if !errors.As(err, &ce) || ce.Index != 280 {
		t.Errorf("starting on a corrupt partial bundle = %v; want a refusal naming entry 280", err)
	}
	store.Close()

	// Repair entry 280: the log starts, and refuses to serve entry 10.
	if _, err := db.Exec(`UPDATE entries SET data = ? WHERE idx = 280`, orig); err != nil {
		t.Fatal(err)
	}
	opts.Dir = dir
	l = fwtest.StartLog(t, opts)
	for _, tc := range []struct {
		path   string
		status int
		msg    string
	}{
		{"/v1/entries/10", 500, "the log's copy of entry 10 is corrupt"},
		{"/tile/entries/000", 500, "entry 10 is corrupt"},
		{"/v1/entries/11", 200, ""},
		{"/v1/entries/280", 200, ""},
		{"/tile/entries/001.p/44", 200, ""},
	} {
		resp, err := http.Get(l.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e api.Error
		json.Unmarshal(body, &e)
		if resp.StatusCode != tc.status || !strings.Contains(e.Message, tc.msg) {
			t.Errorf("GET %s = %d %q; want %d %q", tc.path, resp.StatusCode, e.Message, tc.status, tc.msg)
		}
	}
}
