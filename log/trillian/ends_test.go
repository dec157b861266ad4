package trillian_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fwledger/fwledger/log"
	"github.com/fwledger/fwledger/log/trillian"
	"github.com/fwledger/fwledger/log/trillian/trilliantest"
	"github.com/fwledger/fwledger/tiles"
)

// TestEntriesOutOfBundles: entries read out of full bundles by their
// bundle_ends rows are exactly the entries logged; a bundle without a row
// (as every bundle was before the table existed, and as an older frontend
// of the same database still writes them) is read whole, and gains its
// row when a frontend next opens the database.
func TestEntriesOutOfBundles(t *testing.T) {
	e := trilliantest.New(t)
	s := openEnv(t, e, "a")
	ctx := context.Background()
	if ok, err := s.Lease(ctx, time.Hour); err != nil || !ok {
		t.Fatalf("Lease = %v, %v", ok, err)
	}
	var entries [][]byte
	var leaves []log.Leaf
	for i := range 2*tiles.Width + 5 {
		data := append(bytes.Repeat([]byte{byte(i)}, (i*37)%700), fmt.Sprint(i)...)
		entries = append(entries, data)
		leaves = append(leaves, log.Leaf{Data: data, Hash: tiles.LeafHash(data)})
	}
	if _, err := s.Sequence(ctx, leaves); err != nil {
		t.Fatal(err)
	}
	if tree, err := s.Integrate(ctx, len(leaves)); err != nil || tree.Size != uint64(len(leaves)) {
		t.Fatalf("Integrate = %d, %v", tree.Size, err)
	}
	readAll := func(s *trillian.Storage) {
		t.Helper()
		for i, want := range entries {
			got, err := s.ReadEntry(ctx, uint64(i))
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("entry %d: %x, %v; want %x", i, got, err, want)
			}
		}
	}
	readAll(s)
	db, err := sql.Open("mysql", e.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var saved []byte
	if err := db.QueryRow(`SELECT ends FROM bundle_ends WHERE idx = 1`).Scan(&saved); err != nil || len(saved) != 4*tiles.Width {
		t.Fatalf("the ends of bundle 1: %d bytes, %v", len(saved), err)
	}
	if _, err := db.Exec(`DELETE FROM bundle_ends WHERE idx = 1`); err != nil {
		t.Fatal(err)
	}
	readAll(s)
	readAll(openEnv(t, e, "b"))
	var got []byte
	if err := db.QueryRow(`SELECT ends FROM bundle_ends WHERE idx = 1`).Scan(&got); err != nil || !bytes.Equal(got, saved) {
		t.Errorf("after a frontend opened, bundle 1's ends are %x, %v; want %x", got, err, saved)
	}
	if _, err := db.Exec(`UPDATE bundle_ends SET ends = ? WHERE idx = 0`, saved); err != nil {
		t.Fatal(err)
	}
	if problems, err := s.Check(ctx); err != nil || len(problems) != 1 || !strings.Contains(problems[0], "entry bundle 0 ") {
		t.Errorf("Check of bundle 0 with bundle 1's ends = %q, %v; want one problem, of entry bundle 0", problems, err)
	}
}
