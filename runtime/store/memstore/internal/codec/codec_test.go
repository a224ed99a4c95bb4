package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store/memstore/internal/codectest"
)

// jobRecord is j's record without a timeline, as the store writes it,
// with the numbers refs for the ids j names.
func jobRecord(t *testing.T, c *Codec, j *core.Job, rev int64, refs JobRefs) (rec string, inline bool) {
	t.Helper()
	body, inline, err := c.EncodeJobBody(j, rev, &refs)
	if err != nil {
		t.Fatal(err)
	}
	b := AppendKey(nil, j.ID)
	b = binary.AppendUvarint(b, uint64(len(body))<<1)
	return string(append(b, body...)), inline
}

// decodeJob decodes a record that names nothing by number.
func decodeJob(t *testing.T, c *Codec, rec, id string) *core.Job {
	t.Helper()
	var d DecodedJob
	c.DecodeJob(rec, id, &d)
	if d.Refs != NoRefs() {
		t.Errorf("numbers %+v in a record that holds none", d.Refs)
	}
	if d.NTasks > 0 {
		d.Job.Tasks = core.NewTaskRefs(d.Tasks[:d.NTasks]...)
	}
	return d.Job
}

func encodeTask(t *testing.T, c *Codec, tk *core.Task, job uint32) string {
	t.Helper()
	rec, err := c.EncodeTask(tk, job)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func decodeTask(t *testing.T, c *Codec, rec, worker string) *core.Task {
	t.Helper()
	tk, job := c.DecodeTask(rec, worker)
	if job != None {
		t.Errorf("job number %d in a record that holds none", job)
	}
	return tk
}

func appendEvent(t *testing.T, c *Codec, tl []byte, e, prev *core.TimelineEvent) []byte {
	t.Helper()
	tl, err := c.AppendEvent(tl, e, prev, None)
	if err != nil {
		t.Fatal(err)
	}
	return tl
}

func decodeTimeline(t *testing.T, c *Codec, tl []byte) []core.TimelineEvent {
	t.Helper()
	evs, refs := c.DecodeTimeline(string(tl), nil)
	if len(refs) > 0 {
		t.Errorf("task numbers %v in a timeline that holds none", refs)
	}
	return evs
}

// Every field of a job, a task ref, a task and a timeline event survives
// the encoding exactly, alone and all together: a field added to a core
// type and not to the codec fails here.
func TestEveryField(t *testing.T) {
	c := New()
	jobTasks := func(j *core.Job, name string, n *int) bool {
		if name != "Tasks" {
			return false
		}
		codectest.FillRefs(t, j, 3, n)
		return true
	}
	t.Run("Job", func(t *testing.T) {
		codectest.EachField(t, func(t *testing.T, j *core.Job) {
			rec, inline := jobRecord(t, c, j, j.Rev, NoRefs())
			if !inline {
				t.Fatal("refs not inline")
			}
			codectest.Same(t, j, decodeJob(t, c, rec, ""))
			if rev, st := c.JobHead(rec); rev != j.Rev || st != j.Status {
				t.Errorf("head: rev %d status %q, want %d %q", rev, st, j.Rev, j.Status)
			}
			if j.ID != "" {
				codectest.Same(t, j, decodeJob(t, c, rec, j.ID))
				if Key(rec) != j.ID {
					t.Errorf("key %q", Key(rec))
				}
			}
		}, jobTasks)
	})
	t.Run("TaskRef", func(t *testing.T) {
		codectest.EachField(t, func(t *testing.T, r *core.TaskRef) {
			j := &core.Job{ID: "j", Tasks: core.NewTaskRefs(*r, core.TaskRef{}, *r)}
			rec, _ := jobRecord(t, c, j, 0, NoRefs())
			codectest.Same(t, j, decodeJob(t, c, rec, ""))
		}, nil)
	})
	t.Run("Task", func(t *testing.T) {
		codectest.EachField(t, func(t *testing.T, tk *core.Task) {
			rec := encodeTask(t, c, tk, None)
			codectest.Same(t, tk, decodeTask(t, c, rec, tk.Worker))
			if !c.TaskJobIs(rec, tk.JobID, None) || c.TaskJobIs(rec, tk.JobID+"x", None) {
				t.Error("TaskJobIs")
			}
			if Key(rec) != tk.ID {
				t.Error("Key")
			}
			// A lease set and cleared in place.
			at, until := codectest.Time(2), codectest.Time(3)
			leased := *tk
			leased.LeasedAt, leased.LeaseUntil = at, until
			codectest.Same(t, &leased, decodeTask(t, c, c.SetLease(rec, at, until), tk.Worker))
			cleared := *tk
			cleared.LeasedAt, cleared.LeaseUntil = time.Time{}, time.Time{}
			back := c.SetLease(c.SetLease(rec, at, until), time.Time{}, time.Time{})
			codectest.Same(t, &cleared, decodeTask(t, c, back, tk.Worker))
			if plain := encodeTask(t, c, &cleared, None); len(back) != len(plain) { // maps encode in any order
				t.Errorf("a lease cleared leaves %q, want %q", back, plain)
			}
		}, nil)
	})
	t.Run("TimelineEvent", func(t *testing.T) {
		codectest.EachField(t, func(t *testing.T, e *core.TimelineEvent) {
			// Alone, then second in a commit (its time relative to the
			// first), then first of the next commit.
			tl := appendEvent(t, c, nil, e, nil)
			prev := core.TimelineEvent{At: codectest.Time(7), Type: "x"}
			tl2 := appendEvent(t, c, nil, &prev, nil)
			tl2 = appendEvent(t, c, tl2, e, &prev)
			tl2 = appendEvent(t, c, tl2, e, nil)
			codectest.Same(t, []core.TimelineEvent{*e}, decodeTimeline(t, c, tl))
			codectest.Same(t, []core.TimelineEvent{prev, *e, *e}, decodeTimeline(t, c, tl2))
		}, nil)
	})
}

// The numbers the store gives for ids come back as numbers, their ids
// left empty, and take a few bytes where the ids would take more.
func TestNumbers(t *testing.T) {
	c := New()
	tid := "task-0b6f2c7e-8f55-4a5e-9d3a-0c6d1e2f3a4b"
	j := &core.Job{ID: "j", Child: "child", Parent: &core.ParentRef{JobID: "parent", State: "s"},
		Tasks: core.NewTaskRefs(core.TaskRef{ID: tid, Type: "a"}, core.TaskRef{ID: "unknown", Type: "a"})}
	refs := NoRefs()
	refs.Child, refs.Parent, refs.Tasks[0] = 7, 1<<20, 300
	rec, _ := jobRecord(t, c, j, 1, refs)
	var d DecodedJob
	c.DecodeJob(rec, "", &d)
	if d.Refs != refs {
		t.Errorf("numbers %+v, want %+v", d.Refs, refs)
	}
	if d.Job.Child != "" || d.Job.Parent.JobID != "" || d.Job.Parent.State != "s" || d.NTasks != 2 ||
		d.Tasks[0].ID != "" || d.Tasks[1].ID != "unknown" || d.Tasks[0].Type != "a" {
		t.Errorf("decoded %+v, refs %+v", d.Job, d.Tasks[:d.NTasks])
	}
	if plain, _ := jobRecord(t, c, j, 1, NoRefs()); len(rec) >= len(plain)-20 {
		t.Errorf("record with numbers %d bytes, with ids %d", len(rec), len(plain))
	}

	tk := &core.Task{ID: tid, JobID: "j", Type: "a"}
	trec := encodeTask(t, c, tk, 9)
	got, job := c.DecodeTask(trec, "")
	if job != 9 || got.JobID != "" || got.ID != tid {
		t.Errorf("task %+v, job number %d", got, job)
	}
	if !c.TaskJobIs(trec, "j", 9) || c.TaskJobIs(trec, "j", 8) || c.TaskJobIs(trec, "j", None) {
		t.Error("TaskJobIs compares numbers")
	}

	at := codectest.Time(0)
	tl, err := c.AppendEvent(nil, &core.TimelineEvent{At: at, Type: "x", TaskID: tid}, nil, 5)
	if err != nil {
		t.Fatal(err)
	}
	tl, _ = c.AppendEvent(tl, &core.TimelineEvent{At: at, Type: "y", TaskID: "other"}, nil, None)
	tl, _ = c.AppendEvent(tl, &core.TimelineEvent{At: at, Type: "z", TaskID: tid}, nil, 6)
	evs, erefs := c.DecodeTimeline(string(tl), nil)
	if want := []EventRef{{0, 5}, {2, 6}}; fmt.Sprint(erefs) != fmt.Sprint(want) {
		t.Errorf("event refs %v, want %v", erefs, want)
	}
	if evs[0].TaskID != "" || evs[1].TaskID != "other" || evs[2].TaskID != "" {
		t.Errorf("events %+v", evs)
	}
}

// A value of a type the encoding does not keep is an error naming it.
func TestOtherTypes(t *testing.T) {
	c := New()
	type opaque struct{}
	_, _, err := c.EncodeJobBody(&core.Job{Input: map[string]any{"o": opaque{}}}, 1, new(NoRefs()))
	if !errors.Is(err, ErrType) || !strings.Contains(err.Error(), "codec.opaque") {
		t.Errorf("job: %v", err)
	}
	if _, err := c.EncodeTask(&core.Task{ID: "t", Params: map[string]any{"n": int32(1)}}, None); !errors.Is(err, ErrType) {
		t.Errorf("task: %v", err)
	}
	tl := []byte("kept")
	out, err := c.AppendEvent(tl, &core.TimelineEvent{Detail: map[string]any{"o": &opaque{}}}, nil, None)
	if !errors.Is(err, ErrType) || string(out) != "kept" {
		t.Errorf("event: %q %v", out, err)
	}
}

// Times keep their instant and location; a monotonic clock reading is
// not kept (the instant is).
func TestTimes(t *testing.T) {
	c := New()
	now := time.Now()
	for _, tm := range []time.Time{now, now.UTC(), now.In(codectest.Zone), {}, time.Unix(0, 0), time.Unix(-1, 5),
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
func TestSymbols(t *testing.T) {
	c := New()
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
