package core

import (
	"context"
	"testing"

	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// A step that takes a task's result reports the transition it took, which
// the worker's answer carries; other steps report none.
func TestStepReportsTransition(t *testing.T) {
	for _, c := range []struct {
		name string
		bp   string
		job  func() *Job
		ev   Event
		want string
	}{
		{"a status the state names", taskBP, working, result("task-A", 0, "success", nil, ""), wire.TransitionSuccess},
		{"a custom status the state names", taskBP, working, result("task-A", 0, "out_of_stock", nil, ""), wire.TransitionSuccess},
		{"a status the state does not name", taskBP, working, result("task-A", 0, "weird", nil, ""), wire.TransitionUnhandledStatus},
		{"a failure to retry", taskBP, working, result("task-A", 0, "failure", nil, wire.CodeTransientError), wire.TransitionFailureHandled},
		{"a failure after the last attempt", taskBP, func() *Job {
			j := working()
			j.Tasks = j.Tasks.With(0, func(r *TaskRef) { r.Attempt = 3 })
			return j
		}, result("task-A", 0, "failure", nil, wire.CodeTransientError), wire.TransitionFailureHandled},
		{"a retry's timer", taskBP, func() *Job { return retrying(1) }, Event{Kind: EventTimer, TimerID: "retry-task-A", TaskID: "task-A"}, ""},
		{"a cancelled task", plainBP, func() *Job {
			return at("work", wire.StatusWaitingForWorker, 1, nil, ref("task-A", "t", 0, 1, ""))
		}, result("task-A", 0, "cancelled", nil, ""), wire.TransitionCancelledHandled},
		{"a branch while others run", parBP, func() *Job { return fanning() }, result("b0", 0, "success", map[string]any{"n": int64(0)}, ""), wire.TransitionParallelBranch},
		{"the last branch", parBP, func() *Job { return fanning(0, 1) }, result("b2", 2, "success", nil, ""), wire.TransitionSuccess},
		{"a branch with another status", parBP, func() *Job { return fanning() }, result("b1", 1, "odd", nil, ""), wire.TransitionUnhandledStatus},
		{"a branch's failure", parBP, func() *Job { return fanning() }, result("b1", 1, "failure", nil, wire.CodeTransientError), wire.TransitionFailureHandled},
		{"the job's start", taskBP, func() *Job { return pending(map[string]any{"n": int64(6)}) }, Event{Kind: EventCreated}, ""},
		{"a lease that ran out", taskBP, working, Event{Kind: EventTaskTimeout, TaskID: "task-A"}, wire.TransitionFailureHandled},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, fx, err := Step(context.Background(), machine(t, c.bp), c.job(), c.ev, Inputs{Now: t0, Rand: &ctrRand{}})
			if err != nil {
				t.Fatal(err)
			}
			if fx.Transition != c.want {
				t.Errorf("transition %q, want %q", fx.Transition, c.want)
			}
		})
	}
}
