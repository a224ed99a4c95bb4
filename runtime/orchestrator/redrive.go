package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// Redrive: a failed or quarantined job runs again as a new job that
// starts in the state where the old one failed, with the old one's input
// and history (what its states produced so far), on the old one's
// blueprint version unless asked for the current one. The new job's
// metadata names the old one (redrive_of), its created event names the
// state it started in, and the old job's timeline gets a "redriven" event
// naming the new one.

// MetaRedriveOf is the metadata key that links a redriven job to the job
// it re-runs.
const MetaRedriveOf = "redrive_of"

// RedriveRequest says how to re-run a job.
type RedriveRequest struct {
	// FromState is the state to start in; "" is where the job failed.
	FromState string
	// Current runs the blueprint's current version instead of the job's.
	Current bool
	// Input replaces the job's input when not nil (checked against the
	// blueprint's input schema).
	Input map[string]any
}

// MaxRedriveBatch is how many jobs one bulk redrive re-runs at most.
const MaxRedriveBatch = 1000

// Redrive re-runs the caller's failed or quarantined job and returns the
// new job.
func (x *Orchestrator) Redrive(ctx context.Context, caller *config.Client, id string, req RedriveRequest) (*core.Job, error) {
	old, err := x.Job(ctx, caller, id)
	if err != nil {
		return nil, err
	}
	if old.Status != wire.StatusFailed && old.Status != wire.StatusQuarantined {
		return nil, refuse(KindConflict, wire.CodeNotWaiting, "job %s is %s; only a failed or quarantined job is redriven", old.ID, old.Status)
	}
	if x.draining.Load() {
		return nil, refuse(KindUnavailable, wire.CodeShuttingDown, "the server is shutting down; retry on another instance")
	}
	var m *lang.Machine
	if req.Current {
		if m = x.reg.Current(old.Blueprint); m == nil {
			return nil, refuse(KindNotFound, wire.CodeNotFound, "blueprint %q is no longer served; redrive on the job's own version", old.Blueprint)
		}
	} else if m, err = x.machine(ctx, old); err != nil {
		return nil, err
	}
	from := req.FromState
	if from == "" {
		_, tl, err := x.Timeline(ctx, caller, old.ID)
		if err != nil {
			return nil, err
		}
		from = failedState(m, old, tl)
	}
	if m.State(from) == nil {
		return nil, refuse(KindInvalid, wire.CodeInvalidField, "from_state %q: blueprint %s (version %s) has no such state", from, m.Name, short(m.Hash))
	}
	input := cloneAny(old.Input).(map[string]any)
	if req.Input != nil {
		input = req.Input
		if m.Input != nil {
			if err := m.Input.Validate(input); err != nil {
				return nil, refuse(KindInvalid, wire.CodeInvalidInput, "input does not match the input schema of %s: %v", m.Name, err)
			}
		}
	}
	quota, err := x.takeQuota(ctx, caller)
	if err != nil {
		return nil, err
	}
	nid, err := x.newID()
	if err != nil {
		x.untakeQuota(ctx, quota)
		return nil, err
	}
	now := x.now()
	meta := maps.Clone(old.Metadata)
	if meta == nil {
		meta = map[string]any{}
	}
	meta[MetaRedriveOf] = old.ID
	hist, _ := cloneAny(old.History).(map[string]any)
	j := &core.Job{
		ID: nid, Blueprint: m.Name, Version: m.Hash, Status: wire.StatusPending, Input: input, History: hist,
		Client: old.Client, WebhookURL: old.WebhookURL, Metadata: meta, Security: old.Security,
		DispatchTimeout: old.DispatchTimeout, ResultTimeout: old.ResultTimeout,
		CreatedAt: now, UpdatedAt: now,
	}
	nj, eff, err := x.stepAndCommit(ctx, j.ID, j, core.Event{Kind: core.EventCreated, StartAt: from}, nil)
	if err != nil {
		x.untakeQuota(ctx, quota)
		return nil, err
	}
	x.after(ctx, nj, eff, true)
	ev := core.TimelineEvent{At: now, Type: "redriven", State: from,
		Detail: map[string]any{"job_id": nj.ID, "version": m.Hash, "from_state": from}}
	if err := x.recordOnOld(ctx, old.ID, ev); err != nil {
		x.log.Warn("redrive: record on the old job", "job", old.ID, "new", nj.ID, "err", err)
	}
	return nj, nil
}

// failedState is the state where an ended job failed: its state, or when
// that is an end state, the state it came from.
func failedState(m *lang.Machine, j *core.Job, tl []core.TimelineEvent) string {
	st := m.State(j.State)
	if st == nil || st.Action != lang.ActionEnd {
		return j.State
	}
	for i := len(tl) - 1; i >= 0; i-- {
		if e := tl[i]; e.Type == "state_entered" && e.NextState == j.State && e.PrevState != "" {
			return e.PrevState
		}
	}
	return j.State
}

// recordOnOld adds ev to the old job's timeline: in the live store while
// it is there, and in the archive once it is archived.
func (x *Orchestrator) recordOnOld(ctx context.Context, id string, ev core.TimelineEvent) error {
	var errs []error
	for try := 0; try < maxCommitTries; try++ {
		j, err := x.store.GetJob(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			break
		}
		if err != nil {
			errs = append(errs, err)
			break
		}
		_, err = x.store.CommitIfVersion(ctx, store.CommitParams{Job: j, ExpectRev: j.Rev, Effects: &core.Effects{Timeline: []core.TimelineEvent{ev}}})
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
		}
		x.jobs.drop(id)
		break
	}
	if x.hist != nil {
		if err := x.hist.AppendTimeline(ctx, id, []core.TimelineEvent{ev}); err != nil && !errors.Is(err, store.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// RedriveResult is what a bulk redrive did (or, in a dry run, would do).
type RedriveResult struct {
	Matched int      `json:"matched"`          // failed or quarantined jobs the filters match (up to the bound)
	Jobs    []string `json:"jobs,omitempty"`   // the new jobs, in the order of the old ones
	Errors  []string `json:"errors,omitempty"` // one per job that could not be redriven
	// More is set when more jobs match than one request redrives.
	More bool `json:"more,omitempty"`
}

// RedriveMany redrives the caller's failed and quarantined jobs that q
// matches, up to MaxRedriveBatch (oldest first); with dryRun it only
// counts them.
func (x *Orchestrator) RedriveMany(ctx context.Context, caller *config.Client, q Query, req RedriveRequest, dryRun bool) (RedriveResult, error) {
	if len(q.Statuses) == 0 {
		q.Statuses = []wire.JobStatus{wire.StatusFailed, wire.StatusQuarantined}
	}
	for _, s := range q.Statuses {
		if s != wire.StatusFailed && s != wire.StatusQuarantined {
			return RedriveResult{}, refuse(KindInvalid, wire.CodeInvalidQuery, "status=%s: only failed and quarantined jobs are redriven", s)
		}
	}
	q.Asc, q.Limit, q.Offset = true, store.MaxQueryLimit, 0
	var old []string
	var res RedriveResult
	for len(old) <= MaxRedriveBatch {
		p, err := x.Search(ctx, caller, q)
		if err != nil {
			return res, err
		}
		for _, j := range p.Jobs {
			old = append(old, j.ID)
		}
		if p.Next == "" {
			break
		}
		q.Cursor = p.Next
	}
	if len(old) > MaxRedriveBatch {
		old, res.More = old[:MaxRedriveBatch], true
	}
	res.Matched = len(old)
	if dryRun {
		return res, nil
	}
	for _, id := range old {
		nj, err := x.Redrive(ctx, caller, id, req)
		if err != nil {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			res.Errors = append(res.Errors, fmt.Sprintf("%s: %v", id, err))
			continue
		}
		res.Jobs = append(res.Jobs, nj.ID)
	}
	return res, nil
}
