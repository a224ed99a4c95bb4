package core

import "time"

// Task is one unit of work waiting for, or leased to, a worker. A retry is
// a new Task with a new ID and Attempt+1, so a late result of an earlier
// attempt is recognised as stale.
type Task struct {
	ID       string         `json:"id"`
	JobID    string         `json:"job_id"`
	Type     string         `json:"type"`
	Params   map[string]any `json:"params,omitempty"`
	Priority float64        `json:"priority"`
	Branch   int            `json:"branch"`
	Attempt  int            `json:"attempt"`

	Timeout         time.Duration  `json:"timeout"`          // result deadline once leased
	DispatchTimeout time.Duration  `json:"dispatch_timeout"` // how long it may wait for a worker; 0: forever
	Strategy        string         `json:"strategy,omitempty"`
	Requires        map[string]any `json:"requires,omitempty"`
	MaxCost         *float64       `json:"max_cost,omitempty"`

	Metadata       map[string]any `json:"metadata,omitempty"`
	Security       any            `json:"security,omitempty"`
	TracingContext map[string]any `json:"tracing_context,omitempty"`

	EnqueuedAt time.Time `json:"enqueued_at"`
	// Worker is set by dispatch when a strategy picked one worker ahead of
	// time ("" = any eligible worker), and by the lease.
	Worker     string    `json:"worker,omitempty"`
	LeasedAt   time.Time `json:"leased_at,omitzero"`
	LeaseUntil time.Time `json:"lease_until,omitzero"`
}
