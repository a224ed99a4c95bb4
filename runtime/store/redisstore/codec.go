package redisstore

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// Stored jobs and tasks are their JSON with short field names, zero values
// left out, what the record around them already holds (ids, rev, status,
// version, blueprint, task type and timeout) dropped, task ids packed
// (ids.go) and times as integer nanoseconds: Redis memory per queued job
// is dominated by these values. Times other than the job's creation time
// are offsets from it (the record keeps it, see lib.lua). Nested values
// (input, history, params, results) are kept exactly as they are.
// Timeline events are lines of their own format (encodeEvent).
//
// Each value has its own stored struct below, converted to and from the
// core type field by field: one Marshal and one Unmarshal per value. A
// field added to a core type must be added to its stored struct too
// (TestCodecEveryField fails until it is).

// storedJob is a job as stored: core.Job without ID, Rev, Status, Version,
// Blueprint and CreatedAt.
type storedJob struct {
	State            string          `json:"s,omitempty"`
	Input            map[string]any  `json:"in,omitempty"`
	History          map[string]any  `json:"h,omitempty"`
	Result           *core.Result    `json:"r,omitempty"`
	Results          []*core.Result  `json:"R,omitempty"`
	Client           *core.Client    `json:"c,omitempty"` // nil when zero
	Tasks            []storedRef     `json:"t,omitzero"`  // nil: no tasks; empty: []
	BranchesDone     int             `json:"bd,omitempty"`
	ApprovalMessage  string          `json:"am,omitempty"`
	Child            string          `json:"ch,omitempty"`
	Parent           *core.ParentRef `json:"p,omitempty"`
	Timer            string          `json:"tm,omitempty"`
	Error            *wire.Error     `json:"e,omitempty"`
	Steps            int             `json:"n,omitempty"`
	WebhookURL       string          `json:"wh,omitempty"`
	Metadata         map[string]any  `json:"m,omitempty"`
	Security         any             `json:"sec,omitempty"`
	DispatchTimeout  time.Duration   `json:"dt,omitempty"`
	ResultTimeout    time.Duration   `json:"rt,omitempty"`
	Progress         float64         `json:"pg,omitempty"`
	ProgressMessage  string          `json:"pm,omitempty"`
	ApprovalDeadline *int64          `json:"ad,omitempty"` // ns after the creation time; nil: zero time
	Children         []string        `json:"chs,omitempty"`
	UpdatedAt        *int64          `json:"ua,omitempty"` // ns after the creation time; nil: zero time
	FinishedAt       *int64          `json:"fa,omitempty"`
}

// storedRef is a core.TaskRef as stored, its id packed.
type storedRef struct {
	ID      string       `json:"i,omitempty"`
	Type    string       `json:"y,omitempty"`
	Branch  int          `json:"b,omitempty"`
	Attempt int          `json:"a,omitempty"`
	Result  *core.Result `json:"r,omitempty"`
	Timer   string       `json:"tm,omitempty"`
}

// storedTask is a task as stored: core.Task without ID, JobID and Type
// (the task's record holds them), the lease fields (kept beside it) and
// the timeout when the record's timeout in microseconds holds it exactly.
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
	EnqueuedAt      *int64         `json:"ea,omitempty"` // ns after the job's creation time; nil: zero time
}

// jobRefs and setJobRefs are the codec's only access to Job.Tasks. A nil
// slice is no list; an empty one is stored as [] all the same.
func jobRefs(j *core.Job) []core.TaskRef { return j.Tasks.Slice() }

func setJobRefs(j *core.Job, refs []core.TaskRef) { j.Tasks = core.NewTaskRefs(refs...) }

// decodeStrict decodes one stored JSON value into dst; a field dst does
// not know is an error (data written by a newer version).
func decodeStrict(s string, dst any) error {
	d := json.NewDecoder(strings.NewReader(s))
	d.DisallowUnknownFields()
	return d.Decode(dst)
}

// base is the job's creation time as stored: nanoseconds in base 36, ""
// for the zero time. Other times are stored relative to it.
func base(created time.Time) string {
	if created.IsZero() {
		return ""
	}
	return strconv.FormatInt(created.UnixNano(), 36)
}

func parseBase(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	return strconv.ParseInt(s, 36, 64)
}

func baseNanos(created time.Time) int64 {
	if created.IsZero() {
		return 0
	}
	return created.UnixNano()
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

// versionPair is how the record names a job's version and blueprint,
// one number for both (vnum in lib.lua): "<length of the version>:<version><blueprint>".
func versionPair(version, blueprint string) string {
	if version == "" && blueprint == "" {
		return ""
	}
	return strconv.Itoa(len(version)) + ":" + version + blueprint
}

func splitVersionPair(s string) (version, blueprint string, err error) {
	if s == "" {
		return "", "", nil
	}
	n, rest, ok := strings.Cut(s, ":")
	l, err := strconv.Atoi(n)
	if !ok || err != nil || l < 0 || l > len(rest) {
		return "", "", fmt.Errorf("version %q", s)
	}
	return rest[:l], rest[l:], nil
}

func encodeJob(j *core.Job) (string, error) {
	b := baseNanos(j.CreatedAt)
	sj := storedJob{
		State: j.State, Input: j.Input, History: j.History, Result: j.Result,
		Results: j.Results, BranchesDone: j.BranchesDone, ApprovalMessage: j.ApprovalMessage, Child: j.Child,
		Parent: j.Parent, Timer: j.Timer, Error: j.Error, Steps: j.Steps, WebhookURL: j.WebhookURL,
		Metadata: j.Metadata, Security: j.Security, DispatchTimeout: j.DispatchTimeout,
		ResultTimeout: j.ResultTimeout, Progress: j.Progress, ProgressMessage: j.ProgressMessage,
		UpdatedAt: offset(j.UpdatedAt, b), FinishedAt: offset(j.FinishedAt, b),
		ApprovalDeadline: offset(j.ApprovalDeadline, b), Children: j.Children,
	}
	if c := j.Client; c.Name != "" || c.Plan != "" || len(c.Fields) > 0 {
		sj.Client = &j.Client
	}
	if refs := jobRefs(j); refs != nil {
		sj.Tasks = make([]storedRef, len(refs))
		for i, r := range refs {
			sj.Tasks[i] = storedRef{ID: packTask(r.ID), Type: r.Type, Branch: r.Branch, Attempt: r.Attempt, Result: r.Result, Timer: r.Timer}
		}
	}
	out, err := json.Marshal(&sj)
	if err != nil {
		return "", fmt.Errorf("encode job %q: %w", j.ID, err)
	}
	return string(out), nil
}

// decodeJob rebuilds a job from its stored parts: the JSON, the rev, the
// status code, the version pair and the creation time.
func decodeJob(id, d, rev, status, vpair, created string) (*core.Job, error) {
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
	version, blueprint, err := splitVersionPair(vpair)
	if err != nil {
		return nil, fmt.Errorf("decode stored job %q: %w", id, err)
	}
	j := &core.Job{
		ID: id, Blueprint: blueprint, Version: version, Rev: r, State: sj.State, Status: statusName(status),
		Input: sj.Input, History: sj.History, Result: sj.Result, Results: sj.Results,
		BranchesDone: sj.BranchesDone, ApprovalMessage: sj.ApprovalMessage, Child: sj.Child, Parent: sj.Parent,
		Timer: sj.Timer, Error: sj.Error, Steps: sj.Steps, WebhookURL: sj.WebhookURL, Metadata: sj.Metadata,
		Security: sj.Security, DispatchTimeout: sj.DispatchTimeout, ResultTimeout: sj.ResultTimeout,
		Progress: sj.Progress, ProgressMessage: sj.ProgressMessage,
		UpdatedAt: fromOffset(sj.UpdatedAt, b), FinishedAt: fromOffset(sj.FinishedAt, b),
		ApprovalDeadline: fromOffset(sj.ApprovalDeadline, b), Children: sj.Children,
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
			refs[i] = core.TaskRef{ID: unpackTask(r.ID), Type: r.Type, Branch: r.Branch, Attempt: r.Attempt, Result: r.Result, Timer: r.Timer}
		}
		setJobRefs(j, refs)
	}
	return j, nil
}

// encodeTask encodes a task of a job created at b (ns). The record keeps
// its timeout in microseconds (timeoutUS, "" for none), so the JSON holds
// the timeout only when that loses something.
func encodeTask(t *core.Task, b int64) (d, timeoutUS string, err error) {
	st := storedTask{
		Params: t.Params, Priority: t.Priority, Branch: t.Branch, Attempt: t.Attempt, Timeout: t.Timeout,
		DispatchTimeout: t.DispatchTimeout, Strategy: t.Strategy, Requires: t.Requires, MaxCost: t.MaxCost,
		Metadata: t.Metadata, Security: t.Security, TracingContext: t.TracingContext, EnqueuedAt: offset(t.EnqueuedAt, b),
	}
	if t.Timeout > 0 {
		timeoutUS = strconv.FormatInt(t.Timeout.Microseconds(), 10)
		if t.Timeout%time.Microsecond == 0 {
			st.Timeout = 0
		}
	}
	out, err := json.Marshal(&st)
	if err != nil {
		return "", "", fmt.Errorf("encode task %q: %w", t.ID, err)
	}
	return string(out), timeoutUS, nil
}

// decodeTask rebuilds a task from its JSON, its (unpacked) id and job id,
// its type, the job's creation time and the record's timeout (µs).
func decodeTask(d, id, jobID, typ, created, timeoutUS string) (*core.Task, error) {
	var st storedTask
	if err := decodeStrict(d, &st); err != nil {
		return nil, fmt.Errorf("decode stored task %q: %w", id, err)
	}
	b, err := parseBase(created)
	if err != nil {
		return nil, fmt.Errorf("decode stored task %q: created %q", id, created)
	}
	if st.Timeout == 0 && timeoutUS != "" && timeoutUS != "0" {
		n, err := strconv.ParseInt(timeoutUS, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("decode stored task %q: timeout %q", id, timeoutUS)
		}
		st.Timeout = time.Duration(n) * time.Microsecond
	}
	return &core.Task{
		ID: id, JobID: jobID, Type: typ, Params: st.Params, Priority: st.Priority, Branch: st.Branch,
		Attempt: st.Attempt, Timeout: st.Timeout, DispatchTimeout: st.DispatchTimeout, Strategy: st.Strategy,
		Requires: st.Requires, MaxCost: st.MaxCost, Metadata: st.Metadata, Security: st.Security,
		TracingContext: st.TracingContext, EnqueuedAt: fromOffset(st.EnqueuedAt, b),
	}, nil
}

// Timeline events are lines appended to the job's record, the fields of
// an event in this order, separated by "|", the empty ones at the end left
// out:
//
//	type|time|state|previous state|next state|task|worker|attempt|detail
//
// The type is a number (eventTypes) or "'" and the name. The time is in
// nanoseconds after the job's creation time, in base 36; a line without
// one has the time of the line before it (the first line a commit writes
// always has one), and "z" is the zero time. The task id is packed. Text
// fields escape "%", "|" and newlines as %25, %7C and %0A. The attempt is
// decimal. The detail, last and so never escaped, is its JSON object, or
// "#<branch>,<type>" for the {branch, type} detail of task_enqueued. A
// line "@<created>" sets another base for the lines after it (written
// only when a job's creation time changed).

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

var lineEscaper = strings.NewReplacer("%", "%25", "|", "%7C", "\n", "%0A")
var lineUnescaper = strings.NewReplacer("%25", "%", "%7C", "|", "%0A", "\n")

func unescapeField(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	return lineUnescaper.Replace(s)
}

// encodeEvent encodes e with base b; prev is the time of the line before
// it in the same commit (nil for the first).
func encodeEvent(e core.TimelineEvent, b int64, prev *time.Time) (string, error) {
	var f [9]string
	if n, ok := eventCodes[e.Type]; ok {
		f[0] = strconv.Itoa(n)
	} else {
		f[0] = "'" + lineEscaper.Replace(e.Type)
	}
	switch {
	case e.At.IsZero():
		f[1] = "z"
	case prev == nil || prev.IsZero() || !prev.Equal(e.At):
		f[1] = strconv.FormatInt(e.At.UnixNano()-b, 36)
	}
	f[2], f[3], f[4] = lineEscaper.Replace(e.State), lineEscaper.Replace(e.PrevState), lineEscaper.Replace(e.NextState)
	if e.TaskID != "" {
		f[5] = lineEscaper.Replace(packTask(e.TaskID))
	}
	f[6] = lineEscaper.Replace(e.WorkerID)
	if e.Attempt != 0 {
		f[7] = strconv.Itoa(e.Attempt)
	}
	if e.Detail != nil {
		if br, ty, ok := enqueuedDetail(e.Detail); ok {
			f[8] = "#" + strconv.Itoa(br) + "," + lineEscaper.Replace(ty)
		} else {
			d, err := json.Marshal(e.Detail)
			if err != nil {
				return "", err
			}
			f[8] = string(d)
		}
	}
	last := len(f)
	for last > 1 && f[last-1] == "" {
		last--
	}
	return strings.Join(f[:last], "|"), nil
}

// enqueuedDetail reports whether d is the engine's task_enqueued detail,
// exactly {"branch": an integer, "type": a string}, and returns both.
func enqueuedDetail(d map[string]any) (branch int, typ string, ok bool) {
	if len(d) != 2 {
		return 0, "", false
	}
	typ, ok = d["type"].(string)
	if !ok {
		return 0, "", false
	}
	switch b := d["branch"].(type) {
	case int:
		return b, typ, true
	case float64:
		if b == float64(int(b)) && b >= -1<<31 && b < 1<<31 {
			return int(b), typ, true
		}
	}
	return 0, "", false
}

func decodeEvent(line string, b int64, prev time.Time) (core.TimelineEvent, error) {
	var e core.TimelineEvent
	f := strings.SplitN(line, "|", 9)
	field := func(i int) string {
		if i < len(f) {
			return f[i]
		}
		return ""
	}
	if y, ok := strings.CutPrefix(f[0], "'"); ok {
		e.Type = unescapeField(y)
	} else if n, err := strconv.Atoi(f[0]); err == nil && n >= 0 && n < len(eventTypes) {
		e.Type = eventTypes[n]
	} else {
		return e, fmt.Errorf("unknown event type %q", f[0])
	}
	switch a := field(1); a {
	case "z":
	case "":
		e.At = prev
	default:
		n, err := strconv.ParseInt(a, 36, 64)
		if err != nil {
			return e, fmt.Errorf("event time %q", a)
		}
		e.At = time.Unix(0, n+b).UTC()
	}
	e.State, e.PrevState, e.NextState = unescapeField(field(2)), unescapeField(field(3)), unescapeField(field(4))
	if t := field(5); t != "" {
		e.TaskID = unpackTask(unescapeField(t))
	}
	e.WorkerID = unescapeField(field(6))
	if n := field(7); n != "" {
		a, err := strconv.Atoi(n)
		if err != nil {
			return e, fmt.Errorf("event attempt %q", n)
		}
		e.Attempt = a
	}
	switch d := field(8); {
	case d == "":
	case d[0] == '#':
		br, ty, ok := strings.Cut(d[1:], ",")
		n, err := strconv.Atoi(br)
		if !ok || err != nil {
			return e, fmt.Errorf("event detail %q", d)
		}
		e.Detail = map[string]any{"branch": float64(n), "type": unescapeField(ty)}
	default:
		if err := json.Unmarshal([]byte(d), &e.Detail); err != nil {
			return e, fmt.Errorf("event detail: %w", err)
		}
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
var statuses = []wire.JobStatus{wire.StatusPending, wire.StatusRunning, wire.StatusWaitingForWorker,
	wire.StatusWaitingForHuman, wire.StatusWaitingParallel, wire.StatusWaitingForChild, wire.StatusWaiting,
	wire.StatusAwaitingRetry, wire.StatusFinished, wire.StatusFailed, wire.StatusCancelled, wire.StatusQuarantined}

var statusCodes = func() map[wire.JobStatus]string {
	m := make(map[wire.JobStatus]string, len(statuses))
	for i, s := range statuses {
		m[s] = strconv.Itoa(i)
	}
	return m
}()

func statusCode(s wire.JobStatus) string {
	if c, ok := statusCodes[s]; ok {
		return c
	}
	return "~" + string(s)
}

func statusName(code string) wire.JobStatus {
	if name, ok := strings.CutPrefix(code, "~"); ok {
		return wire.JobStatus(name)
	}
	if n, err := strconv.Atoi(code); err == nil && n >= 0 && n < len(statuses) {
		return statuses[n]
	}
	return wire.JobStatus(code)
}
