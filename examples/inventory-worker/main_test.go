package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/server"
	"github.com/avtomatika-ai/avtomatika-go/sdk/client"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
	"github.com/avtomatika-ai/avtomatika-go/sdk/worker"
)

const testToken = "inventory-example-token"

// serve starts the real orchestrator with the repository's blueprints on
// loopback and returns its URL.
func serve(t *testing.T) string {
	t.Helper()
	cfg := config.Default()
	cfg.BlueprintsDir = filepath.Join("..", "..", "blueprints")
	cfg.GlobalWorkerToken = testToken
	cfg.PollTimeout = 2 * time.Second
	srv, err := server.New(server.Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, l, 5*time.Second) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("server did not stop")
		}
	})
	return "http://" + l.Addr().String()
}

// startWorker runs the example's worker, configured the way a user would
// (environment names only), until the test ends.
func startWorker(t *testing.T, url string, a *app) {
	t.Helper()
	env := map[string]string{
		"ORCHESTRATOR_URL":         url,
		"WORKER_TOKEN":             testToken,
		"WORKER_ID":                "inventory-example-1",
		"WORKER_ENABLE_WEBSOCKETS": "true",
		"HEARTBEAT_INTERVAL":       "0.5",
		"TASK_POLL_TIMEOUT":        "1",
		"WORKER_SHUTDOWN_TIMEOUT":  "2",
		"TASK_FILES_DIR":           t.TempDir(),
		// One slot: a job after a cancelled one runs only once the
		// cancelled handler has returned.
		"MAX_CONCURRENT_TASKS": "1",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	w, err := newWorker(lookup, slog.New(slog.NewTextHandler(io.Discard, nil)), a)
	if err != nil {
		t.Fatal(err)
	}
	if w.ID() != "inventory-example-1" {
		t.Fatalf("worker id %q, want WORKER_ID", w.ID())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	// Jobs started before the registration lands would wait for a worker:
	// the tests begin once the orchestrator lists this one.
	waitRegistered(t, url, w.ID())
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("worker did not stop")
		}
	})
}

// waitRegistered polls GET /api/v1/workers until it lists id.
func waitRegistered(t *testing.T, url, id string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url + "/api/v1/workers")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(b), strconv.Quote(id)) {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("worker %s did not register within 20 s", id)
}

func waitJob(t *testing.T, c *client.Client, id string) *client.Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	j, err := c.Wait(ctx, id)
	if err != nil {
		t.Fatalf("wait for job %s: %v", id, err)
	}
	return j
}

// testApp is the cookbook's worker with short waits.
func testApp() *app { return &app{check: 10 * time.Millisecond, step: 50 * time.Millisecond} }

// TestInventoryCheck runs jobs of the inventory_check blueprint through
// the real server and the example worker: a list holding
// "unavailable_item" ends in out_of_stock with the missing item, any
// other list finishes with warehouse_info.
func TestInventoryCheck(t *testing.T) {
	url := serve(t)
	startWorker(t, url, testApp())
	c, err := client.New(url, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		input  map[string]any
		status client.Status
		state  string
		key    string // in the job's result
		value  any
	}{
		{map[string]any{"items": []string{"item1", "item2"}}, wire.StatusFinished, "in_stock", "warehouse_info", "All items are available"},
		{map[string]any{"items": []string{}}, wire.StatusFinished, "in_stock", "warehouse_info", "All items are available"},
		{map[string]any{"items": []string{"item1", "unavailable_item"}}, wire.StatusFailed, "out_of_stock", "missing_item", "unavailable_item"},
		// The one-item form is sent as a list of one.
		{map[string]any{"item_id": "unavailable_item"}, wire.StatusFailed, "out_of_stock", "missing_item", "unavailable_item"},
		{map[string]any{"item_id": "sku-42", "quantity": 3}, wire.StatusFinished, "in_stock", "warehouse_info", "All items are available"},
	} {
		id, err := c.Start(ctx, "/jobs/inventory_check", tc.input, client.StartOptions{})
		if err != nil {
			t.Fatal(err)
		}
		j := waitJob(t, c, id)
		if j.Status != tc.status || j.State != tc.state {
			t.Errorf("%v: job ended %s in state %q (error %+v), want %s in %q", tc.input, j.Status, j.State, j.Error, tc.status, tc.state)
		}
		if got := j.Result[tc.key]; got != tc.value {
			t.Errorf("%v: result %v: %s is %v, want %v", tc.input, j.Result, tc.key, got, tc.value)
		}
	}
	// Input without items (or item_id) is refused before any worker sees it.
	if _, err := c.Start(ctx, "/jobs/inventory_check", map[string]any{"items": "unavailable_item"}, client.StartOptions{}); err == nil {
		t.Error("items as a string: job created, want it refused")
	}
}

// TestCheckInventoryParams: a worker reached by another blueprint gets
// the cookbook's reading of params.items.
func TestCheckInventoryParams(t *testing.T) {
	a := testApp()
	for _, tc := range []struct {
		params map[string]any
		status string
		code   string
	}{
		{map[string]any{}, "success", ""},
		{map[string]any{"items": []any{map[string]any{"sku": "unavailable_item"}}}, "success", ""},
		{map[string]any{"items": []any{1.5, "unavailable_item"}}, "out_of_stock", ""},
		{map[string]any{"items": "unavailable_item"}, "", wire.CodeInvalidInputError},
	} {
		res, err := a.checkInventory(context.Background(), &worker.Task{Params: tc.params})
		code := ""
		if err != nil {
			code = worker.Code(err)
		}
		if code != tc.code || res.Status != tc.status {
			t.Errorf("%v: %+v, %v; want status %q code %q", tc.params, res, err, tc.status, tc.code)
		}
	}
}

// TestLongRunningCancelled: long_running_task works in ten steps; a job
// cancelled while it runs ends cancelled and frees the worker's slot.
func TestLongRunningCancelled(t *testing.T) {
	url := serve(t)
	a := testApp()
	a.step = 10 * time.Millisecond
	started := make(chan string, 4)
	a.started = func(id string) { started <- id }
	startWorker(t, url, a)
	c, err := client.New(url, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	short, err := c.Start(ctx, "/jobs/long_running", map[string]any{}, client.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if j := waitJob(t, c, short); j.Status != wire.StatusFinished || j.Result["steps_done"] != float64(10) {
		t.Fatalf("long_running job ended %s with %v (error %+v), want finished after 10 steps", j.Status, j.Result, j.Error)
	}
	<-started

	a.step = time.Minute // ten minutes in all: only a cancel ends it in time
	id, err := c.Start(ctx, "/jobs/long_running", map[string]any{}, client.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("the long task did not start")
	}
	if err := c.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	if j := waitJob(t, c, id); j.Status != wire.StatusCancelled && j.State != "cancelled" {
		t.Errorf("cancelled job ended %s in state %q, want cancelled", j.Status, j.State)
	}
	// The handler stopped (the only slot is free again): a new job runs to the end.
	again, err := c.Start(ctx, "/jobs/inventory_check", map[string]any{"items": []string{"item1"}}, client.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if j := waitJob(t, c, again); j.Status != wire.StatusFinished {
		t.Errorf("job after the cancellation ended %s, want finished", j.Status)
	}
}
