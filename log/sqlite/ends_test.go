package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fwledger/fwledger/log"
	"github.com/fwledger/fwledger/log/sqlite"
	"github.com/fwledger/fwledger/tiles"
)

// TestEntriesOutOfBundles: entries read out of full bundles by their
// bundle_ends rows are exactly the entries logged, of every length from
// empty up; a bundle without a row (as every bundle was before the table
// existed) is still read, whole, and gains its row when the storage is
// next opened; and ends that do not match the bundle give an error, never
// other bytes, and are a problem fsck reports.
func TestEntriesOutOfBundles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	var entries [][]byte
	var leaves []log.Leaf
	for i := range 2*tiles.Width + 10 {
		data := bytes.Repeat([]byte{byte(i)}, (i*37)%700)
		data = append(data, fmt.Sprint(i)...)
		if i == 3 {
			data = []byte{}
		}
		entries = append(entries, data)
		leaves = append(leaves, log.Leaf{Data: data, Hash: tiles.LeafHash(data)})
	}
	if _, err := s.Sequence(ctx, leaves); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Integrate(ctx, len(leaves)); err != nil {
		t.Fatal(err)
	}
	readAll := func(s *sqlite.Storage) {
		t.Helper()
		for i, want := range entries {
			got, err := s.ReadEntry(ctx, uint64(i))
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("entry %d: %x, %v; want %x", i, got, err, want)
			}
		}
	}
	readAll(s)

	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, sqlite.DatabaseFile)+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ends := func(n int) []byte {
		t.Helper()
		var e []byte
		if err := db.QueryRow(`SELECT ends FROM bundle_ends WHERE idx = ?`, n).Scan(&e); err != nil {
			t.Fatalf("the ends of bundle %d: %v", n, err)
		}
		return e
	}
	if n := len(ends(1)); n != 4*tiles.Width {
		t.Fatalf("the ends of bundle 1 are %d bytes", n)
	}
	saved := ends(1)
	if _, err := db.Exec(`DELETE FROM bundle_ends WHERE idx = 1`); err != nil {
		t.Fatal(err)
	}
	readAll(s)
	s.Close()
	if s, err = sqlite.Open(ctx, dir); err != nil {
		t.Fatal(err)
	}
	if got := ends(1); !bytes.Equal(got, saved) {
		t.Errorf("reopened, bundle 1's ends are\n%x\nwant\n%x", got, saved)
	}
	readAll(s)

	if problems, err := s.Check(ctx); err != nil || len(problems) != 0 {
		t.Errorf("Check = %q, %v; want no problems", problems, err)
	}
	// Ends shifted by one byte at entry 5, and ends cut short.
	bad := bytes.Clone(ends(0))
	binary.BigEndian.PutUint32(bad[4*5:], binary.BigEndian.Uint32(bad[4*5:])+1)
	if _, err := db.Exec(`UPDATE bundle_ends SET ends = ? WHERE idx = 0`, bad); err != nil {
		t.Fatal(err)
	}
	for _, i := range []uint64{5, 6} {
		if got, err := s.ReadEntry(ctx, i); err == nil {
			t.Errorf("entry %d with corrupt ends: %x, no error", i, got)
		}
	}
	if problems, err := s.Check(ctx); err != nil || len(problems) != 1 || !strings.Contains(problems[0], "entry bundle 0 ") {
		t.Errorf("Check of corrupt ends = %q, %v; want one problem, of entry bundle 0", problems, err)
	}
	if _, err := db.Exec(`UPDATE bundle_ends SET ends = substr(ends, 1, 100) WHERE idx = 0`); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ReadEntry(ctx, 1); err == nil {
		t.Errorf("entry 1 with short ends: %x, no error", got)
	}
}
