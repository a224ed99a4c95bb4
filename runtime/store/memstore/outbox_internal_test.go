package memstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// The outbox queue keeps nothing of the jobs archived at its head, and
// its backing array shrinks once most of it is dead: a busy store's
// outbox does not hold on to every job it ever archived.
func TestOutboxQueueShrinks(t *testing.T) {
	ctx := context.Background()
	m := New(Options{})
	m.KeepOutbox()
	const n = 1000
	var ids []string
	for i := range n {
		id := fmt.Sprint("j", i)
		ids = append(ids, id)
		at := time.Unix(1_800_000_000, 0).Add(time.Duration(i) * time.Second)
		if err := m.CreateJob(ctx, store.CommitParams{Job: &core.Job{ID: id, Blueprint: "b", Status: wire.StatusFinished,
			CreatedAt: at, UpdatedAt: at, FinishedAt: at}}); err != nil {
			t.Fatal(err)
		}
	}
	if len(m.ob.outq) != n {
		t.Fatalf("outbox queue holds %d, want %d", len(m.ob.outq), n)
	}
	// All but the last ten archived: the head is dropped and the array
	// copied to a small one.
	if err := m.MarkArchived(ctx, ids[:n-10]); err != nil {
		t.Fatal(err)
	}
	if len(m.ob.outq) != 10 || cap(m.ob.outq) > 64 {
		t.Errorf("after archiving %d of %d: the queue holds %d in an array of %d", n-10, n, len(m.ob.outq), cap(m.ob.outq))
	}
	if got, err := m.PendingArchive(ctx, 100); err != nil || len(got) != 10 || got[0].Job.ID != ids[n-10] {
		t.Fatalf("pending after archiving: %d jobs, %v", len(got), err)
	}
	if err := m.MarkArchived(ctx, ids[n-10:]); err != nil {
		t.Fatal(err)
	}
	if len(m.ob.outq) != 0 {
		t.Errorf("after archiving all: the queue holds %d", len(m.ob.outq))
	}
}

// Removing archived jobs keeps nothing of them: their client's list drops
// them from its head (the oldest) and is dropped once empty, and the
// heap of retained jobs shrinks.
func TestRemoveArchivedKeepsNothing(t *testing.T) {
	ctx := context.Background()
	m := New(Options{})
	m.KeepOutbox()
	const n = 500
	var ids []string
	at := time.Unix(1_800_000_000, 0)
	for i := range n { // ending in the order they were created
		id := fmt.Sprint("j", i)
		ids = append(ids, id)
		end := at.Add(time.Duration(i) * time.Second)
		if err := m.CreateJob(ctx, store.CommitParams{Job: &core.Job{ID: id, Blueprint: "b", Client: core.Client{Name: "c"},
			Status: wire.StatusFinished, CreatedAt: at, UpdatedAt: end, FinishedAt: end}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.MarkArchived(ctx, ids); err != nil {
		t.Fatal(err)
	}
	last := at.Add(n * time.Second)
	if got, err := m.RemoveArchived(ctx, last, n-10); err != nil || got != n-10 {
		t.Fatalf("RemoveArchived = %d, %v; want %d", got, err, n-10)
	}
	if len(m.byClient["c"]) != 10 || cap(m.byClient["c"]) > 64 || cap(m.ob.retained) > 64 {
		t.Errorf("10 jobs left: the client's list holds %d in %d, the retained heap %d in %d",
			len(m.byClient["c"]), cap(m.byClient["c"]), len(m.ob.retained), cap(m.ob.retained))
	}
	if got, err := m.RemoveArchived(ctx, last, n); err != nil || got != 10 {
		t.Fatalf("RemoveArchived = %d, %v; want 10", got, err)
	}
	if _, ok := m.byClient["c"]; ok || len(m.ob.retained) != 0 {
		t.Errorf("every job removed: the client's list is kept (%v), the heap holds %d", ok, len(m.ob.retained))
	}
}
