// Package server runs fwledger's HTTP servers: timeouts, limits on
// connections and request bodies, request metrics and logs, /metrics, and
// graceful shutdown.
//
// # Limits
//
// A server holds at most [Limits].MaxConns connections. At the cap, a
// newcomer closes the connection idle the longest (between requests, or
// connected for a second without sending one) to make room; only while
// every connection has a request in progress does it wait in the listen
// backlog. So clients that open connections and leave them idle cannot
// hold the server. Handlers read request bodies with
// [ReadBody], which holds them in memory under one [Budget] per server and
// a read deadline, or stream them with [NewUpload], which must keep up a
// minimum rate instead. A body refused for the budget is answered 503 with
// Retry-After before any of it is read.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns a Prometheus registry with the Go and process
// collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Config configures Serve.
type Config struct {
	// Name prefixes the request metrics ("fwlog" gives fwlog_http_...).
	Name     string
	Handler  http.Handler
	Registry *prometheus.Registry
	Logger   *slog.Logger
	// ShutdownTimeout bounds how long in-flight requests may take to finish
	// once ctx is done (default 30s).
	ShutdownTimeout time.Duration
	// Limits bound connections and request bodies.
	Limits Limits
}

// Defaults of Limits.
const (
	DefaultMaxConns      = 1024
	DefaultBodyBudget    = 64 << 20
	DefaultBodyTimeout   = 10 * time.Second
	DefaultUploadMinRate = 64 << 10
)

// Limits bound what clients can make a server hold. Zero fields take the
// defaults.
type Limits struct {
	// MaxConns is the most connections open at once. A connection that
	// arrives at the cap closes the one idle the longest to make room; it
	// waits in the listen backlog only while every connection has a
	// request in progress.
	MaxConns int
	// BodyBudget is the most request body bytes held in memory at once
	// (see Budget).
	BodyBudget int64
	// BodyTimeout is the time a request body read by ReadBody has to
	// arrive, from when the handler starts reading it; an Upload gets it as
	// a grace period.
	BodyTimeout time.Duration
	// UploadMinRate is the least rate, in bytes per second, an Upload must
	// keep up after its grace period.
	UploadMinRate int64
}

func (l Limits) withDefaults() Limits {
	if l.MaxConns <= 0 {
		l.MaxConns = DefaultMaxConns
	}
	if l.BodyBudget <= 0 {
		l.BodyBudget = DefaultBodyBudget
	}
	if l.BodyTimeout <= 0 {
		l.BodyTimeout = DefaultBodyTimeout
	}
	if l.UploadMinRate <= 0 {
		l.UploadMinRate = DefaultUploadMinRate
	}
	return l
}

// Check returns an error naming the problem if l cannot serve a request
// body of maxBody bytes, or has a negative field.
func (l Limits) Check(maxBody int64) error {
	if l.MaxConns < 0 || l.BodyBudget < 0 || l.BodyTimeout < 0 || l.UploadMinRate < 0 {
		return fmt.Errorf("limits must not be negative")
	}
	l = l.withDefaults()
	if !NewBudget(l.BodyBudget).Fits(maxBody) {
		return fmt.Errorf("a body budget of %d bytes cannot hold the largest request body, %d bytes, beside its reserve for small bodies: give at least %d", l.BodyBudget, maxBody, minBudget(maxBody))
	}
	return nil
}

// minBudget returns the smallest budget that fits a body of n bytes.
func minBudget(n int64) int64 {
	s := n
	if n > SmallBody {
		s = n*4/3 - 4 // reserve is size/4, rounded down
	}
	for !NewBudget(s).Fits(n) {
		s++
	}
	return s
}

// Serve serves cfg.Handler, plus /metrics, on ln until ctx is done, then
// stops accepting connections and waits for in-flight requests.
func Serve(ctx context.Context, ln net.Listener, cfg Config) error {
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 30 * time.Second
	}
	lim := cfg.Limits.withDefaults()
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: cfg.Name + "_http_requests_total",
		Help: "HTTP requests by route pattern and status code.",
	}, []string{"route", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    cfg.Name + "_http_request_duration_seconds",
		Help:    "HTTP request duration by route pattern.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
	}, []string{"route"})
	conns := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: cfg.Name + "_connections_open",
		Help: "HTTP connections open.",
	})
	evicted := prometheus.NewCounter(prometheus.CounterOpts{
		Name: cfg.Name + "_connections_evicted_total",
		Help: "HTTP connections closed, idle or without a request, to make room for a new one at the connection limit.",
	})
	budgetSize := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: cfg.Name + "_body_budget_bytes",
		Help: "The most request body bytes held in memory at once.",
	})
	reserved := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: cfg.Name + "_body_reserved_bytes",
		Help: "Request body bytes held in memory now, under the budget.",
	})
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: cfg.Name + "_body_refused_total",
		Help: "Requests refused for their body, by reason: budget (503), too_large (413), timeout (408).",
	}, []string{"reason"})
	cfg.Registry.MustRegister(requests, duration, conns, evicted, budgetSize, reserved, refused)
	budget := NewBudget(lim.BodyBudget)
	budget.reserved = reserved
	budgetSize.Set(float64(lim.BodyBudget))
	const writeTimeout = 5 * time.Minute
	bodyLimiter := &limiter{budget: budget, bodyTimeout: lim.BodyTimeout, minRate: lim.UploadMinRate, writeTimeout: writeTimeout, refused: refused}
	cl := newConnLimiter(ln, lim.MaxConns, conns, evicted)
	ln = cl

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{}))
	mux.Handle("/", cfg.Handler)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if evictedBefore(r.Context()) {
			return
		}
		start := time.Now()
		rw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		mux.ServeHTTP(rw, r)
		route := r.Pattern
		if route == "" {
			route = "other"
		}
		requests.WithLabelValues(route, strconv.Itoa(rw.code)).Inc()
		duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
		if rw.code >= 400 && rw.code != http.StatusNotFound {
			cfg.Logger.Debug("request", "method", r.Method, "path", r.URL.Path, "status", rw.code, "duration", time.Since(start))
		}
	})
	const readHeaderTimeout = 10 * time.Second
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		// ReadBody and Upload set their own deadlines; this one bounds
		// requests whose handlers read no body.
		ReadTimeout:  readHeaderTimeout + lim.BodyTimeout,
		WriteTimeout: writeTimeout,
		// Idle connections are also closed sooner, when a newcomer needs
		// the slot (connLimiter).
		IdleTimeout:    2 * time.Minute,
		ConnState:      cl.connState,
		ConnContext:    withConn,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
		BaseContext: func(net.Listener) context.Context {
			return context.WithValue(context.Background(), limiterKey{}, bodyLimiter)
		},
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	cfg.Logger.Info("serving", "addr", ln.Addr().String(), "max_conns", lim.MaxConns, "body_budget", lim.BodyBudget,
		"body_timeout", lim.BodyTimeout, "upload_min_rate", lim.UploadMinRate)
	select {
	case err := <-errc:
		return fmt.Errorf("HTTP server failed: %w", err)
	case <-ctx.Done():
	}
	cfg.Logger.Info("shutting down: waiting for in-flight requests", "timeout", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) {
		err = errors.Join(err, e)
	}
	return err
}

type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
