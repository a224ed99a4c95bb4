package orchestrator

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store/memstore"
)

// busyCPU is a process clock that reports every CPU busy.
func busyCPU() func() time.Duration {
	var t atomic.Int64
	return func() time.Duration { return time.Duration(t.Add(int64(time.Hour))) }
}

// idleCPU is a process clock that reports no CPU used.
func idleCPU() time.Duration { return 0 }

// withOutbox is an orchestrator on the memory store with a history and
// n ended jobs in its outbox.
func withOutbox(t *testing.T, n int, backlog int) *Orchestrator {
	t.Helper()
	h := openHistory(t, filepath.Join(t.TempDir(), "h.db"))
	x := newOrchestrator(t, memstore.New(memstore.Options{}), Options{History: h})
	x.cfg.ArchiveBacklog = backlog
	register(t, x, "w1")
	for i := range n {
		runStock(t, x, &config.Client{Name: "acme"}, int64(i), "success")
	}
	if got, err := x.outbox.OutboxLen(context.Background()); err != nil || got != n {
		t.Fatalf("outbox holds %d, %v; want %d", got, err, n)
	}
	return x
}

// While the process is busy the archiver waits, before a batch, nine
// times what the batch is expected to take (archiveShare 10%).
func TestArchiveYieldsWhileBusy(t *testing.T) {
	x := withOutbox(t, 3, 1000)
	x.cpuTime = busyCPU()
	began := time.Now()
	if !x.yieldCPU(context.Background(), 20*time.Millisecond) {
		t.Fatal("yieldCPU = false with its context alive")
	}
	// 3 jobs × 20 ms × 9.
	if took, want := time.Since(began), 540*time.Millisecond; took < want {
		t.Fatalf("busy: waited %v, want at least %v", took, want)
	}
}

// The archiver does not wait when the process has CPU to spare, when the
// outbox reached HISTORY_ARCHIVE_BACKLOG, when that is 0, with an empty
// outbox or before it knows what a job costs; it stops when its context
// ends.
func TestArchiveYieldEnds(t *testing.T) {
	const long = time.Hour / 27 // a wait of about an hour for 3 jobs
	for _, c := range []struct {
		name    string
		jobs    int
		backlog int
		cpu     func() time.Duration
		perJob  time.Duration
	}{
		{"idle process", 3, 1000, idleCPU, long},
		{"outbox at the backlog", 3, 3, busyCPU(), long},
		{"outbox past the backlog", 4, 3, busyCPU(), long},
		{"backlog 0", 3, 0, busyCPU(), long},
		{"empty outbox", 0, 1000, busyCPU(), long},
		{"cost unknown", 3, 1000, busyCPU(), 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			x := withOutbox(t, c.jobs, c.backlog)
			x.cpuTime = c.cpu
			done := make(chan bool, 1)
			go func() { done <- x.yieldCPU(context.Background(), c.perJob) }()
			select {
			case ok := <-done:
				if !ok {
					t.Fatal("yieldCPU = false with its context alive")
				}
			case <-time.After(time.Minute):
				t.Fatal("still waiting after a minute")
			}
		})
	}
	x := withOutbox(t, 3, 1000)
	x.cpuTime = busyCPU()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan bool, 1)
	go func() { done <- x.yieldCPU(ctx, long) }()
	cancel()
	select {
	case ok := <-done:
		if ok {
			t.Fatal("yieldCPU = true after its context ended")
		}
	case <-time.After(time.Minute):
		t.Fatal("still waiting a minute after its context ended")
	}
}

// When the loops stop, the memory store's outbox, which ends with the
// process, is archived first: jobs that ended just before a stop are in
// the history after it.
func TestArchiveFlushedAtStop(t *testing.T) {
	x := withOutbox(t, 0, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := x.Start(ctx)
	var ids []string
	for i := range 5 {
		ids = append(ids, runStock(t, x, &config.Client{Name: "acme"}, int64(i), "success").ID)
	}
	cancel() // within the archiver's linger after the first job ended
	<-stopped
	if n, err := x.outbox.OutboxLen(context.Background()); err != nil || n != 0 {
		t.Fatalf("outbox holds %d, %v after the stop; want 0", n, err)
	}
	for _, id := range ids {
		if _, err := x.hist.Job(context.Background(), id); err != nil {
			t.Errorf("job %s not archived at the stop: %v", id, err)
		}
	}
}

// flushArchive takes the whole outbox, batch after batch.
func TestFlushArchiveTakesEveryBatch(t *testing.T) {
	if testing.Short() {
		t.Skip("ends more than a batch of jobs")
	}
	x := withOutbox(t, archiveBatch+3, 0)
	x.flushArchive()
	if n, err := x.outbox.OutboxLen(context.Background()); err != nil || n != 0 {
		t.Fatalf("outbox holds %d, %v after the flush; want 0", n, err)
	}
}
