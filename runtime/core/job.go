// Package core holds the orchestrator's data (jobs, tasks, events, effects)
// and the engine: a pure step (machine, job, event, now, rand) -> (job',
// effects). Nothing here does I/O, reads a clock or draws randomness of its
// own; the runtime feeds events in and carries effects out through a store.
package core

import (
	"time"

	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// Job is the record of one run of a blueprint. Rev is the store's revision:
// every commit checks it (compare-and-set) and increments it.
type Job struct {
	ID        string `json:"id"`
	Blueprint string `json:"blueprint"`
	Version   string `json:"version"` // machine hash
	Rev       int64  `json:"rev"`

	State  string         `json:"state"`
	Status wire.JobStatus `json:"status"`

	Input   map[string]any `json:"input,omitempty"`
	History map[string]any `json:"history,omitempty"`
	Result  *Result        `json:"result,omitempty"`  // the last task's result
	Results []*Result      `json:"results,omitempty"` // after parallel, in branch order

	Client Client `json:"client"`

	// Tasks are the tasks the job waits on now: one for a task state, one
	// per branch for parallel. Attempt counts from 1.
	Tasks TaskRefs `json:"tasks,omitzero"`
	// BranchesDone counts the branches of a parallel that succeeded.
	BranchesDone int `json:"branches_done,omitempty"`
	// ApprovalMessage is the evaluated message of the approval the job
	// waits on.
	ApprovalMessage string `json:"approval_message,omitempty"`
	// ApprovalDeadline is when the approval the job waits on times out;
	// zero when it has no timeout.
	ApprovalDeadline time.Time `json:"approval_deadline,omitzero"`
	// Child is the child job the job waits on.
	Child string `json:"child,omitempty"`
	// Children are the ids of every child job the job started, in order.
	Children []string `json:"children,omitempty"`
	// Parent links a child job to the job (and state) that started it.
	Parent *ParentRef `json:"parent,omitempty"`
	// Timer is the id of the timer the job waits on (wait, approval
	// timeout), or "". A task's own timers (dispatch timeout, retry
	// backoff) are on its TaskRef.
	Timer string `json:"timer,omitempty"`

	Error *wire.Error `json:"error,omitempty"`
	// Steps counts transitions; a job over the limit fails (no endless loops).
	Steps int `json:"steps"`

	WebhookURL      string         `json:"webhook_url,omitempty"`
	Metadata        map[string]any `json:"metadata,omitempty"`
	Security        any            `json:"security,omitempty"`
	DispatchTimeout time.Duration  `json:"dispatch_timeout,omitempty"` // client override
	ResultTimeout   time.Duration  `json:"result_timeout,omitempty"`   // client override
	Progress        float64        `json:"progress,omitempty"`
	ProgressMessage string         `json:"progress_message,omitempty"`

	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// Client is who created a job.
type Client struct {
	Name   string         `json:"name"`
	Plan   string         `json:"plan,omitempty"`
	Fields map[string]any `json:"fields,omitempty"`
}

// ParentRef names the job that waits on a child.
type ParentRef struct {
	JobID string `json:"job_id"`
	State string `json:"state"`
}

// TaskRef is one task a job waits on.
type TaskRef struct {
	ID      string  `json:"id"`
	Type    string  `json:"type"`
	Branch  int     `json:"branch"` // index in a parallel, 0 otherwise
	Attempt int     `json:"attempt"`
	Result  *Result `json:"result,omitempty"` // set once the attempt ended
	// Timer is the timer armed for this task: its dispatch timeout while
	// it is queued, its retry backoff after a failed attempt.
	Timer string `json:"timer,omitempty"`
}

// Result is a task's outcome as the worker reported it.
type Result struct {
	Status string         `json:"status"`
	Data   map[string]any `json:"data,omitempty"`
	Error  *wire.Error    `json:"error,omitempty"`
}
