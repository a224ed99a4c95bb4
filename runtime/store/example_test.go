package store_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store/memstore"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// A job with one task: create it, let a worker lease the task, commit the
// worker's result, and see a repeated result recognised.
func Example() {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := memstore.New(memstore.Options{})
	defer s.Close()

	job := &core.Job{ID: "j1", Blueprint: "inventory_check", State: "check", Status: wire.StatusWaitingForWorker}
	task := &core.Task{ID: "t1", JobID: "j1", Type: "check_inventory", Timeout: time.Minute}
	if err := s.CreateJob(ctx, store.CommitParams{Job: job, Effects: &core.Effects{Enqueue: []*core.Task{task}}}); err != nil {
		panic(err)
	}

	leased, _ := s.Lease(ctx, store.LeaseParams{WorkerID: "w1", Types: []string{"check_inventory"}, Now: now, Wait: time.Second})
	fmt.Println("leased", leased.ID, "to", leased.Worker, "until", leased.LeaseUntil.Format(time.TimeOnly))

	j, _ := s.GetJob(ctx, "j1")
	j.State, j.Status = "done", wire.StatusFinished
	result := store.CommitParams{Job: j, ExpectRev: j.Rev, Complete: &store.TaskCompletion{TaskID: "t1", WorkerID: "w1"}}
	rev, err := s.CommitIfVersion(ctx, result)
	fmt.Println("result committed at rev", rev, err)

	_, err = s.CommitIfVersion(ctx, result)
	fmt.Println("again:", errors.Is(err, store.ErrAlreadyDone))
	// Output:
	// leased t1 to w1 until 00:01:00
	// result committed at rev 2 <nil>
	// again: true
}
