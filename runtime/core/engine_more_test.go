package core

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

const paramsBP = `name: bp
start: work
states:
  work:
    task: {type: t, params: "${{ input.p }}"}
    transitions: {success: done}
  done: {end: success}
`

func TestStepJobFailures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, bp string
		input    map[string]any
		code     string
		msg      []string // parts of the message
	}{
		{"an expression error names blueprint, state, place and expression", badExprBP, map[string]any{"n": int64(1)}, wire.CodeExpressionError,
			[]string{`blueprint "bp", state "work": bp.yaml:5:`, "input.n + 'x'", "unknown binary op"}},
		{"params must be an object", paramsBP, map[string]any{"p": []any{int64(1)}}, wire.CodeExpressionError,
			[]string{`state "work": bp.yaml:5:`, `params of task "t" must be an object, not a list`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m := machine(t, c.bp)
			j, fx, err := Step(context.Background(), m, pending(c.input), Event{Kind: EventCreated}, Inputs{Now: t0, Rand: &ctrRand{}})
			if err != nil {
				t.Fatal(err)
			}
			if j.Status != wire.StatusFailed || j.Error == nil || j.Error.Code != c.code || fx.Notify == nil || len(fx.Enqueue) != 0 {
				t.Fatalf("job %s, error %+v, effects %+v; want failed with %s and nothing enqueued", j.Status, j.Error, fx, c.code)
			}
			for _, part := range c.msg {
				if !strings.Contains(j.Error.Message, part) {
					t.Errorf("message %q does not contain %q", j.Error.Message, part)
				}
			}
		})
	}
}

func TestStepErrors(t *testing.T) {
	t.Parallel()
	m := machine(t, taskBP)
	job := pending(map[string]any{"n": int64(6)})
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name string
		ctx  context.Context
		in   Inputs
		want string
	}{
		{"no randomness", context.Background(), Inputs{Now: t0}, "no source of randomness"},
		{"randomness fails", context.Background(), Inputs{Now: t0, Rand: failRand{}}, "read randomness: entropy gone"},
		{"context ended while evaluating", cancelled, Inputs{Now: t0, Rand: &ctrRand{}}, "context canceled"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			j, fx, err := Step(c.ctx, m, job, Event{Kind: EventCreated}, c.in)
			if err == nil || !strings.Contains(err.Error(), c.want) || j != nil || fx != nil {
				t.Fatalf("Step = %v, %v, %v; want only an error with %q", j, fx, err, c.want)
			}
		})
	}
	if _, _, err := Step(context.Background(), nil, job, Event{Kind: EventCreated}, Inputs{Rand: &ctrRand{}}); err == nil {
		t.Error("Step without a machine: no error")
	}
	if _, _, err := Step(context.Background(), m, nil, Event{Kind: EventCreated}, Inputs{Rand: &ctrRand{}}); err == nil {
		t.Error("Step without a job: no error")
	}
}

func TestStepFillsVersionAndCreation(t *testing.T) {
	t.Parallel()
	m := machine(t, waitBP)
	j := &Job{ID: "c1", Status: wire.StatusPending}
	got, _, err := Step(context.Background(), m, j, Event{Kind: EventCreated}, Inputs{Now: t0, Rand: &ctrRand{}})
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != m.Hash || got.Blueprint != "bp" || !got.CreatedAt.Equal(t0) {
		t.Errorf("version %q blueprint %q created %v; want %q, bp, %v", got.Version, got.Blueprint, got.CreatedAt, m.Hash, t0)
	}
}

// TestStepConcurrentSameJob steps one job from many goroutines at once:
// under -race, any write to the shared input is reported.
func TestStepConcurrentSameJob(t *testing.T) {
	t.Parallel()
	m := machine(t, parBP)
	j := fanning(0)
	j.History = map[string]any{"a": int64(1)}
	var wg sync.WaitGroup
	outs := make([]*Job, 8)
	for g := range outs {
		wg.Go(func() {
			ev := result("b1", 1, "success", map[string]any{"n": int64(1)}, "")
			if g%2 == 1 {
				ev = result("b2", 2, "failure", nil, wire.CodePermanentError)
			}
			out, _, err := Step(context.Background(), m, j, ev, Inputs{Now: t0, Rand: &ctrRand{}})
			if err != nil {
				t.Error(err)
			}
			outs[g] = out
		})
	}
	wg.Wait()
	if diff := cmp.Diff(fanning(0).Tasks, j.Tasks); diff != "" {
		t.Errorf("input tasks changed:\n%s", diff)
	}
	for g, out := range outs {
		if want := []wire.JobStatus{wire.StatusWaitingParallel, wire.StatusQuarantined}[g%2]; out == nil || out.Status != want {
			t.Errorf("goroutine %d: %v, want %s", g, out, want)
		}
	}
}

// TestRun drives a job from creation to its end, feeding each step's
// effects back as the runtime would: a transient failure, a retry, a
// success; then a parallel of three; then an approval.
func TestRun(t *testing.T) {
	t.Parallel()
	m := machine(t, `name: bp
start: work
states:
  work:
    task: {type: t, params: {n: "${{ input.n }}"}, retries: 1}
    transitions: {success: fan, failure: failed}
  fan:
    parallel: {for_each: "${{ list(range(history.count)) }}", as: i, task: {type: p, params: {i: "${{ i }}"}}}
    transitions: {success: ask, failure: failed}
  ask:
    approval: {message: "${{ len(results) }} done"}
    transitions: {approved: done, rejected: failed}
  done: {end: success}
  failed: {end: failure}
`)
	now := t0
	step := func(j *Job, ev Event) (*Job, *Effects) {
		t.Helper()
		now = now.Add(time.Second)
		nj, fx, err := Step(context.Background(), m, j, ev, Inputs{Now: now, Rand: rand.Reader})
		if err != nil {
			t.Fatalf("%s: %v", ev.Kind, err)
		}
		return nj, fx
	}
	j, fx := step(pending(map[string]any{"n": int64(3)}), Event{Kind: EventCreated})
	first := fx.Enqueue[0]
	j, fx = step(j, Event{Kind: EventTaskResult, TaskID: first.ID, Result: &Result{Status: "failure", Error: &wire.Error{Code: wire.CodeTransientError}}})
	if j.Status != wire.StatusAwaitingRetry || len(fx.Timers) != 1 {
		t.Fatalf("after a transient failure: %s, timers %v", j.Status, fx.Timers)
	}
	if d := fx.Timers[0].At.Sub(now); d < 0 || d > time.Second {
		t.Errorf("first retry in %v, want within [0, 1s]", d)
	}
	j, fx = step(j, fx.Timers[0].Event)
	second := fx.Enqueue[0]
	if second.Attempt != 2 || second.ID == first.ID || second.Params["n"] != int64(3) {
		t.Fatalf("retry: %+v", second)
	}
	if _, _, err := Step(context.Background(), m, j, Event{Kind: EventTaskResult, TaskID: first.ID, Result: &Result{}}, Inputs{Now: now, Rand: rand.Reader}); !errors.Is(err, ErrStaleTask) {
		t.Errorf("late result of attempt 1: %v, want ErrStaleTask", err)
	}
	j, fx = step(j, Event{Kind: EventTaskResult, TaskID: second.ID, Result: &Result{Status: "success", Data: map[string]any{"count": int64(3)}}})
	if j.State != "fan" || len(fx.Enqueue) != 3 {
		t.Fatalf("parallel: state %s, %d tasks, error %v", j.State, len(fx.Enqueue), j.Error)
	}
	branches := fx.Enqueue
	for _, i := range []int{2, 0, 1} { // out of order
		j, _ = step(j, Event{Kind: EventTaskResult, TaskID: branches[i].ID, Branch: i, Result: &Result{Status: "success", Data: map[string]any{"i": branches[i].Params["i"]}}})
	}
	if j.State != "ask" || j.ApprovalMessage != "3 done" || len(j.Results) != 3 || j.Results[1].Data["i"] != int64(1) {
		t.Fatalf("after the parallel: state %s, message %q, results %v", j.State, j.ApprovalMessage, j.Results)
	}
	j, fx = step(j, Event{Kind: EventApproval, Decision: "approved"})
	if j.Status != wire.StatusFinished || fx.Notify == nil || fx.Notify.Event != "job_finished" || j.Steps != 4 {
		t.Fatalf("end: %s after %d steps, notify %+v", j.Status, j.Steps, fx.Notify)
	}
}

// failTransiently creates a job of m and answers each attempt with a
// TRANSIENT_ERROR until the job stops retrying. It returns how many
// attempts ran, the delays of the retries scheduled, and the final job.
func failTransiently(t *testing.T, m *lang.Machine, lim Limits) (attempts int, delays []time.Duration, j *Job) {
	t.Helper()
	in := Inputs{Now: t0, Rand: &ctrRand{}, Limits: lim}
	j, fx, err := Step(context.Background(), m, pending(nil), Event{Kind: EventCreated}, in)
	if err != nil {
		t.Fatal(err)
	}
	for attempts = 1; attempts < 50; attempts++ {
		task := fx.Enqueue[0]
		j, fx, err = Step(context.Background(), m, j, result(task.ID, 0, "failure", nil, wire.CodeTransientError), in)
		if err != nil {
			t.Fatal(err)
		}
		if j.Status != wire.StatusAwaitingRetry {
			return attempts, delays, j
		}
		delays = append(delays, fx.Timers[0].At.Sub(t0))
		if j, fx, err = Step(context.Background(), m, j, fx.Timers[0].Event, in); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("still retrying after 50 attempts")
	return
}

// TestRetryDefaults: a task that names no retries gets the runtime's
// (3, as JOB_MAX_RETRIES, or the configured number); defaults.retries and
// the task's retries override it, in that order; retry_backoff bounds the
// delays per task and in defaults.
func TestRetryDefaults(t *testing.T) {
	t.Parallel()
	const states = "states:\n  s: {task: {type: t%s}, transitions: {success: ok}}\n  ok: {end: success}\n"
	bp := func(defaults, task string) *lang.Machine {
		return machine(t, "name: bp\n"+defaults+"start: s\n"+fmt.Sprintf(states, task))
	}
	cases := []struct {
		name         string
		m            *lang.Machine
		lim          Limits
		wantAttempts int
	}{
		{"nothing set: the runtime's 3 retries", bp("", ""), Limits{}, 1 + DefaultRetries},
		{"the server's default", bp("", ""), Limits{Retries: ptr(1)}, 2},
		{"the server says none", bp("", ""), Limits{Retries: ptr(0)}, 1},
		{"defaults.retries over the server's", bp("defaults: {retries: 5}\n", ""), Limits{Retries: ptr(1)}, 6},
		{"the task's retries over defaults", bp("defaults: {retries: 5}\n", ", retries: 0"), Limits{}, 1},
	}
	for _, c := range cases {
		attempts, _, j := failTransiently(t, c.m, c.lim)
		if attempts != c.wantAttempts || j.Status != wire.StatusFailed {
			t.Errorf("%s: %d attempts, then %s; want %d, then failed", c.name, attempts, j.Status, c.wantAttempts)
		}
	}

	// ctrRand's jitter is half of the bound: the bound doubles from base
	// and stops at max.
	half := func(ds ...time.Duration) []time.Duration {
		for i := range ds {
			ds[i] /= 2
		}
		return ds
	}
	backoffs := []struct {
		name string
		m    *lang.Machine
		lim  Limits
		want []time.Duration
	}{
		{"the runtime's 1 s doubling", bp("", ""), Limits{}, half(time.Second, 2*time.Second, 4*time.Second)},
		{"the server's base and cap", bp("", ""), Limits{BackoffBase: 3 * time.Second, BackoffMax: 5 * time.Second}, half(3*time.Second, 5*time.Second, 5*time.Second)},
		{"defaults.retry_backoff", bp("defaults: {retry_backoff: {base: 10s, max: 15s}}\n", ""), Limits{}, half(10*time.Second, 15*time.Second, 15*time.Second)},
		{"the task's base, the defaults' cap", bp("defaults: {retry_backoff: {base: 10s, max: 15s}}\n", ", retry_backoff: {base: 4s}"), Limits{}, half(4*time.Second, 8*time.Second, 15*time.Second)},
		{"a task's base above the server's cap", bp("", ", retry_backoff: {base: 2m}"), Limits{}, half(60*time.Second, 60*time.Second, 60*time.Second)},
	}
	for _, c := range backoffs {
		_, delays, _ := failTransiently(t, c.m, c.lim)
		if len(delays) != len(c.want) {
			t.Errorf("%s: %d retries, want %d", c.name, len(delays), len(c.want))
			continue
		}
		for i := range delays {
			// Half the bound, give or take the jitter's low bits.
			if d := delays[i] - c.want[i]; d < -time.Millisecond || d > time.Millisecond {
				t.Errorf("%s: retry %d after %v, want %v", c.name, i+1, delays[i], c.want[i])
			}
		}
	}
}
