package codec

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store/memstore/internal/codectest"
)

const (
	aUUID     = "0b6f2c7e-8f55-4a5e-9d3a-0c6d1e2f3a4b"
	otherUUID = "1c7a3d8f-9a66-4b6f-8e4b-1d7e2f3a4b5c"
)

// Ids shaped like the engine's (a UUID, "task-" + a UUID) are packed in
// 16 bytes, so a job or task record's key is 17 bytes: the memory figures
// of the store rely on it. Any other string, however close to that shape,
// is kept as it is, and no id is interned.
func TestStringPacking(t *testing.T) {
	for _, tc := range []struct {
		name, s string
		packed  bool // 16 bytes and a tag; else the length and the bytes
	}{
		{"uuid", aUUID, true},
		{"task id", "task-" + aUUID, true},
		{"upper-case uuid", strings.ToUpper(aUUID), false},
		{"36 chars, not a uuid", strings.Repeat("x", 36), false},
		{"uuid with a bad digit", "0b6f2c7e-8f55-4a5e-9d3a-0c6d1e2f3a4g", false},
		{"41 chars, other prefix", "job--" + aUUID, false},
		{"41 chars, task- and not a uuid", "task-" + strings.Repeat("y", 36), false},
		{"task- and a short uuid", "task-" + aUUID[:35], false},
		{"uuid and a suffix", aUUID + "x", false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := 17
			if !tc.packed {
				want = len(binary.AppendUvarint(nil, uint64(len(tc.s))<<3)) + len(tc.s)
			}
			key := AppendKey(nil, tc.s)
			if len(key) != want {
				t.Errorf("key of %q is %d bytes, want %d", tc.s, len(key), want)
			}
			if got := Key(string(key)); got != tc.s {
				t.Errorf("key read back as %q, want %q", got, tc.s)
			}
			// As a value, an id and a name (sym) inside one record.
			c := New()
			w := wbuf{c: c}
			w.val(tc.s)
			w.sym(tc.s)
			r := rbuf{s: string(w.b), c: c}
			if got := r.val(); got != tc.s {
				t.Errorf("value read back as %q", got)
			}
			if got := r.str(); got != tc.s {
				t.Errorf("name read back as %q", got)
			}
			if r.p != len(r.s) {
				t.Errorf("%d bytes left over", len(r.s)-r.p)
			}
			interned := tc.s != "" && !tc.packed
			if got := len(c.syms) == 1; got != interned {
				t.Errorf("interned %v (table %q), want %v", got, c.syms, interned)
			}
		})
	}
}

// A task's job id in the record is told equal only to the same id,
// whichever form it is kept in.
func TestTaskJobIsPacked(t *testing.T) {
	c := New()
	for _, tc := range []struct {
		job   string
		equal []string
		other []string
	}{
		{aUUID, []string{aUUID}, []string{otherUUID, "task-" + aUUID, strings.ToUpper(aUUID), aUUID[:35], ""}},
		{"task-" + aUUID, []string{"task-" + aUUID}, []string{aUUID, "job--" + aUUID, "task-" + otherUUID, "task-" + strings.Repeat("y", 36)}},
		{"job--" + aUUID, []string{"job--" + aUUID}, []string{"task-" + aUUID, aUUID}},
	} {
		rec := encodeTask(t, c, &core.Task{ID: otherUUID, JobID: tc.job, Type: "t"}, None)
		for _, s := range tc.equal {
			if !c.TaskJobIs(rec, s, None) {
				t.Errorf("job %q: TaskJobIs(%q) false", tc.job, s)
			}
		}
		for _, s := range tc.other {
			if c.TaskJobIs(rec, s, None) {
				t.Errorf("job %q: TaskJobIs(%q) true", tc.job, s)
			}
		}
	}
}

// Names are interned up to maxSymLen bytes.
func TestSymbolLength(t *testing.T) {
	for _, tc := range []struct {
		n        int
		interned bool
	}{{1, true}, {maxSymLen - 1, true}, {maxSymLen, true}, {maxSymLen + 1, false}, {1000, false}} {
		c := New()
		s := strings.Repeat("n", tc.n)
		w := wbuf{c: c}
		w.sym(s)
		if got := len(c.syms) == 1; got != tc.interned {
			t.Errorf("name of %d bytes: interned %v, want %v", tc.n, got, tc.interned)
		}
		if r := (rbuf{s: string(w.b), c: c}); r.str() != s {
			t.Errorf("name of %d bytes read back wrong", tc.n)
		}
	}
}

// Floats come back bit for bit, the sign of zero and the edges of the
// range kept as integers included.
func TestFloatEdges(t *testing.T) {
	const p53 = 1 << 53
	for _, f := range []float64{0, math.Copysign(0, -1), 1, -1, -7, p53, -p53, p53 - 1, -(p53 - 1), p53 + 2, -(p53 + 2),
		1 << 60, -(1 << 60), 0.5, -0.5, math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64,
		math.Inf(1), math.Inf(-1), math.NaN()} {
		w := wbuf{}
		w.val(f)
		r := rbuf{s: string(w.b)}
		got, ok := r.val().(float64)
		if !ok || math.Float64bits(got) != math.Float64bits(f) {
			t.Errorf("%v (bits %x) read back as %v (%T)", f, math.Float64bits(f), got, got)
		}
	}
	// Small integers, the common case, take a tag and a varint byte.
	for _, f := range []float64{0, 1, -1, 63, -64} {
		w := wbuf{}
		w.val(f)
		if len(w.b) != 2 {
			t.Errorf("%v takes %d bytes, want 2", f, len(w.b))
		}
	}
}

// Times in several locations, interleaved in one codec, keep each its
// own location.
func TestLocations(t *testing.T) {
	c := New()
	zones := []*time.Location{time.FixedZone("A", 3600), time.FixedZone("B", -7200), codectest.Zone, time.Local, time.UTC}
	at := time.Date(2026, 5, 6, 7, 8, 9, 10, time.UTC)
	w := wbuf{c: c}
	var want []time.Time
	for round := range 2 {
		for i, z := range zones {
			for _, tm := range []time.Time{at.Add(time.Duration(round*10+i) * time.Second).In(z), time.Time{}.In(z)} {
				w.time(tm, 0)
				want = append(want, tm)
			}
		}
	}
	if len(c.locs) != 3 {
		t.Errorf("%d locations in the table, want 3", len(c.locs))
	}
	r := rbuf{s: string(w.b), c: c}
	for _, tm := range want {
		if got := r.time(0); got != tm {
			t.Errorf("%v in %v read back as %v in %v", tm, tm.Location(), got, got.Location())
		}
	}
}

// Every field of a job is optional: a job with none set is its mask
// alone, and a field set alone (a zero time in a location other than
// UTC, one part of the client) comes back.
func TestJobFieldAlone(t *testing.T) {
	c := New()
	if body, _, err := c.EncodeJobBody(&core.Job{}, 0, new(NoRefs())); err != nil || len(body) != 1 {
		t.Errorf("empty job: body %q, %v; want the mask alone", body, err)
	}
	zero := time.Time{}.In(codectest.Zone)
	for _, tc := range []struct {
		name string
		job  core.Job
	}{
		{"created at zero in a zone", core.Job{ID: "j", CreatedAt: zero}},
		{"updated at zero in a zone", core.Job{ID: "j", UpdatedAt: zero}},
		{"finished at zero in a zone", core.Job{ID: "j", FinishedAt: zero}},
		{"created at zero, local", core.Job{ID: "j", CreatedAt: time.Time{}.In(time.Local)}},
		{"client name", core.Job{ID: "j", Client: core.Client{Name: "n"}}},
		{"client plan", core.Job{ID: "j", Client: core.Client{Plan: "p"}}},
		{"client fields, empty", core.Job{ID: "j", Client: core.Client{Fields: map[string]any{}}}},
		{"progress -0", core.Job{ID: "j", Progress: math.Copysign(0, -1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, _ := jobRecord(t, c, &tc.job, 0, NoRefs())
			got := decodeJob(t, c, rec, "j")
			codectest.Same(t, &tc.job, got)
			for _, p := range [][2]time.Time{{tc.job.CreatedAt, got.CreatedAt}, {tc.job.UpdatedAt, got.UpdatedAt},
				{tc.job.FinishedAt, got.FinishedAt}} {
				if p[0].Location() != p[1].Location() {
					t.Errorf("location %v read back as %v", p[0].Location(), p[1].Location())
				}
			}
			if math.Signbit(got.Progress) != math.Signbit(tc.job.Progress) {
				t.Errorf("progress %v read back as %v", tc.job.Progress, got.Progress)
			}
		})
	}
}

// A task's zero EnqueuedAt in a location other than UTC comes back.
func TestTaskEnqueuedAtZero(t *testing.T) {
	c := New()
	for _, z := range []*time.Location{codectest.Zone, time.Local} {
		tk := &core.Task{ID: aUUID, JobID: "j", Type: "t", EnqueuedAt: time.Time{}.In(z)}
		got := decodeTask(t, c, encodeTask(t, c, tk, None), "")
		if got.EnqueuedAt != tk.EnqueuedAt {
			t.Errorf("EnqueuedAt %v in %v read back as %v in %v", tk.EnqueuedAt, z, got.EnqueuedAt, got.EnqueuedAt.Location())
		}
	}
}

// Up to MaxInlineRefs task refs are kept in the job's record; more are
// kept beside it.
func TestInlineRefs(t *testing.T) {
	c := New()
	for n := 0; n <= MaxInlineRefs+2; n++ {
		refs := make([]core.TaskRef, n)
		for i := range refs {
			refs[i] = core.TaskRef{ID: "t", Type: "a"}
		}
		j := &core.Job{ID: "j", Tasks: core.NewTaskRefs(refs...)}
		rec, inline := jobRecord(t, c, j, 0, NoRefs())
		if want := n <= MaxInlineRefs; inline != want {
			t.Errorf("%d refs: inline %v, want %v", n, inline, want)
		}
		if inline {
			codectest.Same(t, j, decodeJob(t, c, rec, "j"))
		}
	}
}

// A job's later times and a timeline's later events are kept relative to
// an earlier time of the same record, in a few bytes each (the design
// relies on it: a job costs a few hundred bytes).
func TestRelativeTimes(t *testing.T) {
	c := New()
	for _, created := range []time.Time{
		time.Now().Round(0),
		time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
		time.Date(1900, 1, 2, 3, 4, 5, 6, time.UTC), // before 1970
	} {
		alone, _, err := c.EncodeJobBody(&core.Job{CreatedAt: created}, 0, new(NoRefs()))
		if err != nil {
			t.Fatal(err)
		}
		n := len(alone)
		j := &core.Job{ID: "j", CreatedAt: created, UpdatedAt: created.Add(time.Millisecond),
			FinishedAt: created.Add(-time.Millisecond)}
		body, _, err := c.EncodeJobBody(j, 0, new(NoRefs()))
		if err != nil {
			t.Fatal(err)
		}
		if extra := len(body) - n; extra > 2*4 {
			t.Errorf("created %v: two times a millisecond off take %d bytes", created, extra)
		}
		rec, _ := jobRecord(t, c, j, 0, NoRefs())
		codectest.Same(t, j, decodeJob(t, c, rec, "j"))

		first := &core.TimelineEvent{At: created, Type: "a"}
		second := &core.TimelineEvent{At: created.Add(time.Millisecond), Type: "a"}
		tl1 := appendEvent(t, c, nil, first, nil)
		tl2 := appendEvent(t, c, tl1, second, first)
		if extra := len(tl2) - len(tl1); extra > 2+4 {
			t.Errorf("created %v: an event a millisecond later takes %d bytes", created, extra)
		}
		evs := decodeTimeline(t, c, tl2)
		if len(evs) != 2 || !evs[0].At.Equal(created) || !evs[1].At.Equal(second.At) {
			t.Errorf("events %+v", evs)
		}
	}
}

// A lease's times, each alone or both, a zero time in a location other
// than UTC included, come back as they were set.
func TestLeaseTimes(t *testing.T) {
	c := New()
	rec := encodeTask(t, c, &core.Task{ID: aUUID, JobID: "j", Type: "t"}, None)
	at := time.Date(2026, 5, 6, 7, 8, 9, 10, time.UTC)
	zero, zeroZone := time.Time{}, time.Time{}.In(codectest.Zone)
	for _, tc := range []struct {
		name      string
		at, until time.Time
	}{
		{"none", zero, zero},
		{"at alone", at, zero},
		{"until alone", zero, at.Add(time.Minute)},
		{"both", at, at.Add(time.Minute)},
		{"at zero in a zone", zeroZone, zero},
		{"until zero in a zone", zero, zeroZone},
		{"both zero in a zone", zeroZone, zeroZone},
		{"at in a zone, until zero", at.In(codectest.Zone), zero},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := decodeTask(t, c, c.SetLease(rec, tc.at, tc.until), "w")
			if got.LeasedAt != tc.at || got.LeaseUntil != tc.until {
				t.Errorf("lease %v in %v, %v in %v read back as %v in %v, %v in %v",
					tc.at, tc.at.Location(), tc.until, tc.until.Location(),
					got.LeasedAt, got.LeasedAt.Location(), got.LeaseUntil, got.LeaseUntil.Location())
			}
		})
	}
}
