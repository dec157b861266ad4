package ledger

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fwledger/fwledger/api"
	"github.com/fwledger/fwledger/internal/server"
	"github.com/fwledger/fwledger/log"
	"github.com/fwledger/fwledger/provenance"
	"github.com/fwledger/fwledger/report"
	reportstore "github.com/fwledger/fwledger/report/store"
	"github.com/fwledger/fwledger/tlogpolicy"
	"github.com/prometheus/client_golang/prometheus"
	flog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// Device reports (package report) are devices' signed accounts of their
// update attempts. The log takes them from registered devices only
// (Config.Devices), keeps them in a database of their own
// (Config.Reports), never in its tree, and serves them to auditors, who
// compare the checkpoints devices held with those the log published.

// Rate of each device's reports: ReportBurst at once, then one a second
// (docs/API.md, "Limits").
const (
	ReportRate  = 1.0
	ReportBurst = 10
)

// ErrReportsDisabled is returned by the report methods of a log that takes
// no device reports (no Config.Devices).
var ErrReportsDisabled = log.NotFoundf("device reports are not enabled on this log (fwlog serve --device-keys)")

// A ReportRateError reports a device that sent reports faster than
// ReportRate allows.
type ReportRateError struct {
	Device string
	// RetryAfter is when the device may send its next report.
	RetryAfter time.Duration
}

func (e *ReportRateError) Error() string {
	return fmt.Sprintf("device %s sends reports faster than the %g a second it may (a burst of %d); retry in %s",
		e.Device, ReportRate, ReportBurst, e.RetryAfter.Round(time.Millisecond))
}

// A ReportCheckpointError reports a report whose checkpoint does not
// verify under the log's key.
type ReportCheckpointError struct{ Err error }

func (e *ReportCheckpointError) Error() string {
	return "report field \"checkpoint\": it does not verify as a checkpoint of this log: " + e.Err.Error()
}
func (e *ReportCheckpointError) Unwrap() error { return e.Err }

// A ReportResult says where a report is stored.
type ReportResult struct {
	ID uint64
	// Dup is true if the report was stored already: ID is then its ID.
	Dup bool
	// Fork is true if the report's checkpoint is signed by the log for a
	// tree size it published, with another root hash (see AddReport).
	Fork bool
}

// deviceReports is the ledger's part in device reports.
type deviceReports struct {
	devices atomic.Pointer[report.Devices]
	store   reportstore.Store
	// logKey verifies the checkpoints reports carry.
	logKey  note.Verifier
	limiter *rateLimiter
	metrics *reportMetrics
}

func newDeviceReports(cfg Config, lg *log.Log) (*deviceReports, error) {
	if cfg.Devices == nil {
		return nil, nil
	}
	if cfg.Reports == nil {
		return nil, errors.New("ledger: device keys without a report store")
	}
	v, err := note.NewVerifier(lg.VerifierKey())
	if err != nil {
		return nil, fmt.Errorf("ledger: the log's verifier key: %w", err)
	}
	d := &deviceReports{store: cfg.Reports, logKey: v, metrics: newReportMetrics(cfg.Registerer)}
	d.devices.Store(cfg.Devices)
	d.limiter = newRateLimiter(ReportRate, ReportBurst)
	return d, nil
}

// SetDevices replaces the devices the log takes reports from (fwlog does
// on SIGHUP). Reports stored stay. It fails on a log that takes no reports.
func (l *Ledger) SetDevices(d *report.Devices) error {
	if l.reports == nil {
		return ErrReportsDisabled
	}
	if d == nil {
		return errors.New("no devices given")
	}
	l.reports.devices.Store(d)
	return nil
}

// AddReport verifies a device's outcome report and stores it, exactly as
// received, apart from the log. It must be a report envelope (package
// report) by a registered device, at most ReportRate of them a second
// after a burst of ReportBurst; a report already stored gets its ID. Its
// checkpoint, if any, must verify under the log's key. It is kept even if
// it forks the log: when its size is at most the published size and its
// root hash is not that of the log's tree of that size (a consistency
// proof to the published checkpoint fails), the report is marked Fork, as
// evidence that the log's key signed two trees.
//
// Errors: ErrReportsDisabled; report's *SizeError, *FieldError,
// *UnknownDeviceError and *SignatureError, and provenance's envelope
// errors; *ReportCheckpointError; *ReportRateError; report/store's
// *StaleError and *DevicesFullError; and a *log.StorageError.
func (l *Ledger) AddReport(ctx context.Context, data []byte) (ReportResult, error) {
	d := l.reports
	if d == nil {
		return ReportResult{}, ErrReportsDisabled
	}
	res, err := l.addReport(ctx, d, data)
	if err != nil {
		d.metrics.refused.WithLabelValues(reportClass(err).outcome).Inc()
	}
	return res, err
}

func (l *Ledger) addReport(ctx context.Context, d *deviceReports, data []byte) (ReportResult, error) {
	e, err := report.Parse(data)
	if err != nil {
		return ReportResult{}, err
	}
	r, err := e.VerifyDevice(ctx, d.devices.Load())
	if err != nil {
		return ReportResult{}, err
	}
	if id, ok, err := d.store.Find(ctx, e); err != nil {
		return ReportResult{}, log.WrapStorageError("read the reports", err)
	} else if ok {
		d.metrics.duplicates.Inc()
		return ReportResult{ID: id, Dup: true}, nil
	}
	var cp *flog.Checkpoint
	fork := false
	if len(r.Checkpoint) > 0 {
		if cp, err = tlogpolicy.VerifyCheckpoint(d.logKey, r.Checkpoint); err != nil {
			return ReportResult{}, &ReportCheckpointError{Err: err}
		}
		if fork, err = l.forks(ctx, d, cp); err != nil {
			return ReportResult{}, log.WrapStorageError("read the tree", err)
		}
	}
	now := time.Now()
	if wait := d.limiter.take(r.Device, now); wait > 0 {
		return ReportResult{}, &ReportRateError{Device: r.Device, RetryAfter: wait}
	}
	id, dup, err := d.store.Add(ctx, &reportstore.Report{Envelope: e, Received: now, Fork: fork})
	var stale *reportstore.StaleError
	var full *reportstore.DevicesFullError
	switch {
	case errors.As(err, &stale), errors.As(err, &full):
		return ReportResult{}, err
	case err != nil:
		return ReportResult{}, log.WrapStorageError("store the report", err)
	case dup:
		d.metrics.duplicates.Inc()
		return ReportResult{ID: id, Dup: true}, nil
	}
	reason := string(r.Reason)
	if reason == "" {
		reason = "none"
	}
	d.metrics.reports.WithLabelValues(string(r.Outcome), reason).Inc()
	if r.HasInstallTime {
		d.metrics.install.Observe(float64(r.InstallMillis) / 1000)
	}
	if fork {
		d.metrics.forks.Inc()
		l.logger.WarnContext(ctx, "a device holds a checkpoint signed by the log's key that forks the log", "report", id, "device", r.Device,
			"size", cp.Size, "root", base64.StdEncoding.EncodeToString(cp.Hash))
	} else {
		l.logger.DebugContext(ctx, "device report", "report", id, "device", r.Device, "outcome", r.Outcome, "reason", r.Reason, "image", r.Image.String())
	}
	return ReportResult{ID: id, Fork: fork}, nil
}

// forks reports whether cp, a checkpoint signed by the log's key, is not
// of the log's tree: its size is at most the published checkpoint's, and
// its root hash is not the published one (same size) or not consistent
// with it (smaller size). A size beyond the published one is not judged.
func (l *Ledger) forks(ctx context.Context, d *deviceReports, cp *flog.Checkpoint) (bool, error) {
	pub := l.log.Published()
	if pub.Note == nil || cp.Size > pub.Size {
		return false, nil
	}
	published, _, _, err := flog.ParseCheckpoint(pub.Note, d.logKey.Name(), d.logKey)
	if err != nil {
		return false, fmt.Errorf("the published checkpoint does not verify: %w", err)
	}
	switch {
	case cp.Size == published.Size:
		return !bytes.Equal(cp.Hash, published.Hash), nil
	case cp.Size == 0:
		return !bytes.Equal(cp.Hash, rfc6962.DefaultHasher.EmptyRoot()), nil
	}
	hashes, err := l.log.ConsistencyProof(ctx, cp.Size, published.Size)
	if err != nil {
		return false, err
	}
	return proof.VerifyConsistency(rfc6962.DefaultHasher, cp.Size, published.Size, hashes, cp.Hash, published.Hash) != nil, nil
}

// Reports returns the stored reports q selects, at most
// api.MaxReportResults of them, and whether there are more.
func (l *Ledger) Reports(ctx context.Context, q reportstore.Query) ([]reportstore.Report, bool, error) {
	if l.reports == nil {
		return nil, false, ErrReportsDisabled
	}
	q.Limit = min(max(q.Limit, 1), api.MaxReportResults)
	out, more, err := l.reports.store.List(ctx, q)
	if err != nil {
		return nil, false, log.WrapStorageError("read the reports", err)
	}
	return out, more, nil
}

// ReportCounts returns the counts of the reports stored in each hour from
// since's on, by outcome and reason, in order (the store's Counts: at most
// reportstore.MaxCountRows of them, of the newest hours), for charts of
// reports over time. It reads no report.
func (l *Ledger) ReportCounts(ctx context.Context, since time.Time) ([]reportstore.Count, error) {
	if l.reports == nil {
		return nil, ErrReportsDisabled
	}
	out, err := l.reports.store.Counts(ctx, since)
	if err != nil {
		return nil, log.WrapStorageError("read the report counts", err)
	}
	return out, nil
}

// rateLimiter holds a token bucket per device.
type rateLimiter struct {
	// rate is the tokens a second, burst the most a bucket holds.
	rate    float64
	burst   float64
	mu      sync.Mutex
	buckets map[string]*bucket
	// pruneAt is the number of buckets at which full ones are dropped.
	pruneAt int
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newRateLimiter(rate, burst float64) *rateLimiter {
	return &rateLimiter{rate: rate, burst: burst, buckets: map[string]*bucket{}}
}

// take takes a token of device's bucket at now, and returns zero, or how
// long until there is one.
func (rl *rateLimiter) take(device string, now time.Time) time.Duration {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	b, ok := rl.buckets[device]
	if !ok {
		if len(rl.buckets) >= rl.pruneAt {
			rl.prune(now)
		}
		b = &bucket{tokens: rl.burst, at: now}
		rl.buckets[device] = b
	}
	b.tokens = min(rl.burst, b.tokens+now.Sub(b.at).Seconds()*rl.rate)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return 0
	}
	return time.Duration(math.Ceil((1 - b.tokens) / rl.rate * float64(time.Second)))
}

// prune drops the buckets that are full again (a new one starts full), so
// that the limiter holds about the devices that reported lately.
func (rl *rateLimiter) prune(now time.Time) {
	for id, b := range rl.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*rl.rate >= rl.burst {
			delete(rl.buckets, id)
		}
	}
	rl.pruneAt = max(2*len(rl.buckets), 1024)
}

type reportMetrics struct {
	reports    *prometheus.CounterVec
	refused    *prometheus.CounterVec
	duplicates prometheus.Counter
	forks      prometheus.Counter
	install    prometheus.Histogram
}

func newReportMetrics(r prometheus.Registerer) *reportMetrics {
	m := &reportMetrics{
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fwlog_device_reports_total",
			Help: "Device reports stored, by outcome and reason (none for installed and confirmed).",
		}, []string{"outcome", "reason"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fwlog_device_reports_refused_total",
			Help: "Device reports refused, by why: bad_report, unknown_device, bad_signature, bad_checkpoint, rate_limited, stale, devices_full, storage, error.",
		}, []string{"reason"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fwlog_device_report_duplicates_total",
			Help: "Device reports sent again, answered with the stored report's ID.",
		}),
		forks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fwlog_device_report_forks_total",
			Help: "Device reports stored whose checkpoint, signed by the log's key, forks the log.",
		}),
		install: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "fwlog_device_install_seconds",
			Help:    "Install durations that device reports give.",
			Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600},
		}),
	}
	if r != nil {
		r.MustRegister(m.reports, m.refused, m.duplicates, m.forks, m.install)
	}
	return m
}

// reportClass is what a refusal of a report means to a client: its HTTP
// status and the label of the refusals metric.
func reportClass(err error) class {
	var (
		size    *report.SizeError
		field   *report.FieldError
		unknown *report.UnknownDeviceError
		sig     *report.SignatureError
		cp      *ReportCheckpointError
		rate    *ReportRateError
		stale   *reportstore.StaleError
		full    *reportstore.DevicesFullError
		envErr  *provenance.EnvelopeError
		ptErr   *provenance.PayloadTypeError
		ncErr   *provenance.NonCanonicalError
		storage *log.StorageError
	)
	switch {
	case errors.As(err, &size):
		return class{http.StatusRequestEntityTooLarge, "bad_report"}
	case errors.As(err, &field), errors.As(err, &envErr), errors.As(err, &ptErr), errors.As(err, &ncErr):
		return class{http.StatusBadRequest, "bad_report"}
	case errors.As(err, &unknown):
		return class{http.StatusForbidden, "unknown_device"}
	case errors.As(err, &sig):
		return class{http.StatusForbidden, "bad_signature"}
	case errors.As(err, &cp):
		return class{http.StatusBadRequest, "bad_checkpoint"}
	case errors.As(err, &rate):
		return class{http.StatusTooManyRequests, "rate_limited"}
	case errors.As(err, &stale):
		return class{http.StatusConflict, "stale"}
	case errors.As(err, &full):
		return class{http.StatusConflict, "devices_full"}
	case errors.As(err, &storage):
		return class{http.StatusServiceUnavailable, "storage"}
	}
	return class{classify(err).status, "error"}
}

// A classifiedError is an error whose class is decided (see classify).
type classifiedError struct {
	c   class
	err error
}

func (e *classifiedError) Error() string { return e.err.Error() }
func (e *classifiedError) Unwrap() error { return e.err }

// deviceReports serves api.PathReports: POST takes a report, GET lists
// them.
func (h *handler) deviceReports(w http.ResponseWriter, r *http.Request) {
	var err error
	switch r.Method {
	case "POST":
		err = h.addReport(w, r)
	case "GET", "HEAD":
		err = h.listReports(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		err = &methodError{allowed: "GET, HEAD or POST"}
	}
	if err == nil {
		return
	}
	if server.BodyErrorStatus(w, err) == 0 && !errors.Is(err, ErrReportsDisabled) {
		var rate *ReportRateError
		if errors.As(err, &rate) {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(rate.RetryAfter.Seconds()))))
		}
		err = &classifiedError{reportClass(err), err}
	}
	h.fail(w, r, err)
}

func (h *handler) addReport(w http.ResponseWriter, r *http.Request) error {
	if h.l.reports == nil {
		return ErrReportsDisabled // before the body is read
	}
	body, done, err := server.ReadBody(w, r, api.MaxReportSize)
	if err != nil {
		return err
	}
	defer done()
	res, err := h.l.AddReport(r.Context(), body)
	if err != nil {
		return err
	}
	if !res.Dup {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusCreated)
	}
	return writeJSON(w, "no-store", api.AddReportResponse{ID: res.ID, Duplicate: res.Dup})
}

func (h *handler) listReports(w http.ResponseWriter, r *http.Request) error {
	if h.l.reports == nil {
		return ErrReportsDisabled
	}
	q := r.URL.Query()
	var query reportstore.Query
	if s := q.Get("after"); s != "" {
		n, err := parseUint("after", s)
		if err != nil {
			return err
		}
		query.After = n
	}
	if query.Device = q.Get("device"); query.Device != "" && !isKeyID(query.Device) {
		return &badRequest{msg: fmt.Sprintf("parameter \"device\" is %q: want a device's DSSE key ID, 64 lowercase hex digits", query.Device)}
	}
	if s := q.Get("outcome"); s != "" {
		if query.Outcome = report.Outcome(s); !query.Outcome.Valid() {
			return &badRequest{msg: fmt.Sprintf("parameter \"outcome\" is %q: want installed, confirmed, refused or reverted", s)}
		}
	}
	query.Limit = api.MaxReportResults
	page, more, err := h.l.Reports(r.Context(), query)
	if err != nil {
		return err
	}
	resp := api.DeviceReports{Reports: []api.DeviceReport{}}
	for _, s := range page {
		resp.Reports = append(resp.Reports, apiReport(s))
	}
	if more {
		next := page[len(page)-1].ID
		resp.Next = &next
	}
	return writeJSON(w, cacheMutable, resp)
}

func isKeyID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func apiReport(s reportstore.Report) api.DeviceReport {
	r := s.Report
	a := api.DeviceReport{
		ID: s.ID, Received: s.Received.UTC().Format("2006-01-02T15:04:05.000Z07:00"), Fork: s.Fork,
		Device: r.Device, Model: r.Model, Channel: r.Channel, Outcome: string(r.Outcome), Reason: string(r.Reason),
		Detail: r.Detail, Image: r.Image.String(), Checkpoint: string(r.Checkpoint),
		Time: r.Time.UTC().Format(time.RFC3339Nano), Envelope: s.Data,
	}
	if r.HasRelease {
		sv, li := r.SecurityVersion, r.LogIndex
		a.Version, a.SecurityVersion, a.LogIndex = r.Version, &sv, &li
	}
	if r.HasInstallTime {
		ms := r.InstallMillis
		a.InstallMillis = &ms
	}
	return a
}
