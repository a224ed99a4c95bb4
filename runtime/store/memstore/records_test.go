package memstore

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/internal/uuid"
	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store/memstore/internal/codec"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store/memstore/internal/codectest"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// A job, its timeline and its task come out of the store as they went
// in, every field set, through the store's own API: the refs of a job
// waiting on many tasks too, and a task through its lease.
func TestMemoryRoundTripThroughStore(t *testing.T) {
	ctx := context.Background()
	for _, nrefs := range []int{1, codec.MaxInlineRefs, codec.MaxInlineRefs + 3, 100} {
		t.Run(fmt.Sprint(nrefs, " refs"), func(t *testing.T) {
			m := New(Options{})
			defer m.Close()
			n := 0
			var j core.Job
			codectest.Fill(t, reflect.ValueOf(&j).Elem(), &n)
			codectest.FillRefs(t, &j, nrefs, &n)
			var e1, e2 core.TimelineEvent
			codectest.Fill(t, reflect.ValueOf(&e1).Elem(), &n)
			codectest.Fill(t, reflect.ValueOf(&e2).Elem(), &n)
			var tk core.Task
			codectest.Fill(t, reflect.ValueOf(&tk).Elem(), &n)
			tk.ID, tk.JobID, tk.Worker, tk.Requires, tk.MaxCost = "task-1", j.ID, "", nil, nil
			tk.LeasedAt, tk.LeaseUntil = time.Time{}, time.Time{}
			err := m.CreateJob(ctx, store.CommitParams{Job: &j, Effects: &core.Effects{
				Timeline: []core.TimelineEvent{e1, e2}, Enqueue: []*core.Task{&tk}}})
			if err != nil {
				t.Fatal(err)
			}
			want := j
			want.Rev = 1
			got, err := m.GetJob(ctx, j.ID)
			if err != nil {
				t.Fatal(err)
			}
			codectest.Same(t, &want, got)
			lst, _ := m.ListJobs(ctx, store.ListParams{Client: j.Client.Name})
			if len(lst) != 1 {
				t.Fatalf("ListJobs: %d jobs", len(lst))
			}
			codectest.Same(t, &want, lst[0])
			tl, _ := m.Timeline(ctx, j.ID)
			codectest.Same(t, []core.TimelineEvent{e1, e2}, tl)
			info, _ := m.Task(ctx, tk.ID)
			codectest.Same(t, &tk, info.Task)

			// Commit again: the stored rev and status move, a second
			// commit's events follow the first's.
			got.Status = wire.StatusRunning
			if rev, err := m.CommitIfVersion(ctx, store.CommitParams{Job: got, ExpectRev: 1,
				Effects: &core.Effects{Timeline: []core.TimelineEvent{e2}}}); err != nil || rev != 2 {
				t.Fatalf("commit: rev %d, %v", rev, err)
			}
			want.Rev, want.Status = 2, wire.StatusRunning
			again, _ := m.GetJob(ctx, j.ID)
			codectest.Same(t, &want, again)
			tl, _ = m.Timeline(ctx, j.ID)
			codectest.Same(t, []core.TimelineEvent{e1, e2, e2}, tl)

			now := time.Date(2026, 5, 6, 7, 8, 9, 10, time.UTC)
			leased, err := m.Lease(ctx, store.LeaseParams{WorkerID: "w", Types: []string{tk.Type}, Now: now})
			if err != nil || leased == nil {
				t.Fatalf("lease: %v %v", leased, err)
			}
			wantTask := tk
			wantTask.Worker, wantTask.LeasedAt, wantTask.LeaseUntil = "w", now, now.Add(tk.Timeout)
			codectest.Same(t, &wantTask, leased)
			info, _ = m.Task(ctx, tk.ID)
			codectest.Same(t, &wantTask, info.Task)
		})
	}
}

// opaque is a value the codec does not know.
type opaque struct{ A []int }

// Values of types the encoding does not keep are kept as they are, as
// cloneJob and cloneTask copy them, in a job, a timeline and a task.
func TestMemoryKeepsOtherTypes(t *testing.T) {
	ctx := context.Background()
	m := New(Options{})
	defer m.Close()
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	enc := core.TimelineEvent{At: at, Type: "created"}
	odd := core.TimelineEvent{At: at, Type: "odd", Detail: map[string]any{"v": opaque{A: []int{1}}}}
	j := &core.Job{ID: "j", Status: wire.StatusPending, Input: map[string]any{"t": at, "n": int32(3)}, CreatedAt: at}
	tk := &core.Task{ID: "t", JobID: "j", Type: "a", Params: map[string]any{"o": &opaque{A: []int{2}}}, EnqueuedAt: at}
	if err := m.CreateJob(ctx, store.CommitParams{Job: j, Effects: &core.Effects{
		Timeline: []core.TimelineEvent{enc, odd, enc}, Enqueue: []*core.Task{tk}}}); err != nil {
		t.Fatal(err)
	}
	got, _ := m.GetJob(ctx, "j")
	want := *j
	want.Rev = 1
	codectest.Same(t, &want, got)
	got.Input["n"] = 4 // a copy: the stored job is unchanged
	again, _ := m.GetJob(ctx, "j")
	codectest.Same(t, &want, again)

	tl, _ := m.Timeline(ctx, "j")
	codectest.Same(t, []core.TimelineEvent{enc, odd, enc}, tl)
	if _, err := m.CommitIfVersion(ctx, store.CommitParams{Job: again, ExpectRev: 1,
		Effects: &core.Effects{Timeline: []core.TimelineEvent{enc}}}); err != nil {
		t.Fatal(err)
	}
	tl, _ = m.Timeline(ctx, "j")
	codectest.Same(t, []core.TimelineEvent{enc, odd, enc, enc}, tl)

	// The job's values encode again: it goes back to its record.
	again.Input = map[string]any{"n": 5.0}
	if _, err := m.CommitIfVersion(ctx, store.CommitParams{Job: again, ExpectRev: 2}); err != nil {
		t.Fatal(err)
	}
	want.Rev, want.Input = 3, map[string]any{"n": 5.0}
	final, _ := m.GetJob(ctx, "j")
	codectest.Same(t, &want, final)
	if s := m.view(0); s.ext == nil || s.ext.job != nil || !s.ext.goTL {
		t.Errorf("the job is not back in its record: %+v", s)
	}

	leased, _ := m.Lease(ctx, store.LeaseParams{WorkerID: "w", Types: []string{"a"}, Now: at})
	wantTask := *tk
	wantTask.Worker, wantTask.LeasedAt = "w", at
	codectest.Same(t, &wantTask, leased)
	info, _ := m.Task(ctx, "t")
	codectest.Same(t, &wantTask, info.Task)
	if info.State != store.TaskLeased {
		t.Errorf("state %s", info.State)
	}
}

// Ids the store knows are kept as numbers: a job's refs and timeline
// naming its tasks (enqueued in the same commit or before), a task's job,
// a child's parent. They read back as the ids; ids the store does not
// know, and ids of every form, read back as they are.
func TestMemoryIDReferences(t *testing.T) {
	ctx := context.Background()
	m := New(Options{})
	defer m.Close()
	ids := []string{"0b6f2c7e-8f55-4a5e-9d3a-0c6d1e2f3a4b", "task-1b6f2c7e-8f55-4a5e-9d3a-0c6d1e2f3a4b", "plain",
		"0B6F2C7E-8F55-4A5E-9D3A-0C6D1E2F3A4B", "", "x\x00y"}
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	for i, jid := range ids {
		if jid == "" {
			continue
		}
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			tids := []string{"task-" + uuidN(i, 1), uuidN(i, 2), fmt.Sprint("t", i)}
			refs := []core.TaskRef{{ID: tids[0], Type: "a", Attempt: 1}, {ID: tids[1], Type: "a"}, {ID: "unknown-" + jid}}
			j := &core.Job{ID: jid, Status: wire.StatusWaitingForWorker, Tasks: core.NewTaskRefs(refs...), CreatedAt: at}
			evs := []core.TimelineEvent{{At: at, Type: "task_enqueued", TaskID: tids[0]}, {At: at, Type: "task_enqueued", TaskID: tids[1]},
				{At: at, Type: "other", TaskID: "unknown"}}
			var enq []*core.Task
			for _, id := range tids[:2] {
				enq = append(enq, &core.Task{ID: id, JobID: jid, Type: "a", EnqueuedAt: at})
			}
			enq = append(enq, &core.Task{ID: tids[2], JobID: "another job", Type: "b"})
			if err := m.CreateJob(ctx, store.CommitParams{Job: j, Effects: &core.Effects{Timeline: evs, Enqueue: enq}}); err != nil {
				t.Fatal(err)
			}
			want := *j
			want.Rev = 1
			got, _ := m.GetJob(ctx, jid)
			codectest.Same(t, &want, got)
			tl, _ := m.Timeline(ctx, jid)
			codectest.Same(t, evs, tl)
			if u, _ := uuid.Parse(tids[1]); strings.Contains(m.jobRec(uint32(m.jobs.n-1)), string(u[:])) {
				t.Error("the job's record holds the id of a task the store has")
			}
			for _, tk := range enq {
				info, err := m.Task(ctx, tk.ID)
				if err != nil {
					t.Fatal(err)
				}
				codectest.Same(t, tk, info.Task)
			}
			// A later commit names the tasks enqueued before, and starts a
			// child whose parent is the job.
			child := &core.Job{ID: jid + "/child", Parent: &core.ParentRef{JobID: jid, State: "s"}}
			got.Child = child.ID
			evs2 := []core.TimelineEvent{{At: at, Type: "task_result", TaskID: tids[1], WorkerID: "w"}}
			if _, err := m.CommitIfVersion(ctx, store.CommitParams{Job: got, ExpectRev: 1,
				Effects: &core.Effects{Timeline: evs2, StartChild: []*core.Job{child}}}); err != nil {
				t.Fatal(err)
			}
			want.Rev, want.Child = 2, child.ID
			got, _ = m.GetJob(ctx, jid)
			codectest.Same(t, &want, got)
			tl, _ = m.Timeline(ctx, jid)
			codectest.Same(t, append(evs, evs2...), tl)
			wantChild := *child
			wantChild.Rev = 1
			gotChild, _ := m.GetJob(ctx, child.ID)
			codectest.Same(t, &wantChild, gotChild)
			// And commits the child again: its parent is a number now.
			if _, err := m.CommitIfVersion(ctx, store.CommitParams{Job: gotChild, ExpectRev: 1}); err != nil {
				t.Fatal(err)
			}
			wantChild.Rev = 2
			gotChild, _ = m.GetJob(ctx, child.ID)
			codectest.Same(t, &wantChild, gotChild)
			if err := m.CreateJob(ctx, store.CommitParams{Job: &core.Job{ID: jid}}); !errors.Is(err, store.ErrExists) {
				t.Errorf("second create of %q: %v", jid, err)
			}
		})
	}
}

func uuidN(i, k int) string {
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", i, k)
}

// Many jobs (several chunks of slots, the indexes grown many times), each
// found by its id; a long timeline moves out of the record and keeps
// every event in order, and so does one that then holds a value the
// encoding does not keep.
func TestMemoryManyJobsLongTimeline(t *testing.T) {
	ctx := context.Background()
	m := New(Options{})
	defer m.Close()
	const n = 5000
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	for i := range n {
		id := uuidN(i, 0)
		if i%3 == 0 {
			id = fmt.Sprint("job-", i)
		}
		err := m.CreateJob(ctx, store.CommitParams{Job: &core.Job{ID: id, Steps: i, Client: core.Client{Name: fmt.Sprint("c", i%7)}},
			Effects: &core.Effects{Enqueue: []*core.Task{{ID: "task-" + uuidN(i, 1), JobID: id, Type: "a", Attempt: i}}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		id := uuidN(i, 0)
		if i%3 == 0 {
			id = fmt.Sprint("job-", i)
		}
		j, err := m.GetJob(ctx, id)
		if err != nil || j.Steps != i || j.ID != id {
			t.Fatalf("job %d: %+v %v", i, j, err)
		}
		info, err := m.Task(ctx, "task-"+uuidN(i, 1))
		if err != nil || info.Task.Attempt != i || info.Task.JobID != id {
			t.Fatalf("task %d: %+v %v", i, info, err)
		}
	}
	if _, err := m.GetJob(ctx, uuidN(n, 0)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown job: %v", err)
	}
	lst, _ := m.ListJobs(ctx, store.ListParams{Client: "c3", Limit: 2, Offset: 1})
	if len(lst) != 2 || lst[0].Steps != n-1-7-((n-1-3)%7) {
		var got []int
		for _, j := range lst {
			got = append(got, j.Steps)
		}
		t.Errorf("ListJobs c3: steps %v", got)
	}

	id := "job-0"
	var want []core.TimelineEvent
	for i := range 300 {
		j, _ := m.GetJob(ctx, id)
		evs := []core.TimelineEvent{{At: at.Add(time.Duration(i) * time.Second), Type: "step", State: fmt.Sprint("s", i)},
			{At: at.Add(time.Duration(i) * time.Second), Type: "more", Detail: map[string]any{"i": float64(i)}}}
		if i == 200 {
			evs[1].Detail["odd"] = opaque{}
		}
		if _, err := m.CommitIfVersion(ctx, store.CommitParams{Job: j, ExpectRev: j.Rev, Effects: &core.Effects{Timeline: evs}}); err != nil {
			t.Fatal(err)
		}
		want = append(want, evs...)
		if i == 199 {
			if s := m.view(0); s.ext == nil || s.ext.tl == nil {
				t.Fatal("a long timeline is still in the record")
			}
		}
		if i%50 == 0 || i == 199 || i == 200 {
			tl, _ := m.Timeline(ctx, id)
			codectest.Same(t, want, tl)
		}
	}
	tl, _ := m.Timeline(ctx, id)
	codectest.Same(t, want, tl)
}

// A commit whose timeline names a task the same commit enqueues, then
// holds an event that does not encode: the timeline moves to Go values
// with every event as it was given.
func TestMemoryTimelineNamingNewTaskTurnsToValues(t *testing.T) {
	ctx := context.Background()
	m := New(Options{})
	defer m.Close()
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	tid := "task-" + uuidN(1, 1)
	evs := []core.TimelineEvent{{At: at, Type: "task_enqueued", TaskID: tid},
		{At: at, Type: "odd", TaskID: tid, Detail: map[string]any{"o": opaque{}}}}
	err := m.CreateJob(ctx, store.CommitParams{Job: &core.Job{ID: "j"}, Effects: &core.Effects{Timeline: evs,
		Enqueue: []*core.Task{{ID: tid, JobID: "j", Type: "a"}}}})
	if err != nil {
		t.Fatal(err)
	}
	tl, _ := m.Timeline(ctx, "j")
	codectest.Same(t, evs, tl)
}
