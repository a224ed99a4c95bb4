package client

import (
	"time"

	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// Status is a job's status as the client API reports it; its values are
// wire.Status… (wire.StatusFinished, …).
type Status = wire.JobStatus

// JobError is why a job failed: its code (wire.Code…) and message.
type JobError = wire.Error

// Job is a job's status (GET /api/v1/jobs/{id}). It reads the Python
// orchestrator's compact view too (job_id, error_message, float times).
type Job = wire.JobView

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
