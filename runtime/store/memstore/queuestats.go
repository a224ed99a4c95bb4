package memstore

import (
	"context"

	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
)

var _ store.QueueStats = (*Store)(nil)

// QueueStats implements store.QueueStats. Task numbers follow the
// enqueue order, so the oldest task is the lowest number on the queue.
func (m *Store) QueueStats(_ context.Context, types []string) (map[string]store.QueueStat, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	out := make(map[string]store.QueueStat, len(types))
	for _, typ := range types {
		q := m.shared[typ]
		if q == nil {
			out[typ] = store.QueueStat{}
			continue
		}
		st := store.QueueStat{Depth: len(q.plain) + len(q.cons)}
		oldest, found := uint32(0), false
		for _, h := range []entryHeap{q.plain, q.cons} {
			for _, it := range h {
				if !found || it.n < oldest {
					oldest, found = it.n, true
				}
			}
		}
		if found {
			st.Oldest = m.loadTask(oldest).EnqueuedAt
		}
		out[typ] = st
	}
	return out, nil
}
