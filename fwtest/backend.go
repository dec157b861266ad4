package fwtest

import (
	"context"
	"database/sql"
	"log/slog"
	"os"
	"sync"
	"testing"

	"github.com/fwledger/fwledger/log"
	"github.com/fwledger/fwledger/log/sqlite"
	"github.com/fwledger/fwledger/log/trillian"
	"github.com/fwledger/fwledger/log/trillian/trilliantest"
	reportmysql "github.com/fwledger/fwledger/report/mysql"
	reportsqlite "github.com/fwledger/fwledger/report/sqlite"
	reportstore "github.com/fwledger/fwledger/report/store"
)

// Backend is the storage backend of the logs StartLog starts: "sqlite", or
// "trillian" when the environment says FWLEDGER_BACKEND=trillian (make
// test-trillian sets it, with the Trillian and MariaDB that make
// trillian-up runs).
func Backend() string {
	if os.Getenv("FWLEDGER_BACKEND") == "trillian" {
		return "trillian"
	}
	return "sqlite"
}

// trillianEnvs holds the tree and database of each data directory a test
// opened on the Trillian backend, so that a log reopened on the same
// directory (a restart) finds its state.
var trillianEnvs sync.Map // dir -> *trilliantest.Env

// TrillianEnv returns the Trillian tree and database that stand for the
// data directory dir on the Trillian backend: new on first use (removed
// when t ends), the same for the same dir after.
func TrillianEnv(t testing.TB, dir string) *trilliantest.Env {
	t.Helper()
	if e, ok := trillianEnvs.Load(dir); ok {
		return e.(*trilliantest.Env)
	}
	e := trilliantest.New(t)
	trillianEnvs.Store(dir, e)
	t.Cleanup(func() { trillianEnvs.Delete(dir) })
	return e
}

// OpenStorage opens the log storage of data directory dir on Backend().
func OpenStorage(t testing.TB, dir string) (log.Storage, error) {
	t.Helper()
	ctx := context.Background()
	if Backend() == "sqlite" {
		return sqlite.Open(ctx, dir)
	}
	e := TrillianEnv(t, dir)
	db, err := trillian.OpenDB(e.DSN)
	if err != nil {
		return nil, err
	}
	s, err := trillian.Open(ctx, trillian.Config{DB: db, Client: e.Client, TreeID: e.TreeID, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &trillianStorage{Storage: s, db: db}, nil
}

// trillianStorage closes its database with it.
type trillianStorage struct {
	*trillian.Storage
	db *sql.DB
}

func (s *trillianStorage) Close() error { return s.db.Close() }

// RequireSQLite skips t on another backend: it reaches into the SQLite
// database itself (why says how), which the Trillian backend does not have.
func RequireSQLite(t testing.TB, why string) {
	t.Helper()
	if b := Backend(); b != "sqlite" {
		t.Skipf("on the %s backend: this test %s", b, why)
	}
}

// openReports opens the report store beside store: in dir on SQLite, in
// the log's database on Trillian.
func openReports(t testing.TB, store log.Storage, dir string, o reportstore.Options) (reportstore.Store, error) {
	if ts, ok := store.(*trillianStorage); ok {
		return reportmysql.Open(context.Background(), ts.db, o)
	}
	return reportsqlite.Open(context.Background(), dir, o)
}
