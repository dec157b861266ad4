package log

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
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
	publisher        prometheus.Gauge
}

func newMetrics(r prometheus.Registerer) *metrics {
	m := &metrics{
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
		publisher: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fwlog_publisher",
			Help: "1 while this frontend holds the publisher lease of a shared storage (it integrates, signs and witnesses), else 0.",
		}),
	}
	if r != nil {
		r.MustRegister(m.treeSize, m.checkpointSize, m.integrateSeconds,
			m.integrationDelay, m.sequenceSeconds, m.sequenceBatch, m.signedSize, m.witnessFailures,
			m.storageErrors, m.corruptEntries, m.publisher)
	}
	return m
}
