package core

import (
	"fmt"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// taskEvent applies a task's result, lease timeout or dispatch timeout.
// Work per event is constant apart from copying one chunk of the job's
// task refs and the chunk index (TaskRefs), so a fan-in of n branches
// costs O(n) steps of nearly constant work.
func (s *stepper) taskEvent(ev Event) error {
	j := s.j
	st := s.m.State(j.State)
	i := s.refIndex(ev.TaskID, ev.Branch)
	if i < 0 || j.Tasks.At(i).Result != nil || st == nil || (st.Action != lang.ActionTask && st.Action != lang.ActionParallel) {
		return fmt.Errorf("%s for task %s of job %s (in state %q): %w", ev.Kind, ev.TaskID, j.ID, j.State, ErrStaleTask)
	}
	ref := s.ref(i)
	var res *Result
	switch ev.Kind {
	case EventTaskResult:
		res = &Result{Status: wire.ResultSuccess}
		if ev.Result != nil {
			r := *ev.Result
			res = &r
			if res.Status == "" {
				res.Status = wire.ResultSuccess
			}
		}
	case EventTaskTimeout:
		res = &Result{Status: wire.ResultFailure, Error: &wire.Error{Code: wire.CodeTimeoutError,
			Message: fmt.Sprintf("task %s (attempt %d) gave no result before its deadline", ref.ID, ref.Attempt)}}
	case EventDispatchTimeout:
		if ev.TimerID != "" && ev.TimerID == ref.Timer {
			ref.Timer = "" // it fired: nothing to disarm
		}
		spec := taskSpec(st, ref.Branch)
		res = &Result{Status: wire.ResultFailure, Error: &wire.Error{Code: wire.CodeDispatchTimeout,
			Message: fmt.Sprintf("no worker took task %q within %s", ref.ID, s.newTaskTimeouts(spec))}}
	}
	s.timeline(TimelineEvent{Type: string(ev.Kind), TaskID: ref.ID, WorkerID: ev.WorkerID, Attempt: ref.Attempt, Detail: resultDetail(res, ref.Branch)})
	if ref.Timer != "" {
		s.fx.CancelTimers = append(s.fx.CancelTimers, ref.Timer)
		ref.Timer = ""
	}
	ref.Result = res
	s.taskResult(st, i, res, ev.Kind == EventDispatchTimeout)
	return nil
}

// newTaskTimeouts is the dispatch timeout a task of spec gets.
func (s *stepper) newTaskTimeouts(spec *lang.Task) string {
	d := s.lim.DispatchTimeout
	if spec != nil && spec.DispatchTimeout > 0 {
		d = spec.DispatchTimeout
	}
	if s.j.DispatchTimeout > 0 {
		d = s.j.DispatchTimeout
	}
	return d.String()
}

// taskSpec is the task of a state's branch.
func taskSpec(st *lang.State, branch int) *lang.Task {
	switch {
	case st.Task != nil:
		return st.Task
	case st.Parallel != nil && st.Parallel.Task != nil:
		return st.Parallel.Task
	case st.Parallel != nil && branch >= 0 && branch < len(st.Parallel.Tasks):
		return st.Parallel.Tasks[branch]
	}
	return nil
}

func resultDetail(r *Result, branch int) map[string]any {
	d := map[string]any{"status": r.Status, "branch": branch}
	if r.Error != nil {
		d["error_code"] = r.Error.Code
		d["error"] = r.Error.Message
	}
	return d
}

// Error code classes of PROTOCOL.md §3.6.
func quarantines(code string) bool {
	switch code {
	case wire.CodePermanentError, wire.CodeSecurityError, wire.CodeDependencyError, wire.CodeContractViolationError:
		return true
	}
	return false
}

func failsAtOnce(code string) bool {
	return code == wire.CodeInvalidInputError || code == wire.CodeIntegrityMismatchError
}

// taskResult moves the job on after the i-th task's attempt ended with res
// (already recorded on its ref).
func (s *stepper) taskResult(st *lang.State, i int, res *Result, noRetry bool) {
	j := s.j
	ref := s.ref(i)
	parallel := st.Action == lang.ActionParallel
	switch res.Status {
	case wire.ResultFailure:
		s.fx.Transition = wire.TransitionFailureHandled
		code := wire.CodeTransientError
		if res.Error != nil && res.Error.Code != "" {
			code = res.Error.Code
		}
		switch {
		case quarantines(code):
			j.Result = res
			s.finish(wire.StatusQuarantined, s.taskError(st, ref, res, code, ""))
		case noRetry || failsAtOnce(code):
			s.failedForGood(st, res, s.taskError(st, ref, res, code, ""))
		case ref.Attempt <= s.retries(st, ref.Branch):
			s.scheduleRetry(st, i, code)
		default:
			s.failedForGood(st, res, s.taskError(st, ref, res, code, fmt.Sprintf(" after %d attempts", ref.Attempt)))
		}
	case wire.ResultCancelled:
		s.fx.Transition = wire.TransitionCancelledHandled
		if parallel {
			s.failedForGood(st, res, &wire.Error{Code: wire.CodeCancelled, Message: fmt.Sprintf("state %q: branch %d (task %s) was cancelled", st.Name, ref.Branch, ref.ID)})
			return
		}
		j.Result = res
		s.leaveBy(st, wire.ResultCancelled)
	default:
		if !parallel {
			j.Result = res
			s.fx.Transition = wire.TransitionUnhandledStatus
			if _, ok := st.Next(res.Status); ok {
				s.fx.Transition = wire.TransitionSuccess
				s.merge(res.Data)
			}
			s.leaveBy(st, res.Status)
			return
		}
		if res.Status != wire.ResultSuccess {
			s.fx.Transition = wire.TransitionUnhandledStatus
			s.failedForGood(st, res, &wire.Error{Code: wire.CodeUnhandledStatus,
				Message: fmt.Sprintf("unhandled status %q from branch %d of state %q: a branch succeeds with \"success\" only", res.Status, ref.Branch, st.Name)})
			return
		}
		j.BranchesDone++
		if j.BranchesDone < j.Tasks.Len() {
			s.fx.Transition = wire.TransitionParallelBranch
			return // other branches still run
		}
		s.fx.Transition = wire.TransitionSuccess
		results := make([]*Result, j.Tasks.Len())
		for k, t := range j.Tasks.All() {
			results[k] = t.Result
		}
		j.Results = results
		j.Result = &Result{Status: wire.ResultSuccess}
		s.leaveBy(st, wire.ResultSuccess)
	}
}

// taskError describes a failed attempt for the job's error.
func (s *stepper) taskError(st *lang.State, ref *TaskRef, res *Result, code, after string) *wire.Error {
	msg := "no message"
	var details any
	if res.Error != nil {
		msg = orDefault(res.Error.Message, msg)
		details = res.Error.Details
	}
	what := fmt.Sprintf("task %s (%s)", ref.ID, ref.Type)
	if st.Action == lang.ActionParallel {
		what = fmt.Sprintf("branch %d, %s", ref.Branch, what)
	}
	return &wire.Error{Code: code, Message: fmt.Sprintf("state %q: %s failed%s: %s", st.Name, what, after, msg), Details: details}
}

// failedForGood: the task (or a branch) will not be retried. The state's
// failure transition is taken when it has one (the other branches are
// withdrawn as the job leaves the state); else the job fails.
func (s *stepper) failedForGood(st *lang.State, res *Result, e *wire.Error) {
	s.j.Result = res
	s.j.Error = e
	if next, ok := st.Next(wire.ResultFailure); ok {
		s.enter(next)
		return
	}
	s.finish(wire.StatusFailed, e)
}

// retries is how many further attempts the task of branch gets after a
// transient failure: the task's retries (which take the blueprint's
// defaults.retries), else the runtime's default.
func (s *stepper) retries(st *lang.State, branch int) int {
	if spec := taskSpec(st, branch); spec != nil && spec.Retries != nil {
		return *spec.Retries
	}
	return *s.lim.Retries
}

// backoff is the base and cap of the task's retry delay: the task's
// retry_backoff (which takes the blueprint's defaults), else the runtime's.
// A base above the cap is held at the cap.
func (s *stepper) backoff(st *lang.State, branch int) (base, max time.Duration) {
	base, max = s.lim.BackoffBase, s.lim.BackoffMax
	if spec := taskSpec(st, branch); spec != nil {
		if spec.Backoff.Base > 0 {
			base = spec.Backoff.Base
		}
		if spec.Backoff.Max > 0 {
			max = spec.Backoff.Max
		}
	}
	return min(base, max), max
}

// scheduleRetry arms the timer of the i-th task's next attempt, after
// Backoff with full jitter.
func (s *stepper) scheduleRetry(st *lang.State, i int, code string) {
	ref := s.ref(i)
	base, max := s.backoff(st, ref.Branch)
	d := Backoff(ref.Attempt, base, max, s.rand64())
	id := "retry-" + ref.ID
	ref.Timer = id
	if st.Action == lang.ActionTask {
		s.j.Status = wire.StatusAwaitingRetry
	}
	s.fx.Timers = append(s.fx.Timers, Timer{ID: id, JobID: s.j.ID, At: s.in.Now.Add(d),
		Event: Event{Kind: EventTimer, TimerID: id, TaskID: ref.ID, Branch: ref.Branch}})
	s.timeline(TimelineEvent{Type: "retry_scheduled", TaskID: ref.ID, Attempt: ref.Attempt,
		Detail: map[string]any{"delay_ms": d.Milliseconds(), "error_code": code, "branch": ref.Branch}})
}

// retryNow enqueues the next attempt of the job's i-th task; its params
// are evaluated again, with job.attempt the new attempt's number.
func (s *stepper) retryNow(i int) {
	j := s.j
	st := s.m.State(j.State)
	ref := s.ref(i)
	spec := taskSpec(st, ref.Branch)
	if spec == nil {
		s.fail(wire.CodeUnknownState, fmt.Sprintf("state %q has no task for branch %d", j.State, ref.Branch))
		return
	}
	env := s.env()
	env.Job.Attempt = ref.Attempt + 1
	if st.Action == lang.ActionParallel && st.Parallel.Task != nil {
		list, ok := s.forEach(st, env)
		if !ok {
			return
		}
		if ref.Branch >= len(list) {
			s.fail(wire.CodeExpressionError, fmt.Sprintf("state %q: for_each gave %d items on retry, branch %d is gone", st.Name, len(list), ref.Branch))
			return
		}
		env.Locals = map[string]any{st.Parallel.As: list[ref.Branch]}
	}
	params, ok := s.evalParams(st, spec, env)
	if !ok {
		return
	}
	t := s.newTask(spec, params, ref.Branch, ref.Attempt+1)
	*ref = TaskRef{ID: t.ID, Type: t.Type, Branch: ref.Branch, Attempt: t.Attempt}
	if st.Action == lang.ActionTask {
		j.Status = wire.StatusWaitingForWorker
	}
	ref.Timer = s.enqueue(t)
}

func (s *stepper) fail(code, msg string) {
	s.finish(wire.StatusFailed, &wire.Error{Code: code, Message: msg})
}

// notifyEvents name a terminal status for webhooks and WebSocket listeners.
func notifyEvent(st wire.JobStatus) string {
	switch st {
	case wire.StatusFinished:
		return wire.WebhookJobFinished
	case wire.StatusQuarantined:
		return wire.WebhookJobQuarantined
	case wire.StatusCancelled:
		return wire.WebhookJobCancelled
	}
	return wire.WebhookJobFailed
}

// finish ends the job: what it waited on is withdrawn, a running child is
// cancelled, listeners are notified and a parent hears of the end through
// a timer due now.
func (s *stepper) finish(status wire.JobStatus, e *wire.Error) {
	if s.err != nil {
		return
	}
	j := s.j
	s.leave()
	if j.Child != "" {
		id := "cancel-" + j.Child
		s.fx.Timers = append(s.fx.Timers, Timer{ID: id, JobID: j.Child, At: s.in.Now,
			Event: Event{Kind: EventCancel, TimerID: id, Reason: fmt.Sprintf("parent job %s ended", j.ID)}})
		j.Child = ""
	}
	j.Status = status
	j.Error = e
	j.FinishedAt = s.in.Now
	event := notifyEvent(status)
	s.fx.Notify = &Notification{Event: event, JobID: j.ID, Status: status}
	detail := map[string]any{"status": string(status)}
	if e != nil {
		detail["error_code"] = e.Code
		detail["error"] = e.Message
	}
	s.timeline(TimelineEvent{Type: event, Detail: detail})
	if j.Parent != nil {
		outcome := wire.ResultFailure
		if status == wire.StatusFinished {
			outcome = wire.ResultSuccess
		}
		id := "child-" + j.ID
		s.fx.Timers = append(s.fx.Timers, Timer{ID: id, JobID: j.Parent.JobID, At: s.in.Now,
			Event: Event{Kind: EventChildFinished, TimerID: id, ChildID: j.ID, Outcome: outcome,
				Result: &Result{Status: outcome, Data: j.History, Error: e}}})
	}
}
