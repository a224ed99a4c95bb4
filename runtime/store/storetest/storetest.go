// Package storetest is the conformance suite every store.Store runs: one
// subtest per behaviour of the contract, each on a fresh store.
//
// A store's own test calls Run with a factory; the factory is called once
// per subtest and must return an empty store (the Redis store uses a fresh
// key prefix) and register its cleanup with t.Cleanup. Subtests run in
// parallel. New store behaviour gets its case here first.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/dispatch"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
	"github.com/google/go-cmp/cmp"
)

// t0 is the suite's fixed "now".
var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// wait bounds every channel wait of the suite; reaching it is a failure,
// never an expected path.
const wait = 10 * time.Second

// Run runs the conformance suite against the stores newStore returns.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, newStore(t))
		})
	}
}

type testCase struct {
	name string
	run  func(t *testing.T, s store.Store)
}

var cases = []testCase{
	{"CreateAndGet", testCreateAndGet},
	{"CreateAppliesEffects", testCreateAppliesEffects},
	{"CommitChecksVersion", testCommitChecksVersion},
	{"CommitRaceOneWins", testCommitRaceOneWins},
	{"CommitIsAllOrNothing", testCommitIsAllOrNothing},
	{"ValuesAreCopied", testValuesAreCopied},
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
	{"ReclaimExpired", testReclaimExpired},
	{"WithdrawIfQueuedRacesLease", testWithdrawRace},
	{"TimersFireOnce", testTimersFireOnce},
	{"TimerArmedSignal", testTimerArmed},
	{"StartChild", testStartChild},
	{"NamedStores", testNamedStores},
	{"Versions", testVersions},
	{"ListJobsByClient", testListJobs},
	{"TimelineOrder", testTimelineOrder},
	{"Workers", testWorkers},
	{"DeadWorkerTasks", testDeadWorkerTasks},
	{"LoadAndCandidates", testLoadAndCandidates},
	{"MixedLoad", testMixedLoad},
	{"CloseEndsPolls", testCloseEndsPolls},
}

// ---- helpers ----

func newJob(id, client string) *core.Job {
	return &core.Job{
		ID: id, Blueprint: "bp", Version: "h1", State: "start", Status: wire.StatusPending,
		Input:     map[string]any{"n": float64(1)},
		Client:    core.Client{Name: client},
		CreatedAt: t0, UpdatedAt: t0,
	}
}

func newTask(id, jobID, typ string, prio float64) *core.Task {
	return &core.Task{ID: id, JobID: jobID, Type: typ, Priority: prio, Attempt: 1,
		Timeout: time.Minute, Params: map[string]any{"k": "v"}, EnqueuedAt: t0}
}

func create(t *testing.T, s store.Store, j *core.Job, fx *core.Effects) {
	t.Helper()
	if err := s.CreateJob(context.Background(), store.CommitParams{Job: j, Effects: fx}); err != nil {
		t.Fatalf("create job %q: %v", j.ID, err)
	}
}

// enqueue commits the job at its current rev with the tasks enqueued.
func enqueue(t *testing.T, s store.Store, jobID string, tasks ...*core.Task) {
	t.Helper()
	ctx := context.Background()
	j, err := s.GetJob(ctx, jobID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CommitIfVersion(ctx, store.CommitParams{Job: j, ExpectRev: j.Rev,
		Effects: &core.Effects{Enqueue: tasks}}); err != nil {
		t.Fatalf("enqueue on job %q: %v", jobID, err)
	}
}

func lease(t *testing.T, s store.Store, worker string, types ...string) *core.Task {
	t.Helper()
	task, err := s.Lease(context.Background(), store.LeaseParams{WorkerID: worker, Types: types, Now: t0})
	if err != nil {
		t.Fatalf("lease for %q: %v", worker, err)
	}
	return task
}

func complete(s store.Store, jobID, taskID, worker string) error {
	ctx := context.Background()
	j, err := s.GetJob(ctx, jobID)
	if err != nil {
		return err
	}
	_, err = s.CommitIfVersion(ctx, store.CommitParams{Job: j, ExpectRev: j.Rev,
		Complete: &store.TaskCompletion{TaskID: taskID, WorkerID: worker}})
	return err
}

// waitPolls returns once n long polls wait in s.
func waitPolls(t *testing.T, s store.Store, n int) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		st, err := s.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Waiting == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d polls waiting, want %d", st.Waiting, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

func taskState(t *testing.T, s store.Store, id string) store.TaskState {
	t.Helper()
	info, err := s.Task(context.Background(), id)
	if err != nil {
		t.Fatalf("task %q: %v", id, err)
	}
	return info.State
}

func register(t *testing.T, s store.Store, id string, skills ...string) {
	t.Helper()
	err := s.RegisterWorker(context.Background(), store.WorkerRecord{
		Worker:    dispatch.Worker{ID: id, Skills: skills},
		ExpiresAt: t0.Add(2 * time.Minute), RegisteredAt: t0, LastSeen: t0,
	})
	if err != nil {
		t.Fatal(err)
	}
}

// ---- cases ----

func testCreateAndGet(t *testing.T, s store.Store) {
	ctx := context.Background()
	j := newJob("j1", "c1")
	create(t, s, j, nil)
	got, err := s.GetJob(ctx, "j1")
	if err != nil {
		t.Fatal(err)
	}
	want := newJob("j1", "c1")
	want.Rev = 1
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("stored job (-want +got):\n%s", d)
	}
	wantErr(t, "create again", s.CreateJob(ctx, store.CommitParams{Job: newJob("j1", "c1")}), store.ErrExists)
	_, err = s.GetJob(ctx, "nope")
	wantErr(t, "get unknown", err, store.ErrNotFound)
	_, err = s.CommitIfVersion(ctx, store.CommitParams{Job: newJob("nope", "c1"), ExpectRev: 1})
	wantErr(t, "commit unknown", err, store.ErrNotFound)
	_, err = s.Task(ctx, "nope")
	wantErr(t, "unknown task", err, store.ErrNotFound)
}

func testCreateAppliesEffects(t *testing.T, s store.Store) {
	ctx := context.Background()
	create(t, s, newJob("j1", "c1"), &core.Effects{
		Enqueue:     []*core.Task{newTask("t1", "j1", "a", 0)},
		Timers:      []core.Timer{{ID: "tm1", JobID: "j1", At: t0, Event: core.Event{Kind: core.EventTimer, TimerID: "tm1"}}},
		StoreWrites: []core.StoreWrite{{Blueprint: "bp", Store: "s", Key: "k", Value: "v"}},
		Timeline:    []core.TimelineEvent{{At: t0, Type: "job_created"}},
	})
	if got := lease(t, s, "w1", "a"); got == nil || got.ID != "t1" {
		t.Fatalf("lease after create: got %+v, want task t1", got)
	}
	timers, err := s.ClaimDueTimers(ctx, t0, 10)
	if err != nil || len(timers) != 1 || timers[0].ID != "tm1" {
		t.Fatalf("timers after create: %+v, %v", timers, err)
	}
	st, _ := s.Stores(ctx, "bp")
	if st["s"]["k"] != "v" {
		t.Errorf("store write after create: got %v", st)
	}
	tl, _ := s.Timeline(ctx, "j1")
	if len(tl) != 1 || tl[0].Type != "job_created" {
		t.Errorf("timeline after create: %+v", tl)
	}
}

func testCommitChecksVersion(t *testing.T, s store.Store) {
	ctx := context.Background()
	create(t, s, newJob("j1", "c1"), nil)
	j := newJob("j1", "c1")
	j.State = "next"
	_, err := s.CommitIfVersion(ctx, store.CommitParams{Job: j, ExpectRev: 7,
		Effects: &core.Effects{Enqueue: []*core.Task{newTask("t1", "j1", "a", 0)}}})
	wantErr(t, "commit at wrong rev", err, store.ErrConflict)
	if got := lease(t, s, "w1", "a"); got != nil {
		t.Fatalf("a refused commit enqueued %q", got.ID)
	}
	rev, err := s.CommitIfVersion(ctx, store.CommitParams{Job: j, ExpectRev: 1})
	if err != nil || rev != 2 {
		t.Fatalf("commit at rev 1: rev %d, %v; want 2", rev, err)
	}
	got, _ := s.GetJob(ctx, "j1")
	if got.Rev != 2 || got.State != "next" {
		t.Errorf("after commit: rev %d state %q, want 2 %q", got.Rev, got.State, "next")
	}
	_, err = s.CommitIfVersion(ctx, store.CommitParams{Job: j, ExpectRev: 1})
	wantErr(t, "commit at the old rev again", err, store.ErrConflict)
}

func testCommitRaceOneWins(t *testing.T, s store.Store) {
	ctx := context.Background()
	create(t, s, newJob("j1", "c1"), nil)
	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			j := newJob("j1", "c1")
			j.State = fmt.Sprint("s", i)
			_, errs[i] = s.CommitIfVersion(ctx, store.CommitParams{Job: j, ExpectRev: 1,
				Effects: &core.Effects{Enqueue: []*core.Task{newTask(fmt.Sprint("t", i), "j1", "a", 0)}}})
		})
	}
	close(start)
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if won >= 0 {
				t.Fatalf("commits %d and %d both won at rev 1", won, i)
			}
			won = i
		case !errors.Is(err, store.ErrConflict):
			t.Fatalf("commit %d: %v", i, err)
		}
	}
	if won < 0 {
		t.Fatal("no commit won")
	}
	j, _ := s.GetJob(ctx, "j1")
	if j.Rev != 2 || j.State != fmt.Sprint("s", won) {
		t.Errorf("job after race: rev %d state %q; want 2 %q", j.Rev, j.State, fmt.Sprint("s", won))
	}
	st, _ := s.Stats(ctx)
	if st.Queued != 1 {
		t.Errorf("queued after race: %d, want 1 (only the winner's effects)", st.Queued)
	}
	if got := lease(t, s, "w", "a"); got == nil || got.ID != fmt.Sprint("t", won) {
		t.Errorf("leased %+v, want the winner's task", got)
	}
}

func testCommitIsAllOrNothing(t *testing.T, s store.Store) {
	ctx := context.Background()
	create(t, s, newJob("j1", "c1"), &core.Effects{Enqueue: []*core.Task{newTask("t1", "j1", "a", 0)}})
	create(t, s, newJob("j2", "c1"), nil)
	// The enqueue of an existing task id fails the whole commit.
	_, err := s.CommitIfVersion(ctx, store.CommitParams{Job: newJob("j1", "c1"), ExpectRev: 1,
		Effects: &core.Effects{
			Enqueue:     []*core.Task{newTask("t2", "j1", "a", 0), newTask("t1", "j1", "a", 0)},
			Withdraw:    []string{"t1"},
			Timers:      []core.Timer{{ID: "tm", JobID: "j1", At: t0}},
			StoreWrites: []core.StoreWrite{{Blueprint: "bp", Store: "s", Key: "k", Value: 1}},
			Timeline:    []core.TimelineEvent{{At: t0, Type: "x"}},
		}})
	wantErr(t, "enqueue of an existing task id", err, store.ErrExists)
	// And so does a child id in use.
	_, err = s.CommitIfVersion(ctx, store.CommitParams{Job: newJob("j1", "c1"), ExpectRev: 1,
		Effects: &core.Effects{StartChild: []*core.Job{newJob("j2", "c1")},
			Enqueue: []*core.Task{newTask("t3", "j1", "a", 0)}}})
	wantErr(t, "start of an existing child id", err, store.ErrExists)

	j, _ := s.GetJob(ctx, "j1")
	if j.Rev != 1 {
		t.Errorf("rev after refused commits: %d, want 1", j.Rev)
	}
	if st := taskState(t, s, "t1"); st != store.TaskQueued {
		t.Errorf("t1 after refused withdraw: %s, want queued", st)
	}
	for _, id := range []string{"t2", "t3"} {
		if _, err := s.Task(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("task %s of a refused commit: %v, want not found", id, err)
		}
	}
	if _, ok, _ := s.NextTimerAt(ctx); ok {
		t.Error("a refused commit armed a timer")
	}
	if st, _ := s.Stores(ctx, "bp"); len(st["s"]) != 0 {
		t.Errorf("a refused commit wrote a store: %v", st)
	}
	if tl, _ := s.Timeline(ctx, "j1"); len(tl) != 0 {
		t.Errorf("a refused commit appended to the timeline: %v", tl)
	}
}

func testValuesAreCopied(t *testing.T, s store.Store) {
	ctx := context.Background()
	j := newJob("j1", "c1")
	tk := newTask("t1", "j1", "a", 0)
	create(t, s, j, &core.Effects{Enqueue: []*core.Task{tk}})
	j.Input["n"] = "changed"
	tk.Params["k"] = "changed"
	got, _ := s.GetJob(ctx, "j1")
	if got.Input["n"] != float64(1) {
		t.Errorf("changing the created job changed the stored one: %v", got.Input)
	}
	got.Input["n"] = "changed again"
	again, _ := s.GetJob(ctx, "j1")
	if again.Input["n"] != float64(1) {
		t.Errorf("changing a returned job changed the stored one: %v", again.Input)
	}
	if l := lease(t, s, "w", "a"); l.Params["k"] != "v" {
		t.Errorf("changing the enqueued task changed the stored one: %v", l.Params)
	}
}

func testPriorityThenFIFO(t *testing.T, s store.Store) {
	create(t, s, newJob("j1", "c1"), nil)
	prios := []float64{1, 5, 5, -2, 3, 5, 1}
	for i, p := range prios {
		enqueue(t, s, "j1", newTask(fmt.Sprint("t", i), "j1", []string{"a", "b"}[i%2], p))
	}
	want := []string{"t1", "t2", "t5", "t4", "t0", "t6", "t3"}
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

func testStartChild(t *testing.T, s store.Store) {
	ctx := context.Background()
	create(t, s, newJob("p", "c1"), nil)
	child := newJob("ch", "c1")
	child.Parent = &core.ParentRef{JobID: "p", State: "sub"}
	child.Rev = 42
	if _, err := s.CommitIfVersion(ctx, store.CommitParams{Job: newJob("p", "c1"), ExpectRev: 1,
		Effects: &core.Effects{StartChild: []*core.Job{child}}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetJob(ctx, "ch")
	if err != nil {
		t.Fatal(err)
	}
	if got.Rev != 1 || got.Parent == nil || got.Parent.JobID != "p" {
		t.Errorf("child: rev %d parent %+v; want rev 1, parent p", got.Rev, got.Parent)
	}
}

func testNamedStores(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.SeedStores(ctx, "bp", map[string]map[string]any{"counts": {"n": float64(1), "m": float64(2)}, "empty": nil}); err != nil {
		t.Fatal(err)
	}
	create(t, s, newJob("j1", "c1"), &core.Effects{StoreWrites: []core.StoreWrite{
		{Blueprint: "bp", Store: "counts", Key: "n", Value: float64(5)},
		{Blueprint: "bp", Store: "fresh", Key: "x", Value: map[string]any{"y": true}},
	}})
	// Seeding again leaves existing stores alone.
	if err := s.SeedStores(ctx, "bp", map[string]map[string]any{"counts": {"n": float64(0)}, "other": {"z": "z"}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Stores(ctx, "bp")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]any{
		"counts": {"n": float64(5), "m": float64(2)},
		"empty":  {},
		"fresh":  {"x": map[string]any{"y": true}},
		"other":  {"z": "z"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("stores (-want +got):\n%s", d)
	}
	if other, _ := s.Stores(ctx, "bp2"); len(other) != 0 {
		t.Errorf("another blueprint's stores: %v, want none", other)
	}
}

func testVersions(t *testing.T, s store.Store) {
	ctx := context.Background()
	v := store.Version{Hash: "abc", File: "a.yaml", Sources: map[string][]byte{"a.yaml": []byte("name: a\n"), "lib.star": []byte("x = 1\n")}}
	if err := s.PutVersion(ctx, v); err != nil {
		t.Fatal(err)
	}
	if err := s.PutVersion(ctx, store.Version{Hash: "abc", File: "other.yaml"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Version(ctx, "abc")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(&v, got); d != "" {
		t.Errorf("version (-want +got):\n%s", d)
	}
	_, err = s.Version(ctx, "zzz")
	wantErr(t, "unknown version", err, store.ErrNotFound)
}

func testListJobs(t *testing.T, s store.Store) {
	ctx := context.Background()
	for i, c := range []string{"a", "b", "a", "a", "b"} {
		create(t, s, newJob(fmt.Sprint("j", i), c), nil)
	}
	ids := func(js []*core.Job) []string {
		var out []string
		for _, j := range js {
			out = append(out, j.ID)
		}
		return out
	}
	for _, tc := range []struct {
		p    store.ListParams
		want []string
	}{
		{store.ListParams{Client: "a"}, []string{"j3", "j2", "j0"}},
		{store.ListParams{Client: "b"}, []string{"j4", "j1"}},
		{store.ListParams{Client: "a", Limit: 1, Offset: 1}, []string{"j2"}},
		{store.ListParams{}, []string{"j4", "j3", "j2", "j1", "j0"}},
		{store.ListParams{Client: "c"}, nil},
		{store.ListParams{Client: "a", Offset: 5}, nil},
	} {
		got, err := s.ListJobs(ctx, tc.p)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(tc.want, ids(got)); d != "" {
			t.Errorf("list %+v (-want +got):\n%s", tc.p, d)
		}
	}
}

func testTimelineOrder(t *testing.T, s store.Store) {
	ctx := context.Background()
	ev := func(typ string) core.TimelineEvent { return core.TimelineEvent{At: t0, Type: typ} }
	create(t, s, newJob("j1", "c1"), &core.Effects{Timeline: []core.TimelineEvent{ev("created"), ev("state_started")}})
	create(t, s, newJob("j2", "c1"), &core.Effects{Timeline: []core.TimelineEvent{ev("other")}})
	for i, typ := range []string{"task_dispatched", "task_finished"} {
		if _, err := s.CommitIfVersion(ctx, store.CommitParams{Job: newJob("j1", "c1"), ExpectRev: int64(i + 1),
			Effects: &core.Effects{Timeline: []core.TimelineEvent{ev(typ)}}}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Timeline(ctx, "j1")
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range got {
		types = append(types, e.Type)
	}
	if d := cmp.Diff([]string{"created", "state_started", "task_dispatched", "task_finished"}, types); d != "" {
		t.Errorf("timeline (-want +got):\n%s", d)
	}
	_, err = s.Timeline(ctx, "nope")
	wantErr(t, "timeline of an unknown job", err, store.ErrNotFound)
}

func testWorkers(t *testing.T, s store.Store) {
	ctx := context.Background()
	register(t, s, "w2", "b")
	register(t, s, "w1", "a")
	w, err := s.Worker(ctx, "w1")
	if err != nil {
		t.Fatal(err)
	}
	if w.Reputation != 1 || w.Status != wire.WorkerIdle {
		t.Errorf("new worker: reputation %v status %q; want 1, idle", w.Reputation, w.Status)
	}
	found, err := s.Heartbeat(ctx, store.HeartbeatParams{WorkerID: "w1", Status: wire.WorkerBusy,
		Now: t0.Add(time.Minute), ExpiresAt: t0.Add(3 * time.Minute), HotSkills: []string{"a"}})
	if err != nil || !found {
		t.Fatalf("heartbeat of a live worker: %v, %v", found, err)
	}
	if found, _ := s.Heartbeat(ctx, store.HeartbeatParams{WorkerID: "ghost", Now: t0}); found {
		t.Error("heartbeat of an unknown worker found it")
	}
	if found, _ := s.Heartbeat(ctx, store.HeartbeatParams{WorkerID: "w2", Now: t0.Add(2 * time.Minute)}); found {
		t.Error("heartbeat of an expired worker found it")
	}
	all, _ := s.Workers(ctx)
	if len(all) != 2 || all[0].ID != "w1" || all[1].ID != "w2" {
		t.Fatalf("workers: %+v", all)
	}
	if all[0].Status != wire.WorkerBusy || !slices.Equal(all[0].HotSkills, []string{"a"}) || !all[0].ExpiresAt.Equal(t0.Add(3*time.Minute)) {
		t.Errorf("w1 after heartbeat: %+v", all[0])
	}
	gone, err := s.ExpireWorkers(ctx, t0.Add(2*time.Minute))
	if err != nil || !slices.Equal(gone, []string{"w2"}) {
		t.Fatalf("expired workers: %v, %v; want [w2]", gone, err)
	}
	_, err = s.Worker(ctx, "w2")
	wantErr(t, "expired worker", err, store.ErrNotFound)
	if err := s.RemoveWorker(ctx, "w1"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "remove unknown worker", s.RemoveWorker(ctx, "w1"), store.ErrNotFound)
	for i := uint64(1); i <= 3; i++ {
		if n, _ := s.Counter(ctx, "rr:a"); n != i {
			t.Errorf("counter: %d, want %d", n, i)
		}
	}
	if n, _ := s.Counter(ctx, "rr:b"); n != 1 {
		t.Errorf("second counter: %d, want 1", n)
	}
}

func testDeadWorkerTasks(t *testing.T, s store.Store) {
	ctx := context.Background()
	register(t, s, "w1", "a")
	register(t, s, "w2", "a")
	own := newTask("t-own", "j1", "a", 0)
	own.Worker = "w1"
	create(t, s, newJob("j1", "c1"), &core.Effects{Enqueue: []*core.Task{newTask("t-run", "j1", "a", 5), own}})
	if tk := lease(t, s, "w1", "a"); tk == nil || tk.ID != "t-run" {
		t.Fatalf("w1 leased %+v, want t-run", tk)
	}
	if err := s.RemoveWorker(ctx, "w1"); err != nil {
		t.Fatal(err)
	}
	// Its lease ends now: the next reclaim returns it whatever its deadline.
	got, err := s.ReclaimExpired(ctx, t0, 0)
	if err != nil || len(got) != 1 || got[0].ID != "t-run" {
		t.Fatalf("reclaim after worker death: %+v, %v; want t-run", got, err)
	}
	// Its own queue moved to the shared queue.
	tk := lease(t, s, "w2", "a")
	if tk == nil || tk.ID != "t-own" || tk.Worker != "w2" {
		t.Fatalf("w2 leased %+v, want t-own moved off dead w1", tk)
	}
}

func testLoadAndCandidates(t *testing.T, s store.Store) {
	ctx := context.Background()
	register(t, s, "w1", "a", "b")
	register(t, s, "w2", "a")
	register(t, s, "w3", "c")
	own := newTask("t-own", "j1", "a", 0)
	own.Worker = "w2"
	create(t, s, newJob("j1", "c1"), &core.Effects{Enqueue: []*core.Task{newTask("t1", "j1", "b", 0), newTask("t2", "j1", "b", 0), own}})
	lease(t, s, "w1", "b")
	lease(t, s, "w1", "b")
	load := func() map[string]int {
		cs, err := s.Candidates(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, c := range cs {
			out[c.ID] = c.Load
		}
		return out
	}
	if d := cmp.Diff(map[string]int{"w1": 2, "w2": 1}, load()); d != "" {
		t.Errorf("candidates for a with load (-want +got):\n%s", d)
	}
	if err := complete(s, "j1", "t1", "w1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CommitIfVersion(ctx, store.CommitParams{Job: newJob("j1", "c1"), ExpectRev: 2,
		Effects: &core.Effects{Withdraw: []string{"t-own"}}}); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string]int{"w1": 1, "w2": 0}, load()); d != "" {
		t.Errorf("load after a result and a withdraw (-want +got):\n%s", d)
	}
	if w, _ := s.Worker(ctx, "w1"); w.Load != 1 {
		t.Errorf("w1 record load %d, want 1", w.Load)
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
