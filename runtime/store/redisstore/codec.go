package redisstore

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
)

// Stored jobs and tasks are their JSON with the top-level field names
// shortened and zero values left out: Redis memory per queued job is
// dominated by these two values. Nested values (input, history, params,
// results) are kept exactly as they are.

var jobNames = map[string]string{
	"id": "i", "blueprint": "b", "version": "v", "rev": "", "state": "s", "status": "S",
	"input": "in", "history": "h", "result": "r", "results": "R", "client": "c", "tasks": "t",
	"child": "ch", "parent": "p", "timer": "tm", "error": "e", "steps": "n", "webhook_url": "wh",
	"metadata": "m", "security": "sec", "dispatch_timeout": "dt", "result_timeout": "rt",
	"progress": "pg", "progress_message": "pm", "created_at": "ca", "updated_at": "ua", "finished_at": "fa",
}

var taskNames = map[string]string{
	"id": "", "job_id": "", "type": "ty", "params": "p", "priority": "pr", "branch": "br", "attempt": "at",
	"timeout": "to", "dispatch_timeout": "dt", "strategy": "st", "requires": "rq", "max_cost": "mc",
	"metadata": "m", "security": "sec", "tracing_context": "tc", "enqueued_at": "ea",
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
// is dropped (kept elsewhere), an unknown name is kept as it is.
func compact(v any, names map[string]string) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return "", err
	}
	out := make(map[string]json.RawMessage, len(fields))
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
	b, err = json.Marshal(out)
	return string(b), err
}

func isZero(raw json.RawMessage) bool {
	switch string(raw) {
	case "0", `""`, "false", "null", `"0001-01-01T00:00:00Z"`:
		return true
	}
	return false
}

// expand reverses compact into dst.
func expand(s string, long map[string]string, dst any) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &fields); err != nil {
		return err
	}
	out := make(map[string]json.RawMessage, len(fields))
	for k, raw := range fields {
		if name, ok := long[k]; ok {
			out[name] = raw
		} else if len(k) > 1 && k[0] == '_' {
			out[k[1:]] = raw
		} else {
			return fmt.Errorf("unknown stored field %q", k)
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, dst)
}

func encodeJob(j *core.Job) (string, error) {
	s, err := compact(j, jobNames)
	if err != nil {
		return "", fmt.Errorf("encode job %q: %w", j.ID, err)
	}
	return s, nil
}

func decodeJob(d, rev string) (*core.Job, error) {
	var j core.Job
	if err := expand(d, jobLong, &j); err != nil {
		return nil, fmt.Errorf("decode stored job: %w", err)
	}
	r, err := strconv.ParseInt(rev, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("decode stored job %q: rev %q", j.ID, rev)
	}
	j.Rev = r
	return &j, nil
}

// encodeTask leaves out the id and job id (the task's key and record hold
// them) and the lease fields (kept beside the JSON).
func encodeTask(t *core.Task) (string, error) {
	s, err := compact(t, taskNames)
	if err != nil {
		return "", fmt.Errorf("encode task %q: %w", t.ID, err)
	}
	return s, nil
}

func decodeTask(d, id, jobID string) (*core.Task, error) {
	var t core.Task
	if err := expand(d, taskLong, &t); err != nil {
		return nil, fmt.Errorf("decode stored task %q: %w", id, err)
	}
	t.ID, t.JobID = id, jobID
	return &t, nil
}

// Timeline events are kept as compact JSON lines appended to one string
// per job: far smaller in Redis than a list of full JSON events.
var eventNames = map[string]string{
	"timestamp": "a", "event_type": "y", "state": "s", "previous_state": "ps", "next_state": "ns",
	"origin_task_id": "t", "worker_id": "w", "attempt_number": "n", "detail": "d",
}

var eventLong = invert(eventNames)

func encodeEvent(e core.TimelineEvent) (string, error) { return compact(e, eventNames) }

func decodeEvent(s string) (core.TimelineEvent, error) {
	var e core.TimelineEvent
	err := expand(s, eventLong, &e)
	return e, err
}
