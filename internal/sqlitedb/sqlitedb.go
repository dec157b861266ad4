// Package sqlitedb opens the SQLite database of a fwledger server (the log's
// storage, a witness's state) the one way both need:
//
//   - one file in a data directory that a lock file (package dirlock) keeps
//     a second process out of;
//   - WAL mode with synchronous=FULL, so that a transaction is on disk when
//     its commit returns;
//   - one writer connection, whose transactions are BEGIN IMMEDIATE;
//   - read-only connections for concurrent readers, if asked for;
//   - WAL checkpoints either inside commits, as SQLite makes them, or, for
//     a database whose writes are large, on a background connection; and a
//     last one on Close that leaves one self-contained file.
package sqlitedb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/fwledger/fwledger/internal/dirlock"
	"github.com/mattn/go-sqlite3"
)

// Options tune a database.
type Options struct {
	// CacheKiB is the writer's page cache, in KiB (default: SQLite's).
	CacheKiB int
	// Readers is the number of read-only connections; with none, R is the
	// writer.
	Readers int
	// ReaderCacheKiB is each reader's page cache, in KiB (default: SQLite's).
	ReaderCacheKiB int
	// Mmap is the size of the memory map reads go through (default none).
	Mmap int64
	// BackgroundCheckpoints moves WAL checkpoints out of the commits onto
	// a background connection. It pays off when transactions write many
	// pages (the log's integration); for small transactions (a witness's)
	// the checkpoint's I/O beside every commit costs more than SQLite's
	// own checkpoint every thousand pages.
	BackgroundCheckpoints bool
}

// CheckpointInterval is how often the background connection copies the WAL
// into the database.
const CheckpointInterval = 500 * time.Millisecond

// restartPages is the WAL size, in pages, beyond which the background
// checkpoint waits for the writer between transactions (RESTART) so that
// the WAL starts over.
const restartPages = 16384

// A DB is an open database.
type DB struct {
	// W is the one writer connection.
	W *sql.DB
	// R is the read-only connections (W if there are none).
	R *sql.DB

	c    *sql.DB // the checkpointer's connection
	lock *os.File
	stop chan struct{}
	done chan struct{}
}

// openDB opens the database of dsn with pragmas run on each connection
// as it is made. (The driver ignores DSN parameters it does not know,
// such as one for mmap_size, and a pragma run once on a pool reaches one
// connection of it.)
func openDB(dsn, pragmas string) *sql.DB {
	return sql.OpenDB(connector{dsn: dsn, d: &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		_, err := c.Exec(pragmas, nil)
		return err
	}}})
}

// connector makes the connections of a pool with driver d.
type connector struct {
	dsn string
	d   *sqlite3.SQLiteDriver
}

func (c connector) Connect(context.Context) (driver.Conn, error) { return c.d.Open(c.dsn) }
func (c connector) Driver() driver.Driver                        { return c.d }

// Open locks dir (creating it, mode 0700, if needed) with the file lockFile,
// and opens the database file in it.
func Open(ctx context.Context, dir, file, lockFile string, o Options) (*DB, error) {
	lock, err := dirlock.Lock(dir, lockFile)
	if err != nil {
		return nil, err
	}
	d := &DB{lock: lock}
	if err := d.open(ctx, filepath.Join(dir, file), o); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func (d *DB) open(ctx context.Context, path string, o Options) error {
	dsn := "file:" + path + "?_journal_mode=WAL&_synchronous=FULL&_busy_timeout=10000&_txlock=immediate"
	if o.CacheKiB > 0 {
		dsn += fmt.Sprintf("&_cache_size=-%d", o.CacheKiB)
	}
	pragmas := fmt.Sprintf("PRAGMA mmap_size=%d; PRAGMA journal_size_limit=67108864", o.Mmap)
	if o.BackgroundCheckpoints {
		pragmas += "; PRAGMA wal_autocheckpoint=0"
	}
	d.W = openDB(dsn, pragmas)
	// One writer: writes are serialized, and it sees every commit.
	d.W.SetMaxOpenConns(1)
	d.W.SetConnMaxLifetime(0)
	var mode string
	if err := d.W.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		return fmt.Errorf("couldn't put %s in WAL mode (mode %q): %v", path, mode, err)
	}
	d.R = d.W
	if o.Readers > 0 {
		rdsn := "file:" + path + "?_journal_mode=WAL&_busy_timeout=10000&_query_only=true"
		if o.ReaderCacheKiB > 0 {
			rdsn += fmt.Sprintf("&_cache_size=-%d", o.ReaderCacheKiB)
		}
		d.R = openDB(rdsn, fmt.Sprintf("PRAGMA mmap_size=%d", o.Mmap))
		d.R.SetMaxOpenConns(o.Readers)
		d.R.SetMaxIdleConns(o.Readers)
	}
	var err error
	if d.c, err = sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_synchronous=FULL&_busy_timeout=10000"); err != nil {
		return err
	}
	d.c.SetMaxOpenConns(1)
	if o.BackgroundCheckpoints {
		d.stop, d.done = make(chan struct{}), make(chan struct{})
		go d.checkpointer()
	}
	return nil
}

// checkpointer copies the WAL into the database in the background. A
// PASSIVE checkpoint never blocks the writer; once it has copied every frame,
// the next write transaction starts the WAL over from its beginning, so the
// WAL stays near what is written in one interval. When the checkpointer falls
// behind, it uses a RESTART checkpoint, which waits for the writer between
// transactions.
func (d *DB) checkpointer() {
	defer close(d.done)
	t := time.NewTicker(CheckpointInterval)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
		}
		var busy, walPages, done int
		if err := d.c.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &walPages, &done); err != nil {
			continue
		}
		if walPages > restartPages {
			d.c.Exec("PRAGMA wal_checkpoint(RESTART)")
		}
	}
}

// Close checkpoints the whole WAL into the database, closes every
// connection, and releases the lock.
func (d *DB) Close() error {
	var errs []error
	if d.stop != nil {
		close(d.stop)
		<-d.done
		d.stop = nil
	}
	if d.c != nil {
		// Leave one self-contained database file behind.
		if _, err := d.c.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			errs = append(errs, fmt.Errorf("final checkpoint: %w", err))
		}
		errs = append(errs, d.c.Close())
	}
	if d.R != nil && d.R != d.W {
		errs = append(errs, d.R.Close())
	}
	if d.W != nil {
		errs = append(errs, d.W.Close())
	}
	if d.lock != nil {
		errs = append(errs, d.lock.Close()) // closing releases the flock
	}
	return errors.Join(errs...)
}

// WrapOS adds to *err, if it is an error of SQLite, the operating system's
// errno it stands for, so that callers can tell a full disk
// (syscall.ENOSPC) or a permission problem (syscall.EACCES, EROFS) from
// other failures without knowing SQLite. Use it deferred.
func WrapOS(err *error) {
	var se sqlite3.Error
	if *err == nil || !errors.As(*err, &se) {
		return
	}
	errno := se.SystemErrno
	if errno == 0 {
		switch se.Code {
		case sqlite3.ErrFull:
			errno = syscall.ENOSPC
		case sqlite3.ErrReadonly:
			errno = syscall.EROFS
		case sqlite3.ErrPerm, sqlite3.ErrCantOpen:
			errno = syscall.EACCES
		case sqlite3.ErrIoErr:
			errno = syscall.EIO
		default:
			return
		}
	}
	*err = fmt.Errorf("%w (%w)", *err, errno)
}
