package core

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// FuzzStep feeds arbitrary events to jobs in every kind of state. A step
// either succeeds or returns one of the engine's typed errors: a recovered
// panic (an engine defect) or an untyped error fails.
func FuzzStep(f *testing.F) {
	f.Add(uint8(0), uint8(0), "success", "", "b1", 1, "approved", "")
	f.Add(uint8(1), uint8(1), "failure", wire.CodeTransientError, "task-A", 0, "", "")
	f.Add(uint8(2), uint8(5), "", "", "", -1, "maybe", "retry-b1")
	f.Add(uint8(3), uint8(4), "odd", wire.CodePermanentError, "c1", 7, "rejected", "approval-job-1-1")
	jobs := []struct {
		bp  string
		job func() *Job
	}{
		{parBP, func() *Job { return fanning(0) }},
		{taskBP, working},
		{taskBP, func() *Job { return retrying(1) }},
		{apprBP, asking},
		{childBP, func() *Job { j := at("call", wire.StatusWaitingForChild, 1, nil); j.Child = "c1"; return j }},
		{parBP, func() *Job { return pending(map[string]any{"items": []any{"a", nil, int64(3)}}) }},
	}
	machines := make([]*lang.Machine, len(jobs))
	for i, j := range jobs {
		machines[i] = machine(f, j.bp)
	}
	kinds := []EventKind{EventCreated, EventTaskResult, EventTaskTimeout, EventDispatchTimeout, EventApproval,
		EventChildFinished, EventTimer, EventCancel, EventProgress, "bogus"}
	f.Fuzz(func(t *testing.T, which, kind uint8, status, code, taskID string, branch int, decision, timerID string) {
		c := jobs[int(which)%len(jobs)]
		ev := Event{Kind: kinds[int(kind)%len(kinds)], TaskID: taskID, Branch: branch, Decision: decision, TimerID: timerID,
			ChildID: taskID, Outcome: decision, Data: map[string]any{"progress": branch, "message": status}}
		if status != "" || code != "" {
			ev.Result = &Result{Status: status, Data: map[string]any{"k": code}}
			if code != "" {
				ev.Result.Error = &wire.Error{Code: code}
			}
		}
		in := c.job()
		j, fx, err := Step(context.Background(), machines[int(which)%len(jobs)], in, ev, Inputs{Now: t0.Add(time.Minute), Rand: &ctrRand{}})
		if err != nil {
			for _, known := range []error{ErrStaleTask, ErrStaleTimer, ErrBadDecision, ErrTerminal, ErrBadEvent} {
				if errors.Is(err, known) {
					return
				}
			}
			t.Fatalf("untyped error: %v", err)
		}
		if j == nil || fx == nil {
			t.Fatal("no job or effects without an error")
		}
		if j.Status.Terminal() != (fx.Notify != nil) {
			t.Errorf("status %s with notify %v", j.Status, fx.Notify)
		}
	})
}
