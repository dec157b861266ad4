package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fwledger/fwledger/fwtest"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/log/sqlite"
	"github.com/fwledger/fwledger/logclient"
)

// TestFsck runs fwlog fsck on a clean log (exit 0), on the log while it
// runs (exit 1: the directory is locked), and after an entry was altered
// in the database (exit 3, naming it).
func TestFsck(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	l := logReleases(t, data, "fsck", 300)
	fsckRun := func() (int, string, string) {
		var out, errb bytes.Buffer
		code := run([]string{"fsck", "--data", data}, &out, &errb)
		return code, out.String(), errb.String()
	}
	if code, _, stderr := fsckRun(); code != 1 || !strings.Contains(stderr, "in use by another process") {
		t.Errorf("fsck of a running log = %d %q; want 1: the directory is in use", code, stderr)
	}
	l.Stop(t)
	if code, out, stderr := fsckRun(); code != 0 || !strings.Contains(out, "ok   every entry hashes") || !strings.Contains(stderr, "300 of 300 entries checked") {
		t.Errorf("fsck of a clean log = %d\n%s%s", code, out, stderr)
	}
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(data, sqlite.DatabaseFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE entries SET data = CAST('altered' AS BLOB) WHERE idx = 270`); err != nil {
		t.Fatal(err)
	}
	code, out, _ := fsckRun()
	if code != 3 || !strings.Contains(out, "FAIL 1 entries do not hash to their leaf hash in the tiles; the first is entry 270") || !strings.Contains(out, "FAIL the entries hash to the stored checkpoint's root") {
		t.Errorf("fsck of an altered log = %d\n%s", code, out)
	}
}

// TestFsckTiles: fsck recomputes the tiles of every level, so a stored
// tile above level 0 (which served proofs use) that was altered is found
// and named.
func TestFsckTiles(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	logReleases(t, data, "fsck tiles", 300).Stop(t)
	var out, errb bytes.Buffer
	if code := run([]string{"fsck", "--data", data}, &out, &errb); code != 0 || !strings.Contains(out.String(), "ok   every tile (3, at every level)") {
		t.Fatalf("fsck of a clean log = %d\n%s%s", code, out.String(), errb.String())
	}
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(data, sqlite.DatabaseFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE tiles SET data = zeroblob(32) WHERE id = ?`, int64(1)<<56); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := run([]string{"fsck", "--data", data}, &out, &errb); code != 3 || !strings.Contains(out.String(), "FAIL 1 of 3 tiles differ from the ones the entries make; the first is tile/1/000.p/1") || !strings.Contains(out.String(), "ok   every entry hashes") {
		t.Errorf("fsck with an altered level-1 tile = %d\n%s", code, out.String())
	}
}

// logReleases starts a log in data, logs n releases of images named after
// name, waits until they are published, and writes the log's public key
// beside the data, where fwlog fsck looks for it.
func logReleases(t *testing.T, data, name string, n int) *fwtest.Log {
	t.Helper()
	l := fwtest.StartLog(t, fwtest.LogOptions{Dir: data, ReleaseKeys: []*keys.PrivateKey{relKey}})
	lc, err := logclient.New(l.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		img := fwtest.Image(fmt.Sprint(name, " ", i), 500)
		if _, err := lc.Add(context.Background(), fwtest.SignRelease(t, fwtest.NewRelease(img, nil), relKey)); err != nil {
			t.Fatal(err)
		}
	}
	l.WaitSize(t, uint64(n))
	pub, _ := fwtest.LogKey.Public().Marshal()
	if err := os.WriteFile(filepath.Join(data, "log.pub"), pub, 0o644); err != nil {
		t.Fatal(err)
	}
	return l
}
