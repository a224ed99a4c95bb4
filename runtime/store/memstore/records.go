package memstore

import (
	"encoding/binary"
	"math/bits"
	"strings"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store/memstore/internal/codec"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// Records of the memory store. A job is a jobSlot and a task a taskSlot,
// each in a slice by its number, holding the encoded record
// (internal/codec); the maps index them by id. Reading a job or a task
// decodes a fresh copy, writing one encodes it, so what the store keeps
// never shares memory with what a caller holds.

// slots is a growing array of T in chunks: growing never copies, and a
// pointer to a slot stays valid. The first chunks double from 16 slots
// (16, 32, ..., 512: 1,008 slots in all), so a store that holds a few
// jobs, as a blueprint test's does, costs a few hundred bytes; every
// later chunk holds 1,024.
type slots[T any] struct {
	chunks [][]T
	n      int
	cap    int
}

const (
	slotChunkBits = 10
	slotFirstBits = 4                                   // the first chunk: 16 slots
	slotSmall     = 1<<slotChunkBits - 1<<slotFirstBits // slots in the doubling chunks: 1,008
	slotDoubling  = slotChunkBits - slotFirstBits       // how many doubling chunks: 6
)

func (s *slots[T]) at(n uint32) *T {
	if n < slotSmall {
		m := n + 1<<slotFirstBits
		k := bits.Len32(m>>slotFirstBits) - 1
		return &s.chunks[k][m-1<<(slotFirstBits+k)]
	}
	m := n - slotSmall
	return &s.chunks[slotDoubling+int(m>>slotChunkBits)][m&(1<<slotChunkBits-1)]
}

// add appends a zero slot and returns its number.
func (s *slots[T]) add() uint32 {
	if s.n == s.cap {
		size := 1 << slotChunkBits
		if k := len(s.chunks); k < slotDoubling {
			size = 1 << (slotFirstBits + k)
		}
		s.chunks = append(s.chunks, make([]T, size))
		s.cap += size
	}
	s.n++
	return uint32(s.n - 1)
}

// jobSlot is one job: its record (internal/codec), which starts with
// its key. When the record says so, Store.jobExt holds more of it.
type jobSlot struct {
	rec string
}

// jobView is a job's record with what is kept apart from it.
type jobView struct {
	rec string
	ext *memJobExt // nil for most jobs
}

func (m *Store) view(n uint32) *jobView {
	rec := m.job(n).rec
	v := &jobView{rec: rec}
	if rec != "" && codec.JobHasExt(rec) {
		v.ext = m.jobExt[n]
	}
	return v
}

// memJobExt holds the parts of a job kept apart from its record.
type memJobExt struct {
	job    *core.Job            // the job, when a value in it does not encode (the record's body is empty)
	refs   core.TaskRefs        // Tasks, when longer than codec.MaxInlineRefs (immutable, shared)
	tl     []byte               // the encoded timeline, once longer than maxRecTimeline
	events []core.TimelineEvent // the timeline, once an event did not encode
	goTL   bool                 // events holds the timeline
}

// maxRecTimeline is the longest encoded timeline kept in a job's record
// (which a commit copies); a longer one is appended to apart.
const maxRecTimeline = 1024

func (s *jobView) extOrNew() *memJobExt {
	if s.ext == nil {
		s.ext = &memJobExt{}
	}
	return s.ext
}

func (m *Store) job(n uint32) *jobSlot { return m.jobs.at(n) }

// jobRec is job n's record, for the index.
func (m *Store) jobRec(n uint32) string { return m.jobs.at(n).rec }

// findJob returns the number of job id.
func (m *Store) findJob(id string) (uint32, bool) {
	var kb [48]byte
	n, ok := m.jobIdx.find(codec.AppendKey(kb[:0], id))
	if ok && m.ob.removed > 0 && m.gone(n) {
		return 0, false // removed (outbox.go)
	}
	return n, ok
}

// findTask returns the number of task id.
func (m *Store) findTask(id string) (uint32, bool) {
	var kb [48]byte
	n, ok := m.taskIdx.find(codec.AppendKey(kb[:0], id))
	if ok && m.ob.removed > 0 && m.taskGone(n) {
		return 0, false // removed with its job (outbox.go)
	}
	return n, ok
}

// taskNumber returns the number of task id, also when the commit being
// written enqueues it.
func (m *Store) taskNumber(id string) (uint32, bool) {
	if n, ok := m.findTask(id); ok {
		return n, true
	}
	if m.pendingIx != nil {
		k, ok := m.pendingIx[id]
		return m.pendingBase + uint32(k), ok
	}
	for k, t := range m.pending {
		if t != nil && t.ID == id {
			return m.pendingBase + uint32(k), true
		}
	}
	return 0, false
}

// pend records the tasks the commit being written enqueues: they will be
// numbered next, in order, and the job's record and timeline may name
// them by those numbers (taskNumber, taskID).
func (m *Store) pend(fx *core.Effects) {
	m.pending, m.pendingIx = nil, nil
	if fx == nil {
		return
	}
	m.pending, m.pendingBase = fx.Enqueue, uint32(m.tasks.n)
	if len(fx.Enqueue) > 8 {
		m.pendingIx = make(map[string]int, len(fx.Enqueue))
		for k, t := range fx.Enqueue {
			m.pendingIx[t.ID] = k
		}
	}
}

// jobNumber returns the number of job id, or noJob.
func (m *Store) jobNumber(id string) uint32 {
	if n, ok := m.findJob(id); ok {
		return n
	}
	return noJob
}

// taskNo returns the number of task id (also one the commit being
// written enqueues), or noTask.
func (m *Store) taskNo(id string) uint32 {
	if n, ok := m.taskNumber(id); ok {
		return n
	}
	return noTask
}

// jobRefs returns the numbers of the jobs and tasks j names, for its record.
func (m *Store) jobRefs(j *core.Job) codec.JobRefs {
	refs := codec.NoRefs()
	if j.Child != "" {
		refs.Child = m.jobNumber(j.Child)
	}
	if j.Parent != nil {
		refs.Parent = m.jobNumber(j.Parent.JobID)
	}
	if j.Tasks.Len() <= codec.MaxInlineRefs {
		for i, ref := range j.Tasks.All() {
			refs.Tasks[i] = m.taskNo(ref.ID)
		}
	}
	return refs
}

// putJob stores j as job n with Rev rev, its timeline followed by evs.
func (m *Store) putJob(n uint32, j *core.Job, rev int64, evs []core.TimelineEvent) {
	s := m.view(n)
	var oldTL string // the timeline in the record
	if s.rec != "" {
		_, t := codec.JobParts(s.rec)
		oldTL = s.rec[t:]
	}
	if s.ext != nil {
		s.ext.job, s.ext.refs = nil, core.TaskRefs{}
	}
	refs := m.jobRefs(j)
	body, inline, err := m.c.EncodeJobBody(j, rev, &refs)
	switch {
	case err != nil:
		c := cloneJob(j)
		c.Rev = rev
		body = nil
		s.extOrNew().job = c
	case !inline:
		s.extOrNew().refs = j.Tasks
	}
	var add []byte // encoded events that go in the record
	switch ext := s.ext; {
	case len(evs) == 0:
	case ext != nil && ext.goTL:
		for _, e := range evs {
			ext.events = append(ext.events, cloneTimeline(e))
		}
	default:
		b := m.evBuf[:0]
		for i := range evs {
			var prev *core.TimelineEvent
			if i > 0 {
				prev = &evs[i-1]
			}
			task := noTask
			if evs[i].TaskID != "" {
				task = m.taskNo(evs[i].TaskID)
			}
			var err error
			if b, err = m.c.AppendEvent(b, &evs[i], prev, task); err == nil {
				continue
			}
			// An event holds a value the encoding does not keep: from
			// now on the job's timeline is kept as Go values.
			var events []core.TimelineEvent
			if ext != nil && ext.tl != nil {
				events = m.decodeTimeline(string(ext.tl))
			} else {
				events = m.decodeTimeline(oldTL)
			}
			events = append(events, m.decodeTimeline(string(b))...)
			for _, e := range evs[i:] {
				events = append(events, cloneTimeline(e))
			}
			ext = s.extOrNew()
			ext.events, ext.goTL, ext.tl = events, true, nil
			oldTL, b = "", nil
			break
		}
		m.evBuf = b[:0]
		switch {
		case ext != nil && ext.goTL:
		case ext != nil && ext.tl != nil:
			ext.tl = append(ext.tl, b...)
		case len(oldTL)+len(b) > maxRecTimeline:
			ext = s.extOrNew()
			ext.tl = append([]byte(oldTL), b...)
			oldTL = ""
		default:
			add = b
		}
	}
	if e := s.ext; e != nil && e.job == nil && e.refs.Len() == 0 && e.tl == nil && !e.goTL {
		s.ext = nil
	}
	hdr := uint64(len(body)) << 1
	if s.ext != nil {
		m.jobExt[n] = s.ext
		hdr |= 1
	} else if len(m.jobExt) > 0 {
		delete(m.jobExt, n)
	}
	var kb [48]byte
	key := codec.AppendKey(kb[:0], j.ID)
	var lb [binary.MaxVarintLen64]byte
	l := binary.PutUvarint(lb[:], hdr)
	var rec strings.Builder
	rec.Grow(len(key) + l + len(body) + len(oldTL) + len(add))
	rec.Write(key)
	rec.Write(lb[:l])
	rec.Write(body)
	rec.WriteString(oldTL)
	rec.Write(add)
	m.job(n).rec = rec.String()
}

// loadJob decodes job n; id is its id when the caller has it ("" to
// decode it too).
func (m *Store) loadJob(n uint32, id string) *core.Job {
	s := m.view(n)
	if s.ext != nil {
		if s.ext.job != nil {
			return cloneJob(s.ext.job)
		}
		j := m.decodeJob(s.rec, id)
		if s.ext.refs.Len() > 0 {
			j.Tasks = s.ext.refs
		}
		return j
	}
	return m.decodeJob(s.rec, id)
}

// decodeJob decodes a job record and puts in the ids it names by number.
func (m *Store) decodeJob(rec, id string) *core.Job {
	var d codec.DecodedJob
	m.c.DecodeJob(rec, id, &d)
	j := d.Job
	if d.Refs.Child != noJob {
		j.Child = m.jobID(d.Refs.Child)
	}
	if d.Refs.Parent != noJob {
		j.Parent.JobID = m.jobID(d.Refs.Parent)
	}
	if d.NTasks > 0 {
		for i := range d.NTasks {
			if n := d.Refs.Tasks[i]; n != noTask {
				d.Tasks[i].ID = m.taskID(n)
			}
		}
		j.Tasks = core.NewTaskRefs(d.Tasks[:d.NTasks]...)
	}
	return j
}

// decodeTimeline decodes an encoded timeline and puts in the ids of the
// tasks it names by number.
func (m *Store) decodeTimeline(tl string) []core.TimelineEvent {
	evs, refs := m.c.DecodeTimeline(tl, m.evRefs[:0])
	for _, r := range refs {
		evs[r.Event].TaskID = m.taskID(r.Task)
	}
	m.evRefs = refs[:0]
	return evs
}

// jobHead returns job n's Rev and Status.
func (m *Store) jobHead(n uint32) (int64, wire.JobStatus) {
	s := m.view(n)
	if s.ext != nil && s.ext.job != nil {
		return s.ext.job.Rev, s.ext.job.Status
	}
	return m.c.JobHead(s.rec)
}

func (m *Store) loadTimeline(n uint32) []core.TimelineEvent {
	s := m.view(n)
	if e := s.ext; e != nil {
		if e.goTL {
			out := make([]core.TimelineEvent, len(e.events))
			for i, ev := range e.events {
				out[i] = cloneTimeline(ev)
			}
			return out
		}
		if e.tl != nil {
			return m.decodeTimeline(string(e.tl))
		}
	}
	_, t := codec.JobParts(s.rec)
	return m.decodeTimeline(s.rec[t:])
}

// taskSlot is one task. Its Worker field is worker, kept beside the record.
type taskSlot struct {
	rec      string // the encoded task (only its key when Store.taskGo holds it)
	idx      int32  // its index in its queue's heap, -1 when on none
	worker   uint32 // see store.TaskInfo.Worker (a worker number)
	assigned uint32 // the worker whose own queue the task went to, or 0
	state    uint8
	dead     bool // the lease holder was declared dead
	goRec    bool // Store.taskGo holds the task
	cons     bool // on its queue's heap of constrained tasks
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

var taskStates = [...]store.TaskState{"", store.TaskQueued, store.TaskLeased, store.TaskDone, store.TaskWithdrawn, store.TaskExpired}

// noTask and noJob are no task and no job number.
const (
	noTask = codec.None
	noJob  = codec.None
)

func (m *Store) task(n uint32) *taskSlot { return m.tasks.at(n) }

// taskRec is task n's record, for the index.
func (m *Store) taskRec(n uint32) string { return m.tasks.at(n).rec }

// newTask stores a new task (t, its Worker aside) and returns its number.
func (m *Store) newTask(t *core.Task) uint32 {
	n := m.tasks.add()
	m.task(n).idx = -1
	m.putTask(n, t)
	var kb [48]byte
	m.taskIdx.add(codec.AppendKey(kb[:0], t.ID), n)
	return n
}

// putTask stores t as task n's record (its Worker is not stored).
func (m *Store) putTask(n uint32, t *core.Task) {
	s := m.task(n)
	rec, err := m.c.EncodeTask(t, m.jobNumber(t.JobID))
	if err != nil {
		s.rec, s.goRec = string(codec.AppendKey(nil, t.ID)), true
		m.taskGo[n] = cloneTask(t)
		return
	}
	s.rec, s.goRec = rec, false
	delete(m.taskGo, n)
}

// setLease sets task n's LeasedAt and LeaseUntil.
func (m *Store) setLease(n uint32, at, until time.Time) {
	s := m.task(n)
	if s.goRec {
		t := m.taskGo[n]
		t.LeasedAt, t.LeaseUntil = at, until
		return
	}
	s.rec = m.c.SetLease(s.rec, at, until)
}

// loadTask decodes task n.
func (m *Store) loadTask(n uint32) *core.Task {
	s := m.task(n)
	w := m.workerID[s.worker]
	if s.goRec {
		t := cloneTask(m.taskGo[n])
		t.Worker = w
		return t
	}
	t, job := m.c.DecodeTask(s.rec, w)
	if job != noJob {
		t.JobID = m.jobID(job)
	}
	return t
}

// taskType returns task n's type.
func (m *Store) taskType(n uint32) string {
	if s := m.task(n); !s.goRec {
		return m.c.TaskType(s.rec)
	}
	return m.taskGo[n].Type
}

// taskOfJob reports whether task n belongs to job jobID, number job.
func (m *Store) taskOfJob(n uint32, jobID string, job uint32) bool {
	s := m.task(n)
	if s.goRec {
		return m.taskGo[n].JobID == jobID
	}
	return m.c.TaskJobIs(s.rec, jobID, job)
}

// taskID returns task n's id, also when the commit being written
// enqueues it.
func (m *Store) taskID(n uint32) string {
	if int(n) >= m.tasks.n {
		return m.pending[n-m.pendingBase].ID
	}
	return codec.Key(m.task(n).rec)
}

// jobID returns job n's id.
func (m *Store) jobID(n uint32) string {
	return codec.Key(m.job(n).rec)
}

// workerNum returns the number of a worker id, numbering it when new.
func (m *Store) workerNum(id string) uint32 {
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

func (m *Store) heapSet(h entryHeap, i int) {
	m.task(h[i].n).idx = int32(i)
}

func (m *Store) heapUp(h entryHeap, i int) {
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
func (m *Store) heapDown(h entryHeap, i int) bool {
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

func (m *Store) heapPush(h *entryHeap, it heapItem) {
	*h = append(*h, it)
	m.heapUp(*h, len(*h)-1)
}

func (m *Store) heapRemove(h *entryHeap, i int) {
	old := *h
	last := len(old) - 1
	m.task(old[i].n).idx = -1
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
