// Package fwtest is fwledger's test harness: it builds the real parts tests
// run against, such as deterministic keys, signed releases, and a log on
// SQLite in a temporary directory behind an HTTP server on 127.0.0.1.
package fwtest

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/fwledger/fwledger/bundle"
	"github.com/fwledger/fwledger/cas"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/ledger"
	"github.com/fwledger/fwledger/log"
	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/report"
	reportstore "github.com/fwledger/fwledger/report/store"
	"github.com/fwledger/fwledger/tiles"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	flog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/formats/proof"
	"golang.org/x/mod/sumdb/note"
)

// Key returns the Ed25519 key named name, derived from the name so that
// tests are reproducible.
func Key(name string) *keys.PrivateKey {
	seed := sha256.Sum256([]byte("fwledger test key " + name))
	return &keys.PrivateKey{Name: name, Key: ed25519.NewKeyFromSeed(seed[:])}
}

// Signer returns k's DSSE signer.
func Signer(t testing.TB, k *keys.PrivateKey) dsse.SignerVerifier {
	t.Helper()
	s, err := k.DSSESigner()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Ring returns a key ring of the public halves of ks.
func Ring(t testing.TB, ks ...*keys.PrivateKey) *keys.Ring {
	t.Helper()
	var pubs []*keys.PublicKey
	for _, k := range ks {
		pubs = append(pubs, k.Public())
	}
	r, err := keys.NewRing(pubs...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Image returns a deterministic image of n bytes.
func Image(seed string, n int) []byte {
	out := make([]byte, 0, n+32)
	h := sha256.Sum256([]byte(seed))
	for len(out) < n {
		out = append(out, h[:]...)
		h = sha256.Sum256(h[:])
	}
	return out[:n]
}

// NewRelease returns a valid release of image, changed by edit if non-nil.
func NewRelease(image []byte, edit func(*provenance.Release)) *provenance.Release {
	r := &provenance.Release{
		ImageName:       "fw.bin",
		Image:           sha256.Sum256(image),
		ImageSize:       uint64(len(image)),
		Models:          []string{"acme-x1"},
		Version:         "1.4.0",
		SecurityVersion: 7,
		Channel:         "stable",
		Created:         time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC),
	}
	if edit != nil {
		edit(r)
	}
	return r
}

// SignRelease returns the DSSE envelope of r signed by every key.
func SignRelease(t testing.TB, r *provenance.Release, ks ...*keys.PrivateKey) []byte {
	t.Helper()
	env, err := MakeRelease(r, ks...)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// MakeRelease is SignRelease for callers without a testing.TB.
func MakeRelease(r *provenance.Release, ks ...*keys.PrivateKey) ([]byte, error) {
	stmt, err := r.Statement()
	if err != nil {
		return nil, err
	}
	return MakeEnvelope(stmt, ks...)
}

// SignRevocation returns the DSSE envelope of r signed by every key.
func SignRevocation(t testing.TB, r *provenance.Revocation, ks ...*keys.PrivateKey) []byte {
	t.Helper()
	stmt, err := r.Statement()
	if err != nil {
		t.Fatal(err)
	}
	return SignPayload(t, stmt, ks...)
}

// SignProbe returns the DSSE envelope of p signed by every key.
func SignProbe(t testing.TB, p *provenance.Probe, ks ...*keys.PrivateKey) []byte {
	t.Helper()
	stmt, err := p.Statement()
	if err != nil {
		t.Fatal(err)
	}
	return SignPayload(t, stmt, ks...)
}

// KeyID returns the DSSE key ID of k.
func KeyID(t testing.TB, k *keys.PrivateKey) string {
	t.Helper()
	id, err := k.Public().KeyID()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// SignPayload signs arbitrary payload bytes as an in-toto DSSE envelope.
func SignPayload(t testing.TB, payload []byte, ks ...*keys.PrivateKey) []byte {
	t.Helper()
	env, err := MakeEnvelope(payload, ks...)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// MakeEnvelope is SignPayload for callers without a testing.TB.
func MakeEnvelope(payload []byte, ks ...*keys.PrivateKey) ([]byte, error) {
	var signers []dsse.SignerVerifier
	for _, k := range ks {
		s, err := k.DSSESigner()
		if err != nil {
			return nil, err
		}
		signers = append(signers, s)
	}
	return provenance.Sign(context.Background(), payload, signers...)
}

// LogKey is the key of test logs; its name is the origin.
var LogKey = Key("example.com/testlog")

// The well-known keys of tests and of the committed test vectors, each
// derived from its name (see Key), so that every test means the same key by
// the same name.
var (
	Release1 = Key("example.com/release-1")
	Release2 = Key("example.com/release-2")
	Release3 = Key("example.com/release-3")
	// Security1 to Security3 are the vendor's revocation keys.
	Security1 = Key("example.com/security-1")
	Security2 = Key("example.com/security-2")
	Security3 = Key("example.com/security-3")
	// Builder signs a CI system's provenance; OtherBuilder another
	// builder's, Rebuilder an independent rebuild's; Stranger is a builder
	// no test trusts.
	Builder      = Key("builder.example.com/ci")
	OtherBuilder = Key("builder.example.com/other")
	Rebuilder    = Key("rebuilder.example.org/r1")
	Stranger     = Key("builder.evil.example/x")
	// WitnessA to WitnessD are witnesses' keys.
	WitnessA = Key("witness-a.example.org")
	WitnessB = Key("witness-b.example.org")
	WitnessC = Key("witness-c.example.org")
	WitnessD = Key("witness-d.example.org")
	// Device1 and Device2 are devices' own keys, which sign their outcome
	// reports (package report).
	Device1 = Key("dev-0001.acme.example")
	Device2 = Key("dev-0002.acme.example")
	// Prober is an auditor's probe key (provenance.Probe).
	Prober = Key("auditor.example.net/probe")
)

// Log is a running log for tests: the ledger, and the log mechanism under
// it (Log).
type Log struct {
	*ledger.Ledger
	Log    *log.Log
	Store  log.Storage
	Server *httptest.Server
	Dir    string
	URL    string
	cancel context.CancelFunc
	done   chan error

	// Reports is the report store, with LogOptions.Devices.
	Reports reportstore.Store
}

// LogOptions adjusts a test log.
type LogOptions struct {
	Dir         string // data directory (default: a new temporary one)
	ReleaseKeys []*keys.PrivateKey
	BuilderKeys []*keys.PrivateKey
	// BuilderPubKeys are more builder keys, for builders whose private key
	// tests do not have (real producers').
	BuilderPubKeys []*keys.PublicKey
	// RequireProvenance makes the log refuse releases without provenance.
	RequireProvenance bool
	Policy            *provenance.Policy
	Keyless           provenance.KeylessVerifier
	LayoutKeys        []*keys.PublicKey
	Key               *keys.PrivateKey
	Interval          time.Duration
	QueueSize         int
	// Witnesser and the witness options, as in ledger.Config.
	Witnesser       log.Witnesser
	WitnessTimeout  time.Duration
	WitnessRefresh  time.Duration
	WitnessFailOpen bool
	// RevocationKeys sign revocations; RevocationThreshold of them must.
	RevocationKeys      []*keys.PrivateKey
	RevocationThreshold int
	// ProbeKeys sign the probes the log accepts.
	ProbeKeys []*keys.PrivateKey
	// DeviceTrust are signed device trust files for updates.
	DeviceTrust [][]byte
	// Devices are the devices whose reports the log takes; nil takes none
	// (an empty, non-nil slice takes reports and knows no device).
	// StartLog opens report/sqlite's store in Dir with ReportOptions,
	// unless Reports is given.
	Devices       []*keys.PrivateKey
	ReportOptions reportstore.Options
	// Reports is the report store OpenLog gives the ledger with Devices
	// (any store.Store: a test may give report/mysql's); Log.Stop closes
	// it.
	Reports reportstore.Store
	// Logger receives the log's logs (default: discarded).
	Logger *slog.Logger
	// Registerer receives the ledger's metrics (default: not registered).
	Registerer prometheus.Registerer
}

// StartLog starts a log on SQLite in a temporary directory with an HTTP
// server on 127.0.0.1, stopped when the test ends.
func StartLog(t testing.TB, o LogOptions) *Log {
	t.Helper()
	ctx := context.Background()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	if o.Key == nil {
		o.Key = LogKey
	}
	if o.Interval == 0 {
		o.Interval = 5 * time.Millisecond
	}
	store, err := OpenStorage(t, o.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if o.Devices != nil && o.Reports == nil {
		if o.Reports, err = openReports(t, store, o.Dir, o.ReportOptions); err != nil {
			store.Close()
			t.Fatal(err)
		}
	}
	l, err := OpenLog(ctx, store, o)
	if err != nil {
		store.Close()
		if o.Reports != nil {
			o.Reports.Close()
		}
		t.Fatal(err)
	}
	tl := &Log{Ledger: l, Log: l.Log(), Store: store, Reports: o.Reports, Dir: o.Dir, done: make(chan error, 1)}
	var rctx context.Context
	rctx, tl.cancel = context.WithCancel(ctx)
	go func() { tl.done <- tl.Log.Run(rctx) }()
	tl.Server = httptest.NewServer(ledger.NewHandler(l))
	tl.URL = tl.Server.URL
	t.Cleanup(func() { tl.Stop(t) })
	return tl
}

// OpenLog opens a log over store, and the ledger over it with the options'
// keys.
func OpenLog(ctx context.Context, store log.Storage, o LogOptions) (*ledger.Ledger, error) {
	if o.Key == nil {
		o.Key = LogKey
	}
	signer, err := o.Key.NoteSigner()
	if err != nil {
		return nil, err
	}
	verifier, err := o.Key.Public().NoteVerifier()
	if err != nil {
		return nil, err
	}
	vkey, _ := o.Key.Public().VerifierKey()
	ring, err := ringOf(o.ReleaseKeys)
	if err != nil {
		return nil, err
	}
	builders, err := ringOf(o.BuilderKeys)
	if err != nil {
		return nil, err
	}
	if len(o.BuilderPubKeys) > 0 {
		extra, err := keys.NewRing(o.BuilderPubKeys...)
		if err != nil {
			return nil, err
		}
		builders = keys.Merge(builders, extra)
	}
	images, err := cas.Open(o.Dir + "/images")
	if err != nil {
		return nil, err
	}
	blobs, err := cas.Open(o.Dir + "/entries")
	if err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		if os.Getenv("FWLEDGER_TEST_LOG") != "" {
			o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
	}
	l, err := log.New(ctx, log.Config{
		Signer: signer, Verifier: verifier, VerifierKey: vkey, Storage: store,
		IntegrateInterval: o.Interval, QueueSize: o.QueueSize,
		Witnesser: o.Witnesser, WitnessTimeout: o.WitnessTimeout, WitnessRefresh: o.WitnessRefresh, WitnessFailOpen: o.WitnessFailOpen,
		Extensions: ledger.CheckpointExtensions(), Logger: o.Logger,
	})
	if err != nil {
		return nil, err
	}
	revokers, err := ringOf(o.RevocationKeys)
	if err != nil {
		return nil, err
	}
	probers, err := ringOf(o.ProbeKeys)
	if err != nil {
		return nil, err
	}
	var devices *report.Devices
	if o.Devices != nil {
		var pubs []*keys.PublicKey
		for _, k := range o.Devices {
			pubs = append(pubs, k.Public())
		}
		if devices, err = report.NewDevices(pubs...); err != nil {
			return nil, err
		}
	}
	return ledger.New(ctx, l, ledger.Config{
		ReleaseKeys: ring, BuilderKeys: builders, RequireProvenance: o.RequireProvenance, Policy: o.Policy, Keyless: o.Keyless, LayoutKeys: o.LayoutKeys,
		RevocationKeys: revokers, RevocationThreshold: o.RevocationThreshold, ProbeKeys: probers,
		Images: images, Blobs: blobs, Devices: devices, Reports: o.Reports, Logger: o.Logger, Registerer: o.Registerer, DeviceTrust: o.DeviceTrust,
	})
}

func ringOf(ks []*keys.PrivateKey) (*keys.Ring, error) {
	var pubs []*keys.PublicKey
	for _, k := range ks {
		pubs = append(pubs, k.Public())
	}
	return keys.NewRing(pubs...)
}

// Stop shuts the log down (idempotent).
func (l *Log) Stop(t testing.TB) {
	if l.cancel == nil {
		return
	}
	l.Server.Close()
	l.cancel()
	if err := <-l.done; err != nil {
		t.Errorf("log.Run: %v", err)
	}
	l.cancel = nil
	if err := l.Store.Close(); err != nil {
		t.Errorf("closing storage: %v", err)
	}
	if l.Reports != nil {
		if err := l.Reports.Close(); err != nil {
			t.Errorf("closing the report store: %v", err)
		}
	}
}

// WaitSize waits until the published checkpoint covers size entries.
func (l *Log) WaitSize(t testing.TB, size uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, s := l.Log.Checkpoint(); s >= size {
			return
		}
		if time.Now().After(deadline) {
			_, s := l.Log.Checkpoint()
			t.Fatalf("log size is still %d after 10s, want %d", s, size)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// OfflineBundle builds, without a log server, a tree of the given entries in
// memory, signs a checkpoint for it with logKey, and returns the bundle for
// entries[index]. Tests use it to make bundles a real log would refuse to
// produce (such as one whose release has a bad signature).
func OfflineBundle(t testing.TB, logKey *keys.PrivateKey, entries [][]byte, index int) []byte {
	t.Helper()
	b, err := MakeBundle(logKey, entries, index)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// MakeBundle is OfflineBundle for callers without a testing.TB.
func MakeBundle(logKey *keys.PrivateKey, entries [][]byte, index int) ([]byte, error) {
	return MakeBundleWith(logKey, entries, index)
}

// MakeBundleWith is MakeBundle with entries[prov...] as the bundle's
// provenance entries.
func MakeBundleWith(logKey *keys.PrivateKey, entries [][]byte, index int, prov ...int) ([]byte, error) {
	stored := map[tiles.ID][]byte{}
	bld := tiles.NewBuilder(tiles.RangeFactory.NewEmptyRange(0), func(id tiles.ID) ([]byte, error) { return stored[id], nil })
	for _, e := range entries {
		if err := bld.Append(tiles.LeafHash(e)); err != nil {
			return nil, err
		}
	}
	changed, err := bld.Tiles()
	if err != nil {
		return nil, err
	}
	for id, d := range changed {
		stored[id] = d
	}
	size := uint64(len(entries))
	root, err := bld.Range().GetRootHash(nil)
	if err != nil {
		return nil, err
	}
	r := tiles.NewReader(tiles.Expanding(func(_ context.Context, id tiles.ID) ([]byte, error) { return stored[id], nil }))
	signer, err := logKey.NoteSigner()
	if err != nil {
		return nil, err
	}
	cp, err := note.Sign(&note.Note{Text: string(flog.Checkpoint{Origin: logKey.Name, Size: size, Hash: root}.Marshal())}, signer)
	if err != nil {
		return nil, err
	}
	entry := func(i int) (bundle.Entry, error) {
		hashes, err := r.InclusionProof(context.Background(), uint64(i), size)
		if err != nil {
			return bundle.Entry{}, err
		}
		tp := proof.TLogProof{Index: uint64(i), Checkpoint: cp}
		for _, h := range hashes {
			tp.Hashes = append(tp.Hashes, [32]byte(h))
		}
		return bundle.Entry{Data: entries[i], Proof: tp}, nil
	}
	b := &bundle.Bundle{}
	if b.Release, err = entry(index); err != nil {
		return nil, err
	}
	for _, i := range prov {
		e, err := entry(i)
		if err != nil {
			return nil, err
		}
		b.Provenance = append(b.Provenance, e)
	}
	return b.Marshal()
}

// PubFiles returns the public key files of ks by name, for Policy.
func PubFiles(t testing.TB, ks map[string]*keys.PrivateKey) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for name, k := range ks {
		pub, err := k.Public().Marshal()
		if err != nil {
			t.Fatal(err)
		}
		out[name] = pub
	}
	return out
}

// Policy parses a policy file whose key and trusted-root files are in
// files, by name, or fails the test.
func Policy(t testing.TB, text string, files map[string][]byte) *provenance.Policy {
	t.Helper()
	p, err := provenance.ParsePolicy([]byte(text), func(name string) ([]byte, error) {
		if data, ok := files[name]; ok {
			return data, nil
		}
		return nil, fmt.Errorf("no file %q", name)
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}
