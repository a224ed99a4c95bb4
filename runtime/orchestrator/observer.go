package orchestrator

import (
	"context"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
)

// Observer hears what the orchestrator did, after it is committed. Its
// methods are called on the committing goroutine and must not block.
type Observer interface {
	// JobCreated: a job (a client's or a child) was created and started.
	JobCreated(j *core.Job)
	// JobEnded: a job reached a terminal status.
	JobEnded(j *core.Job)
	// TaskWithdrawn: a task was taken back from the queues or from the
	// worker holding it (cancel, a parallel branch's failure); a worker
	// connected by WebSocket can be told at once.
	TaskWithdrawn(ctx context.Context, taskID, jobID string)
	// BlueprintsReloaded: a reload of the blueprints folder was applied (set is
	// the new set) or refused (findings says why; the last good set
	// stays).
	BlueprintsReloaded(set *lang.Set, findings lang.Diagnostics)
	// WebhookDelivery: a try of the job's webhook ended (WebhookDelivered,
	// WebhookRetrying or WebhookFailed).
	WebhookDelivery(j *core.Job, outcome string)
	// Stepped: a step of the job was committed; prev is the job before it
	// (nil for a new job), eff what the step did.
	Stepped(prev, j *core.Job, ev core.Event, eff *core.Effects)
}

// NopObserver hears nothing.
type NopObserver struct{}

func (NopObserver) JobCreated(*core.Job)                                    {}
func (NopObserver) JobEnded(*core.Job)                                      {}
func (NopObserver) TaskWithdrawn(context.Context, string, string)           {}
func (NopObserver) BlueprintsReloaded(*lang.Set, lang.Diagnostics)          {}
func (NopObserver) WebhookDelivery(*core.Job, string)                       {}
func (NopObserver) Stepped(*core.Job, *core.Job, core.Event, *core.Effects) {}

// Tracing writes the spans of jobs (runtime/telemetry implements it);
// Options.Tracing nil is tracing off, and then nothing of it runs.
type Tracing interface {
	// JobMetadata returns the metadata of a job created with a W3C
	// traceparent, which then is the parent of the job's span.
	JobMetadata(md map[string]any, traceparent string) map[string]any
	// TaskContext is the tracing_context of a task about to be queued.
	TaskContext(j *core.Job, t *core.Task) map[string]any
	// Leased: a task was leased by this instance at at.
	Leased(t *core.Task, at time.Time)
	// Committed: a step of the job was committed (prev is the job before
	// it, nil for a new job).
	Committed(prev, j *core.Job, ev core.Event, eff *core.Effects, now time.Time)
}
