package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// The instants where "at or before now" meets "after now", for every
// deadline the contract names: a lease, a worker's expiry and a timer
// end exactly at their time, not a nanosecond later. Each case runs with
// its area's (queues, workers, timers).

// A lease whose LeaseUntil equals now has ended: ReclaimExpired returns
// it; a nanosecond before, it has not.
func testLeaseEndsAtDeadline(t *testing.T, s store.Store) {
	ctx := context.Background()
	create(t, s, newJob("j1", "c1"), &core.Effects{Enqueue: []*core.Task{newTask("t1", "j1", "a", 0)}})
	tk := lease(t, s, "w1", "a")
	if tk == nil || !tk.LeaseUntil.Equal(t0.Add(time.Minute)) {
		t.Fatalf("leased %+v, want t1 until %v", tk, t0.Add(time.Minute))
	}
	deadline := tk.LeaseUntil
	if got, err := s.ReclaimExpired(ctx, deadline.Add(-time.Nanosecond), 0); err != nil || len(got) != 0 {
		t.Fatalf("a nanosecond before the deadline: reclaimed %d (%v), want none", len(got), err)
	}
	if st := taskState(t, s, "t1"); st != store.TaskLeased {
		t.Fatalf("t1 before its deadline: %s, want leased", st)
	}
	got, err := s.ReclaimExpired(ctx, deadline, 0)
	if err != nil || len(got) != 1 || got[0].ID != "t1" {
		t.Fatalf("at the deadline: reclaimed %+v (%v), want t1", got, err)
	}
	if st := taskState(t, s, "t1"); st != store.TaskExpired {
		t.Errorf("t1 at its deadline: %s, want expired", st)
	}
}

// A worker whose ExpiresAt equals now is dead: ExpireWorkers removes it
// and a heartbeat at that instant does not find it; a nanosecond before,
// it is alive.
func testWorkerExpiresAtDeadline(t *testing.T, s store.Store) {
	ctx := context.Background()
	register(t, s, "w1", "a") // expires at t0+2m
	register(t, s, "w2", "a")
	deadline := t0.Add(2 * time.Minute)
	if found, err := s.Heartbeat(ctx, store.HeartbeatParams{WorkerID: "w1", Status: wire.WorkerIdle,
		Now: deadline.Add(-time.Nanosecond), ExpiresAt: deadline}); err != nil || !found {
		t.Fatalf("heartbeat a nanosecond before expiry: found %v (%v), want found", found, err)
	}
	if found, _ := s.Heartbeat(ctx, store.HeartbeatParams{WorkerID: "w2", Status: wire.WorkerIdle,
		Now: deadline, ExpiresAt: deadline.Add(time.Minute)}); found {
		t.Error("heartbeat at the instant of expiry found the worker")
	}
	if gone, err := s.ExpireWorkers(ctx, deadline.Add(-time.Nanosecond)); err != nil || len(gone) != 0 {
		t.Fatalf("a nanosecond before expiry: expired %v (%v), want none", gone, err)
	}
	gone, err := s.ExpireWorkers(ctx, deadline)
	slices.Sort(gone)
	if err != nil || !slices.Equal(gone, []string{"w1", "w2"}) {
		t.Fatalf("at expiry: expired %v (%v), want [w1 w2]", gone, err)
	}
}

// A timer whose At equals now is due.
func testTimerDueAtItsTime(t *testing.T, s store.Store) {
	ctx := context.Background()
	create(t, s, newJob("j1", "c1"), nil)
	at := t0.Add(time.Second)
	tm := core.Timer{ID: "tm", JobID: "j1", At: at, Event: core.Event{Kind: core.EventTimer, TimerID: "tm"}}
	if _, err := s.CommitIfVersion(ctx, store.CommitParams{Job: newJob("j1", "c1"), ExpectRev: 1,
		Effects: &core.Effects{Timers: []core.Timer{tm}}}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ClaimDueTimers(ctx, at.Add(-time.Nanosecond), 0); err != nil || len(got) != 0 {
		t.Fatalf("a nanosecond early: claimed %+v (%v), want none", got, err)
	}
	got, err := s.ClaimDueTimers(ctx, at, 0)
	if err != nil || len(got) != 1 || got[0].ID != "tm" {
		t.Fatalf("at its time: claimed %+v (%v), want tm", got, err)
	}
}
