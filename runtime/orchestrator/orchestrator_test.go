package orchestrator

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store/memstore"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

const stockBP = `name: stock
endpoint: /jobs/stock
start: check
states:
  check:
    task: {type: check_inventory}
    transitions: {success: done, out_of_stock: none}
  done: {end: success}
  none: {end: failure}
`

const napBP = `name: nap
endpoint: /jobs/nap
start: rest
states:
  rest: {wait: 50ms, go_to: check}
  check:
    task: {type: check_inventory, timeout: 100ms, retries: 0}
    transitions: {success: done, failure: done}
  done: {end: success}
`

// recorder is an Observer that keeps what it heard.
type recorder struct {
	mu               sync.Mutex
	created, ended   []string
	withdrawn        []string
	reloads, refused int
}

func (r *recorder) JobCreated(j *core.Job) {
	r.mu.Lock()
	r.created = append(r.created, j.ID)
	r.mu.Unlock()
}
func (r *recorder) JobEnded(j *core.Job) { r.mu.Lock(); r.ended = append(r.ended, j.ID); r.mu.Unlock() }
func (r *recorder) TaskWithdrawn(_ context.Context, id, _ string) {
	r.mu.Lock()
	r.withdrawn = append(r.withdrawn, id)
	r.mu.Unlock()
}
func (r *recorder) WebhookDelivery(*core.Job, string)                       {}
func (r *recorder) Stepped(*core.Job, *core.Job, core.Event, *core.Effects) {}
func (r *recorder) BlueprintsReloaded(_ *lang.Set, ds lang.Diagnostics) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ds.HasErrors() {
		r.refused++
	} else {
		r.reloads++
	}
}

func newOrchestrator(t *testing.T, st store.Store, o Options) *Orchestrator {
	t.Helper()
	set, ds := lang.LoadFS(fstest.MapFS{"stock.yaml": {Data: []byte(stockBP)}, "nap.yaml": {Data: []byte(napBP)}})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	o.Config = config.Default()
	o.Config.BlueprintsDir = ""
	o.Store = st
	o.Blueprints = set
	x, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func register(t *testing.T, x *Orchestrator, id string) {
	t.Helper()
	if err := x.Register(context.Background(), Registration{WorkerID: id, Skills: []string{"check_inventory"}}); err != nil {
		t.Fatal(err)
	}
}

// One job's whole path through the orchestrator, with no HTTP: created,
// leased, its result committed with the transition the engine took, and
// the end told to the observer and to a watch taken at creation.
func TestJobPath(t *testing.T) {
	ctx := context.Background()
	obs := &recorder{}
	x := newOrchestrator(t, memstore.New(memstore.Options{}), Options{Observer: obs})
	register(t, x, "w1")
	for _, c := range []struct {
		status, transition string
		end                wire.JobStatus
	}{
		{"success", wire.TransitionSuccess, wire.StatusFinished},
		{"out_of_stock", wire.TransitionSuccess, wire.StatusFailed},
		{"weird", wire.TransitionUnhandledStatus, wire.StatusFailed},
	} {
		m, err := x.Endpoint("/jobs/stock")
		if err != nil {
			t.Fatal(err)
		}
		j, w, err := x.Create(ctx, nil, m, CreateRequest{Input: map[string]any{"n": int64(1)}, Watch: true})
		if err != nil {
			t.Fatal(err)
		}
		p, err := x.Poll(ctx, "w1", 0)
		if err != nil {
			t.Fatal(err)
		}
		task, err := x.Lease(ctx, p)
		if err != nil || task == nil || task.JobID != j.ID {
			t.Fatalf("lease: %+v %v", task, err)
		}
		reply, err := x.Result(ctx, "w1", TaskResult{JobID: j.ID, TaskID: task.ID, Status: c.status})
		if err != nil {
			t.Fatal(err)
		}
		if reply.Status != wire.ReplyAccepted || reply.Transition != c.transition {
			t.Errorf("%s: reply %+v, want accepted with %s", c.status, reply, c.transition)
		}
		again, err := x.Result(ctx, "w1", TaskResult{JobID: j.ID, TaskID: task.ID, Status: c.status})
		if err != nil || again.Transition != "duplicate_result" {
			t.Errorf("%s: second result: %+v %v", c.status, again, err)
		}
		ended, err := w.Until(ctx, j, time.Second)
		if err != nil || ended.Status != c.end {
			t.Errorf("%s: watch: %+v %v, want %s", c.status, ended, err, c.end)
		}
	}
	if len(obs.created) != 3 || len(obs.ended) != 3 {
		t.Errorf("observer heard %d created, %d ended; want 3 and 3", len(obs.created), len(obs.ended))
	}
}

// Refusals carry their kind, which the server turns into a status.
func TestRefusals(t *testing.T) {
	ctx := context.Background()
	x := newOrchestrator(t, memstore.New(memstore.Options{}), Options{})
	kind := func(err error) Kind {
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("%v is not a refusal", err)
		}
		return e.Kind
	}
	if _, err := x.Endpoint("/jobs/none"); kind(err) != KindNotFound {
		t.Errorf("unknown endpoint: %v", err)
	}
	m, _ := x.Endpoint("/jobs/stock")
	if _, _, err := x.Create(ctx, nil, m, CreateRequest{WebhookURL: "ftp://x"}); kind(err) != KindInvalid {
		t.Errorf("ftp webhook: %v", err)
	}
	one := int64(1)
	acme := &config.Client{Name: "acme", MonthlyAttempts: &one}
	j, _, err := x.Create(ctx, acme, m, CreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := x.Create(ctx, acme, m, CreateRequest{}); kind(err) != KindExhausted {
		t.Errorf("over quota: %v", err)
	} else if e := err.(*Error); e.RetryAfter <= 0 {
		t.Errorf("over quota: no RetryAfter")
	}
	if _, err := x.Job(ctx, &config.Client{Name: "other"}, j.ID); kind(err) != KindNotFound {
		t.Errorf("another client's job: %v", err)
	}
	if _, err := x.Job(ctx, acme, j.ID); err != nil {
		t.Errorf("own job: %v", err)
	}
	if err := x.Approve(ctx, acme, j.ID, "maybe"); kind(err) != KindInvalid {
		t.Errorf("bad decision: %v", err)
	}
	if err := x.Approve(ctx, acme, j.ID, DecisionApproved); kind(err) != KindConflict {
		t.Errorf("approval of a job that waits for none: %v", err)
	}
	if err := x.Cancel(ctx, acme, j.ID); err != nil {
		t.Fatal(err)
	}
	if err := x.Cancel(ctx, acme, j.ID); kind(err) != KindNotFound {
		t.Errorf("cancel of an ended job: %v", err)
	}
	if _, err := x.Poll(ctx, "nobody", 0); kind(err) != KindNotFound {
		t.Errorf("poll of an unknown worker: %v", err)
	}
	if err := x.Register(ctx, Registration{}); kind(err) != KindInvalid {
		t.Errorf("registration without an id: %v", err)
	}
	x.Drain()
	if _, err := x.Endpoint("/jobs/stock"); kind(err) != KindUnavailable {
		t.Errorf("create while draining: %v", err)
	}
}

type brokenRand struct{}

func (brokenRand) Read([]byte) (int, error) { return 0, errors.New("no entropy") }

// A random source that fails is an error, never a zero id.
func TestBrokenRandIsAnError(t *testing.T) {
	x := newOrchestrator(t, memstore.New(memstore.Options{}), Options{Rand: brokenRand{}})
	m, _ := x.Endpoint("/jobs/stock")
	j, _, err := x.Create(context.Background(), nil, m, CreateRequest{})
	if err == nil || j != nil || !strings.Contains(err.Error(), "no entropy") {
		t.Fatalf("create with a broken random source: %+v %v", j, err)
	}
}

// flaky fails the calls its background loops make, n times each.
type flaky struct {
	store.Store
	claims, withdraws, reclaims, expires atomic.Int32
}

var errFlaky = errors.New("store away")

func (f *flaky) ClaimDueTimers(ctx context.Context, now time.Time, limit int) ([]core.Timer, error) {
	if f.claims.Add(-1) >= 0 {
		return nil, errFlaky
	}
	return f.Store.ClaimDueTimers(ctx, now, limit)
}

func (f *flaky) ReclaimExpired(ctx context.Context, now time.Time, limit int) ([]*core.Task, error) {
	if f.reclaims.Add(-1) >= 0 {
		return nil, errFlaky
	}
	return f.Store.ReclaimExpired(ctx, now, limit)
}

func (f *flaky) ExpireWorkers(ctx context.Context, now time.Time) ([]string, error) {
	if f.expires.Add(-1) >= 0 {
		return nil, errFlaky
	}
	return f.Store.ExpireWorkers(ctx, now)
}

// syncBuffer is a log sink safe for the loops' goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// The timer loop and lease reclaim survive store errors: each is logged
// and tried again after a backoff, and the job's wait and its task's
// expired lease still reach it.
func TestLoopsSurviveStoreErrors(t *testing.T) {
	f := &flaky{Store: memstore.New(memstore.Options{})}
	f.claims.Store(3)
	f.reclaims.Store(2)
	f.expires.Store(2)
	var logs syncBuffer
	x := newOrchestrator(t, f, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx, stop := context.WithCancel(context.Background())
	stopped := x.Start(ctx)
	defer func() { stop(); <-stopped }()
	register(t, x, "w1")
	m, _ := x.Endpoint("/jobs/nap")
	j, w, err := x.Create(ctx, nil, m, CreateRequest{Watch: true})
	if err != nil {
		t.Fatal(err)
	}
	// The wait's timer fires after the failed claims; the task is leased
	// and never answered, so its lease expires and comes back after the
	// failed reclaims as a failure, which the state handles.
	var task *core.Task
	for deadline := time.Now().Add(10 * time.Second); task == nil && time.Now().Before(deadline); {
		p, err := x.Poll(ctx, "w1", 0)
		if err != nil {
			t.Fatal(err)
		}
		if task, err = x.Lease(ctx, p); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if task == nil {
		t.Fatalf("the wait's timer never fired; log:\n%s", logs.String())
	}
	ended, err := w.Until(ctx, j, 10*time.Second)
	if err != nil || ended.Status != wire.StatusFinished {
		t.Fatalf("job %+v %v; log:\n%s", ended, err, logs.String())
	}
	for _, want := range []string{"timers: store error; retrying", "reclaim leases: store error; retrying", "store away"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

// The backoff doubles from its floor and stops at its cap.
func TestBackoff(t *testing.T) {
	want := []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}
	for i, w := range want {
		if got := backoff(i + 1); got != w {
			t.Errorf("backoff(%d) = %v, want %v", i+1, got, w)
		}
	}
	if got := backoff(100); got != retryMax {
		t.Errorf("backoff(100) = %v, want the cap %v", got, retryMax)
	}
}
