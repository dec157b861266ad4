// Command fwwitness runs a C2SP tlog-witness: it cosigns the checkpoints of
// the logs it follows and refuses any rollback or fork.
//
//	fwwitness serve --key keys/witness-a.key --logs logs.txt --data ./witness-a --addr 127.0.0.1:8181
//
// --key may also be a PKCS #11 URI of a key held in a token (see fwctl
// keygen --pkcs11): pkcs11:token=…;object=<witness name>?module-path=…&pin-source=file:….
//
// Run "fwwitness serve --help" for every flag.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/fwledger/fwledger/cmd/internal/cli"
	"github.com/fwledger/fwledger/internal/server"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/witness"
	"golang.org/x/mod/sumdb/note"
)

const usage = `fwwitness runs a C2SP tlog-witness for fwledger logs.

Usage:
  fwwitness serve [flags]        run the witness server (fwwitness serve --help for flags)
  fwwitness vkey --key K         print the cosignature/v1 verifier key of a witness key (a file or a PKCS#11 URI),
                                 for the witness lines of a tlog-policy
  fwwitness help                 show this help

Exit status: 0 after a clean shutdown, 1 on an error, 2 on a usage error.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	return cli.Run("fwwitness", usage, args, stdout, stderr, map[string]cli.Command{"serve": serve, "vkey": vkey})
}

func vkey(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fwwitness vkey", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyFile := fs.String("key", "", "witness private or public key `file`, or PKCS#11 URI")
	if code, ok := cli.ParseFlags(fs, args); !ok {
		return code
	}
	if *keyFile == "" {
		fmt.Fprintln(stderr, "usage: fwwitness vkey --key FILE")
		return 2
	}
	var pub *keys.PublicKey
	var err error
	if cli.IsPKCS11(*keyFile) {
		var priv *keys.PrivateKey
		if priv, err = cli.LoadSigner(*keyFile); err == nil {
			pub = priv.Public()
			priv.Close()
		}
	} else if pub, err = keys.LoadPublic(*keyFile); err != nil {
		if priv, perr := keys.LoadPrivate(*keyFile); perr == nil {
			pub, err = priv.Public(), nil
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "fwwitness vkey: %v\n", err)
		return 1
	}
	v, err := pub.CosignatureVerifierKey()
	if err != nil {
		fmt.Fprintf(stderr, "fwwitness vkey: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, v)
	return 0
}

func serve(args []string, _, stderr io.Writer) int {
	fs := flag.NewFlagSet("fwwitness serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var keyFiles cli.Strings
	var (
		logsFile  = fs.String("logs", "", "log list `file`: one tlog-policy log line (\"log <vkey> [<url>]\") per followed log; the vkey's name is the log's origin (required)")
		dataDir   = fs.String("data", "./witness", "data `directory`: the SQLite state of the witness")
		rateLimit = fs.Float64("rate-limit", 50, "most add-checkpoint requests per second, per log, that advance the log's state (0: no limit); other requests (the latest checkpoint again, older ones, forks) have no limit and cost no write")
		burst     = fs.Int("burst", 100, "requests advancing one log's state that may come at once beyond the rate")
		srv       = cli.AddServerFlags(fs, cli.ServerDefaults{
			Addr: "127.0.0.1:8181", Shutdown: 10 * time.Second, MaxConns: 256, BodyBudget: 4 << 20, MaxBody: witness.MaxRequestSize,
			BodyTimeoutHelp: "time an add-checkpoint body has to arrive (408 after it)",
			BodyBudgetHelp:  "most request body bytes held in memory at once, e.g. 4MiB (503 with Retry-After beyond)",
		})
	)
	fs.Var(&keyFiles, "key", "witness private key `file`, or PKCS#11 URI of a key in a token labelled with the witness's name (repeatable: each key cosigns, for a key rotation)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: fwwitness serve --key FILE --logs FILE [flags]\n\nServes POST /add-checkpoint (C2SP tlog-witness), GET /checkpoint/<origin>, GET /forks and /metrics until SIGINT or SIGTERM.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if code, ok := cli.ParseFlags(fs, args); !ok {
		return code
	}
	if len(keyFiles) == 0 || *logsFile == "" {
		fmt.Fprintln(stderr, "fwwitness serve: --key and --logs are required (fwwitness serve --help)")
		return 2
	}
	logger, err := srv.Logger(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "fwwitness serve: %v\n", err)
		return 2
	}
	fail := func(msg string, err error) int {
		logger.Error(msg, "err", err)
		return 1
	}
	limits, err := srv.Limits()
	if err != nil {
		logger.Error("invalid flags", "err", err)
		return 2
	}

	var signers []note.Signer
	var vkeys []string
	ks, closeKeys, err := cli.LoadSigners(keyFiles)
	if err != nil {
		return fail("couldn't load the witness key", err)
	}
	defer closeKeys()
	for i, k := range ks {
		f := keyFiles[i]
		s, err := k.CosignatureSigner()
		if err != nil {
			return fail("the witness key cannot cosign", fmt.Errorf("%s: %w", f, err))
		}
		v, err := k.Public().CosignatureVerifierKey()
		if err != nil {
			return fail("the witness key cannot cosign", fmt.Errorf("%s: %w", f, err))
		}
		signers = append(signers, s)
		vkeys = append(vkeys, v)
	}
	data, err := os.ReadFile(*logsFile)
	if err != nil {
		return fail("couldn't read the log list", err)
	}
	logs, err := witness.ParseLogList(data)
	if err != nil {
		return fail("invalid log list", fmt.Errorf("%s: %w", *logsFile, err))
	}

	// Listen before the data directory is created, so that a port in use
	// leaves nothing behind.
	ln, err := net.Listen("tcp", *srv.Addr)
	if err != nil {
		return fail("couldn't listen", err)
	}
	defer ln.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	store, err := witness.OpenStore(ctx, *dataDir)
	if err != nil {
		return fail("couldn't open the data directory", err)
	}
	defer store.Close()
	reg := server.NewRegistry()
	w, err := witness.New(ctx, witness.Config{
		Signers: signers, VerifierKeys: vkeys, Logs: logs, Store: store,
		RateLimit: *rateLimit, Burst: *burst,
		Logger: logger, Registerer: reg,
	})
	if err != nil {
		return fail("refusing to start", err)
	}
	logger.Info("witness ready", "addr", ln.Addr().String(), "cosigner_vkeys", vkeys, "logs", logs.Keys())
	if err := server.Serve(ctx, ln, server.Config{
		Name: "fwwitness", Handler: witness.NewHandler(w, logger), Registry: reg, Logger: logger, ShutdownTimeout: *srv.Shutdown, Limits: limits,
	}); err != nil {
		return fail("stopped with errors", err)
	}
	logger.Info("stopped")
	return 0
}
