package store

import (
	"container/heap"
	"container/list"
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/dispatch"
)

// MemoryOptions configure a memory store; the zero value works.
type MemoryOptions struct {
	// Clock measures how long a long poll waited (added to its Now when
	// it is handed a task); time.Now when nil.
	Clock func() time.Time
}

// Memory is the embedded store: one mutex over a set of maps, with a
// channel per waiting poller. A new task is handed to the longest-waiting
// poller that may run it while the enqueueing commit holds the lock, so
// exactly one poller gets it and none polls periodically.
//
// It keeps every job, its timeline and a record of every task for the
// life of the process (done and withdrawn tasks are what make a repeated
// or late result answerable).
type Memory struct {
	clock    func() time.Time
	closedCh chan struct{}

	mu     sync.Mutex
	closed bool

	jobs     map[string]*core.Job
	order    []string            // job ids in creation order
	byClient map[string][]string // job ids per client, in creation order
	timeline map[string][]core.TimelineEvent
	byStatus map[core.Status]int

	tasks   map[string]*taskEntry
	shared  map[string]*queue // by task type
	own     map[string]*queue // by worker id
	leases  map[string]*taskEntry
	queued  int
	seq     uint64
	load    map[string]int
	cancels map[string][]string

	waitByType   map[string]*list.List // of *waiter
	waitByWorker map[string]*list.List
	waiting      int

	timers     map[string]*timerEntry
	timerHeap  timerHeap
	timerArmed chan struct{}

	workers  map[string]*WorkerRecord
	counters map[string]uint64
	stores   map[string]map[string]map[string]any
	versions map[string]*Version
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty memory store.
func NewMemory(o MemoryOptions) *Memory {
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return &Memory{
		clock:        o.Clock,
		closedCh:     make(chan struct{}),
		jobs:         map[string]*core.Job{},
		byClient:     map[string][]string{},
		timeline:     map[string][]core.TimelineEvent{},
		byStatus:     map[core.Status]int{},
		tasks:        map[string]*taskEntry{},
		shared:       map[string]*queue{},
		own:          map[string]*queue{},
		leases:       map[string]*taskEntry{},
		load:         map[string]int{},
		cancels:      map[string][]string{},
		waitByType:   map[string]*list.List{},
		waitByWorker: map[string]*list.List{},
		timers:       map[string]*timerEntry{},
		timerArmed:   make(chan struct{}),
		workers:      map[string]*WorkerRecord{},
		counters:     map[string]uint64{},
		stores:       map[string]map[string]map[string]any{},
		versions:     map[string]*Version{},
	}
}

// taskEntry is the store's record of one task.
type taskEntry struct {
	task     *core.Task // owned copy
	state    TaskState
	worker   string // see TaskInfo.Worker
	assigned string // the worker whose own queue the task went to, or ""
	seq      uint64
	q        *entryHeap // while queued
	idx      int
	dead     bool // the lease holder was declared dead
}

// holder is the worker whose load the entry counts toward, or "".
func (e *taskEntry) holder() string {
	switch e.state {
	case TaskQueued:
		return e.assigned
	case TaskLeased:
		return e.worker
	}
	return ""
}

// before orders entries: higher priority first, then FIFO.
func (e *taskEntry) before(o *taskEntry) bool {
	if e.task.Priority != o.task.Priority {
		return e.task.Priority > o.task.Priority
	}
	return e.seq < o.seq
}

type entryHeap []*taskEntry

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return h[i].before(h[j]) }
func (h entryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *entryHeap) Push(x any) {
	e := x.(*taskEntry)
	e.idx = len(*h)
	*h = append(*h, e)
}
func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.idx = -1
	return e
}

// queue holds the tasks waiting on one shared queue or one worker's own
// queue. Tasks with requires or max_cost sit apart, so the common case (no
// constraints) is the top of a heap.
type queue struct {
	plain entryHeap
	cons  entryHeap
}

type waiter struct {
	p     *LeaseParams
	start time.Time
	ch    chan handoff // buffered 1; written once, under the lock
	elems []waitElem
}

type waitElem struct {
	l *list.List
	e *list.Element
}

type handoff struct {
	e    *taskEntry
	task *core.Task // the copy to return, made under the lock
}

type timerEntry struct {
	t   core.Timer
	idx int
}

type timerHeap []*timerEntry

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if !h[i].t.At.Equal(h[j].t.At) {
		return h[i].t.At.Before(h[j].t.At)
	}
	return h[i].t.ID < h[j].t.ID
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *timerHeap) Push(x any) {
	e := x.(*timerEntry)
	e.idx = len(*h)
	*h = append(*h, e)
}
func (h *timerHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}

// lock takes the mutex unless the store is closed.
func (m *Memory) lock() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	return nil
}

// CreateJob implements Store.
func (m *Memory) CreateJob(ctx context.Context, p CommitParams) error {
	if p.Job == nil || p.Job.ID == "" {
		return fmt.Errorf("create job: job with an id is required")
	}
	if err := m.lock(); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if _, ok := m.jobs[p.Job.ID]; ok {
		return fmt.Errorf("create job %q: %w", p.Job.ID, ErrExists)
	}
	if err := m.checkEffects(p.Job.ID, p.Effects, p.Job.ID); err != nil {
		return err
	}
	m.putNewJob(p.Job)
	m.applyEffects(p.Job, p.Effects)
	return nil
}

// CommitIfVersion implements Store.
func (m *Memory) CommitIfVersion(ctx context.Context, p CommitParams) (int64, error) {
	if p.Job == nil || p.Job.ID == "" {
		return 0, fmt.Errorf("commit job: job with an id is required")
	}
	if err := m.lock(); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	id := p.Job.ID
	old, ok := m.jobs[id]
	if !ok {
		return 0, fmt.Errorf("commit job %q: %w", id, ErrNotFound)
	}
	var done *taskEntry
	if c := p.Complete; c != nil {
		e := m.tasks[c.TaskID]
		if err := completeCheck(id, c, e); err != nil {
			return 0, err
		}
		done = e
	}
	if old.Rev != p.ExpectRev {
		return 0, fmt.Errorf("commit job %q at rev %d (stored rev %d): %w", id, p.ExpectRev, old.Rev, ErrConflict)
	}
	if err := m.checkEffects(id, p.Effects, ""); err != nil {
		return 0, err
	}
	j := CloneJob(p.Job)
	j.Rev = p.ExpectRev + 1
	m.byStatus[old.Status]--
	m.byStatus[j.Status]++
	m.jobs[id] = j
	if done != nil {
		m.transition(done, func() {
			delete(m.leases, done.task.ID)
			done.state = TaskDone
		})
	}
	m.applyEffects(j, p.Effects)
	return j.Rev, nil
}

func completeCheck(jobID string, c *TaskCompletion, e *taskEntry) error {
	if e == nil || e.task.JobID != jobID {
		return fmt.Errorf("result for task %q of job %q: %w", c.TaskID, jobID, ErrStaleTask)
	}
	var err error
	switch e.state {
	case TaskWithdrawn:
		err = ErrStaleTask
	case TaskDone:
		err = ErrWorkerMismatch
		if e.worker == c.WorkerID {
			err = ErrAlreadyDone
		}
	case TaskExpired:
		err = ErrWorkerMismatch
		if e.worker == c.WorkerID {
			err = ErrLeaseLost
		}
	case TaskQueued:
		err = ErrWorkerMismatch
	case TaskLeased:
		if e.worker != c.WorkerID {
			err = ErrWorkerMismatch
		}
	}
	if err != nil {
		return fmt.Errorf("result for task %q from worker %q: %w", c.TaskID, c.WorkerID, err)
	}
	return nil
}

// checkEffects validates what applyEffects would do, so a commit fails
// before changing anything. creating is the id of a job being created in
// the same step ("" on commit).
func (m *Memory) checkEffects(jobID string, fx *core.Effects, creating string) error {
	if fx == nil {
		return nil
	}
	seen := map[string]bool{}
	for _, t := range fx.Enqueue {
		if t == nil || t.ID == "" {
			return fmt.Errorf("commit job %q: enqueue: task with an id is required", jobID)
		}
		if _, ok := m.tasks[t.ID]; ok || seen[t.ID] {
			return fmt.Errorf("commit job %q: enqueue task %q: %w", jobID, t.ID, ErrExists)
		}
		seen[t.ID] = true
	}
	clear(seen)
	for _, c := range fx.StartChild {
		if c == nil || c.ID == "" {
			return fmt.Errorf("commit job %q: start child: job with an id is required", jobID)
		}
		if _, ok := m.jobs[c.ID]; ok || seen[c.ID] || c.ID == creating {
			return fmt.Errorf("commit job %q: start child %q: %w", jobID, c.ID, ErrExists)
		}
		seen[c.ID] = true
	}
	for _, t := range fx.Timers {
		if t.ID == "" {
			return fmt.Errorf("commit job %q: arm timer: timer with an id is required", jobID)
		}
	}
	return nil
}

func (m *Memory) putNewJob(src *core.Job) {
	j := CloneJob(src)
	j.Rev = 1
	m.jobs[j.ID] = j
	m.order = append(m.order, j.ID)
	m.byClient[j.Client.Name] = append(m.byClient[j.Client.Name], j.ID)
	m.byStatus[j.Status]++
}

func (m *Memory) applyEffects(j *core.Job, fx *core.Effects) {
	if fx == nil {
		return
	}
	for _, id := range fx.Withdraw {
		m.withdraw(id)
	}
	for _, id := range fx.CancelTimers {
		if te, ok := m.timers[id]; ok {
			heap.Remove(&m.timerHeap, te.idx)
			delete(m.timers, id)
		}
	}
	for _, t := range fx.Timers {
		m.armTimer(t)
	}
	if len(fx.Timers) > 0 {
		close(m.timerArmed)
		m.timerArmed = make(chan struct{})
	}
	for _, c := range fx.StartChild {
		m.putNewJob(c)
	}
	for _, w := range fx.StoreWrites {
		bp := m.stores[w.Blueprint]
		if bp == nil {
			bp = map[string]map[string]any{}
			m.stores[w.Blueprint] = bp
		}
		st := bp[w.Store]
		if st == nil {
			st = map[string]any{}
			bp[w.Store] = st
		}
		st[w.Key] = CloneValue(w.Value)
	}
	for _, e := range fx.Timeline {
		m.timeline[j.ID] = append(m.timeline[j.ID], cloneTimeline(e))
	}
	for _, t := range fx.Enqueue {
		m.enqueue(CloneTask(t))
	}
}

func (m *Memory) armTimer(t core.Timer) {
	t = cloneTimer(t)
	if te, ok := m.timers[t.ID]; ok {
		te.t = t
		heap.Fix(&m.timerHeap, te.idx)
		return
	}
	te := &timerEntry{t: t}
	m.timers[t.ID] = te
	heap.Push(&m.timerHeap, te)
}

// transition applies change to e, keeping the load, queued and lease
// counts in step.
func (m *Memory) transition(e *taskEntry, change func()) {
	if h := e.holder(); h != "" {
		m.load[h]--
		if m.load[h] <= 0 {
			delete(m.load, h)
		}
	}
	if e.state == TaskQueued {
		m.queued--
	}
	change()
	if h := e.holder(); h != "" {
		m.load[h]++
	}
	if e.state == TaskQueued {
		m.queued++
	}
}

func (m *Memory) enqueue(t *core.Task) {
	t.LeasedAt, t.LeaseUntil = time.Time{}, time.Time{}
	if t.Worker != "" {
		if _, ok := m.workers[t.Worker]; !ok {
			t.Worker = "" // the picked worker is gone: any worker may take it
		}
	}
	m.seq++
	e := &taskEntry{task: t, seq: m.seq, idx: -1}
	m.tasks[t.ID] = e
	m.transition(e, func() {
		e.state = TaskQueued
		e.assigned = t.Worker
		e.worker = t.Worker
	})
	m.push(e)
	m.offer(e)
}

// push puts a queued entry on its queue.
func (m *Memory) push(e *taskEntry) {
	var q *queue
	if e.assigned != "" {
		q = m.own[e.assigned]
		if q == nil {
			q = &queue{}
			m.own[e.assigned] = q
		}
	} else {
		q = m.shared[e.task.Type]
		if q == nil {
			q = &queue{}
			m.shared[e.task.Type] = q
		}
	}
	h := &q.plain
	if e.assigned == "" && (len(e.task.Requires) > 0 || e.task.MaxCost != nil) {
		h = &q.cons
	}
	e.q = h
	heap.Push(h, e)
}

// unqueue takes a queued entry off its queue.
func (m *Memory) unqueue(e *taskEntry) {
	if e.q != nil && e.idx >= 0 {
		heap.Remove(e.q, e.idx)
	}
	e.q = nil
}

// offer hands a newly queued entry to the longest-waiting poller that may
// take it, if any.
func (m *Memory) offer(e *taskEntry) {
	var l *list.List
	if e.assigned != "" {
		l = m.waitByWorker[e.assigned]
	} else {
		l = m.waitByType[e.task.Type]
	}
	if l == nil {
		return
	}
	for el := l.Front(); el != nil; el = el.Next() {
		w := el.Value.(*waiter)
		if e.assigned == "" && !dispatch.Fits(e.task, w.p.Resources, w.p.Costs) {
			continue
		}
		m.removeWaiter(w)
		m.unqueue(e)
		now := w.p.Now.Add(m.clock().Sub(w.start))
		m.leaseTo(e, w.p.WorkerID, now)
		w.ch <- handoff{e: e, task: CloneTask(e.task)}
		return
	}
}

func (m *Memory) leaseTo(e *taskEntry, worker string, now time.Time) {
	m.transition(e, func() {
		e.state = TaskLeased
		e.worker = worker
		e.dead = false
		e.task.Worker = worker
		e.task.LeasedAt = now
		e.task.LeaseUntil = time.Time{}
		if e.task.Timeout > 0 {
			e.task.LeaseUntil = now.Add(e.task.Timeout)
		}
	})
	m.leases[e.task.ID] = e
}

// unlease puts a task handed to a poller that left back on its queue.
func (m *Memory) unlease(e *taskEntry) {
	if e.state != TaskLeased {
		return
	}
	delete(m.leases, e.task.ID)
	m.transition(e, func() {
		if _, ok := m.workers[e.assigned]; !ok {
			e.assigned = "" // its worker is gone: back to the shared queue
		}
		e.dead = false
		e.state = TaskQueued
		e.worker = e.assigned
		e.task.Worker = e.assigned
		e.task.LeasedAt, e.task.LeaseUntil = time.Time{}, time.Time{}
	})
	m.push(e)
	m.offer(e)
}

func (m *Memory) withdraw(id string) bool {
	e, ok := m.tasks[id]
	if !ok {
		return false
	}
	switch e.state {
	case TaskQueued:
		m.unqueue(e)
		m.transition(e, func() { e.state = TaskWithdrawn })
		return true
	case TaskLeased:
		delete(m.leases, id)
		m.cancels[e.worker] = append(m.cancels[e.worker], id)
		m.transition(e, func() { e.state = TaskWithdrawn })
		return true
	}
	return false
}

func (m *Memory) addWaiter(w *waiter) {
	add := func(idx map[string]*list.List, key string) {
		l := idx[key]
		if l == nil {
			l = list.New()
			idx[key] = l
		}
		w.elems = append(w.elems, waitElem{l: l, e: l.PushBack(w)})
	}
	m.waiting++
	add(m.waitByWorker, w.p.WorkerID)
	for _, t := range w.p.Types {
		add(m.waitByType, t)
	}
}

func (m *Memory) removeWaiter(w *waiter) {
	if w.elems != nil {
		m.waiting--
	}
	for _, we := range w.elems {
		we.l.Remove(we.e)
	}
	w.elems = nil
}

// take leases the best task the poller may run, or returns nil.
func (m *Memory) take(p *LeaseParams, now time.Time) *taskEntry {
	var best *taskEntry
	consider := func(e *taskEntry) {
		if e != nil && (best == nil || e.before(best)) {
			best = e
		}
	}
	if q := m.own[p.WorkerID]; q != nil && len(q.plain) > 0 {
		consider(q.plain[0])
	}
	for _, typ := range p.Types {
		q := m.shared[typ]
		if q == nil {
			continue
		}
		if len(q.plain) > 0 {
			consider(q.plain[0])
		}
		for _, e := range q.cons {
			if (best == nil || e.before(best)) && dispatch.Fits(e.task, p.Resources, p.Costs) {
				best = e
			}
		}
	}
	if best == nil {
		return nil
	}
	m.unqueue(best)
	m.leaseTo(best, p.WorkerID, now)
	return best
}

// Lease implements Store.
func (m *Memory) Lease(ctx context.Context, p LeaseParams) (*core.Task, error) {
	if p.WorkerID == "" {
		return nil, fmt.Errorf("lease: worker id is required")
	}
	p.Types = slices.Clone(p.Types)
	start := m.clock()
	if err := m.lock(); err != nil {
		return nil, err
	}
	if e := m.take(&p, p.Now); e != nil {
		t := CloneTask(e.task)
		m.mu.Unlock()
		return t, nil
	}
	if p.Wait <= 0 || ctx.Err() != nil {
		m.mu.Unlock()
		return nil, nil
	}
	w := &waiter{p: &p, start: start, ch: make(chan handoff, 1)}
	m.addWaiter(w)
	m.mu.Unlock()

	timer := time.NewTimer(p.Wait)
	defer timer.Stop()
	select {
	case h := <-w.ch:
		if ctx.Err() == nil {
			return h.task, nil
		}
		m.mu.Lock() // the poller left as the task arrived: put it back
		m.unlease(h.e)
		m.mu.Unlock()
		return nil, nil
	case <-timer.C:
	case <-ctx.Done():
	case <-m.closedCh:
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	select {
	case h := <-w.ch: // handed over while we were waking
		if ctx.Err() == nil && !m.closed {
			return h.task, nil
		}
		m.unlease(h.e)
	default:
		m.removeWaiter(w)
	}
	return nil, nil
}

// Task implements Store.
func (m *Memory) Task(ctx context.Context, id string) (*TaskInfo, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	e, ok := m.tasks[id]
	if !ok {
		return nil, fmt.Errorf("task %q: %w", id, ErrNotFound)
	}
	return &TaskInfo{Task: CloneTask(e.task), State: e.state, Worker: e.worker}, nil
}

// ReclaimExpired implements Store.
func (m *Memory) ReclaimExpired(ctx context.Context, now time.Time, limit int) ([]*core.Task, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var due []*taskEntry
	for _, e := range m.leases {
		if e.dead || (!e.task.LeaseUntil.IsZero() && !e.task.LeaseUntil.After(now)) {
			due = append(due, e)
		}
	}
	sort.Slice(due, func(i, j int) bool {
		a, b := due[i].task, due[j].task
		if !a.LeaseUntil.Equal(b.LeaseUntil) {
			return a.LeaseUntil.Before(b.LeaseUntil)
		}
		return a.ID < b.ID
	})
	if limit > 0 && len(due) > limit {
		due = due[:limit]
	}
	out := make([]*core.Task, 0, len(due))
	for _, e := range due {
		delete(m.leases, e.task.ID)
		m.transition(e, func() { e.state = TaskExpired })
		out = append(out, CloneTask(e.task))
	}
	return out, nil
}

// WithdrawIfQueued implements Store.
func (m *Memory) WithdrawIfQueued(ctx context.Context, taskID string) (bool, error) {
	if err := m.lock(); err != nil {
		return false, err
	}
	defer m.mu.Unlock()
	e, ok := m.tasks[taskID]
	if !ok || e.state != TaskQueued {
		return false, nil
	}
	return m.withdraw(taskID), nil
}

// GetJob implements Store.
func (m *Memory) GetJob(ctx context.Context, id string) (*core.Job, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	j, ok := m.jobs[id]
	if !ok {
		return nil, fmt.Errorf("job %q: %w", id, ErrNotFound)
	}
	return CloneJob(j), nil
}

// ListJobs implements Store.
func (m *Memory) ListJobs(ctx context.Context, p ListParams) ([]*core.Job, error) {
	if p.Limit <= 0 {
		p.Limit = 100
	}
	if p.Offset < 0 {
		p.Offset = 0
	}
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	ids := m.order
	if p.Client != "" {
		ids = m.byClient[p.Client]
	}
	var out []*core.Job
	for i := len(ids) - 1 - p.Offset; i >= 0 && len(out) < p.Limit; i-- {
		out = append(out, CloneJob(m.jobs[ids[i]]))
	}
	return out, nil
}

// Timeline implements Store.
func (m *Memory) Timeline(ctx context.Context, jobID string) ([]core.TimelineEvent, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	if _, ok := m.jobs[jobID]; !ok {
		return nil, fmt.Errorf("timeline of job %q: %w", jobID, ErrNotFound)
	}
	src := m.timeline[jobID]
	out := make([]core.TimelineEvent, len(src))
	for i, e := range src {
		out[i] = cloneTimeline(e)
	}
	return out, nil
}

// ClaimDueTimers implements Store.
func (m *Memory) ClaimDueTimers(ctx context.Context, now time.Time, limit int) ([]core.Timer, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var out []core.Timer
	for len(m.timerHeap) > 0 && (limit <= 0 || len(out) < limit) {
		te := m.timerHeap[0]
		if te.t.At.After(now) {
			break
		}
		heap.Pop(&m.timerHeap)
		delete(m.timers, te.t.ID)
		out = append(out, te.t)
	}
	return out, nil
}

// NextTimerAt implements Store.
func (m *Memory) NextTimerAt(ctx context.Context) (time.Time, bool, error) {
	if err := m.lock(); err != nil {
		return time.Time{}, false, err
	}
	defer m.mu.Unlock()
	if len(m.timerHeap) == 0 {
		return time.Time{}, false, nil
	}
	return m.timerHeap[0].t.At, true, nil
}

// TimerArmed implements Store.
func (m *Memory) TimerArmed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.timerArmed
}

// RegisterWorker implements Store.
func (m *Memory) RegisterWorker(ctx context.Context, w WorkerRecord) error {
	if w.ID == "" {
		return fmt.Errorf("register worker: worker id is required")
	}
	if err := m.lock(); err != nil {
		return err
	}
	defer m.mu.Unlock()
	w = cloneWorker(w)
	if w.Reputation == 0 {
		w.Reputation = 1
	}
	if w.Status == "" {
		w.Status = dispatch.StatusIdle
	}
	w.Load = 0
	m.workers[w.ID] = &w
	return nil
}

// Heartbeat implements Store.
func (m *Memory) Heartbeat(ctx context.Context, p HeartbeatParams) (bool, error) {
	if err := m.lock(); err != nil {
		return false, err
	}
	defer m.mu.Unlock()
	w, ok := m.workers[p.WorkerID]
	if !ok || !w.ExpiresAt.After(p.Now) {
		return false, nil
	}
	if p.Status != "" {
		w.Status = p.Status
	}
	w.LastSeen = p.Now
	if !p.ExpiresAt.IsZero() {
		w.ExpiresAt = p.ExpiresAt
	}
	if p.HotSkills != nil {
		w.HotSkills = slices.Clone(p.HotSkills)
	}
	return true, nil
}

func (m *Memory) workerCopy(w *WorkerRecord) WorkerRecord {
	c := cloneWorker(*w)
	c.Load = m.load[w.ID]
	return c
}

// Worker implements Store.
func (m *Memory) Worker(ctx context.Context, id string) (*WorkerRecord, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	w, ok := m.workers[id]
	if !ok {
		return nil, fmt.Errorf("worker %q: %w", id, ErrNotFound)
	}
	c := m.workerCopy(w)
	return &c, nil
}

// Workers implements Store.
func (m *Memory) Workers(ctx context.Context) ([]WorkerRecord, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	out := make([]WorkerRecord, 0, len(m.workers))
	for _, id := range slices.Sorted(maps.Keys(m.workers)) {
		out = append(out, m.workerCopy(m.workers[id]))
	}
	return out, nil
}

// Candidates implements Store.
func (m *Memory) Candidates(ctx context.Context, taskType string) ([]dispatch.Worker, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var out []dispatch.Worker
	for _, id := range slices.Sorted(maps.Keys(m.workers)) {
		w := m.workers[id]
		if w.HasSkill(taskType) {
			out = append(out, m.workerCopy(w).Worker)
		}
	}
	return out, nil
}

// ExpireWorkers implements Store.
func (m *Memory) ExpireWorkers(ctx context.Context, now time.Time) ([]string, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var gone []string
	for id, w := range m.workers {
		if !w.ExpiresAt.After(now) {
			gone = append(gone, id)
		}
	}
	slices.Sort(gone)
	for _, id := range gone {
		m.removeWorker(id)
	}
	return gone, nil
}

// RemoveWorker implements Store.
func (m *Memory) RemoveWorker(ctx context.Context, id string) error {
	if err := m.lock(); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if _, ok := m.workers[id]; !ok {
		return fmt.Errorf("remove worker %q: %w", id, ErrNotFound)
	}
	m.removeWorker(id)
	return nil
}

func (m *Memory) removeWorker(id string) {
	delete(m.workers, id)
	delete(m.cancels, id)
	for _, e := range m.leases {
		if e.worker == id {
			e.dead = true
		}
	}
	q := m.own[id]
	if q == nil {
		return
	}
	delete(m.own, id)
	moved := slices.Clone(q.plain)
	slices.SortFunc(moved, func(a, b *taskEntry) int {
		if a.before(b) {
			return -1
		}
		return 1
	})
	for _, e := range moved {
		e.q, e.idx = nil, -1
		m.transition(e, func() {
			e.assigned, e.worker, e.task.Worker = "", "", ""
		})
		m.push(e)
		m.offer(e)
	}
}

// CancelRequests implements Store.
func (m *Memory) CancelRequests(ctx context.Context, workerID string) ([]string, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	ids := m.cancels[workerID]
	delete(m.cancels, workerID)
	return ids, nil
}

// Counter implements Store.
func (m *Memory) Counter(ctx context.Context, name string) (uint64, error) {
	if err := m.lock(); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	m.counters[name]++
	return m.counters[name], nil
}

// SeedStores implements Store.
func (m *Memory) SeedStores(ctx context.Context, blueprint string, initial map[string]map[string]any) error {
	if err := m.lock(); err != nil {
		return err
	}
	defer m.mu.Unlock()
	bp := m.stores[blueprint]
	if bp == nil {
		bp = map[string]map[string]any{}
		m.stores[blueprint] = bp
	}
	for name, vals := range initial {
		if _, ok := bp[name]; ok {
			continue
		}
		bp[name] = cloneMap(vals)
		if bp[name] == nil {
			bp[name] = map[string]any{}
		}
	}
	return nil
}

// Stores implements Store.
func (m *Memory) Stores(ctx context.Context, blueprint string) (map[string]map[string]any, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	return cloneStores(m.stores[blueprint]), nil
}

// PutVersion implements Store.
func (m *Memory) PutVersion(ctx context.Context, v Version) error {
	if v.Hash == "" {
		return fmt.Errorf("put version: hash is required")
	}
	if err := m.lock(); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if _, ok := m.versions[v.Hash]; ok {
		return nil
	}
	m.versions[v.Hash] = cloneVersion(&v)
	return nil
}

// Version implements Store.
func (m *Memory) Version(ctx context.Context, hash string) (*Version, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	v, ok := m.versions[hash]
	if !ok {
		return nil, fmt.Errorf("version %q: %w", hash, ErrNotFound)
	}
	return cloneVersion(v), nil
}

func cloneVersion(v *Version) *Version {
	c := &Version{Hash: v.Hash, File: v.File, Sources: make(map[string][]byte, len(v.Sources))}
	for k, b := range v.Sources {
		c.Sources[k] = slices.Clone(b)
	}
	return c
}

// Stats implements Store.
func (m *Memory) Stats(ctx context.Context) (Stats, error) {
	if err := m.lock(); err != nil {
		return Stats{}, err
	}
	defer m.mu.Unlock()
	s := Stats{
		Jobs:         len(m.jobs),
		JobsByStatus: map[core.Status]int{},
		Queued:       m.queued,
		Leased:       len(m.leases),
		Timers:       len(m.timers),
		Workers:      len(m.workers),
		Waiting:      m.waiting,
	}
	for st, n := range m.byStatus {
		if n > 0 {
			s.JobsByStatus[st] = n
		}
	}
	return s, nil
}

// Close implements Store.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.closed = true
		close(m.closedCh)
	}
	return nil
}
