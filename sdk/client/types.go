package client

import (
	"encoding/json"
	"time"
)

// Status is a job's status as the client API reports it.
type Status string

// Job statuses.
const (
	StatusPending          Status = "pending"
	StatusRunning          Status = "running"
	StatusWaitingForWorker Status = "waiting_for_worker"
	StatusWaitingForHuman  Status = "waiting_for_human"
	StatusWaitingParallel  Status = "waiting_for_parallel_tasks"
	StatusWaitingForChild  Status = "waiting_for_child"
	StatusWaiting          Status = "waiting"
	StatusAwaitingRetry    Status = "awaiting_retry"
	StatusFinished         Status = "finished"
	StatusFailed           Status = "failed"
	StatusCancelled        Status = "cancelled"
	StatusQuarantined      Status = "quarantined"
	StatusError            Status = "error" // a Python orchestrator constant
)

// Terminal reports whether a job in this status has ended.
func (s Status) Terminal() bool {
	switch s {
	case StatusFinished, StatusFailed, StatusCancelled, StatusQuarantined, StatusError:
		return true
	}
	return false
}

// Succeeded reports whether the job ended well.
func (s Status) Succeeded() bool { return s == StatusFinished }

// JobError is why a job failed.
type JobError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Details any    `json:"details,omitempty"`
}

// Job is a job's status (GET /api/v1/jobs/{id}).
type Job struct {
	ID               string         `json:"id"`
	Status           Status         `json:"status"`
	Blueprint        string         `json:"blueprint_name"`
	BlueprintVersion string         `json:"blueprint_version,omitempty"`
	State            string         `json:"current_state,omitempty"`
	Result           map[string]any `json:"result,omitempty"` // the job's history; set once it ended
	Error            *JobError      `json:"error,omitempty"`
	Progress         float64        `json:"progress,omitempty"`
	ProgressMessage  string         `json:"progress_message,omitempty"`
	ParentJobID      string         `json:"parent_job_id,omitempty"`
	ChildJobID       string         `json:"child_job_id,omitempty"`
	TaskIDs          []string       `json:"current_task_ids,omitempty"`
	CreatedAt        int64          `json:"created_at,omitempty"` // Unix seconds
	UpdatedAt        int64          `json:"updated_at,omitempty"`
	FinishedAt       int64          `json:"finished_at,omitempty"`
}

// UnmarshalJSON reads a job view, taking job_id when id is absent (the
// Python orchestrator's compact view) and a plain error_message string.
func (j *Job) UnmarshalJSON(b []byte) error {
	type plain Job
	var v struct {
		plain
		JobID        string `json:"job_id"`
		ErrorMessage string `json:"error_message"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*j = Job(v.plain)
	if j.ID == "" {
		j.ID = v.JobID
	}
	if j.Error == nil && v.ErrorMessage != "" {
		j.Error = &JobError{Message: v.ErrorMessage}
	}
	return nil
}

// Created is when the job was created; zero when the server does not say.
func (j *Job) Created() time.Time { return unix(j.CreatedAt) }

// Finished is when the job ended; zero while it runs.
func (j *Job) Finished() time.Time { return unix(j.FinishedAt) }

func unix(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0)
}

// Event is one entry of a job's timeline (GET /api/v1/jobs/{id}/history).
type Event struct {
	Type          string         `json:"event_type"`
	Timestamp     float64        `json:"timestamp"` // Unix seconds
	State         string         `json:"state,omitempty"`
	PreviousState string         `json:"previous_state,omitempty"`
	NextState     string         `json:"next_state,omitempty"`
	TaskID        string         `json:"origin_task_id,omitempty"`
	WorkerID      string         `json:"worker_id,omitempty"`
	Attempt       int            `json:"attempt_number,omitempty"`
	Detail        map[string]any `json:"detail,omitempty"`
}

// Time is when the event happened.
func (e Event) Time() time.Time {
	return time.UnixMilli(int64(e.Timestamp * 1000))
}

// Blueprint is one served blueprint.
type Blueprint struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Endpoint is the route that creates its jobs, e.g.
	// "/api/v1/jobs/inventory_check"; empty for a blueprint only other
	// blueprints start.
	Endpoint    string `json:"endpoint,omitempty"`
	Version     string `json:"version"`
	File        string `json:"file,omitempty"`
	InputSchema any    `json:"input_schema,omitempty"`
}

// Finding is one lint finding of a blueprint reload the server refused.
type Finding struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Rule    string `json:"rule"`
	Message string `json:"message"`
}

// Blueprints is what GET /api/v1/blueprints answers.
type Blueprints struct {
	Blueprints []Blueprint `json:"blueprints"`
	// RefusedReload holds the findings of the last edit that did not lint
	// clean; the server keeps serving the previous versions meanwhile.
	RefusedReload []Finding `json:"refused_reload,omitempty"`
}

// StartOptions are the optional members of a job creation.
type StartOptions struct {
	WebhookURL      string         // POSTed when the job ends
	DispatchTimeout time.Duration  // how long a task may wait for a worker; zero: the blueprint's
	ResultTimeout   time.Duration  // how long a worker may take; zero: the blueprint's
	Metadata        map[string]any // copied to tasks
}
