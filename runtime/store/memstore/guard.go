package memstore

import (
	"context"
	"slices"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
)

// reservations are Reserve's keys with their values and expiry. Expired
// keys are swept when the map has doubled since the last sweep, so it
// holds about what the last ttl reserved, and never more than max live
// keys.
type reservations struct {
	m     map[string]reservation
	swept int
	max   int
}

// defaultMaxReservations is Options.MaxReservations' default.
const defaultMaxReservations = 1_000_000

type reservation struct {
	value string
	until time.Time
}

// Reserve implements store.Store.
func (m *Store) Reserve(ctx context.Context, key, value string, ttl time.Duration) (string, bool, error) {
	if err := m.lock(); err != nil {
		return "", false, err
	}
	defer m.mu.Unlock()
	now := m.clock()
	r := &m.reserved
	if r.m == nil {
		r.m = map[string]reservation{}
	}
	if e, ok := r.m[key]; ok && e.until.After(now) {
		return e.value, false, nil
	}
	limit := r.max
	if limit <= 0 {
		limit = defaultMaxReservations
	}
	if len(r.m) >= min(2*max(r.swept, 512), limit) {
		for k, e := range r.m {
			if !e.until.After(now) {
				delete(r.m, k)
			}
		}
		r.swept = len(r.m)
		if len(r.m) >= limit {
			return "", false, store.ErrFull
		}
	}
	r.m[key] = reservation{value: value, until: now.Add(ttl)}
	return "", true, nil
}

// Uncount implements store.Store.
func (m *Store) Uncount(ctx context.Context, name string) error {
	if err := m.lock(); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if m.counters[name] > 0 {
		m.counters[name]--
	}
	return nil
}

// EndLeases implements store.Store.
func (m *Store) EndLeases(ctx context.Context, p store.EndLeasesParams) (int, error) {
	if err := m.lock(); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	w, ok := m.workerNo[p.WorkerID]
	if !ok || p.WorkerID == "" {
		return 0, nil
	}
	n := 0
	for tn := range m.leases {
		s := m.task(tn)
		if s.worker != w || s.state != stateLeased || s.dead || slices.Contains(p.Keep, m.taskID(tn)) {
			continue
		}
		if m.loadTask(tn).LeasedAt.After(p.LeasedBefore) {
			continue
		}
		s.dead = true
		n++
	}
	return n, nil
}

// JobEnds implements store.Store: nil, the one instance of an in-process
// store hears of its own commits.
func (m *Store) JobEnds() <-chan string { return nil }
