package worker_test

import (
	"context"
	"errors"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/avtomatika-ai/avtomatika-go/sdk/worker"
)

// A worker configured from the environment and .env (ORCHESTRATOR_URL,
// WORKER_TOKEN, WORKER_ID, ...), with one handler, running until SIGINT or
// SIGTERM.
func Example() {
	lookup, err := worker.Env()
	if err != nil {
		log.Fatal(err)
	}
	cfg, err := worker.FromEnv(lookup)
	if err != nil {
		log.Fatal(err) // names the variable that could not be read
	}
	cfg.MaxConcurrentTasks = 4 // set in code: wins over MAX_CONCURRENT_TASKS
	w, err := worker.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	w.Handle("check_inventory", func(ctx context.Context, t *worker.Task) (worker.Result, error) {
		var p struct {
			ItemID string `json:"item_id"`
		}
		if err := t.Decode(&p); err != nil {
			return worker.Result{}, err // INVALID_INPUT_ERROR
		}
		if p.ItemID == "" {
			return worker.Result{}, worker.InvalidInput(errors.New("item_id is required"))
		}
		if p.ItemID == "discontinued" {
			return worker.Result{Status: "out_of_stock", Data: map[string]any{"in_stock": false}}, nil
		}
		return worker.Result{Data: map[string]any{"in_stock": true, "item_id": p.ItemID}}, nil
	})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := w.Run(ctx); err != nil {
		log.Fatal(err)
	}
}
