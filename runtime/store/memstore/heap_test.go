package memstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"runtime"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store/memstore"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

func uuid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// serverCreate is what the server commits when a client starts a job of
// a one-task blueprint: the job waiting for its task, three timeline
// events and the task.
func serverCreate(version string) store.CommitParams {
	now := time.Now()
	created := now.Add(-30 * time.Microsecond)
	id, tid := uuid(), "task-"+uuid()
	return store.CommitParams{
		Job: &core.Job{ID: id, Blueprint: "single", Version: version, State: "work", Status: wire.StatusWaitingForWorker,
			Input: map[string]any{}, Tasks: core.NewTaskRefs(core.TaskRef{ID: tid, Type: "noop", Attempt: 1}), Steps: 1,
			CreatedAt: created, UpdatedAt: now},
		Effects: &core.Effects{
			Timeline: []core.TimelineEvent{
				{At: now, Type: "created"},
				{At: now, Type: "state_entered", State: "work", NextState: "work"},
				{At: now, Type: "task_enqueued", State: "work", TaskID: tid, Attempt: 1, Detail: map[string]any{"type": "noop", "branch": 0}},
			},
			Enqueue: []*core.Task{{ID: tid, JobID: id, Type: "noop", Attempt: 1, Timeout: 5 * time.Minute, EnqueuedAt: now}},
		},
	}
}

// BenchmarkMemoryQueuedJobs reports the heap the memory store holds per
// queued one-task job (the store alone: the caller keeps nothing), the
// store's share of the mem100k workload.
func BenchmarkMemoryQueuedJobs(b *testing.B) {
	const n = 100_000
	version := "3b878613b1a560082fce727e799081bf48db8bab57e7a324a97c05069009dc09"
	for range b.N {
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		s := memstore.New(memstore.Options{})
		ctx := context.Background()
		for range n {
			if err := s.CreateJob(ctx, serverCreate(version)); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		b.ReportMetric(float64(m1.HeapAlloc-m0.HeapAlloc)/n, "B/job")
		runtime.KeepAlive(s)
		s.Close()
	}
}
