package audit

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"slices"
	"strings"
	"testing"

	"github.com/fwledger/fwledger/internal/sqlitedb"
)

// schemaV0 is the part of the audit database of version 0 that version 1
// changed.
const schemaV0 = `
CREATE TABLE state (k TEXT PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE alerts (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, type TEXT NOT NULL, alert BLOB NOT NULL);
CREATE TABLE subjects (image BLOB NOT NULL, digest BLOB NOT NULL, PRIMARY KEY (image, digest)) WITHOUT ROWID;
CREATE TABLE statements (idx INTEGER PRIMARY KEY, digest BLOB NOT NULL UNIQUE, kind TEXT NOT NULL, data BLOB NOT NULL);
`

// TestMigrateV0: an audit database of version 0 is brought up to date when
// it is opened, keeping its statements, their subjects, its alerts and
// its progress.
func TestMigrateV0(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlitedb.Open(ctx, dir, DatabaseFile, LockFile, sqlitedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.W.ExecContext(ctx, schemaV0); err != nil {
		t.Fatal(err)
	}
	type stmt struct {
		idx  int64
		kind string
		data []byte
	}
	stmts := []stmt{{4, "provenance", []byte("p1")}, {9, "revocation", []byte("r")}, {12, "provenance", []byte("p2")}}
	// 2,500 more: more than one chunk of the copy.
	for i := range 2500 {
		stmts = append(stmts, stmt{int64(100 + i), "provenance", []byte(strings.Repeat("x", i+1))})
	}
	for _, s := range stmts {
		d := sha256.Sum256(s.data)
		if _, err := db.W.ExecContext(ctx, "INSERT INTO statements (idx, digest, kind, data) VALUES (?, ?, ?, ?)", s.idx, d[:], s.kind, s.data); err != nil {
			t.Fatal(err)
		}
	}
	img1, img2 := sha256.Sum256([]byte("image 1")), sha256.Sum256([]byte("image 2"))
	img1x := sha512.Sum512([]byte("image 1"))
	p1, p2 := sha256.Sum256([]byte("p1")), sha256.Sum256([]byte("p2"))
	for _, sub := range []struct {
		image  string
		digest []byte
	}{
		{"sha256:" + string(img1[:]), p1[:]},
		{"sha512:" + string(img1x[:]), p1[:]},
		{"sha256:" + string(img2[:]), p2[:]},
		{"sha1:" + string(img2[:20]), p2[:]},            // not how releases name images: dropped
		{"sha256:" + string(img2[:]), make([]byte, 32)}, // no such statement: dropped
	} {
		if _, err := db.W.ExecContext(ctx, "INSERT INTO subjects (image, digest) VALUES (?, ?)", []byte(sub.image), sub.digest); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.W.ExecContext(ctx, `INSERT INTO alerts (key, type, alert) VALUES ('k', 'fork', '{}'); INSERT INTO state (k, v) VALUES ('progress', '{"verified":3000,"size":3000}')`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	for range 2 { // and again, once up to date
		st, err := openStore(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		var version int
		st.db.W.QueryRow("PRAGMA user_version").Scan(&version)
		if version != schemaVersion {
			t.Errorf("user_version = %d, want %d", version, schemaVersion)
		}
		for _, s := range stmts {
			d := sha256.Sum256(s.data)
			var idx int64
			var data []byte
			if err := st.db.W.QueryRow("SELECT idx, data FROM statements WHERE dkey = ? AND digest = ?", prefixKey(d[:]), d[:]).Scan(&idx, &data); err != nil || idx != s.idx || string(data) != string(s.data) {
				t.Fatalf("statement %d: %d, %q, %v", s.idx, idx, data, err)
			}
		}
		var subjects [][2]int64
		rows, err := st.db.W.Query("SELECT image, idx FROM subjects ORDER BY image, idx")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s [2]int64
			rows.Scan(&s[0], &s[1])
			subjects = append(subjects, s)
		}
		rows.Close()
		want := [][2]int64{{prefixKey(img1[:]), 4}, {prefixKey(img1x[:]), 4}, {prefixKey(img2[:]), 12}}
		slices.SortFunc(want, func(a, b [2]int64) int {
			if c := cmp.Compare(a[0], b[0]); c != 0 {
				return c
			}
			return cmp.Compare(a[1], b[1])
		})
		if !slices.Equal(subjects, want) {
			t.Errorf("subjects = %v, want %v", subjects, want)
		}
		var revs []int64
		rows, err = st.db.W.Query(revocationsQuery + " ORDER BY idx")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var idx int64
			var data []byte
			rows.Scan(&idx, &data)
			revs = append(revs, idx)
		}
		rows.Close()
		if !slices.Equal(revs, []int64{9}) {
			t.Errorf("revocations at %v, want [9]", revs)
		}
		p, err := st.progress(ctx)
		if err != nil || p.Verified != 3000 {
			t.Errorf("progress = %+v, %v", p, err)
		}
		if as, err := st.alerts(ctx); err != nil || len(as) != 1 {
			t.Errorf("alerts = %d, %v; want the one", len(as), err)
		}
		st.Close()
	}
}

// TestLaterSchema: a database from a later version is not opened.
func TestLaterSchema(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlitedb.Open(ctx, dir, DatabaseFile, LockFile, sqlitedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.W.Exec("PRAGMA user_version = 99")
	db.Close()
	if st, err := openStore(ctx, dir); err == nil || !strings.Contains(err.Error(), "later") {
		if st != nil {
			st.Close()
		}
		t.Fatalf("openStore of a version 99 database = %v, want an error", err)
	}
}
