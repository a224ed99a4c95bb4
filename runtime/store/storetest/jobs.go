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
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// ExerciseJobs runs the cases of jobs: create, commit under the version
// check and all or nothing, copies, reads, lists, timelines and children.
func ExerciseJobs(t *testing.T, newStore func(t *testing.T) store.Store) {
	run(t, newStore, []testCase{
		{"CreateAndGet", testCreateAndGet},
		{"CreateAppliesEffects", testCreateAppliesEffects},
		{"CommitChecksVersion", testCommitChecksVersion},
		{"CommitRaceOneWins", testCommitRaceOneWins},
		{"CommitIsAllOrNothing", testCommitIsAllOrNothing},
		{"ValuesAreCopied", testValuesAreCopied},
		{"StartChild", testStartChild},
		{"ApprovalAndChildrenKept", testApprovalAndChildrenKept},
		{"ListJobsByClient", testListJobs},
		{"TimelineOrder", testTimelineOrder},
	})
}

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

// What a job's view shows of a waiting approval and of the children it
// started survives a commit and a read, and a returned job's children are
// its own copy.
func testApprovalAndChildrenKept(t *testing.T, s store.Store) {
	ctx := context.Background()
	create(t, s, newJob("p", "c1"), nil)
	j := newJob("p", "c1")
	j.Status, j.ApprovalMessage = wire.StatusWaitingForHuman, "ship?"
	j.ApprovalDeadline = j.CreatedAt.Add(time.Hour + 1500*time.Microsecond)
	j.Children = []string{"ch1", "ch2"}
	if _, err := s.CommitIfVersion(ctx, store.CommitParams{Job: j, ExpectRev: 1}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetJob(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	if !got.ApprovalDeadline.Equal(j.ApprovalDeadline) || got.ApprovalMessage != "ship?" || !slices.Equal(got.Children, []string{"ch1", "ch2"}) {
		t.Errorf("stored: deadline %v message %q children %q; want %v, ship?, [ch1 ch2]", got.ApprovalDeadline, got.ApprovalMessage, got.Children, j.ApprovalDeadline)
	}
	got.Children[0] = "changed"
	if again, _ := s.GetJob(ctx, "p"); again.Children[0] != "ch1" {
		t.Errorf("changing a returned job's children changed the stored ones: %q", again.Children)
	}
	// Cleared again: the zero deadline and no children read back as such.
	j2 := newJob("p", "c1")
	if _, err := s.CommitIfVersion(ctx, store.CommitParams{Job: j2, ExpectRev: 2}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetJob(ctx, "p"); !got.ApprovalDeadline.IsZero() || got.Children != nil {
		t.Errorf("cleared: deadline %v children %q", got.ApprovalDeadline, got.Children)
	}
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
