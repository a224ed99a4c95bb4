package storetest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
)

// ExerciseSchedules runs the cases of schedule state (store.Schedules);
// a store that does not implement it fails.
func ExerciseSchedules(t *testing.T, newStore func(t *testing.T) store.Store) {
	run(t, newStore, []testCase{
		{"ScheduleAdvance", testScheduleAdvance},
		{"ScheduleAdvanceRace", testScheduleAdvanceRace},
		{"SchedulePause", testSchedulePause},
	})
}

func schedules(t *testing.T, s store.Store) store.Schedules {
	t.Helper()
	sc, ok := s.(store.Schedules)
	if !ok {
		t.Fatalf("%T does not implement store.Schedules", s)
	}
	return sc
}

func testScheduleAdvance(t *testing.T, s store.Store) {
	ctx := context.Background()
	sc := schedules(t, s)
	if _, ok, err := sc.ScheduleState(ctx, "nightly"); err != nil || ok {
		t.Fatalf("state of a new schedule: ok=%v err=%v", ok, err)
	}
	t1, t2 := t0.Add(time.Minute), t0.Add(2*time.Minute)
	if ok, err := sc.AdvanceSchedule(ctx, "nightly", t1, t2, "j"); err != nil || ok {
		t.Fatalf("advance from a time when no state exists: ok=%v err=%v", ok, err)
	}
	if ok, err := sc.AdvanceSchedule(ctx, "nightly", time.Time{}, t0, ""); err != nil || !ok {
		t.Fatalf("create: ok=%v err=%v", ok, err)
	}
	if ok, err := sc.AdvanceSchedule(ctx, "nightly", time.Time{}, t1, ""); err != nil || ok {
		t.Fatalf("create again: ok=%v err=%v", ok, err)
	}
	if ok, err := sc.AdvanceSchedule(ctx, "nightly", t0, t1, "job-1"); err != nil || !ok {
		t.Fatalf("advance: ok=%v err=%v", ok, err)
	}
	if ok, err := sc.AdvanceSchedule(ctx, "nightly", t0, t2, "job-x"); err != nil || ok {
		t.Fatalf("advance from a stale time: ok=%v err=%v", ok, err)
	}
	if ok, err := sc.AdvanceSchedule(ctx, "nightly", t1, t2, ""); err != nil || !ok {
		t.Fatalf("advance without a job: ok=%v err=%v", ok, err)
	}
	st, ok, err := sc.ScheduleState(ctx, "nightly")
	if err != nil || !ok || !st.Last.Equal(t2) || st.LastJob != "job-1" || st.Paused {
		t.Fatalf("state %+v ok=%v err=%v; want last %v, job-1", st, ok, err, t2)
	}
	if _, ok, _ := sc.ScheduleState(ctx, "other"); ok {
		t.Fatal("schedules share state")
	}
}

// Many callers advancing from the same time: exactly one wins.
func testScheduleAdvanceRace(t *testing.T, s store.Store) {
	ctx := context.Background()
	sc := schedules(t, s)
	if _, err := sc.AdvanceSchedule(ctx, "race", time.Time{}, t0, ""); err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := sc.AdvanceSchedule(ctx, "race", t0, t0.Add(time.Second), "j"+string(rune('a'+i)))
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := wins.Load(); n != 1 {
		t.Fatalf("%d callers advanced the same fire, want 1", n)
	}
}

func testSchedulePause(t *testing.T, s store.Store) {
	ctx := context.Background()
	sc := schedules(t, s)
	if err := sc.PauseSchedule(ctx, "p", true, t0); err != nil {
		t.Fatal(err)
	}
	st, ok, err := sc.ScheduleState(ctx, "p")
	if err != nil || !ok || !st.Paused || !st.Last.Equal(t0) {
		t.Fatalf("paused new schedule: %+v ok=%v err=%v", st, ok, err)
	}
	if ok, _ := sc.AdvanceSchedule(ctx, "p", t0, t0.Add(time.Minute), "j"); !ok {
		t.Fatal("a paused schedule's state does not advance")
	}
	if err := sc.PauseSchedule(ctx, "p", false, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	st, _, _ = sc.ScheduleState(ctx, "p")
	if st.Paused || !st.Last.Equal(t0.Add(time.Minute)) || st.LastJob != "j" {
		t.Fatalf("resumed: %+v", st)
	}
}
