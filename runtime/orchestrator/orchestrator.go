// Package orchestrator is the application: it creates jobs, delivers
// events to them (read, step the pure engine, commit with a version
// check, retry on a conflict), leases tasks to workers and commits their
// results, fires durable timers, reclaims expired leases, starts child
// jobs, posts webhooks and keeps the blueprints folder hot-reloaded.
//
// It knows no HTTP request or response: runtime/server decodes a request,
// authenticates its caller, calls a method here and encodes what comes
// back. What the orchestrator refuses is an *Error whose Kind the server
// maps to a status. What happens after a commit (a job created or ended,
// tasks withdrawn, a reload applied or refused) is told to an Observer,
// which the server implements for its metrics and WebSocket pushes.
//
// One job's path: Create steps the new job with its created event and
// commits it with its effects (tasks queued, timers armed); a worker's
// poll reaches Lease; its result reaches Result, which delivers a
// task_result event through the same step-and-commit path; the end of the
// job wakes the requests that wait on it, tells the observer and posts
// the webhook.
package orchestrator

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
)

// Options build an Orchestrator. Config and Store are required; the rest
// have defaults.
type Options struct {
	Config config.Config
	Store  store.Store
	Logger *slog.Logger // default: discard
	Clock  func() time.Time
	Rand   io.Reader // default: crypto/rand
	// Blueprints, when set, is used instead of Config.BlueprintsDir.
	Blueprints *lang.Set
	// Observer hears of commits and reloads (default: nobody).
	Observer Observer
	// HTTPClient posts webhooks (default: a client with a 10 s timeout).
	HTTPClient *http.Client
	// WebhookBackoff is the wait before the second try of a webhook; it
	// doubles for each later one, up to an hour (default 2 s).
	WebhookBackoff time.Duration
	// History, when set, archives ended jobs (archive.go); the store must
	// implement store.Outbox. The orchestrator closes it.
	History store.Archive
	// WebhookSecret returns the secret that signs the webhooks of a
	// client's jobs ("" : Config.WebhookSecret).
	WebhookSecret func(client string) string
	// Tracing writes spans (default: nil, tracing off).
	Tracing Tracing
}

// jobCacheSize is how many jobs an instance on a store over the network
// keeps copies of.
const jobCacheSize = 50_000

// Orchestrator is the application of one instance.
type Orchestrator struct {
	cfg   config.Config
	store store.Store
	log   *slog.Logger
	now   func() time.Time
	rand  io.Reader
	reg   *lang.Registry
	obs   Observer

	draining atomic.Bool
	// drainCtx ends when the instance starts draining: held waits answer,
	// webhook retries stop.
	drainCtx   context.Context
	startDrain context.CancelFunc

	waiters    waiters
	jobs       jobCache
	jobLocks   jobLocks
	workerRecs workerCache

	kick chan struct{} // wakes the reclaim loop
	// endPoll is how often a held wait reads its job (see Watch.Until).
	endPoll time.Duration
	ending  endMarks // ends being committed here (their notices are not needed)

	hooks       sync.WaitGroup
	hookClient  *http.Client
	hookBackoff time.Duration
	hookSecret  func(client string) string
	hookSem     chan struct{}

	tracing Tracing

	hist         store.Archive // nil: no history
	outbox       store.Outbox
	archiveKick  chan struct{}
	archiveEnded atomic.Int64         // jobs ended here since the archiver last read the outbox
	cpuTime      func() time.Duration // the process's CPU time, for yieldCPU

	reloadMu   sync.Mutex
	reloadDone chan struct{} // closed when the next reload attempt ends
	lastReload atomic.Pointer[ReloadReport]
	served     served // task types live workers serve, for waiting reasons
}

// New builds an orchestrator and installs its blueprints: Options.Blueprints,
// else the folder Config.BlueprintsDir, which must lint clean (the error
// names every finding).
func New(o Options) (*Orchestrator, error) {
	if o.Store == nil {
		return nil, errors.New("orchestrator: no store")
	}
	x := &Orchestrator{
		cfg: o.Config, store: o.Store, log: o.Logger, now: o.Clock, rand: o.Rand, obs: o.Observer,
		reg: lang.NewRegistry(), kick: make(chan struct{}, 1),
		hookClient: o.HTTPClient, hookBackoff: o.WebhookBackoff, cpuTime: processCPU,
		hookSecret: o.WebhookSecret, hookSem: make(chan struct{}, maxWebhooksInFlight),
		tracing: o.Tracing,
	}
	// Copies of jobs spare a round trip per event on a store over the
	// network; an in-process store reads as fast as the copy, which would
	// only hold the memory twice.
	x.cfg.Limits.SetDefaults()
	x.endPoll = endPollEvery
	if x.store.JobEnds() != nil || x.store.Features().InProcess {
		x.endPoll = endPollFallback
	}
	if !x.store.Features().InProcess {
		x.jobs.max = jobCacheSize
		x.jobs.maxBytes = x.cfg.Limits.JobCacheBytes
	}
	x.drainCtx, x.startDrain = context.WithCancel(context.Background())
	if x.log == nil {
		x.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if x.now == nil {
		x.now = time.Now
	}
	if x.rand == nil {
		x.rand = rand.Reader
	}
	if x.obs == nil {
		x.obs = NopObserver{}
	}
	if x.hookClient == nil {
		x.hookClient = &http.Client{Timeout: 10 * time.Second}
	}
	if x.hookBackoff <= 0 {
		x.hookBackoff = 2 * time.Second
	}
	if err := x.useHistory(o.History); err != nil {
		return nil, err
	}
	set := o.Blueprints
	if set == nil {
		var ds lang.Diagnostics
		set, ds = lang.LoadDir(x.cfg.BlueprintsDir)
		if ds.HasErrors() {
			return nil, fmt.Errorf("blueprints in %s do not lint clean:\n%w", x.cfg.BlueprintsDir, ds)
		}
	}
	if err := x.install(context.Background(), set); err != nil {
		return nil, err
	}
	return x, nil
}

// Registry is the blueprint registry: the current set, every version seen,
// and the findings of a refused reload.
func (x *Orchestrator) Registry() *lang.Registry { return x.reg }

// Store is the store the orchestrator commits to.
func (x *Orchestrator) Store() store.Store { return x.store }

// Config is the configuration the orchestrator runs with.
func (x *Orchestrator) Config() config.Config { return x.cfg }

// Now is the orchestrator's clock.
func (x *Orchestrator) Now() time.Time { return x.now() }

// Start starts the background loops (timers, lease reclaim, and the
// blueprints watcher when Config.BlueprintsDir is set); they run until
// ctx ends, and the channel it returns is closed once they all stopped.
// The watcher watches before Start returns, so no edit made after it is
// missed.
func (x *Orchestrator) Start(ctx context.Context) <-chan struct{} {
	var wg sync.WaitGroup
	for _, loop := range append([]func(context.Context){x.timerLoop, x.reclaimLoop, x.endsLoop}, x.historyLoops()...) {
		wg.Add(1)
		go func() { defer wg.Done(); loop(ctx) }()
	}
	if x.cfg.BlueprintsDir != "" {
		if w := x.newWatcher(); w != nil {
			wg.Add(1)
			go func() { defer wg.Done(); x.watch(ctx, w) }()
		}
	}
	stopped := make(chan struct{})
	go func() { wg.Wait(); close(stopped) }()
	return stopped
}

// endsLoop wakes the held waits of jobs that ended on another instance.
func (x *Orchestrator) endsLoop(ctx context.Context) {
	ch := x.store.JobEnds()
	if ch == nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-ch:
			if !x.ending.take(id) {
				x.waiters.notice(id)
			}
		}
	}
}

// Drain stops taking new jobs, ends held waits and stops webhook retries
// (SIGTERM). It is safe to call more than once.
func (x *Orchestrator) Drain() {
	x.draining.Store(true)
	x.startDrain()
}

// Draining reports whether Drain was called.
func (x *Orchestrator) Draining() bool { return x.draining.Load() }

// DrainContext is a context that ends when Drain is called: waits that
// should answer at once when the instance drains derive from it.
func (x *Orchestrator) DrainContext() context.Context { return x.drainCtx }

// Close waits for webhook deliveries under way and closes the store. Call
// it after the loops Start started have stopped.
func (x *Orchestrator) Close() error {
	x.hooks.Wait()
	if err := x.store.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
		return err
	}
	if x.hist != nil {
		return x.hist.Close()
	}
	return nil
}

// install records every version in the store and makes the set current.
func (x *Orchestrator) install(ctx context.Context, set *lang.Set) error {
	for _, m := range set.Machines {
		if err := x.store.PutVersion(ctx, store.Version{Hash: m.Hash, File: m.File, Sources: m.Sources}); err != nil {
			return fmt.Errorf("record blueprint %q: %w", m.Name, err)
		}
		if len(m.Stores) > 0 {
			if err := x.store.SeedStores(ctx, m.Name, m.Stores); err != nil {
				return fmt.Errorf("seed stores of %q: %w", m.Name, err)
			}
		}
	}
	x.reg.Swap(set)
	return nil
}
