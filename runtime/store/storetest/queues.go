package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
)

// ExerciseQueues runs the cases of queues and leases: priority order, own
// queues, requires and max_cost, long polls and their wake-ups, results
// against leases, withdrawals, reclaimed leases, and Close ending polls.
func ExerciseQueues(t *testing.T, newStore func(t *testing.T) store.Store) {
	run(t, newStore, []testCase{
		{"PriorityThenFIFO", testPriorityThenFIFO},
		{"OwnQueue", testOwnQueue},
		{"RequiresAndMaxCost", testRequiresAndMaxCost},
		{"LeaseWaitEndsEmpty", testLeaseWaitEndsEmpty},
		{"LongPollWakesOnEnqueue", testLongPollWakes},
		{"ManyPollersEachTaskOnce", testManyPollers},
		{"WakeRespectsOwnerAndRequires", testWakeTargets},
		{"ResultChecks", testResultChecks},
		{"ResultCheckedBeforeVersion", testResultCheckedBeforeVersion},
		{"WithdrawEffect", testWithdrawEffect},
		{"CancelRequestsAll", testCancelRequestsAll},
		{"ReclaimExpired", testReclaimExpired},
		{"WithdrawIfQueuedRacesLease", testWithdrawRace},
		{"MixedLoad", testMixedLoad},
		{"CloseEndsPolls", testCloseEndsPolls},
		{"LeaseEndsAtItsDeadline", testLeaseEndsAtDeadline},
		{"TaskInfoNamesItsHolder", testTaskInfoHolder},
	})
}

func testPriorityThenFIFO(t *testing.T, s store.Store) {
	create(t, s, newJob("j1", "c1"), nil)
	// The last three differ only past their first digit, lowest first.
	prios := []float64{1, 5, 5, -2, 3, 5, 1, 12.25, 12.5, 14}
	for i, p := range prios {
		enqueue(t, s, "j1", newTask(fmt.Sprint("t", i), "j1", []string{"a", "b"}[i%2], p))
	}
	want := []string{"t9", "t8", "t7", "t1", "t2", "t5", "t4", "t0", "t6", "t3"}
	var got []string
	for range prios {
		tk := lease(t, s, "w", "a", "b")
		if tk == nil {
			break
		}
		got = append(got, tk.ID)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("lease order (-want +got):\n%s", d)
	}
	if tk := lease(t, s, "w", "a", "b"); tk != nil {
		t.Errorf("leased %q from empty queues", tk.ID)
	}
}

// Task tells a queued task's own-queue worker ("" on the shared queue)
// and a leased task's holder with its lease times.
func testTaskInfoHolder(t *testing.T, s store.Store) {
	ctx := context.Background()
	register(t, s, "w1", "a")
	create(t, s, newJob("j1", "c1"), nil)
	mine := newTask("t-own", "j1", "a", 0)
	mine.Worker = "w1"
	enqueue(t, s, "j1", newTask("t-shared", "j1", "a", 1), mine)
	for id, worker := range map[string]string{"t-shared": "", "t-own": "w1"} {
		info, err := s.Task(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if info.State != store.TaskQueued || info.Worker != worker || !info.Task.LeaseUntil.IsZero() {
			t.Errorf("queued %s: state %s, worker %q, lease until %v; want queued, %q, none", id, info.State, info.Worker, info.Task.LeaseUntil, worker)
		}
	}
	tk := lease(t, s, "w1", "a")
	if tk == nil || tk.ID != "t-shared" {
		t.Fatalf("leased %+v, want t-shared", tk)
	}
	info, err := s.Task(ctx, "t-shared")
	if err != nil {
		t.Fatal(err)
	}
	if info.State != store.TaskLeased || info.Worker != "w1" || info.Task.Worker != "w1" ||
		!info.Task.LeaseUntil.Equal(tk.LeaseUntil) || !info.Task.LeasedAt.Equal(tk.LeasedAt) || info.Task.LeaseUntil.IsZero() {
		t.Errorf("leased: state %s, worker %q/%q, leased %v until %v; want leased by w1 at %v until %v",
			info.State, info.Worker, info.Task.Worker, info.Task.LeasedAt, info.Task.LeaseUntil, tk.LeasedAt, tk.LeaseUntil)
	}
}

func testOwnQueue(t *testing.T, s store.Store) {
	register(t, s, "w1", "a")
	register(t, s, "w2", "a")
	create(t, s, newJob("j1", "c1"), nil)
	mine := newTask("t-own", "j1", "a", 1)
	mine.Worker = "w1"
	enqueue(t, s, "j1", mine, newTask("t-shared", "j1", "a", 0))
	if tk := lease(t, s, "w2", "a"); tk == nil || tk.ID != "t-shared" {
		t.Fatalf("w2 leased %+v, want t-shared (t-own is w1's)", tk)
	}
	if tk := lease(t, s, "w2", "a"); tk != nil {
		t.Fatalf("w2 leased %q from w1's own queue", tk.ID)
	}
	tk := lease(t, s, "w1", "a")
	if tk == nil || tk.ID != "t-own" || tk.Worker != "w1" {
		t.Fatalf("w1 leased %+v, want t-own", tk)
	}
	// An assignment to an unknown worker falls back to the shared queue.
	ghost := newTask("t-ghost", "j1", "a", 0)
	ghost.Worker = "nobody"
	enqueue(t, s, "j1", ghost)
	if tk := lease(t, s, "w2", "a"); tk == nil || tk.ID != "t-ghost" {
		t.Fatalf("w2 leased %+v, want t-ghost (its worker is unknown)", tk)
	}
}

func testRequiresAndMaxCost(t *testing.T, s store.Store) {
	ctx := context.Background()
	create(t, s, newJob("j1", "c1"), nil)
	gpu := newTask("t-gpu", "j1", "a", 0)
	gpu.Requires = map[string]any{"vram_gb": float64(16), "gpu": []any{"a100", "h100"}}
	cost := newTask("t-cost", "j1", "a", 0)
	maxCost := 0.5
	cost.MaxCost = &maxCost
	enqueue(t, s, "j1", gpu, cost)
	poll := func(worker string, res map[string]any, costs map[string]float64) *core.Task {
		tk, err := s.Lease(ctx, store.LeaseParams{WorkerID: worker, Types: []string{"a"}, Now: t0, Resources: res, Costs: costs})
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	if tk := poll("small", map[string]any{"vram_gb": float64(8), "gpu": "a100"}, map[string]float64{"a": 1}); tk != nil {
		t.Fatalf("a worker fitting neither task leased %q", tk.ID)
	}
	if tk := poll("cheap", nil, map[string]float64{"a": 0.25}); tk == nil || tk.ID != "t-cost" {
		t.Fatalf("cheap worker leased %+v, want t-cost", tk)
	}
	if tk := poll("big", map[string]any{"vram_gb": 24, "gpu": []any{"h100"}}, nil); tk == nil || tk.ID != "t-gpu" {
		t.Fatalf("big worker leased %+v, want t-gpu", tk)
	}
}

func testLeaseWaitEndsEmpty(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	tk, err := s.Lease(ctx, store.LeaseParams{WorkerID: "w", Types: []string{"a"}, Now: t0, Wait: 20 * time.Millisecond})
	if tk != nil || err != nil {
		t.Fatalf("empty poll with a short wait: %+v, %v; want nil, nil", tk, err)
	}
	done := make(chan error, 1)
	go func() {
		tk, err := s.Lease(ctx, store.LeaseParams{WorkerID: "w", Types: []string{"a"}, Now: t0, Wait: time.Hour})
		if tk != nil {
			err = fmt.Errorf("got task %q", tk.ID)
		}
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("poll ended by its context: %v; want nil, nil", err)
		}
	case <-time.After(wait):
		t.Fatal("a poll did not end when its context was cancelled")
	}
}

func testLongPollWakes(t *testing.T, s store.Store) {
	create(t, s, newJob("j1", "c1"), nil)
	got := make(chan *core.Task, 1)
	go func() {
		tk, _ := s.Lease(context.Background(), store.LeaseParams{WorkerID: "w", Types: []string{"b", "a"}, Now: t0, Wait: time.Hour})
		got <- tk
	}()
	waitPolls(t, s, 1)
	enqueue(t, s, "j1", newTask("t1", "j1", "a", 0))
	select {
	case tk := <-got:
		if tk == nil || tk.ID != "t1" || tk.Worker != "w" || tk.LeaseUntil.Before(t0.Add(time.Minute)) {
			t.Fatalf("woken poll got %+v, want t1 leased to w until >= now+timeout", tk)
		}
	case <-time.After(wait):
		t.Fatal("a waiting poll was not woken by an enqueue")
	}
	if st := taskState(t, s, "t1"); st != store.TaskLeased {
		t.Errorf("t1 after the poll: %s, want leased", st)
	}
}

func testManyPollers(t *testing.T, s store.Store) {
	const pollers, tasks = 24, 16
	create(t, s, newJob("j1", "c1"), nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan *core.Task, pollers)
	var wg sync.WaitGroup
	for i := range pollers {
		wg.Go(func() {
			tk, err := s.Lease(ctx, store.LeaseParams{WorkerID: fmt.Sprint("w", i), Types: []string{"a"}, Now: t0, Wait: time.Hour})
			if err != nil {
				t.Error(err)
			}
			got <- tk
		})
	}
	waitPolls(t, s, pollers)
	for i := range tasks {
		enqueue(t, s, "j1", newTask(fmt.Sprint("t", i), "j1", "a", 0))
	}
	seen := map[string]string{}
	for range tasks {
		select {
		case tk := <-got:
			if tk == nil {
				t.Fatal("a poll ended empty while tasks were queued")
			}
			if w, dup := seen[tk.ID]; dup {
				t.Fatalf("task %q leased to both %q and %q", tk.ID, w, tk.Worker)
			}
			seen[tk.ID] = tk.Worker
		case <-time.After(wait):
			t.Fatalf("only %d of %d tasks reached a poller", len(seen), tasks)
		}
	}
	cancel()
	wg.Wait()
	close(got)
	for tk := range got {
		if tk != nil {
			t.Errorf("task %q leased a second time", tk.ID)
		}
	}
	st, _ := s.Stats(context.Background())
	if st.Leased != tasks || st.Queued != 0 || st.Waiting != 0 {
		t.Errorf("stats: %d leased, %d queued, %d waiting; want %d, 0, 0", st.Leased, st.Queued, st.Waiting, tasks)
	}
}

func testWakeTargets(t *testing.T, s store.Store) {
	register(t, s, "owner", "a")
	register(t, s, "other", "a")
	create(t, s, newJob("j1", "c1"), nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type res struct {
		worker string
		task   *core.Task
	}
	got := make(chan res, 4)
	poll := func(worker string, resources map[string]any) {
		go func() {
			tk, _ := s.Lease(ctx, store.LeaseParams{WorkerID: worker, Types: []string{"a"}, Now: t0, Wait: time.Hour, Resources: resources})
			got <- res{worker, tk}
		}()
	}
	next := func() res {
		t.Helper()
		select {
		case r := <-got:
			return r
		case <-time.After(wait):
			t.Fatal("no waiting poll was handed the task")
		}
		return res{}
	}
	// The longest-waiting poll that fits gets a shared task.
	poll("other", map[string]any{"ram": float64(1)})
	waitPolls(t, s, 1)
	poll("owner", map[string]any{"ram": float64(64)})
	waitPolls(t, s, 2)
	big := newTask("t-big", "j1", "a", 0)
	big.Requires = map[string]any{"ram": float64(32)}
	enqueue(t, s, "j1", big)
	if r := next(); r.worker != "owner" || r.task == nil || r.task.ID != "t-big" {
		t.Fatalf("%s got %+v, want owner to get t-big", r.worker, r.task)
	}
	// A task assigned to a worker goes to that worker's poll only.
	poll("owner", nil)
	waitPolls(t, s, 2)
	mine := newTask("t-mine", "j1", "a", 0)
	mine.Worker = "owner"
	enqueue(t, s, "j1", mine)
	if r := next(); r.worker != "owner" || r.task == nil || r.task.ID != "t-mine" {
		t.Fatalf("%s got %+v, want owner to get t-mine", r.worker, r.task)
	}
	// When the owner dies, its queued tasks wake the other poll.
	enqueue(t, s, "j1", func() *core.Task { tk := newTask("t-orphan", "j1", "a", 0); tk.Worker = "owner"; return tk }())
	if err := s.RemoveWorker(context.Background(), "owner"); err != nil {
		t.Fatal(err)
	}
	if r := next(); r.worker != "other" || r.task == nil || r.task.ID != "t-orphan" {
		t.Fatalf("%s got %+v, want other to get t-orphan", r.worker, r.task)
	}
}

func testResultChecks(t *testing.T, s store.Store) {
	create(t, s, newJob("j1", "c1"), &core.Effects{Enqueue: []*core.Task{newTask("t1", "j1", "a", 0), newTask("t2", "j1", "a", 0)}})
	create(t, s, newJob("j2", "c1"), nil)
	lease(t, s, "w1", "a") // t1
	wantErr(t, "result of a queued task", complete(s, "j1", "t2", "w1"), store.ErrWorkerMismatch)
	wantErr(t, "result from another worker", complete(s, "j1", "t1", "w2"), store.ErrWorkerMismatch)
	wantErr(t, "result of an unknown task", complete(s, "j1", "nope", "w1"), core.ErrStaleTask)
	wantErr(t, "result under another job", complete(s, "j2", "t1", "w1"), core.ErrStaleTask)
	if j, _ := s.GetJob(context.Background(), "j1"); j.Rev != 1 {
		t.Fatalf("refused results changed the job: rev %d", j.Rev)
	}
	if err := complete(s, "j1", "t1", "w1"); err != nil {
		t.Fatalf("result from the lease holder: %v", err)
	}
	if st := taskState(t, s, "t1"); st != store.TaskDone {
		t.Errorf("t1 after its result: %s, want done", st)
	}
	wantErr(t, "the same result again", complete(s, "j1", "t1", "w1"), store.ErrAlreadyDone)
	wantErr(t, "a result of a done task from another worker", complete(s, "j1", "t1", "w2"), store.ErrWorkerMismatch)
	if j, _ := s.GetJob(context.Background(), "j1"); j.Rev != 2 {
		t.Errorf("rev after one accepted result: %d, want 2", j.Rev)
	}
	if st, _ := s.Stats(context.Background()); st.Leased != 0 {
		t.Errorf("leases after the result: %d, want 0", st.Leased)
	}
}

func testResultCheckedBeforeVersion(t *testing.T, s store.Store) {
	ctx := context.Background()
	create(t, s, newJob("j1", "c1"), &core.Effects{Enqueue: []*core.Task{newTask("t1", "j1", "a", 0)}})
	lease(t, s, "w1", "a")
	c := &store.TaskCompletion{TaskID: "t1", WorkerID: "w1"}
	_, err := s.CommitIfVersion(ctx, store.CommitParams{Job: newJob("j1", "c1"), ExpectRev: 9, Complete: c})
	wantErr(t, "result at a stale rev", err, store.ErrConflict)
	if st := taskState(t, s, "t1"); st != store.TaskLeased {
		t.Fatalf("t1 after a conflicting commit: %s, want still leased", st)
	}
	if _, err := s.CommitIfVersion(ctx, store.CommitParams{Job: newJob("j1", "c1"), ExpectRev: 1, Complete: c}); err != nil {
		t.Fatal(err)
	}
	// A repeated result is recognised whatever rev it was stepped from.
	_, err = s.CommitIfVersion(ctx, store.CommitParams{Job: newJob("j1", "c1"), ExpectRev: 1, Complete: c})
	wantErr(t, "repeated result at an old rev", err, store.ErrAlreadyDone)
}

// testCancelRequestsAll: every task withdrawn from a worker that holds
// several is one cancel request, all of them read at once.
func testCancelRequestsAll(t *testing.T, s store.Store) {
	ctx := context.Background()
	ids := []string{"t1", "t2", "t3", "t4"}
	var tasks []*core.Task
	for _, id := range ids {
		tasks = append(tasks, newTask(id, "j1", "a", 0))
	}
	create(t, s, newJob("j1", "c1"), &core.Effects{Enqueue: tasks})
	for range ids {
		if tk := lease(t, s, "w1", "a"); tk == nil {
			t.Fatal("a queued task was not leased")
		}
	}
	if _, err := s.CommitIfVersion(ctx, store.CommitParams{Job: newJob("j1", "c1"), ExpectRev: 1,
		Effects: &core.Effects{Withdraw: ids}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.CancelRequests(ctx, "w1")
	slices.Sort(got)
	if err != nil || !slices.Equal(got, ids) {
		t.Errorf("cancel requests of w1: %v, %v; want %v", got, err, ids)
	}
	if got, _ := s.CancelRequests(ctx, "w1"); len(got) != 0 {
		t.Errorf("cancel requests read twice: %v", got)
	}
}

func testWithdrawEffect(t *testing.T, s store.Store) {
	ctx := context.Background()
	create(t, s, newJob("j1", "c1"), &core.Effects{Enqueue: []*core.Task{newTask("t1", "j1", "a", 1), newTask("t2", "j1", "a", 0)}})
	lease(t, s, "w1", "a") // t1
	if _, err := s.CommitIfVersion(ctx, store.CommitParams{Job: newJob("j1", "c1"), ExpectRev: 1,
		Effects: &core.Effects{Withdraw: []string{"t1", "t2", "unknown"}}}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"t1", "t2"} {
		if st := taskState(t, s, id); st != store.TaskWithdrawn {
			t.Errorf("%s after withdraw: %s", id, st)
		}
	}
	if tk := lease(t, s, "w2", "a"); tk != nil {
		t.Errorf("leased withdrawn task %q", tk.ID)
	}
	wantErr(t, "result of a withdrawn task", complete(s, "j1", "t1", "w1"), core.ErrStaleTask)
	ids, err := s.CancelRequests(ctx, "w1")
	if err != nil || !slices.Equal(ids, []string{"t1"}) {
		t.Errorf("cancel requests of w1: %v, %v; want [t1]", ids, err)
	}
	if ids, _ := s.CancelRequests(ctx, "w1"); len(ids) != 0 {
		t.Errorf("cancel requests are returned once; again: %v", ids)
	}
	if st, _ := s.Stats(ctx); st.Leased != 0 || st.Queued != 0 {
		t.Errorf("after withdraw: %d leased, %d queued; want 0, 0", st.Leased, st.Queued)
	}
}

func testReclaimExpired(t *testing.T, s store.Store) {
	ctx := context.Background()
	long := newTask("t-long", "j1", "a", 0)
	long.Timeout = time.Hour
	forever := newTask("t-forever", "j1", "a", 0)
	forever.Timeout = 0
	create(t, s, newJob("j1", "c1"), &core.Effects{Enqueue: []*core.Task{
		newTask("t1", "j1", "a", 3), newTask("t2", "j1", "a", 2), long, forever}})
	for range 4 {
		lease(t, s, "w1", "a")
	}
	if got, _ := s.ReclaimExpired(ctx, t0.Add(30*time.Second), 0); len(got) != 0 {
		t.Fatalf("reclaimed %d leases before their deadline", len(got))
	}
	got, err := s.ReclaimExpired(ctx, t0.Add(2*time.Minute), 1)
	if err != nil || len(got) != 1 {
		t.Fatalf("reclaim with limit 1: %d tasks, %v", len(got), err)
	}
	more, _ := s.ReclaimExpired(ctx, t0.Add(2*time.Minute), 0)
	ids := []string{got[0].ID}
	for _, tk := range more {
		ids = append(ids, tk.ID)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"t1", "t2"}) {
		t.Fatalf("reclaimed %v, want [t1 t2]", ids)
	}
	if st := taskState(t, s, "t1"); st != store.TaskExpired {
		t.Errorf("t1 after reclaim: %s, want expired", st)
	}
	wantErr(t, "late result after reclaim", complete(s, "j1", "t1", "w1"), store.ErrLeaseLost)
	wantErr(t, "late result after reclaim from another worker", complete(s, "j1", "t2", "w9"), store.ErrWorkerMismatch)
	if again, _ := s.ReclaimExpired(ctx, t0.Add(2*time.Minute), 0); len(again) != 0 {
		t.Errorf("a lease was reclaimed twice: %d", len(again))
	}
	if err := complete(s, "j1", "t-long", "w1"); err != nil {
		t.Errorf("result within the lease: %v", err)
	}
	if st := taskState(t, s, "t-forever"); st != store.TaskLeased {
		t.Errorf("a task without timeout: %s, want leased", st)
	}
}

func testWithdrawRace(t *testing.T, s store.Store) {
	ctx := context.Background()
	const n = 50
	var tasks []*core.Task
	for i := range n {
		tasks = append(tasks, newTask(fmt.Sprint("t", i), "j1", "a", 0))
	}
	create(t, s, newJob("j1", "c1"), &core.Effects{Enqueue: tasks})
	var mu sync.Mutex
	withdrawn, leased := map[string]bool{}, map[string]bool{}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ok, err := s.WithdrawIfQueued(ctx, fmt.Sprint("t", i))
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				withdrawn[fmt.Sprint("t", i)] = true
				mu.Unlock()
			}
		})
		wg.Go(func() {
			tk, err := s.Lease(ctx, store.LeaseParams{WorkerID: "w", Types: []string{"a"}, Now: t0})
			if err != nil {
				t.Error(err)
			}
			if tk != nil {
				mu.Lock()
				leased[tk.ID] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for id := range withdrawn {
		if leased[id] {
			t.Errorf("task %q both withdrawn and leased", id)
		}
		if st := taskState(t, s, id); st != store.TaskWithdrawn {
			t.Errorf("withdrawn task %q is %s", id, st)
		}
	}
	if ok, _ := s.WithdrawIfQueued(ctx, "unknown"); ok {
		t.Error("withdrew an unknown task")
	}
	for id := range leased {
		if ok, _ := s.WithdrawIfQueued(ctx, id); ok {
			t.Errorf("withdrew leased task %q", id)
		}
	}
}

// testMixedLoad runs jobs through create, lease, result (with version
// retries) while another goroutine withdraws tasks, and checks that every
// task ends done or withdrawn exactly once and no load or lease is left.
func testMixedLoad(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const jobs, workers = 200, 6
	for w := range workers {
		register(t, s, fmt.Sprint("w", w), "a")
	}
	var mu sync.Mutex
	done := map[string]string{}
	var wg sync.WaitGroup
	for w := range workers {
		wid := fmt.Sprint("w", w)
		wg.Go(func() {
			for ctx.Err() == nil {
				tk, err := s.Lease(ctx, store.LeaseParams{WorkerID: wid, Types: []string{"a"}, Now: t0, Wait: time.Hour})
				if err != nil || tk == nil {
					return
				}
				for {
					err := complete(s, tk.JobID, tk.ID, wid)
					if errors.Is(err, store.ErrConflict) {
						continue
					}
					if err == nil {
						mu.Lock()
						if prev, dup := done[tk.ID]; dup {
							t.Errorf("task %q completed by %q and %q", tk.ID, prev, wid)
						}
						done[tk.ID] = wid
						mu.Unlock()
					} else if !errors.Is(err, core.ErrStaleTask) {
						t.Errorf("result of %q: %v", tk.ID, err)
					}
					break
				}
			}
		})
	}
	withdrawn := make(chan string, jobs)
	for i := range jobs {
		id := fmt.Sprint("j", i)
		tk := newTask("t"+id, id, "a", float64(i%3))
		if i%5 == 0 {
			tk.Worker = fmt.Sprint("w", i%workers)
		}
		create(t, s, newJob(id, "c"), &core.Effects{Enqueue: []*core.Task{tk}})
		if i%4 == 0 {
			wg.Go(func() {
				for {
					j, err := s.GetJob(ctx, id)
					if err != nil {
						t.Error(err)
						return
					}
					_, err = s.CommitIfVersion(ctx, store.CommitParams{Job: j, ExpectRev: j.Rev, Effects: &core.Effects{Withdraw: []string{tk.ID}}})
					if errors.Is(err, store.ErrConflict) {
						continue
					}
					if err != nil {
						t.Error(err)
					}
					withdrawn <- tk.ID
					return
				}
			})
		}
	}
	// Every task ends done or withdrawn; wait for that, then stop the polls.
	deadline := time.Now().Add(wait)
	for {
		st, err := s.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Queued == 0 && st.Leased == 0 && len(withdrawn) == jobs/4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tasks left: %d queued, %d leased", st.Queued, st.Leased)
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	wg.Wait()
	close(withdrawn)
	for id := range withdrawn {
		st := taskState(t, s, id)
		if st == store.TaskWithdrawn && done[id] != "" {
			t.Errorf("task %q both withdrawn and completed", id)
		}
	}
	for i := range jobs {
		id := fmt.Sprint("tj", i)
		st := taskState(t, s, id)
		if (st == store.TaskDone) != (done[id] != "") || (st != store.TaskDone && st != store.TaskWithdrawn) {
			t.Errorf("task %q ended %s (completed by %q)", id, st, done[id])
		}
	}
	cs, _ := s.Candidates(context.Background(), "a")
	for _, c := range cs {
		if c.Load != 0 {
			t.Errorf("worker %q load %d after all tasks ended, want 0", c.ID, c.Load)
		}
	}
}

func testCloseEndsPolls(t *testing.T, s store.Store) {
	done := make(chan *core.Task, 1)
	go func() {
		tk, _ := s.Lease(context.Background(), store.LeaseParams{WorkerID: "w", Types: []string{"a"}, Now: t0, Wait: time.Hour})
		done <- tk
	}()
	waitPolls(t, s, 1)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case tk := <-done:
		if tk != nil {
			t.Fatalf("closed store leased %q", tk.ID)
		}
	case <-time.After(wait):
		t.Fatal("a waiting poll did not end on Close")
	}
	_, err := s.GetJob(context.Background(), "x")
	wantErr(t, "get after close", err, store.ErrClosed)
}
