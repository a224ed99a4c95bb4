package server

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/orchestrator"
)

// metrics are the server's Prometheus series, on a registry of its own.
type metrics struct {
	reg      *prometheus.Registry
	jobs     *prometheus.CounterVec
	ended    *prometheus.CounterVec
	leases   *prometheus.CounterVec
	reloads  *prometheus.CounterVec
	requests *prometheus.HistogramVec
	webhooks *prometheus.CounterVec
	// observers caches the requests histogram of each surface and status.
	observers sync.Map // uint32 -> prometheus.Observer
}

func newMetrics(x *orchestrator.Orchestrator) *metrics {
	m := &metrics{
		reg:      prometheus.NewRegistry(),
		jobs:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "avtomatika_jobs_created_total", Help: "Jobs created, by blueprint."}, []string{"blueprint"}),
		ended:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "avtomatika_jobs_ended_total", Help: "Jobs that reached a terminal status."}, []string{"blueprint", "status"}),
		leases:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "avtomatika_tasks_leased_total", Help: "Tasks handed to workers, by type."}, []string{"type"}),
		reloads:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "avtomatika_blueprint_reloads_total", Help: "Reloads of the blueprints folder, by outcome (applied or refused)."}, []string{"outcome"}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "avtomatika_http_request_duration_seconds", Help: "HTTP requests by route class and status.", Buckets: []float64{.0005, .001, .0025, .005, .01, .05, .25, 1, 5, 30}}, []string{"surface", "code"}),
	}
	m.webhooks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "avtomatika_webhook_deliveries_total", Help: "Webhook tries by outcome: delivered, retrying (a try failed, another follows) or failed (the last try failed)."}, []string{"outcome"})
	m.reg.MustRegister(m.jobs, m.ended, m.leases, m.reloads, m.requests, m.webhooks,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "avtomatika_tasks_queued", Help: "Tasks waiting for a worker."}, func() float64 {
		st, err := x.Store().Stats(context.Background())
		if err != nil {
			return 0
		}
		return float64(st.Queued)
	}))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "avtomatika_blueprints_loaded", Help: "Blueprints currently served."}, func() float64 {
		return float64(len(x.Registry().Set().Machines))
	}))
	return m
}

func (m *metrics) handler() http.Handler { return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}) }

func (m *metrics) created(j *core.Job)  { m.jobs.WithLabelValues(j.Blueprint).Inc() }
func (m *metrics) finished(j *core.Job) { m.ended.WithLabelValues(j.Blueprint, string(j.Status)).Inc() }
func (m *metrics) leased(t *core.Task)  { m.leases.WithLabelValues(t.Type).Inc() }

func (m *metrics) reloaded(ds lang.Diagnostics) {
	outcome := "applied"
	if ds.HasErrors() {
		outcome = "refused"
	}
	m.reloads.WithLabelValues(outcome).Inc()
}

// The server is the orchestrator's observer: it counts jobs and reloads,
// and pushes cancel commands to workers on a WebSocket.

// JobCreated implements orchestrator.Observer.
func (s *Server) JobCreated(j *core.Job) { s.metrics.created(j) }

// JobEnded implements orchestrator.Observer.
func (s *Server) JobEnded(j *core.Job) { s.metrics.finished(j) }

// TaskWithdrawn implements orchestrator.Observer.
func (s *Server) TaskWithdrawn(ctx context.Context, taskID, jobID string) {
	if !s.ws.relayed() {
		s.ws.cancel(ctx, taskID, jobID)
	}
}

// WebhookDelivery implements orchestrator.Observer.
func (s *Server) WebhookDelivery(_ *core.Job, outcome string) {
	s.metrics.webhooks.WithLabelValues(outcome).Inc()
}

// BlueprintsReloaded implements orchestrator.Observer.
func (s *Server) BlueprintsReloaded(_ *lang.Set, ds lang.Diagnostics) { s.metrics.reloaded(ds) }

type statusRecorder struct {
	http.ResponseWriter
	code     int
	m        *metrics
	surface  surface
	start    time.Time
	deferred bool // the request is answered later, off its handler
}

func (r *statusRecorder) WriteHeader(code int) { r.code = code; r.ResponseWriter.WriteHeader(code) }

// Unwrap lets http.ResponseController and the WebSocket upgrader reach the
// connection underneath.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Hijack hands the connection over (WebSocket upgrades, parked polls).
func (r *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := r.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("connection cannot be hijacked")
	}
	return h.Hijack()
}

// setStatus records the status of an answer written past w (on a
// hijacked connection).
func setStatus(w http.ResponseWriter, code int) {
	if r, ok := w.(*statusRecorder); ok {
		r.code = code
	}
}

// deferObserve takes the observation of w's request off its handler's
// return and gives it to the caller, who answers later; the function
// returned holds nothing of the request.
func deferObserve(w http.ResponseWriter) func(code int) {
	r, ok := w.(*statusRecorder)
	if !ok {
		return func(int) {}
	}
	r.deferred = true
	m, sf, start := r.m, r.surface, r.start
	return func(code int) { m.observe(sf, code, time.Since(start)) }
}

type surface uint8

const (
	surfaceOther surface = iota
	surfaceWorker
	surfaceClient
	surfacePublic
)

var surfaceNames = [...]string{"other", "worker", "client", "public"}

func surfaceOf(p string) surface {
	switch {
	case strings.HasPrefix(p, "/_worker"):
		return surfaceWorker
	case strings.HasPrefix(p, "/api"):
		return surfaceClient
	case strings.HasPrefix(p, "/_public"):
		return surfacePublic
	}
	return surfaceOther
}

// observe records one request; the histogram of each surface and status
// is looked up once.
func (m *metrics) observe(sf surface, code int, d time.Duration) {
	key := uint32(sf)<<16 | uint32(code&0xffff)
	o, ok := m.observers.Load(key)
	if !ok {
		o, _ = m.observers.LoadOrStore(key, m.requests.WithLabelValues(surfaceNames[sf], strconv.Itoa(code)))
	}
	o.(prometheus.Observer).Observe(d.Seconds())
}

func (m *metrics) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, code: 200, m: m, surface: surfaceOf(r.URL.Path), start: time.Now()}
		next.ServeHTTP(rec, r)
		if !rec.deferred {
			m.observe(rec.surface, rec.code, time.Since(rec.start))
		}
	})
}
