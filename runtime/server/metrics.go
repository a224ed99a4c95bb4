package server

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/orchestrator"
	"github.com/avtomatika-ai/avtomatika-go/runtime/schedule"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// metrics are the server's Prometheus series, on a registry of its own.
// docs/metrics.md lists them; every label is bounded: blueprints, task
// types, states, schedules and worker types come from the configuration,
// statuses and codes from fixed lists (anything else counts as other).
type metrics struct {
	reg      *prometheus.Registry
	jobs     *prometheus.CounterVec
	ended    *prometheus.CounterVec
	leases   *prometheus.CounterVec
	reloads  *prometheus.CounterVec
	requests *prometheus.HistogramVec
	webhooks *prometheus.CounterVec
	jobDur   *prometheus.HistogramVec
	taskDur  *prometheus.HistogramVec
	wait     *prometheus.HistogramVec
	retries  *prometheus.CounterVec
	expired  *prometheus.CounterVec
	own      []prometheus.Collector // the avtomatika_ series
	// observers caches the requests histogram of each surface and status.
	observers sync.Map // uint32 -> prometheus.Observer
	// leasedAt is when this instance leased each task it still waits on
	// a result for (bounded by maxLeaseTimes): a task's duration is timed
	// from its lease to its result on the instance that leased it.
	leasedAt  sync.Map // task id -> time.Time
	leaseTims atomic.Int64
}

// maxLeaseTimes bounds the lease times an instance keeps.
const maxLeaseTimes = 200_000

var durationBuckets = []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600}

func newMetrics(x *orchestrator.Orchestrator, sched *schedule.Runner) *metrics {
	m := &metrics{
		reg:      prometheus.NewRegistry(),
		jobs:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "avtomatika_jobs_created_total", Help: "Jobs created, by blueprint."}, []string{"blueprint"}),
		ended:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "avtomatika_jobs_ended_total", Help: "Jobs that reached a terminal status."}, []string{"blueprint", "status"}),
		leases:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "avtomatika_tasks_leased_total", Help: "Tasks handed to workers, by type."}, []string{"type"}),
		reloads:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "avtomatika_blueprint_reloads_total", Help: "Reloads of the blueprints folder, by outcome (applied or refused)."}, []string{"outcome"}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "avtomatika_http_request_duration_seconds", Help: "HTTP requests by route class and status.", Buckets: []float64{.0005, .001, .0025, .005, .01, .05, .25, 1, 5, 30}}, []string{"surface", "code"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "avtomatika_webhook_deliveries_total", Help: "Webhook tries by outcome: delivered, retrying (a try failed, another follows) or failed (the last try failed)."}, []string{"outcome"}),
		jobDur:   prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "avtomatika_job_duration_seconds", Help: "Time from a job's creation to its end, by blueprint and terminal status.", Buckets: durationBuckets}, []string{"blueprint", "status"}),
		taskDur:  prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "avtomatika_task_duration_seconds", Help: "Time from a task's lease to its result, by blueprint, state, task type and outcome (success, failure, cancelled, other).", Buckets: durationBuckets}, []string{"blueprint", "state", "type", "outcome"}),
		wait:     prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "avtomatika_dispatch_wait_seconds", Help: "Time a task waited on its queue before a worker took it, by task type.", Buckets: durationBuckets}, []string{"type"}),
		retries:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "avtomatika_task_retries_total", Help: "Task attempts that failed and are retried, by blueprint, task type and error code."}, []string{"blueprint", "type", "code"}),
		expired:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "avtomatika_leases_expired_total", Help: "Leases that ran out before a result came (the worker died or overran its timeout), by task type."}, []string{"type"}),
	}
	m.own = []prometheus.Collector{m.jobs, m.ended, m.leases, m.reloads, m.requests, m.webhooks, m.jobDur, m.taskDur, m.wait, m.retries, m.expired,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "avtomatika_tasks_queued", Help: "Tasks waiting for a worker."}, func() float64 {
			st, err := x.Store().Stats(context.Background())
			if err != nil {
				return 0
			}
			return float64(st.Queued)
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "avtomatika_blueprints_loaded", Help: "Blueprints currently served."}, func() float64 {
			return float64(len(x.Registry().Set().Machines))
		}),
		&scrapeCollector{x: x, sched: sched},
	}
	m.reg.MustRegister(m.own...)
	m.reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// names are the names of the avtomatika_ series, sorted.
func (m *metrics) names() []string {
	ch := make(chan *prometheus.Desc, 64)
	go func() {
		for _, c := range m.own {
			c.Describe(ch)
		}
		close(ch)
	}()
	var out []string
	for d := range ch {
		s := d.String() // Desc{fqName: "name", ...}
		if i := strings.Index(s, `fqName: "`); i >= 0 {
			rest := s[i+len(`fqName: "`):]
			out = append(out, rest[:strings.IndexByte(rest, '"')])
		}
	}
	sort.Strings(out)
	return out
}

func (m *metrics) handler() http.Handler { return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}) }

func (m *metrics) created(j *core.Job) { m.jobs.WithLabelValues(j.Blueprint).Inc() }

func (m *metrics) finished(j *core.Job) {
	m.ended.WithLabelValues(j.Blueprint, string(j.Status)).Inc()
	if !j.CreatedAt.IsZero() && !j.UpdatedAt.Before(j.CreatedAt) {
		m.jobDur.WithLabelValues(j.Blueprint, string(j.Status)).Observe(j.UpdatedAt.Sub(j.CreatedAt).Seconds())
	}
}

func (m *metrics) leased(t *core.Task) {
	m.leases.WithLabelValues(t.Type).Inc()
	if !t.EnqueuedAt.IsZero() && !t.LeasedAt.IsZero() {
		// A task taken by a waiting poll the instant it was queued can
		// read a lease time a hair before its queue time (the two are
		// stamped apart, at the store's resolution): no wait, not none.
		m.wait.WithLabelValues(t.Type).Observe(max(t.LeasedAt.Sub(t.EnqueuedAt), 0).Seconds())
	}
	if t.LeasedAt.IsZero() {
		return
	}
	if m.leaseTims.Load() >= maxLeaseTimes {
		// Results that went to other instances, or never came, left
		// their lease times here: start afresh rather than stop timing.
		m.leasedAt.Clear()
		m.leaseTims.Store(0)
	}
	if _, loaded := m.leasedAt.LoadOrStore(t.ID, t.LeasedAt); !loaded {
		m.leaseTims.Add(1)
	}
}

// stepped counts what a committed step did: a task's result (its
// duration from the lease here), retries scheduled, leases expired.
func (m *metrics) stepped(prev, j *core.Job, ev core.Event, eff *core.Effects) {
	if prev == nil {
		return
	}
	ref := func(id string) (core.TaskRef, bool) {
		for _, r := range prev.Tasks.All() {
			if r.ID == id {
				return r, true
			}
		}
		return core.TaskRef{}, false
	}
	switch ev.Kind {
	case core.EventTaskResult:
		if at, ok := m.leasedAt.LoadAndDelete(ev.TaskID); ok {
			m.leaseTims.Add(-1)
			if r, ok := ref(ev.TaskID); ok && ev.Result != nil {
				m.taskDur.WithLabelValues(j.Blueprint, prev.State, r.Type, outcomeLabel(ev.Result.Status)).Observe(j.UpdatedAt.Sub(at.(time.Time)).Seconds())
			}
		}
	case core.EventTaskTimeout:
		if _, ok := m.leasedAt.LoadAndDelete(ev.TaskID); ok {
			m.leaseTims.Add(-1)
		}
		if r, ok := ref(ev.TaskID); ok {
			m.expired.WithLabelValues(r.Type).Inc()
		}
	}
	for _, id := range eff.Withdraw {
		if _, ok := m.leasedAt.LoadAndDelete(id); ok {
			m.leaseTims.Add(-1)
		}
	}
	for _, e := range eff.Timeline {
		if e.Type != "retry_scheduled" {
			continue
		}
		code, _ := e.Detail["error_code"].(string)
		typ := "unknown"
		if r, ok := ref(e.TaskID); ok {
			typ = r.Type
		}
		m.retries.WithLabelValues(j.Blueprint, typ, codeLabel(code)).Inc()
	}
}

func outcomeLabel(s string) string {
	switch s {
	case wire.ResultSuccess, wire.ResultFailure, wire.ResultCancelled:
		return s
	}
	return "other"
}

// taskCodes are the error codes of a task failure that label retries.
var taskCodes = map[string]bool{
	wire.CodeTransientError: true, wire.CodeTimeoutError: true, wire.CodeResourceExhaustedError: true,
	wire.CodeLimitExceededError: true, wire.CodeDependencyMissingError: true, wire.CodeInternalError: true,
	wire.CodeInvalidInputError: true, wire.CodeIntegrityMismatchError: true, wire.CodePermanentError: true,
	wire.CodeSecurityError: true, wire.CodeDependencyError: true, wire.CodeContractViolationError: true,
}

func codeLabel(c string) string {
	switch {
	case c == "":
		return wire.CodeTransientError // no code is transient
	case taskCodes[c]:
		return c
	}
	return "other"
}

// scrapeCollector reads at scrape time what the store and the scheduler
// hold: queues by task type, workers by type and status, schedule fires
// and misses.
type scrapeCollector struct {
	x     *orchestrator.Orchestrator
	sched *schedule.Runner
}

var (
	descQueueDepth = prometheus.NewDesc("avtomatika_queue_depth", "Tasks waiting on the shared queue of each task type.", []string{"type"}, nil)
	descQueueAge   = prometheus.NewDesc("avtomatika_queue_oldest_age_seconds", "How long the longest-waiting task of each type has waited (0 when none waits).", []string{"type"}, nil)
	descWorkers    = prometheus.NewDesc("avtomatika_workers", "Registered live workers by worker type and status.", []string{"worker_type", "status"}, nil)
	descFires      = prometheus.NewDesc("avtomatika_schedule_fires_total", "Jobs a schedule started (counted by the instance that recorded the fire).", []string{"schedule"}, nil)
	descMisses     = prometheus.NewDesc("avtomatika_schedule_misses_total", "Schedule fires that started no job, by reason: overlap, catch_up, paused, error.", []string{"schedule", "reason"}, nil)
	descSchedFile  = prometheus.NewDesc("avtomatika_schedules_file_reloads_refused_total", "Edits of schedules.toml refused (the schedules stayed as they were).", nil, nil)
	descOutbox     = prometheus.NewDesc("avtomatika_history_outbox_jobs", "Ended jobs waiting in the live store's outbox for the history database (served with a history only).", nil, nil)
)

func (c *scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQueueDepth, descQueueAge, descWorkers, descFires, descMisses, descSchedFile, descOutbox} {
		ch <- d
	}
}

func (c *scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if qs, ok := c.x.Store().(store.QueueStats); ok {
		types := taskTypes(c.x.Registry().Set())
		if stats, err := qs.QueueStats(ctx, types); err == nil {
			now := c.x.Now()
			for _, t := range types {
				st := stats[t]
				ch <- prometheus.MustNewConstMetric(descQueueDepth, prometheus.GaugeValue, float64(st.Depth), t)
				age := 0.0
				if !st.Oldest.IsZero() && now.After(st.Oldest) {
					age = now.Sub(st.Oldest).Seconds()
				}
				ch <- prometheus.MustNewConstMetric(descQueueAge, prometheus.GaugeValue, age, t)
			}
		}
	}
	if ws, err := c.x.Workers(ctx); err == nil {
		counts := map[[2]string]int{}
		for _, w := range ws {
			typ := w.Type
			if typ == "" {
				typ = "unknown"
			}
			st := string(w.Status)
			if st == "" {
				st = "unknown"
			}
			counts[[2]string{typ, st}]++
		}
		for k, n := range counts {
			ch <- prometheus.MustNewConstMetric(descWorkers, prometheus.GaugeValue, float64(n), k[0], k[1])
		}
	}
	if c.x.History() != nil {
		if n, err := c.x.ArchiveBacklog(ctx); err == nil {
			ch <- prometheus.MustNewConstMetric(descOutbox, prometheus.GaugeValue, float64(n))
		}
	}
	if c.sched != nil {
		counts, refused := c.sched.Counts()
		for name, cn := range counts {
			ch <- prometheus.MustNewConstMetric(descFires, prometheus.CounterValue, float64(cn.Fires), name)
			for _, r := range []string{schedule.MissOverlap, schedule.MissCatchUp, schedule.MissPaused, schedule.MissError} {
				ch <- prometheus.MustNewConstMetric(descMisses, prometheus.CounterValue, float64(cn.Misses[r]), name, r)
			}
		}
		ch <- prometheus.MustNewConstMetric(descSchedFile, prometheus.CounterValue, float64(refused))
	}
}

// taskTypes are the task types the blueprints of set name, sorted.
func taskTypes(set *lang.Set) []string {
	seen := map[string]bool{}
	for _, m := range set.Machines {
		for _, st := range m.States {
			if st.Task != nil {
				seen[st.Task.Type] = true
			}
			if p := st.Parallel; p != nil {
				if p.Task != nil {
					seen[p.Task.Type] = true
				}
				for _, t := range p.Tasks {
					seen[t.Type] = true
				}
			}
		}
	}
	out := make([]string, 0, len(seen))
	for t := range seen {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

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

// Stepped implements orchestrator.Observer.
func (s *Server) Stepped(prev, j *core.Job, ev core.Event, eff *core.Effects) {
	s.metrics.stepped(prev, j, ev, eff)
	s.consoleStepped(j)
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
