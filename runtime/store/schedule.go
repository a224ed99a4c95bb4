package store

import (
	"context"
	"time"
)

// ScheduleState is what the instances share of one schedule: the fire
// they last handled and its job, and whether it is paused. A store that
// keeps it implements Schedules.
type ScheduleState struct {
	// Last is the fire time last handled (a job started for it, or it was
	// missed); zero before the first.
	Last time.Time
	// LastJob is the id of the job of the latest fire that started one.
	LastJob string
	// Paused schedules start no jobs; their fires count as missed.
	Paused bool
}

// Schedules keeps the shared state of schedules. Both stores implement it;
// the scheduler finds it by a type assertion on the Store.
//
// One fire starts one job across instances: every instance that sees a
// fire due creates its job under an id derived from the schedule and the
// fire time (CreateJob answers ErrExists to all but one), then moves Last
// from the value it read to the fire time with AdvanceSchedule, which only
// one of them does. An instance killed between the two leaves Last where
// it was, and the next instance to look creates the same id and moves it.
type Schedules interface {
	// ScheduleState returns the schedule's state; ok is false when none
	// was ever written.
	ScheduleState(ctx context.Context, name string) (st ScheduleState, ok bool, err error)
	// AdvanceSchedule sets Last to to when it is from (a zero from: when
	// no state exists yet, which it then creates) and reports whether it
	// did. A non-empty job becomes LastJob; an empty one leaves it.
	AdvanceSchedule(ctx context.Context, name string, from, to time.Time, job string) (bool, error)
	// PauseSchedule sets Paused, creating the state (Last = now) when none
	// exists.
	PauseSchedule(ctx context.Context, name string, paused bool, now time.Time) error
}
