package core

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"strconv"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/lang"
)

// Errors of a step. The job is unchanged when Step returns one.
var (
	// ErrStaleTask: the event names a task the job no longer waits on.
	ErrStaleTask = errors.New("stale task")
	// ErrStaleTimer: a timer fired for a state the job has left.
	ErrStaleTimer = errors.New("stale timer")
	// ErrBadDecision: an approval decision other than approved/rejected,
	// or a decision for a job that does not wait for one.
	ErrBadDecision = errors.New("bad approval decision")
	// ErrTerminal: the job has already ended.
	ErrTerminal = errors.New("job already ended")
	// ErrBadEvent: the event does not apply to the job's state.
	ErrBadEvent = errors.New("event does not apply")
)

// Limits bound a job; the zero value takes the defaults.
type Limits struct {
	MaxSteps        int           // transitions per job; default 100
	TaskTimeout     time.Duration // result deadline when a task sets none; default 300 s
	DispatchTimeout time.Duration // 0: a task waits for a worker until cancelled
	BackoffBase     time.Duration // first retry delay; default 1 s
	BackoffMax      time.Duration // cap; default 60 s
}

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
	return l
}

// Inputs are everything a step may read besides the machine, the job and
// the event: the time, a source of randomness (ids, jitter), the current
// values of the blueprint's stores, and limits.
type Inputs struct {
	Now    time.Time
	Rand   io.Reader
	Stores map[string]map[string]any
	Limits Limits
}

// Step applies one event to a job and returns the new job and the
// effects to commit with it. It does no I/O and never changes job: the
// same inputs give the same outputs.
func Step(ctx context.Context, m *lang.Machine, job *Job, ev Event, in Inputs) (*Job, *Effects, error) {
	if job.Status.Terminal() && ev.Kind != EventCreated {
		return nil, nil, fmt.Errorf("job %s is %s: %w", job.ID, job.Status, ErrTerminal)
	}
	s := &stepper{ctx: ctx, m: m, in: in, lim: in.Limits.withDefaults(), eff: &Effects{}}
	j := *job
	j.Tasks = append([]TaskRef(nil), job.Tasks...)
	s.j = &j
	s.j.UpdatedAt = in.Now
	if err := s.apply(ev); err != nil {
		return nil, nil, err
	}
	return s.j, s.eff, nil
}

type stepper struct {
	ctx        context.Context
	m          *lang.Machine
	j          *Job
	in         Inputs
	lim        Limits
	eff        *Effects
	historyOwn bool // History was copied by this step
}

func (s *stepper) apply(ev Event) error {
	j := s.j
	switch ev.Kind {
	case EventCreated:
		if j.State != "" {
			return fmt.Errorf("job %s already started: %w", j.ID, ErrBadEvent)
		}
		if j.CreatedAt.IsZero() {
			j.CreatedAt = s.in.Now
		}
		s.timeline(TimelineEvent{Type: "created"})
		s.enter(s.m.Start)
	case EventTaskResult, EventTaskTimeout, EventDispatchTimeout:
		i := s.findTask(ev.TaskID, ev.Branch)
		if i < 0 {
			return fmt.Errorf("task %s of job %s: %w", ev.TaskID, j.ID, ErrStaleTask)
		}
		res := ev.Result
		switch ev.Kind {
		case EventTaskTimeout:
			res = &Result{Status: "failure", Error: &ErrorInfo{Code: ErrTimeout, Message: fmt.Sprintf("task %s: no result before its deadline (attempt %d)", ev.TaskID, j.Tasks[i].Attempt)}}
		case EventDispatchTimeout:
			res = &Result{Status: "failure", Error: &ErrorInfo{Code: ErrTimeout, Message: fmt.Sprintf("no worker took task %s (%s) in time", ev.TaskID, j.Tasks[i].Type)}}
		}
		if res == nil {
			res = &Result{Status: "success"}
		}
		if res.Status == "" {
			res.Status = "success"
		}
		s.timeline(TimelineEvent{Type: string(ev.Kind), TaskID: ev.TaskID, WorkerID: ev.WorkerID, Attempt: j.Tasks[i].Attempt,
			Detail: resultDetail(res)})
		s.taskResult(i, res, ev.Kind == EventDispatchTimeout)
	case EventApproval:
		st := s.m.State(j.State)
		if j.Status != StatusWaitingForHuman || st == nil || st.Action != lang.ActionApproval {
			return fmt.Errorf("job %s does not wait for a decision: %w", j.ID, ErrBadDecision)
		}
		if ev.Decision != "approved" && ev.Decision != "rejected" {
			return fmt.Errorf("decision %q: want approved or rejected: %w", ev.Decision, ErrBadDecision)
		}
		s.timeline(TimelineEvent{Type: "approval", Detail: map[string]any{"decision": ev.Decision}})
		s.cancelTimer()
		if ev.Data != nil {
			s.merge(ev.Data)
		}
		s.leaveBy(st, ev.Decision)
	case EventTimer:
		return s.timer(ev)
	case EventChildFinished:
		st := s.m.State(j.State)
		if j.Child == "" || ev.ChildID != j.Child || st == nil || st.Action != lang.ActionBlueprint {
			return fmt.Errorf("child %s of job %s: %w", ev.ChildID, j.ID, ErrBadEvent)
		}
		outcome := ev.Outcome
		if outcome != "success" {
			outcome = "failure"
		}
		s.timeline(TimelineEvent{Type: "child_finished", Detail: map[string]any{"child_id": ev.ChildID, "outcome": outcome}})
		j.Child = ""
		if ev.Data != nil {
			s.merge(ev.Data)
		}
		s.leaveBy(st, outcome)
	case EventCancel:
		s.timeline(TimelineEvent{Type: "cancelled", Detail: map[string]any{"reason": ev.Reason}})
		s.finish(StatusCancelled, &ErrorInfo{Code: "CANCELLED", Message: orDefault(ev.Reason, "cancelled by the client")})
	case EventProgress:
		if p, ok := ev.Data["progress"]; ok {
			if f, ok := toFloat(p); ok {
				j.Progress = f
			}
		}
		if msg, ok := ev.Data["message"].(string); ok {
			j.ProgressMessage = msg
		}
	default:
		return fmt.Errorf("event %q: %w", ev.Kind, ErrBadEvent)
	}
	return nil
}

func (s *stepper) findTask(id string, branch int) int {
	if branch >= 0 && branch < len(s.j.Tasks) && s.j.Tasks[branch].ID == id && s.j.Tasks[branch].Result == nil {
		return branch
	}
	for i, t := range s.j.Tasks {
		if t.ID == id && t.Result == nil {
			return i
		}
	}
	return -1
}

// timer handles a fired timer: a wait's end, an approval's timeout or a
// retry that is due.
func (s *stepper) timer(ev Event) error {
	j := s.j
	if ev.TaskID != "" { // a retry
		i := s.findTask(ev.TaskID, ev.Branch)
		if i < 0 {
			return fmt.Errorf("retry of task %s: %w", ev.TaskID, ErrStaleTimer)
		}
		s.retryNow(i)
		return nil
	}
	if j.Timer == "" || ev.TimerID != j.Timer {
		return fmt.Errorf("timer %s of job %s: %w", ev.TimerID, j.ID, ErrStaleTimer)
	}
	j.Timer = ""
	st := s.m.State(j.State)
	switch {
	case st != nil && st.Action == lang.ActionWait:
		s.timeline(TimelineEvent{Type: "wait_over"})
		s.enter(st.GoTo)
	case st != nil && st.Action == lang.ActionApproval:
		s.timeline(TimelineEvent{Type: "approval", Detail: map[string]any{"decision": "timeout"}})
		s.leaveBy(st, "timeout")
	default:
		return fmt.Errorf("timer %s in state %q: %w", ev.TimerID, j.State, ErrStaleTimer)
	}
	return nil
}

// enter moves the job into a state and runs it: set, store, then the
// action; go_to and choose move on at once.
func (s *stepper) enter(name string) {
	j := s.j
	for {
		if j.Status.Terminal() {
			return
		}
		st := s.m.State(name)
		if st == nil {
			s.fail("UNKNOWN_STATE", fmt.Sprintf("state %q does not exist in blueprint %q", name, s.m.Name))
			return
		}
		j.Steps++
		if j.Steps > s.lim.MaxSteps {
			s.fail("TRANSITION_LIMIT", fmt.Sprintf("transition limit of %d exceeded entering state %q (a loop?)", s.lim.MaxSteps, name))
			return
		}
		prev := j.State
		j.State = name
		j.Tasks = nil
		j.Status = StatusRunning
		s.timeline(TimelineEvent{Type: "state_entered", PrevState: prev, NextState: name})
		if !s.runSetStore(st) {
			return
		}
		switch st.Action {
		case lang.ActionGoTo:
			name = st.GoTo
			continue
		case lang.ActionChoose:
			next, ok := s.choose(st)
			if !ok {
				return
			}
			name = next
			continue
		case lang.ActionTask:
			s.startTask(st)
		case lang.ActionParallel:
			s.startParallel(st)
		case lang.ActionApproval:
			s.startApproval(st)
		case lang.ActionBlueprint:
			s.startChild(st)
		case lang.ActionWait:
			s.startWait(st)
		case lang.ActionEnd:
			if st.End == lang.OutcomeSuccess {
				s.finish(StatusFinished, nil)
			} else {
				e := j.Error // the failure that led here, if any
				if e == nil {
					e = &ErrorInfo{Code: "END_FAILURE", Message: fmt.Sprintf("the job ended in state %q", name)}
				}
				s.finish(StatusFailed, e)
			}
		}
		return
	}
}

func (s *stepper) env() *lang.Env {
	j := s.j
	e := &lang.Env{
		Input:   mapOrNil(j.Input),
		History: j.History,
		Job:     lang.JobInfo{ID: j.ID, Blueprint: j.Blueprint, State: j.State, CreatedAt: j.CreatedAt},
		Client:  map[string]any{"name": j.Client.Name, "plan": j.Client.Plan},
		Stores:  s.in.Stores,
	}
	for k, v := range j.Client.Fields {
		if k != "name" && k != "plan" {
			e.Client[k] = v
		}
	}
	if len(j.Tasks) > 0 {
		e.Job.Attempt = j.Tasks[0].Attempt
	}
	if j.Result != nil {
		e.Result = j.Result.value()
	}
	for _, r := range j.Results {
		e.Results = append(e.Results, r.value())
	}
	return e
}

func mapOrNil(m map[string]any) any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

func (r *Result) value() map[string]any {
	out := map[string]any{"status": r.Status, "data": map[string]any{}, "error": nil}
	if r.Data != nil {
		out["data"] = r.Data
	}
	if r.Error != nil {
		out["error"] = map[string]any{"code": r.Error.Code, "message": r.Error.Message}
	}
	return out
}

// evalErr fails the job with an expression error.
func (s *stepper) evalErr(err error) {
	s.fail("EXPRESSION_ERROR", err.Error())
}

func (s *stepper) runSetStore(st *lang.State) bool {
	if len(st.Set) > 0 {
		env := s.env()
		vals := map[string]any{}
		for _, a := range st.Set {
			v, err := a.Value.Eval(s.ctx, env)
			if err != nil {
				s.evalErr(err)
				return false
			}
			vals[a.Key] = v
			// Later entries see earlier ones.
			h := maps.Clone(env.History)
			if h == nil {
				h = map[string]any{}
			}
			h[a.Key] = v
			env.History = h
		}
		s.merge(vals)
	}
	if len(st.Store) > 0 {
		env := s.env()
		for _, w := range st.Store {
			k, err := w.Key.Eval(s.ctx, env)
			if err != nil {
				s.evalErr(err)
				return false
			}
			v, err := w.Value.Eval(s.ctx, env)
			if err != nil {
				s.evalErr(err)
				return false
			}
			key, ok := k.(string)
			if !ok {
				key = fmt.Sprint(k)
			}
			s.eff.StoreWrites = append(s.eff.StoreWrites, StoreWrite{Blueprint: s.m.Name, Store: w.Store, Key: key, Value: v})
		}
	}
	return true
}

// merge shallow-merges data into the job's history (copy on write).
func (s *stepper) merge(data map[string]any) {
	if len(data) == 0 {
		return
	}
	if !s.historyOwn {
		s.j.History = maps.Clone(s.j.History)
		if s.j.History == nil {
			s.j.History = map[string]any{}
		}
		s.historyOwn = true
	}
	maps.Copy(s.j.History, data)
}

func (s *stepper) choose(st *lang.State) (string, bool) {
	env := s.env()
	for _, c := range st.Choose {
		if c.When == nil {
			return c.GoTo, true
		}
		ok, err := c.When.Truth(s.ctx, env)
		if err != nil {
			s.evalErr(err)
			return "", false
		}
		if ok {
			return c.GoTo, true
		}
	}
	s.fail("NO_CHOICE", fmt.Sprintf("state %q: no choose entry matched and there is no default", st.Name))
	return "", false
}

// newTask builds a task from its spec for branch and attempt.
func (s *stepper) newTask(spec *lang.Task, params map[string]any, branch, attempt int) *Task {
	t := &Task{
		ID: "task-" + s.uuid(), JobID: s.j.ID, Type: spec.Type, Params: params, Priority: spec.Priority,
		Branch: branch, Attempt: attempt, Strategy: spec.Strategy, Requires: spec.Requires, MaxCost: spec.MaxCost,
		Timeout: spec.Timeout, DispatchTimeout: spec.DispatchTimeout, EnqueuedAt: s.in.Now,
		Metadata: s.j.Metadata, Security: s.j.Security,
	}
	if s.j.ResultTimeout > 0 {
		t.Timeout = s.j.ResultTimeout
	}
	if t.Timeout <= 0 {
		t.Timeout = s.lim.TaskTimeout
	}
	if s.j.DispatchTimeout > 0 {
		t.DispatchTimeout = s.j.DispatchTimeout
	}
	if t.DispatchTimeout <= 0 {
		t.DispatchTimeout = s.lim.DispatchTimeout
	}
	return t
}

func (s *stepper) enqueue(t *Task) {
	s.eff.Enqueue = append(s.eff.Enqueue, t)
	if t.DispatchTimeout > 0 {
		s.eff.Timers = append(s.eff.Timers, Timer{ID: "dispatch-" + t.ID, JobID: s.j.ID, At: s.in.Now.Add(t.DispatchTimeout),
			Event: Event{Kind: EventDispatchTimeout, TaskID: t.ID, Branch: t.Branch}})
	}
	s.timeline(TimelineEvent{Type: "task_enqueued", TaskID: t.ID, Attempt: t.Attempt, Detail: map[string]any{"type": t.Type}})
}

func (s *stepper) evalParams(spec *lang.Task, env *lang.Env) (map[string]any, bool) {
	if spec.Params == nil {
		return map[string]any{}, true
	}
	v, err := spec.Params.Eval(s.ctx, env)
	if err != nil {
		s.evalErr(err)
		return nil, false
	}
	switch p := v.(type) {
	case map[string]any:
		return p, true
	case nil:
		return map[string]any{}, true
	}
	s.fail("EXPRESSION_ERROR", fmt.Sprintf("state %q: task params must be an object, not %T", s.j.State, v))
	return nil, false
}

func (s *stepper) startTask(st *lang.State) {
	params, ok := s.evalParams(st.Task, s.env())
	if !ok {
		return
	}
	t := s.newTask(st.Task, params, 0, 1)
	s.j.Tasks = []TaskRef{{ID: t.ID, Type: t.Type, Branch: 0, Attempt: 1}}
	s.j.Status = StatusWaitingForWorker
	s.enqueue(t)
}

func (s *stepper) startParallel(st *lang.State) {
	p := st.Parallel
	env := s.env()
	type branch struct {
		spec   *lang.Task
		params map[string]any
	}
	var bs []branch
	if p.Task != nil {
		items, err := p.ForEach.Eval(s.ctx, env)
		if err != nil {
			s.evalErr(err)
			return
		}
		list, ok := items.([]any)
		if !ok && items != nil {
			s.fail("EXPRESSION_ERROR", fmt.Sprintf("state %q: for_each must give a list, not %T", st.Name, items))
			return
		}
		for _, it := range list {
			e := *env
			e.Locals = map[string]any{p.As: it}
			params, ok := s.evalParams(p.Task, &e)
			if !ok {
				return
			}
			bs = append(bs, branch{p.Task, params})
		}
	} else {
		for _, spec := range p.Tasks {
			params, ok := s.evalParams(spec, env)
			if !ok {
				return
			}
			bs = append(bs, branch{spec, params})
		}
	}
	s.j.Results = nil
	if len(bs) == 0 {
		s.timeline(TimelineEvent{Type: "parallel_empty"})
		s.leaveBy(st, "success")
		return
	}
	s.j.Tasks = make([]TaskRef, len(bs))
	s.j.Status = StatusWaitingParallel
	for i, b := range bs {
		t := s.newTask(b.spec, b.params, i, 1)
		s.j.Tasks[i] = TaskRef{ID: t.ID, Type: t.Type, Branch: i, Attempt: 1}
		s.enqueue(t)
	}
}

func (s *stepper) startApproval(st *lang.State) {
	msg := ""
	if st.Approval.Message != nil {
		v, err := st.Approval.Message.Eval(s.ctx, s.env())
		if err != nil {
			s.evalErr(err)
			return
		}
		msg = fmt.Sprint(v)
	}
	s.j.Status = StatusWaitingForHuman
	s.timeline(TimelineEvent{Type: "approval_requested", Detail: map[string]any{"message": msg}})
	if st.Approval.Timeout > 0 {
		s.armTimer("approval", s.in.Now.Add(st.Approval.Timeout))
	}
}

func (s *stepper) startChild(st *lang.State) {
	var input map[string]any
	if st.Blueprint.Input != nil {
		v, err := st.Blueprint.Input.Eval(s.ctx, s.env())
		if err != nil {
			s.evalErr(err)
			return
		}
		m, ok := v.(map[string]any)
		if !ok && v != nil {
			s.fail("EXPRESSION_ERROR", fmt.Sprintf("state %q: child input must be an object, not %T", st.Name, v))
			return
		}
		input = m
	}
	child := &Job{
		ID: s.uuid(), Blueprint: st.Blueprint.Name, Status: StatusPending, Input: input,
		Client: s.j.Client, Parent: &ParentRef{JobID: s.j.ID, State: st.Name},
		Metadata: s.j.Metadata, CreatedAt: s.in.Now, UpdatedAt: s.in.Now,
	}
	s.j.Child = child.ID
	s.j.Status = StatusWaitingForChild
	s.eff.StartChild = append(s.eff.StartChild, child)
	s.timeline(TimelineEvent{Type: "child_started", Detail: map[string]any{"child_id": child.ID, "blueprint": child.Blueprint}})
}

func (s *stepper) startWait(st *lang.State) {
	at := s.in.Now.Add(st.Wait.Duration)
	if st.Wait.Until != nil {
		v, err := st.Wait.Until.Eval(s.ctx, s.env())
		if err != nil {
			s.evalErr(err)
			return
		}
		t, err := parseTime(v)
		if err != nil {
			s.fail("EXPRESSION_ERROR", fmt.Sprintf("state %q: until: %v", st.Name, err))
			return
		}
		at = t
	}
	s.j.Status = StatusWaiting
	s.armTimer("wait", at)
}

func parseTime(v any) (time.Time, error) {
	switch x := v.(type) {
	case string:
		t, err := time.Parse(time.RFC3339Nano, x)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time", x)
		}
		return t, nil
	case int64:
		return time.Unix(x, 0), nil
	case float64:
		sec, frac := math.Modf(x)
		return time.Unix(int64(sec), int64(frac*1e9)), nil
	}
	return time.Time{}, fmt.Errorf("want an RFC 3339 string or Unix seconds, not %T", v)
}

func (s *stepper) armTimer(kind string, at time.Time) {
	id := kind + "-" + s.j.ID + "-" + strconv.Itoa(s.j.Steps)
	s.j.Timer = id
	s.eff.Timers = append(s.eff.Timers, Timer{ID: id, JobID: s.j.ID, At: at, Event: Event{Kind: EventTimer, TimerID: id}})
}

func (s *stepper) cancelTimer() {
	if s.j.Timer != "" {
		s.eff.CancelTimers = append(s.eff.CancelTimers, s.j.Timer)
		s.j.Timer = ""
	}
}

// leaveBy follows the state's transition for status, or fails the job.
func (s *stepper) leaveBy(st *lang.State, status string) {
	next, ok := st.Next(status)
	if !ok {
		switch status {
		case "cancelled":
			s.finish(StatusCancelled, &ErrorInfo{Code: "CANCELLED", Message: fmt.Sprintf("the task of state %q was cancelled", st.Name)})
			return
		}
		msg := fmt.Sprintf("unhandled status %q in state %q: its transitions name %s", status, st.Name, statusList(st))
		code := "UNHANDLED_STATUS"
		if s.j.Error != nil && status == "failure" {
			code, msg = s.j.Error.Code, s.j.Error.Message
		}
		s.fail(code, msg)
		return
	}
	s.enter(next)
}

func statusList(st *lang.State) string {
	if len(st.Transitions) == 0 {
		return "nothing"
	}
	out := ""
	for i, t := range st.Transitions {
		if i > 0 {
			out += ", "
		}
		out += strconv.Quote(t.Status)
	}
	return out
}

// Error code classes of PROTOCOL.md §3.6.
func quarantines(code string) bool {
	switch code {
	case ErrPermanent, ErrSecurity, ErrDependency, ErrContractViolation:
		return true
	}
	return false
}

func failsAtOnce(code string) bool {
	return code == ErrInvalidInput || code == ErrIntegrityMismatch
}

// taskResult applies the result of the job's i-th task.
func (s *stepper) taskResult(i int, res *Result, noRetry bool) {
	j := s.j
	st := s.m.State(j.State)
	if st == nil {
		s.fail("UNKNOWN_STATE", fmt.Sprintf("state %q does not exist in blueprint %q", j.State, s.m.Name))
		return
	}
	parallel := st.Action == lang.ActionParallel
	ref := &j.Tasks[i]
	switch res.Status {
	case "failure":
		code := ErrTransient
		if res.Error != nil && res.Error.Code != "" {
			code = res.Error.Code
		}
		switch {
		case quarantines(code):
			s.finish(StatusQuarantined, errInfo(res, code))
			return
		case failsAtOnce(code) || noRetry:
			s.failedForGood(st, i, res, code)
			return
		}
		if ref.Attempt <= s.retries(st, ref.Branch) {
			s.scheduleRetry(i)
			return
		}
		s.failedForGood(st, i, res, code)
	case "cancelled":
		if parallel {
			s.failedForGood(st, i, res, "CANCELLED")
			return
		}
		j.Tasks = nil
		j.Result = res
		s.leaveBy(st, "cancelled")
	default:
		if parallel {
			if res.Status != "success" {
				s.failedForGood(st, i, res, "UNHANDLED_STATUS")
				return
			}
			ref.Result = res
			for _, t := range j.Tasks {
				if t.Result == nil {
					return // still waiting on other branches
				}
			}
			j.Results = make([]*Result, len(j.Tasks))
			for k, t := range j.Tasks {
				j.Results[k] = t.Result
			}
			j.Tasks = nil
			s.leaveBy(st, "success")
			return
		}
		j.Tasks = nil
		j.Result = res
		if _, ok := st.Next(res.Status); ok {
			s.merge(res.Data)
		}
		s.leaveBy(st, res.Status)
	}
}

func errInfo(res *Result, code string) *ErrorInfo {
	if res.Error != nil {
		e := *res.Error
		if e.Code == "" {
			e.Code = code
		}
		return &e
	}
	return &ErrorInfo{Code: code, Message: "the task failed"}
}

// failedForGood: the task (or branch) will not be retried. The other
// branches are withdrawn; the state's failure transition is taken when it
// has one, else the job fails.
func (s *stepper) failedForGood(st *lang.State, i int, res *Result, code string) {
	j := s.j
	for k, t := range j.Tasks {
		if k != i && t.Result == nil {
			s.eff.Withdraw = append(s.eff.Withdraw, t.ID)
		}
	}
	j.Tasks = nil
	j.Result = res
	j.Error = errInfo(res, code)
	if _, ok := st.Next("failure"); ok {
		s.enter(mustNext(st, "failure"))
		return
	}
	s.finish(StatusFailed, j.Error)
}

func mustNext(st *lang.State, status string) string {
	n, _ := st.Next(status)
	return n
}

func (s *stepper) retries(st *lang.State, branch int) int {
	switch {
	case st.Task != nil:
		return st.Task.Retries
	case st.Parallel != nil && st.Parallel.Task != nil:
		return st.Parallel.Task.Retries
	case st.Parallel != nil && branch < len(st.Parallel.Tasks):
		return st.Parallel.Tasks[branch].Retries
	}
	return 0
}

// scheduleRetry arms a timer for the next attempt after an exponential
// backoff with jitter: base*2^(attempt-1), capped, then a uniform draw in
// [d/2, d] so retries of many jobs spread out but none comes at once.
func (s *stepper) scheduleRetry(i int) {
	ref := s.j.Tasks[i]
	d := s.lim.BackoffBase << min(ref.Attempt-1, 30)
	if d <= 0 || d > s.lim.BackoffMax {
		d = s.lim.BackoffMax
	}
	d = d/2 + time.Duration(s.rand63()%uint64(d/2+1))
	if s.m.State(s.j.State).Action == lang.ActionTask {
		s.j.Status = StatusAwaitingRetry
	}
	s.eff.Timers = append(s.eff.Timers, Timer{ID: "retry-" + ref.ID, JobID: s.j.ID, At: s.in.Now.Add(d),
		Event: Event{Kind: EventTimer, TaskID: ref.ID, Branch: ref.Branch}})
	s.timeline(TimelineEvent{Type: "retry_scheduled", TaskID: ref.ID, Attempt: ref.Attempt, Detail: map[string]any{"delay_ms": d.Milliseconds()}})
}

// retryNow enqueues the next attempt of the job's i-th task.
func (s *stepper) retryNow(i int) {
	st := s.m.State(s.j.State)
	ref := &s.j.Tasks[i]
	var spec *lang.Task
	env := s.env()
	switch {
	case st.Task != nil:
		spec = st.Task
	case st.Parallel.Task != nil:
		spec = st.Parallel.Task
		items, err := st.Parallel.ForEach.Eval(s.ctx, env)
		if err != nil {
			s.evalErr(err)
			return
		}
		list, _ := items.([]any)
		if ref.Branch >= len(list) {
			s.fail("EXPRESSION_ERROR", "for_each changed between attempts")
			return
		}
		env.Locals = map[string]any{st.Parallel.As: list[ref.Branch]}
	default:
		spec = st.Parallel.Tasks[ref.Branch]
	}
	params, ok := s.evalParams(spec, env)
	if !ok {
		return
	}
	t := s.newTask(spec, params, ref.Branch, ref.Attempt+1)
	ref.ID, ref.Attempt = t.ID, t.Attempt
	if st.Action == lang.ActionTask {
		s.j.Status = StatusWaitingForWorker
	}
	s.enqueue(t)
}

func (s *stepper) fail(code, msg string) {
	s.finish(StatusFailed, &ErrorInfo{Code: code, Message: msg})
}

// finish ends the job: withdraws what it waits on, notifies listeners and
// the parent.
func (s *stepper) finish(status Status, e *ErrorInfo) {
	j := s.j
	for _, t := range j.Tasks {
		if t.Result == nil {
			s.eff.Withdraw = append(s.eff.Withdraw, t.ID)
		}
	}
	j.Tasks = nil
	s.cancelTimer()
	if j.Child != "" {
		s.eff.Timers = append(s.eff.Timers, Timer{ID: "cancel-" + j.Child, JobID: j.Child, At: s.in.Now, Event: Event{Kind: EventCancel, Reason: "the parent job ended"}})
		j.Child = ""
	}
	j.Status = status
	if e != nil {
		j.Error = e
	} else if status == StatusFinished {
		j.Error = nil
	}
	j.FinishedAt = s.in.Now
	event := map[Status]string{StatusFinished: "job_finished", StatusFailed: "job_failed", StatusQuarantined: "job_quarantined", StatusCancelled: "job_cancelled"}[status]
	s.eff.Notify = &Notification{Event: event, JobID: j.ID, Status: status}
	detail := map[string]any{"status": string(status)}
	if j.Error != nil {
		detail["error"] = j.Error.Message
	}
	s.timeline(TimelineEvent{Type: event, Detail: detail})
	if j.Parent != nil {
		outcome := "failure"
		if status == StatusFinished {
			outcome = "success"
		}
		s.eff.Timers = append(s.eff.Timers, Timer{ID: "child-" + j.ID, JobID: j.Parent.JobID, At: s.in.Now,
			Event: Event{Kind: EventChildFinished, ChildID: j.ID, Outcome: outcome}})
	}
}

func (s *stepper) timeline(e TimelineEvent) {
	e.At = s.in.Now
	if e.State == "" {
		e.State = s.j.State
	}
	s.eff.Timeline = append(s.eff.Timeline, e)
}

func resultDetail(r *Result) map[string]any {
	d := map[string]any{"status": r.Status}
	if r.Error != nil {
		d["error_code"] = r.Error.Code
		d["error"] = r.Error.Message
	}
	return d
}

// uuid draws a version 4 UUID from the step's randomness.
func (s *stepper) uuid() string {
	var b [16]byte
	if s.in.Rand == nil || func() bool { _, err := io.ReadFull(s.in.Rand, b[:]); return err != nil }() {
		// No randomness given: derive from the job and step (tests only).
		binary.BigEndian.PutUint64(b[:8], uint64(s.in.Now.UnixNano()))
		binary.BigEndian.PutUint64(b[8:], uint64(s.j.Steps)<<32|uint64(len(s.eff.Enqueue)+len(s.eff.StartChild)))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func (s *stepper) rand63() uint64 {
	var b [8]byte
	if s.in.Rand != nil {
		if _, err := io.ReadFull(s.in.Rand, b[:]); err == nil {
			return binary.BigEndian.Uint64(b[:]) >> 1
		}
	}
	return 0
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
