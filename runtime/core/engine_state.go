package core

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// enter moves the job into a state and runs it: set, store, then the
// action. go_to and choose move on at once; every state entered counts
// against Limits.MaxSteps.
func (s *stepper) enter(name string) {
	j := s.j
	for !s.done() {
		st := s.m.State(name)
		if st == nil {
			s.fail(wire.CodeUnknownState, fmt.Sprintf("state %q does not exist in blueprint %q", name, s.m.Name))
			return
		}
		j.Steps++
		if j.Steps > s.lim.MaxSteps {
			s.fail(wire.CodeTransitionLimit, fmt.Sprintf("transition limit exceeded: more than %d states entered, the next %q (a loop?)", s.lim.MaxSteps, name))
			return
		}
		prev := j.State
		s.leave()
		j.State = name
		j.Status = wire.StatusRunning
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
				s.finish(wire.StatusFinished, nil)
				return
			}
			e := j.Error // the handled failure that led here, if any
			if e == nil {
				e = &wire.Error{Code: wire.CodeEndFailure, Message: fmt.Sprintf("the job ended in failure state %q", name)}
			}
			s.finish(wire.StatusFailed, e)
		default:
			s.fail(wire.CodeUnknownState, fmt.Sprintf("state %q has no action the engine knows (%q)", name, st.Action))
		}
		return
	}
}

// leave drops what the job waited on in its current state: open tasks are
// withdrawn and armed timers disarmed.
func (s *stepper) leave() {
	j := s.j
	for _, t := range j.Tasks.All() {
		if t.Result == nil {
			s.fx.Withdraw = append(s.fx.Withdraw, t.ID)
		}
		if t.Timer != "" {
			s.fx.CancelTimers = append(s.fx.CancelTimers, t.Timer)
		}
	}
	s.setTasks(nil)
	j.BranchesDone = 0
	j.ApprovalMessage = ""
	j.ApprovalDeadline = time.Time{}
	s.cancelTimer()
}

// leaveBy follows the state's transition for status, or fails the job
// naming the status.
func (s *stepper) leaveBy(st *lang.State, status string) {
	next, ok := st.Next(status)
	if !ok {
		if status == wire.ResultCancelled {
			s.finish(wire.StatusCancelled, &wire.Error{Code: wire.CodeCancelled, Message: fmt.Sprintf("state %q: the task was cancelled", st.Name)})
			return
		}
		s.fail(wire.CodeUnhandledStatus, fmt.Sprintf("unhandled status %q in state %q: its transitions name %s", status, st.Name, statusList(st)))
		return
	}
	s.enter(next)
}

func statusList(st *lang.State) string {
	if len(st.Transitions) == 0 {
		return "none"
	}
	names := make([]string, len(st.Transitions))
	for i, t := range st.Transitions {
		names[i] = strconv.Quote(t.Status)
	}
	return strings.Join(names, ", ")
}

// env is what expressions see now.
func (s *stepper) env() *lang.Env {
	j := s.j
	e := &lang.Env{
		Input:   j.Input,
		History: j.History,
		Job:     lang.JobInfo{ID: j.ID, Blueprint: j.Blueprint, State: j.State, CreatedAt: j.CreatedAt, Attempt: 1},
		Client:  make(map[string]any, len(j.Client.Fields)+2),
		Stores:  s.in.Stores,
	}
	if j.Input == nil {
		e.Input = map[string]any{}
	}
	maps.Copy(e.Client, j.Client.Fields)
	e.Client["name"] = j.Client.Name
	e.Client["plan"] = j.Client.Plan
	if j.Result != nil {
		e.Result = j.Result.value()
	}
	if len(j.Results) > 0 {
		e.Results = make([]any, len(j.Results))
		for i, r := range j.Results {
			if r != nil {
				e.Results[i] = r.value()
			}
		}
	}
	return e
}

// value is a result as expressions see it: {status, data, error}.
func (r *Result) value() map[string]any {
	out := map[string]any{"status": r.Status, "data": map[string]any{}, "error": nil}
	if r.Data != nil {
		out["data"] = r.Data
	}
	if r.Error != nil {
		e := map[string]any{"code": r.Error.Code, "message": r.Error.Message}
		if r.Error.Details != nil {
			e["details"] = r.Error.Details
		}
		out["error"] = e
	}
	return out
}

// eval evaluates v; an expression error fails the job (false), and an
// ended context aborts the step.
func (s *stepper) eval(v *lang.Value, env *lang.Env) (any, bool) {
	out, err := v.Eval(s.ctx, env)
	if err != nil {
		s.evalErr(err)
		return nil, false
	}
	return out, true
}

func (s *stepper) evalErr(err error) {
	if cerr := s.ctx.Err(); cerr != nil {
		s.abort(fmt.Errorf("step job %s in state %q: %w", s.j.ID, s.j.State, cerr))
		return
	}
	var ee *lang.EvalError
	if !errors.As(err, &ee) {
		err = fmt.Errorf("state %q: %w", s.j.State, err)
	}
	s.fail(wire.CodeExpressionError, err.Error())
}

// setHistory writes one key of the job's history (copy on write).
func (s *stepper) setHistory(key string, v any) {
	if !s.historyOwn {
		h := make(map[string]any, len(s.j.History)+1)
		maps.Copy(h, s.j.History)
		s.j.History = h
		s.historyOwn = true
	}
	s.j.History[key] = v
}

// merge shallow-merges data into the job's history.
func (s *stepper) merge(data map[string]any) {
	for k, v := range data {
		s.setHistory(k, v)
	}
}

// runSetStore runs a state's set (into history, each entry seeing the
// ones before) and store (StoreWrites effects) entries.
func (s *stepper) runSetStore(st *lang.State) bool {
	if len(st.Set) > 0 {
		env := s.env()
		for _, a := range st.Set {
			v, ok := s.eval(a.Value, env)
			if !ok {
				return false
			}
			s.setHistory(a.Key, v)
			env.History = s.j.History
		}
	}
	if len(st.Store) > 0 {
		env := s.env()
		for _, w := range st.Store {
			k, ok := s.eval(w.Key, env)
			if !ok {
				return false
			}
			v, ok := s.eval(w.Value, env)
			if !ok {
				return false
			}
			var key string
			switch x := k.(type) {
			case string:
				key = x
			case int64, float64, bool:
				key = fmt.Sprint(x)
			default:
				s.fail(wire.CodeExpressionError, fmt.Sprintf("state %q: %s: key of store %q must be a string, not %s", st.Name, w.Pos, w.Store, typeName(k)))
				return false
			}
			s.fx.StoreWrites = append(s.fx.StoreWrites, StoreWrite{Blueprint: s.m.Name, Store: w.Store, Key: key, Value: v})
		}
	}
	return true
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
	s.fail(wire.CodeNoChoice, fmt.Sprintf("state %q: no choose entry matched and there is no default", st.Name))
	return "", false
}

func (s *stepper) startTask(st *lang.State) {
	params, ok := s.evalParams(st, st.Task, s.env())
	if !ok {
		return
	}
	t := s.newTask(st.Task, params, 0, 1)
	s.j.Status = wire.StatusWaitingForWorker
	s.setTasks([]TaskRef{{ID: t.ID, Type: t.Type, Branch: 0, Attempt: 1, Timer: s.enqueue(t)}})
}

func (s *stepper) startParallel(st *lang.State) {
	p := st.Parallel
	env := s.env()
	var specs []*lang.Task
	var params []map[string]any
	if p.Task != nil {
		list, ok := s.forEach(st, env)
		if !ok {
			return
		}
		for _, it := range list {
			e := *env
			e.Locals = map[string]any{p.As: it}
			pm, ok := s.evalParams(st, p.Task, &e)
			if !ok {
				return
			}
			specs = append(specs, p.Task)
			params = append(params, pm)
		}
	} else {
		for _, spec := range p.Tasks {
			pm, ok := s.evalParams(st, spec, env)
			if !ok {
				return
			}
			specs = append(specs, spec)
			params = append(params, pm)
		}
	}
	s.j.Results = nil
	if len(specs) == 0 {
		s.timeline(TimelineEvent{Type: "parallel_empty"})
		s.j.Result = &Result{Status: wire.ResultSuccess}
		s.j.Results = []*Result{}
		s.leaveBy(st, wire.ResultSuccess)
		return
	}
	refs := make([]TaskRef, len(specs))
	s.j.Status = wire.StatusWaitingParallel
	for i, spec := range specs {
		t := s.newTask(spec, params[i], i, 1)
		refs[i] = TaskRef{ID: t.ID, Type: t.Type, Branch: i, Attempt: 1, Timer: s.enqueue(t)}
	}
	s.setTasks(refs)
}

// forEach evaluates a parallel's for_each list.
func (s *stepper) forEach(st *lang.State, env *lang.Env) ([]any, bool) {
	items, ok := s.eval(st.Parallel.ForEach, env)
	if !ok {
		return nil, false
	}
	list, isList := items.([]any)
	if !isList && items != nil {
		s.fail(wire.CodeExpressionError, fmt.Sprintf("state %q: %s: for_each must give a list, not %s", st.Name, st.Parallel.ForEach.Pos, typeName(items)))
		return nil, false
	}
	return list, true
}

func (s *stepper) evalParams(st *lang.State, spec *lang.Task, env *lang.Env) (map[string]any, bool) {
	if spec.Params == nil {
		return nil, true
	}
	v, ok := s.eval(spec.Params, env)
	if !ok {
		return nil, false
	}
	switch p := v.(type) {
	case map[string]any:
		return p, true
	case nil:
		return nil, true
	}
	s.fail(wire.CodeExpressionError, fmt.Sprintf("state %q: %s: params of task %q must be an object, not %s", st.Name, spec.Params.Pos, spec.Type, typeName(v)))
	return nil, false
}

// newTask builds attempt of a task from its spec. The job's client
// overrides (dispatch_timeout, result_timeout) win over the blueprint;
// Limits fill what neither sets.
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

// enqueue queues a task and arms its dispatch timeout; it returns the
// timer's id, or "" when the task may wait for a worker forever.
func (s *stepper) enqueue(t *Task) string {
	s.fx.Enqueue = append(s.fx.Enqueue, t)
	s.timeline(TimelineEvent{Type: "task_enqueued", TaskID: t.ID, Attempt: t.Attempt, Detail: map[string]any{"type": t.Type, "branch": t.Branch}})
	if t.DispatchTimeout <= 0 {
		return ""
	}
	id := "dispatch-" + t.ID
	s.fx.Timers = append(s.fx.Timers, Timer{ID: id, JobID: s.j.ID, At: s.in.Now.Add(t.DispatchTimeout),
		Event: Event{Kind: EventDispatchTimeout, TaskID: t.ID, Branch: t.Branch, TimerID: id}})
	return id
}

func (s *stepper) startApproval(st *lang.State) {
	msg := ""
	if st.Approval.Message != nil {
		v, ok := s.eval(st.Approval.Message, s.env())
		if !ok {
			return
		}
		switch x := v.(type) {
		case string:
			msg = x
		case nil:
		default:
			b, err := json.Marshal(x)
			if err != nil {
				s.fail(wire.CodeExpressionError, fmt.Sprintf("state %q: approval message: %v", st.Name, err))
				return
			}
			msg = string(b)
		}
	}
	s.j.Status = wire.StatusWaitingForHuman
	s.j.ApprovalMessage = msg
	detail := map[string]any{"message": msg}
	if st.Approval.Timeout > 0 {
		at := s.in.Now.Add(st.Approval.Timeout)
		s.armTimer("approval", at)
		s.j.ApprovalDeadline = at
		detail["timeout_at"] = at.UTC().Format(time.RFC3339)
	}
	s.timeline(TimelineEvent{Type: "approval_requested", Detail: detail})
}

func (s *stepper) startChild(st *lang.State) {
	var input map[string]any
	if st.Blueprint.Input != nil {
		v, ok := s.eval(st.Blueprint.Input, s.env())
		if !ok {
			return
		}
		m, isMap := v.(map[string]any)
		if !isMap && v != nil {
			s.fail(wire.CodeExpressionError, fmt.Sprintf("state %q: %s: input of blueprint %q must be an object, not %s", st.Name, st.Blueprint.Input.Pos, st.Blueprint.Name, typeName(v)))
			return
		}
		input = m
	}
	child := &Job{
		ID: s.uuid(), Blueprint: st.Blueprint.Name, Status: wire.StatusPending, Input: input,
		Client: s.j.Client, Parent: &ParentRef{JobID: s.j.ID, State: st.Name},
		Metadata: s.j.Metadata, Security: s.j.Security, CreatedAt: s.in.Now, UpdatedAt: s.in.Now,
	}
	s.j.Child = child.ID
	// Clipped: the slice may share its array with the job this step copied.
	s.j.Children = append(slices.Clip(s.j.Children), child.ID)
	s.j.Status = wire.StatusWaitingForChild
	s.fx.StartChild = append(s.fx.StartChild, child)
	s.timeline(TimelineEvent{Type: "child_started", Detail: map[string]any{"child_id": child.ID, "blueprint": child.Blueprint}})
}

func (s *stepper) startWait(st *lang.State) {
	at := s.in.Now.Add(st.Wait.Duration)
	if st.Wait.Until != nil {
		v, ok := s.eval(st.Wait.Until, s.env())
		if !ok {
			return
		}
		t, err := parseTime(v)
		if err != nil {
			s.fail(wire.CodeExpressionError, fmt.Sprintf("state %q: %s: until: %v", st.Name, st.Wait.Until.Pos, err))
			return
		}
		at = t
	}
	s.j.Status = wire.StatusWaiting
	s.armTimer("wait", at)
	s.timeline(TimelineEvent{Type: "waiting", Detail: map[string]any{"until": at.UTC().Format(time.RFC3339Nano)}})
}

// parseTime reads a wait's until: an RFC 3339 string or Unix seconds.
func parseTime(v any) (time.Time, error) {
	switch x := v.(type) {
	case string:
		t, err := time.Parse(time.RFC3339Nano, x)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time", x)
		}
		return t, nil
	case int64:
		return time.Unix(x, 0).UTC(), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) || math.Abs(x) > 1e15 {
			return time.Time{}, fmt.Errorf("%v is not a Unix time in seconds", x)
		}
		sec, frac := math.Modf(x)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("want an RFC 3339 string or Unix seconds, not %s", typeName(v))
}

// armTimer arms the job's state timer (wait, approval timeout). Its id is
// unique: the job and the number of states entered.
func (s *stepper) armTimer(kind string, at time.Time) {
	id := kind + "-" + s.j.ID + "-" + strconv.Itoa(s.j.Steps)
	s.j.Timer = id
	s.fx.Timers = append(s.fx.Timers, Timer{ID: id, JobID: s.j.ID, At: at, Event: Event{Kind: EventTimer, TimerID: id}})
}

func (s *stepper) cancelTimer() {
	if s.j.Timer != "" {
		s.fx.CancelTimers = append(s.fx.CancelTimers, s.j.Timer)
		s.j.Timer = ""
	}
}

// typeName names a JSON value's type for messages.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64, int, float64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
