package memstore

import (
	"context"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
)

var _ store.Schedules = (*Store)(nil)

// ScheduleState implements store.Schedules.
func (m *Store) ScheduleState(_ context.Context, name string) (store.ScheduleState, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return store.ScheduleState{}, false, store.ErrClosed
	}
	st, ok := m.sched[name]
	return st, ok, nil
}

// AdvanceSchedule implements store.Schedules.
func (m *Store) AdvanceSchedule(_ context.Context, name string, from, to time.Time, job string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false, store.ErrClosed
	}
	st, ok := m.sched[name]
	if ok != !from.IsZero() || (ok && !st.Last.Equal(from)) {
		return false, nil
	}
	if m.sched == nil {
		m.sched = map[string]store.ScheduleState{}
	}
	st.Last = to
	if job != "" {
		st.LastJob = job
	}
	m.sched[name] = st
	return true, nil
}

// PauseSchedule implements store.Schedules.
func (m *Store) PauseSchedule(_ context.Context, name string, paused bool, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return store.ErrClosed
	}
	if m.sched == nil {
		m.sched = map[string]store.ScheduleState{}
	}
	st, ok := m.sched[name]
	if !ok {
		st.Last = now
	}
	st.Paused = paused
	m.sched[name] = st
	return nil
}
