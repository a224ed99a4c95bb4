package worker_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/server/servertest"
	"github.com/avtomatika-ai/avtomatika-go/sdk/client"
	"github.com/avtomatika-ai/avtomatika-go/sdk/worker"
)

// A worker serving check_inventory for an orchestrator on this machine
// (here a test server with the example blueprints): a client starts an
// inventory check, the worker's handler answers, the job ends with the
// handler's data as its result.
func ExampleWorker_Handle() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	srv, err := servertest.Run(dir, servertest.Options{Examples: true})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	w, err := worker.New(worker.Config{
		WorkerID: "example-1", Token: servertest.WorkerToken, PayloadDir: dir,
		Orchestrators: []worker.Orchestrator{{URL: srv.URL}},
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		log.Fatal(err)
	}
	w.Handle("check_inventory", func(ctx context.Context, t *worker.Task) (worker.Result, error) {
		var p struct {
			ItemID string `json:"item_id"`
		}
		if err := t.Decode(&p); err != nil {
			return worker.Result{}, err
		}
		return worker.Result{Data: map[string]any{"in_stock": true, "item_id": p.ItemID}}, nil
	})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() { stop(); <-done }()

	c, err := client.New(srv.URL, client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id, err := c.Start(wctx, "inventory_check", map[string]any{"item_id": "sku-42"}, client.StartOptions{})
	if err != nil {
		log.Fatal(err)
	}
	job, err := c.Wait(wctx, id)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(job.Status, job.Result["item_id"], job.Result["in_stock"])
	// Output: finished sku-42 true
}
