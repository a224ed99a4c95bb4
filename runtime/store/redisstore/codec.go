package redisstore

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
)

// Stored jobs, tasks and timeline events are their JSON with short field
// names, zero values left out, what the record around them already holds
// (ids, rev, status, version, task type) dropped, and times as integer
// nanoseconds: Redis memory per queued job is dominated by these values.
// Job times other than the creation time, and timeline times, are offsets
// from the job's creation time (kept beside the JSON, see lib.lua). Nested
// values (input, history, params, results) are kept exactly as they are.
//
// Each value has its own stored struct below, converted to and from the
// core type field by field: one Marshal and one Unmarshal per value. A
// field added to a core type must be added to its stored struct too
// (TestCodecEveryField fails until it is).

// storedJob is a job as stored: core.Job without ID, Rev, Status, Version
// and CreatedAt.
type storedJob struct {
	Blueprint       string          `json:"b,omitempty"`
	State           string          `json:"s,omitempty"`
	Input           map[string]any  `json:"in,omitempty"`
	History         map[string]any  `json:"h,omitempty"`
	Result          *core.Result    `json:"r,omitempty"`
	Results         []*core.Result  `json:"R,omitempty"`
	Client          *core.Client    `json:"c,omitempty"` // nil when zero
	Tasks           []storedRef     `json:"t,omitzero"`  // nil: no tasks; empty: []
	BranchesDone    int             `json:"bd,omitempty"`
	ApprovalMessage string          `json:"am,omitempty"`
	Child           string          `json:"ch,omitempty"`
	Parent          *core.ParentRef `json:"p,omitempty"`
	Timer           string          `json:"tm,omitempty"`
	Error           *core.ErrorInfo `json:"e,omitempty"`
	Steps           int             `json:"n,omitempty"`
	WebhookURL      string          `json:"wh,omitempty"`
	Metadata        map[string]any  `json:"m,omitempty"`
	Security        any             `json:"sec,omitempty"`
	DispatchTimeout time.Duration   `json:"dt,omitempty"`
	ResultTimeout   time.Duration   `json:"rt,omitempty"`
	Progress        float64         `json:"pg,omitempty"`
	ProgressMessage string          `json:"pm,omitempty"`
	UpdatedAt       *int64          `json:"ua,omitempty"` // ns after the creation time; nil: zero time
	FinishedAt      *int64          `json:"fa,omitempty"`
}

// storedRef is a core.TaskRef as stored.
type storedRef struct {
	ID      string       `json:"i,omitempty"`
	Type    string       `json:"y,omitempty"`
	Branch  int          `json:"b,omitempty"`
	Attempt int          `json:"a,omitempty"`
	Result  *core.Result `json:"r,omitempty"`
	Timer   string       `json:"tm,omitempty"`
}

// storedTask is a task as stored: core.Task without ID, JobID and Type
// (the task's record holds them) and the lease fields (kept beside it).
type storedTask struct {
	Params          map[string]any `json:"p,omitempty"`
	Priority        float64        `json:"pr,omitempty"`
	Branch          int            `json:"br,omitempty"`
	Attempt         int            `json:"at,omitempty"`
	Timeout         time.Duration  `json:"to,omitempty"`
	DispatchTimeout time.Duration  `json:"dt,omitempty"`
	Strategy        string         `json:"st,omitempty"`
	Requires        map[string]any `json:"rq,omitempty"`
	MaxCost         *float64       `json:"mc,omitempty"`
	Metadata        map[string]any `json:"m,omitempty"`
	Security        any            `json:"sec,omitempty"`
	TracingContext  map[string]any `json:"tc,omitempty"`
	EnqueuedAt      *int64         `json:"ea,omitempty"` // Unix ns; nil: zero time
}

// jobRefs and setJobRefs are the codec's only access to Job.Tasks.
func jobRefs(j *core.Job) []core.TaskRef { return j.Tasks.Slice() }

func setJobRefs(j *core.Job, refs []core.TaskRef) { j.Tasks = core.NewTaskRefs(refs...) }

// decodeStrict decodes one stored JSON value into dst; a field dst does
// not know is an error (data written by a newer version).
func decodeStrict(s string, dst any) error {
	d := json.NewDecoder(strings.NewReader(s))
	d.DisallowUnknownFields()
	return d.Decode(dst)
}

// base is the job's creation time as stored: nanoseconds in text, "" for
// the zero time. Other times are stored relative to it.
func base(created time.Time) string {
	if created.IsZero() {
		return ""
	}
	return strconv.FormatInt(created.UnixNano(), 10)
}

func parseBase(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	return strconv.ParseInt(s, 10, 64)
}

// offset is t in nanoseconds after b, nil for the zero time.
func offset(t time.Time, b int64) *int64 {
	if t.IsZero() {
		return nil
	}
	n := t.UnixNano() - b
	return &n
}

// fromOffset reverses offset.
func fromOffset(n *int64, b int64) time.Time {
	if n == nil {
		return time.Time{}
	}
	return time.Unix(0, *n+b).UTC()
}

func encodeJob(j *core.Job) (string, error) {
	var b int64
	if !j.CreatedAt.IsZero() {
		b = j.CreatedAt.UnixNano()
	}
	sj := storedJob{
		Blueprint: j.Blueprint, State: j.State, Input: j.Input, History: j.History, Result: j.Result,
		Results: j.Results, BranchesDone: j.BranchesDone, ApprovalMessage: j.ApprovalMessage, Child: j.Child,
		Parent: j.Parent, Timer: j.Timer, Error: j.Error, Steps: j.Steps, WebhookURL: j.WebhookURL,
		Metadata: j.Metadata, Security: j.Security, DispatchTimeout: j.DispatchTimeout,
		ResultTimeout: j.ResultTimeout, Progress: j.Progress, ProgressMessage: j.ProgressMessage,
		UpdatedAt: offset(j.UpdatedAt, b), FinishedAt: offset(j.FinishedAt, b),
	}
	if c := j.Client; c.Name != "" || c.Plan != "" || len(c.Fields) > 0 {
		sj.Client = &j.Client
	}
	if refs := jobRefs(j); refs != nil {
		sj.Tasks = make([]storedRef, len(refs))
		for i, r := range refs {
			sj.Tasks[i] = storedRef{ID: r.ID, Type: r.Type, Branch: r.Branch, Attempt: r.Attempt, Result: r.Result, Timer: r.Timer}
		}
	}
	out, err := json.Marshal(&sj)
	if err != nil {
		return "", fmt.Errorf("encode job %q: %w", j.ID, err)
	}
	return string(out), nil
}

// decodeJob rebuilds a job from its stored parts.
func decodeJob(id, d, rev, status, version, created string) (*core.Job, error) {
	var sj storedJob
	if err := decodeStrict(d, &sj); err != nil {
		return nil, fmt.Errorf("decode stored job %q: %w", id, err)
	}
	r, err := strconv.ParseInt(rev, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("decode stored job %q: rev %q", id, rev)
	}
	b, err := parseBase(created)
	if err != nil {
		return nil, fmt.Errorf("decode stored job %q: created %q", id, created)
	}
	j := &core.Job{
		ID: id, Blueprint: sj.Blueprint, Version: version, Rev: r, State: sj.State, Status: statusName(status),
		Input: sj.Input, History: sj.History, Result: sj.Result, Results: sj.Results,
		BranchesDone: sj.BranchesDone, ApprovalMessage: sj.ApprovalMessage, Child: sj.Child, Parent: sj.Parent,
		Timer: sj.Timer, Error: sj.Error, Steps: sj.Steps, WebhookURL: sj.WebhookURL, Metadata: sj.Metadata,
		Security: sj.Security, DispatchTimeout: sj.DispatchTimeout, ResultTimeout: sj.ResultTimeout,
		Progress: sj.Progress, ProgressMessage: sj.ProgressMessage,
		UpdatedAt: fromOffset(sj.UpdatedAt, b), FinishedAt: fromOffset(sj.FinishedAt, b),
	}
	if created != "" {
		j.CreatedAt = time.Unix(0, b).UTC()
	}
	if sj.Client != nil {
		j.Client = *sj.Client
	}
	if sj.Tasks != nil {
		refs := make([]core.TaskRef, len(sj.Tasks))
		for i, r := range sj.Tasks {
			refs[i] = core.TaskRef{ID: r.ID, Type: r.Type, Branch: r.Branch, Attempt: r.Attempt, Result: r.Result, Timer: r.Timer}
		}
		setJobRefs(j, refs)
	}
	return j, nil
}

// encodeTask leaves out the id, job id and type (the task's record holds
// them) and the lease fields (kept beside the JSON).
func encodeTask(t *core.Task) (string, error) {
	st := storedTask{
		Params: t.Params, Priority: t.Priority, Branch: t.Branch, Attempt: t.Attempt, Timeout: t.Timeout,
		DispatchTimeout: t.DispatchTimeout, Strategy: t.Strategy, Requires: t.Requires, MaxCost: t.MaxCost,
		Metadata: t.Metadata, Security: t.Security, TracingContext: t.TracingContext, EnqueuedAt: offset(t.EnqueuedAt, 0),
	}
	out, err := json.Marshal(&st)
	if err != nil {
		return "", fmt.Errorf("encode task %q: %w", t.ID, err)
	}
	return string(out), nil
}

func decodeTask(d, id, jobID, typ string) (*core.Task, error) {
	var st storedTask
	if err := decodeStrict(d, &st); err != nil {
		return nil, fmt.Errorf("decode stored task %q: %w", id, err)
	}
	return &core.Task{
		ID: id, JobID: jobID, Type: typ, Params: st.Params, Priority: st.Priority, Branch: st.Branch,
		Attempt: st.Attempt, Timeout: st.Timeout, DispatchTimeout: st.DispatchTimeout, Strategy: st.Strategy,
		Requires: st.Requires, MaxCost: st.MaxCost, Metadata: st.Metadata, Security: st.Security,
		TracingContext: st.TracingContext, EnqueuedAt: fromOffset(st.EnqueuedAt, 0),
	}, nil
}

// Timeline events are kept as compact JSON lines appended to the job's
// record. A line's time "a" is in nanoseconds after the job's creation
// time; a line without one has the time of the line before it (the first
// line a commit writes always has one), and "z" marks the zero time. A
// line "@<ns>" sets another base for the lines after it (written only when
// a job's creation time changed). The event types the engine writes are
// numbers (eventTypes); others are kept as text.
type storedEvent struct {
	At        *int64         `json:"a,omitempty"`
	Zero      int            `json:"z,omitempty"` // 1: the zero time
	Type      any            `json:"y,omitempty"` // a number (eventTypes) or the name
	State     string         `json:"s,omitempty"`
	PrevState string         `json:"ps,omitempty"`
	NextState string         `json:"ns,omitempty"`
	TaskID    string         `json:"t,omitempty"`
	WorkerID  string         `json:"w,omitempty"`
	Attempt   int            `json:"n,omitempty"`
	Detail    map[string]any `json:"d,omitempty"`
}

// eventTypes are the numbered event types. Stored data refers to them by
// position: append only.
var eventTypes = []string{"created", "state_entered", "task_enqueued", "retry_scheduled", "approval",
	"approval_requested", "cancel_requested", "wait_over", "waiting", "child_started", "child_finished",
	"parallel_empty", "task_result", "task_timeout", "dispatch_timeout"}

var eventCodes = func() map[string]int {
	m := make(map[string]int, len(eventTypes))
	for i, t := range eventTypes {
		m[t] = i
	}
	return m
}()

// encodeEvent encodes e with base b; prev is the time of the line before
// it in the same commit (nil for the first).
func encodeEvent(e core.TimelineEvent, b int64, prev *time.Time) (string, error) {
	se := storedEvent{State: e.State, PrevState: e.PrevState, NextState: e.NextState, TaskID: e.TaskID,
		WorkerID: e.WorkerID, Attempt: e.Attempt, Detail: e.Detail}
	switch {
	case e.At.IsZero():
		se.Zero = 1
	case prev == nil || prev.IsZero() || !prev.Equal(e.At):
		se.At = offset(e.At, b)
	}
	if n, ok := eventCodes[e.Type]; ok {
		se.Type = n
	} else {
		se.Type = e.Type
	}
	out, err := json.Marshal(&se)
	return string(out), err
}

func decodeEvent(s string, b int64, prev time.Time) (core.TimelineEvent, error) {
	var se storedEvent
	if err := decodeStrict(s, &se); err != nil {
		return core.TimelineEvent{}, err
	}
	e := core.TimelineEvent{State: se.State, PrevState: se.PrevState, NextState: se.NextState, TaskID: se.TaskID,
		WorkerID: se.WorkerID, Attempt: se.Attempt, Detail: se.Detail}
	switch {
	case se.Zero != 0:
	case se.At != nil:
		e.At = fromOffset(se.At, b)
	default:
		e.At = prev
	}
	switch y := se.Type.(type) {
	case nil:
	case string:
		e.Type = y
	case float64:
		n := int(y)
		if float64(n) != y || n < 0 || n >= len(eventTypes) {
			return e, fmt.Errorf("unknown event type %v", y)
		}
		e.Type = eventTypes[n]
	default:
		return e, fmt.Errorf("unknown event type %v", y)
	}
	return e, nil
}

// decodeTimeline reads the stored lines of a job created at created.
func decodeTimeline(created, lines string) ([]core.TimelineEvent, error) {
	b, err := parseBase(created)
	if err != nil {
		return nil, fmt.Errorf("created %q", created)
	}
	var out []core.TimelineEvent
	var prev time.Time
	for line := range strings.SplitSeq(lines, "\n") {
		if line == "" {
			continue
		}
		if nb, ok := strings.CutPrefix(line, "@"); ok {
			if b, err = parseBase(nb); err != nil {
				return nil, fmt.Errorf("base %q", nb)
			}
			continue
		}
		ev, err := decodeEvent(line, b, prev)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
		prev = ev.At
	}
	return out, nil
}

// statuses are the job statuses stored as their position in this list (a
// job record and the stc counts hold the code, not the name). Stored data
// refers to them by position: append only. Another status is stored as
// "~" and its name.
var statuses = []core.Status{core.StatusPending, core.StatusRunning, core.StatusWaitingForWorker,
	core.StatusWaitingForHuman, core.StatusWaitingParallel, core.StatusWaitingForChild, core.StatusWaiting,
	core.StatusAwaitingRetry, core.StatusFinished, core.StatusFailed, core.StatusCancelled, core.StatusQuarantined}

var statusCodes = func() map[core.Status]string {
	m := make(map[core.Status]string, len(statuses))
	for i, s := range statuses {
		m[s] = strconv.Itoa(i)
	}
	return m
}()

func statusCode(s core.Status) string {
	if c, ok := statusCodes[s]; ok {
		return c
	}
	return "~" + string(s)
}

func statusName(code string) core.Status {
	if name, ok := strings.CutPrefix(code, "~"); ok {
		return core.Status(name)
	}
	if n, err := strconv.Atoi(code); err == nil && n >= 0 && n < len(statuses) {
		return statuses[n]
	}
	return core.Status(code)
}
