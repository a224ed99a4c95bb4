package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// ExerciseGuards runs the cases of what guards the runtime: reservations
// (seen signatures, idempotency keys), counters taken back, leases ended
// early (a worker that restarted or no longer lists a task) and notices
// of ended jobs.
func ExerciseGuards(t *testing.T, newStore func(t *testing.T) store.Store) {
	run(t, newStore, []testCase{
		{"Reserve", testReserve},
		{"Uncount", testUncount},
		{"EndLeases", testEndLeases},
		{"JobEnds", testJobEnds},
	})
}

func testReserve(t *testing.T, s store.Store) {
	ctx := context.Background()
	held, first, err := s.Reserve(ctx, "k1", "v1", time.Minute)
	if err != nil || !first || held != "" {
		t.Fatalf("first reserve: %q, %v, %v; want first", held, first, err)
	}
	held, first, err = s.Reserve(ctx, "k1", "v2", time.Minute)
	if err != nil || first || held != "v1" {
		t.Fatalf("second reserve: %q, %v, %v; want held v1", held, first, err)
	}
	if _, first, _ := s.Reserve(ctx, "k2", "v2", time.Minute); !first {
		t.Error("another key was reserved already")
	}
	// Reserving a held key again leaves it as it is.
	if held, first, _ := s.Reserve(ctx, "k1", "v3", time.Minute); first || held != "v1" {
		t.Errorf("third reserve: %q, %v; want held v1", held, first)
	}
}

func testUncount(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.Uncount(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Counter(ctx, "q"); n != 1 {
		t.Errorf("counter after uncount of zero: %d, want 1 (never below zero)", n)
	}
	_, _ = s.Counter(ctx, "q")
	if err := s.Uncount(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Counter(ctx, "q"); n != 2 {
		t.Errorf("counter after 2, uncount, count: %d, want 2", n)
	}
}

func testEndLeases(t *testing.T, s store.Store) {
	ctx := context.Background()
	register(t, s, "w1", "a")
	register(t, s, "w2", "a")
	create(t, s, newJob("j1", "c1"), &core.Effects{Enqueue: []*core.Task{
		newTask("t1", "j1", "a", 3), newTask("t2", "j1", "a", 2), newTask("t3", "j1", "a", 1)}})
	for _, want := range []struct{ w, id string }{{"w1", "t1"}, {"w1", "t2"}, {"w2", "t3"}} {
		if tk := lease(t, s, want.w, "a"); tk == nil || tk.ID != want.id {
			t.Fatalf("%s leased %+v, want %s", want.w, tk, want.id)
		}
	}
	// Leases younger than LeasedBefore stay.
	n, err := s.EndLeases(ctx, store.EndLeasesParams{WorkerID: "w1", LeasedBefore: t0.Add(-time.Second)})
	if err != nil || n != 0 {
		t.Fatalf("end leases begun before they were: %d, %v; want 0", n, err)
	}
	// Kept tasks and other workers' leases stay.
	n, err = s.EndLeases(ctx, store.EndLeasesParams{WorkerID: "w1", LeasedBefore: t0.Add(time.Second), Keep: []string{"t2"}})
	if err != nil || n != 1 {
		t.Fatalf("end leases of w1 keeping t2: %d, %v; want 1", n, err)
	}
	if n, _ := s.EndLeases(ctx, store.EndLeasesParams{WorkerID: "w1", LeasedBefore: t0.Add(time.Second), Keep: []string{"t2"}}); n != 0 {
		t.Errorf("ending the same leases again ended %d", n)
	}
	if n, _ := s.EndLeases(ctx, store.EndLeasesParams{WorkerID: "ghost", LeasedBefore: t0.Add(time.Second)}); n != 0 {
		t.Errorf("an unknown worker's leases: %d ended", n)
	}
	// The ended lease is reclaimed now, whatever its deadline.
	got, err := s.ReclaimExpired(ctx, t0, 0)
	if err != nil || len(got) != 1 || got[0].ID != "t1" {
		t.Fatalf("reclaim after end leases: %+v, %v; want t1", got, err)
	}
	wantErr(t, "result for an ended lease", complete(s, "j1", "t1", "w1"), store.ErrLeaseLost)
	if st := taskState(t, s, "t2"); st != store.TaskLeased {
		t.Errorf("kept t2 is %s, want leased", st)
	}
	if st := taskState(t, s, "t3"); st != store.TaskLeased {
		t.Errorf("w2's t3 is %s, want leased", st)
	}
}

func testJobEnds(t *testing.T, s store.Store) {
	ch := s.JobEnds()
	if ch == nil {
		return // the store sends none
	}
	ctx := context.Background()
	create(t, s, newJob("j1", "c1"), &core.Effects{})
	create(t, s, newJob("j2", "c1"), &core.Effects{})
	for _, id := range []string{"j2", "j1"} {
		j, err := s.GetJob(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		j.Status = wire.StatusFinished
		if _, err := s.CommitIfVersion(ctx, store.CommitParams{Job: j, ExpectRev: j.Rev, Effects: &core.Effects{}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"j2", "j1"} {
		select {
		case id := <-ch:
			if id != want {
				t.Fatalf("ended job %q, want %q", id, want)
			}
		case <-time.After(wait):
			t.Fatalf("no end notice of %s", want)
		}
	}
}
