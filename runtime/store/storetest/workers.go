package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// ExerciseWorkers runs the cases of workers: records, heartbeats, expiry
// and what happens to a dead worker's tasks, load and dispatch candidates.
func ExerciseWorkers(t *testing.T, newStore func(t *testing.T) store.Store) {
	run(t, newStore, []testCase{
		{"Workers", testWorkers},
		{"DeadWorkerTasks", testDeadWorkerTasks},
		{"LoadAndCandidates", testLoadAndCandidates},
		{"WorkerExpiresAtItsDeadline", testWorkerExpiresAtDeadline},
	})
}

func testWorkers(t *testing.T, s store.Store) {
	ctx := context.Background()
	register(t, s, "w2", "b")
	register(t, s, "w1", "a")
	w, err := s.Worker(ctx, "w1")
	if err != nil {
		t.Fatal(err)
	}
	if w.Reputation != 1 || w.Status != wire.WorkerIdle {
		t.Errorf("new worker: reputation %v status %q; want 1, idle", w.Reputation, w.Status)
	}
	found, err := s.Heartbeat(ctx, store.HeartbeatParams{WorkerID: "w1", Status: wire.WorkerBusy,
		Now: t0.Add(time.Minute), ExpiresAt: t0.Add(3 * time.Minute), HotSkills: []string{"a"}})
	if err != nil || !found {
		t.Fatalf("heartbeat of a live worker: %v, %v", found, err)
	}
	if found, _ := s.Heartbeat(ctx, store.HeartbeatParams{WorkerID: "ghost", Now: t0}); found {
		t.Error("heartbeat of an unknown worker found it")
	}
	if found, _ := s.Heartbeat(ctx, store.HeartbeatParams{WorkerID: "w2", Now: t0.Add(2 * time.Minute)}); found {
		t.Error("heartbeat of an expired worker found it")
	}
	all, _ := s.Workers(ctx)
	if len(all) != 2 || all[0].ID != "w1" || all[1].ID != "w2" {
		t.Fatalf("workers: %+v", all)
	}
	if all[0].Status != wire.WorkerBusy || !slices.Equal(all[0].HotSkills, []string{"a"}) || !all[0].ExpiresAt.Equal(t0.Add(3*time.Minute)) {
		t.Errorf("w1 after heartbeat: %+v", all[0])
	}
	gone, err := s.ExpireWorkers(ctx, t0.Add(2*time.Minute))
	if err != nil || !slices.Equal(gone, []string{"w2"}) {
		t.Fatalf("expired workers: %v, %v; want [w2]", gone, err)
	}
	_, err = s.Worker(ctx, "w2")
	wantErr(t, "expired worker", err, store.ErrNotFound)
	if err := s.RemoveWorker(ctx, "w1"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "remove unknown worker", s.RemoveWorker(ctx, "w1"), store.ErrNotFound)
	for i := uint64(1); i <= 3; i++ {
		if n, _ := s.Counter(ctx, "rr:a"); n != i {
			t.Errorf("counter: %d, want %d", n, i)
		}
	}
	if n, _ := s.Counter(ctx, "rr:b"); n != 1 {
		t.Errorf("second counter: %d, want 1", n)
	}
}

func testDeadWorkerTasks(t *testing.T, s store.Store) {
	ctx := context.Background()
	register(t, s, "w1", "a")
	register(t, s, "w2", "a")
	own := newTask("t-own", "j1", "a", 0)
	own.Worker = "w1"
	create(t, s, newJob("j1", "c1"), &core.Effects{Enqueue: []*core.Task{newTask("t-run", "j1", "a", 5), own}})
	if tk := lease(t, s, "w1", "a"); tk == nil || tk.ID != "t-run" {
		t.Fatalf("w1 leased %+v, want t-run", tk)
	}
	if err := s.RemoveWorker(ctx, "w1"); err != nil {
		t.Fatal(err)
	}
	// Its lease ends now: the next reclaim returns it whatever its deadline.
	got, err := s.ReclaimExpired(ctx, t0, 0)
	if err != nil || len(got) != 1 || got[0].ID != "t-run" {
		t.Fatalf("reclaim after worker death: %+v, %v; want t-run", got, err)
	}
	// Its own queue moved to the shared queue.
	tk := lease(t, s, "w2", "a")
	if tk == nil || tk.ID != "t-own" || tk.Worker != "w2" {
		t.Fatalf("w2 leased %+v, want t-own moved off dead w1", tk)
	}
}

func testLoadAndCandidates(t *testing.T, s store.Store) {
	ctx := context.Background()
	register(t, s, "w1", "a", "b")
	register(t, s, "w2", "a")
	register(t, s, "w3", "c")
	own := newTask("t-own", "j1", "a", 0)
	own.Worker = "w2"
	create(t, s, newJob("j1", "c1"), &core.Effects{Enqueue: []*core.Task{newTask("t1", "j1", "b", 0), newTask("t2", "j1", "b", 0), own}})
	lease(t, s, "w1", "b")
	lease(t, s, "w1", "b")
	load := func() map[string]int {
		cs, err := s.Candidates(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, c := range cs {
			out[c.ID] = c.Load
		}
		return out
	}
	if d := cmp.Diff(map[string]int{"w1": 2, "w2": 1}, load()); d != "" {
		t.Errorf("candidates for a with load (-want +got):\n%s", d)
	}
	if err := complete(s, "j1", "t1", "w1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CommitIfVersion(ctx, store.CommitParams{Job: newJob("j1", "c1"), ExpectRev: 2,
		Effects: &core.Effects{Withdraw: []string{"t-own"}}}); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string]int{"w1": 1, "w2": 0}, load()); d != "" {
		t.Errorf("load after a result and a withdraw (-want +got):\n%s", d)
	}
	if w, _ := s.Worker(ctx, "w1"); w.Load != 1 {
		t.Errorf("w1 record load %d, want 1", w.Load)
	}
}
