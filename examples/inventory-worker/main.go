// Command inventory-worker is the cookbook's worker in Go: it checks
// inventory (check_inventory: success, or the custom status out_of_stock)
// and runs a long task that stops when the orchestrator cancels it
// (long_running_task). Configuration comes from the environment and .env:
// ORCHESTRATOR_URL, WORKER_ID, WORKER_TOKEN and the rest of docs/worker.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/sdk/worker"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "inventory-worker:", err)
		os.Exit(2)
	}
}

// stock is the warehouse this example knows.
var stock = map[string]int{"sku-42": 10, "sku-43": 5, "sku-44": 0}

func run(ctx context.Context) error {
	env, err := worker.Env()
	if err != nil {
		return err
	}
	cfg, err := worker.FromEnv(env)
	if err != nil {
		return err
	}
	if cfg.WorkerType == "" {
		cfg.WorkerType = "inventory-checker"
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	w, err := worker.New(cfg)
	if err != nil {
		return err
	}
	w.Handle("check_inventory", checkInventory)
	w.Handle("long_running_task", longRunning)
	cfg.Logger.Info("inventory worker started", "worker", w.ID(), "orchestrators", len(cfg.Orchestrators))
	return w.Run(ctx)
}

func checkInventory(ctx context.Context, t *worker.Task) (worker.Result, error) {
	item, _ := t.Params["item_id"].(string)
	if item == "" {
		return worker.Result{}, worker.InvalidInput(errors.New("params.item_id is required"))
	}
	want := 1
	if q, ok := t.Params["quantity"].(float64); ok {
		want = int(q)
	}
	have, known := stock[item]
	if !known {
		have = 100 // everything else is plentiful
	}
	if have < want {
		return worker.Result{Status: "out_of_stock", Data: map[string]any{"item_id": item, "in_stock": false, "available": have}}, nil
	}
	return worker.Result{Data: map[string]any{"item_id": item, "in_stock": true, "warehouse_info": "ok"}}, nil
}

// longRunning works for params.duration_seconds, checking for
// cancellation as it goes (the cookbook's check_for_cancellation).
func longRunning(ctx context.Context, t *worker.Task) (worker.Result, error) {
	secs, _ := t.Params["duration_seconds"].(float64)
	if secs <= 0 {
		secs = 30
	}
	end := time.Now().Add(time.Duration(secs * float64(time.Second)))
	for step := 0; time.Now().Before(end); step++ {
		if t.CheckForCancellation(ctx) {
			return worker.Result{Status: "cancelled", Data: map[string]any{"steps_done": step}}, nil
		}
		if step%10 == 0 {
			_ = t.Progress(ctx, 1-time.Until(end).Seconds()/secs, fmt.Sprintf("step %d", step))
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	return worker.Result{Data: map[string]any{"done": true}}, nil
}
