package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
)

// ExerciseQueueStats runs the cases of store.QueueStats; a store that
// does not implement it fails.
func ExerciseQueueStats(t *testing.T, newStore func(t *testing.T) store.Store) {
	run(t, newStore, []testCase{{"QueueStats", testQueueStats}})
}

func testQueueStats(t *testing.T, s store.Store) {
	ctx := context.Background()
	qs, ok := s.(store.QueueStats)
	if !ok {
		t.Fatalf("%T does not implement store.QueueStats", s)
	}
	a := newTask("task-a", "j1", "resize", 0)
	a.EnqueuedAt = t0
	b := newTask("task-b", "j1", "resize", 5)
	b.EnqueuedAt = t0.Add(time.Second)
	c := newTask("task-c", "j1", "ocr", 0)
	c.EnqueuedAt = t0.Add(2 * time.Second)
	// A task only some workers may take counts on its type's queue too.
	d := newTask("task-d", "j1", "ocr", 0)
	d.EnqueuedAt = t0.Add(3 * time.Second)
	d.Requires = map[string]any{"gpu": true}
	create(t, s, newJob("j1", "c1"), &core.Effects{Enqueue: []*core.Task{a, b, c, d}})
	got, err := qs.QueueStats(ctx, []string{"resize", "ocr", "none"})
	if err != nil {
		t.Fatal(err)
	}
	if got["resize"].Depth != 2 || !got["resize"].Oldest.Equal(t0) || got["ocr"].Depth != 2 || !got["ocr"].Oldest.Equal(t0.Add(2*time.Second)) ||
		got["none"].Depth != 0 || !got["none"].Oldest.IsZero() {
		t.Fatalf("stats %+v", got)
	}
	// The oldest leased, the next one is the oldest waiting.
	if tk, err := s.Lease(ctx, store.LeaseParams{WorkerID: "w1", Types: []string{"resize"}, Now: t0}); err != nil || tk == nil || tk.ID != "task-b" {
		t.Fatalf("lease: %v %v (the higher priority first)", tk, err)
	}
	got, _ = qs.QueueStats(ctx, []string{"resize"})
	if got["resize"].Depth != 1 || !got["resize"].Oldest.Equal(t0) {
		t.Fatalf("after a lease: %+v", got)
	}
}
