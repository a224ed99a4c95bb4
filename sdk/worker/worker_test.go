package worker_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/server"
	"github.com/avtomatika-ai/avtomatika-go/sdk/client"
	"github.com/avtomatika-ai/avtomatika-go/sdk/worker"
)

const token = "sdk-test-token"

// orchestrator starts the real server on loopback with the example
// blueprints and returns its URL and a stop function.
func orchestrator(t *testing.T) (string, func()) {
	t.Helper()
	cfg := config.Default()
	cfg.BlueprintsDir = filepath.Join("..", "..", "blueprints")
	cfg.GlobalWorkerToken = token
	cfg.PollTimeout = 2 * time.Second
	cfg.HealthCheckInterval = 2 * time.Second
	srv, err := server.New(server.Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.Run(ctx, l, 5*time.Second); close(done) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return "http://" + l.Addr().String(), stop
}

// orchestratorWith serves the given blueprint files on loopback.
func orchestratorWith(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := config.Default()
	cfg.BlueprintsDir = dir
	cfg.GlobalWorkerToken = token
	cfg.PollTimeout = time.Second
	srv, err := server.New(server.Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.Run(ctx, l, 5*time.Second); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return "http://" + l.Addr().String()
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// run starts w and stops it at cleanup, failing if Run does not return.
func run(t *testing.T, w *worker.Worker) context.CancelFunc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("Run did not return after shutdown")
		}
	})
	return cancel
}

func newWorker(t *testing.T, id string, urls []string, mod func(*worker.Config)) *worker.Worker {
	t.Helper()
	cfg := worker.Config{WorkerID: id, Token: token, Logger: quiet(), HeartbeatInterval: 500 * time.Millisecond,
		PollTimeout: time.Second, RetryInitial: 50 * time.Millisecond, RetryMax: 500 * time.Millisecond,
		ShutdownTimeout: 2 * time.Second, PayloadDir: t.TempDir(), EnableWebSockets: true}
	for _, u := range urls {
		cfg.Orchestrators = append(cfg.Orchestrators, worker.Orchestrator{URL: u})
	}
	if mod != nil {
		mod(&cfg)
	}
	w, err := worker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func newClient(t *testing.T, url string) *client.Client {
	t.Helper()
	c, err := client.New(url, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func wait(t *testing.T, c *client.Client, id string) *client.Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	j, err := c.Wait(ctx, id)
	if err != nil {
		t.Fatalf("wait %s: %v", id, err)
	}
	return j
}

func TestInventoryWorker(t *testing.T) {
	t.Parallel()
	url, _ := orchestrator(t)
	w := newWorker(t, "inv-1", []string{url}, nil)
	var panics atomic.Int32
	w.Handle("check_inventory", func(ctx context.Context, task *worker.Task) (worker.Result, error) {
		switch task.Params["item_id"] {
		case "none":
			return worker.Result{Status: "out_of_stock", Data: map[string]any{"in_stock": false}}, nil
		case "panic":
			panics.Add(1)
			panic("boom")
		case "bad":
			return worker.Result{}, worker.InvalidInput(errors.New("no such item"))
		case "perm":
			return worker.Result{}, worker.Permanent(errors.New("warehouse closed"))
		}
		return worker.Result{Data: map[string]any{"in_stock": true, "item_id": task.Params["item_id"], "warehouse_info": "ok"}}, nil
	})
	run(t, w)
	c := newClient(t, url)
	ctx := context.Background()
	cases := []struct{ item, status, state string }{
		{"sku-1", "finished", "in_stock"},
		{"none", "failed", "out_of_stock"},
		{"bad", "failed", "failed"},
		{"perm", "quarantined", "check"},
		{"panic", "failed", "failed"},
	}
	ids := make([]string, len(cases))
	for i, cs := range cases {
		id, err := c.Start(ctx, "inventory_check", map[string]any{"item_id": cs.item}, client.StartOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	for i, cs := range cases {
		j := wait(t, c, ids[i])
		if string(j.Status) != cs.status || j.State != cs.state {
			t.Errorf("%s: %s in %s, want %s in %s (error %+v)", cs.item, j.Status, j.State, cs.status, cs.state, j.Error)
		}
	}
	// A panic is a failure; the worker keeps running, and the transient
	// failure was retried by the blueprint (retries: 2).
	if n := panics.Load(); n != 3 {
		t.Errorf("panicking handler ran %d times, want 3 (1 + 2 retries)", n)
	}
}

func TestCancellation(t *testing.T) {
	t.Parallel()
	for _, push := range []bool{true, false} {
		t.Run(map[bool]string{true: "websocket", false: "heartbeat"}[push], func(t *testing.T) {
			t.Parallel()
			url, _ := orchestrator(t)
			w := newWorker(t, "long-1", []string{url}, func(c *worker.Config) { c.EnableWebSockets = push })
			started := make(chan struct{}, 1)
			w.Handle("long_running_task", func(ctx context.Context, task *worker.Task) (worker.Result, error) {
				started <- struct{}{}
				<-ctx.Done() // a cancellation ends the task's context
				if !task.CheckForCancellation(ctx) {
					return worker.Result{}, ctx.Err()
				}
				return worker.Result{Status: "cancelled"}, nil
			})
			run(t, w)
			c := newClient(t, url)
			id, err := c.Start(context.Background(), "long_running", map[string]any{"duration_seconds": 60}, client.StartOptions{})
			if err != nil {
				t.Fatal(err)
			}
			select {
			case <-started:
			case <-time.After(20 * time.Second):
				t.Fatal("the task never started")
			}
			if err := c.Cancel(context.Background(), id); err != nil {
				t.Fatal(err)
			}
			if j := wait(t, c, id); j.Status != "cancelled" {
				t.Errorf("status %s", j.Status)
			}
		})
	}
}

// TestFailover: two orchestrators; the first stops mid-test and the
// worker moves to the second; no task is lost or run twice.
func TestFailover(t *testing.T) {
	t.Parallel()
	url1, stop1 := orchestrator(t)
	url2, _ := orchestrator(t)
	// Equal priorities are ordered by URL: make url1 the first.
	w := newWorker(t, "fo-1", nil, func(c *worker.Config) {
		c.Orchestrators = []worker.Orchestrator{{URL: url1, Priority: 1}, {URL: url2, Priority: 2}}
	})
	var runs sync32
	w.Handle("check_inventory", func(ctx context.Context, task *worker.Task) (worker.Result, error) {
		runs.add(task.JobID)
		return worker.Result{Data: map[string]any{"ok": true}}, nil
	})
	run(t, w)
	c1, c2 := newClient(t, url1), newClient(t, url2)
	ctx := context.Background()
	id1, err := c1.Start(ctx, "inventory_check", map[string]any{"item_id": "a"}, client.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if j := wait(t, c1, id1); j.Status != "finished" {
		t.Fatalf("first orchestrator: %s", j.Status)
	}
	stop1()
	id2, err := c2.Start(ctx, "inventory_check", map[string]any{"item_id": "b"}, client.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if j := wait(t, c2, id2); j.Status != "finished" {
		t.Fatalf("second orchestrator: %s", j.Status)
	}
	if runs.count(id1) != 1 || runs.count(id2) != 1 {
		t.Errorf("runs: %v", runs.m)
	}
}

type sync32 struct {
	mu chan struct{}
	m  map[string]int
}

func (s *sync32) add(id string) {
	if s.mu == nil {
		s.mu = make(chan struct{}, 1)
	}
	s.mu <- struct{}{}
	if s.m == nil {
		s.m = map[string]int{}
	}
	s.m[id]++
	<-s.mu
}

func (s *sync32) count(id string) int {
	if s.mu == nil {
		return 0
	}
	s.mu <- struct{}{}
	defer func() { <-s.mu }()
	return s.m[id]
}

func TestFromEnv(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) worker.Lookup {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	c, err := worker.FromEnv(env(map[string]string{"WORKER_ID": "w-1", "AVTOMATIKA_WORKER_TOKEN": "a", "WORKER_TOKEN": "b",
		"ORCHESTRATORS_CONFIG": `[{"url":"http://b:1","priority":2},{"url":"http://a:1","priority":1}]`, "MULTI_ORCHESTRATOR_MODE": "waterfall",
		"WORKER_PAYLOAD_DIR": "/p", "S3_BUCKET": "bk", "WORKER_ENABLE_WEBSOCKETS": "true"}))
	if err != nil || c.Token != "b" || c.Mode != worker.Failover || c.PayloadDir != "/p" || c.S3.Bucket != "bk" || !c.EnableWebSockets || len(c.Orchestrators) != 2 {
		t.Fatalf("%+v %v", c, err)
	}
	for name, val := range map[string]string{"MAX_CONCURRENT_TASKS": "lots", "MULTI_ORCHESTRATOR_MODE": "RANDOM", "ORCHESTRATORS_CONFIG": "[{", "HEARTBEAT_INTERVAL": "-1", "WORKER_ID": "bad id", "ORCHESTRATOR_URL": "ftp://x"} {
		if _, err := worker.FromEnv(env(map[string]string{name: val})); err == nil || !strings.Contains(err.Error(), strings.Split(name, "_")[0]) {
			t.Errorf("%s=%q: error %v must name the variable", name, val, err)
		}
	}
}

// TestDeps: a worker binary pulls in neither Starlark, Redis, the
// orchestrator nor an S3 client (that is the s3offload package's).
func TestDeps(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "github.com/avtomatika-ai/avtomatika-go/sdk/worker").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, bad := range []string{"go.starlark.net", "github.com/redis/", "avtomatika-go/runtime", "avtomatika-go/lang", "github.com/aws/", "avtomatika-go/sdk/worker/s3offload"} {
		if strings.Contains(string(out), bad) {
			t.Errorf("sdk/worker depends on %s", bad)
		}
	}
}

var _ = http.StatusOK
