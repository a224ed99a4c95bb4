package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// ExerciseOutbox runs the cases of the history contract (store.Outbox and
// store.Searcher): ended jobs enter the outbox with their commit, stay
// until marked archived, and are removed only after; the live search.
func ExerciseOutbox(t *testing.T, newStore func(t *testing.T) store.Store) {
	run(t, newStore, []testCase{
		{"OffByDefault", testOutboxOff},
		{"EndedJobsWaitUntilArchived", testOutboxFlow},
		{"RemovedChildStillNamed", testOutboxRemovedChild},
		{"RemovedOutOfOrder", testOutboxOutOfOrder},
		{"SearchLive", testSearchLive},
		{"SearchLiveManyJobs", testSearchLiveManyJobs},
		{"SearchLiveCloseCreationTimes", testSearchLiveCloseTimes},
		{"SearchLiveEndedAgainstCreation", testSearchLiveEndedAgainstCreation},
	})
}

func outboxOf(t *testing.T, s store.Store) store.Outbox {
	t.Helper()
	o, ok := s.(store.Outbox)
	if !ok {
		t.Fatalf("%T does not implement store.Outbox", s)
	}
	return o
}

// finish runs job id through one task to the status, ending at end.
func finish(t *testing.T, s store.Store, id string, status wire.JobStatus, end time.Time) {
	t.Helper()
	ctx := context.Background()
	task := newTask("t-"+id, id, "a", 0)
	enqueue(t, s, id, task)
	got := lease(t, s, "w1", "a")
	if got == nil || got.ID != task.ID {
		t.Fatalf("lease of %s: %+v", task.ID, got)
	}
	j, err := s.GetJob(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	j.Status, j.State, j.FinishedAt, j.UpdatedAt = status, "end", end, end
	fx := &core.Effects{Timeline: []core.TimelineEvent{{At: end, Type: "task_finished", TaskID: task.ID, WorkerID: "w1"}}}
	if _, err := s.CommitIfVersion(ctx, store.CommitParams{Job: j, ExpectRev: j.Rev, Effects: fx,
		Complete: &store.TaskCompletion{TaskID: task.ID, WorkerID: "w1"}}); err != nil {
		t.Fatalf("end job %s: %v", id, err)
	}
}

func testOutboxOff(t *testing.T, s store.Store) {
	o := outboxOf(t, s)
	create(t, s, newJob("j1", "c1"), nil)
	finish(t, s, "j1", wire.StatusFinished, t0)
	if n, err := o.OutboxLen(context.Background()); err != nil || n != 0 {
		t.Fatalf("outbox without KeepOutbox holds %d, %v; want 0", n, err)
	}
	// Nothing archived: nothing is removed, however old.
	if n, err := o.RemoveArchived(context.Background(), t0.Add(time.Hour), 10); err != nil || n != 0 {
		t.Fatalf("RemoveArchived = %d, %v", n, err)
	}
	if _, err := s.GetJob(context.Background(), "j1"); err != nil {
		t.Fatal(err)
	}
}

func testOutboxFlow(t *testing.T, s store.Store) {
	ctx := context.Background()
	o := outboxOf(t, s)
	o.KeepOutbox()
	for i, id := range []string{"j1", "j2", "j3"} {
		create(t, s, newJob(id, "c1"), nil)
		if id != "j3" {
			finish(t, s, id, wire.StatusFinished, t0.Add(time.Duration(i)*time.Second))
		}
	}
	if n, _ := o.OutboxLen(ctx); n != 2 {
		t.Fatalf("outbox holds %d, want the 2 ended jobs", n)
	}
	// Reading the outbox removes nothing: a crash before MarkArchived
	// reads the same jobs again.
	for range 2 {
		got, err := o.PendingArchive(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Job.ID != "j1" || got[1].Job.ID != "j2" {
			t.Fatalf("PendingArchive = %v, want j1, j2", endedIDs(got))
		}
		if len(got[0].Timeline) != 1 || got[0].Timeline[0].WorkerID != "w1" || !got[0].Job.FinishedAt.Equal(t0) {
			t.Fatalf("pending j1 = %+v, timeline %+v", got[0].Job, got[0].Timeline)
		}
	}
	if got, _ := o.PendingArchive(ctx, 1); len(got) != 1 || got[0].Job.ID != "j1" {
		t.Fatalf("PendingArchive(1) = %v", endedIDs(got))
	}
	// Not archived yet: kept however old.
	if n, _ := o.RemoveArchived(ctx, t0.Add(time.Hour), 10); n != 0 {
		t.Fatalf("removed %d jobs still in the outbox", n)
	}
	if err := o.MarkArchived(ctx, []string{"j1", "j2", "nope"}); err != nil {
		t.Fatal(err)
	}
	if n, _ := o.OutboxLen(ctx); n != 0 {
		t.Fatalf("outbox holds %d after MarkArchived", n)
	}
	if got, _ := o.PendingArchive(ctx, 10); len(got) != 0 {
		t.Fatalf("PendingArchive after MarkArchived = %v", endedIDs(got))
	}
	// Retention: only j1 ended at or before the cut.
	if n, err := o.RemoveArchived(ctx, t0.Add(500*time.Millisecond), 10); err != nil || n != 1 {
		t.Fatalf("RemoveArchived = %d, %v; want 1", n, err)
	}
	_, err := s.GetJob(ctx, "j1")
	wantErr(t, "get removed job", err, store.ErrNotFound)
	_, err = s.Timeline(ctx, "j1")
	wantErr(t, "timeline of removed job", err, store.ErrNotFound)
	_, err = s.Task(ctx, "t-j1")
	wantErr(t, "task of removed job", err, store.ErrNotFound)
	wantErr(t, "late result for removed job", complete(s, "j1", "t-j1", "w1"), store.ErrNotFound)
	if _, err := s.GetJob(ctx, "j2"); err != nil {
		t.Fatalf("j2 retained: %v", err)
	}
	js, err := s.ListJobs(ctx, store.ListParams{Client: "c1"})
	if err != nil || !slices.Equal(jobIDs(js), []string{"j3", "j2"}) {
		t.Fatalf("ListJobs = %v, %v; want j3, j2", jobIDs(js), err)
	}
	js, _ = s.ListJobs(ctx, store.ListParams{Offset: 1})
	if !slices.Equal(jobIDs(js), []string{"j2"}) {
		t.Fatalf("ListJobs offset 1 = %v; want j2", jobIDs(js))
	}
	st, _ := s.Stats(ctx)
	if st.Jobs != 2 || st.JobsByStatus[wire.StatusFinished] != 1 {
		t.Fatalf("stats = %+v; want 2 jobs, 1 finished", st)
	}
	// A job that ended exactly at the cut is removed.
	if n, _ := o.RemoveArchived(ctx, t0.Add(time.Second), 10); n != 1 {
		t.Fatalf("second RemoveArchived = %d; want 1 (j2, ended at the cut)", n)
	}
	if js, _ := s.ListJobs(ctx, store.ListParams{Client: "c1"}); !slices.Equal(jobIDs(js), []string{"j3"}) {
		t.Fatalf("ListJobs after the second removal = %v; want j3", jobIDs(js))
	}
	if n, _ := o.RemoveArchived(ctx, t0.Add(time.Hour), 10); n != 0 {
		t.Fatalf("third RemoveArchived = %d; want 0", n)
	}
	// The store works on: a new job, a new task.
	create(t, s, newJob("j4", "c1"), nil)
	finish(t, s, "j4", wire.StatusFailed, t0.Add(time.Hour))
	if got, _ := o.PendingArchive(ctx, 10); len(got) != 1 || got[0].Job.ID != "j4" {
		t.Fatalf("PendingArchive = %v; want j4", endedIDs(got))
	}
}

// Jobs that end in another order than they were created leave in the
// order they ended; lists stay right meanwhile.
func testOutboxOutOfOrder(t *testing.T, s store.Store) {
	ctx := context.Background()
	o := outboxOf(t, s)
	o.KeepOutbox()
	for i, id := range []string{"j1", "j2", "j3", "j4"} {
		create(t, s, newJob(id, "c1"), nil)
		finish(t, s, id, wire.StatusFinished, t0.Add(time.Duration(3-i)*time.Second)) // j4 ends first
	}
	if err := o.MarkArchived(ctx, []string{"j1", "j2", "j3", "j4"}); err != nil {
		t.Fatal(err)
	}
	if n, _ := o.RemoveArchived(ctx, t0.Add(time.Second), 10); n != 2 {
		t.Fatalf("removed %d, want j3 and j4", n)
	}
	for _, p := range []store.ListParams{{Client: "c1"}, {}} {
		js, err := s.ListJobs(ctx, p)
		if err != nil || !slices.Equal(jobIDs(js), []string{"j2", "j1"}) {
			t.Fatalf("ListJobs(%+v) = %v, %v; want j2, j1", p, jobIDs(js), err)
		}
		js, _ = s.ListJobs(ctx, store.ListParams{Client: p.Client, Offset: 1})
		if !slices.Equal(jobIDs(js), []string{"j1"}) {
			t.Fatalf("ListJobs(%+v, offset 1) = %v; want j1", p, jobIDs(js))
		}
	}
	if n, _ := o.RemoveArchived(ctx, t0.Add(time.Hour), 10); n != 2 {
		t.Fatalf("removed %d, want j1 and j2", n)
	}
	if js, _ := s.ListJobs(ctx, store.ListParams{Client: "c1"}); len(js) != 0 {
		t.Fatalf("ListJobs after all were removed = %v", jobIDs(js))
	}
}

func testOutboxRemovedChild(t *testing.T, s store.Store) {
	ctx := context.Background()
	o := outboxOf(t, s)
	o.KeepOutbox()
	create(t, s, newJob("child", "c1"), nil)
	p := newJob("parent", "c1")
	p.Child = "child"
	create(t, s, p, nil)
	finish(t, s, "child", wire.StatusFinished, t0)
	if err := o.MarkArchived(ctx, []string{"child"}); err != nil {
		t.Fatal(err)
	}
	if n, _ := o.RemoveArchived(ctx, t0, 10); n != 1 {
		t.Fatalf("removed %d", n)
	}
	got, err := s.GetJob(ctx, "parent")
	if err != nil || got.Child != "child" {
		t.Fatalf("parent after its child was removed: %+v, %v", got, err)
	}
	if err := s.CreateJob(ctx, store.CommitParams{Job: newJob("child", "c1")}); err != nil {
		t.Fatalf("an id removed may be used again: %v", err)
	}
}

func testSearchLive(t *testing.T, s store.Store) {
	sr := searcherOf(t, s)
	var all []string
	for i := range 25 {
		id := fmt.Sprintf("j%02d", i)
		j := newJob(id, []string{"c1", "c2"}[i%2])
		j.CreatedAt = t0.Add(time.Duration(i) * time.Second)
		j.Metadata = map[string]any{"n": float64(i % 3)}
		create(t, s, j, nil)
		all = append(all, id)
	}
	finish(t, s, "j03", wire.StatusFailed, t0.Add(time.Hour))
	slices.Reverse(all)
	if got := searchIDs(t, sr, store.JobQuery{Limit: 3}); !slices.Equal(got, all[:3]) {
		t.Errorf("newest 3 = %v, want %v", got, all[:3])
	}
	if got := searchIDs(t, sr, store.JobQuery{Statuses: []wire.JobStatus{wire.StatusFailed}}); !slices.Equal(got, []string{"j03"}) {
		t.Errorf("failed = %v", got)
	}
	if got := searchIDs(t, sr, store.JobQuery{Worker: "w1"}); !slices.Equal(got, []string{"j03"}) {
		t.Errorf("worker w1 = %v", got)
	}
	if got := searchIDs(t, sr, store.JobQuery{Sort: store.SortEnded}); !slices.Equal(got, []string{"j03"}) {
		t.Errorf("by end = %v (jobs that did not end have no place)", got)
	}
	if got := searchIDs(t, sr, store.JobQuery{Client: "c2", Meta: map[string]string{"n": "2"}, Asc: true}); !slices.Equal(got, []string{"j05", "j11", "j17", "j23"}) {
		t.Errorf("c2, n=2, oldest first = %v", got)
	}
	// Pages cover every job once.
	if got := pages(t, sr, store.JobQuery{Limit: 7}); !slices.Equal(got, all) {
		t.Errorf("pages = %v, want %v", got, all)
	}
}

// A search reads a store's jobs in batches (the Redis store scans 512 at a
// time, newest first, or oldest first for an ascending sort, and stops
// once no later job can enter the page): with more jobs than a batch,
// each order, a filter matching only at either end, and paging over a
// batch's edge give every job in its place.
func testSearchLiveManyJobs(t *testing.T, s store.Store) {
	sr := searcherOf(t, s)
	const n = 2*512 + 1 // the last batch holds one job
	var all []string    // oldest first
	for i := range n {
		id := fmt.Sprintf("m%04d", i)
		j := newJob(id, "c1")
		j.CreatedAt = t0.Add(time.Duration(i) * 2 * time.Second)
		j.Metadata = map[string]any{"end": "no"}
		if i == 0 || i == n-1 {
			j.Metadata["end"] = "yes"
		}
		create(t, s, j, nil)
		all = append(all, id)
	}
	newest := slices.Clone(all)
	slices.Reverse(newest)
	for _, tc := range []struct {
		name string
		q    store.JobQuery
		want []string
	}{
		{"newest 5", store.JobQuery{Limit: 5}, newest[:5]},
		{"oldest 5", store.JobQuery{Limit: 5, Asc: true}, all[:5]},
		{"a page of the most a page holds, newest first", store.JobQuery{Limit: 1000}, newest[:1000]},
		{"a page of the most a page holds, oldest first", store.JobQuery{Limit: 1000, Asc: true}, all[:1000]},
		{"the two ends, newest first", store.JobQuery{Meta: map[string]string{"end": "yes"}}, []string{newest[0], all[0]}},
		{"the two ends, oldest first", store.JobQuery{Meta: map[string]string{"end": "yes"}, Asc: true}, []string{all[0], newest[0]}},
		{"one, oldest first", store.JobQuery{Limit: 1, Asc: true}, all[:1]},
	} {
		if got := searchIDs(t, sr, tc.q); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %d jobs %v, want %d %v", tc.name, len(got), head(got), len(tc.want), head(tc.want))
		}
	}
	for _, asc := range []bool{false, true} {
		want := newest
		if asc {
			want = all
		}
		if got := pages(t, sr, store.JobQuery{Limit: 300, Asc: asc}); !slices.Equal(got, want) {
			t.Errorf("pages of 300 (ascending %v): %d jobs %v, want %d %v", asc, len(got), head(got), len(want), head(want))
		}
	}
}

// Jobs created in one order with creation times a little out of that
// order (clocks of several instances, within a second) still come in the
// order of their creation times: a search does not stop at the first job
// that sorts after a full page.
func testSearchLiveCloseTimes(t *testing.T, s store.Store) {
	sr := searcherOf(t, s)
	for _, j := range []struct {
		id string
		at time.Duration
	}{
		// Created in this order; after a full page of one, each order
		// meets a job that sorts after the page by the most disorder
		// allowed (a second), then one that enters it.
		{"a", 10 * time.Second}, {"x", 8500 * time.Millisecond}, {"b", 9500 * time.Millisecond},
		{"p", 0}, {"q", time.Second}, {"r", -400 * time.Millisecond},
	} {
		nj := newJob(j.id, "c1")
		nj.CreatedAt = t0.Add(j.at)
		create(t, s, nj, nil)
	}
	for _, tc := range []struct {
		asc  bool
		want string
	}{{false, "a"}, {true, "r"}} {
		if got := searchIDs(t, sr, store.JobQuery{Limit: 1, Asc: tc.asc}); !slices.Equal(got, []string{tc.want}) {
			t.Errorf("first by creation time (ascending %v) = %v, want %s", tc.asc, got, tc.want)
		}
	}
}

// testSearchLiveEndedAgainstCreation: sorted by end time, a search may
// not stop early by creation time: the job created first ended last.
func testSearchLiveEndedAgainstCreation(t *testing.T, s store.Store) {
	sr := searcherOf(t, s)
	for i, j := range []struct {
		id  string
		end time.Duration
	}{{"a", 100 * time.Second}, {"b", 10 * time.Second}, {"c", 50 * time.Second}} {
		nj := newJob(j.id, "c1")
		nj.CreatedAt = t0.Add(time.Duration(i) * time.Second)
		create(t, s, nj, nil)
		finish(t, s, j.id, wire.StatusFinished, nj.CreatedAt.Add(j.end))
	}
	for _, tc := range []struct {
		asc  bool
		want string
	}{{false, "a"}, {true, "b"}} {
		if got := searchIDs(t, sr, store.JobQuery{Limit: 1, Sort: store.SortEnded, Asc: tc.asc}); !slices.Equal(got, []string{tc.want}) {
			t.Errorf("first by end time (ascending %v) = %v, want %s", tc.asc, got, tc.want)
		}
	}
}

// searcherOf is s as a store.Searcher.
func searcherOf(t *testing.T, s store.Store) store.Searcher {
	t.Helper()
	sr, ok := s.(store.Searcher)
	if !ok {
		t.Fatalf("%T does not implement store.Searcher", s)
	}
	return sr
}

// searchIDs is the ids of q's first page.
func searchIDs(t *testing.T, sr store.Searcher, q store.JobQuery) []string {
	t.Helper()
	js, err := sr.SearchJobs(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return jobIDs(js)
}

// pages follows q's pages (at most 10) and returns the ids they gave.
func pages(t *testing.T, sr store.Searcher, q store.JobQuery) []string {
	t.Helper()
	var got []string
	for range 10 {
		js, err := sr.SearchJobs(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, jobIDs(js)...)
		if len(js) < q.Limit {
			break
		}
		k, _ := q.Key(js[len(js)-1])
		q.After = &k
	}
	return got
}

// head is the start of a long list of ids, for messages.
func head(ids []string) []string {
	return ids[:min(len(ids), 6)]
}

func endedIDs(es []store.EndedJob) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, e.Job.ID)
	}
	return out
}

func jobIDs(js []*core.Job) []string {
	out := []string{}
	for _, j := range js {
		out = append(out, j.ID)
	}
	return out
}
