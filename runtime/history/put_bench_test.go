package history

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
)

// singleJob is job i shaped as the bench's single workload ends one: one
// task, six timeline events, one worker, no metadata.
func singleJob(i int, r *rand.Rand) store.EndedJob {
	e := fakeJob(i, 1_000_000, r)
	e.Job.ID = fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", r.Uint32(), r.IntN(1<<16), r.IntN(1<<12), r.IntN(1<<12), r.Uint64()&(1<<48-1))
	e.Job.Metadata = nil
	e.Job.Parent = nil
	at, end := e.Job.CreatedAt, e.Job.FinishedAt
	task := "task-" + e.Job.ID
	w := fmt.Sprintf("bench-w%d", r.IntN(50))
	e.Timeline = []core.TimelineEvent{
		{At: at, Type: "created"},
		{At: at, Type: "state_entered", State: "work", NextState: "work"},
		{At: at, Type: "task_enqueued", State: "work", TaskID: task, Attempt: 1, Detail: map[string]any{"branch": 0.0, "type": "noop"}},
		{At: end, Type: "task_result", State: "work", TaskID: task, WorkerID: w, Attempt: 1, Detail: map[string]any{"branch": 0.0, "status": "success"}},
		{At: end, Type: "state_entered", State: "done", PrevState: "work", NextState: "done"},
		{At: end, Type: "job_finished", State: "done", Detail: map[string]any{"status": "finished"}},
	}
	return e
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPutSQLite archives jobs shaped as the single workload's in
// batches of PUT_BATCH (default 50) into a fresh database, and reports
// the process's CPU per job (user and system: SQLite's writes are
// system calls). -benchtime 200x: 10,000 jobs.
func BenchmarkPutSQLite(b *testing.B) {
	benchPut(b, "sqlite:///"+filepath.Join(b.TempDir(), "put.db"))
}

func BenchmarkPutPostgres(b *testing.B) { benchPut(b, postgresDBB(b)) }

func benchPut(b *testing.B, uri string) {
	ctx := context.Background()
	h, err := Open(ctx, uri)
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	size := 50
	if v := os.Getenv("PUT_BATCH"); v != "" {
		size, _ = strconv.Atoi(v)
	}
	r := rand.New(rand.NewPCG(5, 6))
	jobs := make([]store.EndedJob, 0, size)
	n := 0
	cpu0 := cpuTime()
	for b.Loop() {
		jobs = jobs[:0]
		for range size {
			jobs = append(jobs, singleJob(n, r))
			n++
		}
		if err := h.Put(ctx, jobs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(n), "cpu_us/job")
	b.ReportMetric(0, "ns/op")
}
