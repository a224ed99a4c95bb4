package core

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/avtomatika-ai/avtomatika-go/lang"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// seqRand is a deterministic randomness source: 0, 1, 2, ... bytes.
type seqRand struct{ n byte }

func (r *seqRand) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.n
		r.n++
	}
	return len(p), nil
}

func machine(t *testing.T, src string) *lang.Machine {
	t.Helper()
	set, ds := lang.LoadFS(fstest.MapFS{"bp.yaml": {Data: []byte(src)}, "child.yaml": {Data: []byte("name: child\nstart: s\nstates:\n  s: {end: success}\n")}})
	if len(ds) > 0 {
		t.Fatalf("blueprint: %v", ds)
	}
	for _, m := range set.Machines {
		if m.Name != "child" {
			return m
		}
	}
	t.Fatal("no machine")
	return nil
}

// run steps a job through events, failing the test on an error.
func run(t *testing.T, m *lang.Machine, j *Job, evs ...Event) (*Job, []*Effects) {
	t.Helper()
	var effs []*Effects
	for i, ev := range evs {
		in := Inputs{Now: t0.Add(time.Duration(i) * time.Second), Rand: rand.Reader}
		nj, eff, err := Step(context.Background(), m, j, ev, in)
		if err != nil {
			t.Fatalf("event %d (%s): %v", i, ev.Kind, err)
		}
		j = nj
		effs = append(effs, eff)
	}
	return j, effs
}

func newJob(input map[string]any) *Job {
	return &Job{ID: "job-1", Blueprint: "bp", Status: StatusPending, Input: input, Client: Client{Name: "acme", Plan: "pro"}, CreatedAt: t0}
}

func result(j *Job, i int, status string, data map[string]any, code string) Event {
	r := &Result{Status: status, Data: data}
	if code != "" {
		r.Error = &ErrorInfo{Code: code, Message: "boom"}
	}
	return Event{Kind: EventTaskResult, TaskID: j.Tasks[i].ID, Branch: j.Tasks[i].Branch, Result: r}
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
    task: {type: t, params: {n: "${{ history.n }}"}, retries: 2, timeout: 5s, dispatch_timeout: 7s}
    transitions: {success: done, out_of_stock: none, failure: failed}
  done: {end: success}
  none: {end: failure}
  failed: {end: failure}
`

func TestTaskPath(t *testing.T) {
	t.Parallel()
	m := machine(t, taskBP)
	j, effs := run(t, m, newJob(map[string]any{"n": int64(11)}), Event{Kind: EventCreated})
	if j.State != "work" || j.Status != StatusWaitingForWorker || j.Steps != 3 || len(j.Tasks) != 1 {
		t.Fatalf("after create: %+v", j)
	}
	e := effs[0]
	if len(e.Enqueue) != 1 || e.Enqueue[0].Type != "t" || e.Enqueue[0].Timeout != 5*time.Second || e.Enqueue[0].Attempt != 1 ||
		!strings.HasPrefix(e.Enqueue[0].ID, "task-") || e.Enqueue[0].Params["n"] != int64(11) {
		t.Fatalf("enqueue: %+v", e.Enqueue)
	}
	if len(e.Timers) != 1 || e.Timers[0].Event.Kind != EventDispatchTimeout || !e.Timers[0].At.Equal(t0.Add(7*time.Second)) {
		t.Errorf("dispatch timer: %+v", e.Timers)
	}
	j2, effs := run(t, m, j, result(j, 0, "success", map[string]any{"ok": true}, ""))
	if j2.Status != StatusFinished || j2.State != "done" || j2.History["ok"] != true || j2.History["n"] != int64(11) {
		t.Errorf("after success: %+v", j2)
	}
	if effs[0].Notify == nil || effs[0].Notify.Event != "job_finished" {
		t.Errorf("notify: %+v", effs[0].Notify)
	}
	if j.Status != StatusWaitingForWorker || j.History["ok"] != nil {
		t.Error("Step changed its input job")
	}
}

func TestTaskStatuses(t *testing.T) {
	t.Parallel()
	m := machine(t, taskBP)
	start, _ := run(t, m, newJob(map[string]any{"n": int64(6)}), Event{Kind: EventCreated})
	cases := []struct {
		name       string
		status     string
		code       string
		wantStatus Status
		wantState  string
		wantErr    string
	}{
		{"custom status", "out_of_stock", "", StatusFailed, "none", ""},
		{"unhandled status", "weird", "", StatusFailed, "work", `unhandled status "weird"`},
		{"permanent quarantines", "failure", ErrPermanent, StatusQuarantined, "work", ""},
		{"invalid input follows failure", "failure", ErrInvalidInput, StatusFailed, "failed", ""},
		{"transient retries", "failure", ErrTransient, StatusAwaitingRetry, "work", ""},
		{"no code is transient", "failure", "", StatusAwaitingRetry, "work", ""},
		{"cancelled without transition", "cancelled", "", StatusCancelled, "work", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			j, effs := run(t, m, start, result(start, 0, c.status, nil, c.code))
			if j.Status != c.wantStatus || j.State != c.wantState {
				t.Fatalf("status %s state %s, want %s %s", j.Status, j.State, c.wantStatus, c.wantState)
			}
			if c.wantErr != "" && (j.Error == nil || !strings.Contains(j.Error.Message, c.wantErr)) {
				t.Errorf("error = %+v, want %q", j.Error, c.wantErr)
			}
			if c.wantStatus == StatusAwaitingRetry {
				tm := effs[0].Timers
				if len(tm) != 1 || tm[0].Event.TaskID != start.Tasks[0].ID || tm[0].At.Before(t0.Add(500*time.Millisecond)) || tm[0].At.After(t0.Add(time.Second)) {
					t.Errorf("retry timer: %+v", tm)
				}
			}
		})
	}
}

func TestRetriesThenFailure(t *testing.T) {
	t.Parallel()
	m := machine(t, taskBP)
	j, _ := run(t, m, newJob(map[string]any{"n": int64(6)}), Event{Kind: EventCreated})
	ids := map[string]bool{j.Tasks[0].ID: true}
	for attempt := 1; attempt <= 3; attempt++ {
		old := j.Tasks[0].ID
		var effs []*Effects
		j, effs = run(t, m, j, result(j, 0, "failure", nil, ErrTransient))
		if attempt == 3 {
			if j.State != "failed" || j.Status != StatusFailed {
				t.Fatalf("after 3 attempts: %s %s", j.State, j.Status)
			}
			break
		}
		timer := effs[0].Timers[0]
		j, effs = run(t, m, j, timer.Event)
		if j.Tasks[0].Attempt != attempt+1 || j.Tasks[0].ID == old || ids[j.Tasks[0].ID] || len(effs[0].Enqueue) != 1 {
			t.Fatalf("retry %d: %+v", attempt, j.Tasks)
		}
		ids[j.Tasks[0].ID] = true
		// A late result of the old attempt is stale.
		if _, _, err := Step(context.Background(), m, j, Event{Kind: EventTaskResult, TaskID: old, Result: &Result{Status: "success"}}, Inputs{Now: t0}); !errors.Is(err, ErrStaleTask) {
			t.Errorf("late result: %v", err)
		}
	}
}

func TestTimeouts(t *testing.T) {
	t.Parallel()
	m := machine(t, taskBP)
	j, _ := run(t, m, newJob(map[string]any{"n": int64(6)}), Event{Kind: EventCreated})
	j2, _ := run(t, m, j, Event{Kind: EventTaskTimeout, TaskID: j.Tasks[0].ID})
	if j2.Status != StatusAwaitingRetry {
		t.Errorf("lease timeout: %s", j2.Status)
	}
	j3, _ := run(t, m, j, Event{Kind: EventDispatchTimeout, TaskID: j.Tasks[0].ID})
	if j3.State != "failed" || !strings.Contains(j3.Error.Message, "no worker took") {
		t.Errorf("dispatch timeout: %s %+v", j3.State, j3.Error)
	}
}

func TestChooseNoMatch(t *testing.T) {
	t.Parallel()
	m := machine(t, taskBP)
	j, _ := run(t, m, newJob(map[string]any{"n": int64(1)}), Event{Kind: EventCreated})
	if j.Status != StatusFailed || j.Error.Code != "NO_CHOICE" || !strings.Contains(j.Error.Message, `"pick"`) {
		t.Errorf("no match: %s %+v", j.Status, j.Error)
	}
}

func TestExpressionError(t *testing.T) {
	t.Parallel()
	m := machine(t, "name: bp\nstart: a\nstates:\n  a:\n    choose:\n      - when: input.n + 'x'\n        go_to: b\n      - go_to: b\n  b: {end: success}\n")
	j, _ := run(t, m, newJob(map[string]any{"n": int64(1)}), Event{Kind: EventCreated})
	if j.Status != StatusFailed || j.Error.Code != "EXPRESSION_ERROR" || !strings.Contains(j.Error.Message, "bp.yaml:6:15") {
		t.Errorf("%s %+v", j.Status, j.Error)
	}
}

func TestTransitionLimit(t *testing.T) {
	t.Parallel()
	m := machine(t, "name: bp\nstart: a\nstates:\n  a:\n    choose:\n      - when: input.stop\n        go_to: e\n      - go_to: b\n  b: {go_to: a}\n  e: {end: success}\n")
	j, _ := run(t, m, newJob(nil), Event{Kind: EventCreated})
	if j.Status != StatusFailed || j.Error.Code != "TRANSITION_LIMIT" {
		t.Errorf("%s %+v", j.Status, j.Error)
	}
}

const parallelBP = `name: bp
start: fan
states:
  fan:
    parallel:
      for_each: ${{ input.items }}
      as: item
      task: {type: t, params: {x: "${{ item }}"}, retries: 1}
    transitions: {success: done, failure: failed}
  done: {end: success}
  failed: {end: failure}
`

func TestParallel(t *testing.T) {
	t.Parallel()
	m := machine(t, parallelBP)
	j, effs := run(t, m, newJob(map[string]any{"items": []any{"a", "b", "c"}}), Event{Kind: EventCreated})
	if j.Status != StatusWaitingParallel || len(j.Tasks) != 3 || len(effs[0].Enqueue) != 3 || effs[0].Enqueue[2].Params["x"] != "c" || effs[0].Enqueue[2].Branch != 2 {
		t.Fatalf("fan out: %+v %+v", j, effs[0].Enqueue)
	}
	// Results in any order; job.Results in branch order.
	j, _ = run(t, m, j, result(j, 2, "success", map[string]any{"v": "c"}, ""))
	j, _ = run(t, m, j, result(j, 0, "success", map[string]any{"v": "a"}, ""))
	if j.Status != StatusWaitingParallel {
		t.Fatalf("early finish: %s", j.Status)
	}
	j, _ = run(t, m, j, result(j, 1, "success", map[string]any{"v": "b"}, ""))
	if j.Status != StatusFinished || len(j.Results) != 3 {
		t.Fatalf("fan in: %s %d", j.Status, len(j.Results))
	}
	var got []any
	for _, r := range j.Results {
		got = append(got, r.Data["v"])
	}
	if diff := cmp.Diff([]any{"a", "b", "c"}, got); diff != "" {
		t.Error(diff)
	}
}

func TestParallelFailFast(t *testing.T) {
	t.Parallel()
	m := machine(t, parallelBP)
	j, _ := run(t, m, newJob(map[string]any{"items": []any{"a", "b", "c"}}), Event{Kind: EventCreated})
	j2, effs := run(t, m, j, result(j, 1, "failure", nil, ErrInvalidInput))
	if j2.State != "failed" || j2.Status != StatusFailed {
		t.Fatalf("%s %s", j2.State, j2.Status)
	}
	if diff := cmp.Diff([]string{j.Tasks[0].ID, j.Tasks[2].ID}, effs[0].Withdraw); diff != "" {
		t.Errorf("withdraw: %s", diff)
	}
	// A transient failure of a branch retries that branch only.
	j3, effs := run(t, m, j, result(j, 0, "failure", nil, ErrTransient))
	if j3.Status != StatusWaitingParallel || len(effs[0].Timers) != 1 || effs[0].Timers[0].Event.Branch != 0 {
		t.Errorf("branch retry: %s %+v", j3.Status, effs[0].Timers)
	}
	// An empty list succeeds at once.
	j4, _ := run(t, m, newJob(map[string]any{"items": []any{}}), Event{Kind: EventCreated})
	if j4.Status != StatusFinished {
		t.Errorf("empty fan-out: %s", j4.Status)
	}
}

const approvalBP = `name: bp
start: ask
states:
  ask:
    approval: {message: "ok ${{ input.x }}?", timeout: 1h}
    transitions: {approved: yes, rejected: no, timeout: late}
  yes: {end: success}
  no: {end: failure}
  late: {end: failure}
`

func TestApproval(t *testing.T) {
	t.Parallel()
	m := machine(t, approvalBP)
	j, effs := run(t, m, newJob(map[string]any{"x": "go"}), Event{Kind: EventCreated})
	if j.Status != StatusWaitingForHuman || len(effs[0].Timers) != 1 || !effs[0].Timers[0].At.Equal(t0.Add(time.Hour)) {
		t.Fatalf("%s %+v", j.Status, effs[0].Timers)
	}
	for _, c := range []struct {
		ev    Event
		state string
	}{
		{Event{Kind: EventApproval, Decision: "approved"}, "yes"},
		{Event{Kind: EventApproval, Decision: "rejected"}, "no"},
		{effs[0].Timers[0].Event, "late"},
	} {
		got, e := run(t, m, j, c.ev)
		if got.State != c.state || !got.Status.Terminal() {
			t.Errorf("%v: %s %s", c.ev, got.State, got.Status)
		}
		if c.ev.Kind == EventApproval && (len(e[0].CancelTimers) != 1 || e[0].CancelTimers[0] != j.Timer) {
			t.Errorf("decision must disarm the timeout: %+v", e[0].CancelTimers)
		}
	}
	if _, _, err := Step(context.Background(), m, j, Event{Kind: EventApproval, Decision: "maybe"}, Inputs{Now: t0}); !errors.Is(err, ErrBadDecision) {
		t.Errorf("bad decision: %v", err)
	}
	if _, _, err := Step(context.Background(), m, j, Event{Kind: EventTimer, TimerID: "other"}, Inputs{Now: t0}); !errors.Is(err, ErrStaleTimer) {
		t.Errorf("stale timer: %v", err)
	}
}

func TestChildAndWait(t *testing.T) {
	t.Parallel()
	m := machine(t, `name: bp
start: call
states:
  call:
    blueprint: {name: child, input: {x: "${{ input.x }}"}}
    transitions: {success: nap, failure: bad}
  nap:
    wait: 30s
    go_to: done
  done: {end: success}
  bad: {end: failure}
`)
	j, effs := run(t, m, newJob(map[string]any{"x": int64(1)}), Event{Kind: EventCreated})
	if j.Status != StatusWaitingForChild || len(effs[0].StartChild) != 1 {
		t.Fatalf("%s %+v", j.Status, effs[0])
	}
	child := effs[0].StartChild[0]
	if child.Blueprint != "child" || child.Input["x"] != int64(1) || child.Parent.JobID != j.ID || j.Child != child.ID {
		t.Errorf("child: %+v", child)
	}
	// The child ends: its end reaches the parent as a timer due now.
	cj, ceffs := run(t, machine(t, "name: child2\nstart: s\nstates:\n  s: {end: success}\n"), child, Event{Kind: EventCreated})
	if cj.Status != StatusFinished || len(ceffs[0].Timers) != 1 || ceffs[0].Timers[0].JobID != j.ID {
		t.Fatalf("child end: %+v", ceffs[0].Timers)
	}
	j, effs = run(t, m, j, ceffs[0].Timers[0].Event)
	if j.State != "nap" || j.Status != StatusWaiting || len(effs[0].Timers) != 1 {
		t.Fatalf("after child: %s %s", j.State, j.Status)
	}
	j, _ = run(t, m, j, effs[0].Timers[0].Event)
	if j.Status != StatusFinished {
		t.Errorf("after wait: %s", j.Status)
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	m := machine(t, parallelBP)
	j, _ := run(t, m, newJob(map[string]any{"items": []any{"a", "b"}}), Event{Kind: EventCreated})
	j2, effs := run(t, m, j, Event{Kind: EventCancel})
	if j2.Status != StatusCancelled || len(effs[0].Withdraw) != 2 || effs[0].Notify.Event != "job_cancelled" {
		t.Fatalf("%s %+v", j2.Status, effs[0])
	}
	if _, _, err := Step(context.Background(), m, j2, Event{Kind: EventCancel}, Inputs{Now: t0}); !errors.Is(err, ErrTerminal) {
		t.Errorf("cancel twice: %v", err)
	}
}

func TestSetAndStore(t *testing.T) {
	t.Parallel()
	m := machine(t, "name: bp\nstores: {seen: {}}\nstart: a\nstates:\n  a:\n    set: {a: 1, b: \"${{ history.a + 1 }}\"}\n    store: {seen: {\"${{ input.id }}\": \"${{ history.b }}\"}}\n    go_to: e\n  e: {end: success}\n")
	j, effs := run(t, m, newJob(map[string]any{"id": "k"}), Event{Kind: EventCreated})
	if j.History["b"] != int64(2) {
		t.Errorf("history: %v", j.History)
	}
	want := []StoreWrite{{Blueprint: "bp", Store: "seen", Key: "k", Value: int64(2)}}
	if diff := cmp.Diff(want, effs[0].StoreWrites); diff != "" {
		t.Error(diff)
	}
}

func TestDeterministic(t *testing.T) {
	t.Parallel()
	m := machine(t, parallelBP)
	j := newJob(map[string]any{"items": []any{"a", "b"}})
	a, ea, _ := Step(context.Background(), m, j, Event{Kind: EventCreated}, Inputs{Now: t0, Rand: &seqRand{}})
	b, eb, _ := Step(context.Background(), m, j, Event{Kind: EventCreated}, Inputs{Now: t0, Rand: &seqRand{}})
	if diff := cmp.Diff(a, b); diff != "" {
		t.Error(diff)
	}
	if diff := cmp.Diff(ea, eb); diff != "" {
		t.Error(diff)
	}
}

func BenchmarkFanIn(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(strings.Repeat("x", 0)+itoa(n), func(b *testing.B) {
			set, _ := lang.LoadFS(fstest.MapFS{"bp.yaml": {Data: []byte(parallelBP)}})
			m := set.Machines[0]
			items := make([]any, n)
			for i := range items {
				items[i] = int64(i)
			}
			for b.Loop() {
				j, _, _ := Step(context.Background(), m, newJob(map[string]any{"items": items}), Event{Kind: EventCreated}, Inputs{Now: t0, Rand: &seqRand{}})
				for i := range n {
					j, _, _ = Step(context.Background(), m, j, Event{Kind: EventTaskResult, TaskID: j.Tasks[i].ID, Branch: i, Result: &Result{Status: "success"}}, Inputs{Now: t0})
				}
				if j.Status != StatusFinished {
					b.Fatal(j.Status)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/branch")
		})
	}
}

func itoa(n int) string {
	return strings.TrimLeft(strings.Replace(time.Duration(n).String(), "ns", "", 1), " ")
}
