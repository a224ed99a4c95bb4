package core

import (
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
	"time"
)

// EventKind names what happened to a job.
type EventKind string

const (
	EventCreated         EventKind = "created"
	EventTaskResult      EventKind = "task_result"
	EventTaskTimeout     EventKind = "task_timeout"     // lease expired or worker died
	EventDispatchTimeout EventKind = "dispatch_timeout" // no worker took the task in time
	EventApproval        EventKind = "approval"
	EventChildFinished   EventKind = "child_finished"
	EventTimer           EventKind = "timer" // wait over, approval timeout, retry due
	EventCancel          EventKind = "cancel"
	EventProgress        EventKind = "progress"
)

// Event is an input to the engine.
type Event struct {
	Kind     EventKind      `json:"kind"`
	TaskID   string         `json:"task_id,omitempty"`
	Branch   int            `json:"branch,omitempty"`    // the task's branch (from the store's task record)
	WorkerID string         `json:"worker_id,omitempty"` // task_result: who sent it
	Result   *Result        `json:"result,omitempty"`    // task_result
	Decision string         `json:"decision,omitempty"`  // approval
	ChildID  string         `json:"child_id,omitempty"`
	Outcome  string         `json:"outcome,omitempty"` // child_finished: success|failure
	TimerID  string         `json:"timer_id,omitempty"`
	Reason   string         `json:"reason,omitempty"`
	Data     map[string]any `json:"data,omitempty"` // progress, metadata
	// StartAt (created) enters this state instead of the blueprint's
	// start: a redrive re-runs a job from the state where it failed.
	StartAt string `json:"start_at,omitempty"`
}

// Effects are what a step asks the world to do; the store commits them
// together with the job, atomically.
type Effects struct {
	Enqueue      []*Task      // tasks to queue for workers
	Withdraw     []string     // task ids to drop from queues and leases (cancel, parallel fail-fast)
	Timers       []Timer      // durable timers to arm
	CancelTimers []string     // timer ids to disarm
	StartChild   []*Job       // child jobs to create (the runtime then steps each with EventCreated)
	StoreWrites  []StoreWrite // writes into the blueprint's named stores
	Timeline     []TimelineEvent
	// Notify is set when the job reached a terminal status: webhook and
	// WebSocket listeners hear of it after the commit.
	Notify *Notification
	// Transition is what a task's result did to the job (one of the
	// wire.Transition values), set by a step that took a result; the
	// worker's answer carries it.
	Transition string
}

// Empty reports whether there is nothing to do besides writing the job.
func (e *Effects) Empty() bool {
	return e == nil || (len(e.Enqueue) == 0 && len(e.Withdraw) == 0 && len(e.Timers) == 0 &&
		len(e.CancelTimers) == 0 && len(e.StartChild) == 0 && len(e.StoreWrites) == 0 &&
		len(e.Timeline) == 0 && e.Notify == nil)
}

// StoreWrite sets one key of a blueprint's named store.
type StoreWrite struct {
	Blueprint string `json:"blueprint"`
	Store     string `json:"store"`
	Key       string `json:"key"`
	Value     any    `json:"value"`
}

// Timer delivers Event to JobID at At, exactly once across instances. A
// timer due now is also how a child's end reaches its parent durably.
type Timer struct {
	ID    string    `json:"id"`
	JobID string    `json:"job_id"`
	At    time.Time `json:"at"`
	Event Event     `json:"event"`
}

// TimelineEvent is one entry of a job's history (GET /jobs/{id}/history).
type TimelineEvent struct {
	At        time.Time      `json:"timestamp"`
	Type      string         `json:"event_type"`
	State     string         `json:"state,omitempty"`
	PrevState string         `json:"previous_state,omitempty"`
	NextState string         `json:"next_state,omitempty"`
	TaskID    string         `json:"origin_task_id,omitempty"`
	WorkerID  string         `json:"worker_id,omitempty"`
	Attempt   int            `json:"attempt_number,omitempty"`
	Detail    map[string]any `json:"detail,omitempty"`
}

// Notification tells listeners a job ended (job_finished, job_failed,
// job_quarantined, job_cancelled).
type Notification struct {
	Event  string         `json:"event"`
	JobID  string         `json:"job_id"`
	Status wire.JobStatus `json:"status"`
}
