package server

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

const (
	viewBP = `name: view
endpoint: /jobs/view
start: first
states:
  first:
    blueprint: kid
    transitions: {success: second, failure: second}
  second:
    blueprint: kid
    transitions: {success: work, failure: work}
  work:
    task: {type: flaky, retries: 2, timeout: 60s, retry_backoff: {base: 50ms, max: 50ms}}
    transitions: {success: fan, failure: failed}
  fan:
    parallel:
      for_each: ${{ input.parts }}
      as: part
      task: {type: part}
    transitions: {success: ask, failure: failed}
  ask:
    approval: {message: "Ship ${{ input.order }}?", timeout: 1h}
    transitions: {approved: done, rejected: failed, timeout: failed}
  done: {end: success}
  failed: {end: failure}
`
	kidBP = "name: kid\nstart: s\nstates:\n  s: {end: success}\n"
)

// The job view says what a job waits on: its tasks (queued or running,
// with the worker, the attempt and the lease's deadline, the item of a
// for_each), the approval's question and the child jobs it started, on
// the memory store and on Redis.
func TestJobViewShowsWhatTheJobWaitsOn(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"memory", "redis"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var st store.Store
			if name == "redis" {
				st = redisStore(t)
			}
			h := startOn(t, false, map[string]string{"view.yaml": viewBP, "kid.yaml": kidBP}, st, "")
			jobViewCases(t, h)
		})
	}
}

func jobViewCases(t *testing.T, h *harness) {
	id := h.create("/jobs/view", map[string]any{"order": "A1", "parts": []string{"x", "y"}})

	// Two children ran before the task: both are listed, in order.
	v := h.waitStatus(id, wire.StatusWaitingForWorker)
	if len(v.ChildJobIDs) != 2 || v.ChildJobIDs[0] == v.ChildJobIDs[1] || v.ChildJobID != "" {
		t.Fatalf("children: %q (waiting on %q), want two", v.ChildJobIDs, v.ChildJobID)
	}
	for _, c := range v.ChildJobIDs {
		if cv := h.job(c); cv.ParentJobID != id || cv.Blueprint != "kid" {
			t.Errorf("child %s: parent %q, blueprint %q", c, cv.ParentJobID, cv.Blueprint)
		}
	}
	if v.Approval != nil {
		t.Errorf("a job waiting for a worker shows an approval: %+v", v.Approval)
	}

	// Queued: no worker, no deadline, no item.
	want := wire.CurrentTask{TaskID: v.TaskIDs[0], Type: "flaky", State: wire.TaskStateQueued, Attempt: 1}
	if len(v.CurrentTasks) != 1 || !eqTask(v.CurrentTasks[0], want) {
		t.Fatalf("queued: %s, want %s", tasksString(v.CurrentTasks), tasksString([]wire.CurrentTask{want}))
	}

	// Running: the worker and the lease's deadline, in the view and a
	// ?wait answer; a list's entry has the task's id but no store read.
	w := h.worker("w1", "flaky", "part")
	before := time.Now().Unix()
	p1 := w.mustPoll()
	after := time.Now().Unix()
	var waited wire.JobView
	if code := h.do("GET", "/api/v1/jobs/"+id+"?wait=0.01", nil, nil, &waited); code != 200 {
		t.Fatalf("wait: %d", code)
	}
	var list []wire.JobView
	if code := h.do("GET", "/api/v1/jobs", nil, nil, &list); code != 200 {
		t.Fatalf("list: %d", code)
	}
	i := slices.IndexFunc(list, func(l wire.JobView) bool { return l.ID == id })
	if i < 0 {
		t.Fatalf("job %s not listed", id)
	}
	if l := list[i]; l.CurrentTasks != nil || !slices.Equal(l.TaskIDs, []string{p1.TaskID}) {
		t.Errorf("list: current_tasks %s, current_task_ids %v; want none and [%s]", tasksString(l.CurrentTasks), l.TaskIDs, p1.TaskID)
	}
	for src, v := range map[string]wire.JobView{"get": h.job(id), "wait": waited} {
		if len(v.CurrentTasks) != 1 {
			t.Fatalf("%s: running: %s", src, tasksString(v.CurrentTasks))
		}
		ct := v.CurrentTasks[0]
		d := int64(ct.LeaseDeadline)
		if ct.TaskID != p1.TaskID || ct.State != wire.TaskStateRunning || ct.WorkerID != "w1" || ct.Attempt != 1 ||
			d < before+60 || d > after+60 || ct.Item != nil {
			t.Errorf("%s: running: %s, want w1's lease ending at %d to %d", src, tasksString(v.CurrentTasks), before+60, after+60)
		}
		if v.Status != wire.StatusWaitingForWorker {
			t.Errorf("%s: status %s: a leased task leaves the status as it is", src, v.Status)
		}
	}

	// A retry: attempt 2, queued again (the lease is gone), then running.
	w.result(p1, "failure", nil, "TRANSIENT_ERROR")
	// The result committed the backoff: the job waits for a worker again
	// once the retry's timer fired.
	v = h.waitStatus(id, wire.StatusWaitingForWorker)
	if len(v.CurrentTasks) != 1 {
		t.Fatalf("attempt 2: %s", tasksString(v.CurrentTasks))
	}
	if ct := v.CurrentTasks[0]; ct.Attempt != 2 || ct.State != wire.TaskStateQueued || ct.WorkerID != "" || ct.LeaseDeadline != 0 || ct.TaskID == p1.TaskID {
		t.Errorf("attempt 2 queued: %s", tasksString(v.CurrentTasks))
	}
	p2 := w.mustPoll()
	v = h.job(id)
	if len(v.CurrentTasks) != 1 {
		t.Fatalf("attempt 2 running: %s", tasksString(v.CurrentTasks))
	}
	if ct := v.CurrentTasks[0]; ct.TaskID != p2.TaskID || ct.State != wire.TaskStateRunning || ct.Attempt != 2 || ct.WorkerID != "w1" || ct.LeaseDeadline == 0 {
		t.Errorf("attempt 2 running: %s", tasksString(v.CurrentTasks))
	}
	w.result(p2, "success", nil, "")

	// A for_each: one entry per item; the one a worker took is running.
	v = h.waitStatus(id, wire.StatusWaitingParallel)
	if len(v.CurrentTasks) != 2 {
		t.Fatalf("for_each: %s", tasksString(v.CurrentTasks))
	}
	for n, ct := range v.CurrentTasks {
		if ct.Item == nil || *ct.Item != n || ct.State != wire.TaskStateQueued || ct.Type != "part" || ct.Attempt != 1 {
			t.Errorf("for_each item %d: %s", n, tasksString(v.CurrentTasks))
		}
	}
	pa := w.mustPoll()
	v = h.job(id)
	running := 0
	for _, ct := range v.CurrentTasks {
		if ct.State == wire.TaskStateRunning {
			running++
			if ct.TaskID != pa.TaskID || ct.WorkerID != "w1" || ct.Item == nil {
				t.Errorf("for_each running: %s", tasksString(v.CurrentTasks))
			}
			// The task has no result deadline of its own: the runtime's.
			if ct.LeaseDeadline == 0 {
				t.Errorf("for_each running without a lease deadline: %s", tasksString(v.CurrentTasks))
			}
		} else if ct.WorkerID != "" || ct.LeaseDeadline != 0 {
			t.Errorf("for_each queued with a lease: %s", tasksString(v.CurrentTasks))
		}
	}
	if running != 1 {
		t.Errorf("for_each: %d running, want 1: %s", running, tasksString(v.CurrentTasks))
	}
	w.result(pa, "success", nil, "")
	w.result(w.mustPoll(), "success", nil, "")

	// The approval: its message, choices and deadline; no tasks.
	before = time.Now().Unix()
	v = h.waitStatus(id, wire.StatusWaitingForHuman)
	after = time.Now().Unix()
	a := v.Approval
	if a == nil || a.Message != "Ship A1?" || !slices.Equal(a.Choices, []string{"approved", "rejected"}) {
		t.Fatalf("approval: %+v", a)
	}
	if d := int64(a.Deadline); d < before+3600-5 || d > after+3600 {
		t.Errorf("approval deadline %d, want about %d", d, before+3600)
	}
	if len(v.CurrentTasks) != 0 || len(v.TaskIDs) != 0 {
		t.Errorf("an approval waits on no task: %s", tasksString(v.CurrentTasks))
	}
	if code := h.do("POST", "/api/v1/jobs/"+id+"/approval", nil, map[string]string{"decision": "approved"}, nil); code != 200 {
		t.Fatalf("approve: %d", code)
	}
	v = h.waitStatus(id, wire.StatusFinished)
	if v.Approval != nil || len(v.CurrentTasks) != 0 || len(v.ChildJobIDs) != 2 {
		t.Errorf("finished: approval %+v, tasks %s, children %q", v.Approval, tasksString(v.CurrentTasks), v.ChildJobIDs)
	}
}

func eqTask(a, b wire.CurrentTask) bool {
	return tasksString([]wire.CurrentTask{a}) == tasksString([]wire.CurrentTask{b})
}

func tasksString(ts []wire.CurrentTask) string {
	s := "["
	for _, t := range ts {
		item := "-"
		if t.Item != nil {
			item = fmt.Sprint(*t.Item)
		}
		s += fmt.Sprintf("{%s %s %s attempt=%d worker=%q deadline=%d item=%s}", t.TaskID, t.Type, t.State, t.Attempt, t.WorkerID, t.LeaseDeadline, item)
	}
	return s + "]"
}
