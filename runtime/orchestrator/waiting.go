package orchestrator

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// servedTTL is how long the set of task types that registered workers
// serve is reused before the store is read again.
const servedTTL = 2 * time.Second

// served caches which task types some live worker serves, and remembers
// the unserved types already logged so each is logged once (again only
// after a worker served it in between).
type served struct {
	mu         sync.Mutex
	at         time.Time
	types      map[string]bool // replaced, never changed: safe to read unlocked
	refreshing bool
	gen        uint64 // counts forgets: a read begun before one is not cached
	logged     map[string]bool
}

// servedTypes returns the task types some live registered worker serves.
// A cached answer younger than servedTTL is reused. Past it, wait reads
// the store now; otherwise the stale answer (nil before the first) is
// returned and one read in the background refreshes it, so a commit never
// waits on a list of every worker.
func (x *Orchestrator) servedTypes(ctx context.Context, wait bool) (map[string]bool, error) {
	now := x.now()
	x.served.mu.Lock()
	types, fresh := x.served.types, x.served.types != nil && now.Sub(x.served.at) < servedTTL && !now.Before(x.served.at)
	if fresh || (!wait && x.served.refreshing) {
		x.served.mu.Unlock()
		return types, nil
	}
	if !wait {
		x.served.refreshing = true
		x.served.mu.Unlock()
		go func() {
			rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := x.readServed(rctx); err != nil {
				x.log.Debug("read the workers for waiting reasons", "err", err)
			}
			x.served.mu.Lock()
			x.served.refreshing = false
			x.served.mu.Unlock()
		}()
		return types, nil
	}
	x.served.mu.Unlock()
	return x.readServed(ctx)
}

// readServed reads the live workers' task types from the store and
// caches them.
func (x *Orchestrator) readServed(ctx context.Context) (map[string]bool, error) {
	now := x.now()
	x.served.mu.Lock()
	gen := x.served.gen
	x.served.mu.Unlock()
	recs, err := x.store.Workers(ctx)
	if err != nil {
		return nil, err
	}
	types := map[string]bool{}
	for _, r := range recs {
		if !r.ExpiresAt.IsZero() && r.ExpiresAt.Before(now) {
			continue
		}
		for _, s := range r.Skills {
			types[s] = true
		}
	}
	x.served.mu.Lock()
	if x.served.gen == gen {
		x.served.types, x.served.at = types, now
	}
	x.served.mu.Unlock()
	return types, nil
}

// WaitingReason says why a job that waits for a worker waits: the task
// types of its queued tasks that no registered worker serves. "" when the
// job waits for no worker or every type has one (it then waits for a
// free one). An unserved type is logged the first time it is seen.
func (x *Orchestrator) WaitingReason(ctx context.Context, j *core.Job) string {
	if j.Status != wire.StatusWaitingForWorker && j.Status != wire.StatusWaitingParallel {
		return ""
	}
	var waiting []string
	for _, t := range j.Tasks.All() {
		if t.Result == nil && t.Type != "" {
			waiting = append(waiting, t.Type)
		}
	}
	if len(waiting) == 0 {
		return ""
	}
	have, err := x.servedTypes(ctx, true)
	if err != nil {
		return "" // the reason is a courtesy; a store error is not the job's
	}
	unserved := x.unserved(have, waiting, j.ID)
	switch len(unserved) {
	case 0:
		return ""
	case 1:
		return fmt.Sprintf("no registered worker serves task type %q; the job waits until one registers", unserved[0])
	}
	return fmt.Sprintf("no registered worker serves task types %s; the job waits until one registers", quoteAll(unserved))
}

// unserved returns the types among types that have does not hold,
// sorted, logging each the first time.
func (x *Orchestrator) unserved(have map[string]bool, types []string, jobID string) []string {
	seen := map[string]bool{}
	var out []string
	for _, t := range types {
		if !have[t] && !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	sort.Strings(out)
	x.served.mu.Lock()
	defer x.served.mu.Unlock()
	if x.served.logged == nil {
		x.served.logged = map[string]bool{}
	}
	for t := range x.served.logged {
		if have[t] {
			delete(x.served.logged, t)
		}
	}
	for _, t := range out {
		if !x.served.logged[t] {
			x.served.logged[t] = true
			x.log.Warn("no registered worker serves this task type; its jobs wait until one registers (or their dispatch_timeout)",
				"task_type", t, "job", jobID)
		}
	}
	return out
}

// checkServed logs the task types a commit queued that no worker serves.
func (x *Orchestrator) checkServed(ctx context.Context, j *core.Job, eff *core.Effects) {
	if len(eff.Enqueue) == 0 {
		return
	}
	have, err := x.servedTypes(ctx, false)
	if err != nil || have == nil {
		return // not read yet: the next commit tells
	}
	for _, t := range eff.Enqueue {
		if !have[t.Type] {
			types := make([]string, 0, len(eff.Enqueue))
			for _, t := range eff.Enqueue {
				types = append(types, t.Type)
			}
			x.unserved(have, types, j.ID)
			return
		}
	}
}

// forget drops the cached served types, so a worker that just registered
// counts at once.
func (s *served) forget() {
	s.mu.Lock()
	s.types = nil
	s.gen++
	s.mu.Unlock()
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}
