package orchestrator

import (
	"context"
	"errors"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
)

// Background loops. Each survives store errors: an error is logged and
// the work is tried again after a backoff that doubles from retryMin up to
// retryMax, and a timer or an expired lease the loop has claimed is
// delivered again until it applies or no longer can (benign), so a store
// that is away for a while delays events but loses none that were claimed.
const (
	retryMin = 50 * time.Millisecond
	retryMax = 10 * time.Second
	// idleTimerWait is how long the timer loop sleeps with no timer armed;
	// an armed timer wakes it at once.
	idleTimerWait = time.Hour
	// reclaimEvery is how often expired leases and dead workers are looked for.
	reclaimEvery = 250 * time.Millisecond
	// claimBatch is how many timers or leases one store call takes.
	claimBatch = 256
)

// backoff is the wait before retry n (1-based) of something that failed.
func backoff(n int) time.Duration {
	d := retryMin
	for i := 1; i < n && d < retryMax; i++ {
		d *= 2
	}
	return min(d, retryMax)
}

// quiet reports whether err is the end of the loop's world (the store
// closed or the context ended) rather than a failure worth a log line.
func quiet(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, store.ErrClosed)
}

// survive takes the outcome of one pass of a background loop: a success
// resets its failure count; a failure counts one more, is logged with msg
// and waits its backoff. False when the loop must end (ctx ended).
func (x *Orchestrator) survive(ctx context.Context, fails *int, msg string, err error) bool {
	switch {
	case err == nil:
		*fails = 0
		return true
	case quiet(ctx, err):
		return false
	}
	*fails++
	wait := backoff(*fails)
	x.log.Warn(msg, "in", wait, "err", err)
	return sleep(ctx, wait)
}

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// deliverClaimed delivers an event the loop claimed from the store (a due
// timer, an expired lease): until it applies, or it is benign, or ctx
// ends; a store error is logged and tried again after a backoff.
func (x *Orchestrator) deliverClaimed(ctx context.Context, what, jobID string, ev core.Event) {
	for n := 1; ; n++ {
		_, _, err := x.deliver(ctx, jobID, ev, nil)
		if err == nil || benign(err) || quiet(ctx, err) {
			return
		}
		wait := backoff(n)
		x.log.Warn("deliver "+what+": retrying", "job", jobID, "kind", ev.Kind, "task", ev.TaskID, "timer", ev.TimerID, "in", wait, "err", err)
		if !sleep(ctx, wait) {
			return
		}
	}
}

// timerLoop delivers due timers, waking when one is armed or due.
func (x *Orchestrator) timerLoop(ctx context.Context) {
	for fails := 0; ; {
		armed := x.store.TimerArmed()
		wait := idleTimerWait
		err := x.fireTimers(ctx)
		if err == nil {
			var at time.Time
			var ok bool
			if at, ok, err = x.store.NextTimerAt(ctx); err == nil && ok {
				wait = max(at.Sub(x.now()), time.Millisecond)
			}
		}
		switch {
		case err == nil:
			fails = 0
		case quiet(ctx, err):
			return
		default:
			fails++
			wait = backoff(fails)
			x.log.Warn("timers: store error; retrying", "in", wait, "err", err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-armed:
		case <-t.C:
		}
		t.Stop()
	}
}

// fireTimers claims and delivers every due timer.
func (x *Orchestrator) fireTimers(ctx context.Context) error {
	for {
		ts, err := x.store.ClaimDueTimers(ctx, x.now(), claimBatch)
		if err != nil || len(ts) == 0 {
			return err
		}
		for _, t := range ts {
			if err := x.fire(ctx, t); err != nil {
				return err
			}
		}
	}
}

// fire delivers one claimed timer. A dispatch timeout first withdraws its
// task, unless a worker took it in time.
func (x *Orchestrator) fire(ctx context.Context, t core.Timer) error {
	if t.Event.Kind == eventWebhook {
		for n := 1; ; n++ {
			err := x.fireWebhook(ctx, t)
			if err == nil || quiet(ctx, err) {
				return err
			}
			wait := backoff(n)
			x.log.Warn("webhook: store error; retrying", "job", t.JobID, "in", wait, "err", err)
			if !sleep(ctx, wait) {
				return ctx.Err()
			}
		}
	}
	if t.Event.Kind == core.EventDispatchTimeout {
		var ok bool
		for n := 1; ; n++ {
			var err error
			if ok, err = x.store.WithdrawIfQueued(ctx, t.Event.TaskID); err == nil {
				break
			}
			if quiet(ctx, err) {
				return err
			}
			wait := backoff(n)
			x.log.Warn("dispatch timeout: withdraw task: retrying", "job", t.JobID, "task", t.Event.TaskID, "in", wait, "err", err)
			if !sleep(ctx, wait) {
				return ctx.Err()
			}
		}
		if !ok {
			return nil // a worker took it in time
		}
	}
	x.deliverClaimed(ctx, "timer", t.JobID, t.Event)
	return nil
}

// reclaimLoop returns expired leases to the engine and forgets dead
// workers, a few times a second, and at once after Reclaim.
func (x *Orchestrator) reclaimLoop(ctx context.Context) {
	tick := time.NewTicker(reclaimEvery)
	defer tick.Stop()
	for fails := 0; ; {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-x.kick:
		}
		if !x.survive(ctx, &fails, "reclaim leases: store error; retrying", x.reclaim(ctx)) {
			return
		}
	}
}

// reclaim runs one pass: dead workers expire, expired leases come back
// to their jobs as task timeouts.
func (x *Orchestrator) reclaim(ctx context.Context) error {
	now := x.now()
	gone, err := x.store.ExpireWorkers(ctx, now)
	if err != nil {
		return err
	}
	for _, id := range gone {
		x.workerRecs.drop(id)
	}
	x.workerRecs.sweep(now)
	tasks, err := x.store.ReclaimExpired(ctx, now, claimBatch)
	if err != nil {
		return err
	}
	for _, t := range tasks {
		ev := core.Event{Kind: core.EventTaskTimeout, TaskID: t.ID, Branch: t.Branch, WorkerID: t.Worker}
		x.deliverClaimed(ctx, "lease timeout", t.JobID, ev)
	}
	return nil
}

// Reclaim runs one pass of lease reclaim and worker expiry at once.
func (x *Orchestrator) Reclaim() {
	select {
	case x.kick <- struct{}{}:
	default:
	}
}
