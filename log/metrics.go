package log

import (
	"context"
	"errors"
	"net/http"

	"github.com/fwledger/fwledger/digest"
	"github.com/fwledger/fwledger/provenance"
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	submissions      *prometheus.CounterVec
	treeSize         prometheus.Gauge
	checkpointSize   prometheus.Gauge
	integrateSeconds prometheus.Histogram
	integrationDelay prometheus.Histogram
	sequenceSeconds  prometheus.Histogram
	sequenceBatch    prometheus.Histogram
	signedSize       prometheus.Gauge
	witnessFailures  prometheus.Counter
	storageErrors    *prometheus.CounterVec
	corruptEntries   prometheus.Counter
}

func newMetrics(r prometheus.Registerer) *metrics {
	m := &metrics{
		submissions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fwlog_submissions_total",
			Help: "Submitted entries by outcome: new, duplicate, or the reason for rejection.",
		}, []string{"outcome"}),
		treeSize: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fwlog_tree_size",
			Help: "Number of entries integrated into the Merkle tree.",
		}),
		checkpointSize: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fwlog_checkpoint_size",
			Help: "Tree size of the latest published checkpoint.",
		}),
		integrateSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "fwlog_integrate_seconds",
			Help:    "Duration of one integration step (tiles, bundles and state written durably).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		integrationDelay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "fwlog_integration_delay_seconds",
			Help:    "Time from acknowledging a batch of entries to publishing a checkpoint that covers it.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}),
		sequenceSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "fwlog_sequence_seconds",
			Help:    "Duration of one durable sequencing write.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 14),
		}),
		signedSize: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fwlog_signed_checkpoint_size",
			Help: "Tree size of the latest checkpoint the log signed (published once witnessed, with witnesses).",
		}),
		witnessFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fwlog_witness_failures_total",
			Help: "Rounds of cosigning that ended without the witness policy's quorum.",
		}),
		sequenceBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "fwlog_sequence_batch_entries",
			Help:    "Entries per durable sequencing write.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
		storageErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fwlog_storage_errors_total",
			Help: "Failures of the log's storage, by kind (disk full, permission denied, I/O error): requests answered 503, or background integration and witnessing steps retried.",
		}, []string{"kind"}),
		corruptEntries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fwlog_corrupt_entries_total",
			Help: "Reads of stored entries whose bytes do not hash to the tree's leaf hash (storage corruption; the entry is not served).",
		}),
	}
	if r != nil {
		r.MustRegister(m.submissions, m.treeSize, m.checkpointSize, m.integrateSeconds,
			m.integrationDelay, m.sequenceSeconds, m.sequenceBatch, m.signedSize, m.witnessFailures,
			m.storageErrors, m.corruptEntries)
	}
	return m
}

// outcome labels a submission for the submissions metric.
func outcome(res AddResult, err error) string {
	switch {
	case err == nil && res.Dup:
		return "duplicate"
	case err == nil:
		return "new"
	}
	return classify(err).outcome
}

// A class is what an error means to a client: its HTTP status, and for a
// rejected submission, the label of the submissions metric.
type class struct {
	status  int
	outcome string
}

// classify maps the typed errors of the log and of package provenance to
// their class. Handlers and metrics both use it, so that they agree.
func classify(err error) class {
	var (
		envErr  *provenance.EnvelopeError
		ptErr   *provenance.PayloadTypeError
		stErr   *provenance.StatementError
		sigErr  *provenance.SignatureError
		thErr   *provenance.ThresholdError
		digErr  *digest.MismatchError
		endErr  *provenance.EndorsementError
		polErr  *provenance.PolicyViolation
		klErr   *KeylessError
		layErr  *provenance.LayoutError
		large   *tooLarge
		rngErr  *RangeError
		ncErr   *provenance.NonCanonicalError
		tmErr   *TimeError
		stErr2  *StorageError
		pendErr *PendingError
		corrupt *CorruptError
		badReq  *badRequest
		mErr    *methodError
		tooBig  *http.MaxBytesError
	)
	switch {
	case errors.As(err, &mErr):
		return class{http.StatusMethodNotAllowed, "error"}
	case errors.As(err, &stErr2):
		return class{http.StatusServiceUnavailable, "storage"}
	case errors.As(err, &corrupt):
		return class{http.StatusInternalServerError, "storage"}
	case errors.As(err, &pendErr):
		return class{http.StatusServiceUnavailable, "error"}
	case errors.As(err, &ncErr):
		return class{http.StatusBadRequest, "non_canonical"}
	case errors.As(err, &tmErr):
		return class{http.StatusBadRequest, "bad_statement"}
	case errors.Is(err, ErrEntryTooLarge), errors.As(err, &tooBig), errors.As(err, &large):
		return class{http.StatusRequestEntityTooLarge, "too_large"}
	case errors.As(err, &endErr), errors.Is(err, ErrProvenanceRequired):
		return class{http.StatusBadRequest, "bad_provenance"}
	case errors.As(err, &envErr), errors.As(err, &ptErr):
		return class{http.StatusBadRequest, "bad_envelope"}
	case errors.Is(err, provenance.ErrKeyless):
		return class{http.StatusForbidden, "bad_signature"}
	case errors.As(err, &stErr):
		return class{http.StatusBadRequest, "bad_statement"}
	case errors.As(err, &rngErr), errors.As(err, &badReq), errors.As(err, &digErr):
		return class{http.StatusBadRequest, "error"}
	case errors.As(err, &sigErr), errors.As(err, &thErr):
		return class{http.StatusForbidden, "bad_signature"}
	case errors.As(err, &polErr):
		return class{http.StatusForbidden, "policy"}
	case errors.As(err, &klErr):
		return class{http.StatusForbidden, "bad_signature"}
	case errors.As(err, &layErr):
		return class{http.StatusForbidden, "layout"}
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrNoImageStore):
		return class{http.StatusNotFound, "error"}
	case errors.Is(err, ErrPushback):
		return class{http.StatusServiceUnavailable, "pushback"}
	case errors.Is(err, ErrNotWitnessed):
		return class{http.StatusServiceUnavailable, "not_witnessed"}
	case errors.Is(err, ErrStopped):
		return class{http.StatusServiceUnavailable, "stopped"}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return class{http.StatusServiceUnavailable, "error"}
	}
	return class{http.StatusInternalServerError, "error"}
}
