package orchestrator

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/store/memstore"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// TestWaitingReason: a job whose task type no registered worker serves
// says so, the log says it once per type, and a worker that registers
// ends the reason.
func TestWaitingReason(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var logs syncBuffer
	x := newOrchestrator(t, memstore.New(memstore.Options{}), Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	m, err := x.Endpoint("/jobs/stock")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 2 {
		j, _, err := x.Create(ctx, nil, m, CreateRequest{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	for _, id := range ids {
		j, err := x.Job(ctx, nil, id)
		if err != nil {
			t.Fatal(err)
		}
		if why := x.WaitingReason(ctx, j); !strings.Contains(why, `no registered worker serves task type "check_inventory"`) {
			t.Errorf("job %s waits with reason %q", id, why)
		}
	}
	if n := strings.Count(logs.String(), "task_type=check_inventory"); n != 1 {
		t.Errorf("the unserved type was logged %d times, want once:\n%s", n, logs.String())
	}
	register(t, x, "w1")
	j, _ := x.Job(ctx, nil, ids[0])
	if why := x.WaitingReason(ctx, j); why != "" {
		t.Errorf("with a worker for the type: reason %q, want none", why)
	}
}

// TestLateCancelledResult: the worker of a cancelled job answers
// "cancelled" after the cancel; the reply says job_cancelled, not that
// the task is stale.
func TestLateCancelledResult(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	x := newOrchestrator(t, memstore.New(memstore.Options{}), Options{})
	register(t, x, "w1")
	m, _ := x.Endpoint("/jobs/stock")
	j, _, err := x.Create(ctx, nil, m, CreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := x.Poll(ctx, "w1", 0)
	if err != nil {
		t.Fatal(err)
	}
	task, err := x.Lease(ctx, p)
	if err != nil || task == nil {
		t.Fatalf("lease: %v %v", task, err)
	}
	if err := x.Cancel(ctx, nil, j.ID); err != nil {
		t.Fatal(err)
	}
	reply, err := x.Result(ctx, "w1", TaskResult{JobID: j.ID, TaskID: task.ID, Status: wire.ResultCancelled})
	if err != nil || reply.Status != wire.ReplyIgnored || reply.Reason != wire.ReasonJobCancelled {
		t.Errorf("late cancelled result: %+v %v, want ignored with %s", reply, err, wire.ReasonJobCancelled)
	}
	if j, _ := x.Job(ctx, nil, j.ID); x.WaitingReason(ctx, j) != "" {
		t.Error("a cancelled job has a waiting reason")
	}
}

// TestServerDispatchTimeout: DISPATCH_TIMEOUT_SECONDS bounds the wait
// for a worker of a task that sets none: the job fails DISPATCH_TIMEOUT.
func TestServerDispatchTimeout(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	x := newOrchestrator(t, memstore.New(memstore.Options{}), Options{})
	x.cfg.DispatchTimeout = 50 * time.Millisecond
	stopped := x.Start(ctx)
	defer func() { cancel(); <-stopped }()
	m, _ := x.Endpoint("/jobs/stock")
	j, w, err := x.Create(ctx, nil, m, CreateRequest{Watch: true})
	if err != nil {
		t.Fatal(err)
	}
	ended, err := w.Until(ctx, j, 30*time.Second)
	if err != nil || ended.Status != wire.StatusFailed || ended.Error == nil || ended.Error.Code != wire.CodeDispatchTimeout {
		t.Fatalf("job without a worker: %+v %v, want failed with %s", ended, err, wire.CodeDispatchTimeout)
	}
}
