package wire

import (
	"encoding/json"
	"fmt"
	"time"
)

// Names is a list of skill names. It reads a list of strings or of skill
// objects ({"name": …}, as the Python SDK 1.0b13 sent in hot_skills), and
// always writes strings.
type Names []string

// UnmarshalJSON reads names given as strings or as objects with a name.
func (n *Names) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("skill names: want a list: %w", err)
	}
	if raw == nil {
		*n = nil
		return nil
	}
	out := make(Names, 0, len(raw))
	for _, r := range raw {
		var s string
		if json.Unmarshal(r, &s) == nil {
			out = append(out, s)
			continue
		}
		var o struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(r, &o); err != nil {
			return fmt.Errorf("skill name %s: want a string or an object with a name", r)
		}
		out = append(out, o.Name)
	}
	*n = out
	return nil
}

// JobView is a job as the client API shows it: GET /api/v1/jobs/{id}, the
// entries of GET /api/v1/jobs, and a ?wait answer. Result holds the job's
// history once the job ended (an empty object then, never absent) and is
// absent while it runs. Times are Unix seconds.
type JobView struct {
	ID               string         `json:"id"`
	JobID            string         `json:"job_id"` // ID again, as the Python orchestrator sends it
	Status           JobStatus      `json:"status"`
	Blueprint        string         `json:"blueprint_name"`
	BlueprintVersion string         `json:"blueprint_version"` // the hash of the blueprint the job runs
	State            string         `json:"current_state"`
	Result           map[string]any `json:"result,omitempty"`
	Error            *Error         `json:"error,omitempty"`
	Progress         float64        `json:"progress,omitempty"` // 0 to 1, as the worker reported it
	ProgressMessage  string         `json:"progress_message,omitempty"`
	ParentJobID      string         `json:"parent_job_id,omitempty"`
	ChildJobID       string         `json:"child_job_id,omitempty"`     // the child job it waits on
	ChildJobIDs      []string       `json:"child_job_ids,omitempty"`    // every child job it started, in order
	TaskIDs          []string       `json:"current_task_ids,omitempty"` // the tasks it waits on
	// CurrentTasks describe the tasks it waits on, one entry each.
	CurrentTasks []CurrentTask `json:"current_tasks,omitempty"`
	// Approval is the question the job waits on while it waits for a
	// human; nil otherwise.
	Approval *Approval `json:"approval,omitempty"`
	// WaitingReason says why a job that waits for a worker is not served:
	// no registered worker has the task's type.
	WaitingReason string `json:"waiting_reason,omitempty"`
	CreatedAt     int64  `json:"created_at"`
	UpdatedAt     int64  `json:"updated_at"`
	FinishedAt    int64  `json:"finished_at,omitempty"`
}

// UnmarshalJSON reads a job view leniently: the id from job_id when id is
// absent (the Python orchestrator's compact view) and the other way round,
// an error_message string when there is no error object, and times as
// integers or floats. Unknown members are ignored.
func (v *JobView) UnmarshalJSON(b []byte) error {
	type plain JobView
	var in struct {
		plain
		ErrorMessage string    `json:"error_message"`
		CreatedAt    Timestamp `json:"created_at"`
		UpdatedAt    Timestamp `json:"updated_at"`
		FinishedAt   Timestamp `json:"finished_at"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	*v = JobView(in.plain)
	v.CreatedAt, v.UpdatedAt, v.FinishedAt = int64(in.CreatedAt), int64(in.UpdatedAt), int64(in.FinishedAt)
	if v.ID == "" {
		v.ID = v.JobID
	}
	if v.JobID == "" {
		v.JobID = v.ID
	}
	if v.Error == nil && in.ErrorMessage != "" {
		v.Error = &Error{Message: in.ErrorMessage}
	}
	return nil
}

// Task states in a job view: queued waits for a worker, running is
// leased to one.
const (
	TaskStateQueued  = "queued"
	TaskStateRunning = "running"
)

// CurrentTask is one task a job waits on. WorkerID and LeaseDeadline are
// set while a worker holds the task's lease (State running); the deadline
// is absent when the task has no result deadline. Item is the task's
// index in a parallel or for_each state, nil for a task state's one task.
type CurrentTask struct {
	TaskID        string    `json:"task_id"`
	Type          string    `json:"type"`
	State         string    `json:"state"`
	Attempt       int       `json:"attempt"` // from 1
	WorkerID      string    `json:"worker_id,omitempty"`
	LeaseDeadline Timestamp `json:"lease_deadline,omitempty"` // Unix seconds
	Item          *int      `json:"item,omitempty"`
}

// UnmarshalJSON reads a current task leniently: numbers as integers or
// floats. Unknown members are ignored.
func (t *CurrentTask) UnmarshalJSON(b []byte) error {
	type plain CurrentTask
	var in struct {
		plain
		Attempt float64  `json:"attempt"`
		Item    *float64 `json:"item"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	*t = CurrentTask(in.plain)
	t.Attempt = int(in.Attempt)
	if in.Item != nil {
		n := int(*in.Item)
		t.Item = &n
	}
	return nil
}

// Deadline is when the task's lease ends; zero when it has none.
func (t *CurrentTask) Deadline() time.Time { return unix(int64(t.LeaseDeadline)) }

// Approval is the question a job that waits for a human asks: its
// message, the decisions POST /api/v1/jobs/{id}/approve takes, and when
// it times out (absent: never).
type Approval struct {
	Message  string    `json:"message"`
	Choices  []string  `json:"choices"`
	Deadline Timestamp `json:"deadline,omitempty"` // Unix seconds
}

// DeadlineTime is when the approval times out; zero when it does not.
func (a *Approval) DeadlineTime() time.Time { return unix(int64(a.Deadline)) }

// Created is when the job was created; zero when the server does not say.
func (v *JobView) Created() time.Time { return unix(v.CreatedAt) }

// Finished is when the job ended; zero while it runs.
func (v *JobView) Finished() time.Time { return unix(v.FinishedAt) }

func unix(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0)
}
