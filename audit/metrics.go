package audit

import "github.com/prometheus/client_golang/prometheus"

// metrics are the auditor's Prometheus metrics.
type metrics struct {
	alerts   *prometheus.CounterVec
	entries  prometheus.Counter
	verified prometheus.Gauge
	steps    *prometheus.CounterVec
	// probes counts probes submitted, by the log's answer, and
	// mergeDelay observes how long after submission they were read.
	probes     *prometheus.CounterVec
	mergeDelay prometheus.Histogram
}

func newMetrics(r prometheus.Registerer) *metrics {
	m := &metrics{
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fwaudit_alerts_total",
			Help: "Alerts raised, by type (docs/AUDIT.md).",
		}, []string{"type", "severity"}),
		entries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fwaudit_entries_read_total",
			Help: "Log entries read and judged.",
		}),
		verified: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fwaudit_verified_size",
			Help: "Tree size of the last checkpoint verified (tree rebuilt from the entries).",
		}),
		steps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fwaudit_polls_total",
			Help: "Polls of the log, by outcome (ok, error: the log could not be read).",
		}, []string{"outcome"}),
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fwaudit_probes_total",
			Help: "Probes submitted to the log, by its answer (acknowledged, refused).",
		}, []string{"outcome"}),
		mergeDelay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "fwaudit_probe_merge_seconds",
			Help:    "Time from a probe's submission until the auditor read it in a checkpoint it verified.",
			Buckets: prometheus.ExponentialBuckets(0.25, 2, 12),
		}),
	}
	if r != nil {
		r.MustRegister(m.alerts, m.entries, m.verified, m.steps, m.probes, m.mergeDelay)
	}
	return m
}

// countAlerts records the alerts raised.
func (m *metrics) countAlerts(res *Result) {
	if res == nil {
		return
	}
	for _, a := range res.Alerts {
		m.alerts.WithLabelValues(a.Type, a.Severity).Inc()
	}
}

// count records a poll's result.
func (m *metrics) count(res *Result, err error) {
	m.countAlerts(res)
	if res != nil {
		m.entries.Add(float64(res.Read))
		if res.Size > 0 {
			m.verified.Set(float64(res.Size))
		}
	}
	if err != nil {
		m.steps.WithLabelValues("error").Inc()
	} else {
		m.steps.WithLabelValues("ok").Inc()
	}
}
