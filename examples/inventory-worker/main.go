// Command inventory-worker is the cookbook's inventory worker written
// with the Go worker SDK, and the rest of what the blueprints in
// blueprints/ ask of workers. It runs four task types:
//
//   - check_inventory: reads params.items (a list); when it holds
//     "unavailable_item" it answers the custom status out_of_stock with
//     {"missing_item": "unavailable_item"}, which the inventory_check
//     blueprint routes to its own state; otherwise success with
//     {"warehouse_info": ...};
//   - long_running_task: works in ten steps of two seconds, checking for
//     cancellation before each, and answers cancelled when the
//     orchestrator cancelled the job;
//   - reserve_item: reserves params.sku (order_processing's shipping
//     branches) and answers success with a reservation id;
//   - send_notification: "sends" params.text for params.order (the
//     send_notification blueprint, order_processing's child) by logging it.
//
// It is configured from the environment and a .env file in the working
// folder (ORCHESTRATOR_URL, WORKER_TOKEN, WORKER_ID, ...; see README.md)
// and stops cleanly on SIGINT or SIGTERM.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
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
	w, err := newWorker(lookup, log, newApp())
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
	w.Handle("reserve_item", a.reserveItem)
	w.Handle("send_notification", a.sendNotification(log))
	return w, nil
}

// app holds what the handlers share; it is read only once built.
type app struct {
	check time.Duration // the simulated work of check_inventory
	step  time.Duration // one of long_running_task's ten steps
	// started, when set, is called as long_running_task begins (tests).
	started func(taskID string)
}

// newApp is the cookbook's timing: one second per inventory check, ten
// steps of two seconds for the long task.
func newApp() *app { return &app{check: time.Second, step: 2 * time.Second} }

// unavailable is the item the cookbook's warehouse never has.
const unavailable = "unavailable_item"

// checkInventory reads params.items, a list (missing: empty). When it
// holds "unavailable_item" the answer is the custom status out_of_stock,
// which the inventory_check blueprint routes to its own state; otherwise
// success with warehouse_info.
func (a *app) checkInventory(ctx context.Context, t *worker.Task) (worker.Result, error) {
	var items []any
	switch v := t.Params["items"].(type) {
	case nil:
	case []any:
		items = v
	default:
		return worker.Result{}, worker.InvalidInput(fmt.Errorf("check_inventory: params.items is %T: want a list", v))
	}
	select { // the simulated look-up
	case <-ctx.Done():
		return worker.Result{}, ctx.Err()
	case <-time.After(a.check):
	}
	if slices.Contains(items, any(unavailable)) {
		return worker.Result{Status: "out_of_stock", Data: map[string]any{"missing_item": unavailable}}, nil
	}
	return worker.Result{Status: "success", Data: map[string]any{"warehouse_info": "All items are available"}}, nil
}

// longRunning works in ten steps, asking before each whether the
// orchestrator cancelled the task; if so it stops and answers cancelled.
func (a *app) longRunning(ctx context.Context, t *worker.Task) (worker.Result, error) {
	if a.started != nil {
		a.started(t.TaskID)
	}
	const steps = 10
	for i := range steps {
		if t.CheckForCancellation(ctx) {
			return cancelled(i), nil
		}
		select {
		case <-ctx.Done():
			if t.CheckForCancellation(ctx) { // the SDK ends the context on a cancel
				return cancelled(i), nil
			}
			return worker.Result{}, ctx.Err()
		case <-time.After(a.step):
		}
		// Progress is advisory: a failure to send it does not stop the work.
		_ = t.Progress(ctx, float64(i+1)/steps, fmt.Sprintf("step %d/%d done", i+1, steps))
	}
	return worker.Result{Status: "success", Data: map[string]any{"steps_done": steps}}, nil
}

// cancelled is long_running_task's answer once the orchestrator cancelled
// it after done steps.
func cancelled(done int) worker.Result {
	return worker.Result{Status: "cancelled", Data: map[string]any{
		"message": "The task was cancelled by the user.", "steps_done": done,
	}}
}

// reserveItem reserves one item of an order: params.sku, a non-empty
// string (anything else fails the task with INVALID_INPUT_ERROR).
func (a *app) reserveItem(ctx context.Context, t *worker.Task) (worker.Result, error) {
	sku, _ := t.Params["sku"].(string)
	if sku == "" {
		return worker.Result{}, worker.InvalidInput(fmt.Errorf("reserve_item: params.sku is %v: want an item's sku", t.Params["sku"]))
	}
	select {
	case <-ctx.Done():
		return worker.Result{}, ctx.Err()
	case <-time.After(a.check):
	}
	return worker.Result{Status: "success", Data: map[string]any{"sku": sku, "reservation": "R-" + t.TaskID[:min(8, len(t.TaskID))]}}, nil
}

// sendNotification "sends" the customer's message by logging it: a stand-in
// for an e-mail or SMS gateway.
func (a *app) sendNotification(log *slog.Logger) worker.HandlerFunc {
	return func(ctx context.Context, t *worker.Task) (worker.Result, error) {
		order, _ := t.Params["order"].(string)
		text, _ := t.Params["text"].(string)
		if text == "" {
			return worker.Result{}, worker.InvalidInput(fmt.Errorf("send_notification: params.text is empty"))
		}
		log.Info("notification sent", "order", order, "text", text)
		return worker.Result{Status: "success", Data: map[string]any{"notified": true}}, nil
	}
}
