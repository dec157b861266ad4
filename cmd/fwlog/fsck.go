package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/fwledger/fwledger/cmd/internal/cli"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/log"
	"github.com/fwledger/fwledger/log/sqlite"
)

// fsck checks a stopped log's data directory: exit status 0 when every
// check passes, 3 when storage is corrupt, 1 on an error, 2 on a usage
// error.
func fsck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fwlog fsck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data", "./data", "data `directory` of the log (fwlog must not be running on it)")
	keyFile := fs.String("key", "", "the log's public or private key `file` (default <data>/log.pub)")
	backend := addBackendFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: fwlog fsck [--data DIR] [--key FILE] [--backend trillian --trillian ADDR --tree-id N --mysql DSN]

Checks a log's storage: re-hashes every integrated entry, checks each against
the leaf hash in the tree's tiles, recomputes every tile (at every level) and
the root from the entries, and compares them with the stored tiles, the stored
tree state and the stored (and witnessed) checkpoints, which must verify with
the log's key. It names the first bad
entry. It changes nothing. Stop fwlog first: the data directory is locked.
On the Trillian backend it reads the database the frontends share, and may
run while they do: a tree that grows meanwhile is checked at the size read
first.

Exit status: 0 when every check passes, 3 when the storage is corrupt,
1 on an error, 2 on a usage error.

Flags:
`)
		fs.PrintDefaults()
	}
	if code, ok := cli.ParseFlags(fs, args); !ok {
		return code
	}
	if *keyFile == "" {
		*keyFile = filepath.Join(*dataDir, "log.pub")
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "fwlog fsck: %v\n", err)
		return 1
	}
	pub, err := keys.LoadPublic(*keyFile)
	if err != nil {
		priv, perr := keys.LoadPrivate(*keyFile)
		if perr != nil {
			return fail(fmt.Errorf("the log's key: %w", err))
		}
		pub = priv.Public()
	}
	v, err := pub.NoteVerifier()
	if err != nil {
		return fail(fmt.Errorf("%s: %w", *keyFile, err))
	}
	if err := backend.check(); err != nil {
		fmt.Fprintf(stderr, "fwlog fsck: %v\n", err)
		return 2
	}
	if *backend.backend == "sqlite" {
		if _, err := os.Stat(filepath.Join(*dataDir, sqlite.DatabaseFile)); err != nil {
			return fail(fmt.Errorf("no log database in %s: %w", *dataDir, err))
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	store, err := backend.open(ctx, *dataDir, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		return fail(err)
	}
	defer store.close()
	start, last := time.Now(), time.Now()
	rep, err := log.Fsck(ctx, store, v, func(done, total uint64) {
		if time.Since(last) >= 2*time.Second || done == total {
			last = time.Now()
			rate := float64(done) / time.Since(start).Seconds()
			fmt.Fprintf(stderr, "fwlog fsck: %d of %d entries checked (%.0f/s)\n", done, total, rate)
		}
	})
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "entries: %d integrated, %d sequenced, checked in %s\n", rep.Entries, rep.Sequenced, time.Since(start).Round(time.Millisecond))
	if rep.Bad == 0 {
		fmt.Fprintf(stdout, "ok   every entry hashes to its leaf hash in the tiles\n")
	} else {
		fmt.Fprintf(stdout, "FAIL %d entries do not hash to their leaf hash in the tiles; the first is entry %d\n", rep.Bad, rep.FirstBad)
	}
	if rep.BadTiles == 0 {
		fmt.Fprintf(stdout, "ok   every tile (%d, at every level) is the one the entries make\n", rep.Tiles)
	} else {
		fmt.Fprintf(stdout, "FAIL %d of %d tiles differ from the ones the entries make; the first is %s\n", rep.BadTiles, rep.Tiles, rep.FirstBadTile)
	}
	mark := map[bool]string{true: "ok  ", false: "FAIL"}
	fmt.Fprintf(stdout, "%s the root of the entries, %x, is the stored tree's\n", mark[rep.StateOK], rep.Root)
	for _, c := range rep.Checkpoints {
		fmt.Fprintf(stdout, "%s the entries hash to the stored %s's root %x at size %d\n", mark[c.OK], c.What, c.Root, c.Size)
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(stdout, "FAIL %s\n", p)
	}
	if !rep.OK() {
		return 3
	}
	return 0
}
