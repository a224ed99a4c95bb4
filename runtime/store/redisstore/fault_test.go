package redisstore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/avtomatika-ai/avtomatika-go/internal/redistest"
	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
)

// With appendfsync always, every job whose CreateJob returned survives a
// kill -9 of Redis; so do its queued task and the store's counters.
func TestRedisKillWithAOFLosesNoAcknowledgedJob(t *testing.T) {
	opt := redistest.Options{AOF: "always"}
	srv := redistest.StartServer(t, opt)
	prefix := srv.Fresh(t)
	s := openPrefix(t, srv, prefix)
	ctx := context.Background()
	const n = 300
	for i := range n {
		id := fmt.Sprint("j", i)
		if err := s.CreateJob(ctx, store.CommitParams{Job: job(id),
			Effects: &core.Effects{Enqueue: []*core.Task{task("t"+id, id, 0)}}}); err != nil {
			t.Fatal(err)
		}
	}
	srv.Restart(t, opt) // kill -9, then start on the same data directory
	s2 := openPrefix(t, srv, prefix)
	for i := range n {
		if _, err := s2.GetJob(ctx, fmt.Sprint("j", i)); err != nil {
			t.Fatalf("after the restart: %v", err)
		}
	}
	st, err := s2.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Jobs != n || st.Queued != n {
		t.Fatalf("after the restart: %d jobs, %d queued; want %d, %d", st.Jobs, st.Queued, n, n)
	}
	// The store from before the restart reconnects and leases (its scripts
	// are loaded again on NOSCRIPT).
	tk, err := s.Lease(ctx, store.LeaseParams{WorkerID: "w", Types: []string{"a"}, Now: t0})
	if err != nil || tk == nil || tk.ID != "tj0" {
		t.Fatalf("lease through the old client after the restart: %+v, %v; want tj0", tk, err)
	}
	// New jobs continue the sequence: FIFO order holds across the restart.
	if err := s2.CreateJob(ctx, store.CommitParams{Job: job("late"),
		Effects: &core.Effects{Enqueue: []*core.Task{task("tlate", "late", 0)}}}); err != nil {
		t.Fatal(err)
	}
	tk, _ = s2.Lease(ctx, store.LeaseParams{WorkerID: "w", Types: []string{"a"}, Now: t0})
	if tk == nil || tk.ID != "tj1" {
		t.Fatalf("second lease after the restart: %+v, want tj1 (FIFO)", tk)
	}
}
