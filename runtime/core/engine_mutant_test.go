package core_test

import (
	"context"
	"crypto/rand"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

var mt0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func loadMachine(t *testing.T, files map[string]string, name string) *lang.Machine {
	t.Helper()
	fs := fstest.MapFS{}
	for n, src := range files {
		fs[n] = &fstest.MapFile{Data: []byte(src)}
	}
	set, ds := lang.LoadFS(fs)
	if len(ds) > 0 {
		t.Fatalf("blueprints: %v", ds)
	}
	m := set.Lookup(name)
	if m == nil {
		t.Fatalf("no blueprint %s", name)
	}
	return m
}

func step(t *testing.T, m *lang.Machine, j *core.Job, ev core.Event) (*core.Job, *core.Effects) {
	t.Helper()
	j, fx, err := core.Step(context.Background(), m, j, ev, core.Inputs{Now: mt0, Rand: rand.Reader})
	if err != nil {
		t.Fatalf("step %s: %v", ev.Kind, err)
	}
	return j, fx
}

const retryBP = `name: rt
start: work
states:
  work:
    task: {type: t, retries: 2}
    transitions: {success: done}
  done: {end: success}
`

// failedOnce is a job whose only task failed transiently and waits on
// its retry timer; it returns the job and that timer.
func failedOnce(t *testing.T, m *lang.Machine) (*core.Job, core.Timer) {
	t.Helper()
	j := &core.Job{ID: "job-r", Status: wire.StatusPending}
	j, fx := step(t, m, j, core.Event{Kind: core.EventCreated})
	task := fx.Enqueue[0]
	j, fx = step(t, m, j, core.Event{Kind: core.EventTaskResult, TaskID: task.ID, Branch: task.Branch,
		Result: &core.Result{Status: "failure", Error: &wire.Error{Code: wire.CodeTransientError, Message: "boom"}}})
	if j.Status != wire.StatusAwaitingRetry {
		t.Fatalf("after a transient failure: %s, want %s", j.Status, wire.StatusAwaitingRetry)
	}
	for _, tm := range fx.Timers {
		if tm.Event.TaskID == task.ID {
			return j, tm
		}
	}
	t.Fatalf("no retry timer among %+v", fx.Timers)
	return nil, core.Timer{}
}

// A retry timer fires only for the timer the task waits on: one with
// another id is stale; the right one (or one that names no id) enqueues
// the next attempt.
func TestRetryTimerMustMatch(t *testing.T) {
	t.Parallel()
	m := loadMachine(t, map[string]string{"rt.yaml": retryBP}, "rt")
	j, tm := failedOnce(t, m)

	wrong := tm.Event
	wrong.TimerID = tm.ID + "-old"
	if _, _, err := core.Step(context.Background(), m, j, wrong, core.Inputs{Now: mt0, Rand: rand.Reader}); !errors.Is(err, core.ErrStaleTimer) {
		t.Errorf("retry timer with another id: error %v, want ErrStaleTimer", err)
	}

	for _, name := range []string{"its own id", "no id"} {
		ev := tm.Event
		if ev.TimerID == "" {
			ev.TimerID = tm.ID
		}
		if name == "no id" {
			ev.TimerID = ""
		}
		j2, fx := step(t, m, j, ev)
		if len(fx.Enqueue) != 1 || fx.Enqueue[0].Attempt != 2 || j2.Status != wire.StatusWaitingForWorker {
			t.Errorf("%s: status %s, enqueued %+v, want attempt 2 queued", name, j2.Status, fx.Enqueue)
		}
	}
}

// Events that carry a branch the job has no task at (unknown -1, or past
// the end) still find their task by its id.
func TestEventBranchOutOfRange(t *testing.T) {
	t.Parallel()
	m := loadMachine(t, map[string]string{"rt.yaml": retryBP}, "rt")
	for _, branch := range []int{-1, 1, 7} {
		j := &core.Job{ID: "job-b", Status: wire.StatusPending}
		j, fx := step(t, m, j, core.Event{Kind: core.EventCreated})
		task := fx.Enqueue[0]
		j, _ = step(t, m, j, core.Event{Kind: core.EventTaskResult, TaskID: task.ID, Branch: branch, Result: &core.Result{Status: "success"}})
		if j.Status != wire.StatusFinished || j.State != "done" {
			t.Errorf("result with branch %d: %s in %s, want finished in done", branch, j.Status, j.State)
		}
	}
}

const parentBP = `name: parent
start: call
states:
  call:
    blueprint: {name: kid}
    transitions: {success: done}
  done: {end: success}
`

const kidBP = "name: kid\nstart: s\nstates:\n  s: {end: success}\n"

// A child that fails, where the state names no failure transition, fails
// the parent with CHILD_FAILED and the child's message; a success goes on.
func TestChildFailureWithoutTransition(t *testing.T) {
	t.Parallel()
	m := loadMachine(t, map[string]string{"p.yaml": parentBP, "k.yaml": kidBP}, "parent")
	start := func() *core.Job {
		j, fx := step(t, m, &core.Job{ID: "job-p", Status: wire.StatusPending}, core.Event{Kind: core.EventCreated})
		if len(fx.StartChild) != 1 || j.Child != fx.StartChild[0].ID {
			t.Fatalf("no child started: %+v", fx.StartChild)
		}
		return j
	}
	j := start()
	j, fx := step(t, m, j, core.Event{Kind: core.EventChildFinished, ChildID: j.Child, Outcome: "failure",
		Result: &core.Result{Status: "failure", Error: &wire.Error{Code: "X", Message: "disk full"}}})
	if j.Status != wire.StatusFailed || j.Error == nil || j.Error.Code != wire.CodeChildFailed || !strings.HasSuffix(j.Error.Message, ": disk full") {
		t.Errorf("child failed: %s, error %+v, want failed with %s ending in the child's message", j.Status, j.Error, wire.CodeChildFailed)
	}
	if fx.Notify == nil || fx.Notify.Status != wire.StatusFailed {
		t.Errorf("notify %+v, want the failure", fx.Notify)
	}
	// No message from the child: the parent's message ends at the name.
	j = start()
	j, _ = step(t, m, j, core.Event{Kind: core.EventChildFinished, ChildID: j.Child, Outcome: "failure"})
	if j.Error == nil || j.Error.Code != wire.CodeChildFailed || strings.HasSuffix(j.Error.Message, ": ") {
		t.Errorf("child failed without message: %+v", j.Error)
	}
	j = start()
	j, _ = step(t, m, j, core.Event{Kind: core.EventChildFinished, ChildID: j.Child, Outcome: "success"})
	if j.Status != wire.StatusFinished {
		t.Errorf("child succeeded: %s, want finished", j.Status)
	}
	// A child outcome other than success or failure is refused.
	j = start()
	if _, _, err := core.Step(context.Background(), m, j, core.Event{Kind: core.EventChildFinished, ChildID: j.Child, Outcome: "maybe"},
		core.Inputs{Now: mt0, Rand: rand.Reader}); !errors.Is(err, core.ErrBadEvent) {
		t.Errorf("outcome maybe: %v, want ErrBadEvent", err)
	}
}

// Every timeline entry carries the step's time and, once the job entered
// a state, the state it was in when the entry was written ("created"
// comes before any state).
func TestTimelineCarriesState(t *testing.T) {
	t.Parallel()
	m := loadMachine(t, map[string]string{"rt.yaml": retryBP}, "rt")
	_, fx := step(t, m, &core.Job{ID: "job-t", Status: wire.StatusPending}, core.Event{Kind: core.EventCreated})
	if len(fx.Timeline) == 0 {
		t.Fatal("no timeline")
	}
	for _, e := range fx.Timeline {
		if (e.State == "") != (e.Type == "created") || !e.At.Equal(mt0) {
			t.Errorf("timeline %s: state %q at %v, want a state (none for created) at %v", e.Type, e.State, e.At, mt0)
		}
	}
	if last := fx.Timeline[len(fx.Timeline)-1]; last.State != "work" {
		t.Errorf("last entry %s in %q, want work", last.Type, last.State)
	}
}

const lookBP = `name: look
start: call
states:
  call:
    blueprint: {name: kid}
    transitions: {success: look, failure: look}
  look:
    set: {d: "${{ result.data }}", e: "${{ result.error }}", s: "${{ result.status }}"}
    go_to: done
  done: {end: success}
`

// Expressions after a child see result as {status, data, error}: data is
// the child's data or an empty object, never null; error is null or
// {code, message[, details]}.
func TestResultAsExpressionsSeeIt(t *testing.T) {
	t.Parallel()
	m := loadMachine(t, map[string]string{"l.yaml": lookBP, "k.yaml": kidBP}, "look")
	for _, tc := range []struct {
		name    string
		outcome string
		res     *core.Result
		data    any
		err     any
	}{
		{"success with data", "success", &core.Result{Status: "success", Data: map[string]any{"x": int64(1)}},
			map[string]any{"x": int64(1)}, nil},
		{"failure without data", "failure", &core.Result{Status: "failure", Error: &wire.Error{Code: "C", Message: "m"}},
			map[string]any{}, map[string]any{"code": "C", "message": "m"}},
		{"failure with details", "failure", &core.Result{Status: "failure", Error: &wire.Error{Code: "C", Message: "m", Details: map[string]any{"k": "v"}}},
			map[string]any{}, map[string]any{"code": "C", "message": "m", "details": map[string]any{"k": "v"}}},
	} {
		j, _ := step(t, m, &core.Job{ID: "job-l", Status: wire.StatusPending}, core.Event{Kind: core.EventCreated})
		j, _ = step(t, m, j, core.Event{Kind: core.EventChildFinished, ChildID: j.Child, Outcome: tc.outcome, Result: tc.res})
		if j.Status != wire.StatusFinished {
			t.Fatalf("%s: %s (%+v)", tc.name, j.Status, j.Error)
		}
		if got := j.History["s"]; got != tc.outcome {
			t.Errorf("%s: result.status = %v, want %s", tc.name, got, tc.outcome)
		}
		if got := j.History["d"]; !reflect.DeepEqual(got, tc.data) {
			t.Errorf("%s: result.data = %#v, want %#v", tc.name, got, tc.data)
		}
		if got := j.History["e"]; !reflect.DeepEqual(got, tc.err) {
			t.Errorf("%s: result.error = %#v, want %#v", tc.name, got, tc.err)
		}
	}
}

const parLookBP = `name: par
start: fan
states:
  fan:
    parallel:
      for_each: ${{ input.items }}
      as: item
      task: {type: reserve}
    transitions: {success: look, failure: look}
  look:
    set: {r: "${{ results }}"}
    go_to: done
  done: {end: success}
`

// After a parallel state, results lists every branch's result as
// {status, data, error}, in branch order whatever order they came in; a
// parallel that failed fast leaves it empty.
func TestParallelResultsAsExpressionsSeeThem(t *testing.T) {
	t.Parallel()
	m := loadMachine(t, map[string]string{"p.yaml": parLookBP}, "par")
	start := func() (*core.Job, []*core.Task) {
		j, fx := step(t, m, &core.Job{ID: "job-par", Status: wire.StatusPending, Input: map[string]any{"items": []any{"a", "b", "c"}}},
			core.Event{Kind: core.EventCreated})
		if len(fx.Enqueue) != 3 {
			t.Fatalf("enqueued %d, want 3", len(fx.Enqueue))
		}
		return j, fx.Enqueue
	}
	j, tasks := start()
	for _, i := range []int{2, 0, 1} {
		tk := tasks[i]
		j, _ = step(t, m, j, core.Event{Kind: core.EventTaskResult, TaskID: tk.ID, Branch: tk.Branch,
			Result: &core.Result{Status: "success", Data: map[string]any{"i": int64(i)}}})
	}
	want := []any{}
	for i := range 3 {
		want = append(want, map[string]any{"status": "success", "data": map[string]any{"i": int64(i)}, "error": nil})
	}
	if j.Status != wire.StatusFinished || !reflect.DeepEqual(j.History["r"], want) {
		t.Errorf("all succeeded: %s, results %#v, want %#v", j.Status, j.History["r"], want)
	}

	j, tasks = start()
	j, _ = step(t, m, j, core.Event{Kind: core.EventTaskResult, TaskID: tasks[1].ID, Branch: tasks[1].Branch,
		Result: &core.Result{Status: "out_of_stock"}})
	if j.Status != wire.StatusFinished || !reflect.DeepEqual(j.History["r"], []any{}) {
		t.Errorf("failed fast: %s, results %#v, want []", j.Status, j.History["r"])
	}
}

// An approval without a timeout arms no timer; one with a timeout arms
// it at now + timeout.
func TestApprovalTimerOnlyWithTimeout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		timeout string
		timers  int
	}{
		{"no timeout", "", 0},
		{"timeout", ", timeout: 90s", 1},
	} {
		bp := "name: ap\nstart: ask\nstates:\n  ask:\n    approval: {message: \"go\"" + tc.timeout + "}\n    transitions: {approved: done}\n  done: {end: success}\n"
		m := loadMachine(t, map[string]string{"ap.yaml": bp}, "ap")
		j, fx := step(t, m, &core.Job{ID: "job-ap", Status: wire.StatusPending}, core.Event{Kind: core.EventCreated})
		if j.Status != wire.StatusWaitingForHuman || len(fx.Timers) != tc.timers || (j.Timer != "") != (tc.timers == 1) {
			t.Errorf("%s: %s, timers %+v, job timer %q; want %d timer(s)", tc.name, j.Status, fx.Timers, j.Timer, tc.timers)
		}
		if tc.timers == 1 && !fx.Timers[0].At.Equal(mt0.Add(90*time.Second)) {
			t.Errorf("%s: timer at %v, want %v", tc.name, fx.Timers[0].At, mt0.Add(90*time.Second))
		}
	}
}

// A child's input must evaluate to an object or null; anything else
// fails the parent with an expression error and starts no child.
func TestChildInputMustBeAnObject(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		input string
		fails bool
		want  map[string]any
	}{
		{`"${{ input.obj }}"`, false, map[string]any{"k": "v"}},
		{`"${{ input.none }}"`, false, nil},
		{`"${{ input.text }}"`, true, nil},
		{`"${{ input.list }}"`, true, nil},
	} {
		bp := "name: ci\nstart: call\nstates:\n  call:\n    blueprint: {name: kid, input: " + tc.input + "}\n    transitions: {success: done}\n  done: {end: success}\n"
		m := loadMachine(t, map[string]string{"ci.yaml": bp, "k.yaml": kidBP}, "ci")
		in := map[string]any{"obj": map[string]any{"k": "v"}, "none": nil, "text": "t", "list": []any{1}}
		j, fx := step(t, m, &core.Job{ID: "job-ci", Status: wire.StatusPending, Input: in}, core.Event{Kind: core.EventCreated})
		if tc.fails {
			if j.Status != wire.StatusFailed || j.Error == nil || j.Error.Code != wire.CodeExpressionError || !strings.Contains(j.Error.Message, "must be an object") || len(fx.StartChild) != 0 {
				t.Errorf("input %s: %s, error %+v, children %d; want an expression failure and no child", tc.input, j.Status, j.Error, len(fx.StartChild))
			}
			continue
		}
		if len(fx.StartChild) != 1 || !reflect.DeepEqual(fx.StartChild[0].Input, tc.want) {
			t.Errorf("input %s: children %+v, want one with input %v", tc.input, fx.StartChild, tc.want)
		}
	}
}

// A dispatch timeout's message names the timeout the task had: the
// job's, else the task's own, else the runtime's limit.
func TestDispatchTimeoutNamesTheTimeout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, spec string
		job        time.Duration
		want       string
	}{
		{"the runtime's limit", "", 0, "within 45s"},
		{"the task's own", ", dispatch_timeout: 7s", 0, "within 7s"},
		{"the job's", ", dispatch_timeout: 7s", 2 * time.Minute, "within 2m0s"},
	} {
		bp := "name: dt\nstart: work\nstates:\n  work:\n    task: {type: t" + tc.spec + "}\n    transitions: {success: done}\n  done: {end: success}\n"
		m := loadMachine(t, map[string]string{"dt.yaml": bp}, "dt")
		in := core.Inputs{Now: mt0, Rand: rand.Reader, Limits: core.Limits{DispatchTimeout: 45 * time.Second}}
		j, fx, err := core.Step(context.Background(), m, &core.Job{ID: "job-dt", Status: wire.StatusPending, DispatchTimeout: tc.job},
			core.Event{Kind: core.EventCreated}, in)
		if err != nil || len(fx.Enqueue) != 1 {
			t.Fatalf("%s: create: %v, %+v", tc.name, err, fx)
		}
		task := fx.Enqueue[0]
		j, _, err = core.Step(context.Background(), m, j, core.Event{Kind: core.EventDispatchTimeout, TaskID: task.ID, Branch: task.Branch}, in)
		if err != nil {
			t.Fatal(err)
		}
		if j.Error == nil || !strings.Contains(j.Error.Message, tc.want) {
			t.Errorf("%s: error %+v, want it to say %q", tc.name, j.Error, tc.want)
		}
	}
}

const shrinkBP = `name: shrink
stores: {inv: {}}
start: fan
states:
  fan:
    parallel:
      for_each: ${{ stores.inv.items }}
      as: item
      task: {type: reserve, params: {sku: "${{ item }}"}, retries: 1}
    transitions: {success: done, failure: failed}
  done: {end: success}
  failed: {end: failure}
`

// A retry evaluates for_each again; when the list no longer reaches the
// branch being retried (the branch index equal to the new length, or
// past it), the job fails with an expression error rather than retrying
// another item.
func TestRetryBranchGoneFromForEach(t *testing.T) {
	t.Parallel()
	m := loadMachine(t, map[string]string{"s.yaml": shrinkBP}, "shrink")
	in := func(items ...any) core.Inputs {
		return core.Inputs{Now: mt0, Rand: rand.Reader, Stores: map[string]map[string]any{"inv": {"items": items}}}
	}
	for _, tc := range []struct {
		name  string
		items []any
		fails bool
	}{
		{"still there", []any{"a", "b", "c"}, false},
		{"length equal to the branch", []any{"a"}, true},
		{"length below the branch", []any{}, true},
	} {
		ctx := context.Background()
		j, fx, err := core.Step(ctx, m, &core.Job{ID: "job-s", Status: wire.StatusPending}, core.Event{Kind: core.EventCreated}, in("a", "b", "c"))
		if err != nil || len(fx.Enqueue) != 3 {
			t.Fatalf("create: %v, %d tasks", err, len(fx.Enqueue))
		}
		b1 := fx.Enqueue[1]
		j, fx, err = core.Step(ctx, m, j, core.Event{Kind: core.EventTaskResult, TaskID: b1.ID, Branch: b1.Branch,
			Result: &core.Result{Status: "failure", Error: &wire.Error{Code: wire.CodeTransientError, Message: "boom"}}}, in("a", "b", "c"))
		if err != nil || len(fx.Timers) == 0 {
			t.Fatalf("%s: transient failure: %v, timers %+v", tc.name, err, fx.Timers)
		}
		var retry core.Timer
		for _, tm := range fx.Timers {
			if tm.Event.TaskID == b1.ID {
				retry = tm
			}
		}
		j, fx, err = core.Step(ctx, m, j, retry.Event, in(tc.items...))
		if err != nil {
			t.Fatalf("%s: retry: %v", tc.name, err)
		}
		if tc.fails {
			if j.Error == nil || j.Error.Code != wire.CodeExpressionError || !strings.Contains(j.Error.Message, "branch 1 is gone") {
				t.Errorf("%s: %s, error %+v, want an expression failure naming branch 1", tc.name, j.Status, j.Error)
			}
			continue
		}
		if len(fx.Enqueue) != 1 || fx.Enqueue[0].Params["sku"] != "b" || fx.Enqueue[0].Attempt != 2 {
			t.Errorf("%s: enqueued %+v, want attempt 2 of sku b", tc.name, fx.Enqueue)
		}
	}
}

// At panics with the package's message for an index out of range, the
// length itself included.
func TestTaskRefsAtPanicsAtLength(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 3, 32, 33} {
		list := make([]core.TaskRef, n)
		for i := range list {
			list[i].ID = strconv.Itoa(i)
		}
		refs := core.NewTaskRefs(list...)
		for _, i := range []int{-1, n, n + 1} {
			func() {
				defer func() {
					if p := recover(); p != "core.TaskRefs: index out of range" {
						t.Errorf("len %d, At(%d): panic %v, want the index out of range panic", n, i, p)
					}
				}()
				refs.At(i)
			}()
		}
		if got := refs.At(n - 1).ID; got != strconv.Itoa(n-1) {
			t.Errorf("len %d: At(%d) = %q", n, n-1, got)
		}
	}
}
