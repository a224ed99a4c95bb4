package orchestrator

import (
	"context"
	"errors"
	"fmt"

	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/dispatch"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// maxCommitTries bounds the reads and steps of one event that keep losing
// the version race to other writers of the job.
const maxCommitTries = 50

// deliver applies one event to a job and runs what follows the commit. It
// returns the committed job and the effects, or the job as it stands and
// the step's error. Events of one job are applied one at a time on this
// instance (instances race, and the store's version check settles that).
func (x *Orchestrator) deliver(ctx context.Context, jobID string, ev core.Event, complete *store.TaskCompletion) (*core.Job, *core.Effects, error) {
	unlock := x.jobLocks.lock(jobID)
	nj, eff, err := x.stepAndCommit(ctx, jobID, nil, ev, complete)
	unlock()
	if err != nil {
		return nj, nil, err
	}
	x.after(ctx, nj, eff, ev.Kind == core.EventCreated)
	return nj, eff, nil
}

// create starts a new job: steps it with its created event and creates it
// with its effects.
func (x *Orchestrator) create(ctx context.Context, j *core.Job) (*core.Job, error) {
	nj, eff, err := x.stepAndCommit(ctx, j.ID, j, core.Event{Kind: core.EventCreated}, nil)
	if err != nil {
		return nil, err
	}
	x.after(ctx, nj, eff, true)
	return nj, nil
}

// stepAndCommit is the one path from an event to a commit: read the job
// (from this instance's copy or the store; fresh is a new job, created
// instead of committed), step the engine, fill in what the runtime
// decides (child versions, workers a strategy picks), commit with a
// version check, and on a lost race read and step again. complete, when
// set, marks the leased task done in the same commit; a result the job
// no longer takes closes the lease all the same, so the task is not run
// again.
func (x *Orchestrator) stepAndCommit(ctx context.Context, jobID string, fresh *core.Job, ev core.Event, complete *store.TaskCompletion) (*core.Job, *core.Effects, error) {
	for try := 0; ; try++ {
		j, cached := fresh, false
		if j == nil {
			if j = x.jobs.get(jobID); j != nil {
				cached = true
			} else {
				var err error
				if j, err = x.store.GetJob(ctx, jobID); err != nil {
					return nil, nil, err
				}
			}
		}
		m, err := x.machine(ctx, j)
		if err != nil {
			return nil, nil, err
		}
		in, err := x.inputs(ctx, m)
		if err != nil {
			return nil, nil, err
		}
		nj, eff, err := core.Step(ctx, m, j, ev, in)
		if err != nil && cached {
			// The copy may be stale: judge the event on the stored job.
			x.jobs.drop(jobID)
			continue
		}
		if err != nil {
			if complete != nil && (errors.Is(err, core.ErrStaleTask) || errors.Is(err, core.ErrTerminal)) {
				_, cerr := x.store.CommitIfVersion(ctx, store.CommitParams{Job: j, ExpectRev: j.Rev, Effects: &core.Effects{}, Complete: complete})
				if errors.Is(cerr, store.ErrConflict) && try < maxCommitTries {
					continue
				}
				if cerr != nil && !errors.Is(cerr, store.ErrConflict) {
					return j, nil, cerr
				}
			}
			return j, nil, err
		}
		if err := x.prepare(ctx, nj, eff); err != nil {
			return nil, nil, err
		}
		ends := nj.Status.Terminal() && x.store.JobEnds() != nil
		if ends {
			x.ending.mark(jobID, x.now())
		}
		x.outboxWebhook(nj, eff)
		if fresh != nil {
			if err := x.store.CreateJob(ctx, store.CommitParams{Job: nj, Effects: eff}); err != nil {
				if ends {
					x.ending.take(jobID)
				}
				return nil, nil, err
			}
			nj.Rev = 1
			x.jobs.put(nj)
			x.obs.Stepped(nil, nj, ev, eff)
			if x.tracing != nil {
				x.tracing.Committed(nil, nj, ev, eff, in.Now)
			}
			return nj, eff, nil
		}
		rev, err := x.store.CommitIfVersion(ctx, store.CommitParams{Job: nj, ExpectRev: j.Rev, Effects: eff, Complete: complete})
		if err != nil && ends {
			x.ending.take(jobID)
		}
		if errors.Is(err, store.ErrConflict) && try < maxCommitTries {
			x.jobs.drop(jobID)
			continue
		}
		if err != nil {
			x.jobs.drop(jobID)
			return nil, nil, err
		}
		nj.Rev = rev
		x.jobs.put(nj)
		x.obs.Stepped(j, nj, ev, eff)
		if x.tracing != nil {
			x.tracing.Committed(j, nj, ev, eff, in.Now)
		}
		return nj, eff, nil
	}
}

// machine returns the version a job runs, rebuilding it from the store
// when this instance has not seen it.
func (x *Orchestrator) machine(ctx context.Context, j *core.Job) (*lang.Machine, error) {
	if m := x.reg.ByHash(j.Version); m != nil {
		return m, nil
	}
	v, err := x.store.Version(ctx, j.Version)
	if err != nil {
		return nil, fmt.Errorf("blueprint version %s of job %s: %w", short(j.Version), j.ID, err)
	}
	m, err := lang.Rebuild(v.File, v.Sources)
	if err != nil {
		return nil, err
	}
	return x.reg.Add(m), nil
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func (x *Orchestrator) limits() core.Limits {
	return core.Limits{MaxSteps: x.cfg.MaxTransitionsPerJob, TaskTimeout: x.cfg.WorkerTimeout,
		DispatchTimeout: x.cfg.DispatchTimeout, Retries: &x.cfg.JobMaxRetries}
}

func (x *Orchestrator) inputs(ctx context.Context, m *lang.Machine) (core.Inputs, error) {
	in := core.Inputs{Now: x.now(), Rand: x.rand, Limits: x.limits()}
	if len(m.Stores) > 0 {
		st, err := x.store.Stores(ctx, m.Name)
		if err != nil {
			return in, err
		}
		in.Stores = st
	}
	return in, nil
}

// prepare fills in what the engine leaves to the runtime: the version of
// each child job, and the worker a strategy picks for each task.
func (x *Orchestrator) prepare(ctx context.Context, j *core.Job, eff *core.Effects) error {
	for _, c := range eff.StartChild {
		m := x.reg.Current(c.Blueprint)
		if m == nil {
			return fmt.Errorf("job %s: sub-blueprint %q is not loaded", j.ID, c.Blueprint)
		}
		c.Version = m.Hash
	}
	for _, t := range eff.Enqueue {
		if x.tracing != nil {
			t.TracingContext = x.tracing.TaskContext(j, t)
		}
		if t.Strategy == "" || t.Strategy == wire.StrategyDefault {
			continue
		}
		cands, err := x.store.Candidates(ctx, t.Type)
		if err != nil {
			return err
		}
		var rr uint64
		if t.Strategy == wire.StrategyRoundRobin {
			if rr, err = x.store.Counter(ctx, "rr:"+t.Type); err != nil {
				return err
			}
		}
		w, err := dispatch.Pick(t, cands, rr)
		if err != nil {
			return err
		}
		t.Worker = w
	}
	return nil
}

// after runs what follows a commit: telling workers to stop withdrawn
// tasks, starting child jobs, and, when the job ended, waking those who
// wait on it, telling the observer and posting the webhook.
func (x *Orchestrator) after(ctx context.Context, j *core.Job, eff *core.Effects, created bool) {
	if created {
		x.obs.JobCreated(j)
	}
	x.checkServed(ctx, j, eff)
	for _, id := range eff.Withdraw {
		x.obs.TaskWithdrawn(ctx, id, j.ID)
	}
	for _, c := range eff.StartChild {
		// The parent's commit created the child's record; its start is
		// the child's created event, committed over that record.
		if _, _, err := x.deliver(ctx, c.ID, core.Event{Kind: core.EventCreated}, nil); err != nil {
			x.log.Error("start child job", "job", j.ID, "child", c.ID, "err", err)
		}
	}
	if eff.Notify != nil {
		x.kickArchive()
		x.waiters.wake(j)
		x.obs.JobEnded(j)
		x.notify(j, eff.Notify)
	}
}

// benign errors mean the event no longer applies; nothing is lost.
func benign(err error) bool {
	return errors.Is(err, core.ErrStaleTask) || errors.Is(err, core.ErrStaleTimer) || errors.Is(err, core.ErrTerminal) ||
		errors.Is(err, core.ErrBadEvent) || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrClosed)
}
