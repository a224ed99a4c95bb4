// Package server serves the orchestrator over HTTP: the client API under
// /api/v1, the worker protocol under /_worker (long polls, results,
// heartbeats, events, WebSocket), and /_public (status, metrics).
//
// It only decodes, authenticates, calls the orchestrator and encodes: a
// handler reads the request into the orchestrator's terms, checks the
// caller's token (and a worker's signature), calls one method of
// runtime/orchestrator, and writes what comes back, or the refusal with
// its status. The server is also the orchestrator's Observer: it counts
// jobs in its metrics and pushes cancel commands to workers connected by
// WebSocket. Idle worker connections are parked (internal/park) unless
// Options.NoParking.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/console"
	"github.com/avtomatika-ai/avtomatika-go/runtime/orchestrator"
	"github.com/avtomatika-ai/avtomatika-go/runtime/schedule"
	"github.com/avtomatika-ai/avtomatika-go/runtime/server/internal/park"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store/memstore"
)

// Options build a Server. Config is required; the rest have defaults.
type Options struct {
	Config  config.Config
	Store   store.Store  // default: a new memory store
	Logger  *slog.Logger // default: discard
	Clock   func() time.Time
	Rand    io.Reader
	Clients []config.Client   // clients.toml; nil: CLIENT_TOKEN or open
	Workers map[string]string // workers.toml: worker id -> token
	// Blueprints, when set, is used instead of Config.BlueprintsDir (tests).
	Blueprints *lang.Set
	// HTTPClient posts webhooks (default: a client with a 10 s timeout).
	HTTPClient *http.Client
	// WebhookBackoff is the wait before the second try of a webhook; it
	// doubles for the third (default 2 s).
	WebhookBackoff time.Duration
	// NoParking keeps every worker connection in net/http instead of
	// parking idle ones (more memory per idle worker, same behaviour).
	NoParking bool
	// History archives ended jobs (runtime/history); nil: no history.
	// The server closes it.
	History store.Archive
	// DrainDelay is how long the listener stays open once a drain starts
	// (within Run's grace): new jobs are answered 503, /_public/status
	// says draining, long polls answer 204 and results are still taken,
	// so a load balancer moves away before connections are refused.
	// 0 closes the listener at once.
	DrainDelay time.Duration
	// Tracing writes the spans of jobs (runtime/telemetry); nil is off.
	Tracing orchestrator.Tracing
}

// Server is the HTTP face of one orchestrator instance.
type Server struct {
	x       *orchestrator.Orchestrator
	cfg     config.Config
	log     *slog.Logger
	now     func() time.Time
	clients map[string]*config.Client // by token
	workers map[string]string         // worker id -> token
	metrics *metrics
	ws      *wsHub
	console *console.Console // nil when CONSOLE=off
	handler http.Handler

	noParking  bool
	drainDelay time.Duration
	endDelay   chan struct{} // closed to end the drain delay early (tests)
	endOnce    sync.Once
	parkMu     sync.Mutex
	parkers    sync.Map // *http.Server -> *park.Parker, one per server that served a worker

	// Rate limits (nil when off): clients, and a worker's heartbeats,
	// polls and other requests.
	clientRate, workerRate, heartbeatRate, pollRate *limiter
	// parked counts each worker's parked connections and held polls.
	parked   slots
	sched    *schedule.Runner
	notReady atomic.Bool // readyz answers 503 (set at SIGTERM, before the drain)
}

// New builds a server and its orchestrator, and loads the blueprints. A
// folder that does not lint clean is an error naming every finding.
func New(o Options) (*Server, error) {
	s := &Server{cfg: o.Config, log: o.Logger, now: o.Clock, clients: map[string]*config.Client{}, workers: o.Workers, noParking: o.NoParking,
		drainDelay: o.DrainDelay, endDelay: make(chan struct{})}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.workers == nil {
		s.workers = map[string]string{}
	}
	for _, c := range o.Clients {
		s.clients[c.Token] = &c
	}
	if o.Clients == nil && s.cfg.ClientToken != "" {
		s.clients[s.cfg.ClientToken] = &config.Client{Name: "default", Token: s.cfg.ClientToken, Plan: "default"}
	}
	st := o.Store
	if st == nil {
		l := o.Config.Limits
		l.SetDefaults()
		st = memstore.New(memstore.Options{Clock: o.Clock, MaxReservations: l.MaxReservations})
	}
	x, err := orchestrator.New(orchestrator.Options{
		Config: o.Config, Store: st, Logger: s.log, Clock: s.now, Rand: o.Rand, Blueprints: o.Blueprints,
		Observer: s, HTTPClient: o.HTTPClient, WebhookBackoff: o.WebhookBackoff, History: o.History,
		WebhookSecret: clientSecrets(o.Clients), Tracing: o.Tracing,
	})
	if err != nil {
		return nil, err
	}
	s.x = x
	s.cfg.Limits.SetDefaults()
	s.parked.max = s.cfg.Limits.MaxParkedPerWorker
	if l := s.cfg.Limits; l.RateLimiting {
		s.clientRate = newLimiter(l.RateLimit, l.RatePeriod)
		s.workerRate = newLimiter(l.RateLimit, l.RatePeriod)
		s.heartbeatRate = newLimiter(l.HeartbeatLimit, l.RatePeriod)
		s.pollRate = newLimiter(l.PollLimit, l.RatePeriod)
	}
	if s.sched, err = schedule.New(x, schedule.Options{File: o.Config.SchedulesPath, TZ: o.Config.TZ, Logger: s.log}); err != nil {
		return nil, err
	}
	s.metrics = newMetrics(x, s.sched)
	s.ws = newWSHub(s)
	if feed, ok := st.(store.CancelFeed); ok {
		// A cancel accepted by any instance reaches the worker's socket
		// on whichever instance holds it.
		s.ws.relay = true
		feed.OnCancel(s.ws.relayCancel)
	}
	s.newConsole()
	s.handler = s.routes()
	return s, nil
}

// Orchestrator is the application this server serves.
func (s *Server) Orchestrator() *orchestrator.Orchestrator { return s.x }

// Registry is the orchestrator's blueprint registry.
func (s *Server) Registry() *lang.Registry { return s.x.Registry() }

// Store is the orchestrator's store.
func (s *Server) Store() store.Store { return s.x.Store() }

// Handler is the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Reload lints the blueprints folder and applies it blueprint by
// blueprint (see orchestrator.Reload); it reports whether every change
// was taken.
func (s *Server) Reload(ctx context.Context) bool { return s.x.Reload(ctx) }

// Reloaded returns a channel closed when the next reload attempt ends.
func (s *Server) Reloaded() <-chan struct{} { return s.x.Reloaded() }

// Run serves on l and runs the orchestrator's background loops until ctx
// ends, then drains: new jobs are refused, long polls answer at once,
// in-flight requests finish (up to grace), and Run returns.
//
// The connections it keeps open are bounded (Limits.MaxConnections): past
// the bound an idle one is closed to make room, else the new one is
// refused with a 503 at once. Idle keep-alive connections close after
// Limits.IdleTimeout, a request head must arrive within 10 s and a body
// within Limits.BodyReadTimeout.
func (s *Server) Run(ctx context.Context, l net.Listener, grace time.Duration) error {
	lim := newConnLimiter(l, s.maxConnections())
	l = lim
	hs := &http.Server{
		Handler: s.handler, ReadHeaderTimeout: headerTimeout, IdleTimeout: s.cfg.Limits.IdleTimeout,
		ConnState: lim.connState, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	loops, stopLoops := context.WithCancel(context.Background())
	stopped := s.x.Start(loops)
	schedDone := make(chan struct{})
	go func() { defer close(schedDone); s.sched.Run(loops) }()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(l) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	// Drain: first answer readyz 503 for READY_DELAY_SECONDS while
	// still taking work, so that load balancers stop sending; then refuse
	// new jobs, answer long polls, let in-flight requests (results above
	// all) finish, then stop the loops and the store.
	s.notReady.Store(true)
	if d := s.cfg.ReadyDelay; d > 0 && err == nil {
		s.log.Info("not ready; draining after the delay", "delay", d)
		select {
		case <-time.After(d):
		case <-s.endDelay:
		}
	}
	s.Drain()
	s.ws.closeAll()
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if d := min(s.drainDelay, grace); d > 0 && err == nil {
		s.log.Info("draining: new jobs get 503 until the listener closes", "in", d)
		select {
		case <-time.After(d):
		case <-s.endDelay:
		}
	}
	if e := hs.Shutdown(sctx); e != nil {
		// net/http counts a connection that has sent nothing yet as busy
		// for its first five seconds (a client's dial that outlived its
		// request leaves one in the client's pool): only requests under
		// way make the grace's end an error. The rest are closed.
		busy := lim.inRequest()
		_ = hs.Close()
		if busy > 0 && err == nil {
			err = fmt.Errorf("%d requests still under way after the grace of %v: %w", busy, grace, e)
		}
	}
	if p, ok := s.parkers.LoadAndDelete(hs); ok {
		p.(*park.Parker).Wait()
	}
	stopLoops()
	<-stopped
	<-schedDone
	if e := s.x.Close(); e != nil {
		s.log.Warn("close store", "err", e)
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// headerTimeout bounds the reading of a request's head.
const headerTimeout = 10 * time.Second

// maxConnections is Limits.MaxConnections, or the open-file limit less
// 128 (for the store's connections, files and the listener), or 10,000
// where the limit is unknown.
func (s *Server) maxConnections() int {
	if n := s.cfg.Limits.MaxConnections; n > 0 {
		return n
	}
	if n := openFileLimit(); n > 0 {
		return max(n-128, 16)
	}
	return 10_000
}

// endDrainDelay ends Run's drain delay now.
func (s *Server) endDrainDelay() { s.endOnce.Do(func() { close(s.endDelay) }) }

// Drain stops taking new jobs and ends waiting long polls (SIGTERM).
func (s *Server) Drain() { s.x.Drain() }

// parker is the Parker of the http.Server that serves r, started the
// first time; nil when parking is off or r came through no http.Server.
func (s *Server) parker(r *http.Request) *park.Parker {
	if s.noParking {
		return nil
	}
	hs, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	if hs == nil {
		return nil
	}
	if p, ok := s.parkers.Load(hs); ok {
		return p.(*park.Parker)
	}
	s.parkMu.Lock()
	defer s.parkMu.Unlock()
	if p, ok := s.parkers.Load(hs); ok {
		return p.(*park.Parker)
	}
	addr, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	p := park.New(hs, addr, park.Options{
		Handler: s.handler, Draining: s.x.Draining, Log: s.log,
		IdleTimeout: s.cfg.Limits.IdleTimeout, BodyTimeout: s.cfg.Limits.BodyReadTimeout,
	})
	s.parkers.Store(hs, p)
	return p
}
