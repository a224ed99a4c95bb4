// Package server is the orchestrator: it serves the client API and the
// worker protocol over HTTP, runs jobs through the engine and keeps the
// blueprints folder hot-reloaded.
//
// Data flows one way per request: a handler decodes and authenticates,
// then calls the runtime (deliver an event to a job: read it, step the
// pure engine, commit job and effects with a version check, retry on a
// conflict), then encodes. Background loops deliver durable timers and
// reclaim expired leases; all of them stop when Run's context ends.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/dispatch"
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
}

// Server is one orchestrator instance.
type Server struct {
	cfg      config.Config
	store    store.Store
	log      *slog.Logger
	now      func() time.Time
	rand     io.Reader
	reg      *lang.Registry
	clients  map[string]*client // by token
	workers  map[string]string  // worker id -> token
	metrics  *metrics
	ws       *wsHub
	draining atomic.Bool
	handler  http.Handler
	// drainCtx ends when the server starts draining: long polls answer,
	// webhook retries stop.
	drainCtx   context.Context
	startDrain context.CancelFunc
	hooks      sync.WaitGroup
	waiters    waiters
	jobs       jobCache
	jobLocks   jobLocks
	workerRecs workerCache

	kick chan struct{} // wakes the reclaim loop

	hookClient  *http.Client
	hookBackoff time.Duration

	reloadMu   sync.Mutex
	reloadDone chan struct{} // closed when the next reload attempt ends
}

type client struct {
	config.Client
}

// New builds a server and loads the blueprints. A folder that does not
// lint clean is an error naming every finding.
func New(o Options) (*Server, error) {
	s := &Server{
		cfg: o.Config, store: o.Store, log: o.Logger, now: o.Clock, rand: o.Rand,
		reg: lang.NewRegistry(), clients: map[string]*client{}, workers: o.Workers,
		kick: make(chan struct{}, 1), hookClient: o.HTTPClient, hookBackoff: o.WebhookBackoff,
	}
	s.drainCtx, s.startDrain = context.WithCancel(context.Background())
	if s.store == nil {
		s.store = memstore.New(memstore.Options{Clock: o.Clock})
	}
	// Copies of jobs spare a round trip per event on a store over the
	// network; an in-process store reads as fast as the copy, which would
	// only hold the memory twice.
	if !s.store.Features().InProcess {
		s.jobs.max = 50_000
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.hookClient == nil {
		s.hookClient = &http.Client{Timeout: 10 * time.Second}
	}
	if s.hookBackoff <= 0 {
		s.hookBackoff = 2 * time.Second
	}
	if s.workers == nil {
		s.workers = map[string]string{}
	}
	for _, c := range o.Clients {
		s.clients[c.Token] = &client{c}
	}
	if o.Clients == nil && s.cfg.ClientToken != "" {
		s.clients[s.cfg.ClientToken] = &client{config.Client{Name: "default", Token: s.cfg.ClientToken, Plan: "default"}}
	}
	set := o.Blueprints
	if set == nil {
		var ds lang.Diagnostics
		set, ds = lang.LoadDir(s.cfg.BlueprintsDir)
		if ds.HasErrors() {
			return nil, fmt.Errorf("blueprints in %s do not lint clean:\n%w", s.cfg.BlueprintsDir, ds)
		}
	}
	if err := s.install(context.Background(), set); err != nil {
		return nil, err
	}
	s.metrics = newMetrics(s)
	s.ws = newWSHub(s)
	s.handler = s.routes()
	return s, nil
}

// install records every version in the store and makes the set current.
func (s *Server) install(ctx context.Context, set *lang.Set) error {
	for _, m := range set.Machines {
		if err := s.store.PutVersion(ctx, store.Version{Hash: m.Hash, File: m.File, Sources: m.Sources}); err != nil {
			return fmt.Errorf("record blueprint %q: %w", m.Name, err)
		}
		if len(m.Stores) > 0 {
			if err := s.store.SeedStores(ctx, m.Name, m.Stores); err != nil {
				return fmt.Errorf("seed stores of %q: %w", m.Name, err)
			}
		}
	}
	s.reg.Swap(set)
	return nil
}

// Registry is the server's blueprint registry.
func (s *Server) Registry() *lang.Registry { return s.reg }

// Store is the server's store.
func (s *Server) Store() store.Store { return s.store }

// Handler is the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Run serves on l and runs the background loops until ctx ends, then
// drains: new jobs are refused, long polls answer at once, in-flight
// requests finish (up to grace), and Run returns.
func (s *Server) Run(ctx context.Context, l net.Listener, grace time.Duration) error {
	hs := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	loops, stopLoops := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, loop := range []func(context.Context){s.timerLoop, s.reclaimLoop} {
		wg.Add(1)
		go func() { defer wg.Done(); loop(loops) }()
	}
	if s.cfg.BlueprintsDir != "" {
		// Watch before serving, so no edit made after Run starts is missed.
		if w := s.newWatcher(); w != nil {
			wg.Add(1)
			go func() { defer wg.Done(); s.watch(loops, w) }()
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(l) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	// Drain: refuse new jobs, answer long polls, let in-flight requests
	// (results above all) finish, then stop the loops and the store.
	s.Drain()
	s.ws.closeAll()
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if e := hs.Shutdown(sctx); e != nil && err == nil {
		err = e
	}
	waitParked(hs)
	stopLoops()
	wg.Wait()
	s.hooks.Wait()
	if e := s.store.Close(); e != nil && !errors.Is(e, store.ErrClosed) {
		s.log.Warn("close store", "err", e)
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Drain stops taking new jobs and ends waiting long polls (SIGTERM).
func (s *Server) Drain() {
	s.draining.Store(true)
	s.startDrain()
}

func (s *Server) uuid() string {
	var b [16]byte
	_, _ = io.ReadFull(s.rand, b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func (s *Server) limits() core.Limits {
	return core.Limits{MaxSteps: s.cfg.MaxTransitionsPerJob, TaskTimeout: s.cfg.WorkerTimeout}
}

// machine returns the version a job runs, rebuilding it from the store
// when this instance has not seen it.
func (s *Server) machine(ctx context.Context, j *core.Job) (*lang.Machine, error) {
	if m := s.reg.ByHash(j.Version); m != nil {
		return m, nil
	}
	v, err := s.store.Version(ctx, j.Version)
	if err != nil {
		return nil, fmt.Errorf("blueprint version %s of job %s: %w", short(j.Version), j.ID, err)
	}
	m, err := lang.Rebuild(v.File, v.Sources)
	if err != nil {
		return nil, err
	}
	return s.reg.Add(m), nil
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// errRetry marks a commit that lost a version race.
const maxCommitTries = 50

// deliver applies one event to a job: read, step, commit; on a version
// conflict it reads again and steps again. complete, when set, marks the
// leased task done in the same commit. It returns the committed job.
// Events of one job are applied one at a time on this instance.
func (s *Server) deliver(ctx context.Context, jobID string, ev core.Event, complete *store.TaskCompletion) (*core.Job, error) {
	unlock := s.jobLocks.lock(jobID)
	nj, eff, err := s.commitEvent(ctx, jobID, ev, complete)
	unlock()
	if err != nil {
		return nj, err
	}
	s.after(ctx, nj, eff)
	return nj, nil
}

// commitEvent is deliver's read, step and commit, under the job's lock.
func (s *Server) commitEvent(ctx context.Context, jobID string, ev core.Event, complete *store.TaskCompletion) (*core.Job, *core.Effects, error) {
	for try := 0; ; try++ {
		j := s.jobs.get(jobID)
		cached := j != nil
		if !cached {
			var err error
			if j, err = s.store.GetJob(ctx, jobID); err != nil {
				return nil, nil, err
			}
		}
		m, err := s.machine(ctx, j)
		if err != nil {
			return nil, nil, err
		}
		in, err := s.inputs(ctx, m)
		if err != nil {
			return nil, nil, err
		}
		nj, eff, err := core.Step(ctx, m, j, ev, in)
		if err != nil && cached {
			// The copy may be stale: judge the event on the stored job.
			s.jobs.drop(jobID)
			continue
		}
		if err != nil {
			if complete != nil && (errors.Is(err, core.ErrStaleTask) || errors.Is(err, core.ErrTerminal)) {
				// Close the lease all the same, so the task is not re-run.
				_, cerr := s.store.CommitIfVersion(ctx, store.CommitParams{Job: j, ExpectRev: j.Rev, Effects: &core.Effects{}, Complete: complete})
				if errors.Is(cerr, store.ErrConflict) && try < maxCommitTries {
					continue
				}
				if cerr != nil && !errors.Is(cerr, store.ErrConflict) {
					return j, nil, cerr
				}
			}
			return j, nil, err
		}
		if err := s.prepare(ctx, nj, eff); err != nil {
			return nil, nil, err
		}
		rev, err := s.store.CommitIfVersion(ctx, store.CommitParams{Job: nj, ExpectRev: j.Rev, Effects: eff, Complete: complete})
		if errors.Is(err, store.ErrConflict) && try < maxCommitTries {
			s.jobs.drop(jobID)
			continue
		}
		if err != nil {
			s.jobs.drop(jobID)
			return nil, nil, err
		}
		nj.Rev = rev
		s.jobs.put(nj)
		return nj, eff, nil
	}
}

func (s *Server) inputs(ctx context.Context, m *lang.Machine) (core.Inputs, error) {
	in := core.Inputs{Now: s.now(), Rand: s.rand, Limits: s.limits()}
	if len(m.Stores) > 0 {
		st, err := s.store.Stores(ctx, m.Name)
		if err != nil {
			return in, err
		}
		in.Stores = st
	}
	return in, nil
}

// prepare fills in what the engine leaves to the runtime: the version of
// each child job, and the worker a strategy picks for each task.
func (s *Server) prepare(ctx context.Context, j *core.Job, eff *core.Effects) error {
	for _, c := range eff.StartChild {
		m := s.reg.Current(c.Blueprint)
		if m == nil {
			return fmt.Errorf("job %s: sub-blueprint %q is not loaded", j.ID, c.Blueprint)
		}
		c.Version = m.Hash
	}
	for _, t := range eff.Enqueue {
		if t.Strategy == "" || t.Strategy == dispatch.Default {
			continue
		}
		cands, err := s.store.Candidates(ctx, t.Type)
		if err != nil {
			return err
		}
		var rr uint64
		if t.Strategy == "round_robin" {
			if rr, err = s.store.Counter(ctx, "rr:"+t.Type); err != nil {
				return err
			}
		}
		w, err := dispatch.Pick(t, cands, rr)
		if err != nil {
			return err
		}
		t.Worker = w
	}
	return nil
}

// after runs what follows a commit: starting child jobs, telling workers
// to cancel, notifying listeners, waking the timer loop.
func (s *Server) after(ctx context.Context, j *core.Job, eff *core.Effects) {
	for _, id := range eff.Withdraw {
		s.ws.cancel(ctx, id, j.ID)
	}
	for _, c := range eff.StartChild {
		if _, err := s.startJob(ctx, c); err != nil {
			s.log.Error("start child job", "job", j.ID, "child", c.ID, "err", err)
		}
	}
	if eff.Notify != nil {
		s.waiters.wake(j)
		s.metrics.finished(j)
		s.notify(j, eff.Notify)
	}
}

// startJob steps a new (or created-but-not-started) job with its created
// event and creates or commits it; it returns the job as committed.
func (s *Server) startJob(ctx context.Context, j *core.Job) (*core.Job, error) {
	m, err := s.machine(ctx, j)
	if err != nil {
		return nil, err
	}
	in, err := s.inputs(ctx, m)
	if err != nil {
		return nil, err
	}
	nj, eff, err := core.Step(ctx, m, j, core.Event{Kind: core.EventCreated}, in)
	if err != nil {
		return nil, err
	}
	if err := s.prepare(ctx, nj, eff); err != nil {
		return nil, err
	}
	if j.Parent != nil {
		// The parent's commit created the child's record; commit over it.
		var cur *core.Job
		if cur, err = s.store.GetJob(ctx, j.ID); err == nil {
			nj.Rev, err = s.store.CommitIfVersion(ctx, store.CommitParams{Job: nj, ExpectRev: cur.Rev, Effects: eff})
		}
	} else {
		err = s.store.CreateJob(ctx, store.CommitParams{Job: nj, Effects: eff})
		nj.Rev = 1
	}
	if err != nil {
		return nil, err
	}
	s.jobs.put(nj)
	s.metrics.created(nj)
	s.after(ctx, nj, eff)
	return nj, nil
}

// timerLoop delivers due timers, waking when one is armed or due.
func (s *Server) timerLoop(ctx context.Context) {
	for {
		armed := s.store.TimerArmed()
		s.fireTimers(ctx)
		wait := time.Hour
		if at, ok, err := s.store.NextTimerAt(ctx); err == nil && ok {
			wait = max(at.Sub(s.now()), time.Millisecond)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-armed:
		case <-t.C:
		}
		t.Stop()
	}
}

func (s *Server) fireTimers(ctx context.Context) {
	for {
		ts, err := s.store.ClaimDueTimers(ctx, s.now(), 256)
		if err != nil || len(ts) == 0 {
			return
		}
		for _, t := range ts {
			s.fire(ctx, t)
		}
	}
}

func (s *Server) fire(ctx context.Context, t core.Timer) {
	if t.Event.Kind == core.EventDispatchTimeout {
		ok, err := s.store.WithdrawIfQueued(ctx, t.Event.TaskID)
		if err != nil || !ok {
			return // a worker took it in time
		}
	}
	if _, err := s.deliver(ctx, t.JobID, t.Event, nil); err != nil && !benign(err) {
		s.log.Warn("deliver timer", "job", t.JobID, "timer", t.ID, "err", err)
	}
}

// benign errors mean the event no longer applies; nothing is lost.
func benign(err error) bool {
	return errors.Is(err, core.ErrStaleTask) || errors.Is(err, core.ErrStaleTimer) || errors.Is(err, core.ErrTerminal) ||
		errors.Is(err, core.ErrBadEvent) || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrClosed)
}

// reclaimLoop returns expired leases to the engine and forgets dead
// workers, a few times a second.
func (s *Server) reclaimLoop(ctx context.Context) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-s.kick:
		}
		now := s.now()
		if _, err := s.store.ExpireWorkers(ctx, now); err != nil && !errors.Is(err, store.ErrClosed) {
			s.log.Warn("expire workers", "err", err)
		}
		tasks, err := s.store.ReclaimExpired(ctx, now, 256)
		if err != nil {
			continue
		}
		for _, t := range tasks {
			ev := core.Event{Kind: core.EventTaskTimeout, TaskID: t.ID, Branch: t.Branch, WorkerID: t.Worker}
			if _, err := s.deliver(ctx, t.JobID, ev, nil); err != nil && !benign(err) {
				s.log.Warn("deliver lease timeout", "job", t.JobID, "task", t.ID, "err", err)
			}
		}
	}
}

// Reclaim runs one pass of lease reclaim and worker expiry at once (tests).
func (s *Server) Reclaim() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func cloneMap(m map[string]any) map[string]any { return maps.Clone(m) }

// waiters are the requests waiting for a job to end. A wake hands each
// the job as committed, so it answers without reading the store again.
type waiters struct {
	mu sync.Mutex
	m  map[string][]chan *core.Job
}

// wait registers for the next wake of job id; the channel receives once.
func (w *waiters) wait(id string) chan *core.Job {
	ch := make(chan *core.Job, 1)
	w.mu.Lock()
	if w.m == nil {
		w.m = map[string][]chan *core.Job{}
	}
	w.m[id] = append(w.m[id], ch)
	w.mu.Unlock()
	return ch
}

func (w *waiters) drop(id string, ch chan *core.Job) {
	w.mu.Lock()
	defer w.mu.Unlock()
	list := w.m[id]
	for i, c := range list {
		if c == ch {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(w.m, id)
	} else {
		w.m[id] = list
	}
}

func (w *waiters) wake(j *core.Job) {
	w.mu.Lock()
	list := w.m[j.ID]
	delete(w.m, j.ID)
	w.mu.Unlock()
	for _, ch := range list {
		ch <- j
	}
}
