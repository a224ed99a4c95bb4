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
// "_". times are added as integers under their short names.
func compact(v any, names map[string]string, times map[string]int64) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return "", err
	}
	out := make(map[string]json.RawMessage, len(fields)+len(times))
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
	for k, n := range times {
		out[k] = json.RawMessage(strconv.FormatInt(n, 10))
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

// expand reverses compact into dst and returns the integer times found
// under the names in times.
func expand(s string, long map[string]string, times []string, dst any) (map[string]int64, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &fields); err != nil {
		return nil, err
	}
	ns := make(map[string]int64, len(times))
	for _, name := range times {
		if raw, ok := fields[name]; ok {
			n, err := strconv.ParseInt(string(raw), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("stored time %q: %s", name, raw)
			}
			ns[name] = n
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
	return ns, json.Unmarshal(b, dst)
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

// at is the time n nanoseconds after base b, or the zero time when the
// value was not stored.
func at(ns map[string]int64, name string, b int64) time.Time {
	n, ok := ns[name]
	if !ok {
		return time.Time{}
	}
	return time.Unix(0, n+b).UTC()
}

func encodeJob(j *core.Job) (string, error) {
	c := *j
	c.ID, c.Rev, c.Status, c.Version = "", 0, "", ""
	c.CreatedAt, c.UpdatedAt, c.FinishedAt = time.Time{}, time.Time{}, time.Time{}
	b := int64(0)
	if !j.CreatedAt.IsZero() {
		b = j.CreatedAt.UnixNano()
	}
	times := map[string]int64{}
	if !j.UpdatedAt.IsZero() {
		times["ua"] = j.UpdatedAt.UnixNano() - b
	}
	if !j.FinishedAt.IsZero() {
		times["fa"] = j.FinishedAt.UnixNano() - b
	}
	s, err := compact(&c, jobNames, times)
	if err != nil {
		return "", fmt.Errorf("encode job %q: %w", j.ID, err)
	}
	return s, nil
}

// decodeJob rebuilds a job from its stored parts.
func decodeJob(id, d, rev, status, version, created string) (*core.Job, error) {
	var j core.Job
	ns, err := expand(d, jobLong, []string{"ua", "fa"}, &j)
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
	j.ID, j.Rev, j.Status, j.Version = id, r, core.Status(status), version
	if created != "" {
		j.CreatedAt = time.Unix(0, b).UTC()
	}
	j.UpdatedAt, j.FinishedAt = at(ns, "ua", b), at(ns, "fa", b)
	return &j, nil
}

// encodeTask leaves out the id, job id and type (the task's record holds
// them) and the lease fields (kept beside the JSON).
func encodeTask(t *core.Task) (string, error) {
	c := *t
	c.ID, c.JobID, c.Type, c.Worker = "", "", "", ""
	c.EnqueuedAt, c.LeasedAt, c.LeaseUntil = time.Time{}, time.Time{}, time.Time{}
	times := map[string]int64{}
	if !t.EnqueuedAt.IsZero() {
		times["ea"] = t.EnqueuedAt.UnixNano()
	}
	s, err := compact(&c, taskNames, times)
	if err != nil {
		return "", fmt.Errorf("encode task %q: %w", t.ID, err)
	}
	return s, nil
}

func decodeTask(d, id, jobID, typ string) (*core.Task, error) {
	var t core.Task
	ns, err := expand(d, taskLong, []string{"ea"}, &t)
	if err != nil {
		return nil, fmt.Errorf("decode stored task %q: %w", id, err)
	}
	t.ID, t.JobID, t.Type = id, jobID, typ
	t.EnqueuedAt = at(ns, "ea", 0)
	return &t, nil
}

// Timeline events are kept as compact JSON lines appended to the job's
// record, their times in nanoseconds after the job's creation time. A line "@<ns>" sets another base for the lines after
// it (written only when a job's creation time changed).
var eventNames = map[string]string{
	"timestamp": "", "event_type": "y", "state": "s", "previous_state": "ps", "next_state": "ns",
	"origin_task_id": "t", "worker_id": "w", "attempt_number": "n", "detail": "d",
}

var eventLong = invert(eventNames)

func encodeEvent(e core.TimelineEvent, b int64) (string, error) {
	c := e
	c.At = time.Time{}
	times := map[string]int64{}
	if !e.At.IsZero() {
		times["a"] = e.At.UnixNano() - b
	}
	return compact(&c, eventNames, times)
}

func decodeEvent(s string, b int64) (core.TimelineEvent, error) {
	var e core.TimelineEvent
	ns, err := expand(s, eventLong, []string{"a"}, &e)
	if err != nil {
		return e, err
	}
	e.At = at(ns, "a", b)
	return e, nil
}

// decodeTimeline reads the stored lines of a job created at created.
func decodeTimeline(created, lines string) ([]core.TimelineEvent, error) {
	b, err := parseBase(created)
	if err != nil {
		return nil, fmt.Errorf("created %q", created)
	}
	var out []core.TimelineEvent
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
		ev, err := decodeEvent(line, b)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, nil
}
