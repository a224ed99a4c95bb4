// Package worker is the Go worker SDK: a process that registers with one
// or more Avtomatika orchestrators, long-polls them for tasks, runs a
// handler per task type and sends the results back, signed per
// PROTOCOL.md §3.3.
//
// Data flows one way per task: a poller takes a task from an
// orchestrator (GET /_worker/workers/{id}/tasks/next), downloads its
// payload files when an offload is configured, calls the handler with a
// context that the orchestrator can cancel (WebSocket cancel_task or a
// heartbeat's cancel_task_ids), uploads the files the result names, and
// posts the result to the orchestrator that issued the task, retrying
// network failures until it is delivered. Beside the pollers, one
// goroutine per orchestrator registers (retrying 1 -> 60 s, except a 401
// or 403, which refuses the token and ends Run), logs each registration
// once, heartbeats every HeartbeatInterval and soon after each task
// starts or ends, and re-registers when the orchestrator no longer knows
// the worker; another keeps the WebSocket open when enabled.
//
// # Outcomes
//
// A handler's Result names the status: success (also when empty),
// failure, cancelled, or any word the blueprint's transitions know, such
// as out_of_stock. A returned error fails the task with the wire error
// object {code, message, details}: Transient (retried by the
// orchestrator while the blueprint's retries allow), Permanent (the job
// is quarantined), InvalidInput (fails at once), WithCode for any other
// code, WithDetails for the details member; a plain error is
// TRANSIENT_ERROR and a panic INTERNAL_ERROR, after which the worker
// keeps running. A task the orchestrator cancelled ends cancelled
// whatever the handler returns.
//
// # Payload files
//
// Each task has a folder, Task.PayloadDir, under PayloadDir; it is
// removed before the result is sent. S3 offload lives in its own package,
// s3offload, so that a worker without it links no S3 client: with
// Config.NewOffload set to s3offload.New and S3_ENDPOINT_URL set, s3://
// URIs in the params are streamed into the task's folder before the
// handler runs, and absolute paths of existing files in the result data
// are uploaded to s3://{bucket}/{job_id}/{basename}, replaced by that URI
// and described in data_metadata. A result path outside PayloadDir is
// refused: the task fails with PERMANENT_ERROR, since running the same
// handler again would name it again. New refuses a configuration that
// sets S3_ENDPOINT_URL without an offload to use it.
//
// # Configuration
//
// FromEnv reads the names of PROTOCOL.md §2.2 through a Lookup (Env is
// the process environment over a .env file); set fields on the Config
// afterwards to override them in code. The worker token is the first set
// of WORKER_INDIVIDUAL_TOKEN, WORKER_TOKEN and AVTOMATIKA_WORKER_TOKEN;
// New refuses a worker without one (unless each orchestrator has its
// own) and an empty ORCHESTRATOR_URL.
//
// The package depends on the wire types, the standard library and a
// WebSocket client only: never on the orchestrator's runtime, Starlark,
// Redis or an S3 client.
package worker

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/internal/uuid"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// Worker runs handlers for the tasks orchestrators hand it.
type Worker struct {
	cfg     Config
	log     *slog.Logger
	links   []*link
	offload Offload // nil without payload offload

	mu       sync.Mutex
	handlers map[string]HandlerFunc
	running  map[string]*Task // by task id
	readyCh  chan struct{}    // closed and replaced when a link's readiness changes

	started atomic.Bool
	// refused ends Run when an orchestrator refuses the worker's token;
	// set by Run before the links start.
	refused func(error)
}

// deliverMin is the least time results get to reach the orchestrator
// after the handlers' shutdown timeout.
const deliverMin = 5 * time.Second

// errCancelRequested is the cause of a task context the orchestrator
// cancelled.
var errCancelRequested = errors.New("the orchestrator cancelled the task")

// New checks cfg (after filling its defaults) and returns a Worker.
func New(cfg Config) (*Worker, error) {
	if err := cfg.withDefaults(); err != nil {
		return nil, fmt.Errorf("worker config: %w", err)
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("worker config: %w", err)
	}
	// FromEnv leaves the token to code; a worker needs one to start.
	for _, o := range cfg.Orchestrators {
		if o.Token == "" && cfg.Token == "" {
			return nil, fmt.Errorf("worker config: no token for %s: set WORKER_TOKEN (or WORKER_INDIVIDUAL_TOKEN, AVTOMATIKA_WORKER_TOKEN), or the orchestrator's own token", o.URL)
		}
	}
	if t, ok := cfg.HTTPClient.Transport.(*http.Transport); ok || cfg.HTTPClient.Transport == nil {
		if !ok {
			t = http.DefaultTransport.(*http.Transport)
		}
		t = t.Clone()
		t.MaxIdleConnsPerHost = 2*cfg.MaxConcurrentTasks + 4
		c := *cfg.HTTPClient
		c.Transport = t
		cfg.HTTPClient = &c
	}
	w := &Worker{
		cfg: cfg, log: cfg.Logger.With("worker", cfg.WorkerID),
		handlers: map[string]HandlerFunc{}, running: map[string]*Task{}, readyCh: make(chan struct{}),
	}
	for i, o := range cfg.Orchestrators {
		tok := o.Token
		if tok == "" {
			tok = cfg.Token
		}
		id := url.PathEscape(cfg.WorkerID)
		w.links = append(w.links, &link{
			w: w, idx: i, o: o, token: tok, kick: make(chan struct{}, 1), wake: make(chan struct{}, 1),
			pollURL:   o.URL + fmt.Sprintf(wire.RouteNextFmt, id) + fmt.Sprintf("?timeout=%g", cfg.PollTimeout.Seconds()),
			beatURL:   o.URL + fmt.Sprintf(wire.RouteWorkerFmt, id),
			resultURL: o.URL + wire.RouteResult,
		})
	}
	if cfg.S3.Endpoint != "" {
		if cfg.NewOffload == nil {
			return nil, errors.New("worker config: S3_ENDPOINT_URL is set but Config.NewOffload is not: set it to s3offload.New to move payloads through S3")
		}
		o, err := cfg.NewOffload(cfg)
		if err != nil {
			return nil, fmt.Errorf("worker config: %w", err)
		}
		w.offload = o
	}
	return w, nil
}

// Offload moves a task's payload files between a store (S3, see the
// s3offload package) and the task's folder, PayloadDir.
type Offload interface {
	// Download replaces the references in t.Params by the paths of
	// files it fetched under t.PayloadDir, before the handler runs. Its
	// error fails the task (TRANSIENT_ERROR unless it carries a code).
	Download(ctx context.Context, t *Task) error
	// Upload replaces the paths of files under t.PayloadDir in data by
	// references to where it put them, and returns their data_metadata.
	Upload(ctx context.Context, t *Task, data map[string]any) (map[string]wire.FileMetadata, error)
	// ConfigHash is capabilities.s3_config_hash at registration.
	ConfigHash() string
}

// ID is the worker's id.
func (w *Worker) ID() string { return w.cfg.WorkerID }

// Handle registers h for tasks of taskType (a skill the worker
// advertises). Call it before Run.
func (w *Worker) Handle(taskType string, h HandlerFunc) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.handlers[taskType] = h
}

func (w *Worker) skills() []wire.SkillInfo {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []wire.SkillInfo
	for name := range w.handlers {
		out = append(out, wire.SkillInfo{Name: name})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (w *Worker) handler(taskType string) (HandlerFunc, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	h, ok := w.handlers[taskType]
	return h, ok
}

// Run works until ctx ends, then shuts down: it stops polling, lets
// running tasks finish (cancelling their contexts after
// ShutdownTimeout), delivers their results, tells each orchestrator it
// goes offline and returns. It returns an error when the worker cannot
// start, and when an orchestrator refuses its registration with 401 or
// 403 (a token it does not accept): Run then shuts down as above and
// returns that refusal instead of retrying it forever.
func (w *Worker) Run(ctx context.Context) error {
	if !w.started.CompareAndSwap(false, true) {
		return errors.New("worker: Run was already called")
	}
	if len(w.skills()) == 0 {
		return errors.New("worker: no handlers: call Handle before Run")
	}
	if err := os.MkdirAll(w.cfg.PayloadDir, 0o755); err != nil {
		return fmt.Errorf("worker: payload folder (TASK_FILES_DIR): %w", err)
	}
	ctx, stopRun := context.WithCancelCause(ctx)
	defer stopRun(nil)
	var refusal error
	var refusalOnce sync.Once
	w.refused = func(err error) {
		refusalOnce.Do(func() { refusal = err; stopRun(err) })
	}
	base := context.WithoutCancel(ctx)
	// Handlers run on hard, which ends ShutdownTimeout after ctx; results
	// are delivered on deliver, which ends as long again after that, and
	// at least deliverMin.
	hard, hardCancel := context.WithCancel(base)
	deliver, deliverCancel := context.WithCancel(base)
	defer hardCancel()
	defer deliverCancel()
	var timers []*time.Timer
	var timersMu sync.Mutex
	stopAfter := context.AfterFunc(ctx, func() {
		timersMu.Lock()
		defer timersMu.Unlock()
		timers = append(timers,
			time.AfterFunc(w.cfg.ShutdownTimeout, hardCancel),
			time.AfterFunc(w.cfg.ShutdownTimeout+max(w.cfg.ShutdownTimeout, deliverMin), deliverCancel))
	})
	defer func() {
		stopAfter()
		timersMu.Lock()
		for _, t := range timers {
			t.Stop()
		}
		timersMu.Unlock()
	}()

	// Links keep heartbeating while tasks drain, so cancellations still
	// arrive and the orchestrator keeps the worker alive.
	linkCtx, linkCancel := context.WithCancel(base)
	defer linkCancel()
	var links sync.WaitGroup
	for _, l := range w.links {
		links.Go(func() { l.maintain(linkCtx) })
		if w.cfg.EnableWebSockets {
			links.Go(func() { l.socket(linkCtx) })
		}
	}
	var pollers sync.WaitGroup
	for range w.cfg.MaxConcurrentTasks {
		pollers.Go(func() { w.pollLoop(ctx, hard, deliver) })
	}
	pollers.Wait()
	linkCancel()
	links.Wait()

	off, cancel := context.WithTimeout(base, 5*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, l := range w.links {
		if l.isRegistered() {
			wg.Go(func() {
				if _, err := l.heartbeat(off, wire.WorkerOffline); err != nil {
					w.log.Debug("offline heartbeat", "orchestrator", l.o.URL, "err", err)
				}
			})
		}
	}
	wg.Wait()
	return refusal
}

// pollLoop takes tasks one at a time and runs each to its delivered
// result; MaxConcurrentTasks of them run side by side.
func (w *Worker) pollLoop(ctx, hard, deliver context.Context) {
	var bo backoff
	bo.init(100*time.Millisecond, 5*time.Second)
	for ctx.Err() == nil {
		l := w.pick(ctx)
		if l == nil {
			return
		}
		t, err := l.poll(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			w.log.Warn("poll", "orchestrator", l.o.URL, "err", err)
			l.trouble(err)
			if !sleep(ctx, bo.next()) {
				return
			}
			continue
		}
		bo.reset()
		if t != nil {
			w.execute(hard, deliver, l, t)
		}
	}
}

// pick waits for a reachable orchestrator and returns the one to poll
// next (nil when ctx ends).
func (w *Worker) pick(ctx context.Context) *link {
	for {
		w.mu.Lock()
		var ready []*link
		for _, l := range w.links {
			if l.ready {
				ready = append(ready, l)
			} else if w.cfg.Mode != RoundRobin && !l.checked {
				// FAILOVER moves past an orchestrator only once it is
				// known to be unreachable, not while it is first checked.
				break
			}
		}
		if len(ready) > 0 {
			var l *link
			if w.cfg.Mode == RoundRobin && len(ready) > 1 {
				// Smooth weighted round robin (nginx).
				total := 0
				for _, r := range ready {
					r.current += r.o.Weight
					total += r.o.Weight
					if l == nil || r.current > l.current {
						l = r
					}
				}
				l.current -= total
			} else {
				l = ready[0]
			}
			w.mu.Unlock()
			return l
		}
		ch := w.readyCh
		w.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil
		}
	}
}

func (w *Worker) setReady(l *link, ready bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if l.ready != ready || !l.checked {
		l.ready, l.checked = ready, true
		close(w.readyCh)
		w.readyCh = make(chan struct{})
	}
}

// execute runs one task and delivers its result.
func (w *Worker) execute(hard, deliver context.Context, l *link, wt *wire.Task) {
	ctx, cancel := context.WithCancelCause(hard)
	defer cancel(nil)
	t := &Task{
		JobID: wt.JobID, TaskID: wt.TaskID, Type: wt.Type, Priority: wt.Priority,
		Params: wt.Params, Metadata: wt.Metadata, TracingContext: wt.TracingContext, ParamsMetadata: wt.ParamsMetadata,
		PayloadDir: w.taskDir(wt.TaskID), link: l, cancel: cancel,
	}
	if t.Params == nil {
		t.Params = map[string]any{}
	}
	if wt.Deadline != 0 {
		t.Deadline = time.Unix(int64(wt.Deadline), 0)
	}
	w.mu.Lock()
	w.running[t.TaskID] = t
	w.mu.Unlock()
	w.kickAll()

	ctx, span := w.startSpan(ctx, t)
	res := w.run(ctx, t)
	res.TracingContext = traceContext(ctx)
	endSpan(span, &res)
	// The files are uploaded by now: the folder goes before the result, so
	// a finished job never leaves one behind.
	w.removeTaskDir(t.PayloadDir)
	if err := l.submit(deliver, res); err != nil {
		w.log.Error("result not delivered", "task", t.TaskID, "job", t.JobID, "orchestrator", l.o.URL, "err", err)
	}
	w.mu.Lock()
	delete(w.running, t.TaskID)
	w.mu.Unlock()
	w.kickAll()
}

// removeTaskDir removes a task's folder. Most tasks never make one: a
// look (one system call) spares them os.RemoveAll's unlink and rmdir.
func (w *Worker) removeTaskDir(dir string) {
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err := os.RemoveAll(dir); err != nil {
		w.log.Warn("remove task folder", "dir", dir, "err", err)
	}
}

func (w *Worker) taskDir(taskID string) string {
	// Task ids come from the server; keep only what is safe in a name.
	name := taskID
	if strings.IndexFunc(taskID, unsafeInName) >= 0 {
		safe := []rune(taskID)
		for i, r := range safe {
			if unsafeInName(r) {
				safe[i] = '_'
			}
		}
		name = string(safe)
	}
	if name == "" || name == "." || name == ".." {
		name = "task"
	}
	return w.cfg.PayloadDir + string(os.PathSeparator) + name
}

func unsafeInName(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
}

// run calls the handler and turns what happened into a result.
func (w *Worker) run(ctx context.Context, t *Task) wire.Result {
	res := wire.Result{JobID: t.JobID, TaskID: t.TaskID, WorkerID: w.cfg.WorkerID, OriginWorkerID: w.cfg.WorkerID}
	fail := func(err error) wire.Result {
		res.Status = wire.ResultFailure
		res.Error = errorInfo(err)
		return res
	}
	h, ok := w.handler(t.Type)
	if !ok {
		return fail(Permanent(fmt.Errorf("worker %s has no handler for task type %q", w.cfg.WorkerID, t.Type)))
	}
	if w.offload != nil {
		if err := w.offload.Download(ctx, t); err != nil {
			return fail(err)
		}
	}
	out, err := call(ctx, h, t)
	switch {
	case t.Cancelled():
		res.Status = wire.ResultCancelled
		res.Data = out.Data
		return res
	case err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return fail(Transient(fmt.Errorf("task %s: the worker shut down before it finished: %w", t.TaskID, err)))
	case err != nil:
		return fail(err)
	}
	res.Status = out.Status
	if res.Status == "" {
		res.Status = wire.ResultSuccess
	}
	res.Data = out.Data
	res.Metadata = out.Metadata
	if w.offload != nil && len(res.Data) > 0 {
		meta, err := w.offload.Upload(ctx, t, res.Data)
		if err != nil {
			return fail(err)
		}
		res.DataMetadata = meta
	}
	return res
}

// call runs h, turning a panic into an INTERNAL_ERROR failure.
func call(ctx context.Context, h HandlerFunc, t *Task) (res Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			res, err = Result{}, WithCode(wire.CodeInternalError, fmt.Errorf("task %s: handler for %q panicked: %v", t.TaskID, t.Type, p))
		}
	}()
	return h(ctx, t)
}

// cancelTasks cancels the named tasks if they run here.
func (w *Worker) cancelTasks(ids []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, id := range ids {
		if t := w.running[id]; t != nil && !t.cancelled.Swap(true) {
			w.log.Info("task cancelled by the orchestrator", "task", id)
			t.cancel(errCancelRequested)
		}
	}
}

// current lists the tasks l issued that run here, and whether every
// slot is taken.
func (w *Worker) current(l *link) (ids []string, busy bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ids = []string{}
	for id, t := range w.running {
		if t.link == l {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, len(w.running) >= w.cfg.MaxConcurrentTasks
}

func (w *Worker) kickAll() {
	for _, l := range w.links {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
}

// link is the worker's connection to one orchestrator.
type link struct {
	w     *Worker
	idx   int
	o     Orchestrator
	token string
	kick  chan struct{} // a task started or ended: heartbeat soon
	wake  chan struct{} // a call failed: check the orchestrator now

	// URLs of the calls made per task, built once.
	pollURL, beatURL, resultURL string

	// guarded by w.mu
	ready   bool
	checked bool // ready was set at least once
	current int  // smooth weighted round robin

	registered atomic.Bool
	sent       sent // signatures sent lately (no message is sent twice)
}

func (l *link) isRegistered() bool { return l.registered.Load() }

// httpError is a non-2xx answer.
type httpError struct {
	Status int
	Body   string
}

func (e *httpError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Body) }

// forgotten reports whether err says the orchestrator no longer knows
// or accepts the worker: register again (PROTOCOL.md §3.1).
func forgotten(err error) bool {
	var he *httpError
	return errors.As(err, &he) && (he.Status == http.StatusNotFound || he.Status == http.StatusUnauthorized || he.Status == http.StatusForbidden)
}

// refusedToken reports whether err is a 401 or 403: the orchestrator
// does not accept the worker's token.
func refusedToken(err error) bool {
	var he *httpError
	return errors.As(err, &he) && (he.Status == http.StatusUnauthorized || he.Status == http.StatusForbidden)
}

// trouble marks the orchestrator unreachable (or the worker unknown to
// it) until the maintainer has checked it again.
func (l *link) trouble(err error) {
	if forgotten(err) {
		l.registered.Store(false)
	}
	l.w.setReady(l, false)
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// maintain registers and heartbeats until ctx ends.
func (l *link) maintain(ctx context.Context) {
	w := l.w
	var bo backoff
	bo.init(w.cfg.RetryInitial, w.cfg.RetryMax)
	for ctx.Err() == nil {
		if !l.registered.Load() {
			if err := l.register(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				if refusedToken(err) {
					w.refused(fmt.Errorf("worker: %s refused the registration of %s (check WORKER_TOKEN): %w", l.o.URL, w.cfg.WorkerID, err))
					w.setReady(l, false)
					return
				}
				w.log.Warn("register", "orchestrator", l.o.URL, "err", err)
				w.setReady(l, false)
				if !sleep(ctx, bo.next()) {
					return
				}
				continue
			}
			l.registered.Store(true)
		}
		status := wire.WorkerIdle
		if _, busy := w.current(l); busy {
			status = wire.WorkerBusy
		}
		reply, err := l.heartbeat(ctx, status)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			w.log.Warn("heartbeat", "orchestrator", l.o.URL, "err", err)
			if forgotten(err) {
				l.registered.Store(false)
			}
			w.setReady(l, false)
			if !sleep(ctx, bo.next()) {
				return
			}
			continue
		}
		bo.reset()
		w.setReady(l, true)
		if len(reply.CancelTaskIDs) > 0 {
			w.cancelTasks(reply.CancelTaskIDs)
		}
		if reply.RequireFullSync {
			l.registered.Store(false)
			continue
		}
		wait := w.cfg.HeartbeatInterval + time.Duration(reply.NextHeartbeatJitterMS)*time.Millisecond
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		case <-l.wake:
			timer.Stop()
		case <-l.kick:
			timer.Stop()
			if !sleep(ctx, w.cfg.HeartbeatDebounce) {
				return
			}
			select {
			case <-l.kick:
			default:
			}
		}
	}
}

func (l *link) register(ctx context.Context) error {
	w := l.w
	hostname, _ := os.Hostname()
	ws := w.cfg.EnableWebSockets
	extra := map[string]any{}
	for k, v := range w.cfg.Extra {
		extra[k] = v
	}
	extra["websockets"] = ws
	resources := map[string]any{"max_concurrent_tasks": w.cfg.MaxConcurrentTasks}
	for k, v := range w.cfg.Resources {
		resources[k] = v
	}
	reg := wire.Registration{
		WorkerID: w.cfg.WorkerID, WorkerType: w.cfg.WorkerType, SupportedSkills: w.skills(),
		Resources: resources, InstalledSoftware: w.cfg.InstalledSoftware,
		Capabilities: wire.Capabilities{
			Hostname: hostname, CostPerSkill: w.cfg.CostPerSkill, Websockets: &ws, Extra: extra,
		},
		Timestamp: wire.Now(),
	}
	if w.offload != nil {
		reg.Capabilities.S3ConfigHash = w.offload.ConfigHash()
	}
	if _, err := l.call(ctx, http.MethodPost, l.o.URL+wire.RouteRegister, reg, wire.KindMessage); err != nil {
		return err
	}
	w.log.Info("registered", "orchestrator", l.o.URL)
	return nil
}

func (l *link) heartbeat(ctx context.Context, status wire.WorkerStatus) (wire.HeartbeatReply, error) {
	ids, _ := l.w.current(l)
	hb := wire.Heartbeat{WorkerID: l.w.cfg.WorkerID, Status: status, CurrentTasks: ids, Timestamp: wire.Now()}
	var reply wire.HeartbeatReply
	b, err := l.call(ctx, http.MethodPatch, l.beatURL, hb, wire.KindMessage)
	if err != nil {
		return reply, err
	}
	if len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, &reply); err != nil {
			return reply, fmt.Errorf("heartbeat reply %.200q: %w", b, err)
		}
	}
	return reply, nil
}

// poll long-polls once: a task, or nil when none came.
func (l *link) poll(ctx context.Context) (*wire.Task, error) {
	w := l.w
	ctx, cancel := context.WithTimeout(ctx, w.cfg.PollTimeout+5*time.Second)
	defer cancel()
	b, err := l.call(ctx, http.MethodGet, l.pollURL, nil, 0)
	if err != nil {
		return nil, err
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" || string(b) == "{}" {
		return nil, nil
	}
	var t wire.Task
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("task from %s: %w", l.o.URL, err)
	}
	if t.TaskID == "" || t.JobID == "" {
		return nil, fmt.Errorf("task from %s: job_id and task_id are required", l.o.URL)
	}
	return &t, nil
}

// submit delivers a result, retrying network failures, 429 and 5xx
// with backoff until ctx ends. An "ignored" reply is final.
func (l *link) submit(ctx context.Context, res wire.Result) error {
	w := l.w
	var bo backoff
	bo.init(w.cfg.RetryInitial, w.cfg.RetryMax/2)
	// An orchestrator that no longer knows the worker (it restarted) gets
	// a new registration and the result again, a few times.
	const maxForgotten = 5
	forgot := 0
	for {
		res.Timestamp = wire.Now() // a retry is signed afresh
		b, err := l.call(ctx, http.MethodPost, l.resultURL, res, wire.KindMessage)
		if err == nil {
			// Most replies are accepted: only one that may say ignored is
			// decoded, to log why.
			if bytes.Contains(b, []byte(wire.ReplyIgnored)) {
				var reply wire.ResultReply
				if json.Unmarshal(b, &reply) == nil && reply.Status == wire.ReplyIgnored {
					w.log.Info("result ignored", "task", res.TaskID, "reason", reply.Reason, "message", reply.Message)
				}
			}
			return nil
		}
		var he *httpError
		switch {
		case forgotten(err) && forgot < maxForgotten:
			forgot++
			if rerr := l.register(ctx); rerr != nil {
				l.trouble(err)
			}
		case errors.As(err, &he) && he.Status < 500 && he.Status != http.StatusTooManyRequests:
			return fmt.Errorf("result of task %s refused: %w", res.TaskID, err)
		}
		w.log.Warn("send result, will retry", "task", res.TaskID, "orchestrator", l.o.URL, "err", err)
		if !sleep(ctx, bo.next()) {
			return fmt.Errorf("result of task %s: gave up at shutdown: %w", res.TaskID, err)
		}
	}
}

func (l *link) event(ctx context.Context, t *Task, eventType string, payload map[string]any) error {
	id, err := uuid.New(crand.Reader)
	if err != nil {
		return fmt.Errorf("event %s of task %s: %w", eventType, t.TaskID, err)
	}
	ev := wire.Event{
		EventID: id, WorkerID: l.w.cfg.WorkerID, OriginWorkerID: l.w.cfg.WorkerID, EventType: eventType, Payload: payload,
		OriginTaskID: t.TaskID, TargetJobID: t.JobID, Timestamp: wire.Now(), TraceContext: traceContext(ctx),
	}
	if ev.Payload == nil {
		ev.Payload = map[string]any{}
	}
	_, err = l.call(ctx, http.MethodPost, l.o.URL+wire.RouteEvents, ev, wire.KindEvent)
	return err
}

// call sends one request to u (body signed when the link has a token)
// and returns the body of a 2xx answer; 204 gives nil.
func (l *link) call(ctx context.Context, method, u string, body any, kind wire.Kind) ([]byte, error) {
	w := l.w
	var rd io.Reader
	if body != nil {
		b, err := l.encode(body, kind)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if l.token != "" {
		req.Header.Set(wire.HeaderWorkerToken, l.token)
	}
	req.Header.Set(wire.HeaderWorkerID, w.cfg.WorkerID)
	req.Header.Set(wire.HeaderVersion, wire.Version)
	resp, err := w.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read answer: %w", method, u, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, &httpError{Status: resp.StatusCode, Body: string(bytes.TrimSpace(b))}
	}
	if resp.StatusCode == http.StatusNoContent {
		return nil, nil
	}
	return b, nil
}

// encode writes body as JSON and, with a token, appends the §3.3
// security member signed over the canonical form of what is sent.
func (l *link) encode(body any, kind wire.Kind) ([]byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", body, err)
	}
	if l.token == "" || len(b) < 2 || b[0] != '{' {
		return b, nil
	}
	sig, err := wire.Sign(l.token, b, kind)
	if err != nil {
		return nil, fmt.Errorf("sign %T: %w", body, err)
	}
	// The same message signed within the window would be refused as a
	// replay: it goes with a later timestamp instead.
	for range 60 {
		if l.sent.fresh(sig, time.Now()) {
			break
		}
		later, ok := laterTimestamp(b)
		if !ok {
			break
		}
		b = later
		if sig, err = wire.Sign(l.token, b, kind); err != nil {
			return nil, fmt.Errorf("sign %T: %w", body, err)
		}
	}
	// The member is what json.Marshal(wire.Security{...}) writes, by
	// hand: the signature is hex and the worker id is checked to be
	// [a-zA-Z0-9_-], so neither needs escaping.
	id := l.w.cfg.WorkerID
	out := make([]byte, 0, len(b)+len(sig)+len(id)+48)
	out = append(out, b[:len(b)-1]...)
	if len(b) > 2 {
		out = append(out, ',')
	}
	out = append(out, `"security":{"signature":"`...)
	out = append(out, sig...)
	out = append(out, `","signer_id":"`...)
	out = append(out, id...)
	return append(out, `"}}`...), nil
}

// backoff is exponential with jitter: each wait is in [d/2, d] where d
// doubles from initial up to max.
type backoff struct{ initial, max, cur time.Duration }

func (b *backoff) init(initial, max time.Duration) {
	b.initial, b.max = max1(initial), max1(max)
}

func max1(d time.Duration) time.Duration {
	if d <= 0 {
		return time.Millisecond
	}
	return d
}

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.initial
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	half := b.cur / 2
	return half + rand.N(b.cur-half+1)
}

func (b *backoff) reset() { b.cur = 0 }

// sleep waits d; false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
