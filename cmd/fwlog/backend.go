package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/fwledger/fwledger/log"
	"github.com/fwledger/fwledger/log/sqlite"
	"github.com/fwledger/fwledger/log/trillian"
	"github.com/go-sql-driver/mysql"
	tpb "github.com/google/trillian"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// backendFlags are the flags that choose and reach the log's storage.
type backendFlags struct {
	backend  *string
	trillian *string
	treeID   *int64
	mysql    *string
}

func addBackendFlags(fs *flag.FlagSet) *backendFlags {
	return &backendFlags{
		backend:  fs.String("backend", "sqlite", "storage `backend`: sqlite (one machine: the database in --data) or trillian (Google Trillian and MySQL, shared by any number of fwlog frontends; docs/DEPLOYMENT.md)"),
		trillian: fs.String("trillian", "", "gRPC `address` of the Trillian log server (--backend trillian)"),
		treeID:   fs.Int64("tree-id", 0, "`ID` of the Trillian PREORDERED_LOG tree of this log (--backend trillian; make trillian-up creates one)"),
		mysql:    fs.String("mysql", "", "fwlog's own MySQL/MariaDB database (--backend trillian): a Go MySQL `DSN`, user:password@tcp(host:port)/dbname, or @FILE to read it from a file (keeps the password out of the process list)"),
	}
}

// check reports a usage error in the flags.
func (b *backendFlags) check() error {
	switch *b.backend {
	case "sqlite":
		if *b.trillian != "" || *b.treeID != 0 || *b.mysql != "" {
			return errors.New("--trillian, --tree-id and --mysql are for --backend trillian")
		}
	case "trillian":
		if *b.trillian == "" || *b.treeID == 0 || *b.mysql == "" {
			return errors.New("--backend trillian needs --trillian, --tree-id and --mysql")
		}
	default:
		return fmt.Errorf("unknown --backend %q: sqlite or trillian", *b.backend)
	}
	return nil
}

// storage is an open log storage, and what else its backend holds.
type storage struct {
	log.Storage
	// db is fwlog's MySQL database (--backend trillian), else nil.
	db    *sql.DB
	close func()
}

// open opens the log's storage. Only the DSN's address and database name
// are ever logged or shown, never its password.
func (b *backendFlags) open(ctx context.Context, dataDir string, logger *slog.Logger, reg prometheus.Registerer) (*storage, error) {
	if *b.backend == "sqlite" {
		s, err := sqlite.OpenLogged(ctx, dataDir, logger)
		if err != nil {
			return nil, err
		}
		return &storage{Storage: s, close: func() { s.Close() }}, nil
	}
	// --data holds only the log key (if generated) on this backend.
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	dsn := *b.mysql
	if name, ok := strings.CutPrefix(dsn, "@"); ok {
		// The file holds a password: like a key file, it must be the
		// owner's alone.
		fi, err := os.Stat(filepath.Clean(name))
		if err != nil {
			return nil, fmt.Errorf("--mysql: %w", err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("--mysql: %s is mode %#o; it holds a password, so it must be 0600 (chmod 600 %s)", name, fi.Mode().Perm(), name)
		}
		data, err := os.ReadFile(filepath.Clean(name))
		if err != nil {
			return nil, fmt.Errorf("--mysql: %w", err)
		}
		dsn = strings.TrimSpace(string(data))
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, errors.New("--mysql is not a valid Go MySQL DSN (user:password@tcp(host:port)/dbname)")
	}
	db, err := trillian.OpenDB(dsn)
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(*b.trillian, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("--trillian: %w", err)
	}
	s, err := trillian.Open(ctx, trillian.Config{DB: db, Client: tpb.NewTrillianLogClient(conn), TreeID: *b.treeID, Logger: logger, Registerer: reg})
	if err != nil {
		conn.Close()
		db.Close()
		return nil, fmt.Errorf("the Trillian backend (tree %d at %s, database %s at %s): %w", *b.treeID, *b.trillian, cfg.DBName, cfg.Addr, err)
	}
	logger.Info("storage: Trillian and MySQL", "trillian", *b.trillian, "tree_id", *b.treeID, "mysql", cfg.Addr, "database", cfg.DBName, "lease_holder", s.Holder())
	return &storage{Storage: s, db: db, close: func() { conn.Close(); db.Close() }}, nil
}
