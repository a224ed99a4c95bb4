package orchestrator

import "context"

// Driving an orchestrator by hand. A blueprint test runs the orchestrator
// without its background loops, on a virtual clock: it moves the clock to
// the next due time, then calls these to do, once and at once, what the
// loops would have done at that time.

// FireDue claims every timer due at the orchestrator's clock and
// delivers each through the same path as the timer loop (a dispatch
// timeout first withdraws its still-queued task). Only a store error is
// returned; an event that no longer applies is dropped, as by the loop.
func (x *Orchestrator) FireDue(ctx context.Context) error {
	return x.fireTimers(ctx)
}

// ReclaimDue runs one pass of the reclaim loop at the orchestrator's
// clock: workers whose registration expired are removed and leases that
// ended come back to their jobs as task timeouts.
func (x *Orchestrator) ReclaimDue(ctx context.Context) error {
	return x.reclaim(ctx)
}
