package redisstore_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/avtomatika-ai/avtomatika-go/internal/redistest"
	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store/redisstore"
)

// leaseRuns is a go-redis hook counting runs of the lease script (its
// argument is the JSON {"w": worker, ...}).
type leaseRuns struct{ n, done atomic.Int64 }

func (h *leaseRuns) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *leaseRuns) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (h *leaseRuns) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		args := cmd.Args()
		if a, ok := args[len(args)-1].(string); ok && strings.HasPrefix(a, `{"w":`) {
			h.n.Add(1)
			defer h.done.Add(1)
		}
		return next(ctx, cmd)
	}
}

// countedStore opens a store on a new Redis that never rechecks on its
// own, with a hook counting its lease script runs; opt reaches the Redis.
func countedStore(t *testing.T) (*redisstore.Store, *leaseRuns, *redis.Options) {
	t.Helper()
	srv := redistest.Start(t, redistest.Options{})
	opt, err := redis.ParseURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(opt)
	runs := &leaseRuns{}
	rc.AddHook(runs)
	s, err := redisstore.New(context.Background(), rc, redisstore.Options{Prefix: srv.Fresh(t), Recheck: time.Hour, OwnsClient: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, runs, opt
}

// One queued task wakes one of many waiting polls, not all of them: two
// lease script runs for it (the claim and the winner's next look), whatever
// the number of polls. A batch of tasks wakes as many polls as it holds.
// The store never rechecks on its own here, so only wakes find the tasks.
func TestWakeOnePollPerTask(t *testing.T) {
	s, runs, _ := countedStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	const polls = 20
	got := make(chan *core.Task, polls)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for i := range polls {
		wg.Go(func() {
			for ctx.Err() == nil {
				tk, err := s.Lease(ctx, store.LeaseParams{WorkerID: fmt.Sprint("w", i), Types: []string{"a"}, Now: t0, Wait: time.Hour})
				if err != nil {
					t.Error(err)
					return
				}
				if tk != nil {
					got <- tk
				}
			}
		})
	}
	// settle waits until every poll waits and the lease runs reach want.
	settle := func(want int64) int64 {
		t.Helper()
		for deadline := time.Now().Add(wait); ; time.Sleep(time.Millisecond) {
			st, err := s.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n := runs.n.Load(); st.Waiting == polls && n >= want {
				return n
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d polls waiting after %d lease runs, want %d after %d", st.Waiting, runs.n.Load(), polls, want)
			}
		}
	}
	before := settle(polls) // each poll's first look
	for round := range 5 {
		id := fmt.Sprint("one", round)
		if err := s.CreateJob(ctx, store.CommitParams{Job: job(id), Effects: &core.Effects{Enqueue: []*core.Task{task("t"+id, id, 0)}}}); err != nil {
			t.Fatal(err)
		}
		select {
		case tk := <-got:
			if tk.ID != "t"+id {
				t.Fatalf("leased %s, want t%s", tk.ID, id)
			}
		case <-time.After(wait):
			t.Fatal("no poll was woken")
		}
		n := settle(before + 2)
		if n-before != 2 {
			t.Fatalf("one task with %d waiting polls ran the lease script %d times, want 2", polls, n-before)
		}
		before = n
	}
	var batch []*core.Task
	for i := range polls {
		batch = append(batch, task(fmt.Sprint("b", i), "batch", i))
	}
	if err := s.CreateJob(ctx, store.CommitParams{Job: job("batch"), Effects: &core.Effects{Enqueue: batch}}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range polls {
		select {
		case tk := <-got:
			seen[tk.ID] = true
		case <-time.After(wait):
			t.Fatalf("%d of %d batch tasks leased", len(seen), polls)
		}
	}
	if len(seen) != polls {
		t.Fatalf("%d distinct tasks leased, want %d", len(seen), polls)
	}
}

// A subscription that breaks and comes back may have lost wake messages:
// every waiting poll looks again. The store never rechecks on its own
// here.
func TestSubscriptionBackWakesPolls(t *testing.T) {
	s, runs, opt := countedStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	const polls = 5
	for i := range polls {
		wg.Go(func() {
			_, _ = s.Lease(ctx, store.LeaseParams{WorkerID: fmt.Sprint("w", i), Types: []string{"a"}, Now: t0, Wait: time.Hour})
		})
	}
	until := func(want int64, what string) {
		t.Helper()
		for deadline := time.Now().Add(wait); runs.done.Load() < want; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d lease runs, want %d", what, runs.done.Load(), want)
			}
		}
	}
	until(polls, "first looks")
	admin := redis.NewClient(opt)
	defer admin.Close()
	if err := admin.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	until(2*polls, "looks after the subscription came back")
}
