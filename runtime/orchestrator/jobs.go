package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/internal/uuid"
	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// A caller of the client API is a *config.Client: the client its token
// names, or nil when the API is open (no clients configured), which sees
// every job. Another client's job is not found, as an unknown one.

// Endpoint returns the blueprint that serves POST /api/v1{endpoint}, for
// a new job: KindNotFound when none does, KindUnavailable while draining.
func (x *Orchestrator) Endpoint(endpoint string) (*lang.Machine, error) {
	m := x.reg.ByEndpoint(endpoint)
	if m == nil {
		return nil, refuse(KindNotFound, wire.CodeNotFound, "no blueprint serves POST /api/v1%s", endpoint)
	}
	if x.draining.Load() {
		return nil, refuse(KindUnavailable, wire.CodeShuttingDown, "the server is shutting down; retry on another instance")
	}
	return m, nil
}

// CreateRequest is a new job of a blueprint.
type CreateRequest struct {
	Input           map[string]any // language values (lang.FromJSON)
	WebhookURL      string
	DispatchTimeout time.Duration
	ResultTimeout   time.Duration
	Metadata        map[string]any
	Security        any
	// Watch registers for the job's end before the job exists, so the
	// caller can wait for it without missing it (Create returns the Watch).
	Watch bool
	// IdempotencyKey, when set, makes the creation happen once per key
	// and client within Limits.IdempotencyWindow: a retry gets the first
	// job (see CreateOnce).
	IdempotencyKey string
	// Fingerprint digests the request; a key reused with another
	// fingerprint is refused.
	Fingerprint string
	// ID, when set, is the new job's id instead of a random one; a job of
	// that id already existing is an error wrapping store.ErrExists (a
	// schedule's fire started by another instance).
	ID string
	// TraceParent is the W3C traceparent the request came with: the
	// parent of the job's span when tracing is on.
	TraceParent string
}

// Create validates a new job of m (the input against the blueprint's
// schema, the webhook URL), counts it against the caller's quota, and
// starts it. With req.Watch it returns a Watch on the job's end.
func (x *Orchestrator) Create(ctx context.Context, caller *config.Client, m *lang.Machine, req CreateRequest) (*core.Job, *Watch, error) {
	j, w, _, err := x.CreateOnce(ctx, caller, m, req)
	return j, w, err
}

// CreateOnce is Create that also reports whether the job was created
// before: with req.IdempotencyKey set, the first call for the key creates
// the job and every later one within the window returns that job
// (replayed), on every instance sharing the store. The key is bound to the
// job's id before the job is created, so a retry of a create that failed
// or is still under way creates the job under that same id, and the store
// lets only one of them do it. A key reused with another request
// (another fingerprint) is KindUnprocessable.
//
// A create that does not commit spends no quota; once the commit has
// started it runs to its end even when the caller goes away, so its
// outcome is never in doubt.
func (x *Orchestrator) CreateOnce(ctx context.Context, caller *config.Client, m *lang.Machine, req CreateRequest) (j *core.Job, w *Watch, replayed bool, err error) {
	if req.Input == nil {
		req.Input = map[string]any{}
	}
	if m.Input != nil {
		if err := m.Input.Validate(req.Input); err != nil {
			var se *lang.SchemaError
			if errors.As(err, &se) {
				return nil, nil, false, &Error{Kind: KindInvalid, Code: wire.CodeInvalidInput, Message: "initial_data does not match the input schema of " + m.Name + ": " + se.Error(), Details: se.Reasons}
			}
			return nil, nil, false, refuse(KindInvalid, wire.CodeInvalidInput, "initial_data: %v", err)
		}
	}
	if req.WebhookURL != "" && !strings.HasPrefix(req.WebhookURL, "http://") && !strings.HasPrefix(req.WebhookURL, "https://") {
		return nil, nil, false, refuse(KindInvalid, wire.CodeInvalidField, "webhook_url must be an http or https URL")
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, false, err // the caller went away: nothing done
	}
	// From here on the work finishes whether or not the caller waits.
	ctx = context.WithoutCancel(ctx)
	id := req.ID
	if id == "" {
		var err error
		if id, err = x.newID(); err != nil {
			return nil, nil, false, err
		}
	}
	if x.tracing != nil && req.TraceParent != "" {
		req.Metadata = x.tracing.JobMetadata(req.Metadata, req.TraceParent)
	}
	var key string
	if req.IdempotencyKey != "" {
		name := ""
		if caller != nil {
			name = caller.Name
		}
		key = idemKey(name, req.IdempotencyKey)
		held, first, err := x.store.Reserve(ctx, key, idemValue(id, req.Fingerprint), x.cfg.Limits.IdempotencyWindow)
		if errors.Is(err, store.ErrFull) {
			return nil, nil, false, busy("the table of idempotency keys is full")
		}
		if err != nil {
			return nil, nil, false, err
		}
		if !first {
			heldID, fp := parseIdem(held)
			if fp != req.Fingerprint {
				return nil, nil, false, refuse(KindUnprocessable, wire.CodeIdempotencyConflict,
					"Idempotency-Key %q was used for another request (job %s); use a new key for a new job", req.IdempotencyKey, heldID)
			}
			if j, w, err := x.replay(ctx, heldID, req.Watch); !errors.Is(err, store.ErrNotFound) {
				return j, w, err == nil, err
			}
			id = heldID // the first create did not commit (yet): create it under its id
		}
	}
	quota, err := x.takeQuota(ctx, caller)
	if err != nil {
		return nil, nil, false, err
	}
	now := x.now()
	j = &core.Job{
		ID: id, Blueprint: m.Name, Version: m.Hash, Status: wire.StatusPending, Input: req.Input,
		WebhookURL: req.WebhookURL, Metadata: req.Metadata, Security: req.Security,
		DispatchTimeout: req.DispatchTimeout, ResultTimeout: req.ResultTimeout,
		CreatedAt: now, UpdatedAt: now,
	}
	if caller != nil {
		j.Client = core.Client{Name: caller.Name, Plan: caller.Plan, Fields: caller.Fields}
	}
	if req.Watch {
		w = x.WatchJob(j.ID) // before the job exists: its end cannot be missed
	}
	nj, err := x.create(ctx, j)
	if err != nil {
		w.Stop()
		x.untakeQuota(ctx, quota)
		if key != "" && errors.Is(err, store.ErrExists) {
			// Another retry of the same key created it meanwhile.
			j, w, err := x.replay(ctx, id, req.Watch)
			return j, w, err == nil, err
		}
		return nil, nil, false, err
	}
	return nj, w, false, nil
}

// replay returns a job created before, with a Watch on it when asked.
func (x *Orchestrator) replay(ctx context.Context, id string, watch bool) (*core.Job, *Watch, error) {
	var w *Watch
	if watch {
		w = x.WatchJob(id)
	}
	j, err := x.store.GetJob(ctx, id)
	if err != nil {
		w.Stop()
		return nil, nil, err
	}
	return j, w, nil
}

// newID is a random (version 4) UUID.
func (x *Orchestrator) newID() (string, error) {
	id, err := uuid.New(x.rand)
	if err != nil {
		return "", fmt.Errorf("new job id: %w", err)
	}
	return id, nil
}

// takeQuota counts one job creation against the client's monthly_attempts
// and returns the counter's name ("" when nothing was counted); a client
// without the key is unlimited. The count is a store counter per client
// and calendar month (UTC), so it holds across restarts and instances
// and starts again each month. A refused creation is KindExhausted, to be
// retried at the start of the next month, and is not counted.
func (x *Orchestrator) takeQuota(ctx context.Context, cl *config.Client) (string, error) {
	if cl == nil || cl.MonthlyAttempts == nil {
		return "", nil
	}
	now := x.now().UTC()
	name := "quota:" + cl.Name + ":" + now.Format("2006-01")
	n, err := x.store.Counter(ctx, name)
	if err != nil {
		return "", err
	}
	if n > uint64(*cl.MonthlyAttempts) {
		x.untakeQuota(ctx, name)
		next := time.Date(now.Year(), now.Month()+1, 1, 0, 0, 0, 0, time.UTC)
		e := refuse(KindExhausted, wire.CodeQuotaExceeded, "client %q used its %d job creations of %s", cl.Name, *cl.MonthlyAttempts, now.Format("January 2006"))
		e.RetryAfter = next.Sub(now) + time.Second
		return "", e
	}
	return name, nil
}

// untakeQuota gives back a creation counted by takeQuota that did not
// happen.
func (x *Orchestrator) untakeQuota(ctx context.Context, name string) {
	if name == "" {
		return
	}
	if err := x.store.Uncount(context.WithoutCancel(ctx), name); err != nil {
		x.log.Warn("give back a quota count", "counter", name, "err", err)
	}
}

// Job returns the caller's job.
func (x *Orchestrator) Job(ctx context.Context, caller *config.Client, id string) (*core.Job, error) {
	j, err := x.store.GetJob(ctx, id)
	if errors.Is(err, store.ErrNotFound) && x.hist != nil {
		j, err = x.hist.Job(ctx, id) // archived, and gone from the live store
	}
	if errors.Is(err, store.ErrNotFound) || (err == nil && caller != nil && j.Client.Name != caller.Name) {
		return nil, refuse(KindNotFound, wire.CodeNotFound, "job %q not found", id)
	}
	return j, err
}

// Timeline returns the caller's job and its timeline.
func (x *Orchestrator) Timeline(ctx context.Context, caller *config.Client, id string) (*core.Job, []core.TimelineEvent, error) {
	j, err := x.Job(ctx, caller, id)
	if err != nil {
		return nil, nil, err
	}
	tl, err := x.store.Timeline(ctx, j.ID)
	if errors.Is(err, store.ErrNotFound) && x.hist != nil {
		tl, err = x.hist.Timeline(ctx, j.ID)
	}
	return j, tl, err
}

// Jobs lists the caller's jobs, newest first.
func (x *Orchestrator) Jobs(ctx context.Context, caller *config.Client, limit, offset int) ([]*core.Job, error) {
	p := store.ListParams{Limit: limit, Offset: offset}
	if caller != nil {
		p.Client = caller.Name
	}
	return x.store.ListJobs(ctx, p)
}

// Cancel cancels the caller's job: KindNotFound when it has ended.
func (x *Orchestrator) Cancel(ctx context.Context, caller *config.Client, id string) error {
	j, err := x.Job(ctx, caller, id)
	if err != nil {
		return err
	}
	name := ""
	if caller != nil {
		name = caller.Name
	}
	if _, _, err := x.deliver(ctx, j.ID, core.Event{Kind: core.EventCancel, Reason: "cancelled by client " + name}, nil); err != nil {
		if errors.Is(err, core.ErrTerminal) {
			return refuse(KindNotFound, wire.CodeNotFound, "Job not found or already terminal.")
		}
		return err
	}
	return nil
}

// Decisions an approval takes.
const (
	DecisionApproved = "approved"
	DecisionRejected = "rejected"
)

// Approve delivers an approval decision to the caller's job, which must
// be waiting for one (KindConflict otherwise).
func (x *Orchestrator) Approve(ctx context.Context, caller *config.Client, id, decision string) error {
	j, err := x.Job(ctx, caller, id)
	if err != nil {
		return err
	}
	if decision != DecisionApproved && decision != DecisionRejected {
		return refuse(KindInvalid, wire.CodeInvalidDecision, "decision %q: want approved or rejected", decision)
	}
	if j.Status != wire.StatusWaitingForHuman {
		return refuse(KindConflict, wire.CodeNotWaiting, "job %s is %s, not waiting for an approval", j.ID, j.Status)
	}
	if _, _, err := x.deliver(ctx, j.ID, core.Event{Kind: core.EventApproval, Decision: decision}, nil); err != nil {
		if errors.Is(err, core.ErrBadDecision) || errors.Is(err, core.ErrTerminal) || errors.Is(err, core.ErrBadEvent) {
			return refuse(KindConflict, wire.CodeNotWaiting, "%v", err)
		}
		return err
	}
	return nil
}
