package core

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/internal/uuid"
	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// Errors of a step. The job is unchanged and there are no effects when
// Step returns one; callers match them with errors.Is.
var (
	// ErrStaleTask: the event names a task the job does not wait on (a
	// late result of an earlier attempt, a withdrawn branch). The stores
	// return it too, for a completed task they do not know under the job
	// or that was withdrawn. The result is answered "ignored: stale_task".
	ErrStaleTask = errors.New("stale task")
	// ErrStaleTimer: a timer fired for a state the job has left.
	ErrStaleTimer = errors.New("stale timer")
	// ErrBadDecision: an approval decision other than approved or
	// rejected (the API answers 400).
	ErrBadDecision = errors.New("bad approval decision")
	// ErrTerminal: the job has already ended.
	ErrTerminal = errors.New("job already ended")
	// ErrBadEvent: the event does not apply to the job as it is (an
	// approval for a job that waits for none, a child the job does not
	// wait on, an unknown event kind); the API answers 409.
	ErrBadEvent = errors.New("event does not apply")
)

// Limits bound a job; the zero value takes the defaults.
type Limits struct {
	MaxSteps        int           // states entered per job; default 100
	TaskTimeout     time.Duration // result deadline when neither the task nor the job sets one; default 300 s
	DispatchTimeout time.Duration // how long a task may wait for a worker when nothing else says; 0: until cancelled
	BackoffBase     time.Duration // bound of the first retry delay; default 1 s
	BackoffMax      time.Duration // cap of the retry delay bound; default 60 s
	// Retries: further attempts after a transient failure for a task
	// whose blueprint sets no retries (JOB_MAX_RETRIES); nil: DefaultRetries.
	Retries *int
}

// DefaultRetries is how often a task is retried after a transient failure
// when neither its blueprint nor the server's configuration says: as the
// Python orchestrator's JOB_MAX_RETRIES.
const DefaultRetries = 3

func (l Limits) withDefaults() Limits {
	if l.MaxSteps <= 0 {
		l.MaxSteps = 100
	}
	if l.TaskTimeout <= 0 {
		l.TaskTimeout = 300 * time.Second
	}
	if l.BackoffBase <= 0 {
		l.BackoffBase = time.Second
	}
	if l.BackoffMax <= 0 {
		l.BackoffMax = 60 * time.Second
	}
	if l.BackoffBase > l.BackoffMax {
		l.BackoffBase = l.BackoffMax
	}
	if l.Retries == nil || *l.Retries < 0 {
		r := DefaultRetries
		l.Retries = &r
	}
	return l
}

// Inputs are everything a step may read besides the machine, the job and
// the event: the time, a source of randomness (task and child ids, retry
// jitter), the current values of the blueprint's stores, and limits.
type Inputs struct {
	Now    time.Time
	Rand   io.Reader // required; crypto/rand.Reader in production
	Stores map[string]map[string]any
	Limits Limits
}

// Step applies one event to a job and returns the new job and the effects
// to commit with it. It does no I/O, reads no clock and draws randomness
// only from in.Rand, and it never changes job or the values it holds: the
// same inputs give the same outputs. The new job shares the values it did
// not change with job (input, metadata, unchanged history, results), so
// treat both as immutable. On error the job is unchanged and nothing is to
// be committed; a problem of the job itself (an expression that fails, a
// status nobody handles) is not an error but a failed job. docs/engine.md
// holds the semantics.
func Step(ctx context.Context, m *lang.Machine, job *Job, ev Event, in Inputs) (next *Job, fx *Effects, err error) {
	switch {
	case m == nil:
		return nil, nil, errors.New("step: no machine")
	case job == nil:
		return nil, nil, errors.New("step: no job")
	case in.Rand == nil:
		return nil, nil, fmt.Errorf("step job %s: no source of randomness in Inputs.Rand", job.ID)
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("step job %s: %w", job.ID, err)
	}
	if job.Status.Terminal() {
		return nil, nil, fmt.Errorf("job %s is %s: %w", job.ID, job.Status, ErrTerminal)
	}
	s := &stepper{ctx: ctx, m: m, in: in, lim: in.Limits.withDefaults(), fx: &Effects{}}
	j := *job
	j.UpdatedAt = in.Now
	s.j = &j
	defer func() {
		if r := recover(); r != nil {
			next, fx, err = nil, nil, fmt.Errorf("step job %s in state %q on %s: internal error: %v", job.ID, job.State, ev.Kind, r)
		}
	}()
	if err := s.apply(ev); err != nil {
		return nil, nil, err
	}
	if s.err != nil {
		return nil, nil, s.err
	}
	return s.j, s.fx, nil
}

// stepper carries one step: the copy of the job being changed and the
// effects gathered so far.
type stepper struct {
	ctx context.Context
	m   *lang.Machine
	j   *Job
	in  Inputs
	lim Limits
	fx  *Effects
	// err aborts the step (context ended, randomness failed): Step returns
	// it and no job.
	err        error
	historyOwn bool     // j.History is this step's own copy
	own        refOwner // the chunks of j.Tasks this step copied
}

// ref returns the job's i-th task ref to change, copying its chunk the
// first time in the step.
func (s *stepper) ref(i int) *TaskRef { return s.own.ref(&s.j.Tasks, i) }

// setTasks makes refs the job's task refs (nil: none).
func (s *stepper) setTasks(refs []TaskRef) {
	s.j.Tasks = NewTaskRefs(refs...)
	s.own = refOwner{all: true}
}

func (s *stepper) apply(ev Event) error {
	j := s.j
	switch ev.Kind {
	case EventCreated:
		if j.State != "" {
			return fmt.Errorf("job %s already started in state %q: %w", j.ID, j.State, ErrBadEvent)
		}
		if j.CreatedAt.IsZero() {
			j.CreatedAt = s.in.Now
		}
		if j.Version == "" {
			j.Version = s.m.Hash
		}
		if j.Blueprint == "" {
			j.Blueprint = s.m.Name
		}
		if ev.StartAt != "" {
			if s.m.State(ev.StartAt) == nil {
				return fmt.Errorf("start job %s in state %q: no such state in blueprint %q: %w", j.ID, ev.StartAt, s.m.Name, ErrBadEvent)
			}
			s.timeline(TimelineEvent{Type: "created", Detail: map[string]any{"start_at": ev.StartAt}})
			s.enter(ev.StartAt)
			break
		}
		s.timeline(TimelineEvent{Type: "created"})
		s.enter(s.m.Start)
	case EventTaskResult, EventTaskTimeout, EventDispatchTimeout:
		return s.taskEvent(ev)
	case EventApproval:
		st := s.m.State(j.State)
		if j.Status != wire.StatusWaitingForHuman || st == nil || st.Action != lang.ActionApproval {
			return fmt.Errorf("job %s is %s in state %q and waits for no decision: %w", j.ID, j.Status, j.State, ErrBadEvent)
		}
		if ev.Decision != "approved" && ev.Decision != "rejected" {
			return fmt.Errorf("decision %q for job %s: want \"approved\" or \"rejected\": %w", ev.Decision, j.ID, ErrBadDecision)
		}
		s.timeline(TimelineEvent{Type: "approval", Detail: map[string]any{"decision": ev.Decision}})
		s.cancelTimer()
		s.leaveBy(st, ev.Decision)
	case EventTimer:
		return s.timer(ev)
	case EventChildFinished:
		return s.childFinished(ev)
	case EventCancel:
		s.timeline(TimelineEvent{Type: "cancel_requested", Detail: map[string]any{"reason": orDefault(ev.Reason, "cancelled by the client")}})
		s.finish(wire.StatusCancelled, &wire.Error{Code: wire.CodeCancelled, Message: orDefault(ev.Reason, "cancelled by the client")})
	case EventProgress:
		if p, ok := toFloat(ev.Data["progress"]); ok {
			j.Progress = p
		}
		if msg, ok := ev.Data["message"].(string); ok {
			j.ProgressMessage = msg
		}
	default:
		return fmt.Errorf("event %q for job %s: %w", ev.Kind, j.ID, ErrBadEvent)
	}
	return nil
}

// timer handles a fired timer: a wait's end, an approval's timeout or a
// retry that is due.
func (s *stepper) timer(ev Event) error {
	j := s.j
	if ev.TaskID != "" { // a retry
		i := s.refIndex(ev.TaskID, ev.Branch)
		if i < 0 || j.Tasks.At(i).Result == nil || j.Tasks.At(i).Timer == "" || (ev.TimerID != "" && ev.TimerID != j.Tasks.At(i).Timer) {
			return fmt.Errorf("retry timer %s for task %s of job %s: %w", ev.TimerID, ev.TaskID, j.ID, ErrStaleTimer)
		}
		s.retryNow(i)
		return nil
	}
	if j.Timer == "" || ev.TimerID != j.Timer {
		return fmt.Errorf("timer %s of job %s (in state %q): %w", ev.TimerID, j.ID, j.State, ErrStaleTimer)
	}
	st := s.m.State(j.State)
	if st == nil || (st.Action != lang.ActionWait && st.Action != lang.ActionApproval) {
		return fmt.Errorf("timer %s of job %s in state %q: %w", ev.TimerID, j.ID, j.State, ErrStaleTimer)
	}
	j.Timer = "" // it fired: nothing to disarm
	if st.Action == lang.ActionWait {
		s.timeline(TimelineEvent{Type: "wait_over"})
		s.enter(st.GoTo)
		return nil
	}
	s.timeline(TimelineEvent{Type: "approval", Detail: map[string]any{"decision": "timeout"}})
	if _, ok := st.Next("timeout"); !ok {
		s.fail(wire.CodeApprovalTimeout, fmt.Sprintf("state %q: the approval timed out after %s and the state names no \"timeout\" transition", st.Name, st.Approval.Timeout))
		return nil
	}
	s.leaveBy(st, "timeout")
	return nil
}

// childFinished resumes a job that waits on the child that ended. The
// child's outcome and final history become the job's `result` ({status:
// success|failure, data: the child's history, error}); the parent's
// history is left as it is.
func (s *stepper) childFinished(ev Event) error {
	j := s.j
	st := s.m.State(j.State)
	if j.Child == "" || ev.ChildID != j.Child || st == nil || st.Action != lang.ActionBlueprint {
		return fmt.Errorf("child %s of job %s (waiting on %q): %w", ev.ChildID, j.ID, j.Child, ErrBadEvent)
	}
	outcome := ev.Outcome
	if outcome != wire.ResultSuccess && outcome != wire.ResultFailure {
		return fmt.Errorf("child %s of job %s ended with outcome %q: want \"success\" or \"failure\": %w", ev.ChildID, j.ID, ev.Outcome, ErrBadEvent)
	}
	s.timeline(TimelineEvent{Type: "child_finished", Detail: map[string]any{"child_id": ev.ChildID, "outcome": outcome}})
	j.Child = ""
	res := &Result{Status: outcome}
	if ev.Result != nil {
		res.Data, res.Error = ev.Result.Data, ev.Result.Error
	}
	j.Result = res
	if _, ok := st.Next(outcome); !ok && outcome == wire.ResultFailure {
		msg := fmt.Sprintf("state %q: child job %s (%s) failed", st.Name, ev.ChildID, st.Blueprint.Name)
		if res.Error != nil && res.Error.Message != "" {
			msg += ": " + res.Error.Message
		}
		s.fail(wire.CodeChildFailed, msg)
		return nil
	}
	s.leaveBy(st, outcome)
	return nil
}

// refIndex finds the open task ref for an event: by its branch (the index
// in Job.Tasks, O(1)), else by a scan for callers that do not know it.
func (s *stepper) refIndex(id string, branch int) int {
	ts := s.j.Tasks
	if branch >= 0 && branch < ts.Len() && ts.At(branch).ID == id {
		return branch
	}
	for i, t := range ts.All() {
		if t.ID == id {
			return i
		}
	}
	return -1
}

// abort stops the step with an error: nothing is committed.
func (s *stepper) abort(err error) {
	if s.err == nil {
		s.err = err
	}
}

// done reports whether the step should stop changing the job: it ended or
// the step was aborted.
func (s *stepper) done() bool { return s.err != nil || s.j.Status.Terminal() }

func (s *stepper) timeline(e TimelineEvent) {
	e.At = s.in.Now
	if e.State == "" {
		e.State = s.j.State
	}
	s.fx.Timeline = append(s.fx.Timeline, e)
}

// uuid draws a version 4 UUID from the step's randomness.
func (s *stepper) uuid() string {
	id, err := uuid.New(s.in.Rand)
	if err != nil {
		s.abort(fmt.Errorf("step job %s: %w", s.j.ID, err))
	}
	return id
}

// rand64 draws a uniformly random 64-bit number from the step's randomness.
func (s *stepper) rand64() uint64 {
	var b [8]byte
	if _, err := io.ReadFull(s.in.Rand, b[:]); err != nil {
		s.abort(fmt.Errorf("step job %s: read randomness: %w", s.j.ID, err))
	}
	return binary.BigEndian.Uint64(b[:])
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	}
	return 0, false
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
