package server

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
)

// metrics are the server's Prometheus series, on a registry of its own.
type metrics struct {
	reg      *prometheus.Registry
	jobs     *prometheus.CounterVec
	ended    *prometheus.CounterVec
	leases   *prometheus.CounterVec
	requests *prometheus.HistogramVec
}

func newMetrics(s *Server) *metrics {
	m := &metrics{
		reg:      prometheus.NewRegistry(),
		jobs:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "avtomatika_jobs_created_total", Help: "Jobs created, by blueprint."}, []string{"blueprint"}),
		ended:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "avtomatika_jobs_ended_total", Help: "Jobs that reached a terminal status."}, []string{"blueprint", "status"}),
		leases:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "avtomatika_tasks_leased_total", Help: "Tasks handed to workers, by type."}, []string{"type"}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "avtomatika_http_request_duration_seconds", Help: "HTTP requests by route class and status.", Buckets: []float64{.0005, .001, .0025, .005, .01, .05, .25, 1, 5, 30}}, []string{"surface", "code"}),
	}
	m.reg.MustRegister(m.jobs, m.ended, m.leases, m.requests,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "avtomatika_tasks_queued", Help: "Tasks waiting for a worker."}, func() float64 {
		st, err := s.store.Stats(context.Background())
		if err != nil {
			return 0
		}
		return float64(st.Queued)
	}))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "avtomatika_blueprints_loaded", Help: "Blueprints currently served."}, func() float64 {
		return float64(len(s.reg.Set().Machines))
	}))
	return m
}

func (m *metrics) handler() http.Handler { return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}) }

func (m *metrics) created(j *core.Job)  { m.jobs.WithLabelValues(j.Blueprint).Inc() }
func (m *metrics) finished(j *core.Job) { m.ended.WithLabelValues(j.Blueprint, string(j.Status)).Inc() }
func (m *metrics) leased(t *core.Task)  { m.leases.WithLabelValues(t.Type).Inc() }

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) { r.code = code; r.ResponseWriter.WriteHeader(code) }

// Unwrap lets http.ResponseController and the WebSocket upgrader reach the
// connection underneath.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Hijack hands the connection over (WebSocket upgrades).
func (r *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := r.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("connection cannot be hijacked")
	}
	return h.Hijack()
}

func (m *metrics) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: 200}
		next.ServeHTTP(rec, r)
		surface := "other"
		switch p := r.URL.Path; {
		case len(p) >= 8 && p[:8] == "/_worker":
			surface = "worker"
		case len(p) >= 4 && p[:4] == "/api":
			surface = "client"
		case len(p) >= 8 && p[:8] == "/_public":
			surface = "public"
		}
		m.requests.WithLabelValues(surface, strconv.Itoa(rec.code)).Observe(time.Since(start).Seconds())
	})
}
