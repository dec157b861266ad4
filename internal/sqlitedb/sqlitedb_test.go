package sqlitedb

import (
	"context"
	"database/sql"
	"testing"
)

// TestPragmasOnEveryConnection: each connection of the writer and of the
// readers maps the database as Options ask and keeps its other settings.
// (A DSN parameter for mmap_size was once ignored by the driver, and every
// read went through read(2).)
func TestPragmasOnEveryConnection(t *testing.T) {
	ctx := context.Background()
	const mmap = 3 << 20
	d, err := Open(ctx, t.TempDir(), "db", "LOCK", Options{Readers: 3, ReaderCacheKiB: 1024, Mmap: mmap, BackgroundCheckpoints: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.W.ExecContext(ctx, `CREATE TABLE t (x)`); err != nil {
		t.Fatal(err)
	}
	pragma := func(c *sql.Conn, name string) int64 {
		t.Helper()
		var v int64
		if err := c.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	w, err := d.W.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := pragma(w, "mmap_size"); got != mmap {
		t.Errorf("writer: mmap_size %d, want %d", got, mmap)
	}
	if got := pragma(w, "wal_autocheckpoint"); got != 0 {
		t.Errorf("writer: wal_autocheckpoint %d, want 0 (checkpoints in the background)", got)
	}
	w.Close()
	var conns []*sql.Conn
	for range 3 {
		c, err := d.R.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for i, c := range conns {
		if got := pragma(c, "mmap_size"); got != mmap {
			t.Errorf("reader %d: mmap_size %d, want %d", i, got, mmap)
		}
		if got := pragma(c, "cache_size"); got != -1024 {
			t.Errorf("reader %d: cache_size %d, want -1024", i, got)
		}
		if _, err := c.ExecContext(ctx, `INSERT INTO t VALUES (1)`); err == nil {
			t.Errorf("reader %d wrote", i)
		}
		c.Close()
	}
}
