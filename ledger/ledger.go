// Package ledger is the firmware ledger on top of the transparency log
// (package log): it decides what is logged and serves what devices,
// auditors and build systems read. It verifies submissions (release
// statements, SLSA provenance, in-toto layouts and links) under the log's
// keys or policy, refuses other encodings of logged statements and answers
// copies with the logged index, keeps the lookup keys by which statements
// are found, assembles offline proof bundles, stores images, and serves the
// HTTP API of docs/API.md.
//
// A submission is a JSON array of entries, each the exact bytes to log
// (here a release in its canonical DSSE encoding, shortened):
//
//	POST /v1/entries
//	[{"payloadType":"application/vnd.in-toto+json","payload":"eyJfdHlwZSI6...","signatures":[{"keyid":"...","sig":"..."}]}]
//
// and its answer gives each entry's index and leaf hash, in hex, and says
// which were logged already:
//
//	[{"index":41,"leaf_hash":"9f2c46e0...b1"}]
package ledger

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fwledger/fwledger/cas"
	"github.com/fwledger/fwledger/keys"
	"github.com/fwledger/fwledger/log"
	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/report"
	reportstore "github.com/fwledger/fwledger/report/store"
	"github.com/fwledger/fwledger/trust"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Ledger.
type Config struct {
	// ReleaseKeys are the keys whose release statements the log accepts.
	ReleaseKeys *keys.Ring
	// BuilderKeys are the keys whose provenance the log accepts.
	BuilderKeys *keys.Ring
	// RequireProvenance refuses releases that endorse no provenance. It
	// should only be off for a log migrating from unattested releases.
	RequireProvenance bool
	// Policy, when set, must pass for every model of every release the log
	// takes (reproducibility excepted: rebuilds come after the release).
	// Its builders' keys should be among BuilderKeys. Without it, releases
	// are judged by the one rule of the keys (provenance.KeyPolicy).
	Policy *provenance.Policy
	// Keyless verifies Sigstore bundle entries; with a Policy, the log
	// accepts keyless provenance from the policy's keyless builders.
	Keyless provenance.KeylessVerifier
	// LayoutKeys are keys the log accepts in-toto layouts from, besides the
	// layout keys of the Policy.
	LayoutKeys []*keys.PublicKey
	// RevocationKeys sign revocations; RevocationThreshold of them (default
	// 1) must sign one. Without them the log accepts no revocation. They
	// are apart from the release keys (docs/FORMATS.md, "Revocations").
	RevocationKeys      *keys.Ring
	RevocationThreshold int
	// ProbeKeys sign the probes auditors submit as canaries (provenance.Probe,
	// docs/AUDIT.md); one of them must sign a probe. Without them the log
	// accepts no probe.
	ProbeKeys *keys.Ring
	// MaxClockSkew is how far in the future a statement's times (a
	// release's created, a build's startedOn and finishedOn) may be, by the
	// log's clock (default 10 minutes).
	MaxClockSkew time.Duration
	// DeviceTrust are signed device trust files (package trust)
	// that the log hands devices with their updates (GET /v1/updates
	// ?trust=N): devices verify them against the trust file they hold.
	DeviceTrust [][]byte
	// Images stores firmware images by digest; nil disables image upload.
	Images *cas.Store
	// Blobs stores Sigstore bundles too large for a tile entry, by digest;
	// the log then logs a provenance.Reference in their place. Nil refuses
	// them.
	Blobs *cas.Store
	// Devices are the devices whose outcome reports the log takes, and
	// Reports keeps them (see AddReport): report/sqlite's store for a log
	// of its own, report/mysql's for frontends sharing a database.
	// Without Devices, the log takes no reports.
	Devices *report.Devices
	Reports reportstore.Store

	// Logger receives structured logs (default slog.Default()).
	Logger *slog.Logger
	// Registerer receives the ledger's metrics (default: not registered).
	Registerer prometheus.Registerer
}

// A Ledger admits firmware statements to a log and serves them.
type Ledger struct {
	log    *log.Log
	cfg    Config
	logger *slog.Logger
	// policy judges releases: Config.Policy, or the one rule of the keys.
	policy *provenance.Policy
	// deviceTrust are Config.DeviceTrust, parsed, by version.
	deviceTrust []*trust.File
	// deltaSem admits one delta check at a time.
	deltaSem chan struct{}
	metrics  *metrics
	// inflight serializes submissions of one statement (see addAll).
	inflight keyLock
	// signerCache holds the signers of logged entries by index, and
	// entryCache integrated entries, checked and parsed.
	signerCache *lru.Cache[uint64, []string]
	entryCache  *lru.Cache[uint64, *Statement]
	// allSignerCache holds the trusted keys whose signatures on logged
	// entries verify, revoked ones included (see allSigners), and trusted
	// is every key the log trusts, of any role.
	allSignerCache *lru.Cache[uint64, []string]
	trusted        *keys.Ring
	// revs is the revocations the log applies to submissions.
	revs revocations
	// frozen is the successor's verifier key once the log handed over.
	// Submissions hold freezeMu for reading from their checks until they
	// are sequenced, Freeze for writing: no entry follows the handover.
	frozen   atomic.Pointer[string]
	freezeMu sync.RWMutex
	// reports is nil when the log takes no device reports.
	reports *deviceReports
	// probes limits each probe key's probes.
	probes *rateLimiter
}

// New returns the ledger over lg, a log not yet running: it first brings
// the lookup keys of lg's entries up to date (rebuilding them once after an
// upgrade that changed them, with progress logged).
func New(ctx context.Context, lg *log.Log, cfg Config) (*Ledger, error) {
	if lg == nil {
		return nil, errors.New("ledger: a log is required")
	}
	if cfg.MaxClockSkew <= 0 {
		cfg.MaxClockSkew = 10 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	l := &Ledger{log: lg, cfg: cfg, logger: cfg.Logger, policy: cfg.Policy, metrics: newMetrics(cfg.Registerer)}
	if l.policy == nil {
		l.policy = provenance.KeyPolicy(provenance.KeyTrust{
			ReleaseKeys: cfg.ReleaseKeys, BuilderKeys: cfg.BuilderKeys, RequireProvenance: cfg.RequireProvenance,
		})
	}
	l.deltaSem = make(chan struct{}, 1)
	l.probes = newRateLimiter(ProbeRate, ProbeBurst)
	l.signerCache, _ = lru.New[uint64, []string](4096)
	l.allSignerCache, _ = lru.New[uint64, []string](4096)
	l.trusted = l.trustedKeys()
	l.entryCache, _ = lru.New[uint64, *Statement](4096)
	if cfg.RevocationThreshold <= 0 {
		l.cfg.RevocationThreshold = 1
	}
	if n := cfg.RevocationKeys.Len(); n > 0 && l.cfg.RevocationThreshold > n {
		return nil, fmt.Errorf("ledger: the revocation threshold %d is more than the %d revocation keys", l.cfg.RevocationThreshold, n)
	}
	for i, signed := range cfg.DeviceTrust {
		tf, err := trust.Parse(ctx, signed)
		if err != nil {
			return nil, fmt.Errorf("ledger: device trust file %d: %w", i, err)
		}
		l.deviceTrust = append(l.deviceTrust, tf)
	}
	slices.SortFunc(l.deviceTrust, func(a, b *trust.File) int { return cmp.Compare(a.Version, b.Version) })
	var err error
	if l.reports, err = newDeviceReports(cfg, lg); err != nil {
		return nil, err
	}
	if err := l.reindex(ctx); err != nil {
		return nil, err
	}
	l.revs.scanned = -1
	if err := l.scanRevocations(ctx); err != nil {
		return nil, err
	}
	if _, successor, ok, err := handoverIndex(ctx, lg); err != nil {
		return nil, fmt.Errorf("couldn't read the handover entry: %w", err)
	} else if ok {
		l.frozen.Store(&successor)
	}
	return l, nil
}

// Log returns the log the ledger admits entries to.
func (l *Ledger) Log() *log.Log { return l.log }
