package store

import (
	"math"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
)

// Records of the memory store. A job is a jobSlot and a task a taskSlot,
// each in a slice by its number, holding the encoded record
// (memorycodec.go); the maps index them by id. Reading a job or a task
// decodes a fresh copy, writing one encodes it, so what the store keeps
// never shares memory with what a caller holds.

// jobSlot is one job.
type jobSlot struct {
	rec string     // the encoded job ("" when ext.job holds it)
	tl  []byte     // the encoded timeline (nil when ext.events holds it)
	ext *memJobExt // what is not in rec and tl; nil for most jobs
}

// memJobExt holds the parts of a job kept as Go values.
type memJobExt struct {
	job    *core.Job            // the job, when a value in it does not encode
	refs   core.TaskRefs        // Tasks, when longer than maxInlineRefs (immutable, shared)
	events []core.TimelineEvent // the timeline, once an event did not encode
	goTL   bool                 // events holds the timeline
}

func (s *jobSlot) extOrNew() *memJobExt {
	if s.ext == nil {
		s.ext = &memJobExt{}
	}
	return s.ext
}

// tidy drops an empty ext.
func (s *jobSlot) tidy() {
	if e := s.ext; e != nil && e.job == nil && e.refs.Len() == 0 && !e.goTL {
		s.ext = nil
	}
}

// putJob stores j as job n with Rev rev.
func (m *Memory) putJob(n uint32, j *core.Job, rev int64) {
	s := &m.jobs[n]
	if s.ext != nil {
		s.ext.job, s.ext.refs = nil, core.TaskRefs{}
	}
	rec, inline, ok := m.c.encodeJob(j, rev)
	switch {
	case !ok:
		c := CloneJob(j)
		c.Rev = rev
		s.rec = ""
		s.extOrNew().job = c
	case !inline:
		s.rec = rec
		s.extOrNew().refs = j.Tasks
	default:
		s.rec = rec
	}
	s.tidy()
}

// loadJob decodes job n; id is its id when the caller has it ("" to
// decode it too).
func (m *Memory) loadJob(n uint32, id string) *core.Job {
	s := &m.jobs[n]
	if s.ext != nil {
		if s.ext.job != nil {
			return CloneJob(s.ext.job)
		}
		j := m.c.decodeJob(s.rec, id)
		j.Tasks = s.ext.refs
		return j
	}
	return m.c.decodeJob(s.rec, id)
}

// jobHead returns job n's Rev and Status.
func (m *Memory) jobHead(n uint32) (int64, core.Status) {
	s := &m.jobs[n]
	if s.ext != nil && s.ext.job != nil {
		return s.ext.job.Rev, s.ext.job.Status
	}
	return m.c.jobHead(s.rec)
}

// appendTimeline appends the events of one commit to job n's timeline.
func (m *Memory) appendTimeline(n uint32, evs []core.TimelineEvent) {
	s := &m.jobs[n]
	if s.ext != nil && s.ext.goTL {
		for _, e := range evs {
			s.ext.events = append(s.ext.events, cloneTimeline(e))
		}
		return
	}
	b := m.c.buf[:0]
	for i := range evs {
		var prev *core.TimelineEvent
		if i > 0 {
			prev = &evs[i-1]
		}
		var ok bool
		if b, ok = m.c.appendEvent(b, &evs[i], prev); !ok {
			// An event holds a value the encoding does not keep: from
			// now on the job's timeline is kept as Go values.
			events := m.c.decodeTimeline(append(s.tl, b...))
			for _, e := range evs[i:] {
				events = append(events, cloneTimeline(e))
			}
			ext := s.extOrNew()
			ext.events, ext.goTL = events, true
			s.tl = nil
			m.c.buf = b
			return
		}
	}
	m.c.buf = b
	s.tl = append(s.tl, b...)
}

func (m *Memory) loadTimeline(n uint32) []core.TimelineEvent {
	s := &m.jobs[n]
	if s.ext != nil && s.ext.goTL {
		out := make([]core.TimelineEvent, len(s.ext.events))
		for i, e := range s.ext.events {
			out[i] = cloneTimeline(e)
		}
		return out
	}
	return m.c.decodeTimeline(s.tl)
}

// taskSlot is one task. Its Worker field is worker, kept beside the record.
type taskSlot struct {
	rec      string     // the encoded task ("" when Memory.taskGo holds it)
	q        *entryHeap // the heap it is on, while queued
	idx      int32      // its index in q
	worker   uint32     // see TaskInfo.Worker (a worker number)
	assigned uint32     // the worker whose own queue the task went to, or 0
	state    uint8
	dead     bool // the lease holder was declared dead
}

// Task states as stored.
const (
	stateNone uint8 = iota
	stateQueued
	stateLeased
	stateDone
	stateWithdrawn
	stateExpired
)

var taskStates = [...]TaskState{"", TaskQueued, TaskLeased, TaskDone, TaskWithdrawn, TaskExpired}

// noTask is no task number.
const noTask uint32 = math.MaxUint32

// newTask stores a new task (t, its Worker aside) and returns its number.
func (m *Memory) newTask(t *core.Task) uint32 {
	n := uint32(len(m.tasks))
	m.tasks = append(m.tasks, taskSlot{idx: -1})
	m.putTask(n, t)
	m.taskIdx[t.ID] = n
	return n
}

// putTask stores t as task n's record (its Worker is not stored).
func (m *Memory) putTask(n uint32, t *core.Task) {
	s := &m.tasks[n]
	rec, ok := m.c.encodeTask(t)
	if !ok {
		s.rec = ""
		m.taskGo[n] = CloneTask(t)
		return
	}
	s.rec = rec
	delete(m.taskGo, n)
}

// loadTask decodes task n.
func (m *Memory) loadTask(n uint32) *core.Task {
	s := &m.tasks[n]
	w := m.workerID[s.worker]
	if s.rec == "" {
		t := CloneTask(m.taskGo[n])
		t.Worker = w
		return t
	}
	return m.c.decodeTask(s.rec, w)
}

// taskOfJob reports whether task n belongs to job jobID.
func (m *Memory) taskOfJob(n uint32, jobID string) bool {
	s := &m.tasks[n]
	if s.rec == "" {
		return m.taskGo[n].JobID == jobID
	}
	return m.c.taskJobIs(s.rec, jobID)
}

// taskID returns task n's id.
func (m *Memory) taskID(n uint32) string {
	s := &m.tasks[n]
	if s.rec == "" {
		return m.taskGo[n].ID
	}
	return m.c.taskID(s.rec)
}

// workerNum returns the number of a worker id, numbering it when new.
func (m *Memory) workerNum(id string) uint32 {
	if w, ok := m.workerNo[id]; ok {
		return w
	}
	w := uint32(len(m.workerID))
	m.workerID = append(m.workerID, id)
	m.workerNo[id] = w
	return w
}

// Queues are heaps of task numbers with their priority: higher priority
// first, then FIFO (the number is the enqueue order). Each task's index
// in its heap is kept in its slot, so a withdrawn task leaves in O(log n).

type heapItem struct {
	prio float64
	n    uint32
}

func (a heapItem) before(b heapItem) bool {
	if a.prio != b.prio {
		return a.prio > b.prio
	}
	return a.n < b.n
}

type entryHeap []heapItem

func (m *Memory) heapSet(h entryHeap, i int) {
	m.tasks[h[i].n].idx = int32(i)
}

func (m *Memory) heapUp(h entryHeap, i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h[i].before(h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		m.heapSet(h, i)
		i = p
	}
	m.heapSet(h, i)
}

// heapDown sifts item i down; it reports whether it moved.
func (m *Memory) heapDown(h entryHeap, i int) bool {
	i0 := i
	for {
		l := 2*i + 1
		if l >= len(h) {
			break
		}
		c := l
		if r := l + 1; r < len(h) && h[r].before(h[l]) {
			c = r
		}
		if !h[c].before(h[i]) {
			break
		}
		h[i], h[c] = h[c], h[i]
		m.heapSet(h, i)
		i = c
	}
	m.heapSet(h, i)
	return i > i0
}

func (m *Memory) heapPush(h *entryHeap, it heapItem) {
	*h = append(*h, it)
	m.heapUp(*h, len(*h)-1)
}

func (m *Memory) heapRemove(h *entryHeap, i int) {
	old := *h
	last := len(old) - 1
	m.tasks[old[i].n].idx = -1
	if i != last {
		old[i] = old[last]
		m.heapSet(old, i)
	}
	*h = old[:last]
	if i != last {
		if !m.heapDown(*h, i) {
			m.heapUp(*h, i)
		}
	}
	if cap(*h) > 64 && len(*h) < cap(*h)/4 {
		*h = append(entryHeap(nil), *h...)
	}
}
