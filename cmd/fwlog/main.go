// Command fwlog runs the fwledger transparency log server.
//
//	fwlog serve --data ./data --origin example.com/fwlog --release-keys keys/release-1.pub --addr 127.0.0.1:8080
//
// On first start it generates the log key (data/log.key, mode 0600, and
// data/log.pub), unless --key names one: a file, or a key in a PKCS #11
// token (--key 'pkcs11:token=…;object=<origin>?module-path=…&pin-source=file:…').
// Run "fwlog serve --help" for every flag.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	_ "net/http/pprof"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/fwledger/fwledger/api"
	"github.com/fwledger/fwledger/cas"
	"github.com/fwledger/fwledger/cmd/internal/cli"
	"github.com/fwledger/fwledger/explorer"
	"github.com/fwledger/fwledger/handover"
	"github.com/fwledger/fwledger/internal/server"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/ledger"
	"github.com/fwledger/fwledger/log"
	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/provenance/keyless"
	"github.com/fwledger/fwledger/report"
	reportmysql "github.com/fwledger/fwledger/report/mysql"
	reportsqlite "github.com/fwledger/fwledger/report/sqlite"
	reportstore "github.com/fwledger/fwledger/report/store"
	"github.com/fwledger/fwledger/tlogpolicy"
	"github.com/fwledger/fwledger/witness"
)

const usage = `fwlog runs the fwledger transparency log.

Usage:
  fwlog serve [flags]    run the log server (fwlog serve --help for flags)
  fwlog fsck [flags]     check a stopped log's storage: every entry, the tree, the checkpoints
  fwlog help             show this help

Exit status: 0 after a clean shutdown, 1 on an error, 2 on a usage error.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	return cli.Run("fwlog", usage, args, stdout, stderr, map[string]cli.Command{"serve": serve, "fsck": fsck})
}

func serve(args []string, _, stderr io.Writer) int {
	fs := flag.NewFlagSet("fwlog serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		dataDir      = fs.String("data", "./data", "data `directory`: SQLite database, log key, images")
		origin       = fs.String("origin", "", "checkpoint origin and log key name, e.g. example.com/fwlog (required on first start; afterwards taken from the key)")
		keyFile      = fs.String("key", "", "log private key `file` (default <data>/log.key, generated on first start), or a PKCS#11 URI of a key in a token labelled with the origin (pkcs11:token=…;object=<origin>?module-path=…&pin-source=file:…, made by fwctl keygen --pkcs11)")
		releaseKeys  cli.Strings
		builderKeys  cli.Strings
		layoutKeys   cli.Strings
		revokeKeys   cli.Strings
		probeKeys    cli.Strings
		deviceTrust  cli.Strings
		revokeK      = fs.Int("revocation-threshold", 1, "how many distinct --revocation-keys must sign a revocation")
		successor    = fs.String("successor", "", "FREEZE the log: the public key `file` of the log it hands over to (a new origin); the log logs the handover, takes no more entries, names the successor in its checkpoints, and keeps serving reads")
		requireProv  = fs.Bool("require-provenance", true, "refuse releases that endorse no provenance; set false only for a log migrating from unattested releases")
		policyFile   = fs.String("policy", "", "policy `file` every release must pass (its builders' keys are accepted for provenance)")
		interval     = fs.Duration("integrate-interval", 50*time.Millisecond, "least time between integrations into a signed checkpoint")
		batch        = fs.Int("integrate-batch", 8192, "most entries integrated in one step")
		queue        = fs.Int("queue-size", 16384, "submissions waiting to be sequenced before new ones get 503")
		tileCache    = fs.Int("tile-cache", 4096, "expanded tiles cached for proofs (about 16 KiB each)")
		noImages     = fs.Bool("no-images", false, "disable the image store (PUT /v1/images)")
		pprofAddr    = fs.String("pprof-addr", "", "serve Go's net/http/pprof on this `address` (off by default; never expose it)")
		witPolicy    = fs.String("witness-policy", "", "C2SP tlog-policy `file`: publish only checkpoints cosigned by its quorum of witnesses (each witness line needs a URL)")
		witTimeout   = fs.Duration("witness-timeout", 5*time.Second, "how long one round of cosigning may take before it is retried")
		witRefresh   = fs.Duration("witness-refresh", time.Minute, "how often an unchanged checkpoint is cosigned again, to keep its timestamps fresh")
		witFailOpen  = fs.Bool("witness-fail-open", false, "DEVELOPMENT ONLY: publish checkpoints without the witness quorum when a round fails")
		explore      = fs.Bool("explorer", true, "serve the web explorer (pages for people) at / beside the API")
		exploreRate  = fs.Float64("explorer-rate", explorer.DefaultRate, "the most explorer pages started a second, on average (bursts of twice as many); more wait up to a second, then are answered 503; 0: no bound")
		explorePages = fs.Int("explorer-pages", 0, "the most explorer pages rendered at once; more wait up to a second, then are answered 503 (default half the CPUs, at least 1)")
		clockSkew    = fs.Duration("max-clock-skew", 10*time.Minute, "how far in the future, by this log's clock, a statement's times may be (a release's created, a build's startedOn and finishedOn)")
		contentDir   = fs.String("content-dir", "", "`directory` of uploaded images and of entries too large for a tile (default <data>); with --backend trillian, one directory every frontend shares (docs/DEPLOYMENT.md)")
		leaseTTL     = fs.Duration("lease-ttl", 10*time.Second, "--backend trillian: how long the publisher lease lasts unless renewed; when the publishing frontend dies another takes over within it")
		backend      = addBackendFlags(fs)
		deviceKeys   = fs.String("device-keys", "", "`file` of the public keys of the devices whose outcome reports the log takes (POST /v1/reports), one signed-note verifier key a line; read again on SIGHUP (off by default)")
		srv          = cli.AddServerFlags(fs, cli.ServerDefaults{
			Addr: "127.0.0.1:8080", Shutdown: 30 * time.Second, MaxConns: server.DefaultMaxConns, BodyBudget: server.DefaultBodyBudget, MaxBody: api.MaxSubmissionSize,
			BodyTimeoutHelp: "time a submission's body has to arrive (408 after it); image uploads get it as a grace period",
			BodyBudgetHelp:  "most submission bytes held in memory at once, e.g. 64MiB (503 with Retry-After beyond); a quarter is kept for bodies of at most 16 KiB",
		})
		uploadRate = cli.Bytes(server.DefaultUploadMinRate)
	)
	fs.Var(&releaseKeys, "release-keys", "release public key `file` whose signatures the log accepts (repeatable)")
	fs.Var(&builderKeys, "builder-keys", "builder public key `file` whose provenance the log accepts (repeatable)")
	fs.Var(&layoutKeys, "layout-keys", "public key `file` whose in-toto layouts the log accepts (repeatable)")
	fs.Var(&deviceTrust, "device-trust", "a signed device trust `file` to hand devices with their updates (GET /v1/updates?trust=N; repeatable)")
	fs.Var(&revokeKeys, "revocation-keys", "revocation public key `file`: --revocation-threshold of them sign a revocation the log accepts (repeatable; or the policy's revocation section)")
	fs.Var(&probeKeys, "probe-keys", "public key `file` of an auditor whose probes (canary statements, docs/AUDIT.md) the log accepts (repeatable; off by default)")
	fs.Var(&uploadRate, "upload-min-rate", "least rate, in bytes per second, an image upload must keep up after --body-timeout, e.g. 64KiB")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: fwlog serve [flags]\n\nRuns the log until SIGINT or SIGTERM: on embedded SQLite in --data, or, with --backend trillian,\nas one of any number of frontends of a log on Google Trillian and MySQL (docs/DEPLOYMENT.md).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if code, ok := cli.ParseFlags(fs, args); !ok {
		return code
	}
	logger, err := srv.Logger(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "fwlog serve: %v\n", err)
		return 2
	}
	fail := func(msg string, err error) int {
		logger.Error(msg, "err", err)
		return 1
	}
	usageErr := func(err error) int {
		logger.Error("invalid flags", "err", err)
		return 2
	}

	// Nothing is created until every flag and input file is checked and
	// the port is bound: a mistake leaves no data directory or key behind.
	limits, err := srv.Limits()
	if err != nil {
		return usageErr(err)
	}
	limits.UploadMinRate = int64(uploadRate)
	switch {
	case *witFailOpen && *witPolicy == "":
		return usageErr(errors.New("--witness-fail-open needs --witness-policy"))
	case *revokeK < 1:
		return usageErr(errors.New("--revocation-threshold must be at least 1"))
	case *clockSkew <= 0:
		return usageErr(errors.New("--max-clock-skew must be positive"))
	case uploadRate <= 0:
		return usageErr(errors.New("--upload-min-rate must be positive"))
	case *batch <= 0 || *queue <= 0 || *tileCache <= 0 || *interval <= 0 || *witTimeout <= 0 || *witRefresh <= 0 || *leaseTTL <= 0:
		return usageErr(errors.New("--integrate-batch, --queue-size, --tile-cache and every duration must be positive"))
	}
	if err := backend.check(); err != nil {
		return usageErr(err)
	}
	if *contentDir == "" {
		*contentDir = *dataDir
	}

	ring, err := cli.LoadRing(releaseKeys)
	if err != nil {
		return fail("invalid --release-keys", err)
	}
	builders, err := cli.LoadRing(builderKeys)
	if err != nil {
		return fail("invalid --builder-keys", err)
	}
	revokers, err := cli.LoadRing(revokeKeys)
	if err != nil {
		return fail("invalid --revocation-keys", err)
	}
	probers, err := cli.LoadRing(probeKeys)
	if err != nil {
		return fail("invalid --probe-keys", err)
	}
	if revokers.Len() > 0 && *revokeK > revokers.Len() {
		return usageErr(fmt.Errorf("--revocation-threshold %d is more than the %d --revocation-keys", *revokeK, revokers.Len()))
	}
	var layouts []*keys.PublicKey
	for _, f := range layoutKeys {
		k, err := keys.LoadPublic(f)
		if err != nil {
			return fail("invalid --layout-keys", err)
		}
		layouts = append(layouts, k)
	}
	for _, id := range revokers.IDs() {
		if _, ok := ring.Lookup(id); ok {
			return usageErr(fmt.Errorf("revocation key %s is also a --release-keys key: keep the two roles apart", id))
		}
	}
	var devices *report.Devices
	if *deviceKeys != "" {
		if devices, err = loadDevices(*deviceKeys); err != nil {
			return fail("invalid --device-keys", err)
		}
	}
	var pol *provenance.Policy
	var kv *keyless.Verifier
	if *policyFile != "" {
		if pol, err = cli.LoadPolicy(*policyFile); err != nil {
			return fail("couldn't load the policy", err)
		}
		pk, err := pol.BuilderKeys()
		if err != nil {
			return fail("invalid policy builder keys", err)
		}
		builders = keys.Merge(builders, pk)
		if pol.RevocationKeys != nil {
			if revokers.Len() > 0 {
				return usageErr(errors.New("the policy names revocation keys: give them there or with --revocation-keys, not both"))
			}
			revokers, *revokeK = pol.RevocationKeys, pol.RevocationThreshold
		}
		if pol.TrustedRoot != nil {
			if kv, err = keyless.NewVerifier(pol.TrustedRoot); err != nil {
				return fail("invalid trusted root in the policy", err)
			}
		}
	}

	if *keyFile == "" {
		*keyFile = filepath.Join(*dataDir, "log.key")
	}
	key, newKey, err := loadKey(*keyFile, *origin)
	if err != nil {
		return fail("couldn't load the log key", err)
	}
	defer key.Close()
	signer, err := key.NoteSigner()
	if err != nil {
		return fail("the log key cannot sign checkpoints", err)
	}
	verifier, err := key.Public().NoteVerifier()
	if err != nil {
		return fail("the log key cannot verify checkpoints", err)
	}
	vkey, _ := key.Public().VerifierKey()

	reg := server.NewRegistry()
	var witnesser log.Witnesser
	var witnessPolicy *tlogpolicy.Policy
	var witnessStatus func() []witness.WitnessStatus
	if *witPolicy != "" {
		wp, err := cli.LoadWitnessPolicy(*witPolicy)
		if err != nil {
			return fail("invalid --witness-policy", err)
		}
		if !slices.ContainsFunc(wp.LogKeys(key.Name), func(l tlogpolicy.Log) bool { return l.VKey == vkey }) {
			return fail("invalid --witness-policy", fmt.Errorf("it has no log line with this log's key %s", vkey))
		}
		col, err := witness.NewCollector(witness.CollectorConfig{Policy: wp, Logger: logger, Registerer: reg})
		if err != nil {
			return fail("invalid --witness-policy", err)
		}
		witnesser, witnessPolicy, witnessStatus = col, wp, col.Status
		var names []string
		for _, w := range wp.Witnesses {
			names = append(names, w.Name+"="+w.URL)
		}
		logger.Info("publishing only witnessed checkpoints", "quorum", wp.Quorum, "witnesses", names)
	}
	if ring.Len() == 0 {
		logger.Warn("no --release-keys given: every release will be refused")
	}
	if builders.Len() == 0 && *requireProv {
		logger.Warn("no --builder-keys given and provenance is required: every release will be refused")
	}
	if !*requireProv {
		logger.Warn("provenance is not required: releases without build provenance are accepted (--require-provenance=false)")
	}
	if *witFailOpen {
		logger.Warn("--witness-fail-open: checkpoints without the witness quorum are published; never use this in production")
	}

	ln, err := net.Listen("tcp", *srv.Addr)
	if err != nil {
		return fail("couldn't listen", err)
	}
	defer ln.Close()
	if *pprofAddr != "" {
		pln, err := net.Listen("tcp", *pprofAddr)
		if err != nil {
			return fail("couldn't listen for pprof", err)
		}
		defer pln.Close()
		logger.Warn("serving pprof", "addr", pln.Addr().String())
		go http.Serve(pln, nil) // net/http/pprof registers on the default mux
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	store, err := backend.open(ctx, *dataDir, logger, reg)
	if err != nil {
		return fail("couldn't open the log's storage", err)
	}
	defer store.close()
	if newKey {
		prefix := strings.TrimSuffix(*keyFile, ".key")
		if err := keys.Write(prefix, key); err != nil {
			return fail("couldn't write the new log key", err)
		}
		logger.Info("generated a new log key", "key", *keyFile, "public", prefix+".pub")
	}
	blobs, err := cas.Open(filepath.Join(*contentDir, "entries"))
	if err != nil {
		return fail("couldn't open the store of large entries", err)
	}
	var reports reportstore.Store // nil unless the log takes reports (--device-keys)
	if devices != nil {
		// Reports live beside the log's own state: in --data, or in the
		// MySQL database every frontend shares.
		if store.db != nil {
			reports, err = reportmysql.Open(ctx, store.db, reportstore.Options{})
		} else {
			reports, err = reportsqlite.Open(ctx, *dataDir, reportsqlite.Options{})
		}
		if err != nil {
			return fail("couldn't open the report database", err)
		}
		defer reports.Close()
	}
	var images *cas.Store
	if !*noImages {
		if images, err = cas.Open(filepath.Join(*contentDir, "images")); err != nil {
			return fail("couldn't open the image store", err)
		}
	}
	// The log mechanism, and the firmware ledger in front of it.
	l, err := log.New(ctx, log.Config{
		Signer:            signer,
		Verifier:          verifier,
		VerifierKey:       vkey,
		Storage:           store.Storage,
		LeaseTTL:          *leaseTTL,
		IntegrateInterval: *interval,
		IntegrateBatch:    *batch,
		QueueSize:         *queue,
		TileCacheSize:     *tileCache,
		Witnesser:         witnesser,
		WitnessTimeout:    *witTimeout,
		WitnessRefresh:    *witRefresh,
		WitnessFailOpen:   *witFailOpen,
		Extensions:        ledger.CheckpointExtensions(),
		Logger:            logger,
		Registerer:        reg,
	})
	if err != nil {
		return fail("refusing to start", err)
	}
	var trustFiles [][]byte
	for _, p := range deviceTrust {
		data, err := os.ReadFile(p)
		if err != nil {
			return fail("invalid --device-trust", err)
		}
		trustFiles = append(trustFiles, data)
	}
	led, err := ledger.New(ctx, l, ledger.Config{
		DeviceTrust:         trustFiles,
		ReleaseKeys:         ring,
		BuilderKeys:         builders,
		RequireProvenance:   *requireProv,
		Policy:              pol,
		Keyless:             keylessOrNil(kv),
		LayoutKeys:          layouts,
		RevocationKeys:      revokers,
		ProbeKeys:           probers,
		RevocationThreshold: *revokeK,
		Images:              images,
		Blobs:               blobs,
		Devices:             devices,
		Reports:             reports,
		MaxClockSkew:        *clockSkew,
		Logger:              logger,
		Registerer:          reg,
	})
	if err != nil {
		return fail("refusing to start", err)
	}
	var successorVKey string
	if *successor != "" {
		k, err := keys.LoadPublic(*successor)
		if err != nil {
			return fail("invalid --successor", err)
		}
		if successorVKey, err = k.VerifierKey(); err != nil {
			return fail("invalid --successor", err)
		}
		if err := handover.Check(l.Origin(), successorVKey); err != nil {
			return fail("invalid --successor", err)
		}
		if s := led.Successor(); s != "" && s != successorVKey {
			return fail("invalid --successor", fmt.Errorf("the log is frozen already, with the successor %s", s))
		}
	} else if s := led.Successor(); s != "" {
		logger.Warn("this log is frozen: it takes no entries and its checkpoints name its successor", "successor", s)
	}
	tree, sequenced, err := store.Tree(ctx)
	if err != nil {
		return fail("couldn't read the tree state", err)
	}
	_, published := l.Checkpoint()
	logger.Info("log ready", "origin", l.Origin(), "vkey", vkey,
		"sequenced", sequenced, "integrated", tree.Size, "signed", l.SignedSize(), "published", published,
		"release_keys", ring.IDs(), "builder_keys", builders.IDs(), "require_provenance", *requireProv,
		"revocation_keys", revokers.IDs(), "revocation_threshold", *revokeK, "successor", led.Successor(), "device_reports", devices != nil, "devices", devices.Len())
	if devices != nil {
		reloadDevices(ctx, *deviceKeys, led, logger)
	}

	// The log runs until the HTTP server has finished every request, so
	// that every submission in flight is acknowledged or refused.
	logCtx, logStop := context.WithCancel(context.Background())
	logDone := make(chan error, 1)
	go func() { logDone <- l.Run(logCtx) }()
	if successorVKey != "" {
		// Before the listener serves: no submission can follow the
		// handover entry.
		if err := led.Freeze(ctx, successorVKey); err != nil {
			logStop()
			<-logDone
			return fail("couldn't freeze the log", err)
		}
	}

	handler := ledger.NewHandler(led)
	if *explore {
		ex, err := explorer.New(explorer.Config{
			Ledger:        led,
			Witnesses:     witnessPolicy,
			WitnessStatus: witnessStatus,
			Keys:          keys.Merge(ring, builders, revokers, probers),
			MaxConcurrent: *explorePages,
			Rate:          rateOrNone(*exploreRate),
			Logger:        logger,
			Registerer:    reg,
		})
		if err != nil {
			logStop()
			<-logDone
			return fail("couldn't start the explorer", err)
		}
		handler = ex.Handler(handler)
	}
	srvErr := server.Serve(ctx, ln, server.Config{
		Name: "fwlog", Handler: handler, Registry: reg, Logger: logger, ShutdownTimeout: *srv.Shutdown, Limits: limits,
	})
	logStop()
	runErr := <-logDone
	if srvErr != nil || runErr != nil {
		return fail("stopped with errors", errors.Join(srvErr, runErr))
	}
	_, published = l.Checkpoint()
	logger.Info("stopped", "signed", l.SignedSize(), "published", published)
	return 0
}

// rateOrNone maps --explorer-rate 0 (no bound) to explorer.Config's
// negative rate.
func rateOrNone(r float64) float64 {
	if r <= 0 {
		return -1
	}
	return r
}

// keylessOrNil keeps a nil *keyless.Verifier from becoming a non-nil
// interface.
func keylessOrNil(kv *keyless.Verifier) provenance.KeylessVerifier {
	if kv == nil {
		return nil
	}
	return kv
}

// loadKey loads the log key, or, if the file does not exist, generates one
// named origin without writing it (new is then true): the caller writes it
// once everything else has been checked.
func loadKey(path, origin string) (k *keys.PrivateKey, new bool, err error) {
	if cli.IsPKCS11(path) {
		if k, err = cli.LoadSigner(path); err != nil {
			return nil, false, err
		}
		if origin != "" && origin != k.Name {
			k.Close()
			return nil, false, fmt.Errorf("--origin %q differs from the name of the log key in the token, which is its label %q: the origin of a log cannot change, and a log key in a token is labelled with it (object=%s)",
				origin, k.Name, url.PathEscape(origin))
		}
		return k, false, nil
	}
	k, err = keys.LoadPrivate(path)
	if errors.Is(err, os.ErrNotExist) {
		if origin == "" {
			return nil, false, fmt.Errorf("%s does not exist: give --origin to generate a new log key", path)
		}
		if filepath.Ext(path) != ".key" {
			return nil, false, fmt.Errorf("cannot generate %s: a key file name must end in .key", path)
		}
		if k, err = keys.Generate(nil, origin); err != nil {
			return nil, false, err
		}
		return k, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	if k.Name == "" {
		return nil, false, fmt.Errorf("%s has no signed-note key name; the log key needs one", path)
	}
	if origin != "" && origin != k.Name {
		return nil, false, fmt.Errorf("--origin %q differs from the log key's name %q: the origin of a log cannot change", origin, k.Name)
	}
	return k, false, nil
}
