package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/internal/redistest"
	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store/redisstore"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

const wait = 10 * time.Second

// pair returns two stores, each with its own client and subscription, on
// the same keys: two orchestrator instances.
func pair(t *testing.T) (*redisstore.Store, *redisstore.Store) {
	srv := redistest.Start(t, redistest.Options{})
	prefix := srv.Fresh(t)
	return openPrefix(t, srv, prefix), openPrefix(t, srv, prefix)
}

func job(id string) *core.Job {
	return &core.Job{ID: id, Blueprint: "bp", Version: "h", State: "s", Status: wire.StatusRunning,
		Client: core.Client{Name: "c"}, CreatedAt: t0, UpdatedAt: t0}
}

func task(id, jobID string, branch int) *core.Task {
	return &core.Task{ID: id, JobID: jobID, Type: "a", Branch: branch, Attempt: 1, Timeout: time.Minute, EnqueuedAt: t0}
}

// Two instances receive results for the two branches of a parallel state
// at once, and the same result twice: per rev exactly one commit applies,
// and each task is completed exactly once.
func TestTwoInstancesRaceResults(t *testing.T) {
	a, b := pair(t)
	ctx := context.Background()
	for round := range 20 {
		id := fmt.Sprint("j", round)
		if err := a.CreateJob(ctx, store.CommitParams{Job: job(id), Effects: &core.Effects{
			Enqueue: []*core.Task{task(id+"-b0", id, 0), task(id+"-b1", id, 1)}}}); err != nil {
			t.Fatal(err)
		}
		l0, err := a.Lease(ctx, store.LeaseParams{WorkerID: "w0", Types: []string{"a"}, Now: t0})
		if err != nil || l0 == nil {
			t.Fatalf("lease on a: %v, %v", l0, err)
		}
		l1, err := b.Lease(ctx, store.LeaseParams{WorkerID: "w1", Types: []string{"a"}, Now: t0})
		if err != nil || l1 == nil {
			t.Fatalf("lease on b: %v, %v", l1, err)
		}
		// Four deliveries: each branch result reaches both instances.
		type delivery struct {
			s    *redisstore.Store
			task *core.Task
		}
		ds := []delivery{{a, l0}, {b, l0}, {a, l1}, {b, l1}}
		var mu sync.Mutex
		applied := map[string]int{}
		revs := map[int64]int{}
		start := make(chan struct{})
		var wg sync.WaitGroup
		for _, d := range ds {
			wg.Go(func() {
				<-start
				for {
					j, err := d.s.GetJob(ctx, id)
					if err != nil {
						t.Error(err)
						return
					}
					j.History = map[string]any{d.task.ID: true}
					rev, err := d.s.CommitIfVersion(ctx, store.CommitParams{Job: j, ExpectRev: j.Rev,
						Complete: &store.TaskCompletion{TaskID: d.task.ID, WorkerID: d.task.Worker}})
					switch {
					case errors.Is(err, store.ErrConflict):
						continue
					case errors.Is(err, store.ErrAlreadyDone):
						return
					case err != nil:
						t.Error(err)
						return
					}
					mu.Lock()
					applied[d.task.ID]++
					revs[rev]++
					mu.Unlock()
					return
				}
			})
		}
		close(start)
		wg.Wait()
		for _, tk := range []string{l0.ID, l1.ID} {
			if applied[tk] != 1 {
				t.Fatalf("round %d: result of %s applied %d times, want once", round, tk, applied[tk])
			}
		}
		for rev, n := range revs {
			if n != 1 {
				t.Fatalf("round %d: %d commits produced rev %d", round, n, rev)
			}
		}
		j, _ := b.GetJob(ctx, id)
		if j.Rev != 3 {
			t.Fatalf("round %d: rev %d after two results, want 3", round, j.Rev)
		}
	}
}

// A poll waiting on one instance is woken by an enqueue on the other.
func TestWakeAcrossInstances(t *testing.T) {
	a, b := pair(t)
	ctx := context.Background()
	if err := a.CreateJob(ctx, store.CommitParams{Job: job("j")}); err != nil {
		t.Fatal(err)
	}
	got := make(chan *core.Task, 1)
	go func() {
		tk, _ := b.Lease(ctx, store.LeaseParams{WorkerID: "w", Types: []string{"a"}, Now: t0, Wait: time.Hour})
		got <- tk
	}()
	waitWaiting(t, b, 1)
	if _, err := a.CommitIfVersion(ctx, store.CommitParams{Job: job("j"), ExpectRev: 1,
		Effects: &core.Effects{Enqueue: []*core.Task{task("t", "j", 0)}}}); err != nil {
		t.Fatal(err)
	}
	select {
	case tk := <-got:
		if tk == nil || tk.ID != "t" {
			t.Fatalf("woken poll got %+v, want t", tk)
		}
	case <-time.After(wait):
		t.Fatal("a poll on instance b was not woken by an enqueue on instance a")
	}
}

// A timer armed on one instance signals the other; claims from both fire
// each timer once; an expired lease is reclaimed by one of them only.
func TestTimersAndReclaimAcrossInstances(t *testing.T) {
	a, b := pair(t)
	ctx := context.Background()
	armed := b.TimerArmed()
	var timers []core.Timer
	for i := range 50 {
		timers = append(timers, core.Timer{ID: fmt.Sprint("tm", i), JobID: "j", At: t0})
	}
	var tasks []*core.Task
	for i := range 50 {
		tasks = append(tasks, task(fmt.Sprint("t", i), "j", 0))
	}
	if err := a.CreateJob(ctx, store.CommitParams{Job: job("j"), Effects: &core.Effects{Timers: timers, Enqueue: tasks}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-armed:
	case <-time.After(wait):
		t.Fatal("a timer armed on a did not signal b")
	}
	for range tasks {
		if tk, err := a.Lease(ctx, store.LeaseParams{WorkerID: "w", Types: []string{"a"}, Now: t0}); err != nil || tk == nil {
			t.Fatalf("lease: %v, %v", tk, err)
		}
	}
	var mu sync.Mutex
	fired, reclaimed := map[string]int{}, map[string]int{}
	var wg sync.WaitGroup
	for _, s := range []*redisstore.Store{a, b, a, b} {
		wg.Go(func() {
			for {
				tms, err := s.ClaimDueTimers(ctx, t0.Add(time.Second), 3)
				if err != nil {
					t.Error(err)
					return
				}
				tks, err := s.ReclaimExpired(ctx, t0.Add(2*time.Minute), 3)
				if err != nil {
					t.Error(err)
					return
				}
				if len(tms) == 0 && len(tks) == 0 {
					return
				}
				mu.Lock()
				for _, tm := range tms {
					fired[tm.ID]++
				}
				for _, tk := range tks {
					reclaimed[tk.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(fired) != len(timers) || len(reclaimed) != len(tasks) {
		t.Fatalf("%d timers fired, %d leases reclaimed; want %d, %d", len(fired), len(reclaimed), len(timers), len(tasks))
	}
	for id, n := range fired {
		if n != 1 {
			t.Errorf("timer %s fired %d times", id, n)
		}
	}
	for id, n := range reclaimed {
		if n != 1 {
			t.Errorf("lease of %s reclaimed %d times", id, n)
		}
	}
}

func waitWaiting(t testing.TB, s store.Store, n int) {
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
