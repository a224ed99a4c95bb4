package memstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/internal/uuid"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/google/go-cmp/cmp"
)

var codecZone = time.FixedZone("X", 3*3600)

// codecValues are JSON values of every Go type the memory codec keeps.
func codecValues(n int) map[string]any {
	return map[string]any{
		"float": float64(n) + 0.25, "int-float": float64(n), "neg-zero": math.Copysign(0, -1), "big": 1e300,
		"huge-int": float64(1 << 60), "int": n, "int64": int64(-n), "str": fmt.Sprint("v", n), "empty": "",
		"true": true, "false": false, "nil": nil, "list": []any{1.0, "x", nil, []any{}}, "nil-list": []any(nil),
		"map": map[string]any{"a": map[string]any{}}, "nil-map": map[string]any(nil), "strings": []string{"a", ""},
		"nil-strings": []string(nil), "maps": map[string]map[string]any{"s": {"k": 1.0}, "nil": nil},
		"nil-maps": map[string]map[string]any(nil),
		"uuid":     "0b6f2c7e-8f55-4a5e-9d3a-0c6d1e2f3a4b", "task-uuid": "task-0b6f2c7e-8f55-4a5e-9d3a-0c6d1e2f3a4b",
		"upper-uuid":                           "0B6F2C7E-8F55-4A5E-9D3A-0C6D1E2F3A4B",
		"0b6f2c7e-8f55-4a5e-9d3a-0c6d1e2f3a4b": "a UUID as a key",
	}
}

// codecTime is the n-th of a set of times of every kind the codec keeps.
func codecTime(n int) time.Time {
	t := time.Date(2026, 3, 4, 5, 6, 7, n, time.UTC)
	switch n % 6 {
	case 1:
		return t.In(time.Local)
	case 2:
		return t.In(codecZone)
	case 3:
		return time.Date(3000, 1, 2, 3, 4, 5, n, time.UTC) // past the range of nanoseconds
	case 4:
		return time.Date(1, 1, 1, 0, 0, 0, n, codecZone)
	case 5:
		return time.Time{}.In(time.Local) // zero, not in UTC
	}
	return t
}

// fillValue sets every field reachable from v to a value that is not
// zero; n makes the values differ. Job.Tasks is filled by the caller.
func fillValue(t *testing.T, v reflect.Value, n *int) {
	t.Helper()
	*n++
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fillValue(t, v.Elem(), n)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(codecTime(*n)))
			return
		}
		if v.Type() == reflect.TypeFor[core.TaskRefs]() {
			return // fillRefs
		}
		for i := range v.NumField() {
			if !v.Field(i).CanSet() {
				t.Fatalf("%s.%s: cannot fill an unexported field", v.Type(), v.Type().Field(i).Name)
			}
			fillValue(t, v.Field(i), n)
		}
	case reflect.String:
		v.SetString(fmt.Sprint("s", *n))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(*n) * 1_000_001)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(*n) + 0.5)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 3, 3)
		for i := range 3 {
			if i != 1 || v.Type().Elem().Kind() != reflect.Pointer { // leave a nil in slices of pointers
				fillValue(t, s.Index(i), n)
			}
		}
		v.Set(s)
	case reflect.Map:
		if v.Type() == reflect.TypeFor[map[string]any]() {
			v.Set(reflect.ValueOf(codecValues(*n)))
			return
		}
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fillValue(t, k, n)
		fillValue(t, e, n)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Interface:
		v.Set(reflect.ValueOf(codecValues(*n)))
	default:
		t.Fatalf("fill: no value for kind %s (%s)", v.Kind(), v.Type())
	}
}

// eachField calls check with a T holding only that field, for each
// field of T, then with a T holding every field. special fills the
// fields fillValue cannot and reports whether it did.
func eachField[T any](t *testing.T, check func(*testing.T, *T), special func(*T, string, *int) bool) {
	var all T
	n := 0
	typ := reflect.TypeFor[T]()
	set := func(v *T, name string) {
		if special == nil || !special(v, name, &n) {
			fillValue(t, reflect.ValueOf(v).Elem().FieldByName(name), &n)
		}
	}
	for i := range typ.NumField() {
		name := typ.Field(i).Name
		var one T
		set(&one, name)
		set(&all, name)
		t.Run(name, func(t *testing.T) { check(t, &one) })
	}
	t.Run("all", func(t *testing.T) { check(t, &all) })
}

// same fails unless got is want exactly: types of values inside maps,
// nil against empty, time locations.
func same(t *testing.T, want, got any) {
	t.Helper()
	if !reflect.DeepEqual(want, got) {
		t.Errorf("round trip differs (-want +got):\n%s", cmp.Diff(want, got))
	}
}

// jobRecord is j's record without a timeline, as putJob writes it.
func jobRecord(c *memCodec, j *core.Job, rev int64) (rec string, inline, ok bool) {
	body, inline, ok := c.encodeJobBody(j, rev)
	b := appendKey(nil, j.ID)
	b = binary.AppendUvarint(b, uint64(len(body))<<1)
	return string(append(b, body...)), inline, ok
}

func fillRefs(t *testing.T, j *core.Job, count int, n *int) {
	refs := make([]core.TaskRef, count)
	for i := range refs {
		if i != 1 { // one ref all zero
			fillValue(t, reflect.ValueOf(&refs[i]).Elem(), n)
		}
	}
	j.Tasks = core.NewTaskRefs(refs...)
}

// Every field of a job, a task ref, a task and a timeline event survives
// the memory store's encoding exactly, alone and all together: a field
// added to a core type and not to the codec fails here.
func TestMemoryCodecEveryField(t *testing.T) {
	c := newMemCodec()
	jobTasks := func(j *core.Job, name string, n *int) bool {
		if name != "Tasks" {
			return false
		}
		fillRefs(t, j, 3, n)
		return true
	}
	t.Run("Job", func(t *testing.T) {
		eachField(t, func(t *testing.T, j *core.Job) {
			rec, inline, ok := jobRecord(c, j, j.Rev)
			if !ok || !inline {
				t.Fatalf("encode: ok %v, refs inline %v", ok, inline)
			}
			got := c.decodeJob(rec, "")
			same(t, j, got)
			if rev, st := c.jobHead(rec); rev != j.Rev || st != j.Status {
				t.Errorf("head: rev %d status %q, want %d %q", rev, st, j.Rev, j.Status)
			}
			if j.ID != "" {
				same(t, j, c.decodeJob(rec, j.ID))
			}
		}, jobTasks)
	})
	t.Run("TaskRef", func(t *testing.T) {
		eachField(t, func(t *testing.T, r *core.TaskRef) {
			j := &core.Job{ID: "j", Tasks: core.NewTaskRefs(*r, core.TaskRef{}, *r)}
			rec, _, _ := jobRecord(c, j, 0)
			same(t, j, c.decodeJob(rec, ""))
		}, nil)
	})
	t.Run("Task", func(t *testing.T) {
		eachField(t, func(t *testing.T, tk *core.Task) {
			rec, ok := c.encodeTask(tk)
			if !ok {
				t.Fatal("encode failed")
			}
			same(t, tk, c.decodeTask(rec, tk.Worker))
			if !c.taskJobIs(rec, tk.JobID, noJob) || c.taskJobIs(rec, tk.JobID+"x", noJob) {
				t.Error("taskJobIs")
			}
			if c.taskID(rec) != tk.ID {
				t.Error("taskID")
			}
			// A lease set and cleared in place.
			at, until := codecTime(2), codecTime(3)
			leased := *tk
			leased.LeasedAt, leased.LeaseUntil = at, until
			same(t, &leased, c.decodeTask(c.setLease(rec, at, until), tk.Worker))
			cleared := *tk
			cleared.LeasedAt, cleared.LeaseUntil = time.Time{}, time.Time{}
			back := c.setLease(c.setLease(rec, at, until), time.Time{}, time.Time{})
			same(t, &cleared, c.decodeTask(back, tk.Worker))
			if plain, _ := c.encodeTask(&cleared); len(back) != len(plain) { // maps encode in any order
				t.Errorf("a lease cleared leaves %q, want %q", back, plain)
			}
		}, nil)
	})
	t.Run("TimelineEvent", func(t *testing.T) {
		eachField(t, func(t *testing.T, e *core.TimelineEvent) {
			// Alone, then second in a commit (its time relative to the
			// first), then first of the next commit.
			tl, ok := c.appendEvent(nil, e, nil)
			prev := core.TimelineEvent{At: codecTime(7), Type: "x"}
			tl2, ok2 := c.appendEvent(nil, &prev, nil)
			tl2, ok3 := c.appendEvent(tl2, e, &prev)
			tl2, ok4 := c.appendEvent(tl2, e, nil)
			if !ok || !ok2 || !ok3 || !ok4 {
				t.Fatal("encode failed")
			}
			same(t, []core.TimelineEvent{*e}, c.decodeTimeline(string(tl)))
			same(t, []core.TimelineEvent{prev, *e, *e}, c.decodeTimeline(string(tl2)))
		}, nil)
	})
}

// A job, its timeline and its task come out of the store as they went
// in, every field set, through the store's own API: the refs of a job
// waiting on many tasks too, and a task through its lease.
func TestMemoryRoundTripThroughStore(t *testing.T) {
	ctx := context.Background()
	for _, nrefs := range []int{1, maxInlineRefs, maxInlineRefs + 3, 100} {
		t.Run(fmt.Sprint(nrefs, " refs"), func(t *testing.T) {
			m := New(Options{})
			defer m.Close()
			n := 0
			var j core.Job
			fillValue(t, reflect.ValueOf(&j).Elem(), &n)
			fillRefs(t, &j, nrefs, &n)
			var e1, e2 core.TimelineEvent
			fillValue(t, reflect.ValueOf(&e1).Elem(), &n)
			fillValue(t, reflect.ValueOf(&e2).Elem(), &n)
			var tk core.Task
			fillValue(t, reflect.ValueOf(&tk).Elem(), &n)
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
			same(t, &want, got)
			lst, _ := m.ListJobs(ctx, store.ListParams{Client: j.Client.Name})
			if len(lst) != 1 {
				t.Fatalf("ListJobs: %d jobs", len(lst))
			}
			same(t, &want, lst[0])
			tl, _ := m.Timeline(ctx, j.ID)
			same(t, []core.TimelineEvent{e1, e2}, tl)
			info, _ := m.Task(ctx, tk.ID)
			same(t, &tk, info.Task)

			// Commit again: the stored rev and status move, a second
			// commit's events follow the first's.
			got.Status = core.StatusRunning
			if rev, err := m.CommitIfVersion(ctx, store.CommitParams{Job: got, ExpectRev: 1,
				Effects: &core.Effects{Timeline: []core.TimelineEvent{e2}}}); err != nil || rev != 2 {
				t.Fatalf("commit: rev %d, %v", rev, err)
			}
			want.Rev, want.Status = 2, core.StatusRunning
			again, _ := m.GetJob(ctx, j.ID)
			same(t, &want, again)
			tl, _ = m.Timeline(ctx, j.ID)
			same(t, []core.TimelineEvent{e1, e2, e2}, tl)

			now := time.Date(2026, 5, 6, 7, 8, 9, 10, time.UTC)
			leased, err := m.Lease(ctx, store.LeaseParams{WorkerID: "w", Types: []string{tk.Type}, Now: now})
			if err != nil || leased == nil {
				t.Fatalf("lease: %v %v", leased, err)
			}
			wantTask := tk
			wantTask.Worker, wantTask.LeasedAt, wantTask.LeaseUntil = "w", now, now.Add(tk.Timeout)
			same(t, &wantTask, leased)
			info, _ = m.Task(ctx, tk.ID)
			same(t, &wantTask, info.Task)
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
	j := &core.Job{ID: "j", Status: core.StatusPending, Input: map[string]any{"t": at, "n": int32(3)}, CreatedAt: at}
	tk := &core.Task{ID: "t", JobID: "j", Type: "a", Params: map[string]any{"o": &opaque{A: []int{2}}}, EnqueuedAt: at}
	if err := m.CreateJob(ctx, store.CommitParams{Job: j, Effects: &core.Effects{
		Timeline: []core.TimelineEvent{enc, odd, enc}, Enqueue: []*core.Task{tk}}}); err != nil {
		t.Fatal(err)
	}
	got, _ := m.GetJob(ctx, "j")
	want := *j
	want.Rev = 1
	same(t, &want, got)
	got.Input["n"] = 4 // a copy: the stored job is unchanged
	again, _ := m.GetJob(ctx, "j")
	same(t, &want, again)

	tl, _ := m.Timeline(ctx, "j")
	same(t, []core.TimelineEvent{enc, odd, enc}, tl)
	if _, err := m.CommitIfVersion(ctx, store.CommitParams{Job: again, ExpectRev: 1,
		Effects: &core.Effects{Timeline: []core.TimelineEvent{enc}}}); err != nil {
		t.Fatal(err)
	}
	tl, _ = m.Timeline(ctx, "j")
	same(t, []core.TimelineEvent{enc, odd, enc, enc}, tl)

	// The job's values encode again: it goes back to its record.
	again.Input = map[string]any{"n": 5.0}
	if _, err := m.CommitIfVersion(ctx, store.CommitParams{Job: again, ExpectRev: 2}); err != nil {
		t.Fatal(err)
	}
	want.Rev, want.Input = 3, map[string]any{"n": 5.0}
	final, _ := m.GetJob(ctx, "j")
	same(t, &want, final)
	if s := m.view(0); s.ext == nil || s.ext.job != nil || !s.ext.goTL {
		t.Errorf("the job is not back in its record: %+v", s)
	}

	leased, _ := m.Lease(ctx, store.LeaseParams{WorkerID: "w", Types: []string{"a"}, Now: at})
	wantTask := *tk
	wantTask.Worker, wantTask.LeasedAt = "w", at
	same(t, &wantTask, leased)
	info, _ := m.Task(ctx, "t")
	same(t, &wantTask, info.Task)
	if info.State != store.TaskLeased {
		t.Errorf("state %s", info.State)
	}
}

// Times keep their instant and location; a monotonic clock reading is
// not kept (the instant is).
func TestMemoryCodecTimes(t *testing.T) {
	c := newMemCodec()
	now := time.Now()
	for _, tm := range []time.Time{now, now.UTC(), now.In(codecZone), {}, time.Unix(0, 0), time.Unix(-1, 5),
		time.Date(1600, 1, 1, 0, 0, 0, 1, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.Local)} {
		for _, base := range []int64{0, now.UnixNano(), -now.UnixNano()} {
			w := wbuf{c: c}
			w.time(tm, base)
			r := rbuf{s: string(w.b), c: c}
			got := r.time(base)
			if !got.Equal(tm) || got.Location() != tm.Location() || r.p != len(r.s) {
				t.Errorf("%v (base %d): got %v in %v", tm, base, got, got.Location())
			}
			if want := tm.Round(0); got != want {
				t.Errorf("%v (base %d): got %#v, want %#v", tm, base, got, want)
			}
		}
	}
}

// Names are interned up to a limit; past it they are written out.
func TestMemoryCodecSymbols(t *testing.T) {
	c := newMemCodec()
	w := wbuf{c: c}
	for i := range maxSyms + 10 {
		w.sym(fmt.Sprint("name-", i))
	}
	w.sym("0b6f2c7e-8f55-4a5e-9d3a-0c6d1e2f3a4b")
	w.sym("task-0b6f2c7e-8f55-4a5e-9d3a-0c6d1e2f3a4b")
	if len(c.syms) != maxSyms {
		t.Errorf("%d names interned, want %d", len(c.syms), maxSyms)
	}
	r := rbuf{s: string(w.b), c: c}
	for i := range maxSyms + 10 {
		if s := r.str(); s != fmt.Sprint("name-", i) {
			t.Fatalf("name %d read as %q", i, s)
		}
	}
	if s := r.str(); s != "0b6f2c7e-8f55-4a5e-9d3a-0c6d1e2f3a4b" {
		t.Errorf("UUID read as %q", s)
	}
	if s := r.str(); s != "task-0b6f2c7e-8f55-4a5e-9d3a-0c6d1e2f3a4b" {
		t.Errorf("task id read as %q", s)
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
			j := &core.Job{ID: jid, Status: core.StatusWaitingForWorker, Tasks: core.NewTaskRefs(refs...), CreatedAt: at}
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
			same(t, &want, got)
			tl, _ := m.Timeline(ctx, jid)
			same(t, evs, tl)
			if u, _ := uuid.Parse(tids[1]); strings.Contains(m.jobRec(uint32(m.jobs.n-1)), string(u[:])) {
				t.Error("the job's record holds the id of a task the store has")
			}
			for _, tk := range enq {
				info, err := m.Task(ctx, tk.ID)
				if err != nil {
					t.Fatal(err)
				}
				same(t, tk, info.Task)
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
			same(t, &want, got)
			tl, _ = m.Timeline(ctx, jid)
			same(t, append(evs, evs2...), tl)
			wantChild := *child
			wantChild.Rev = 1
			gotChild, _ := m.GetJob(ctx, child.ID)
			same(t, &wantChild, gotChild)
			// And commits the child again: its parent is a number now.
			if _, err := m.CommitIfVersion(ctx, store.CommitParams{Job: gotChild, ExpectRev: 1}); err != nil {
				t.Fatal(err)
			}
			wantChild.Rev = 2
			gotChild, _ = m.GetJob(ctx, child.ID)
			same(t, &wantChild, gotChild)
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
			same(t, want, tl)
		}
	}
	tl, _ := m.Timeline(ctx, id)
	same(t, want, tl)
}
