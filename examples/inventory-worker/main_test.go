package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/server"
	"github.com/avtomatika-ai/avtomatika-go/sdk/client"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
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

func TestInventoryCheck(t *testing.T) {
	url := serve(t)
	startWorker(t, url, newApp(20*time.Millisecond))
	c, err := client.New(url, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		item   string
		qty    int
		status client.Status
		state  string
	}{
		{"sku-42", 3, wire.StatusFinished, "in_stock"},
		{"sku-43", 6, wire.StatusFailed, "out_of_stock"},
		{"sku-44", 1, wire.StatusFailed, "out_of_stock"},
		{"anything-else", 50, wire.StatusFinished, "in_stock"},
	} {
		id, err := c.Start(ctx, "/jobs/inventory_check", map[string]any{"item_id": tc.item, "quantity": tc.qty}, client.StartOptions{})
		if err != nil {
			t.Fatal(err)
		}
		j := waitJob(t, c, id)
		if j.Status != tc.status || j.State != tc.state {
			t.Errorf("%s x%d: job ended %s in state %q (error %+v), want %s in %q", tc.item, tc.qty, j.Status, j.State, j.Error, tc.status, tc.state)
		}
	}
}

func TestLongRunningCancelled(t *testing.T) {
	url := serve(t)
	a := newApp(20 * time.Millisecond)
	started := make(chan string, 4)
	a.started = func(id string) { started <- id }
	startWorker(t, url, a)
	c, err := client.New(url, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	short, err := c.Start(ctx, "/jobs/long_running", map[string]any{"duration_seconds": 0.1}, client.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if j := waitJob(t, c, short); j.Status != wire.StatusFinished {
		t.Fatalf("short long_running job ended %s (error %+v), want finished", j.Status, j.Error)
	}

	id, err := c.Start(ctx, "/jobs/long_running", map[string]any{"duration_seconds": 600}, client.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Cancel once the handler runs (the short job's start is drained first).
	<-started
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
	again, err := c.Start(ctx, "/jobs/inventory_check", map[string]any{"item_id": "SKU-123"}, client.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if j := waitJob(t, c, again); j.Status != wire.StatusFinished {
		t.Errorf("job after the cancellation ended %s, want finished", j.Status)
	}
}
