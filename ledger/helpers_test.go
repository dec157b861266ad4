package ledger_test

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/fwledger/fwledger/log/sqlite"
)

func openDB(t *testing.T, dir string) *sql.DB {
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, sqlite.DatabaseFile))
	if err != nil {
		t.Fatal(err)
	}
	return db
}
