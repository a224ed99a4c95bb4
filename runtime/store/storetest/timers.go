package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
)

// ExerciseTimers runs the cases of timers: each claimed once, and the
// signal that one was armed.
func ExerciseTimers(t *testing.T, newStore func(t *testing.T) store.Store) {
	run(t, newStore, []testCase{
		{"TimersFireOnce", testTimersFireOnce},
		{"TimerArmedSignal", testTimerArmed},
		{"TimerDueAtItsTime", testTimerDueAtItsTime},
	})
}

func testTimersFireOnce(t *testing.T, s store.Store) {
	ctx := context.Background()
	create(t, s, newJob("j1", "c1"), nil)
	const n = 60
	var timers []core.Timer
	for i := range n {
		timers = append(timers, core.Timer{ID: fmt.Sprint("tm", i), JobID: "j1", At: t0.Add(time.Duration(i%5) * time.Second),
			Event: core.Event{Kind: core.EventTimer, TimerID: fmt.Sprint("tm", i)}})
	}
	later := core.Timer{ID: "later", JobID: "j1", At: t0.Add(time.Hour)}
	gone := core.Timer{ID: "gone", JobID: "j1", At: t0}
	if _, err := s.CommitIfVersion(ctx, store.CommitParams{Job: newJob("j1", "c1"), ExpectRev: 1,
		Effects: &core.Effects{Timers: append(timers, later, gone)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CommitIfVersion(ctx, store.CommitParams{Job: newJob("j1", "c1"), ExpectRev: 2,
		Effects: &core.Effects{CancelTimers: []string{"gone"}}}); err != nil {
		t.Fatal(err)
	}
	if at, ok, _ := s.NextTimerAt(ctx); !ok || !at.Equal(t0) {
		t.Errorf("next timer at %v (%v), want %v", at, ok, t0)
	}
	var mu sync.Mutex
	fired := map[string]int{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				got, err := s.ClaimDueTimers(ctx, t0.Add(10*time.Second), 3)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, tm := range got {
					fired[tm.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(fired) != n {
		t.Errorf("%d timers fired, want %d", len(fired), n)
	}
	for id, c := range fired {
		if c != 1 {
			t.Errorf("timer %q fired %d times", id, c)
		}
		if id == "later" || id == "gone" {
			t.Errorf("timer %q fired", id)
		}
	}
	if at, ok, _ := s.NextTimerAt(ctx); !ok || !at.Equal(later.At) {
		t.Errorf("next timer after claims at %v (%v), want %v", at, ok, later.At)
	}
	got, _ := s.ClaimDueTimers(ctx, t0.Add(2*time.Hour), 0)
	if len(got) != 1 || got[0].ID != "later" {
		t.Errorf("claim of the last timer: %+v", got)
	}
}

func testTimerArmed(t *testing.T, s store.Store) {
	ctx := context.Background()
	create(t, s, newJob("j1", "c1"), nil)
	ch := s.TimerArmed()
	select {
	case <-ch:
		t.Fatal("timer signal before any timer was armed")
	default:
	}
	if _, err := s.CommitIfVersion(ctx, store.CommitParams{Job: newJob("j1", "c1"), ExpectRev: 1,
		Effects: &core.Effects{Timers: []core.Timer{{ID: "tm", JobID: "j1", At: t0}}}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(wait):
		t.Fatal("arming a timer did not signal")
	}
}
