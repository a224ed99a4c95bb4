package redisstore

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// Every field of a job and a task survives the compact encoding, including
// zero values inside user data and fields the encoding does not know.
func TestCodecRoundTrip(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 89, time.UTC)
	cost := 0.5
	j := &core.Job{ID: "j", Blueprint: "b", Version: "v", Rev: 7, State: "s", Status: wire.StatusRunning,
		Input:   map[string]any{"zero": 0.0, "empty": "", "no": false, "nil": nil, "list": []any{0.0}},
		History: map[string]any{"a": map[string]any{}}, Result: &core.Result{Status: "success", Data: map[string]any{"x": 1.0}},
		Results: []*core.Result{{Status: "failure", Error: &wire.Error{Code: "E", Message: "m"}}},
		Client:  core.Client{Name: "c", Plan: "p", Fields: map[string]any{"k": "v"}},
		Tasks: core.NewTaskRefs([]core.TaskRef{{ID: "t", Attempt: 2}, {ID: "u", Type: "a", Branch: 1, Attempt: 1, Timer: "tm",
			Result: &core.Result{Status: "success"}}}...), BranchesDone: 1, ApprovalMessage: "ok?", Child: "ch", Parent: &core.ParentRef{JobID: "p", State: "st"},
		Timer: "tm", Error: &wire.Error{Code: "C", Message: "M"}, Steps: 3, WebhookURL: "http://h",
		Metadata: map[string]any{"m": 1.0}, Security: map[string]any{}, DispatchTimeout: time.Second, ResultTimeout: time.Minute,
		Progress: 0.5, ProgressMessage: "half", CreatedAt: at, UpdatedAt: at.Add(time.Second), FinishedAt: at.Add(time.Hour)}
	d, err := encodeJob(j)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeJob("j", d, "7", statusCode(j.Status), versionPair("v", "b"), base(j.CreatedAt))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(j, got); diff != "" {
		t.Errorf("job round trip (-want +got):\n%s\nstored: %s", diff, d)
	}
	tk := &core.Task{ID: "t", JobID: "j", Type: "a", Params: map[string]any{"z": 0.0}, Priority: -1.5, Branch: 2, Attempt: 3,
		Timeout: time.Minute, DispatchTimeout: time.Second, Strategy: "cheapest", Requires: map[string]any{"gpu": "a100"},
		MaxCost: &cost, Metadata: map[string]any{"m": "x"}, Security: "s", TracingContext: map[string]any{"traceparent": "00"},
		EnqueuedAt: at}
	d, to, err := encodeTask(tk, at.UnixNano())
	if err != nil {
		t.Fatal(err)
	}
	gt, err := decodeTask(d, "t", "j", "a", base(at), to)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tk, gt); diff != "" {
		t.Errorf("task round trip (-want +got):\n%s\nstored: %s", diff, d)
	}
	if _, err := decodeTask(`{"??":1}`, "t", "j", "a", "", ""); err == nil {
		t.Error("a stored task with an unknown short field decoded without error")
	}
}

// Timeline times are offsets from the job's creation time; a "@" line
// sets the base for the lines after it, and a zero base keeps absolute
// times.
func TestTimelineRoundTrip(t *testing.T) {
	c0 := time.Date(2026, 3, 4, 5, 6, 7, 89, time.UTC)
	c1 := c0.Add(-time.Hour)
	evs := []core.TimelineEvent{
		{At: c0, Type: "created"},
		{At: c0.Add(-time.Nanosecond), Type: "state_entered", State: "s", NextState: "s"},
		{At: c0.Add(-time.Nanosecond), Type: "task_enqueued", TaskID: "t", Attempt: 1, Detail: map[string]any{"type": "a"}},
		{At: c0.Add(time.Second), Type: "custom_type", WorkerID: "w"},
		{Type: "no_time"},
	}
	// line encodes event i as the first of its commit when first is set,
	// else after event i-1.
	line := func(i int, b time.Time, first bool) string {
		var n int64
		if !b.IsZero() {
			n = b.UnixNano()
		}
		var prev *time.Time
		if !first {
			prev = &evs[i-1].At
		}
		s, err := encodeEvent(evs[i], n, prev)
		if err != nil {
			t.Fatal(err)
		}
		return s + "\n"
	}
	for _, tc := range []struct {
		name, created, lines string
	}{
		{"one commit", base(c0), line(0, c0, true) + line(1, c0, false) + line(2, c0, false) + line(3, c0, false) + line(4, c0, false)},
		{"commit each", base(c0), line(0, c0, true) + line(1, c0, true) + line(2, c0, true) + line(3, c0, true) + line(4, c0, true)},
		{"base changed", base(c1), "@" + base(c0) + "\n" + line(0, c0, true) + line(1, c0, false) + line(2, c0, false) +
			"@" + base(c1) + "\n" + line(3, c1, true) + line(4, c1, false)},
		{"zero base", "", line(0, time.Time{}, true) + line(1, time.Time{}, false) + line(2, time.Time{}, false) +
			line(3, time.Time{}, false) + line(4, time.Time{}, false)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeTimeline(tc.created, tc.lines)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(evs, got); diff != "" {
				t.Errorf("timeline round trip (-want +got):\n%s\nstored: %s", diff, tc.lines)
			}
		})
	}
}

// Known statuses are stored as numbers, others by name; both come back.
func TestStatusCodes(t *testing.T) {
	for _, st := range append(slices.Clone(statuses), "custom", "7", "~x") {
		if got := statusName(statusCode(st)); got != st {
			t.Errorf("status %q stored as %q came back as %q", st, statusCode(st), got)
		}
	}
}

// fill sets every field reachable from v to a value that is not zero and
// survives JSON; n makes the values differ. Job.Tasks is not reached this
// way: callers fill it through setJobRefs.
func fill(t *testing.T, v reflect.Value, n *int) {
	t.Helper()
	*n++
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(t, v.Elem(), n)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2026, 3, 4, 5, 6, 7, *n, time.UTC)))
			return
		}
		for i := range v.NumField() {
			if !v.Field(i).CanSet() {
				t.Fatalf("%s.%s: cannot fill an unexported field", v.Type(), v.Type().Field(i).Name)
			}
			fill(t, v.Field(i), n)
		}
	case reflect.String:
		v.SetString(fmt.Sprint("s", *n))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(*n) + 0.5)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(t, s.Index(i), n)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(t, k, n)
		fill(t, e, n)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Interface: // JSON gives back maps of float64, strings, ...
		v.Set(reflect.ValueOf(map[string]any{"k": fmt.Sprint("v", *n), "zero": 0.0, "list": []any{float64(*n)}}))
	default:
		t.Fatalf("fill: no value for kind %s (%s)", v.Kind(), v.Type())
	}
}

// fields round-trips, for each field of T, a T with only that field set,
// then one with every field set, each through wrap (which makes the value
// the codec stores). special fills the fields fill cannot reach and
// reports whether it did.
func fields[T any](t *testing.T, wrap func(*T) any, special func(*T, string, *int) bool) {
	var all T
	n := 0
	typ := reflect.TypeFor[T]()
	set := func(v *T, name string) {
		if special == nil || !special(v, name, &n) {
			fill(t, reflect.ValueOf(v).Elem().FieldByName(name), &n)
		}
	}
	for i := range typ.NumField() {
		name := typ.Field(i).Name
		var one T
		set(&one, name)
		set(&all, name)
		t.Run(name, func(t *testing.T) { roundTrip(t, wrap(&one)) })
	}
	t.Run("all", func(t *testing.T) { roundTrip(t, wrap(&all)) })
}

func roundTrip(t *testing.T, v any) {
	t.Helper()
	var got, want any
	var stored string
	switch x := v.(type) {
	case *core.Job:
		d, err := encodeJob(x)
		if err != nil {
			t.Fatal(err)
		}
		j, err := decodeJob(x.ID, d, strconv.FormatInt(x.Rev, 10), statusCode(x.Status), versionPair(x.Version, x.Blueprint), base(x.CreatedAt))
		if err != nil {
			t.Fatalf("%v\nstored: %s", err, d)
		}
		got, want, stored = j, x, d
	case *core.Task:
		created := x.EnqueuedAt.Add(-time.Hour)
		d, to, err := encodeTask(x, created.UnixNano())
		if err != nil {
			t.Fatal(err)
		}
		tk, err := decodeTask(d, x.ID, x.JobID, x.Type, base(created), to)
		if err != nil {
			t.Fatalf("%v\nstored: %s", err, d)
		}
		// The task's record keeps these beside the JSON (see lib.lua).
		w := *x
		w.Worker, w.LeasedAt, w.LeaseUntil = "", time.Time{}, time.Time{}
		got, want, stored = tk, &w, d
	case *core.TimelineEvent:
		for _, created := range []time.Time{{}, x.At.Add(-time.Hour)} {
			b, _ := parseBase(base(created))
			line, err := encodeEvent(*x, b, nil)
			if err != nil {
				t.Fatal(err)
			}
			evs, err := decodeTimeline(base(created), line+"\n")
			if err != nil {
				t.Fatalf("%v\nstored: %s", err, line)
			}
			if len(evs) != 1 {
				t.Fatalf("%d events from %q", len(evs), line)
			}
			if diff := cmp.Diff(x, &evs[0]); diff != "" {
				t.Errorf("round trip, job created at %v (-want +got):\n%s\nstored: %s", created, diff, line)
			}
		}
		return
	default:
		t.Fatalf("roundTrip: %T", v)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s\nstored: %s", diff, stored)
	}
}

// Every field of a job, a task ref, a task and a timeline event survives
// the stored encoding, alone and all together: a field added to a core
// type and not to its stored struct fails here. The task fields its
// record keeps beside the JSON are the exceptions named in roundTrip.
func TestCodecEveryField(t *testing.T) {
	t.Run("Job", func(t *testing.T) {
		fields(t, func(j *core.Job) any { return j }, func(j *core.Job, name string, n *int) bool {
			if name != "Tasks" {
				return false
			}
			var refs []core.TaskRef
			fill(t, reflect.ValueOf(&refs).Elem(), n)
			setJobRefs(j, refs)
			return true
		})
	})
	t.Run("TaskRef", func(t *testing.T) {
		fields(t, func(r *core.TaskRef) any {
			j := &core.Job{ID: "j"}
			setJobRefs(j, []core.TaskRef{*r, {}, *r})
			return j
		}, nil)
	})
	t.Run("Task", func(t *testing.T) { fields(t, func(tk *core.Task) any { return tk }, nil) })
	t.Run("TimelineEvent", func(t *testing.T) { fields(t, func(e *core.TimelineEvent) any { return e }, nil) })
}

// The stored form of a job as the engine creates it for a one-task
// blueprint: its JSON, its task's JSON and its timeline lines.
func TestCodecStoredForm(t *testing.T) {
	ct := time.Unix(0, 1796409199269116901).UTC()
	at := ct.Add(26520)
	const jid, tid = "217e55ac-0c1d-45cc-abf7-d6cf0580718a", "task-9891baf0-9922-4fe1-a402-39b338cbecdf"
	j := &core.Job{ID: jid, Blueprint: "bench", Version: "v", Rev: 1, State: "work", Status: wire.StatusWaitingForWorker,
		Input: map[string]any{"n": 1.0}, Steps: 1, CreatedAt: ct, UpdatedAt: at}
	setJobRefs(j, []core.TaskRef{{ID: tid, Type: "noop", Attempt: 1}})
	tk := &core.Task{ID: tid, JobID: jid, Type: "noop", Attempt: 1, Timeout: 300 * time.Second, EnqueuedAt: at}
	evs := []core.TimelineEvent{{At: at, Type: "created"}, {At: at, Type: "state_entered", State: "work", NextState: "work"},
		{At: at, Type: "task_enqueued", State: "work", TaskID: tid, Attempt: 1, Detail: map[string]any{"branch": 0.0, "type": "noop"}},
		{At: at.Add(time.Second), Type: "custom|type", WorkerID: "w%1\n"}, {Type: "zero"}}
	d, err := encodeJob(j)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"s":"work","in":{"n":1},"t":[{"i":"mJG68JkiT-GkAjmzOMvs3w","y":"noop","a":1}],"n":1,"ua":26520}`; d != want {
		t.Errorf("job JSON\n got %s\nwant %s", d, want)
	}
	td, to, err := encodeTask(tk, ct.UnixNano())
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"at":1,"ea":26520}`; td != want || to != "300000000" {
		t.Errorf("task JSON %s, timeout %q; want %s, 300000000", td, to, want)
	}
	var lines strings.Builder
	var prev *time.Time
	for _, e := range evs {
		l, err := encodeEvent(e, ct.UnixNano(), prev)
		if err != nil {
			t.Fatal(err)
		}
		prev = &e.At
		lines.WriteString(l + "\n")
	}
	want := "0|kgo\n1||work||work\n2||work|||mJG68JkiT-GkAjmzOMvs3w||1|#0,noop\n'custom%7Ctype|gje1eg|||||w%251%0A\n'zero|z\n"
	if lines.String() != want {
		t.Errorf("timeline\n got %q\nwant %q", lines.String(), want)
	}
	gj, err := decodeJob(jid, d, "1", statusCode(j.Status), versionPair("v", "bench"), base(ct))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(j, gj); diff != "" {
		t.Errorf("job (-want +got):\n%s", diff)
	}
	gt, err := decodeTask(td, tid, jid, "noop", base(ct), to)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tk, gt); diff != "" {
		t.Errorf("task (-want +got):\n%s", diff)
	}
	ge, err := decodeTimeline(base(ct), lines.String())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(evs, ge); diff != "" {
		t.Errorf("timeline (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"99", "1.5", "x|", "0|!", "0|1|||||||#x", "0|1||||||x", "0|1|||||||{"} {
		if _, err := decodeTimeline(base(ct), bad+"\n"); err == nil {
			t.Errorf("timeline line %q decoded without error", bad)
		}
	}
}

// Canonical UUIDs pack to 22 characters; other ids come back as they were.
func TestPackIDs(t *testing.T) {
	for _, c := range []struct{ id, prefix string }{
		{"217e55ac-0c1d-45cc-abf7-d6cf0580718a", ""}, {"task-217e55ac-0c1d-45cc-abf7-d6cf0580718a", "task-"},
		{"217E55AC-0C1D-45CC-ABF7-D6CF0580718A", ""}, {"217e55ac-0c1d-45cc-abf7-d6cf0580718a", "task-"},
		{"task-217e55ac-0c1d-45cc-abf7-d6cf0580718", "task-"}, {"217e55ac+0c1d-45cc-abf7-d6cf0580718a", ""},
		{"", ""}, {"j1", ""}, {"!", ""}, {"!x", "task-"}, {"mJG68JkiT-GkAjmzOMvs3w", ""}, {"0123456789012345678901", "task-"},
	} {
		p := pack(c.id, c.prefix)
		if got := unpack(p, c.prefix); got != c.id {
			t.Errorf("pack(%q, %q) = %q, unpacked %q", c.id, c.prefix, p, got)
		}
		if uuid := len(c.id) == len(c.prefix)+36 && strings.HasPrefix(c.id, c.prefix) && strings.ToLower(c.id) == c.id &&
			!strings.Contains(c.id, "+"); uuid != (len(p) == packedLen) {
			t.Errorf("pack(%q, %q) = %q (%d characters)", c.id, c.prefix, p, len(p))
		}
	}
}

// benchFanJob is a job waiting on a parallel of 100 branches, half of
// them done with a result.
func benchFanJob() *core.Job {
	at := time.Date(2026, 3, 4, 5, 6, 7, 89, time.UTC)
	refs := make([]core.TaskRef, 100)
	for i := range refs {
		refs[i] = core.TaskRef{ID: fmt.Sprintf("task-%08x-0000-4000-8000-%012x", i, i), Type: "work", Branch: i, Attempt: 1,
			Timer: fmt.Sprintf("dispatch-task-%08x-0000-4000-8000-%012x", i, i)}
		if i%2 == 0 {
			refs[i].Timer = ""
			refs[i].Result = &core.Result{Status: "success", Data: map[string]any{"n": float64(i), "ok": true}}
		}
	}
	j := &core.Job{ID: "0d9c5b5e-4f7e-4c38-9a51-8f1d1e2a3b4c", Blueprint: "fan", Version: "v", Rev: 51, State: "fan",
		Status: wire.StatusWaitingParallel, Input: map[string]any{"n": 100.0}, History: map[string]any{"start": map[string]any{"ok": true}},
		Client: core.Client{Name: "c"}, BranchesDone: 50, Steps: 2, CreatedAt: at, UpdatedAt: at.Add(time.Second)}
	setJobRefs(j, refs)
	return j
}

// BenchmarkEncodeDecodeJob encodes and decodes a job with 100 branches.
func BenchmarkEncodeDecodeJob(b *testing.B) {
	j := benchFanJob()
	b.ReportAllocs()
	for b.Loop() {
		d, err := encodeJob(j)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := decodeJob(j.ID, d, "51", statusCode(j.Status), versionPair(j.Version, j.Blueprint), base(j.CreatedAt)); err != nil {
			b.Fatal(err)
		}
	}
}
