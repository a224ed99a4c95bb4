package orchestrator

import (
	"context"
	"sync"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
)

// endPollEvery is how often a held wait reads a job whose end may be
// committed by another instance, on a store that does not tell of ends;
// endPollFallback is how often it reads on one that does (a notice may
// be lost).
const (
	endPollEvery    = 250 * time.Millisecond
	endPollFallback = 5 * time.Second
)

// Watch is a registration to hear of one job's end on this instance. Take
// it before reading the job, so an end committed after the read is not
// missed; Stop it when done.
type Watch struct {
	x  *Orchestrator
	id string
	ch chan *core.Job
}

// WatchJob registers for the end of job id.
func (x *Orchestrator) WatchJob(id string) *Watch {
	return &Watch{x: x, id: id, ch: x.waiters.wait(id)}
}

// Stop drops the registration; safe to call more than once.
func (w *Watch) Stop() {
	if w != nil && w.ch != nil {
		w.x.waiters.drop(w.id, w.ch)
	}
}

// Until waits up to d for the job, as last seen in j, to end, and returns
// it as last seen: at its end, when the time is up or when the instance
// drains. An end committed on this instance arrives with the committed
// job (no read); one committed on another instance arrives as the
// store's notice (Store.JobEnds), and the job is read once then; on a
// store without notices it is seen by a read every 250 ms. A nil job
// means ctx ended (the caller went away). Until stops the watch.
func (w *Watch) Until(ctx context.Context, j *core.Job, d time.Duration) (*core.Job, error) {
	defer w.Stop()
	if j.Status.Terminal() {
		return j, nil
	}
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(w.x.endPoll)
	defer tick.Stop()
	for !j.Status.Terminal() {
		select {
		case got := <-w.ch:
			if got != nil { // committed here: no read needed
				j = got
				if !j.Status.Terminal() {
					w.Stop()
					w.ch = w.x.waiters.wait(w.id)
				}
				continue
			}
			// Ended on another instance: read it, and keep watching.
			w.ch = w.x.waiters.wait(w.id)
		case <-tick.C:
		case <-deadline.C:
			return j, nil
		case <-ctx.Done():
			return nil, nil
		case <-w.x.drainCtx.Done():
			return j, nil
		}
		var err error
		if j, err = w.x.store.GetJob(ctx, w.id); err != nil {
			return nil, err
		}
	}
	return j, nil
}

// waiters are the requests waiting for a job to end. A wake hands each
// the job as committed, so it answers without reading the store again.
type waiters struct {
	mu sync.Mutex
	m  map[string][]chan *core.Job
}

// wait registers for the next wake of job id; the channel receives once.
func (w *waiters) wait(id string) chan *core.Job {
	ch := make(chan *core.Job, 1)
	w.mu.Lock()
	if w.m == nil {
		w.m = map[string][]chan *core.Job{}
	}
	w.m[id] = append(w.m[id], ch)
	w.mu.Unlock()
	return ch
}

func (w *waiters) drop(id string, ch chan *core.Job) {
	w.mu.Lock()
	defer w.mu.Unlock()
	list := w.m[id]
	for i, c := range list {
		if c == ch {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(w.m, id)
	} else {
		w.m[id] = list
	}
}

// notice wakes the waiters of job id with no job: it ended on another
// instance, and they read it.
func (w *waiters) notice(id string) {
	w.mu.Lock()
	list := w.m[id]
	delete(w.m, id)
	w.mu.Unlock()
	for _, ch := range list {
		ch <- nil
	}
}

func (w *waiters) wake(j *core.Job) {
	w.mu.Lock()
	list := w.m[j.ID]
	delete(w.m, j.ID)
	w.mu.Unlock()
	for _, ch := range list {
		ch <- j
	}
}

// endMarks are the jobs whose end this instance is committing: the
// store's notice of that end is not needed, as the commit wakes the waits
// with the job itself (and reading it again would cost a round trip).
// Marks of commits that failed are taken back; any left over go after a
// minute.
type endMarks struct {
	mu    sync.Mutex
	m     map[string]time.Time
	swept int
}

func (e *endMarks) mark(id string, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.m == nil {
		e.m = map[string]time.Time{}
	}
	if len(e.m) >= 2*max(e.swept, 256) {
		for k, at := range e.m {
			if now.Sub(at) > time.Minute {
				delete(e.m, k)
			}
		}
		e.swept = len(e.m)
	}
	e.m[id] = now
}

// take removes id's mark and reports whether it had one.
func (e *endMarks) take(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, ok := e.m[id]
	delete(e.m, id)
	return ok
}
