// Command inventory-worker is the cookbook's inventory worker written
// with the Go worker SDK. It runs two task types:
//
//   - check_inventory: looks an item up in a small built-in stock table
//     and answers success with {in_stock, item_id, warehouse_info}, or
//     the custom status out_of_stock that the inventory_check blueprint
//     routes to its own state;
//   - long_running_task: works for params.duration_seconds, checking for
//     cancellation between steps, and ends cancelled when the
//     orchestrator cancels the job.
//
// It is configured from the environment and a .env file in the working
// folder (ORCHESTRATOR_URL, WORKER_TOKEN, WORKER_ID, ...; see README.md)
// and stops cleanly on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/sdk/worker"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	lookup, err := worker.Env()
	if err != nil {
		log.Error("read .env", "err", err)
		os.Exit(2)
	}
	w, err := newWorker(lookup, log, newApp(100*time.Millisecond))
	if err != nil {
		log.Error("start", "err", err)
		os.Exit(2)
	}
	log.Info("inventory worker started", "worker_id", w.ID())
	if err := w.Run(ctx); err != nil {
		log.Error("run", "err", err)
		os.Exit(1)
	}
	log.Info("inventory worker stopped")
}

// newWorker builds the worker from lookup (the environment) and
// registers the app's handlers.
func newWorker(lookup worker.Lookup, log *slog.Logger, a *app) (*worker.Worker, error) {
	cfg, err := worker.FromEnv(lookup)
	if err != nil {
		return nil, err
	}
	if cfg.WorkerType == "" {
		cfg.WorkerType = "inventory-worker"
	}
	cfg.Logger = log
	w, err := worker.New(cfg)
	if err != nil {
		return nil, err
	}
	w.Handle("check_inventory", a.checkInventory)
	w.Handle("long_running_task", a.longRunning)
	return w, nil
}

// app holds what the handlers share; it is read only once built.
type app struct {
	stock map[string]int // units on hand by item id (upper case); other items: 100
	tick  time.Duration  // one step of long_running_task
	// started, when set, is called as long_running_task begins (tests).
	started func(taskID string)
}

func newApp(tick time.Duration) *app {
	return &app{
		stock: map[string]int{"SKU-42": 10, "SKU-43": 5, "SKU-44": 0, "SKU-123": 42},
		tick:  tick,
	}
}

// checkInventory answers whether params.quantity (default 1) units of
// params.item_id are on hand.
func (a *app) checkInventory(ctx context.Context, t *worker.Task) (worker.Result, error) {
	item, _ := t.Params["item_id"].(string)
	if strings.TrimSpace(item) == "" {
		return worker.Result{}, worker.InvalidInput(errors.New("check_inventory: params.item_id must be a non-empty string"))
	}
	qty := 1
	switch q := t.Params["quantity"].(type) {
	case nil:
	case float64:
		if q < 1 || q != float64(int(q)) {
			return worker.Result{}, worker.InvalidInput(fmt.Errorf("check_inventory: params.quantity %v: want a whole number of at least 1", q))
		}
		qty = int(q)
	default:
		return worker.Result{}, worker.InvalidInput(fmt.Errorf("check_inventory: params.quantity %v: want a number", q))
	}
	onHand, known := a.stock[strings.ToUpper(item)]
	if !known {
		onHand = 100 // everything else is plentiful
	}
	if onHand < qty {
		return worker.Result{Status: "out_of_stock", Data: map[string]any{
			"in_stock": false, "item_id": item, "requested": qty, "available": onHand,
		}}, nil
	}
	return worker.Result{Status: "success", Data: map[string]any{
		"in_stock": true,
		"item_id":  item,
		"warehouse_info": map[string]any{
			"warehouse": "main", "available": onHand, "reserved": qty,
		},
	}}, nil
}

// longRunning works in steps for params.duration_seconds (default 30),
// checking between steps whether the orchestrator cancelled the task.
func (a *app) longRunning(ctx context.Context, t *worker.Task) (worker.Result, error) {
	secs := 30.0
	if d, ok := t.Params["duration_seconds"].(float64); ok {
		secs = d
	}
	if secs < 0 || secs > 24*3600 {
		return worker.Result{}, worker.InvalidInput(fmt.Errorf("long_running_task: params.duration_seconds %v: want 0 to 86400", secs))
	}
	total := time.Duration(secs * float64(time.Second))
	if a.started != nil {
		a.started(t.TaskID)
	}
	start := time.Now()
	tick := time.NewTicker(a.tick)
	defer tick.Stop()
	steps := 0
	for time.Since(start) < total {
		if t.CheckForCancellation(ctx) {
			return worker.Result{Status: "cancelled", Data: map[string]any{"steps_done": steps}}, nil
		}
		select {
		case <-ctx.Done():
			return worker.Result{}, ctx.Err()
		case <-tick.C:
			steps++
			if steps%10 == 0 && total > 0 {
				// Progress is advisory: a failure to send it does not stop the work.
				_ = t.Progress(ctx, min(1, time.Since(start).Seconds()/total.Seconds()), fmt.Sprintf("step %d", steps))
			}
		}
	}
	return worker.Result{Status: "success", Data: map[string]any{"steps_done": steps, "duration_seconds": secs}}, nil
}
