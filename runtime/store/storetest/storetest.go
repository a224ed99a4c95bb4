// Package storetest is the conformance suite every store.Store runs: one
// subtest per behaviour of the contract, each on a fresh store.
//
// The cases are split by area, one file and one exported function each:
// ExerciseJobs (jobs.go), ExerciseQueues (queues.go: queues and leases),
// ExerciseTimers (timers.go), ExerciseWorkers (workers.go) and
// ExerciseStores (stores.go: blueprint key-value stores and versions),
// ExerciseSchedules (schedules.go: the shared state of schedules) and
// ExerciseGuards (guard.go: reservations, counters taken back, leases
// ended early).
// A store's own test calls Run, which runs every area, with a factory;
// the factory is called once per case and must return an empty store (the
// Redis store uses a fresh key prefix) and register its cleanup with
// t.Cleanup. Areas and cases run in parallel. New store behaviour gets
// its case here first, in the file of its area.
package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/dispatch"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// t0 is the suite's fixed "now".
var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// wait bounds every channel wait of the suite; reaching it is a failure,
// never an expected path.
const wait = 10 * time.Second

// Run runs the whole conformance suite against the stores newStore
// returns: a parallel subtest per area, each case a parallel subtest in it.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	for _, a := range []struct {
		name     string
		exercise func(*testing.T, func(*testing.T) store.Store)
	}{
		{"Jobs", ExerciseJobs},
		{"Queues", ExerciseQueues},
		{"Timers", ExerciseTimers},
		{"Workers", ExerciseWorkers},
		{"Stores", ExerciseStores},
		{"Outbox", ExerciseOutbox},
		{"Guards", ExerciseGuards},
		{"Schedules", ExerciseSchedules},
		{"QueueStats", ExerciseQueueStats},
	} {
		t.Run(a.name, func(t *testing.T) {
			t.Parallel()
			a.exercise(t, newStore)
		})
	}
}

// run runs cases, each as a parallel subtest on a store of its own.
func run(t *testing.T, newStore func(t *testing.T) store.Store, cases []testCase) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, newStore(t))
		})
	}
}

type testCase struct {
	name string
	run  func(t *testing.T, s store.Store)
}

// Helpers shared by the areas.

func newJob(id, client string) *core.Job {
	return &core.Job{
		ID: id, Blueprint: "bp", Version: "h1", State: "start", Status: wire.StatusPending,
		Input:     map[string]any{"n": float64(1)},
		Client:    core.Client{Name: client},
		CreatedAt: t0, UpdatedAt: t0,
	}
}

func newTask(id, jobID, typ string, prio float64) *core.Task {
	return &core.Task{ID: id, JobID: jobID, Type: typ, Priority: prio, Attempt: 1,
		Timeout: time.Minute, Params: map[string]any{"k": "v"}, EnqueuedAt: t0}
}

func create(t *testing.T, s store.Store, j *core.Job, fx *core.Effects) {
	t.Helper()
	if err := s.CreateJob(context.Background(), store.CommitParams{Job: j, Effects: fx}); err != nil {
		t.Fatalf("create job %q: %v", j.ID, err)
	}
}

// enqueue commits the job at its current rev with the tasks enqueued.
func enqueue(t *testing.T, s store.Store, jobID string, tasks ...*core.Task) {
	t.Helper()
	ctx := context.Background()
	j, err := s.GetJob(ctx, jobID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CommitIfVersion(ctx, store.CommitParams{Job: j, ExpectRev: j.Rev,
		Effects: &core.Effects{Enqueue: tasks}}); err != nil {
		t.Fatalf("enqueue on job %q: %v", jobID, err)
	}
}

func lease(t *testing.T, s store.Store, worker string, types ...string) *core.Task {
	t.Helper()
	task, err := s.Lease(context.Background(), store.LeaseParams{WorkerID: worker, Types: types, Now: t0})
	if err != nil {
		t.Fatalf("lease for %q: %v", worker, err)
	}
	return task
}

func complete(s store.Store, jobID, taskID, worker string) error {
	ctx := context.Background()
	j, err := s.GetJob(ctx, jobID)
	if err != nil {
		return err
	}
	_, err = s.CommitIfVersion(ctx, store.CommitParams{Job: j, ExpectRev: j.Rev,
		Complete: &store.TaskCompletion{TaskID: taskID, WorkerID: worker}})
	return err
}

// waitPolls returns once n long polls wait in s.
func waitPolls(t *testing.T, s store.Store, n int) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		st, err := s.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Waiting == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d polls waiting, want %d", st.Waiting, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

func taskState(t *testing.T, s store.Store, id string) store.TaskState {
	t.Helper()
	info, err := s.Task(context.Background(), id)
	if err != nil {
		t.Fatalf("task %q: %v", id, err)
	}
	return info.State
}

func register(t *testing.T, s store.Store, id string, skills ...string) {
	t.Helper()
	err := s.RegisterWorker(context.Background(), store.WorkerRecord{
		Worker:    dispatch.Worker{ID: id, Skills: skills},
		ExpiresAt: t0.Add(2 * time.Minute), RegisteredAt: t0, LastSeen: t0,
	})
	if err != nil {
		t.Fatal(err)
	}
}

// ---- cases ----
