package memstore

import (
	"container/heap"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store/memstore/internal/codec"
)

// The outbox (store.Outbox): ended jobs wait in outq until the archive
// has them, then in the retained heap until their retention passes, and
// are then removed. A removed job leaves a tombstone: its slot holds only
// its id's key (about 20 bytes, plus the slot and its index entry), so
// the numbers other records name it by still decode to its id, and every
// lookup by id treats it as unknown. Its task records are cut the same
// way.

var _ store.Outbox = (*Store)(nil)
var _ store.Searcher = (*Store)(nil)

// outbox is the memory store's part of store.Outbox.
type outbox struct {
	on       bool
	outq     []uint32            // ended jobs in end order (may hold archived ones: see inOut)
	inOut    map[uint32]int64    // job number -> end time (µs) while in the outbox
	retained retainedHeap        // archived jobs by end time
	removed  int                 // tombstones
	refs     map[uint32]struct{} // scratch
}

type retainedJob struct {
	n     uint32
	ended int64
}

type retainedHeap []retainedJob

func (h retainedHeap) Len() int           { return len(h) }
func (h retainedHeap) Less(i, j int) bool { return h[i].ended < h[j].ended }
func (h retainedHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *retainedHeap) Push(x any)        { *h = append(*h, x.(retainedJob)) }
func (h *retainedHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// KeepOutbox implements store.Outbox.
func (m *Store) KeepOutbox() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ob.on = true
	if m.ob.inOut == nil {
		m.ob.inOut = map[uint32]int64{}
	}
}

// noteEnded puts job n, which a commit just ended, in the outbox.
func (m *Store) noteEnded(n uint32, j *core.Job) {
	if !m.ob.on {
		return
	}
	if _, ok := m.ob.inOut[n]; ok {
		return
	}
	end := j.FinishedAt
	if end.IsZero() {
		end = j.UpdatedAt
	}
	m.ob.inOut[n] = end.UnixMicro()
	m.ob.outq = append(m.ob.outq, n)
}

// gone reports whether job n was removed.
func (m *Store) gone(n uint32) bool {
	rec := m.job(n).rec
	return len(rec) == codec.KeyLen(rec)
}

// taskGone reports whether task n was removed.
func (m *Store) taskGone(n uint32) bool {
	s := m.task(n)
	return !s.goRec && len(s.rec) == codec.KeyLen(s.rec)
}

// PendingArchive implements store.Outbox.
func (m *Store) PendingArchive(ctx context.Context, limit int) ([]store.EndedJob, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	m.trimOutq()
	var out []store.EndedJob
	for _, n := range m.ob.outq {
		if len(out) >= limit {
			break
		}
		if _, ok := m.ob.inOut[n]; !ok {
			continue
		}
		out = append(out, store.EndedJob{Job: m.loadJob(n, ""), Timeline: m.loadTimeline(n)})
	}
	return out, nil
}

// trimOutq drops the archived jobs at the head of the outbox queue, and
// copies the queue once its backing array is mostly dead.
func (m *Store) trimOutq() {
	q := m.ob.outq
	for len(q) > 0 {
		if _, ok := m.ob.inOut[q[0]]; ok {
			break
		}
		q = q[1:]
	}
	if cap(q) > 64 && len(q) < cap(q)/4 {
		q = slices.Clone(q)
	}
	m.ob.outq = q
}

// MarkArchived implements store.Outbox.
func (m *Store) MarkArchived(ctx context.Context, ids []string) error {
	if err := m.lock(); err != nil {
		return err
	}
	defer m.mu.Unlock()
	for _, id := range ids {
		n, ok := m.findJob(id)
		if !ok {
			continue
		}
		end, ok := m.ob.inOut[n]
		if !ok {
			continue
		}
		delete(m.ob.inOut, n)
		heap.Push(&m.ob.retained, retainedJob{n: n, ended: end})
	}
	m.trimOutq()
	return nil
}

// OutboxLen implements store.Outbox.
func (m *Store) OutboxLen(ctx context.Context) (int, error) {
	if err := m.lock(); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	return len(m.ob.inOut), nil
}

// RemoveArchived implements store.Outbox.
func (m *Store) RemoveArchived(ctx context.Context, endedBefore time.Time, limit int) (int, error) {
	if err := m.lock(); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	cut := endedBefore.UnixMicro()
	removed := 0
	clients := map[string]bool{}
	for removed < limit && len(m.ob.retained) > 0 && m.ob.retained[0].ended <= cut {
		r := heap.Pop(&m.ob.retained).(retainedJob)
		if m.gone(r.n) {
			continue
		}
		m.removeJob(r.n, clients)
		removed++
	}
	for c := range clients {
		ns := m.byClient[c]
		for len(ns) > 0 && m.gone(ns[0]) {
			ns = ns[1:]
		}
		switch {
		case len(ns) == 0:
			delete(m.byClient, c)
		case cap(ns) > 64 && len(ns) < cap(ns)/4:
			m.byClient[c] = slices.Clone(ns)
		default:
			m.byClient[c] = ns
		}
	}
	if h := m.ob.retained; cap(h) > 64 && len(h) < cap(h)/4 {
		m.ob.retained = slices.Clone(h)
	}
	return removed, nil
}

// removeJob cuts job n and its ended tasks to tombstones.
func (m *Store) removeJob(n uint32, clients map[string]bool) {
	j := m.loadJob(n, "")
	tl := m.loadTimeline(n)
	tasks := map[string]bool{}
	for _, r := range j.Tasks.All() {
		tasks[r.ID] = true
	}
	for _, e := range tl {
		if e.TaskID != "" {
			tasks[e.TaskID] = true
		}
	}
	for id := range tasks {
		tn, ok := m.findTask(id)
		if !ok {
			continue
		}
		s := m.task(tn)
		if s.idx >= 0 || (s.state != stateDone && s.state != stateWithdrawn && s.state != stateExpired) {
			continue // still on a queue or leased: left as it is
		}
		if s.goRec {
			delete(m.taskGo, tn)
			s.goRec = false
		}
		delete(m.consTask, tn)
		s.rec = strings.Clone(s.rec[:codec.KeyLen(s.rec)])
	}
	rec := m.job(n).rec
	m.job(n).rec = strings.Clone(rec[:codec.KeyLen(rec)])
	delete(m.jobExt, n)
	m.byStatus[j.Status]--
	m.ob.removed++
	clients[j.Client.Name] = true
}

// SearchJobs implements store.Searcher over the jobs the store holds.
func (m *Store) SearchJobs(ctx context.Context, q store.JobQuery) ([]*core.Job, error) {
	q.Normalize()
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	top := store.NewTop(&q)
	visit := func(n uint32) bool {
		if m.gone(n) {
			return true
		}
		j := m.loadJob(n, "")
		k, ok := q.Key(j)
		// Jobs are numbered in creation order, so a creation-ordered
		// search stops once the page is full and the jobs it reaches are
		// older (newer) than its last by more than the clocks of
		// concurrent creations could disagree.
		if ok && q.Sort == store.SortCreated && top.Full(k) {
			js := top.Jobs()
			lk, _ := q.Key(js[len(js)-1])
			if (!q.Asc && k.At < lk.At-creationSlack) || (q.Asc && k.At > lk.At+creationSlack) {
				return false
			}
		}
		if q.Match(j, func() []core.TimelineEvent { return m.loadTimeline(n) }) {
			top.Offer(j)
		}
		return true
	}
	var ns []uint32
	all := q.Client == ""
	if !all {
		ns = m.byClient[q.Client]
	}
	count := len(ns)
	if all {
		count = m.jobs.n
	}
	at := func(i int) uint32 {
		if all {
			return uint32(i)
		}
		return ns[i]
	}
	if q.Asc {
		for i := 0; i < count; i++ {
			if !visit(at(i)) {
				break
			}
		}
	} else {
		for i := count - 1; i >= 0; i-- {
			if !visit(at(i)) {
				break
			}
		}
	}
	return top.Jobs(), nil
}

// creationSlack (µs) is how far apart the creation times of jobs created
// at once may be out of their creation order.
const creationSlack = int64(time.Second / time.Microsecond)
