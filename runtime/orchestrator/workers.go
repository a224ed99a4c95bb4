package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/dispatch"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// Registration is a worker's registration as decoded (numbers as
// json.Number), with the registration as received for GET /workers.
type Registration struct {
	WorkerID          string
	WorkerType        string
	Skills            []string // supported_skills names, then available_skills
	Resources         map[string]any
	InstalledSoftware map[string]any
	Capabilities      map[string]any
	Info              map[string]any
}

// Register records a worker. Its resources are the registration's
// resources (with resources.properties flattened in), installed software
// and capabilities; capabilities.cost_per_skill gives its costs. The
// worker lives for two health-check intervals past each heartbeat.
func (x *Orchestrator) Register(ctx context.Context, reg Registration) error {
	if reg.WorkerID == "" {
		return refuse(KindInvalid, wire.CodeInvalidRegistration, "worker_id is required")
	}
	seen := map[string]bool{}
	var skills []string
	for _, n := range reg.Skills {
		if n != "" && !seen[n] {
			seen[n] = true
			skills = append(skills, n)
		}
	}
	resources := map[string]any{}
	for k, v := range reg.Resources {
		resources[k] = v
	}
	if props, ok := reg.Resources["properties"].(map[string]any); ok {
		for k, v := range props {
			resources[k] = v
		}
	}
	for k, v := range reg.InstalledSoftware {
		resources[k] = v
	}
	costs := map[string]float64{}
	for k, v := range reg.Capabilities {
		if k == "cost_per_skill" {
			if m, ok := v.(map[string]any); ok {
				for sk, c := range m {
					if n, ok := c.(json.Number); ok {
						if f, err := n.Float64(); err == nil {
							costs[sk] = f
						}
					}
				}
			}
			continue
		}
		resources[k] = v
	}
	now := x.now()
	// A worker registering again has restarted: the tasks it held are
	// handed on now rather than at their lease's end.
	prev, err := x.store.Worker(ctx, reg.WorkerID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	rec := store.WorkerRecord{
		Worker: dispatch.Worker{
			ID: reg.WorkerID, Type: reg.WorkerType, Skills: skills, CostPerSkill: costs,
			Resources: lang.FromJSON(resources).(map[string]any), Status: wire.WorkerIdle, Reputation: 1,
		},
		RegisteredAt: now, LastSeen: now, ExpiresAt: now.Add(2 * x.cfg.HealthCheckInterval), Info: reg.Info,
	}
	if err := x.store.RegisterWorker(ctx, rec); err != nil {
		return err
	}
	x.workerRecs.put(&rec, now)
	x.served.forget()
	if prev != nil {
		x.handOn(ctx, store.EndLeasesParams{WorkerID: reg.WorkerID, LeasedBefore: now})
	}
	return nil
}

// handOn ends the leases p picks and wakes the reclaim loop, which hands
// their tasks on. A store error is logged: the leases then end at their
// deadline as before.
func (x *Orchestrator) handOn(ctx context.Context, p store.EndLeasesParams) {
	n, err := x.store.EndLeases(context.WithoutCancel(ctx), p)
	if err != nil {
		x.log.Warn("end leases of a worker", "worker", p.WorkerID, "err", err)
		return
	}
	if n > 0 {
		x.log.Info("tasks of a worker handed on", "worker", p.WorkerID, "tasks", n)
		x.Reclaim()
	}
}

// Heartbeat refreshes a live worker with its status (a wire.Worker…
// status; "" is idle) and returns the ids of tasks it should cancel. An
// offline status removes the worker. KindNotFound: the worker must
// register again. current, when not nil, is the heartbeat's
// current_tasks: a task leased to the worker for longer than the grace
// (Limits.TaskGrace) that it does not list is handed on.
func (x *Orchestrator) Heartbeat(ctx context.Context, workerID string, status wire.WorkerStatus, current []string) (cancel []string, err error) {
	if status == wire.WorkerOffline {
		x.workerRecs.drop(workerID)
		if err := x.store.RemoveWorker(ctx, workerID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		return nil, nil
	}
	if err := x.Touch(ctx, workerID, status); err != nil {
		return nil, err
	}
	if current != nil {
		x.handOn(ctx, store.EndLeasesParams{WorkerID: workerID, LeasedBefore: x.now().Add(-x.cfg.Limits.TaskGrace), Keep: current})
	}
	return x.store.CancelRequests(ctx, workerID)
}

// Touch refreshes a live worker's status and expiry only (an empty
// heartbeat, with status "").
func (x *Orchestrator) Touch(ctx context.Context, workerID string, status wire.WorkerStatus) error {
	now := x.now()
	p := store.HeartbeatParams{WorkerID: workerID, Now: now, ExpiresAt: now.Add(2 * x.cfg.HealthCheckInterval), Status: wire.WorkerIdle}
	switch status {
	case wire.WorkerBusy:
		p.Status = wire.WorkerBusy
	case wire.WorkerDraining:
		p.Status = wire.WorkerDraining
	}
	found, err := x.store.Heartbeat(ctx, p)
	if err != nil {
		return err
	}
	if !found {
		x.workerRecs.drop(workerID)
		return refuse(KindNotFound, wire.CodeNotFound, "Worker not found: register again")
	}
	return nil
}

// Poll prepares a worker's long poll: the lease parameters from its
// record, holding up to wait (capped by the configured poll timeout; 0
// while draining). KindNotFound when the worker is not registered.
func (x *Orchestrator) Poll(ctx context.Context, workerID string, wait time.Duration) (store.LeaseParams, error) {
	now := x.now()
	rec := x.workerRecs.get(workerID, now)
	if rec == nil {
		var err error
		rec, err = x.store.Worker(ctx, workerID)
		if errors.Is(err, store.ErrNotFound) {
			return store.LeaseParams{}, refuse(KindNotFound, wire.CodeNotFound, "Worker not found: register first")
		}
		if err != nil {
			return store.LeaseParams{}, err
		}
		x.workerRecs.put(rec, now)
	}
	wait = min(wait, x.cfg.PollTimeout)
	if x.draining.Load() {
		wait = 0
	}
	return store.LeaseParams{
		WorkerID: workerID, Types: rec.Skills, Now: x.now(), Wait: wait, Resources: rec.Resources, Costs: rec.CostPerSkill,
	}, nil
}

// Lease takes a task for a prepared poll, waiting up to p.Wait; nil when
// none came. A closed store (shutting down) is no task.
func (x *Orchestrator) Lease(ctx context.Context, p store.LeaseParams) (*core.Task, error) {
	t, err := x.store.Lease(ctx, p)
	if errors.Is(err, store.ErrClosed) {
		return nil, nil
	}
	if t != nil && x.tracing != nil {
		x.tracing.Leased(t, t.LeasedAt)
	}
	return t, err
}

// TaskResult is a worker's result for a task it holds.
type TaskResult struct {
	JobID, TaskID string
	Status        string // "" is success
	Data          map[string]any
	Error         *wire.Error
}

// Result commits a worker's result and answers what it did: accepted with
// the transition the engine took, or ignored with the reason (a late,
// duplicate or foreign result changes nothing).
func (x *Orchestrator) Result(ctx context.Context, workerID string, r TaskResult) (wire.ResultReply, error) {
	if r.Status == "" {
		r.Status = wire.ResultSuccess
	}
	ignored := func(reason, msg string) (wire.ResultReply, error) {
		return wire.ResultReply{Status: wire.ReplyIgnored, Reason: reason, Message: msg}, nil
	}
	// The job holds the task's branch; -1 lets the engine find it.
	ev := core.Event{Kind: core.EventTaskResult, TaskID: r.TaskID, Branch: -1, WorkerID: workerID,
		Result: &core.Result{Status: r.Status, Data: r.Data, Error: r.Error}}
	j, eff, err := x.deliver(ctx, r.JobID, ev, &store.TaskCompletion{TaskID: r.TaskID, WorkerID: workerID})
	switch {
	case errors.Is(err, store.ErrAlreadyDone):
		return wire.ResultReply{Status: wire.ReplyAccepted, Transition: "duplicate_result"}, nil
	case errors.Is(err, store.ErrWorkerMismatch):
		return ignored(wire.ReasonWorkerMismatch, "task "+r.TaskID+" is not leased to worker "+workerID)
	case errors.Is(err, store.ErrLeaseLost):
		return ignored(wire.ReasonDeadlineExceeded, "the lease on task "+r.TaskID+" expired; the task was handed on")
	case errors.Is(err, core.ErrStaleTask):
		// A cancel withdraws the job's tasks, so the late result of one
		// reads as stale; say why, as the Python orchestrator does.
		if cj, gerr := x.store.GetJob(ctx, r.JobID); gerr == nil && cj.Status == wire.StatusCancelled {
			return ignored(wire.ReasonJobCancelled, "job "+r.JobID+" was cancelled")
		}
		return ignored(wire.ReasonStaleTask, "the job no longer waits on task "+r.TaskID)
	case errors.Is(err, core.ErrTerminal):
		reason := wire.ReasonAlreadyTerminated
		if j != nil && j.Status == wire.StatusCancelled {
			reason = wire.ReasonJobCancelled
		}
		return ignored(reason, "the job has ended")
	case errors.Is(err, store.ErrNotFound):
		return ignored(wire.ReasonJobNotFound, "unknown job "+r.JobID)
	case err != nil:
		return wire.ResultReply{}, err
	}
	return wire.ResultReply{Status: wire.ReplyAccepted, Transition: eff.Transition}, nil
}

// WorkerEvent is an event a worker sends (POST /_worker/events or its
// WebSocket).
type WorkerEvent struct {
	Type         string
	Payload      map[string]any // as decoded (numbers as json.Number)
	OriginTaskID string
	TargetJobID  string
}

// Event applies a worker's event. An event naming a task or a job
// (origin_task_id, target_job_id) is taken only from the worker that
// holds a lease in it now; any other is refused (KindForbidden) and the
// job is untouched. A progress event sets the job's progress and message;
// other events are accepted and logged. An event naming neither is taken
// from a registered worker only.
func (x *Orchestrator) Event(ctx context.Context, workerID string, ev WorkerEvent) error {
	if ev.Type == "" {
		return refuse(KindInvalid, wire.CodeInvalidEvent, "event_type is required")
	}
	if ev.OriginTaskID == "" && ev.TargetJobID == "" {
		if _, err := x.store.Worker(ctx, workerID); errors.Is(err, store.ErrNotFound) {
			return notHolder("worker %q is not registered", workerID)
		} else if err != nil {
			return err
		}
		x.log.Debug("worker event", "worker", workerID, "type", ev.Type)
		return nil
	}
	jobID, err := x.heldJob(ctx, workerID, ev.OriginTaskID, ev.TargetJobID)
	if err != nil {
		return err
	}
	if ev.Type != wire.EventProgress {
		x.log.Debug("worker event", "worker", workerID, "type", ev.Type, "job", jobID)
		return nil
	}
	m, _ := lang.FromJSON(ev.Payload).(map[string]any)
	if _, _, err := x.deliver(ctx, jobID, core.Event{Kind: core.EventProgress, Data: m}, nil); err != nil && !benign(err) {
		return err
	}
	return nil
}

// Workers returns every registered worker's record.
func (x *Orchestrator) Workers(ctx context.Context) ([]store.WorkerRecord, error) {
	return x.store.Workers(ctx)
}
