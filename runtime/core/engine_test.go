package core

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// t0 is the fixed Now of every step in these tests.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// ctrRand is a deterministic source of randomness: the k-th Read (from 1)
// fills p with 0x80, zeros and k in the last byte. So the k-th id drawn is
// id(k), and a jitter drawn is just over half of 2^64: Backoff gives half
// its bound.
type ctrRand struct{ k byte }

func (r *ctrRand) Read(p []byte) (int, error) {
	r.k++
	clear(p)
	p[0] = 0x80
	p[len(p)-1] = r.k
	return len(p), nil
}

// id is the k-th UUID ctrRand gives.
func id(k int) string { return fmt.Sprintf("80000000-0000-4000-8000-%012x", k) }

// failRand fails every read.
type failRand struct{}

func (failRand) Read([]byte) (int, error) { return 0, errors.New("entropy gone") }

const childYAML = "name: child\nstart: s\nstates:\n  s: {end: success}\n"

func machine(t testing.TB, src string) *lang.Machine {
	t.Helper()
	set, ds := lang.LoadFS(fstest.MapFS{"bp.yaml": {Data: []byte(src)}, "child.yaml": {Data: []byte(childYAML)}})
	if len(ds) > 0 {
		t.Fatalf("blueprint: %v", ds)
	}
	m := set.Lookup("bp")
	if m == nil {
		t.Fatal("no blueprint bp")
	}
	return m
}

const taskBP = `name: bp
start: pick
states:
  pick:
    set: {n: "${{ input.n }}"}
    choose:
      - when: input.n > 10
        go_to: big
      - when: input.n > 5
        go_to: work
  big: {go_to: work}
  work:
    task: {type: t, params: {n: "${{ history.n }}", try: "${{ job.attempt }}"}, retries: 2, timeout: 5s, dispatch_timeout: 7s, priority: 3, strategy: cheapest, requires: {gpu: 1}, max_cost: 2.5}
    transitions: {success: done, out_of_stock: none, failure: failed}
  done: {end: success}
  none: {end: failure}
  failed: {end: failure}
`

const plainBP = `name: bp
start: work
states:
  work:
    task: {type: t}
    transitions: {success: done, cancelled: undo}
  undo: {end: failure}
  done: {end: success}
`

const badExprBP = `name: bp
start: work
states:
  work:
    task: {type: t, params: {x: "${{ input.n + 'x' }}"}}
    transitions: {success: done}
  done: {end: success}
`

const loopBP = `name: bp
start: a
states:
  a: {go_to: b}
  b:
    choose:
      - when: input.stop
        go_to: done
      - go_to: a
  done: {end: success}
`

const parBP = `name: bp
start: fan
states:
  fan:
    parallel:
      for_each: ${{ input.items }}
      as: item
      task: {type: reserve, params: {sku: "${{ item }}"}, retries: 1}
    transitions: {success: done, failure: failed}
  done: {end: success}
  failed: {end: failure}
`

const parListBP = `name: bp
start: fan
states:
  fan:
    parallel:
      tasks:
        - {type: a, params: {x: 1}}
        - {type: b, priority: 5}
    transitions: {success: done}
  done: {end: success}
`

const apprBP = `name: bp
start: ask
states:
  ask:
    approval: {message: "Ship ${{ input.order }}?", timeout: 1h}
    transitions: {approved: done, rejected: no, timeout: no}
  done: {end: success}
  no: {end: failure}
`

const childBP = `name: bp
start: call
states:
  call:
    blueprint: {name: child, input: {n: "${{ input.n }}"}}
    transitions: {success: done, failure: failed}
  done: {end: success}
  failed: {end: failure}
`

const waitBP = `name: bp
start: pause
states:
  pause: {wait: 90s, go_to: done}
  done: {end: success}
`

const untilBP = `name: bp
start: pause
states:
  pause: {until: "${{ input.at }}", go_to: done}
  done: {end: success}
`

const storeBP = `name: bp
stores: {seen: {}}
start: a
states:
  a:
    set: {a: 1, b: "${{ history.a + 1 }}"}
    store: {seen: {"${{ input.id }}": "${{ history.b }}", "${{ stores.seen.get('x', 7) }}": true}}
    go_to: e
  e: {end: success}
`

// pending is a job just created.
func pending(input map[string]any) *Job {
	return &Job{ID: "job-1", Blueprint: "bp", Version: "v1", Status: wire.StatusPending, Input: input,
		Client: Client{Name: "acme", Plan: "pro"}, CreatedAt: t0.Add(-time.Hour), UpdatedAt: t0.Add(-time.Hour)}
}

// at is a job in state, waiting with status.
func at(state string, status wire.JobStatus, steps int, input map[string]any, tasks ...TaskRef) *Job {
	j := pending(input)
	j.State, j.Status, j.Steps, j.Tasks = state, status, steps, NewTaskRefs(tasks...)
	return j
}

func ref(id string, typ string, branch, attempt int, timer string) TaskRef {
	return TaskRef{ID: id, Type: typ, Branch: branch, Attempt: attempt, Timer: timer}
}

func result(taskID string, branch int, status string, data map[string]any, code string) Event {
	r := &Result{Status: status, Data: data}
	if code != "" {
		r.Error = &wire.Error{Code: code, Message: "boom"}
	}
	return Event{Kind: EventTaskResult, TaskID: taskID, Branch: branch, WorkerID: "w1", Result: r}
}

func notify(st wire.JobStatus) *Notification {
	return &Notification{Event: notifyEvent(st), JobID: "job-1", Status: st}
}

// workTask is attempt of the task of taskBP's work state, drawn as id(k).
func workTask(k, attempt int, n int64) *Task {
	return &Task{ID: "task-" + id(k), JobID: "job-1", Type: "t", Params: map[string]any{"n": n, "try": int64(attempt)},
		Priority: 3, Attempt: attempt, Timeout: 5 * time.Second, DispatchTimeout: 7 * time.Second, Strategy: "cheapest",
		Requires: map[string]any{"gpu": int64(1)}, MaxCost: ptr(2.5), EnqueuedAt: t0}
}

func dispatchTimer(taskID string, branch int, d time.Duration) Timer {
	return Timer{ID: "dispatch-" + taskID, JobID: "job-1", At: t0.Add(d),
		Event: Event{Kind: EventDispatchTimeout, TaskID: taskID, Branch: branch, TimerID: "dispatch-" + taskID}}
}

func ptr[T any](v T) *T { return &v }

type stepCase struct {
	name  string
	bp    string
	job   func() *Job // the input; called again to check Step left it as it was
	ev    Event
	in    Inputs     // Now and Rand are filled in when zero
	want  func(*Job) // turns a fresh input job into the wanted one (UpdatedAt is set to Now)
	fx    *Effects   // wanted effects, timeline aside (nil: none)
	types []string   // wanted timeline event types
	err   error      // wanted error (then no job, no effects)
}

func runCases(t *testing.T, cases []stepCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m := machine(t, c.bp)
			now := c.in.Now
			if now.IsZero() {
				now = t0
			}
			step := func(j *Job) (*Job, *Effects, error) {
				in := c.in
				in.Now = now
				if in.Rand == nil {
					in.Rand = &ctrRand{}
				}
				return Step(context.Background(), m, j, c.ev, in)
			}
			in := c.job()
			got, fx, err := step(in)
			if diff := cmp.Diff(c.job(), in); diff != "" {
				t.Errorf("Step changed its input job (-before +after):\n%s", diff)
			}
			if c.err != nil {
				if !errors.Is(err, c.err) || got != nil || fx != nil {
					t.Fatalf("Step = %v, %v, %v; want error %v and nothing else", got, fx, err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Step: %v", err)
			}
			want := c.job()
			c.want(want)
			want.UpdatedAt = now
			if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("job (-want +got):\n%s", diff)
			}
			wantFx := c.fx
			if wantFx == nil {
				wantFx = &Effects{}
			}
			if diff := cmp.Diff(wantFx, fx, cmpopts.IgnoreFields(Effects{}, "Timeline", "Transition"), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("effects (-want +got):\n%s", diff)
			}
			var types []string
			for _, e := range fx.Timeline {
				types = append(types, e.Type)
				if !e.At.Equal(now) {
					t.Errorf("timeline %s at %v, want the step's Now", e.Type, e.At)
				}
			}
			if diff := cmp.Diff(c.types, types, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("timeline types (-want +got):\n%s", diff)
			}
			// Same input, same output.
			again, fx2, err := step(c.job())
			if err != nil {
				t.Fatalf("second Step: %v", err)
			}
			if diff := cmp.Diff(got, again); diff != "" {
				t.Errorf("second Step gave another job:\n%s", diff)
			}
			if diff := cmp.Diff(fx, fx2); diff != "" {
				t.Errorf("second Step gave other effects:\n%s", diff)
			}
		})
	}
}

func TestStepFlow(t *testing.T) {
	t.Parallel()
	runCases(t, []stepCase{
		{
			name: "created: set, choose, go_to, then a task", bp: taskBP,
			job: func() *Job { return pending(map[string]any{"n": int64(11)}) },
			ev:  Event{Kind: EventCreated},
			want: func(j *Job) {
				j.State, j.Status, j.Steps, j.History = "work", wire.StatusWaitingForWorker, 3, map[string]any{"n": int64(11)}
				j.Tasks = NewTaskRefs(ref("task-"+id(1), "t", 0, 1, "dispatch-task-"+id(1)))
			},
			fx:    &Effects{Enqueue: []*Task{workTask(1, 1, 11)}, Timers: []Timer{dispatchTimer("task-"+id(1), 0, 7*time.Second)}},
			types: []string{"created", "state_entered", "state_entered", "state_entered", "task_enqueued"},
		},
		{
			name: "choose takes the first entry that holds", bp: taskBP,
			job: func() *Job { return pending(map[string]any{"n": int64(6)}) },
			ev:  Event{Kind: EventCreated},
			want: func(j *Job) {
				j.State, j.Status, j.Steps, j.History = "work", wire.StatusWaitingForWorker, 2, map[string]any{"n": int64(6)}
				j.Tasks = NewTaskRefs(ref("task-"+id(1), "t", 0, 1, "dispatch-task-"+id(1)))
			},
			fx:    &Effects{Enqueue: []*Task{workTask(1, 1, 6)}, Timers: []Timer{dispatchTimer("task-"+id(1), 0, 7*time.Second)}},
			types: []string{"created", "state_entered", "state_entered", "task_enqueued"},
		},
		{
			name: "choose without a match or a default fails the job", bp: taskBP,
			job: func() *Job { return pending(map[string]any{"n": int64(1)}) },
			ev:  Event{Kind: EventCreated},
			want: func(j *Job) {
				j.State, j.Status, j.Steps, j.History, j.FinishedAt = "pick", wire.StatusFailed, 1, map[string]any{"n": int64(1)}, t0
				j.Error = &wire.Error{Code: wire.CodeNoChoice, Message: `state "pick": no choose entry matched and there is no default`}
			},
			fx:    &Effects{Notify: notify(wire.StatusFailed)},
			types: []string{"created", "state_entered", "job_failed"},
		},
		{
			name: "a loop stops at the transition limit", bp: loopBP, in: Inputs{Limits: Limits{MaxSteps: 5}},
			job: func() *Job { return pending(map[string]any{"stop": false}) },
			ev:  Event{Kind: EventCreated},
			want: func(j *Job) {
				j.State, j.Status, j.Steps, j.FinishedAt = "a", wire.StatusFailed, 6, t0
				j.Error = &wire.Error{Code: wire.CodeTransitionLimit, Message: `transition limit exceeded: more than 5 states entered, the next "b" (a loop?)`}
			},
			fx:    &Effects{Notify: notify(wire.StatusFailed)},
			types: []string{"created", "state_entered", "state_entered", "state_entered", "state_entered", "state_entered", "job_failed"},
		},
		{
			name: "set then store, each seeing what came before", bp: storeBP,
			in:  Inputs{Stores: map[string]map[string]any{"seen": {"x": "kx"}}},
			job: func() *Job { return pending(map[string]any{"id": "k"}) },
			ev:  Event{Kind: EventCreated},
			want: func(j *Job) {
				j.State, j.Status, j.Steps, j.FinishedAt = "e", wire.StatusFinished, 2, t0
				j.History = map[string]any{"a": int64(1), "b": int64(2)}
			},
			fx: &Effects{StoreWrites: []StoreWrite{{Blueprint: "bp", Store: "seen", Key: "k", Value: int64(2)}, {Blueprint: "bp", Store: "seen", Key: "kx", Value: true}},
				Notify: notify(wire.StatusFinished)},
			types: []string{"created", "state_entered", "state_entered", "job_finished"},
		},
		{
			name: "created twice", bp: taskBP, err: ErrBadEvent,
			job: func() *Job { return at("work", wire.StatusWaitingForWorker, 2, nil, ref("task-A", "t", 0, 1, "")) },
			ev:  Event{Kind: EventCreated},
		},
		{
			name: "an unknown event", bp: taskBP, err: ErrBadEvent,
			job: func() *Job { return at("work", wire.StatusWaitingForWorker, 2, nil, ref("task-A", "t", 0, 1, "")) },
			ev:  Event{Kind: "poke"},
		},
		{
			name: "progress", bp: taskBP,
			job:  func() *Job { return at("work", wire.StatusWaitingForWorker, 2, nil, ref("task-A", "t", 0, 1, "")) },
			ev:   Event{Kind: EventProgress, TaskID: "task-A", Data: map[string]any{"progress": 0.5, "message": "half"}},
			want: func(j *Job) { j.Progress, j.ProgressMessage = 0.5, "half" },
		},
	})
}

// working is taskBP's job waiting on attempt 1 of task-A.
func working() *Job {
	j := at("work", wire.StatusWaitingForWorker, 2, map[string]any{"n": int64(6)}, ref("task-A", "t", 0, 1, "dispatch-task-A"))
	j.History = map[string]any{"n": int64(6)}
	return j
}

// retrying is taskBP's job after attempt n of task-A failed transiently.
func retrying(n int) *Job {
	j := working()
	j.Status = wire.StatusAwaitingRetry
	j.Tasks = j.Tasks.With(0, func(r *TaskRef) { *r = ref("task-A", "t", 0, n, "retry-task-A") })
	j.Tasks = j.Tasks.With(0, func(r *TaskRef) {
		r.Result = &Result{Status: "failure", Error: &wire.Error{Code: wire.CodeTransientError, Message: "boom"}}
	})
	return j
}

func failure(code string) *Result {
	return &Result{Status: "failure", Error: &wire.Error{Code: code, Message: "boom"}}
}

func TestStepTask(t *testing.T) {
	t.Parallel()
	disarm := []string{"dispatch-task-A"}
	retryTimer := Timer{ID: "retry-task-A", JobID: "job-1", At: t0.Add(500 * time.Millisecond),
		Event: Event{Kind: EventTimer, TimerID: "retry-task-A", TaskID: "task-A"}}
	runCases(t, []stepCase{
		{
			name: "success merges data into history and follows success", bp: taskBP, job: working,
			ev: result("task-A", 0, "success", map[string]any{"ok": true}, ""),
			want: func(j *Job) {
				j.State, j.Status, j.Steps, j.Tasks, j.FinishedAt = "done", wire.StatusFinished, 3, TaskRefs{}, t0
				j.History = map[string]any{"n": int64(6), "ok": true}
				j.Result = &Result{Status: "success", Data: map[string]any{"ok": true}}
			},
			fx:    &Effects{CancelTimers: disarm, Notify: notify(wire.StatusFinished)},
			types: []string{"task_result", "state_entered", "job_finished"},
		},
		{
			name: "a result without a body is a success", bp: taskBP, job: working,
			ev: Event{Kind: EventTaskResult, TaskID: "task-A"},
			want: func(j *Job) {
				j.State, j.Status, j.Steps, j.Tasks, j.FinishedAt = "done", wire.StatusFinished, 3, TaskRefs{}, t0
				j.Result = &Result{Status: "success"}
			},
			fx:    &Effects{CancelTimers: disarm, Notify: notify(wire.StatusFinished)},
			types: []string{"task_result", "state_entered", "job_finished"},
		},
		{
			name: "a custom status follows its transition", bp: taskBP, job: working,
			ev: result("task-A", 0, "out_of_stock", map[string]any{"left": int64(0)}, ""),
			want: func(j *Job) {
				j.State, j.Status, j.Steps, j.Tasks, j.FinishedAt = "none", wire.StatusFailed, 3, TaskRefs{}, t0
				j.History = map[string]any{"n": int64(6), "left": int64(0)}
				j.Result = &Result{Status: "out_of_stock", Data: map[string]any{"left": int64(0)}}
				j.Error = &wire.Error{Code: wire.CodeEndFailure, Message: `the job ended in failure state "none"`}
			},
			fx:    &Effects{CancelTimers: disarm, Notify: notify(wire.StatusFailed)},
			types: []string{"task_result", "state_entered", "job_failed"},
		},
		{
			name: "a status the transitions do not name fails the job, naming it", bp: taskBP, job: working,
			ev: result("task-A", 0, "weird", map[string]any{"x": true}, ""),
			want: func(j *Job) {
				j.Status, j.Tasks, j.FinishedAt = wire.StatusFailed, TaskRefs{}, t0
				j.Result = &Result{Status: "weird", Data: map[string]any{"x": true}}
				j.Error = &wire.Error{Code: wire.CodeUnhandledStatus, Message: `unhandled status "weird" in state "work": its transitions name "success", "out_of_stock", "failure"`}
			},
			fx:    &Effects{CancelTimers: disarm, Notify: notify(wire.StatusFailed)},
			types: []string{"task_result", "job_failed"},
		},
		{
			name: "PERMANENT_ERROR quarantines the job", bp: taskBP, job: working,
			ev: result("task-A", 0, "failure", nil, wire.CodePermanentError),
			want: func(j *Job) {
				j.Status, j.Tasks, j.FinishedAt, j.Result = wire.StatusQuarantined, TaskRefs{}, t0, failure(wire.CodePermanentError)
				j.Error = &wire.Error{Code: wire.CodePermanentError, Message: `state "work": task task-A (t) failed: boom`}
			},
			fx:    &Effects{CancelTimers: disarm, Notify: notify(wire.StatusQuarantined)},
			types: []string{"task_result", "job_quarantined"},
		},
		{
			name: "CONTRACT_VIOLATION_ERROR quarantines the job", bp: taskBP, job: working,
			ev: result("task-A", 0, "failure", nil, wire.CodeContractViolationError),
			want: func(j *Job) {
				j.Status, j.Tasks, j.FinishedAt, j.Result = wire.StatusQuarantined, TaskRefs{}, t0, failure(wire.CodeContractViolationError)
				j.Error = &wire.Error{Code: wire.CodeContractViolationError, Message: `state "work": task task-A (t) failed: boom`}
			},
			fx:    &Effects{CancelTimers: disarm, Notify: notify(wire.StatusQuarantined)},
			types: []string{"task_result", "job_quarantined"},
		},
		{
			name: "INVALID_INPUT_ERROR follows failure at once", bp: taskBP, job: working,
			ev: result("task-A", 0, "failure", nil, wire.CodeInvalidInputError),
			want: func(j *Job) {
				j.State, j.Status, j.Steps, j.Tasks, j.FinishedAt, j.Result = "failed", wire.StatusFailed, 3, TaskRefs{}, t0, failure(wire.CodeInvalidInputError)
				j.Error = &wire.Error{Code: wire.CodeInvalidInputError, Message: `state "work": task task-A (t) failed: boom`}
			},
			fx:    &Effects{CancelTimers: disarm, Notify: notify(wire.StatusFailed)},
			types: []string{"task_result", "state_entered", "job_failed"},
		},
		{
			name: "INTEGRITY_MISMATCH_ERROR follows failure at once", bp: taskBP, job: working,
			ev: result("task-A", 0, "failure", nil, wire.CodeIntegrityMismatchError),
			want: func(j *Job) {
				j.State, j.Status, j.Steps, j.Tasks, j.FinishedAt, j.Result = "failed", wire.StatusFailed, 3, TaskRefs{}, t0, failure(wire.CodeIntegrityMismatchError)
				j.Error = &wire.Error{Code: wire.CodeIntegrityMismatchError, Message: `state "work": task task-A (t) failed: boom`}
			},
			fx:    &Effects{CancelTimers: disarm, Notify: notify(wire.StatusFailed)},
			types: []string{"task_result", "state_entered", "job_failed"},
		},
		{
			name: "TRANSIENT_ERROR is retried after a jittered backoff", bp: taskBP, job: working,
			ev:    result("task-A", 0, "failure", nil, wire.CodeTransientError),
			want:  func(j *Job) { *j = *retrying(1) },
			fx:    &Effects{CancelTimers: disarm, Timers: []Timer{retryTimer}},
			types: []string{"task_result", "retry_scheduled"},
		},
		{
			name: "a failure without an error code is transient", bp: taskBP, job: working,
			ev: Event{Kind: EventTaskResult, TaskID: "task-A", Result: &Result{Status: "failure"}},
			want: func(j *Job) {
				*j = *retrying(1)
				j.Tasks = j.Tasks.With(0, func(r *TaskRef) { r.Result = &Result{Status: "failure"} })
			},
			fx:    &Effects{CancelTimers: disarm, Timers: []Timer{retryTimer}},
			types: []string{"task_result", "retry_scheduled"},
		},
		{
			name: "an unknown error code is transient", bp: taskBP, job: working,
			ev: result("task-A", 0, "failure", nil, "SOMETHING_NEW"),
			want: func(j *Job) {
				*j = *retrying(1)
				j.Tasks = j.Tasks.With(0, func(r *TaskRef) { r.Result = failure("SOMETHING_NEW") })
			},
			fx:    &Effects{CancelTimers: disarm, Timers: []Timer{retryTimer}},
			types: []string{"task_result", "retry_scheduled"},
		},
		{
			name: "retries exhausted follow failure", bp: taskBP,
			job: func() *Job { j := working(); j.Tasks = j.Tasks.With(0, func(r *TaskRef) { r.Attempt = 3 }); return j },
			ev:  result("task-A", 0, "failure", nil, wire.CodeTransientError),
			want: func(j *Job) {
				j.State, j.Status, j.Steps, j.Tasks, j.FinishedAt, j.Result = "failed", wire.StatusFailed, 3, TaskRefs{}, t0, failure(wire.CodeTransientError)
				j.Error = &wire.Error{Code: wire.CodeTransientError, Message: `state "work": task task-A (t) failed after 3 attempts: boom`}
			},
			fx:    &Effects{CancelTimers: disarm, Notify: notify(wire.StatusFailed)},
			types: []string{"task_result", "state_entered", "job_failed"},
		},
		{
			name: "a lease timeout is a transient failure", bp: taskBP, job: working,
			ev: Event{Kind: EventTaskTimeout, TaskID: "task-A"},
			want: func(j *Job) {
				*j = *retrying(1)
				j.Tasks = j.Tasks.With(0, func(r *TaskRef) {
					r.Result = &Result{Status: "failure", Error: &wire.Error{Code: wire.CodeTimeoutError, Message: "task task-A (attempt 1) gave no result before its deadline"}}
				})
			},
			fx:    &Effects{CancelTimers: disarm, Timers: []Timer{retryTimer}},
			types: []string{"task_timeout", "retry_scheduled"},
		},
		{
			name: "a dispatch timeout fails at once", bp: taskBP, job: working,
			ev: Event{Kind: EventDispatchTimeout, TaskID: "task-A", TimerID: "dispatch-task-A"},
			want: func(j *Job) {
				j.State, j.Status, j.Steps, j.Tasks, j.FinishedAt = "failed", wire.StatusFailed, 3, TaskRefs{}, t0
				j.Result = &Result{Status: "failure", Error: &wire.Error{Code: wire.CodeDispatchTimeout, Message: `no worker took task "task-A" within 7s`}}
				j.Error = &wire.Error{Code: wire.CodeDispatchTimeout, Message: `state "work": task task-A (t) failed: no worker took task "task-A" within 7s`}
			},
			fx:    &Effects{Notify: notify(wire.StatusFailed)},
			types: []string{"dispatch_timeout", "state_entered", "job_failed"},
		},
		{
			name: "the retry timer enqueues the next attempt", bp: taskBP, job: func() *Job { return retrying(1) },
			ev: Event{Kind: EventTimer, TimerID: "retry-task-A", TaskID: "task-A"},
			want: func(j *Job) {
				j.Status = wire.StatusWaitingForWorker
				j.Tasks = NewTaskRefs(ref("task-"+id(1), "t", 0, 2, "dispatch-task-"+id(1)))
			},
			fx:    &Effects{Enqueue: []*Task{workTask(1, 2, 6)}, Timers: []Timer{dispatchTimer("task-"+id(1), 0, 7*time.Second)}},
			types: []string{"task_enqueued"},
		},
		{
			name: "a retry timer for another task is stale", bp: taskBP, err: ErrStaleTimer, job: func() *Job { return retrying(1) },
			ev: Event{Kind: EventTimer, TimerID: "retry-task-Z", TaskID: "task-Z"},
		},
		{
			name: "a retry timer for a task that did not fail is stale", bp: taskBP, err: ErrStaleTimer, job: working,
			ev: Event{Kind: EventTimer, TimerID: "retry-task-A", TaskID: "task-A"},
		},
		{
			name: "a late result of a failed attempt is stale", bp: taskBP, err: ErrStaleTask, job: func() *Job { return retrying(1) },
			ev: result("task-A", 0, "success", nil, ""),
		},
		{
			name: "a result for a task the job does not wait on is stale", bp: taskBP, err: ErrStaleTask, job: working,
			ev: result("task-B", 0, "success", nil, ""),
		},
		{
			name: "a result for an ended job", bp: taskBP, err: ErrTerminal,
			job: func() *Job { j := working(); j.Status = wire.StatusFinished; return j },
			ev:  result("task-A", 0, "success", nil, ""),
		},
		{
			name: "cancelled without a cancelled transition cancels the job", bp: taskBP, job: working,
			ev: result("task-A", 0, "cancelled", nil, ""),
			want: func(j *Job) {
				j.Status, j.Tasks, j.FinishedAt, j.Result = wire.StatusCancelled, TaskRefs{}, t0, &Result{Status: "cancelled"}
				j.Error = &wire.Error{Code: wire.CodeCancelled, Message: `state "work": the task was cancelled`}
			},
			fx:    &Effects{CancelTimers: disarm, Notify: notify(wire.StatusCancelled)},
			types: []string{"task_result", "job_cancelled"},
		},
		{
			name: "cancelled follows a cancelled transition", bp: plainBP,
			job: func() *Job { return at("work", wire.StatusWaitingForWorker, 1, nil, ref("task-A", "t", 0, 1, "")) },
			ev:  result("task-A", 0, "cancelled", nil, ""),
			want: func(j *Job) {
				j.State, j.Status, j.Steps, j.Tasks, j.FinishedAt, j.Result = "undo", wire.StatusFailed, 2, TaskRefs{}, t0, &Result{Status: "cancelled"}
				j.Error = &wire.Error{Code: wire.CodeEndFailure, Message: `the job ended in failure state "undo"`}
			},
			fx:    &Effects{Notify: notify(wire.StatusFailed)},
			types: []string{"task_result", "state_entered", "job_failed"},
		},
		{
			name: "a failure for good without a failure transition fails the job", bp: plainBP,
			job: func() *Job { return at("work", wire.StatusWaitingForWorker, 1, nil, ref("task-A", "t", 0, 1, "")) },
			ev:  result("task-A", 0, "failure", nil, wire.CodeInvalidInputError),
			want: func(j *Job) {
				j.Status, j.Tasks, j.FinishedAt, j.Result = wire.StatusFailed, TaskRefs{}, t0, failure(wire.CodeInvalidInputError)
				j.Error = &wire.Error{Code: wire.CodeInvalidInputError, Message: `state "work": task task-A (t) failed: boom`}
			},
			fx:    &Effects{Notify: notify(wire.StatusFailed)},
			types: []string{"task_result", "job_failed"},
		},
		{
			name: "a task takes the runtime's timeout and client overrides", bp: plainBP,
			in: Inputs{Limits: Limits{TaskTimeout: time.Minute, DispatchTimeout: time.Hour}},
			job: func() *Job {
				j := pending(nil)
				j.ResultTimeout, j.Metadata, j.Security = 9*time.Second, map[string]any{"m": "1"}, "sec"
				return j
			},
			ev: Event{Kind: EventCreated},
			want: func(j *Job) {
				j.State, j.Status, j.Steps = "work", wire.StatusWaitingForWorker, 1
				j.Tasks = NewTaskRefs(ref("task-"+id(1), "t", 0, 1, "dispatch-task-"+id(1)))
			},
			fx: &Effects{
				Enqueue: []*Task{{ID: "task-" + id(1), JobID: "job-1", Type: "t", Attempt: 1, Timeout: 9 * time.Second, DispatchTimeout: time.Hour,
					Metadata: map[string]any{"m": "1"}, Security: "sec", EnqueuedAt: t0}},
				Timers: []Timer{dispatchTimer("task-"+id(1), 0, time.Hour)},
			},
			types: []string{"created", "state_entered", "task_enqueued"},
		},
	})
}

// fanning is parBP's job waiting on three branches b0, b1, b2; done lists
// the branches that already succeeded.
func fanning(done ...int) *Job {
	j := at("fan", wire.StatusWaitingParallel, 1, map[string]any{"items": []any{"a", "b", "c"}},
		ref("b0", "reserve", 0, 1, ""), ref("b1", "reserve", 1, 1, ""), ref("b2", "reserve", 2, 1, ""))
	for _, i := range done {
		j.Tasks = j.Tasks.With(i, func(r *TaskRef) { r.Result = branchOK(i) })
		j.BranchesDone++
	}
	return j
}

func branchOK(i int) *Result {
	return &Result{Status: "success", Data: map[string]any{"n": int64(i)}}
}

func reserveTask(k, branch int, sku string, attempt int) *Task {
	return &Task{ID: "task-" + id(k), JobID: "job-1", Type: "reserve", Params: map[string]any{"sku": sku},
		Branch: branch, Attempt: attempt, Timeout: 300 * time.Second, EnqueuedAt: t0}
}

func TestStepParallel(t *testing.T) {
	t.Parallel()
	runCases(t, []stepCase{
		{
			name: "for_each enqueues one branch per item, the item bound to as", bp: parBP,
			job: func() *Job { return pending(map[string]any{"items": []any{"a", "b", "c"}}) },
			ev:  Event{Kind: EventCreated},
			want: func(j *Job) {
				j.State, j.Status, j.Steps = "fan", wire.StatusWaitingParallel, 1
				j.Tasks = NewTaskRefs(ref("task-"+id(1), "reserve", 0, 1, ""), ref("task-"+id(2), "reserve", 1, 1, ""), ref("task-"+id(3), "reserve", 2, 1, ""))
			},
			fx:    &Effects{Enqueue: []*Task{reserveTask(1, 0, "a", 1), reserveTask(2, 1, "b", 1), reserveTask(3, 2, "c", 1)}},
			types: []string{"created", "state_entered", "task_enqueued", "task_enqueued", "task_enqueued"},
		},
		{
			name: "an empty for_each succeeds at once", bp: parBP,
			job: func() *Job { return pending(map[string]any{"items": []any{}}) },
			ev:  Event{Kind: EventCreated},
			want: func(j *Job) {
				j.State, j.Status, j.Steps, j.FinishedAt = "done", wire.StatusFinished, 2, t0
				j.Result, j.Results = &Result{Status: "success"}, []*Result{}
			},
			fx:    &Effects{Notify: notify(wire.StatusFinished)},
			types: []string{"created", "state_entered", "parallel_empty", "state_entered", "job_finished"},
		},
		{
			name: "for_each over something else than a list fails the job", bp: parBP,
			job: func() *Job { return pending(map[string]any{"items": "abc"}) },
			ev:  Event{Kind: EventCreated},
			want: func(j *Job) {
				j.State, j.Status, j.Steps, j.FinishedAt = "fan", wire.StatusFailed, 1, t0
				j.Error = &wire.Error{Code: wire.CodeExpressionError, Message: `state "fan": bp.yaml:6:17: for_each must give a list, not a string`}
			},
			fx:    &Effects{Notify: notify(wire.StatusFailed)},
			types: []string{"created", "state_entered", "job_failed"},
		},
		{
			name: "a task list enqueues one branch per task", bp: parListBP,
			job: func() *Job { return pending(nil) },
			ev:  Event{Kind: EventCreated},
			want: func(j *Job) {
				j.State, j.Status, j.Steps = "fan", wire.StatusWaitingParallel, 1
				j.Tasks = NewTaskRefs(ref("task-"+id(1), "a", 0, 1, ""), ref("task-"+id(2), "b", 1, 1, ""))
			},
			fx: &Effects{Enqueue: []*Task{
				{ID: "task-" + id(1), JobID: "job-1", Type: "a", Params: map[string]any{"x": int64(1)}, Attempt: 1, Timeout: 300 * time.Second, EnqueuedAt: t0},
				{ID: "task-" + id(2), JobID: "job-1", Type: "b", Priority: 5, Branch: 1, Attempt: 1, Timeout: 300 * time.Second, EnqueuedAt: t0},
			}},
			types: []string{"created", "state_entered", "task_enqueued", "task_enqueued"},
		},
		{
			name: "a branch's result is recorded while others run", bp: parBP, job: func() *Job { return fanning() },
			ev: result("b1", 1, "success", map[string]any{"n": int64(1)}, ""),
			want: func(j *Job) {
				j.Tasks = j.Tasks.With(1, func(r *TaskRef) { r.Result = branchOK(1) })
				j.BranchesDone = 1
			},
			types: []string{"task_result"},
		},
		{
			name: "the last branch moves on with the results in branch order", bp: parBP, job: func() *Job { return fanning(2, 0) },
			ev: result("b1", 1, "success", map[string]any{"n": int64(1)}, ""),
			want: func(j *Job) {
				j.State, j.Status, j.Steps, j.Tasks, j.BranchesDone, j.FinishedAt = "done", wire.StatusFinished, 2, TaskRefs{}, 0, t0
				j.Result = &Result{Status: "success"}
				j.Results = []*Result{branchOK(0), branchOK(1), branchOK(2)}
			},
			fx:    &Effects{Notify: notify(wire.StatusFinished)},
			types: []string{"task_result", "state_entered", "job_finished"},
		},
		{
			name: "a branch failed for good withdraws the running ones and follows failure", bp: parBP, job: func() *Job { return fanning(2) },
			ev: result("b0", 0, "failure", nil, wire.CodeInvalidInputError),
			want: func(j *Job) {
				j.State, j.Status, j.Steps, j.Tasks, j.BranchesDone, j.FinishedAt = "failed", wire.StatusFailed, 2, TaskRefs{}, 0, t0
				j.Result = failure(wire.CodeInvalidInputError)
				j.Error = &wire.Error{Code: wire.CodeInvalidInputError, Message: `state "fan": branch 0, task b0 (reserve) failed: boom`}
			},
			fx:    &Effects{Withdraw: []string{"b1"}, Notify: notify(wire.StatusFailed)},
			types: []string{"task_result", "state_entered", "job_failed"},
		},
		{
			name: "PERMANENT_ERROR in a branch quarantines the job", bp: parBP, job: func() *Job { return fanning() },
			ev: result("b1", 1, "failure", nil, wire.CodePermanentError),
			want: func(j *Job) {
				j.Status, j.Tasks, j.FinishedAt, j.Result = wire.StatusQuarantined, TaskRefs{}, t0, failure(wire.CodePermanentError)
				j.Error = &wire.Error{Code: wire.CodePermanentError, Message: `state "fan": branch 1, task b1 (reserve) failed: boom`}
			},
			fx:    &Effects{Withdraw: []string{"b0", "b2"}, Notify: notify(wire.StatusQuarantined)},
			types: []string{"task_result", "job_quarantined"},
		},
		{
			name: "a custom status in a branch fails the parallel", bp: parBP, job: func() *Job { return fanning() },
			ev: result("b2", 2, "odd", nil, ""),
			want: func(j *Job) {
				j.State, j.Status, j.Steps, j.Tasks, j.FinishedAt, j.Result = "failed", wire.StatusFailed, 2, TaskRefs{}, t0, &Result{Status: "odd"}
				j.Error = &wire.Error{Code: wire.CodeUnhandledStatus, Message: `unhandled status "odd" from branch 2 of state "fan": a branch succeeds with "success" only`}
			},
			fx:    &Effects{Withdraw: []string{"b0", "b1"}, Notify: notify(wire.StatusFailed)},
			types: []string{"task_result", "state_entered", "job_failed"},
		},
		{
			name: "a branch is retried alone", bp: parBP, job: func() *Job { return fanning() },
			ev: result("b1", 1, "failure", nil, wire.CodeTransientError),
			want: func(j *Job) {
				j.Tasks = j.Tasks.With(1, func(r *TaskRef) { r.Result, r.Timer = failure(wire.CodeTransientError), "retry-b1" })
			},
			fx: &Effects{Timers: []Timer{{ID: "retry-b1", JobID: "job-1", At: t0.Add(500 * time.Millisecond),
				Event: Event{Kind: EventTimer, TimerID: "retry-b1", TaskID: "b1", Branch: 1}}}},
			types: []string{"task_result", "retry_scheduled"},
		},
		{
			name: "a branch's retry is its item again", bp: parBP,
			job: func() *Job {
				j := fanning()
				j.Tasks = j.Tasks.With(1, func(r *TaskRef) { r.Result, r.Timer = failure(wire.CodeTransientError), "retry-b1" })
				return j
			},
			ev: Event{Kind: EventTimer, TimerID: "retry-b1", TaskID: "b1", Branch: 1},
			want: func(j *Job) {
				j.Tasks = j.Tasks.With(1, func(r *TaskRef) { *r = ref("task-"+id(1), "reserve", 1, 2, "") })
			},
			fx:    &Effects{Enqueue: []*Task{reserveTask(1, 1, "b", 2)}},
			types: []string{"task_enqueued"},
		},
		{
			name: "a branch's retries exhausted fail the parallel", bp: parBP,
			job: func() *Job { j := fanning(); j.Tasks = j.Tasks.With(1, func(r *TaskRef) { r.Attempt = 2 }); return j },
			ev:  Event{Kind: EventTaskTimeout, TaskID: "b1", Branch: 1},
			want: func(j *Job) {
				j.State, j.Status, j.Steps, j.Tasks, j.FinishedAt = "failed", wire.StatusFailed, 2, TaskRefs{}, t0
				j.Result = &Result{Status: "failure", Error: &wire.Error{Code: wire.CodeTimeoutError, Message: "task b1 (attempt 2) gave no result before its deadline"}}
				j.Error = &wire.Error{Code: wire.CodeTimeoutError, Message: `state "fan": branch 1, task b1 (reserve) failed after 2 attempts: task b1 (attempt 2) gave no result before its deadline`}
			},
			fx:    &Effects{Withdraw: []string{"b0", "b2"}, Notify: notify(wire.StatusFailed)},
			types: []string{"task_timeout", "state_entered", "job_failed"},
		},
		{
			name: "a cancel while a branch waits to retry disarms its timer", bp: parBP,
			job: func() *Job {
				j := fanning(0)
				j.Tasks = j.Tasks.With(1, func(r *TaskRef) { r.Result, r.Timer = failure(wire.CodeTransientError), "retry-b1" })
				return j
			},
			ev: Event{Kind: EventCancel, Reason: "changed my mind"},
			want: func(j *Job) {
				j.Status, j.Tasks, j.BranchesDone, j.FinishedAt = wire.StatusCancelled, TaskRefs{}, 0, t0
				j.Error = &wire.Error{Code: wire.CodeCancelled, Message: "changed my mind"}
			},
			fx:    &Effects{Withdraw: []string{"b2"}, CancelTimers: []string{"retry-b1"}, Notify: notify(wire.StatusCancelled)},
			types: []string{"cancel_requested", "job_cancelled"},
		},
		{
			name: "a branch failing without a failure transition fails the job", bp: parListBP,
			job: func() *Job {
				return at("fan", wire.StatusWaitingParallel, 1, nil, ref("b0", "a", 0, 1, ""), ref("b1", "b", 1, 1, ""))
			},
			ev: result("b1", 1, "failure", nil, wire.CodeInvalidInputError),
			want: func(j *Job) {
				j.Status, j.Tasks, j.FinishedAt, j.Result = wire.StatusFailed, TaskRefs{}, t0, failure(wire.CodeInvalidInputError)
				j.Error = &wire.Error{Code: wire.CodeInvalidInputError, Message: `state "fan": branch 1, task b1 (b) failed: boom`}
			},
			fx:    &Effects{Withdraw: []string{"b0"}, Notify: notify(wire.StatusFailed)},
			types: []string{"task_result", "job_failed"},
		},
	})
}

func asking() *Job {
	j := at("ask", wire.StatusWaitingForHuman, 1, map[string]any{"order": "A1"})
	j.Timer, j.ApprovalMessage, j.ApprovalDeadline = "approval-job-1-1", "Ship A1?", t0.Add(time.Hour)
	return j
}

func TestStepApproval(t *testing.T) {
	t.Parallel()
	runCases(t, []stepCase{
		{
			name: "an approval asks with its message and arms its timeout", bp: apprBP,
			job: func() *Job { return pending(map[string]any{"order": "A1"}) },
			ev:  Event{Kind: EventCreated},
			want: func(j *Job) {
				j.State, j.Status, j.Steps = "ask", wire.StatusWaitingForHuman, 1
				j.Timer, j.ApprovalMessage = "approval-job-1-1", "Ship A1?"
				j.ApprovalDeadline = t0.Add(time.Hour)
			},
			fx: &Effects{Timers: []Timer{{ID: "approval-job-1-1", JobID: "job-1", At: t0.Add(time.Hour),
				Event: Event{Kind: EventTimer, TimerID: "approval-job-1-1"}}}},
			types: []string{"created", "state_entered", "approval_requested"},
		},
		{
			name: "approved", bp: apprBP, job: asking,
			ev: Event{Kind: EventApproval, Decision: "approved"},
			want: func(j *Job) {
				j.State, j.Status, j.Steps, j.Timer, j.ApprovalMessage, j.FinishedAt = "done", wire.StatusFinished, 2, "", "", t0
				j.ApprovalDeadline = time.Time{}
			},
			fx:    &Effects{CancelTimers: []string{"approval-job-1-1"}, Notify: notify(wire.StatusFinished)},
			types: []string{"approval", "state_entered", "job_finished"},
		},
		{
			name: "rejected", bp: apprBP, job: asking,
			ev: Event{Kind: EventApproval, Decision: "rejected"},
			want: func(j *Job) {
				j.State, j.Status, j.Steps, j.Timer, j.ApprovalMessage, j.FinishedAt = "no", wire.StatusFailed, 2, "", "", t0
				j.ApprovalDeadline = time.Time{}
				j.Error = &wire.Error{Code: wire.CodeEndFailure, Message: `the job ended in failure state "no"`}
			},
			fx:    &Effects{CancelTimers: []string{"approval-job-1-1"}, Notify: notify(wire.StatusFailed)},
			types: []string{"approval", "state_entered", "job_failed"},
		},
		{
			name: "the timeout takes the timeout transition", bp: apprBP, job: asking,
			ev: Event{Kind: EventTimer, TimerID: "approval-job-1-1"},
			want: func(j *Job) {
				j.State, j.Status, j.Steps, j.Timer, j.ApprovalMessage, j.FinishedAt = "no", wire.StatusFailed, 2, "", "", t0
				j.ApprovalDeadline = time.Time{}
				j.Error = &wire.Error{Code: wire.CodeEndFailure, Message: `the job ended in failure state "no"`}
			},
			fx:    &Effects{Notify: notify(wire.StatusFailed)},
			types: []string{"approval", "state_entered", "job_failed"},
		},
		{
			name: "another decision is refused", bp: apprBP, err: ErrBadDecision, job: asking,
			ev: Event{Kind: EventApproval, Decision: "maybe"},
		},
		{
			name: "a decision for a job that waits for none", bp: taskBP, err: ErrBadEvent, job: working,
			ev: Event{Kind: EventApproval, Decision: "approved"},
		},
		{
			name: "a timer of a state the job left is stale", bp: apprBP, err: ErrStaleTimer, job: asking,
			ev: Event{Kind: EventTimer, TimerID: "approval-job-1-0"},
		},
	})
}

func TestStepChild(t *testing.T) {
	t.Parallel()
	calling := func() *Job {
		j := at("call", wire.StatusWaitingForChild, 1, map[string]any{"n": int64(4)})
		j.Child = "c1"
		return j
	}
	runCases(t, []stepCase{
		{
			name: "a blueprint state starts a child job", bp: childBP,
			job: func() *Job {
				j := pending(map[string]any{"n": int64(4)})
				j.Metadata = map[string]any{"trace": "t1"}
				return j
			},
			ev: Event{Kind: EventCreated},
			want: func(j *Job) {
				j.State, j.Status, j.Steps, j.Child = "call", wire.StatusWaitingForChild, 1, id(1)
				j.Children = []string{id(1)}
			},
			fx: &Effects{StartChild: []*Job{{ID: id(1), Blueprint: "child", Status: wire.StatusPending, Input: map[string]any{"n": int64(4)},
				Client: Client{Name: "acme", Plan: "pro"}, Parent: &ParentRef{JobID: "job-1", State: "call"},
				Metadata: map[string]any{"trace": "t1"}, CreatedAt: t0, UpdatedAt: t0}}},
			types: []string{"created", "state_entered", "child_started"},
		},
		{
			name: "the child's success resumes the parent with the child's history as result", bp: childBP, job: calling,
			ev: Event{Kind: EventChildFinished, ChildID: "c1", Outcome: "success", Result: &Result{Status: "success", Data: map[string]any{"x": int64(1)}}},
			want: func(j *Job) {
				j.State, j.Status, j.Steps, j.Child, j.FinishedAt = "done", wire.StatusFinished, 2, "", t0
				j.Result = &Result{Status: "success", Data: map[string]any{"x": int64(1)}}
			},
			fx:    &Effects{Notify: notify(wire.StatusFinished)},
			types: []string{"child_finished", "state_entered", "job_finished"},
		},
		{
			name: "the child's failure follows failure", bp: childBP, job: calling,
			ev: Event{Kind: EventChildFinished, ChildID: "c1", Outcome: "failure"},
			want: func(j *Job) {
				j.State, j.Status, j.Steps, j.Child, j.FinishedAt = "failed", wire.StatusFailed, 2, "", t0
				j.Result = &Result{Status: "failure"}
				j.Error = &wire.Error{Code: wire.CodeEndFailure, Message: `the job ended in failure state "failed"`}
			},
			fx:    &Effects{Notify: notify(wire.StatusFailed)},
			types: []string{"child_finished", "state_entered", "job_failed"},
		},
		{
			name: "another child's end does not apply", bp: childBP, err: ErrBadEvent, job: calling,
			ev: Event{Kind: EventChildFinished, ChildID: "c2", Outcome: "success"},
		},
		{
			name: "an unknown outcome does not apply", bp: childBP, err: ErrBadEvent, job: calling,
			ev: Event{Kind: EventChildFinished, ChildID: "c1", Outcome: "meh"},
		},
		{
			name: "cancelling the parent cancels the running child", bp: childBP, job: calling,
			ev: Event{Kind: EventCancel},
			want: func(j *Job) {
				j.Status, j.Child, j.FinishedAt = wire.StatusCancelled, "", t0
				j.Error = &wire.Error{Code: wire.CodeCancelled, Message: "cancelled by the client"}
			},
			fx: &Effects{Timers: []Timer{{ID: "cancel-c1", JobID: "c1", At: t0, Event: Event{Kind: EventCancel, TimerID: "cancel-c1", Reason: "parent job job-1 ended"}}},
				Notify: notify(wire.StatusCancelled)},
			types: []string{"cancel_requested", "job_cancelled"},
		},
		{
			name: "a child's end reaches its parent by a timer due now", bp: plainBP,
			job: func() *Job {
				j := at("work", wire.StatusWaitingForWorker, 1, nil, ref("task-A", "t", 0, 1, ""))
				j.Parent, j.History = &ParentRef{JobID: "p1", State: "call"}, map[string]any{"k": "v"}
				return j
			},
			ev: result("task-A", 0, "success", nil, ""),
			want: func(j *Job) {
				j.State, j.Status, j.Steps, j.Tasks, j.FinishedAt, j.Result = "done", wire.StatusFinished, 2, TaskRefs{}, t0, &Result{Status: "success"}
			},
			fx: &Effects{Timers: []Timer{{ID: "child-job-1", JobID: "p1", At: t0, Event: Event{Kind: EventChildFinished, TimerID: "child-job-1",
				ChildID: "job-1", Outcome: "success", Result: &Result{Status: "success", Data: map[string]any{"k": "v"}}}}},
				Notify: notify(wire.StatusFinished)},
			types: []string{"task_result", "state_entered", "job_finished"},
		},
		{
			name: "a failed child tells its parent failure", bp: plainBP,
			job: func() *Job {
				j := at("work", wire.StatusWaitingForWorker, 1, nil, ref("task-A", "t", 0, 1, ""))
				j.Parent = &ParentRef{JobID: "p1", State: "call"}
				return j
			},
			ev: result("task-A", 0, "failure", nil, wire.CodeInvalidInputError),
			want: func(j *Job) {
				j.Status, j.Tasks, j.FinishedAt, j.Result = wire.StatusFailed, TaskRefs{}, t0, failure(wire.CodeInvalidInputError)
				j.Error = &wire.Error{Code: wire.CodeInvalidInputError, Message: `state "work": task task-A (t) failed: boom`}
			},
			fx: &Effects{Timers: []Timer{{ID: "child-job-1", JobID: "p1", At: t0, Event: Event{Kind: EventChildFinished, TimerID: "child-job-1",
				ChildID: "job-1", Outcome: "failure", Result: &Result{Status: "failure",
					Error: &wire.Error{Code: wire.CodeInvalidInputError, Message: `state "work": task task-A (t) failed: boom`}}}}},
				Notify: notify(wire.StatusFailed)},
			types: []string{"task_result", "job_failed"},
		},
	})
}

func TestStepWait(t *testing.T) {
	t.Parallel()
	waitTimer := func(at time.Time) []Timer {
		return []Timer{{ID: "wait-job-1-1", JobID: "job-1", At: at, Event: Event{Kind: EventTimer, TimerID: "wait-job-1-1"}}}
	}
	waiting := func(j *Job) { j.State, j.Status, j.Steps, j.Timer = "pause", wire.StatusWaiting, 1, "wait-job-1-1" }
	runCases(t, []stepCase{
		{
			name: "wait a duration", bp: waitBP, job: func() *Job { return pending(nil) },
			ev: Event{Kind: EventCreated}, want: waiting,
			fx:    &Effects{Timers: waitTimer(t0.Add(90 * time.Second))},
			types: []string{"created", "state_entered", "waiting"},
		},
		{
			name: "wait until an RFC 3339 time", bp: untilBP, job: func() *Job { return pending(map[string]any{"at": "2026-01-03T00:00:00Z"}) },
			ev: Event{Kind: EventCreated}, want: waiting,
			fx:    &Effects{Timers: waitTimer(time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC))},
			types: []string{"created", "state_entered", "waiting"},
		},
		{
			name: "wait until Unix seconds", bp: untilBP, job: func() *Job { return pending(map[string]any{"at": int64(1767225600)}) },
			ev: Event{Kind: EventCreated}, want: waiting,
			fx:    &Effects{Timers: waitTimer(time.Unix(1767225600, 0).UTC())},
			types: []string{"created", "state_entered", "waiting"},
		},
		{
			name: "wait until something that is not a time fails the job", bp: untilBP, job: func() *Job { return pending(map[string]any{"at": "soon"}) },
			ev: Event{Kind: EventCreated},
			want: func(j *Job) {
				j.State, j.Status, j.Steps, j.FinishedAt = "pause", wire.StatusFailed, 1, t0
				j.Error = &wire.Error{Code: wire.CodeExpressionError, Message: `state "pause": bp.yaml:4:18: until: "soon" is not an RFC 3339 time`}
			},
			fx:    &Effects{Notify: notify(wire.StatusFailed)},
			types: []string{"created", "state_entered", "job_failed"},
		},
		{
			name: "the wait's timer goes on", bp: waitBP,
			job: func() *Job { j := at("pause", wire.StatusWaiting, 1, nil); j.Timer = "wait-job-1-1"; return j },
			ev:  Event{Kind: EventTimer, TimerID: "wait-job-1-1"},
			want: func(j *Job) {
				j.State, j.Status, j.Steps, j.Timer, j.FinishedAt = "done", wire.StatusFinished, 2, "", t0
			},
			fx:    &Effects{Notify: notify(wire.StatusFinished)},
			types: []string{"wait_over", "state_entered", "job_finished"},
		},
		{
			name: "a timer the job no longer waits on is stale", bp: waitBP, err: ErrStaleTimer,
			job: func() *Job { j := at("pause", wire.StatusWaiting, 1, nil); j.Timer = "wait-job-1-1"; return j },
			ev:  Event{Kind: EventTimer, TimerID: "wait-job-1-9"},
		},
		{
			name: "cancel a waiting job disarms its timer", bp: waitBP,
			job: func() *Job { j := at("pause", wire.StatusWaiting, 1, nil); j.Timer = "wait-job-1-1"; return j },
			ev:  Event{Kind: EventCancel},
			want: func(j *Job) {
				j.Status, j.Timer, j.FinishedAt = wire.StatusCancelled, "", t0
				j.Error = &wire.Error{Code: wire.CodeCancelled, Message: "cancelled by the client"}
			},
			fx:    &Effects{CancelTimers: []string{"wait-job-1-1"}, Notify: notify(wire.StatusCancelled)},
			types: []string{"cancel_requested", "job_cancelled"},
		},
	})
}

func TestStepCancel(t *testing.T) {
	t.Parallel()
	runCases(t, []stepCase{
		{
			name: "cancel withdraws the task and disarms its dispatch timer", bp: taskBP, job: working,
			ev: Event{Kind: EventCancel},
			want: func(j *Job) {
				j.Status, j.Tasks, j.FinishedAt = wire.StatusCancelled, TaskRefs{}, t0
				j.Error = &wire.Error{Code: wire.CodeCancelled, Message: "cancelled by the client"}
			},
			fx:    &Effects{Withdraw: []string{"task-A"}, CancelTimers: []string{"dispatch-task-A"}, Notify: notify(wire.StatusCancelled)},
			types: []string{"cancel_requested", "job_cancelled"},
		},
		{
			name: "cancel while a retry is due disarms the retry", bp: taskBP, job: func() *Job { return retrying(1) },
			ev: Event{Kind: EventCancel},
			want: func(j *Job) {
				j.Status, j.Tasks, j.FinishedAt = wire.StatusCancelled, TaskRefs{}, t0
				j.Error = &wire.Error{Code: wire.CodeCancelled, Message: "cancelled by the client"}
			},
			fx:    &Effects{CancelTimers: []string{"retry-task-A"}, Notify: notify(wire.StatusCancelled)},
			types: []string{"cancel_requested", "job_cancelled"},
		},
		{
			name: "cancel an ended job", bp: taskBP, err: ErrTerminal,
			job: func() *Job { j := working(); j.Status = wire.StatusCancelled; return j },
			ev:  Event{Kind: EventCancel},
		},
	})
}
