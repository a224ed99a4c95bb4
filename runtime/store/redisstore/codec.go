package redisstore

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
)

// Stored jobs, tasks and timeline events are their JSON with the top-level
// field names shortened, zero values left out, what the record around them
// already holds (ids, rev, status, version, task type) dropped, and times
// as integer nanoseconds: Redis memory per queued job is dominated by these
// values. Job times other than the creation time, and timeline times, are
// offsets from the job's creation time (kept beside the JSON, see lib.lua).
// Nested values (input, history, params, results) are kept exactly as they
// are.

var jobNames = map[string]string{
	"id": "", "blueprint": "b", "version": "", "rev": "", "state": "s", "status": "",
	"input": "in", "history": "h", "result": "r", "results": "R", "client": "c", "tasks": "t",
	"branches_done": "bd", "approval_message": "am",
	"child": "ch", "parent": "p", "timer": "tm", "error": "e", "steps": "n", "webhook_url": "wh",
	"metadata": "m", "security": "sec", "dispatch_timeout": "dt", "result_timeout": "rt",
	"progress": "pg", "progress_message": "pm", "created_at": "", "updated_at": "", "finished_at": "",
}

var taskNames = map[string]string{
	"id": "", "job_id": "", "type": "", "params": "p", "priority": "pr", "branch": "br", "attempt": "at",
	"timeout": "to", "dispatch_timeout": "dt", "strategy": "st", "requires": "rq", "max_cost": "mc",
	"metadata": "m", "security": "sec", "tracing_context": "tc", "enqueued_at": "",
	"worker": "", "leased_at": "", "lease_until": "",
}

var jobLong, taskLong = invert(jobNames), invert(taskNames)

func invert(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if v != "" {
			out[v] = k
		}
	}
	return out
}

// compact re-encodes v's JSON object with short names; a name mapped to ""
// is dropped (kept elsewhere), an unknown name is kept as it is behind
// "_". extra values are added under their names.
func compact(v any, names map[string]string, extra map[string]json.RawMessage) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return "", err
	}
	out := make(map[string]json.RawMessage, len(fields)+len(extra))
	for k, raw := range fields {
		if isZero(raw) {
			continue
		}
		short, ok := names[k]
		switch {
		case !ok:
			out["_"+k] = raw
		case short != "":
			out[short] = raw
		}
	}
	for k, raw := range extra {
		out[k] = raw
	}
	b, err = json.Marshal(out)
	return string(b), err
}

func isZero(raw json.RawMessage) bool {
	switch string(raw) {
	case "0", `""`, "false", "null", `"0001-01-01T00:00:00Z"`, `{"name":""}`:
		return true
	}
	return false
}

// expand reverses compact into dst and returns the values found under the
// names in extra.
func expand(s string, long map[string]string, extra []string, dst any) (map[string]json.RawMessage, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &fields); err != nil {
		return nil, err
	}
	ex := make(map[string]json.RawMessage, len(extra))
	for _, name := range extra {
		if raw, ok := fields[name]; ok {
			ex[name] = raw
			delete(fields, name)
		}
	}
	out := make(map[string]json.RawMessage, len(fields))
	for k, raw := range fields {
		if name, ok := long[k]; ok {
			out[name] = raw
		} else if len(k) > 1 && k[0] == '_' {
			out[k[1:]] = raw
		} else {
			return nil, fmt.Errorf("unknown stored field %q", k)
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	return ex, json.Unmarshal(b, dst)
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

func num(n int64) json.RawMessage { return json.RawMessage(strconv.FormatInt(n, 10)) }

// at is the time stored under name, nanoseconds after base b, or the zero
// time when there is none.
func at(ex map[string]json.RawMessage, name string, b int64) (time.Time, error) {
	raw, ok := ex[name]
	if !ok {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored time %q: %s", name, raw)
	}
	return time.Unix(0, n+b).UTC(), nil
}

// Task references (Job.Tasks) get short names too.
var refNames = map[string]string{"id": "i", "type": "y", "branch": "b", "attempt": "a", "result": "r", "timer": "tm"}

var refLong = invert(refNames)

func encodeJob(j *core.Job) (string, error) {
	c := *j
	c.ID, c.Rev, c.Status, c.Version = "", 0, "", ""
	c.CreatedAt, c.UpdatedAt, c.FinishedAt, c.Tasks = time.Time{}, time.Time{}, time.Time{}, core.TaskRefs{}
	b := int64(0)
	if !j.CreatedAt.IsZero() {
		b = j.CreatedAt.UnixNano()
	}
	extra := map[string]json.RawMessage{}
	if !j.UpdatedAt.IsZero() {
		extra["ua"] = num(j.UpdatedAt.UnixNano() - b)
	}
	if !j.FinishedAt.IsZero() {
		extra["fa"] = num(j.FinishedAt.UnixNano() - b)
	}
	if tasks := j.Tasks.Slice(); tasks != nil {
		refs := make([]json.RawMessage, len(tasks))
		for i := range tasks {
			r, err := compact(&tasks[i], refNames, nil)
			if err != nil {
				return "", fmt.Errorf("encode job %q: task %q: %w", j.ID, tasks[i].ID, err)
			}
			refs[i] = json.RawMessage(r)
		}
		raw, err := json.Marshal(refs)
		if err != nil {
			return "", fmt.Errorf("encode job %q: %w", j.ID, err)
		}
		extra["t"] = raw
	}
	s, err := compact(&c, jobNames, extra)
	if err != nil {
		return "", fmt.Errorf("encode job %q: %w", j.ID, err)
	}
	return s, nil
}

// decodeJob rebuilds a job from its stored parts.
func decodeJob(id, d, rev, status, version, created string) (*core.Job, error) {
	var j core.Job
	ex, err := expand(d, jobLong, []string{"ua", "fa", "t"}, &j)
	if err != nil {
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
	j.ID, j.Rev, j.Status, j.Version = id, r, statusName(status), version
	if created != "" {
		j.CreatedAt = time.Unix(0, b).UTC()
	}
	if j.UpdatedAt, err = at(ex, "ua", b); err == nil {
		j.FinishedAt, err = at(ex, "fa", b)
	}
	if err != nil {
		return nil, fmt.Errorf("decode stored job %q: %w", id, err)
	}
	if raw, ok := ex["t"]; ok {
		var refs []json.RawMessage
		if err := json.Unmarshal(raw, &refs); err != nil {
			return nil, fmt.Errorf("decode stored job %q: tasks: %w", id, err)
		}
		tasks := make([]core.TaskRef, len(refs))
		for i, r := range refs {
			if _, err := expand(string(r), refLong, nil, &tasks[i]); err != nil {
				return nil, fmt.Errorf("decode stored job %q: tasks: %w", id, err)
			}
		}
		j.Tasks = core.NewTaskRefs(tasks...)
	}
	return &j, nil
}

// encodeTask leaves out the id, job id and type (the task's record holds
// them) and the lease fields (kept beside the JSON).
func encodeTask(t *core.Task) (string, error) {
	c := *t
	c.ID, c.JobID, c.Type, c.Worker = "", "", "", ""
	c.EnqueuedAt, c.LeasedAt, c.LeaseUntil = time.Time{}, time.Time{}, time.Time{}
	extra := map[string]json.RawMessage{}
	if !t.EnqueuedAt.IsZero() {
		extra["ea"] = num(t.EnqueuedAt.UnixNano())
	}
	s, err := compact(&c, taskNames, extra)
	if err != nil {
		return "", fmt.Errorf("encode task %q: %w", t.ID, err)
	}
	return s, nil
}

func decodeTask(d, id, jobID, typ string) (*core.Task, error) {
	var t core.Task
	ex, err := expand(d, taskLong, []string{"ea"}, &t)
	if err == nil {
		t.EnqueuedAt, err = at(ex, "ea", 0)
	}
	if err != nil {
		return nil, fmt.Errorf("decode stored task %q: %w", id, err)
	}
	t.ID, t.JobID, t.Type = id, jobID, typ
	return &t, nil
}

// Timeline events are kept as compact JSON lines appended to the job's
// record. A line's time "a" is in nanoseconds after the job's creation
// time; a line without one has the time of the line before it (the first
// line a commit writes always has one), and "z" marks the zero time. A
// line "@<ns>" sets another base for the lines after it (written only when
// a job's creation time changed). The event types the engine writes are
// numbers (eventTypes); others are kept as text.
var eventNames = map[string]string{
	"timestamp": "", "event_type": "", "state": "s", "previous_state": "ps", "next_state": "ns",
	"origin_task_id": "t", "worker_id": "w", "attempt_number": "n", "detail": "d",
}

var eventLong = invert(eventNames)

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
	c := e
	c.At, c.Type = time.Time{}, ""
	extra := map[string]json.RawMessage{}
	switch {
	case e.At.IsZero():
		extra["z"] = num(1)
	case prev == nil || prev.IsZero() || !prev.Equal(e.At):
		extra["a"] = num(e.At.UnixNano() - b)
	}
	if n, ok := eventCodes[e.Type]; ok {
		extra["y"] = num(int64(n))
	} else {
		raw, err := json.Marshal(e.Type)
		if err != nil {
			return "", err
		}
		extra["y"] = raw
	}
	return compact(&c, eventNames, extra)
}

func decodeEvent(s string, b int64, prev time.Time) (core.TimelineEvent, error) {
	var e core.TimelineEvent
	ex, err := expand(s, eventLong, []string{"a", "z", "y"}, &e)
	if err != nil {
		return e, err
	}
	switch _, zero := ex["z"]; {
	case zero:
	case ex["a"] != nil:
		if e.At, err = at(ex, "a", b); err != nil {
			return e, err
		}
	default:
		e.At = prev
	}
	if raw := ex["y"]; len(raw) > 0 && raw[0] == '"' {
		err = json.Unmarshal(raw, &e.Type)
	} else if n, perr := strconv.Atoi(string(raw)); perr == nil && n >= 0 && n < len(eventTypes) {
		e.Type = eventTypes[n]
	} else if len(raw) > 0 {
		err = fmt.Errorf("unknown event type %s", raw)
	}
	return e, err
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
