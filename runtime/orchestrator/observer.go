package orchestrator

import (
	"context"

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
}

// StepObserver is an Observer that also hears of every committed step of
// a job (a transition, a task result, a progress report, the job's
// creation and its end), after the commit, for live views. Its method is
// called on the committing goroutine and must not block.
type StepObserver interface {
	JobStepped(j *core.Job)
}

// NopObserver hears nothing.
type NopObserver struct{}

func (NopObserver) JobCreated(*core.Job)                           {}
func (NopObserver) JobEnded(*core.Job)                             {}
func (NopObserver) TaskWithdrawn(context.Context, string, string)  {}
func (NopObserver) BlueprintsReloaded(*lang.Set, lang.Diagnostics) {}
