package memstore

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store/memstore/internal/codec"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// cloneValue keeps nil JSON values nil (of their type) and copies the
// others deeply: a change to the copy leaves the original as it was.
func TestCloneValueNilAndDeep(t *testing.T) {
	for _, tc := range []struct {
		name   string
		v      any
		change func(any) // changes a copy, deep inside
	}{
		{"nil []any", []any(nil), nil},
		{"nil []string", []string(nil), nil},
		{"nil map of maps", map[string]map[string]any(nil), nil},
		{"nil map", map[string]any(nil), nil},
		{"[]any", []any{map[string]any{"k": 1.0}, []any{"x"}},
			func(v any) { v.([]any)[0].(map[string]any)["k"] = 2.0; v.([]any)[1].([]any)[0] = "y" }},
		{"empty []any", []any{}, nil},
		{"[]string", []string{"a", "b"}, func(v any) { v.([]string)[0] = "z" }},
		{"empty []string", []string{}, nil},
		{"map of maps", map[string]map[string]any{"s": {"k": []any{1.0}}, "nil": nil},
			func(v any) { v.(map[string]map[string]any)["s"]["k"].([]any)[0] = 2.0 }},
		{"empty map of maps", map[string]map[string]any{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := fmt.Sprintf("%#v", tc.v)
			got := cloneValue(tc.v)
			if reflect.TypeOf(got) != reflect.TypeOf(tc.v) || fmt.Sprintf("%#v", got) != want {
				t.Fatalf("clone %#v, want %s", got, want)
			}
			if isNil := reflect.ValueOf(got).IsNil(); isNil != reflect.ValueOf(tc.v).IsNil() {
				t.Errorf("clone nil %v, original nil %v", isNil, !isNil)
			}
			if tc.change != nil {
				tc.change(got)
				if fmt.Sprintf("%#v", tc.v) != want {
					t.Errorf("changing the copy changed the original: %#v", tc.v)
				}
			}
		})
	}
}

// The id index stays at most 0.8 full and grows by doubling only when an
// id would pass that: its size is what the store's figure of bytes per
// id relies on. Every id added is found, others are not.
func TestIDIndexLoad(t *testing.T) {
	var recs []string
	x := newIDIndex(func(n uint32) string { return recs[n] })
	key := func(i int) []byte { return codec.AppendKey(nil, fmt.Sprintf("job-%d", i)) }
	const n = 3000
	for i := range n {
		k := key(i)
		recs = append(recs, string(k)+"rest of the record")
		x.add(k, uint32(i))
		size := len(x.slots)
		if x.n != i+1 || size&(size-1) != 0 || size < 64 {
			t.Fatalf("after %d ids: n %d, %d slots", i+1, x.n, size)
		}
		if x.n*5 > size*4 {
			t.Fatalf("%d ids in %d slots: fuller than 0.8", x.n, size)
		}
		if size > 64 && x.n*5 <= size/2*4 {
			t.Fatalf("%d ids in %d slots: half as many would do", x.n, size)
		}
	}
	for i := range n {
		if got, ok := x.find(key(i)); !ok || got != uint32(i) {
			t.Fatalf("id %d found as %d, %v", i, got, ok)
		}
	}
	for i := n; i < n+100; i++ {
		if got, ok := x.find(key(i)); ok {
			t.Errorf("id %d not added found as %d", i, got)
		}
	}
}

// A job the codec cannot keep (a value of another Go type in its input)
// is kept as Go values; an empty []string in it comes back empty, not
// nil (JSON [] and not null).
func TestGoValuesKeepEmptyStrings(t *testing.T) {
	ctx := context.Background()
	s := New(Options{})
	defer s.Close()
	in := map[string]any{"odd": int32(1), "none": []string{}, "nil": []string(nil), "some": []string{"a"}}
	if err := s.CreateJob(ctx, store.CommitParams{Job: &core.Job{ID: "j", Blueprint: "b", Input: in}}); err != nil {
		t.Fatal(err)
	}
	j, err := s.GetJob(ctx, "j")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%#v", j.Input) != fmt.Sprintf("%#v", in) {
		t.Errorf("input %#v, want %#v", j.Input, in)
	}
}

// A job's record names the jobs and tasks of the store it refers to (its
// child, its parent, up to codec.MaxInlineRefs task refs, also tasks
// the same commit enqueues) by number, not by id: that is what keeps a
// job's record a few hundred bytes. The ids come back on reading.
func TestRecordsNameByNumber(t *testing.T) {
	ctx := context.Background()
	for _, nTasks := range []int{1, codec.MaxInlineRefs, codec.MaxInlineRefs + 1, 8, 9, 12} {
		t.Run(fmt.Sprint(nTasks, " tasks"), func(t *testing.T) {
			s := New(Options{})
			defer s.Close()
			other := "0b6f2c7e-8f55-4a5e-9d3a-0c6d1e2f3a4b"
			if err := s.CreateJob(ctx, store.CommitParams{Job: &core.Job{ID: other, Blueprint: "b"}}); err != nil {
				t.Fatal(err)
			}
			fx := &core.Effects{}
			var refs []core.TaskRef
			for i := range nTasks {
				id := fmt.Sprintf("task-1c7a3d8f-9a66-4b6f-8e4b-1d7e2f3a4b%02d", i)
				fx.Enqueue = append(fx.Enqueue, &core.Task{ID: id, JobID: "j", Type: "a"})
				fx.Timeline = append(fx.Timeline, core.TimelineEvent{Type: "enqueued", TaskID: id})
				refs = append(refs, core.TaskRef{ID: id, Type: "a"})
			}
			j := &core.Job{ID: "j", Blueprint: "b", Child: other, Parent: &core.ParentRef{JobID: other, State: "s"},
				Tasks: core.NewTaskRefs(refs...)}
			if err := s.CreateJob(ctx, store.CommitParams{Job: j, Effects: fx}); err != nil {
				t.Fatal(err)
			}

			n, ok := s.findJob("j")
			if !ok {
				t.Fatal("job not found")
			}
			var d codec.DecodedJob
			s.c.DecodeJob(s.view(n).rec, "j", &d)
			if d.Refs.Child == codec.None || d.Refs.Parent == codec.None {
				t.Errorf("child and parent by number: %+v", d.Refs)
			}
			if nTasks <= codec.MaxInlineRefs {
				for i := range nTasks {
					if d.Refs.Tasks[i] == codec.None {
						t.Errorf("task ref %d by id, not by number: %+v", i, d.Refs)
					}
				}
			}

			got, err := s.GetJob(ctx, "j")
			if err != nil {
				t.Fatal(err)
			}
			if got.Child != other || got.Parent.JobID != other || !got.Tasks.Equal(j.Tasks) {
				t.Errorf("job read back as child %q parent %+v tasks %v", got.Child, got.Parent, got.Tasks.Slice())
			}
			tl, err := s.Timeline(ctx, "j")
			if err != nil {
				t.Fatal(err)
			}
			if len(tl) != nTasks {
				t.Fatalf("%d events, want %d", len(tl), nTasks)
			}
			for i, e := range tl {
				if e.TaskID != refs[i].ID {
					t.Errorf("event %d names task %q, want %q", i, e.TaskID, refs[i].ID)
				}
			}
		})
	}
}

// A job whose timeline is kept apart from its record (longer than
// maxRecTimeline) keeps the task refs its record holds.
func TestLongTimelineKeepsRefs(t *testing.T) {
	ctx := context.Background()
	s := New(Options{})
	defer s.Close()
	refs := core.NewTaskRefs(core.TaskRef{ID: "t1", Type: "a"}, core.TaskRef{ID: "t2", Type: "b"})
	j := &core.Job{ID: "j", Blueprint: "b", Tasks: refs}
	fx := &core.Effects{}
	for i := range 4 {
		fx.Timeline = append(fx.Timeline, core.TimelineEvent{Type: "note", Detail: map[string]any{"text": strings.Repeat(fmt.Sprint(i), 400)}})
	}
	if err := s.CreateJob(ctx, store.CommitParams{Job: j, Effects: fx}); err != nil {
		t.Fatal(err)
	}
	n, _ := s.findJob("j")
	if v := s.view(n); v.ext == nil || v.ext.tl == nil {
		t.Fatalf("timeline of %d events not kept apart", len(fx.Timeline))
	}
	got, err := s.GetJob(ctx, "j")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Tasks.Equal(refs) {
		t.Errorf("tasks %v, want %v", got.Tasks.Slice(), refs.Slice())
	}
	if tl, _ := s.Timeline(ctx, "j"); len(tl) != len(fx.Timeline) {
		t.Errorf("%d events, want %d", len(tl), len(fx.Timeline))
	}
}

// What a job keeps apart from its record is dropped once the job no
// longer needs it: the store holds no stale parts.
func TestJobExtDropped(t *testing.T) {
	ctx := context.Background()
	s := New(Options{})
	defer s.Close()
	for _, id := range []string{"a", "b"} {
		if err := s.CreateJob(ctx, store.CommitParams{Job: &core.Job{ID: id, Blueprint: "b", Input: map[string]any{"odd": int32(1)}}}); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.jobExt) != 2 {
		t.Fatalf("%d jobs kept apart, want 2", len(s.jobExt))
	}
	for i, id := range []string{"a", "b"} {
		j, err := s.GetJob(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		j.Input = map[string]any{"even": 2.0}
		if _, err := s.CommitIfVersion(ctx, store.CommitParams{Job: j, ExpectRev: j.Rev}); err != nil {
			t.Fatal(err)
		}
		if len(s.jobExt) != 1-i {
			t.Errorf("after %q encodes: %d jobs kept apart, want %d", id, len(s.jobExt), 1-i)
		}
		if got, _ := s.GetJob(ctx, id); fmt.Sprint(got.Input) != "map[even:2]" {
			t.Errorf("input %v", got.Input)
		}
	}
}

// TimerArmed is closed by a commit that arms a timer, and only then: a
// commit without timers does not wake the timer loop.
func TestTimerArmedOnlyByTimers(t *testing.T) {
	ctx := context.Background()
	s := New(Options{})
	defer s.Close()
	armed := s.TimerArmed()
	if err := s.CreateJob(ctx, store.CommitParams{Job: &core.Job{ID: "j", Blueprint: "b"},
		Effects: &core.Effects{Timeline: []core.TimelineEvent{{Type: "created"}}}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-armed:
		t.Fatal("a commit without timers closed TimerArmed")
	default:
	}
	j, _ := s.GetJob(ctx, "j")
	if _, err := s.CommitIfVersion(ctx, store.CommitParams{Job: j, ExpectRev: j.Rev,
		Effects: &core.Effects{Timers: []core.Timer{{ID: "t", JobID: "j", At: time.Unix(100, 0)}}}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-armed:
	default:
		t.Fatal("a commit arming a timer left TimerArmed open")
	}
}

// A task without constraints waits on the plain heap of its queue (the
// common case, O(log n)); one with requires or max_cost apart. No
// worker's load is kept once it holds no task.
func TestQueueHeapsAndLoad(t *testing.T) {
	ctx := context.Background()
	s := New(Options{})
	defer s.Close()
	fx := &core.Effects{Enqueue: []*core.Task{
		{ID: "plain", JobID: "j", Type: "a"},
		{ID: "empty-requires", JobID: "j", Type: "a", Requires: map[string]any{}},
		{ID: "requires", JobID: "j", Type: "a", Requires: map[string]any{"gpu": true}},
		{ID: "cost", JobID: "j", Type: "a", MaxCost: new(1.5)},
	}}
	if err := s.CreateJob(ctx, store.CommitParams{Job: &core.Job{ID: "j", Blueprint: "b"}, Effects: fx}); err != nil {
		t.Fatal(err)
	}
	q := s.shared["a"]
	if q == nil || len(q.plain) != 2 || len(q.cons) != 2 {
		t.Fatalf("queue %+v: want 2 plain and 2 constrained", q)
	}
	for range 2 {
		task, err := s.Lease(ctx, store.LeaseParams{WorkerID: "w", Types: []string{"a"}, Now: time.Unix(1, 0)})
		if err != nil || task == nil {
			t.Fatalf("lease: %v %v", task, err)
		}
		if s.load["w"] == 0 {
			t.Errorf("worker holding %q has no load", task.ID)
		}
		j, _ := s.GetJob(ctx, "j")
		if _, err := s.CommitIfVersion(ctx, store.CommitParams{Job: j, ExpectRev: j.Rev,
			Complete: &store.TaskCompletion{TaskID: task.ID, WorkerID: "w"}}); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.load) != 0 {
		t.Errorf("loads %v kept for workers holding no task", s.load)
	}
}

// A task withdrawn from the middle of a queue leaves the others in
// priority order: the task moved into its place rises when it must.
func TestWithdrawKeepsPriorityOrder(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		prios    []float64 // enqueue order
		withdraw int       // index into prios
	}{
		{[]float64{10, 5, 6, 1, 2, 3, 7}, 3},
		{[]float64{10, 5, 6, 1, 2, 3, 7}, 1},
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8}, 0},
		{[]float64{8, 7, 6, 5, 4, 3, 2, 1}, 7},
	} {
		t.Run(fmt.Sprint(tc.prios, tc.withdraw), func(t *testing.T) {
			s := New(Options{})
			defer s.Close()
			fx := &core.Effects{}
			for i, p := range tc.prios {
				fx.Enqueue = append(fx.Enqueue, &core.Task{ID: fmt.Sprint("t", i), JobID: "j", Type: "a", Priority: p})
			}
			if err := s.CreateJob(ctx, store.CommitParams{Job: &core.Job{ID: "j", Blueprint: "b"}, Effects: fx}); err != nil {
				t.Fatal(err)
			}
			if ok, err := s.WithdrawIfQueued(ctx, fmt.Sprint("t", tc.withdraw)); !ok || err != nil {
				t.Fatalf("withdraw: %v %v", ok, err)
			}
			var got []float64
			for {
				task, err := s.Lease(ctx, store.LeaseParams{WorkerID: "w", Types: []string{"a"}, Now: time.Unix(1, 0)})
				if err != nil {
					t.Fatal(err)
				}
				if task == nil {
					break
				}
				got = append(got, task.Priority)
			}
			want := append([]float64(nil), tc.prios[:tc.withdraw]...)
			want = append(want, tc.prios[tc.withdraw+1:]...)
			slices.Sort(want)
			slices.Reverse(want)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("leased in order %v, want %v", got, want)
			}
		})
	}
}

// Timers due at the same instant are claimed in the order of their ids.
func TestTimersSameInstantByID(t *testing.T) {
	ctx := context.Background()
	s := New(Options{})
	defer s.Close()
	at := time.Unix(100, 0)
	var timers []core.Timer
	for _, id := range []string{"c", "a", "d", "b"} {
		timers = append(timers, core.Timer{ID: id, JobID: "j", At: at})
	}
	if err := s.CreateJob(ctx, store.CommitParams{Job: &core.Job{ID: "j", Blueprint: "b"},
		Effects: &core.Effects{Timers: timers}}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for range timers {
		ts, err := s.ClaimDueTimers(ctx, at, 1)
		if err != nil || len(ts) != 1 {
			t.Fatalf("claim: %v %v", ts, err)
		}
		got = append(got, ts[0].ID)
	}
	if fmt.Sprint(got) != "[a b c d]" {
		t.Errorf("claimed in order %v, want [a b c d]", got)
	}
}

// Stats counts each job under its current status, moving it on commit.
func TestStatsFollowStatus(t *testing.T) {
	ctx := context.Background()
	s := New(Options{})
	defer s.Close()
	for _, id := range []string{"a", "b"} {
		if err := s.CreateJob(ctx, store.CommitParams{Job: &core.Job{ID: id, Blueprint: "b", Status: wire.StatusPending}}); err != nil {
			t.Fatal(err)
		}
	}
	j, _ := s.GetJob(ctx, "a")
	j.Status = wire.StatusRunning
	if _, err := s.CommitIfVersion(ctx, store.CommitParams{Job: j, ExpectRev: j.Rev}); err != nil {
		t.Fatal(err)
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[wire.JobStatus]int{wire.StatusPending: 1, wire.StatusRunning: 1}
	if st.Jobs != 2 || fmt.Sprint(st.JobsByStatus) != fmt.Sprint(want) {
		t.Errorf("stats %d jobs, by status %v; want 2, %v", st.Jobs, st.JobsByStatus, want)
	}
}

// A commit naming the same new task or child job twice is refused, and
// changes nothing.
func TestCommitDuplicateIDs(t *testing.T) {
	ctx := context.Background()
	task := func(id string) *core.Task { return &core.Task{ID: id, JobID: "j", Type: "a"} }
	child := func(id string) *core.Job { return &core.Job{ID: id, Blueprint: "b"} }
	for _, tc := range []struct {
		name string
		fx   core.Effects
	}{
		{"two tasks", core.Effects{Enqueue: []*core.Task{task("t"), task("t")}}},
		{"a task among three", core.Effects{Enqueue: []*core.Task{task("t"), task("u"), task("t")}}},
		{"two children", core.Effects{StartChild: []*core.Job{child("c"), child("c")}}},
		{"two children and a task", core.Effects{Enqueue: []*core.Task{task("t")}, StartChild: []*core.Job{child("c"), child("c")}}},
		{"two tasks and a child", core.Effects{Enqueue: []*core.Task{task("t"), task("t")}, StartChild: []*core.Job{child("c")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(Options{})
			defer s.Close()
			err := s.CreateJob(ctx, store.CommitParams{Job: &core.Job{ID: "j", Blueprint: "b"}, Effects: &tc.fx})
			if !errors.Is(err, store.ErrExists) {
				t.Errorf("create: %v, want ErrExists", err)
			}
			if st, _ := s.Stats(ctx); st.Jobs != 0 || st.Queued != 0 {
				t.Errorf("after a refused create: %d jobs, %d queued", st.Jobs, st.Queued)
			}
		})
	}
}
