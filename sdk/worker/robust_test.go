package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/sdk/client"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
	"github.com/avtomatika-ai/avtomatika-go/sdk/worker"
)

// netFault is a loopback proxy in front of a real orchestrator that
// records the worker's requests and can cut the connection of the first
// result submissions, as a flaky network would.
type netFault struct {
	mu          sync.Mutex
	target      *url.URL
	dropResults int              // result POSTs still to cut
	forget      int              // result POSTs still to answer 404, as a restarted orchestrator would
	results     []wire.Result    // every result POST seen, in order
	bodies      [][]byte         // their raw bodies
	heartbeats  []wire.Heartbeat // every heartbeat seen
	offline     chan struct{}    // closed at the first offline heartbeat
	registered  int              // registrations seen
	resultSeen  chan wire.Result // each result POST, as it arrives
	proxy       *httputil.ReverseProxy
	closeOnce   sync.Once
	down        atomic.Bool         // every request fails as on a network outage
	events      [][]byte            // bodies of POST /_worker/events
	hbSeen      chan wire.Heartbeat // every heartbeat, dropped when full
}

func newNetFault(t *testing.T, target string) (*netFault, string) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	f := &netFault{target: u, offline: make(chan struct{}), resultSeen: make(chan wire.Result, 64), hbSeen: make(chan wire.Heartbeat, 256)}
	f.proxy = &httputil.ReverseProxy{ErrorLog: log.New(io.Discard, "", 0), Rewrite: func(r *httputil.ProxyRequest) {
		f.mu.Lock()
		tgt := f.target
		f.mu.Unlock()
		r.SetURL(tgt)
	}}
	ts := httptest.NewServer(f)
	t.Cleanup(ts.Close)
	return f, ts.URL
}

// point sends later requests to another orchestrator.
func (f *netFault) point(t *testing.T, target string) {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.target = u
	f.mu.Unlock()
}

func (f *netFault) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.down.Load() {
		// Unreachable: every connection breaks.
		if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
			c.Close()
		}
		return
	}
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == wire.RouteResult:
		var res wire.Result
		_ = json.Unmarshal(body, &res)
		f.mu.Lock()
		f.results = append(f.results, res)
		f.bodies = append(f.bodies, body)
		drop := f.dropResults > 0
		if drop {
			f.dropResults--
		}
		forget := !drop && f.forget > 0
		if forget {
			f.forget--
		}
		f.mu.Unlock()
		f.resultSeen <- res
		if forget {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error":{"code":"NOT_FOUND","message":"worker not found"}}`)
			return
		}
		if drop {
			// The connection breaks before an answer: a network error.
			if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
				c.Close()
			}
			return
		}
	case r.Method == http.MethodPatch:
		var hb wire.Heartbeat
		_ = json.Unmarshal(body, &hb)
		f.mu.Lock()
		f.heartbeats = append(f.heartbeats, hb)
		f.mu.Unlock()
		select {
		case f.hbSeen <- hb:
		default:
		}
		if hb.Status == wire.WorkerOffline {
			f.closeOnce.Do(func() { close(f.offline) })
		}
	case r.Method == http.MethodPost && r.URL.Path == wire.RouteEvents:
		f.mu.Lock()
		f.events = append(f.events, body)
		f.mu.Unlock()
	case r.Method == http.MethodPost && r.URL.Path == wire.RouteRegister:
		f.mu.Lock()
		f.registered++
		f.mu.Unlock()
	}
	f.proxy.ServeHTTP(w, r)
}

func (f *netFault) snapshot() ([]wire.Result, [][]byte, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]wire.Result(nil), f.results...), append([][]byte(nil), f.bodies...), f.registered
}

// TestResultRetriedAndSigned: results whose connection breaks are sent
// again until delivered, each copy signed with the worker token.
func TestResultRetriedAndSigned(t *testing.T) {
	t.Parallel()
	url, _ := orchestrator(t)
	f, proxied := newNetFault(t, url)
	f.dropResults = 2
	w := newWorker(t, "retry-1", []string{proxied}, nil)
	w.Handle("check_inventory", func(ctx context.Context, task *worker.Task) (worker.Result, error) {
		return worker.Result{Data: map[string]any{"in_stock": true, "n": 1.5, "item_id": task.Params["item_id"]}}, nil
	})
	run(t, w)
	c := newClient(t, url)
	id, err := c.Start(context.Background(), "inventory_check", map[string]any{"item_id": "sku-é"}, client.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if j := wait(t, c, id); j.Status != wire.StatusFinished {
		t.Fatalf("job ended %s (error %+v), want finished after the result was retried", j.Status, j.Error)
	}
	results, bodies, _ := f.snapshot()
	if len(results) != 3 {
		t.Fatalf("%d result submissions, want 3 (two cut, one delivered)", len(results))
	}
	for i, r := range results {
		if r.TaskID != results[0].TaskID || r.JobID != id || r.Status != wire.ResultSuccess || r.WorkerID != "retry-1" {
			t.Errorf("submission %d: %+v, want the same successful result of job %s", i, r, id)
		}
		if r.Security == nil || r.Security.SignerID != "retry-1" || !wire.Verify(token, bodies[i], wire.KindMessage, r.Security.Signature) {
			t.Errorf("submission %d: signature %+v does not verify with the worker token: %s", i, r.Security, bodies[i])
		}
		if wire.Verify("another-token", bodies[i], wire.KindMessage, r.Security.Signature) {
			t.Errorf("submission %d verifies with a wrong token", i)
		}
	}
}

// TestIgnoredResultIsFinal: a result the orchestrator ignores (the job
// was cancelled meanwhile) is not sent again.
func TestIgnoredResultIsFinal(t *testing.T) {
	t.Parallel()
	url, _ := orchestrator(t)
	f, proxied := newNetFault(t, url)
	w := newWorker(t, "ignored-1", []string{proxied}, func(c *worker.Config) {
		c.MaxConcurrentTasks = 1
		c.EnableWebSockets = false
		c.HeartbeatInterval = time.Minute
	})
	started, release := make(chan string, 1), make(chan struct{})
	w.Handle("long_running_task", func(ctx context.Context, task *worker.Task) (worker.Result, error) {
		started <- task.TaskID
		<-release
		return worker.Result{Data: map[string]any{"done": true}}, nil
	})
	w.Handle("check_inventory", func(ctx context.Context, task *worker.Task) (worker.Result, error) {
		return worker.Result{Data: map[string]any{"in_stock": true}}, nil
	})
	run(t, w)
	c := newClient(t, url)
	ctx := context.Background()
	id, err := c.Start(ctx, "long_running", map[string]any{"duration_seconds": 60}, client.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var taskID string
	select {
	case taskID = <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("the task never started")
	}
	if err := c.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	if j := wait(t, c, id); j.Status != wire.StatusCancelled {
		t.Fatalf("job %s, want cancelled", j.Status)
	}
	close(release)
	// With one slot, the next job runs only after the first task's
	// submission ended.
	next, err := c.Start(ctx, "inventory_check", map[string]any{"item_id": "x"}, client.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if j := wait(t, c, next); j.Status != wire.StatusFinished {
		t.Fatalf("next job %s, want finished", j.Status)
	}
	results, _, _ := f.snapshot()
	n := 0
	for _, r := range results {
		if r.TaskID == taskID {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the cancelled task's result was sent %d times, want once (an ignored reply is final)", n)
	}
}

// TestShutdownDrains: on ctx cancel, a running task finishes, its result
// is delivered, an offline heartbeat is sent, and Run returns.
func TestShutdownDrains(t *testing.T) {
	t.Parallel()
	url, _ := orchestrator(t)
	f, proxied := newNetFault(t, url)
	w := newWorker(t, "drain-1", []string{proxied}, func(c *worker.Config) { c.ShutdownTimeout = 30 * time.Second })
	started, release := make(chan struct{}, 1), make(chan struct{})
	w.Handle("check_inventory", func(ctx context.Context, task *worker.Task) (worker.Result, error) {
		started <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
			return worker.Result{}, ctx.Err()
		}
		return worker.Result{Data: map[string]any{"in_stock": true}}, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	c := newClient(t, url)
	id, err := c.Start(context.Background(), "inventory_check", map[string]any{"item_id": "x"}, client.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("the task never started")
	}
	cancel()
	select {
	case err := <-done:
		t.Fatalf("Run returned (%v) while a task was running", err)
	case <-f.offline:
		t.Fatal("offline heartbeat before the running task ended")
	default:
	}
	close(release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after the last task ended")
	}
	if j := wait(t, c, id); j.Status != wire.StatusFinished {
		t.Errorf("job %s (error %+v), want finished with the result sent during shutdown", j.Status, j.Error)
	}
	select {
	case <-f.offline:
	default:
		t.Error("no offline heartbeat before Run returned")
	}
}

// TestShutdownTimeoutCancels: a task still running ShutdownTimeout after
// ctx ended has its ctx cancelled, and its failure is still reported.
func TestShutdownTimeoutCancels(t *testing.T) {
	t.Parallel()
	url, _ := orchestrator(t)
	f, proxied := newNetFault(t, url)
	w := newWorker(t, "drain-2", []string{proxied}, func(c *worker.Config) { c.ShutdownTimeout = 100 * time.Millisecond })
	started := make(chan struct{}, 1)
	w.Handle("long_running_task", func(ctx context.Context, task *worker.Task) (worker.Result, error) {
		started <- struct{}{}
		<-ctx.Done()
		return worker.Result{}, ctx.Err()
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	c := newClient(t, url)
	if _, err := c.Start(context.Background(), "long_running", map[string]any{"duration_seconds": 60}, client.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("the task never started")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after the shutdown timeout")
	}
	results, _, _ := f.snapshot()
	if len(results) != 1 || results[0].Status != wire.ResultFailure || results[0].Error == nil || results[0].Error.Code != wire.CodeTransientError {
		t.Errorf("results %+v, want one TRANSIENT_ERROR failure for the interrupted task", results)
	}
}

// TestModes: with one slot and two orchestrators that both have work,
// ROUND_ROBIN serves both, FAILOVER only the first while it is up.
func TestModes(t *testing.T) {
	t.Parallel()
	for _, mode := range []worker.Mode{worker.RoundRobin, worker.Failover} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			url1, _ := orchestrator(t)
			url2, _ := orchestrator(t)
			w := newWorker(t, "mode-1", []string{url1, url2}, func(c *worker.Config) {
				c.Mode = mode
				c.MaxConcurrentTasks = 1
				// Equal priorities are ordered by URL: make the order explicit.
				c.Orchestrators = []worker.Orchestrator{{URL: url2, Priority: 2}, {URL: url1, Priority: 1}}
			})
			w.Handle("check_inventory", func(ctx context.Context, task *worker.Task) (worker.Result, error) {
				return worker.Result{Data: map[string]any{"in_stock": true}}, nil
			})
			run(t, w)
			ctx := context.Background()
			c1, c2 := newClient(t, url1), newClient(t, url2)
			var ids1, ids2 []string
			for range 3 {
				a, err := c1.Start(ctx, "inventory_check", map[string]any{"item_id": "a"}, client.StartOptions{})
				if err != nil {
					t.Fatal(err)
				}
				b, err := c2.Start(ctx, "inventory_check", map[string]any{"item_id": "b"}, client.StartOptions{})
				if err != nil {
					t.Fatal(err)
				}
				ids1, ids2 = append(ids1, a), append(ids2, b)
			}
			for _, id := range ids1 {
				if j := wait(t, c1, id); j.Status != wire.StatusFinished {
					t.Errorf("first orchestrator's job %s: %s", id, j.Status)
				}
			}
			if mode == worker.RoundRobin {
				for _, id := range ids2 {
					if j := wait(t, c2, id); j.Status != wire.StatusFinished {
						t.Errorf("second orchestrator's job %s: %s", id, j.Status)
					}
				}
				return
			}
			// FAILOVER: the first orchestrator is up, so the second one's
			// jobs still wait for a worker after the first one's ended.
			for _, id := range ids2 {
				j, err := c2.Get(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if j.Status.Terminal() {
					t.Errorf("FAILOVER: the second orchestrator's job %s ended (%s) while the first was up", id, j.Status)
				}
			}
		})
	}
}

// TestReRegisters: an orchestrator that does not know the worker (it
// restarted without its state) gets a new registration, and work goes on.
func TestReRegisters(t *testing.T) {
	t.Parallel()
	url1, _ := orchestrator(t)
	url2, _ := orchestrator(t)
	f, proxied := newNetFault(t, url1)
	w := newWorker(t, "rereg-1", []string{proxied}, nil)
	w.Handle("check_inventory", func(ctx context.Context, task *worker.Task) (worker.Result, error) {
		return worker.Result{Data: map[string]any{"in_stock": true}}, nil
	})
	run(t, w)
	c1, c2 := newClient(t, url1), newClient(t, url2)
	ctx := context.Background()
	id, err := c1.Start(ctx, "inventory_check", map[string]any{"item_id": "a"}, client.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if j := wait(t, c1, id); j.Status != wire.StatusFinished {
		t.Fatalf("job %s", j.Status)
	}
	f.point(t, url2)
	id2, err := c2.Start(ctx, "inventory_check", map[string]any{"item_id": "b"}, client.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if j := wait(t, c2, id2); j.Status != wire.StatusFinished {
		t.Fatalf("job on the restarted orchestrator: %s", j.Status)
	}
	if _, _, n := f.snapshot(); n < 2 {
		t.Errorf("%d registrations, want a new one after the orchestrator forgot the worker", n)
	}
}

// TestResultAfterForgotten: a result answered 404 (the orchestrator
// forgot the worker) is sent again after a new registration.
func TestResultAfterForgotten(t *testing.T) {
	t.Parallel()
	url, _ := orchestrator(t)
	f, proxied := newNetFault(t, url)
	f.forget = 1
	w := newWorker(t, "forgot-1", []string{proxied}, nil)
	w.Handle("check_inventory", func(ctx context.Context, task *worker.Task) (worker.Result, error) {
		return worker.Result{Data: map[string]any{"in_stock": true}}, nil
	})
	run(t, w)
	c := newClient(t, url)
	id, err := c.Start(context.Background(), "inventory_check", map[string]any{"item_id": "x"}, client.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if j := wait(t, c, id); j.Status != wire.StatusFinished {
		t.Fatalf("job %s (error %+v), want finished once the result was sent again", j.Status, j.Error)
	}
	// An orchestrator that is registered to again takes the worker to have
	// restarted and hands its leased task on: the result sent again may
	// then be ignored and the task run once more, so at least 2.
	results, _, regs := f.snapshot()
	if len(results) < 2 || regs < 2 {
		t.Errorf("%d result submissions and %d registrations, want at least 2 and at least 2", len(results), regs)
	}
}

// TestFailoverAndBack: FAILOVER leaves the first orchestrator while it is
// unreachable and returns to it when it is back.
func TestFailoverAndBack(t *testing.T) {
	t.Parallel()
	url1, _ := orchestrator(t)
	url2, _ := orchestrator(t)
	f, proxied := newNetFault(t, url1)
	w := newWorker(t, "back-1", nil, func(c *worker.Config) {
		c.Orchestrators = []worker.Orchestrator{{URL: proxied, Priority: 1}, {URL: url2, Priority: 2}}
	})
	w.Handle("check_inventory", func(ctx context.Context, task *worker.Task) (worker.Result, error) {
		return worker.Result{Data: map[string]any{"in_stock": true}}, nil
	})
	run(t, w)
	c1, c2 := newClient(t, url1), newClient(t, url2)
	ctx := context.Background()
	start := func(c *client.Client) string {
		id, err := c.Start(ctx, "inventory_check", map[string]any{"item_id": "x"}, client.StartOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	if j := wait(t, c1, start(c1)); j.Status != wire.StatusFinished {
		t.Fatalf("first orchestrator's job: %s", j.Status)
	}
	f.down.Store(true)
	if j := wait(t, c2, start(c2)); j.Status != wire.StatusFinished {
		t.Fatalf("second orchestrator's job while the first is down: %s", j.Status)
	}
	f.down.Store(false)
	if j := wait(t, c1, start(c1)); j.Status != wire.StatusFinished {
		t.Fatalf("first orchestrator's job after it came back: %s", j.Status)
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// TestConcurrency: MaxConcurrentTasks handlers run side by side, never
// more.
func TestConcurrency(t *testing.T) {
	t.Parallel()
	url, _ := orchestrator(t)
	w := newWorker(t, "conc-1", []string{url}, func(c *worker.Config) { c.MaxConcurrentTasks = 3 })
	var mu sync.Mutex
	running, most := 0, 0
	started, release := make(chan struct{}, 16), make(chan struct{})
	w.Handle("check_inventory", func(ctx context.Context, task *worker.Task) (worker.Result, error) {
		mu.Lock()
		running++
		most = max(most, running)
		mu.Unlock()
		started <- struct{}{}
		<-release
		mu.Lock()
		running--
		mu.Unlock()
		return worker.Result{Data: map[string]any{"in_stock": true}}, nil
	})
	run(t, w)
	c := newClient(t, url)
	ctx := context.Background()
	var ids []string
	for range 5 {
		id, err := c.Start(ctx, "inventory_check", map[string]any{"item_id": "x"}, client.StartOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for i := range 3 {
		select {
		case <-started:
		case <-time.After(20 * time.Second):
			t.Fatalf("only %d of 3 handlers started side by side", i)
		}
	}
	close(release)
	for _, id := range ids {
		if j := wait(t, c, id); j.Status != wire.StatusFinished {
			t.Errorf("job %s: %s", id, j.Status)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if most != 3 {
		t.Errorf("at most %d handlers ran at once, want 3", most)
	}
}

// TestHeartbeatCurrentTasks: heartbeats list the running tasks, say busy
// while every slot is taken, and idle with no tasks once they end.
func TestHeartbeatCurrentTasks(t *testing.T) {
	t.Parallel()
	url, _ := orchestrator(t)
	f, proxied := newNetFault(t, url)
	w := newWorker(t, "hb-1", []string{proxied}, func(c *worker.Config) { c.MaxConcurrentTasks = 1 })
	started, release := make(chan string, 1), make(chan struct{})
	w.Handle("check_inventory", func(ctx context.Context, task *worker.Task) (worker.Result, error) {
		started <- task.TaskID
		<-release
		return worker.Result{Data: map[string]any{"in_stock": true}}, nil
	})
	run(t, w)
	c := newClient(t, url)
	id, err := c.Start(context.Background(), "inventory_check", map[string]any{"item_id": "x"}, client.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var taskID string
	select {
	case taskID = <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("the task never started")
	}
	next := func(want func(wire.Heartbeat) bool, what string) {
		t.Helper()
		timeout := time.After(20 * time.Second)
		for {
			select {
			case hb := <-f.hbSeen:
				if want(hb) {
					return
				}
			case <-timeout:
				t.Fatalf("no heartbeat %s", what)
			}
		}
	}
	next(func(hb wire.Heartbeat) bool {
		return hb.Status == wire.WorkerBusy && len(hb.CurrentTasks) == 1 && hb.CurrentTasks[0] == taskID
	}, "saying busy with the running task")
	close(release)
	if j := wait(t, c, id); j.Status != wire.StatusFinished {
		t.Fatalf("job %s", j.Status)
	}
	next(func(hb wire.Heartbeat) bool {
		return hb.Status == wire.WorkerIdle && len(hb.CurrentTasks) == 0
	}, "saying idle with no tasks after the task ended")
}
