// Package trilliantest gives tests a fresh Trillian tree and a fresh MySQL
// database on the Trillian and MariaDB that scripts/trillian.sh runs (make
// trillian-up), found through its environment: FWLEDGER_TRILLIAN (the log
// server's gRPC address) and FWLEDGER_MYSQL (a DSN for the fwlog database,
// whose user may create databases named fwlog_*). Tests skip without them;
// make test-trillian sets them. NewDatabase gives a database alone, for
// tests that need no Trillian.
package trilliantest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	tpb "github.com/google/trillian"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Env is a Trillian tree and a database of one test.
type Env struct {
	// Addr is the Trillian log server's gRPC address.
	Addr string
	// Conn is a connection to it.
	Conn *grpc.ClientConn
	// Client is a log client on Conn.
	Client tpb.TrillianLogClient
	// TreeID is a new PREORDERED_LOG tree.
	TreeID int64
	// DSN is the DSN of a new, empty database.
	DSN string
}

// Available reports whether the Trillian environment is set.
func Available() bool {
	return os.Getenv("FWLEDGER_TRILLIAN") != "" && os.Getenv("FWLEDGER_MYSQL") != ""
}

// New returns a new tree and database, removed when t ends (the tree is
// deleted, the database dropped). It skips t unless Available, and fails
// it if the set-up fails.
func New(t testing.TB) *Env {
	t.Helper()
	if !Available() {
		t.Skip("no Trillian: run make test-trillian (or make trillian-up and source local/trillian/env)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e := &Env{Addr: os.Getenv("FWLEDGER_TRILLIAN")}
	conn, err := grpc.NewClient(e.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	e.Conn = conn
	e.Client = tpb.NewTrillianLogClient(conn)
	admin := tpb.NewTrillianAdminClient(conn)
	tree, err := admin.CreateTree(ctx, &tpb.CreateTreeRequest{Tree: &tpb.Tree{
		TreeState:       tpb.TreeState_ACTIVE,
		TreeType:        tpb.TreeType_PREORDERED_LOG,
		DisplayName:     "fwledger-test",
		MaxRootDuration: durationpb.New(time.Hour),
	}})
	if err != nil {
		t.Fatalf("couldn't create a Trillian tree: %v", err)
	}
	if _, err := e.Client.InitLog(ctx, &tpb.InitLogRequest{LogId: tree.TreeId}); err != nil {
		t.Fatalf("couldn't initialise the Trillian tree: %v", err)
	}
	e.TreeID = tree.TreeId
	t.Cleanup(func() {
		admin.DeleteTree(context.Background(), &tpb.DeleteTreeRequest{TreeId: tree.TreeId})
	})

	e.DSN = NewDatabase(t)
	return e
}

// MySQLAvailable reports whether the MySQL part of the environment,
// FWLEDGER_MYSQL, is set: tests of what keeps its tables in MySQL alone
// (report/mysql) need no Trillian.
func MySQLAvailable() bool { return os.Getenv("FWLEDGER_MYSQL") != "" }

// NewDatabase creates a new, empty database named fwlog_test_<random> on
// FWLEDGER_MYSQL's server, dropped when t ends, and returns its DSN. It
// skips t unless MySQLAvailable, and fails it if the set-up fails.
func NewDatabase(t testing.TB) string {
	t.Helper()
	if !MySQLAvailable() {
		t.Skip("no MySQL: run make test-trillian (or make trillian-up and source local/trillian/env)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg, err := mysql.ParseDSN(os.Getenv("FWLEDGER_MYSQL"))
	if err != nil {
		t.Fatalf("FWLEDGER_MYSQL: %v", err)
	}
	var r [6]byte
	rand.Read(r[:])
	name := "fwlog_test_" + hex.EncodeToString(r[:])
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("couldn't create a test database: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("mysql", cfg.FormatDSN())
		if err == nil {
			db.Exec("DROP DATABASE " + name)
			db.Close()
		}
	})
	cfg.DBName = name
	return cfg.FormatDSN()
}
