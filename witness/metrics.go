package witness

import (
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests *prometheus.CounterVec
	seconds  prometheus.Histogram
	size     *prometheus.GaugeVec
	forks    *prometheus.CounterVec
	// cosignatures counts the cosignatures given, by how they were made.
	cosignatures *prometheus.CounterVec
	// forksDropped counts fork evidence not stored for lack of room.
	forksDropped *prometheus.CounterVec
}

func newMetrics(r prometheus.Registerer, store *Store) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fwwitness_add_checkpoint_total",
			Help: "add-checkpoint requests by log origin and result (ok, bad_request, bad_signature, unknown_log, conflict, fork, inconsistent, rate_limited, error).",
		}, []string{"origin", "result"}),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "fwwitness_add_checkpoint_seconds",
			Help:    "Time to handle an add-checkpoint request, storing included.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		size: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "fwwitness_cosigned_size",
			Help: "Tree size of the latest checkpoint cosigned, by log origin.",
		}, []string{"origin"}),
		forks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fwwitness_forks_total",
			Help: "Checkpoints signed by the log with the size of one cosigned and another root hash, whose evidence was stored (once per root), by log origin.",
		}, []string{"origin"}),
		cosignatures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fwwitness_cosignatures_total",
			Help: "Cosignatures given, by log origin and kind: new (a checkpoint that advanced the state, signed and stored), again (the latest checkpoint sent again, signed again), reused (the latest checkpoint sent again within the second its cosignature was made again: those lines given again, not signed).",
		}, []string{"origin", "kind"}),
		forksDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fwwitness_forks_dropped_total",
			Help: "Evidence of forks not stored because the witness keeps the most it keeps for the log, by log origin.",
		}, []string{"origin"}),
	}
	writes := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "fwwitness_store_writes_total",
		Help: "Records written durably: checkpoints that advanced a log's state, and fork evidence.",
	}, func() float64 { return float64(store.Writes()) })
	if r != nil {
		r.MustRegister(m.requests, m.seconds, m.size, m.forks, m.cosignatures, m.forksDropped, writes)
	}
	return m
}

func (m *metrics) observe(origin string, err error, d time.Duration) {
	m.seconds.Observe(d.Seconds())
	m.requests.WithLabelValues(origin, result(err)).Inc()
}

// result names an AddCheckpoint outcome for metrics.
func result(err error) string {
	_, label := classify(err)
	return label
}

// classify returns the HTTP status and the metrics label of an
// AddCheckpoint outcome (see the package documentation).
func classify(err error) (int, string) {
	var bad *BadRequestError
	var conflict *ConflictError
	var fork *ForkError
	switch {
	case err == nil:
		return http.StatusOK, "ok"
	case errors.As(err, &bad):
		return http.StatusBadRequest, "bad_request"
	case errors.Is(err, ErrBadSignature):
		return http.StatusForbidden, "bad_signature"
	case errors.Is(err, ErrUnknownLog):
		return http.StatusNotFound, "unknown_log"
	case errors.As(err, &conflict):
		return http.StatusConflict, "conflict"
	case errors.As(err, &fork):
		return http.StatusConflict, "fork"
	case errors.Is(err, ErrInconsistent):
		return http.StatusUnprocessableEntity, "inconsistent"
	case errors.Is(err, ErrRateLimited):
		return http.StatusTooManyRequests, "rate_limited"
	}
	return http.StatusInternalServerError, "error"
}
