package redisstore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/avtomatika-ai/avtomatika-go/internal/redistest"
	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store/redisstore"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// runSingleTaskJob drives one single-task job through the store the way
// the server does: create with the task enqueued, the worker's poll, then
// the result (read the job, step, commit with the completion and the
// terminal job).
func runSingleTaskJob(ctx context.Context, s *redisstore.Store, id, worker string) error {
	if err := s.CreateJob(ctx, store.CommitParams{Job: job(id), Effects: &core.Effects{
		Enqueue:  []*core.Task{task("t"+id, id, 0)},
		Timeline: []core.TimelineEvent{{At: t0, Type: "created"}}}}); err != nil {
		return err
	}
	tk, err := s.Lease(ctx, store.LeaseParams{WorkerID: worker, Types: []string{"a"}, Now: t0})
	if err != nil {
		return err
	}
	if tk == nil {
		return fmt.Errorf("job %s: no task leased", id)
	}
	j, err := s.GetJob(ctx, tk.JobID)
	if err != nil {
		return err
	}
	j.Status, j.State = wire.StatusFinished, "done"
	_, err = s.CommitIfVersion(ctx, store.CommitParams{Job: j, ExpectRev: j.Rev,
		Complete: &store.TaskCompletion{TaskID: tk.ID, WorkerID: worker},
		Effects:  &core.Effects{Timeline: []core.TimelineEvent{{At: t0, Type: "finished"}}}})
	return err
}

// The hot path of a single-task job stays within its round-trip budget.
// It costs 4 today (create, lease, read, commit); the budget of 8 fails a
// regression such as a per-task loop of commands.
func TestRoundTripBudget(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	s := open(t, srv)
	ctx := context.Background()
	const n, budget = 200, 8
	if err := runSingleTaskJob(ctx, s, "warm", "w"); err != nil { // scripts cached, connections open
		t.Fatal(err)
	}
	before := s.RoundTrips().Trips()
	for i := range n {
		if err := runSingleTaskJob(ctx, s, fmt.Sprint("j", i), "w"); err != nil {
			t.Fatal(err)
		}
	}
	per := float64(s.RoundTrips().Trips()-before) / n
	t.Logf("round trips per single-task job: %.2f", per)
	if per > budget {
		t.Fatalf("%.2f round trips per single-task job, budget %d", per, budget)
	}
	if per < 1 {
		t.Fatalf("%.2f round trips per job: the hook does not count", per)
	}
}
