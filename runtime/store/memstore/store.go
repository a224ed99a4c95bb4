package memstore

import (
	"container/heap"
	"container/list"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/dispatch"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store/memstore/internal/codec"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// Options configure a memory store; the zero value works.
type Options struct {
	// Clock measures how long a long poll waited (added to its Now when
	// it is handed a task); time.Now when nil.
	Clock func() time.Time
	// MaxReservations bounds Reserve's keys (seen signatures, idempotency
	// keys) that have not expired; past it Reserve is store.ErrFull.
	// Default 1,000,000.
	MaxReservations int
}

// Store is the embedded store: one mutex over a set of maps, with a
// channel per waiting poller. A new task is handed to the longest-waiting
// poller that may run it while the enqueueing commit holds the lock, so
// exactly one poller gets it and none polls periodically.
//
// It keeps every job, its timeline and a record of every task for the
// life of the process (done and withdrawn tasks are what make a repeated
// or late result answerable). Jobs and tasks are numbered in creation
// order and kept encoded (internal/codec), a few hundred bytes each, and
// decoded when read: see records.go.
type Store struct {
	clock    func() time.Time
	closedCh chan struct{}

	mu     sync.Mutex
	closed bool

	c      *codec.Codec
	evBuf  []byte           // scratch for encoding timeline events
	evRefs []codec.EventRef // scratch for decoding them

	jobs     slots[jobSlot] // by job number: creation order
	jobExt   map[uint32]*memJobExt
	jobIdx   idIndex // job id -> number
	byClient map[string][]uint32
	byStatus map[wire.JobStatus]int

	tasks    slots[taskSlot] // by task number: enqueue order
	taskIdx  idIndex
	taskGo   map[uint32]*core.Task // tasks whose values do not encode
	consTask map[uint32]*core.Task // constrained tasks while queued, for dispatch.Fits
	workerNo map[string]uint32     // worker id -> number (0 is "")
	workerID []string              // by number

	shared  map[string]*queue    // by task type
	own     map[string]*queue    // by worker id
	leases  map[uint32]time.Time // task number -> LeaseUntil
	queued  int
	load    map[string]int
	cancels map[string][]string
	sched   map[string]store.ScheduleState // schedule.go

	waitByType   map[string]*list.List // of *waiter
	waitByWorker map[string]*list.List
	waiting      int

	timers     map[string]*timerEntry
	timerHeap  timerHeap
	timerArmed chan struct{}

	workers  map[string]*store.WorkerRecord
	counters map[string]uint64
	stores   map[string]map[string]map[string]any
	versions map[string]*store.Version
	reserved reservations // Reserve's keys

	ob outbox // ended jobs on their way to an archive (outbox.go)

	// The tasks the commit being written enqueues (see pend).
	pending     []*core.Task
	pendingIx   map[string]int
	pendingBase uint32
}

var _ store.Store = (*Store)(nil)

// Features implements store.Store: the memory store is in-process.
func (m *Store) Features() store.Features { return store.Features{InProcess: true} }

// New returns an empty memory store.
func New(o Options) *Store {
	if o.Clock == nil {
		o.Clock = time.Now
	}
	m := &Store{
		clock:        o.Clock,
		reserved:     reservations{max: o.MaxReservations},
		closedCh:     make(chan struct{}),
		c:            codec.New(),
		jobExt:       map[uint32]*memJobExt{},
		byClient:     map[string][]uint32{},
		byStatus:     map[wire.JobStatus]int{},
		taskGo:       map[uint32]*core.Task{},
		consTask:     map[uint32]*core.Task{},
		workerNo:     map[string]uint32{"": 0},
		workerID:     []string{""},
		shared:       map[string]*queue{},
		own:          map[string]*queue{},
		leases:       map[uint32]time.Time{},
		load:         map[string]int{},
		cancels:      map[string][]string{},
		waitByType:   map[string]*list.List{},
		waitByWorker: map[string]*list.List{},
		timers:       map[string]*timerEntry{},
		timerArmed:   make(chan struct{}),
		workers:      map[string]*store.WorkerRecord{},
		counters:     map[string]uint64{},
		stores:       map[string]map[string]map[string]any{},
		versions:     map[string]*store.Version{},
	}
	m.jobIdx = newIDIndex(m.jobRec)
	m.taskIdx = newIDIndex(m.taskRec)
	return m
}

// queue holds the tasks waiting on one shared queue or one worker's own
// queue. Tasks with requires or max_cost sit apart, so the common case (no
// constraints) is the top of a heap.
type queue struct {
	plain entryHeap
	cons  entryHeap
}

type waiter struct {
	p     *store.LeaseParams
	start time.Time
	ch    chan handoff // buffered 1; written once, under the lock
	elems []waitElem
}

type waitElem struct {
	l *list.List
	e *list.Element
}

type handoff struct {
	n    uint32     // the task's number
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
func (m *Store) lock() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return store.ErrClosed
	}
	return nil
}

// CreateJob implements Store.
func (m *Store) CreateJob(ctx context.Context, p store.CommitParams) error {
	if p.Job == nil || p.Job.ID == "" {
		return fmt.Errorf("create job: job with an id is required")
	}
	if err := m.lock(); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if _, ok := m.findJob(p.Job.ID); ok {
		return fmt.Errorf("create job %q: %w", p.Job.ID, store.ErrExists)
	}
	if err := m.checkEffects(p.Job.ID, p.Effects, p.Job.ID); err != nil {
		return err
	}
	m.pend(p.Effects)
	m.putNewJob(p.Job, timeline(p.Effects))
	m.pend(nil)
	if p.Job.Status.Terminal() {
		m.noteEnded(uint32(m.jobs.n-1), p.Job)
	}
	m.applyEffects(p.Effects)
	return nil
}

// CommitIfVersion implements Store.
func (m *Store) CommitIfVersion(ctx context.Context, p store.CommitParams) (int64, error) {
	if p.Job == nil || p.Job.ID == "" {
		return 0, fmt.Errorf("commit job: job with an id is required")
	}
	if err := m.lock(); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	id := p.Job.ID
	n, ok := m.findJob(id)
	if !ok {
		return 0, fmt.Errorf("commit job %q: %w", id, store.ErrNotFound)
	}
	done := noTask
	if c := p.Complete; c != nil {
		tn, ok := m.findTask(c.TaskID)
		if !ok {
			tn = noTask
		}
		if err := m.completeCheck(id, n, c, tn); err != nil {
			return 0, err
		}
		done = tn
	}
	rev, status := m.jobHead(n)
	if rev != p.ExpectRev {
		return 0, fmt.Errorf("commit job %q at rev %d (stored rev %d): %w", id, p.ExpectRev, rev, store.ErrConflict)
	}
	if err := m.checkEffects(id, p.Effects, ""); err != nil {
		return 0, err
	}
	rev = p.ExpectRev + 1
	m.byStatus[status]--
	m.byStatus[p.Job.Status]++
	m.pend(p.Effects)
	m.putJob(n, p.Job, rev, timeline(p.Effects))
	m.pend(nil)
	if p.Job.Status.Terminal() && !status.Terminal() {
		m.noteEnded(n, p.Job)
	}
	if done != noTask {
		m.transition(done, func(s *taskSlot) {
			delete(m.leases, done)
			s.state = stateDone
		})
	}
	m.applyEffects(p.Effects)
	return rev, nil
}

func timeline(fx *core.Effects) []core.TimelineEvent {
	if fx == nil {
		return nil
	}
	return fx.Timeline
}

func (m *Store) completeCheck(jobID string, job uint32, c *store.TaskCompletion, n uint32) error {
	if n == noTask || !m.taskOfJob(n, jobID, job) {
		return fmt.Errorf("result for task %q of job %q: %w", c.TaskID, jobID, core.ErrStaleTask)
	}
	s := m.task(n)
	worker := m.workerID[s.worker]
	var err error
	switch s.state {
	case stateWithdrawn:
		err = core.ErrStaleTask
	case stateDone:
		err = store.ErrWorkerMismatch
		if worker == c.WorkerID {
			err = store.ErrAlreadyDone
		}
	case stateExpired:
		err = store.ErrWorkerMismatch
		if worker == c.WorkerID {
			err = store.ErrLeaseLost
		}
	case stateQueued:
		err = store.ErrWorkerMismatch
	case stateLeased:
		if worker != c.WorkerID {
			err = store.ErrWorkerMismatch
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
func (m *Store) checkEffects(jobID string, fx *core.Effects, creating string) error {
	if fx == nil {
		return nil
	}
	var seen map[string]bool
	if len(fx.Enqueue)+len(fx.StartChild) > 1 {
		seen = map[string]bool{}
	}
	for _, t := range fx.Enqueue {
		if t == nil || t.ID == "" {
			return fmt.Errorf("commit job %q: enqueue: task with an id is required", jobID)
		}
		if _, ok := m.findTask(t.ID); ok || seen[t.ID] {
			return fmt.Errorf("commit job %q: enqueue task %q: %w", jobID, t.ID, store.ErrExists)
		}
		if seen != nil {
			seen[t.ID] = true
		}
	}
	clear(seen)
	for _, c := range fx.StartChild {
		if c == nil || c.ID == "" {
			return fmt.Errorf("commit job %q: start child: job with an id is required", jobID)
		}
		if _, ok := m.findJob(c.ID); ok || seen[c.ID] || c.ID == creating {
			return fmt.Errorf("commit job %q: start child %q: %w", jobID, c.ID, store.ErrExists)
		}
		if seen != nil {
			seen[c.ID] = true
		}
	}
	for _, t := range fx.Timers {
		if t.ID == "" {
			return fmt.Errorf("commit job %q: arm timer: timer with an id is required", jobID)
		}
	}
	return nil
}

// putNewJob stores a new job at Rev 1 with its first timeline events.
func (m *Store) putNewJob(src *core.Job, evs []core.TimelineEvent) {
	n := m.jobs.add()
	m.putJob(n, src, 1, evs)
	var kb [48]byte
	m.jobIdx.add(codec.AppendKey(kb[:0], src.ID), n)
	m.byClient[src.Client.Name] = append(m.byClient[src.Client.Name], n)
	m.byStatus[src.Status]++
}

// applyEffects applies the effects of a commit but its timeline (putJob
// writes that with the job).
func (m *Store) applyEffects(fx *core.Effects) {
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
		m.putNewJob(c, nil)
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
		st[w.Key] = cloneValue(w.Value)
	}
	for _, t := range fx.Enqueue {
		m.enqueue(t)
	}
}

func (m *Store) armTimer(t core.Timer) {
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

// holder is the worker whose load the task counts toward, or "".
func (m *Store) holder(s *taskSlot) string {
	switch s.state {
	case stateQueued:
		return m.workerID[s.assigned]
	case stateLeased:
		return m.workerID[s.worker]
	}
	return ""
}

// transition applies change to task n, keeping the load, queued and lease
// counts in step.
func (m *Store) transition(n uint32, change func(s *taskSlot)) {
	s := m.task(n)
	if h := m.holder(s); h != "" {
		m.load[h]--
		if m.load[h] <= 0 {
			delete(m.load, h)
		}
	}
	if s.state == stateQueued {
		m.queued--
	}
	change(s)
	if h := m.holder(s); h != "" {
		m.load[h]++
	}
	if s.state == stateQueued {
		m.queued++
	}
}

func (m *Store) enqueue(src *core.Task) {
	t := *src
	t.LeasedAt, t.LeaseUntil = time.Time{}, time.Time{}
	if t.Worker != "" {
		if _, ok := m.workers[t.Worker]; !ok {
			t.Worker = "" // the picked worker is gone: any worker may take it
		}
	}
	n := m.newTask(&t)
	w := m.workerNum(t.Worker)
	m.transition(n, func(s *taskSlot) {
		s.state = stateQueued
		s.assigned = w
		s.worker = w
	})
	m.push(n, &t)
	m.offer(n, &t)
}

// push puts queued task n (t, as stored) on its queue.
func (m *Store) push(n uint32, t *core.Task) {
	s := m.task(n)
	var q *queue
	if s.assigned != 0 {
		name := m.workerID[s.assigned]
		q = m.own[name]
		if q == nil {
			q = &queue{}
			m.own[name] = q
		}
	} else {
		q = m.shared[t.Type]
		if q == nil {
			q = &queue{}
			m.shared[t.Type] = q
		}
	}
	h := &q.plain
	s.cons = s.assigned == 0 && (len(t.Requires) > 0 || t.MaxCost != nil)
	if s.cons {
		h = &q.cons
		m.consTask[n] = cloneTask(t)
	}
	m.heapPush(h, heapItem{prio: t.Priority, n: n})
}

// unqueue takes a queued task off its queue.
func (m *Store) unqueue(n uint32) {
	s := m.task(n)
	if s.idx < 0 {
		return
	}
	var h *entryHeap
	switch {
	case s.cons:
		h = &m.shared[m.consTask[n].Type].cons
		delete(m.consTask, n)
	case s.assigned != 0:
		h = &m.own[m.workerID[s.assigned]].plain
	default:
		h = &m.shared[m.taskType(n)].plain
	}
	m.heapRemove(h, int(s.idx))
	s.cons = false
}

// offer hands newly queued task n (t, as stored) to the longest-waiting
// poller that may take it, if any.
func (m *Store) offer(n uint32, t *core.Task) {
	s := m.task(n)
	var l *list.List
	if s.assigned != 0 {
		l = m.waitByWorker[m.workerID[s.assigned]]
	} else {
		l = m.waitByType[t.Type]
	}
	if l == nil {
		return
	}
	for el := l.Front(); el != nil; el = el.Next() {
		w := el.Value.(*waiter)
		if s.assigned == 0 && !dispatch.Fits(t, w.p.Resources, w.p.Costs) {
			continue
		}
		m.removeWaiter(w)
		m.unqueue(n)
		now := w.p.Now.Add(m.clock().Sub(w.start))
		w.ch <- handoff{n: n, task: m.leaseTo(n, w.p.WorkerID, now, t)}
		return
	}
}

// leaseTo leases task n to worker and returns a copy of the leased task.
// stored is the task as stored when the caller has it, else nil.
func (m *Store) leaseTo(n uint32, worker string, now time.Time, stored *core.Task) *core.Task {
	var t *core.Task
	if stored != nil {
		t = cloneTask(stored)
	} else {
		t = m.loadTask(n)
	}
	t.Worker = worker
	t.LeasedAt = now
	t.LeaseUntil = time.Time{}
	if t.Timeout > 0 {
		t.LeaseUntil = now.Add(t.Timeout)
	}
	m.setLease(n, t.LeasedAt, t.LeaseUntil)
	w := m.workerNum(worker)
	m.transition(n, func(s *taskSlot) {
		s.state = stateLeased
		s.worker = w
		s.dead = false
	})
	m.leases[n] = t.LeaseUntil
	return t
}

// unlease puts a task handed to a poller that left back on its queue.
func (m *Store) unlease(n uint32) {
	s := m.task(n)
	if s.state != stateLeased {
		return
	}
	delete(m.leases, n)
	if _, ok := m.workers[m.workerID[s.assigned]]; !ok {
		s.assigned = 0 // its worker is gone: back to the shared queue
	}
	m.setLease(n, time.Time{}, time.Time{})
	t := m.loadTask(n)
	m.transition(n, func(s *taskSlot) {
		s.dead = false
		s.state = stateQueued
		s.worker = s.assigned
	})
	t.Worker = m.workerID[s.assigned]
	m.push(n, t)
	m.offer(n, t)
}

func (m *Store) withdraw(id string) bool {
	n, ok := m.findTask(id)
	if !ok {
		return false
	}
	s := m.task(n)
	switch s.state {
	case stateQueued:
		m.unqueue(n)
		m.transition(n, func(s *taskSlot) { s.state = stateWithdrawn })
		return true
	case stateLeased:
		delete(m.leases, n)
		w := m.workerID[s.worker]
		m.cancels[w] = append(m.cancels[w], id)
		m.transition(n, func(s *taskSlot) { s.state = stateWithdrawn })
		return true
	}
	return false
}

func (m *Store) addWaiter(w *waiter) {
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

func (m *Store) removeWaiter(w *waiter) {
	if w.elems != nil {
		m.waiting--
	}
	for _, we := range w.elems {
		we.l.Remove(we.e)
	}
	w.elems = nil
}

// take leases the best task the poller may run and returns a copy of it,
// or nil.
func (m *Store) take(p *store.LeaseParams, now time.Time) *core.Task {
	var best heapItem
	found := false
	consider := func(h entryHeap) {
		if len(h) > 0 && (!found || h[0].before(best)) {
			best, found = h[0], true
		}
	}
	if q := m.own[p.WorkerID]; q != nil {
		consider(q.plain)
	}
	for _, typ := range p.Types {
		q := m.shared[typ]
		if q == nil {
			continue
		}
		consider(q.plain)
		for _, e := range q.cons {
			if (!found || e.before(best)) && dispatch.Fits(m.consTask[e.n], p.Resources, p.Costs) {
				best, found = e, true
			}
		}
	}
	if !found {
		return nil
	}
	m.unqueue(best.n)
	return m.leaseTo(best.n, p.WorkerID, now, nil)
}

// Lease implements Store.
func (m *Store) Lease(ctx context.Context, p store.LeaseParams) (*core.Task, error) {
	if p.WorkerID == "" {
		return nil, fmt.Errorf("lease: worker id is required")
	}
	p.Types = slices.Clone(p.Types)
	start := m.clock()
	if err := m.lock(); err != nil {
		return nil, err
	}
	if t := m.take(&p, p.Now); t != nil {
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
		m.unlease(h.n)
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
		m.unlease(h.n)
	default:
		m.removeWaiter(w)
	}
	return nil, nil
}

// Task implements Store.
func (m *Store) Task(ctx context.Context, id string) (*store.TaskInfo, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	n, ok := m.findTask(id)
	if !ok {
		return nil, fmt.Errorf("task %q: %w", id, store.ErrNotFound)
	}
	s := m.task(n)
	return &store.TaskInfo{Task: m.loadTask(n), State: taskStates[s.state], Worker: m.workerID[s.worker]}, nil
}

// ReclaimExpired implements Store.
func (m *Store) ReclaimExpired(ctx context.Context, now time.Time, limit int) ([]*core.Task, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	type lease struct {
		n     uint32
		until time.Time
		id    string
	}
	var due []lease
	for n, until := range m.leases {
		if m.task(n).dead || (!until.IsZero() && !until.After(now)) {
			due = append(due, lease{n: n, until: until, id: m.taskID(n)})
		}
	}
	slices.SortFunc(due, func(a, b lease) int {
		if !a.until.Equal(b.until) {
			return a.until.Compare(b.until)
		}
		return strings.Compare(a.id, b.id)
	})
	if limit > 0 && len(due) > limit {
		due = due[:limit]
	}
	out := make([]*core.Task, 0, len(due))
	for _, d := range due {
		delete(m.leases, d.n)
		m.transition(d.n, func(s *taskSlot) { s.state = stateExpired })
		out = append(out, m.loadTask(d.n))
	}
	return out, nil
}

// WithdrawIfQueued implements Store.
func (m *Store) WithdrawIfQueued(ctx context.Context, taskID string) (bool, error) {
	if err := m.lock(); err != nil {
		return false, err
	}
	defer m.mu.Unlock()
	n, ok := m.findTask(taskID)
	if !ok || m.task(n).state != stateQueued {
		return false, nil
	}
	return m.withdraw(taskID), nil
}

// GetJob implements Store.
func (m *Store) GetJob(ctx context.Context, id string) (*core.Job, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	n, ok := m.findJob(id)
	if !ok {
		return nil, fmt.Errorf("job %q: %w", id, store.ErrNotFound)
	}
	return m.loadJob(n, id), nil
}

// ListJobs implements Store.
func (m *Store) ListJobs(ctx context.Context, p store.ListParams) ([]*core.Job, error) {
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
	var out []*core.Job
	skip, start := p.Offset, 0
	if m.ob.removed == 0 {
		skip, start = 0, p.Offset // no tombstones: skip by index
	}
	add := func(n uint32) {
		switch {
		case m.gone(n):
		case skip > 0:
			skip--
		default:
			out = append(out, m.loadJob(n, ""))
		}
	}
	if p.Client == "" {
		for i := m.jobs.n - 1 - start; i >= 0 && len(out) < p.Limit; i-- {
			add(uint32(i))
		}
		return out, nil
	}
	ns := m.byClient[p.Client]
	for i := len(ns) - 1 - start; i >= 0 && len(out) < p.Limit; i-- {
		add(ns[i])
	}
	return out, nil
}

// Timeline implements Store.
func (m *Store) Timeline(ctx context.Context, jobID string) ([]core.TimelineEvent, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	n, ok := m.findJob(jobID)
	if !ok {
		return nil, fmt.Errorf("timeline of job %q: %w", jobID, store.ErrNotFound)
	}
	return m.loadTimeline(n), nil
}

// ClaimDueTimers implements Store.
func (m *Store) ClaimDueTimers(ctx context.Context, now time.Time, limit int) ([]core.Timer, error) {
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
func (m *Store) NextTimerAt(ctx context.Context) (time.Time, bool, error) {
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
func (m *Store) TimerArmed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.timerArmed
}

// RegisterWorker implements Store.
func (m *Store) RegisterWorker(ctx context.Context, w store.WorkerRecord) error {
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
		w.Status = wire.WorkerIdle
	}
	w.Load = 0
	m.workers[w.ID] = &w
	return nil
}

// Heartbeat implements Store.
func (m *Store) Heartbeat(ctx context.Context, p store.HeartbeatParams) (bool, error) {
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

func (m *Store) workerCopy(w *store.WorkerRecord) store.WorkerRecord {
	c := cloneWorker(*w)
	c.Load = m.load[w.ID]
	return c
}

// Worker implements Store.
func (m *Store) Worker(ctx context.Context, id string) (*store.WorkerRecord, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	w, ok := m.workers[id]
	if !ok {
		return nil, fmt.Errorf("worker %q: %w", id, store.ErrNotFound)
	}
	c := m.workerCopy(w)
	return &c, nil
}

// Workers implements Store.
func (m *Store) Workers(ctx context.Context) ([]store.WorkerRecord, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	out := make([]store.WorkerRecord, 0, len(m.workers))
	for _, id := range slices.Sorted(maps.Keys(m.workers)) {
		out = append(out, m.workerCopy(m.workers[id]))
	}
	return out, nil
}

// Candidates implements Store.
func (m *Store) Candidates(ctx context.Context, taskType string) ([]dispatch.Worker, error) {
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
func (m *Store) ExpireWorkers(ctx context.Context, now time.Time) ([]string, error) {
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
func (m *Store) RemoveWorker(ctx context.Context, id string) error {
	if err := m.lock(); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if _, ok := m.workers[id]; !ok {
		return fmt.Errorf("remove worker %q: %w", id, store.ErrNotFound)
	}
	m.removeWorker(id)
	return nil
}

func (m *Store) removeWorker(id string) {
	delete(m.workers, id)
	delete(m.cancels, id)
	if w, ok := m.workerNo[id]; ok {
		for n := range m.leases {
			if m.task(n).worker == w {
				m.task(n).dead = true
			}
		}
	}
	q := m.own[id]
	if q == nil {
		return
	}
	delete(m.own, id)
	moved := slices.Clone(q.plain)
	slices.SortFunc(moved, func(a, b heapItem) int {
		if a.before(b) {
			return -1
		}
		return 1
	})
	for _, it := range moved {
		s := m.task(it.n)
		s.idx = -1
		m.transition(it.n, func(s *taskSlot) {
			s.assigned, s.worker = 0, 0
		})
		t := m.loadTask(it.n)
		m.push(it.n, t)
		m.offer(it.n, t)
	}
}

// CancelRequests implements Store.
func (m *Store) CancelRequests(ctx context.Context, workerID string) ([]string, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	ids := m.cancels[workerID]
	delete(m.cancels, workerID)
	return ids, nil
}

// Counter implements Store.
func (m *Store) Counter(ctx context.Context, name string) (uint64, error) {
	if err := m.lock(); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	m.counters[name]++
	return m.counters[name], nil
}

// SeedStores implements Store.
func (m *Store) SeedStores(ctx context.Context, blueprint string, initial map[string]map[string]any) error {
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
func (m *Store) Stores(ctx context.Context, blueprint string) (map[string]map[string]any, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	return cloneStores(m.stores[blueprint]), nil
}

// PutVersion implements Store.
func (m *Store) PutVersion(ctx context.Context, v store.Version) error {
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
func (m *Store) Version(ctx context.Context, hash string) (*store.Version, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	v, ok := m.versions[hash]
	if !ok {
		return nil, fmt.Errorf("version %q: %w", hash, store.ErrNotFound)
	}
	return cloneVersion(v), nil
}

func cloneVersion(v *store.Version) *store.Version {
	c := &store.Version{Hash: v.Hash, File: v.File, Sources: make(map[string][]byte, len(v.Sources))}
	for k, b := range v.Sources {
		c.Sources[k] = slices.Clone(b)
	}
	return c
}

// Stats implements Store.
func (m *Store) Stats(ctx context.Context) (store.Stats, error) {
	if err := m.lock(); err != nil {
		return store.Stats{}, err
	}
	defer m.mu.Unlock()
	s := store.Stats{
		Jobs:         m.jobs.n - m.ob.removed,
		JobsByStatus: map[wire.JobStatus]int{},
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
func (m *Store) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.closed = true
		close(m.closedCh)
	}
	return nil
}
