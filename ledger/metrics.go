package ledger

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	submissions *prometheus.CounterVec
}

func newMetrics(r prometheus.Registerer) *metrics {
	m := &metrics{
		submissions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fwlog_submissions_total",
			Help: "Submitted entries by outcome: new, duplicate, or the reason for rejection.",
		}, []string{"outcome"}),
	}
	if r != nil {
		r.MustRegister(m.submissions)
	}
	return m
}
