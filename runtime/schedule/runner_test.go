package schedule

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/orchestrator"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store/memstore"
)

// clock is a settable clock shared by the orchestrators of a test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// A blueprint whose jobs end at once (quick) and one whose jobs wait for a
// worker (slow), each with a schedule.
func blueprints(t *testing.T, quickSched, slowSched string) *lang.Set {
	t.Helper()
	fs := fstest.MapFS{
		"quick.yaml": {Data: []byte("name: quick\nstart: done\n" + quickSched + "states:\n  done: {end: success}\n")},
		"slow.yaml":  {Data: []byte("name: slow\nstart: work\n" + slowSched + "states:\n  work:\n    task: {type: t}\n    transitions: {success: done}\n  done: {end: success}\n")},
	}
	set, ds := lang.LoadFS(fs)
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	return set
}

func newRunner(t *testing.T, st store.Store, c *clock, set *lang.Set, o Options) (*Runner, *orchestrator.Orchestrator) {
	t.Helper()
	cfg := config.Default()
	cfg.BlueprintsDir = ""
	x, err := orchestrator.New(orchestrator.Options{Config: cfg, Store: st, Clock: c.now, Blueprints: set})
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(x, o)
	if err != nil {
		t.Fatal(err)
	}
	return r, x
}

// jobsOf returns the jobs a schedule started, by fire time.
func jobsOf(t *testing.T, st store.Store, name string) []*core.Job {
	t.Helper()
	all, err := st.ListJobs(context.Background(), store.ListParams{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	var out []*core.Job
	for _, j := range all {
		if j.Metadata["schedule"] == name {
			out = append(out, j)
		}
	}
	sort.Slice(out, func(i, k int) bool {
		return out[i].Metadata["scheduled_at"].(string) < out[k].Metadata["scheduled_at"].(string)
	})
	return out
}

func firesOf(js []*core.Job) []string {
	var out []string
	for _, j := range js {
		out = append(out, strings.TrimPrefix(j.Metadata["scheduled_at"].(string), "2026-03-02T"))
	}
	return out
}

func TestFiresOncePerTickAcrossInstances(t *testing.T) {
	ctx := context.Background()
	st := memstore.New(memstore.Options{})
	c := &clock{t: t0}
	set := blueprints(t, "schedule: {every: 10s, input: {n: 1}}\n", "")
	var rs []*Runner
	for range 3 {
		r, _ := newRunner(t, st, c, set, Options{})
		rs = append(rs, r)
	}
	for i := range rs {
		rs[i].step(ctx) // the first look records the start
	}
	for s := 1; s <= 35; s++ {
		c.set(t0.Add(time.Duration(s) * time.Second))
		for _, i := range []int{s % 3, (s + 1) % 3, (s + 2) % 3} {
			rs[i].step(ctx)
		}
	}
	js := jobsOf(t, st, "quick")
	if got, want := firesOf(js), []string{"10:00:10Z", "10:00:20Z", "10:00:30Z"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("fires %v, want %v", got, want)
	}
	for _, j := range js {
		if j.Client.Name != "internal-scheduler" || j.Input["n"] == nil || j.ID != FireID("quick", mustTime(t, j.Metadata["scheduled_at"].(string))) {
			t.Errorf("job %+v", j)
		}
	}
	var fires uint64
	for _, r := range rs {
		cs, _ := r.Counts()
		fires += cs["quick"].Fires
	}
	if fires != 3 {
		t.Errorf("instances counted %d fires, want 3", fires)
	}
}

func mustTime(t *testing.T, s string) time.Time {
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// An instance that created the job of a fire and died before it moved the
// state on: the next instance to look creates no second job.
func TestFireCreatedButNotAdvanced(t *testing.T) {
	ctx := context.Background()
	st := memstore.New(memstore.Options{})
	c := &clock{t: t0}
	set := blueprints(t, "schedule: {every: 10s}\n", "")
	r, x := newRunner(t, st, c, set, Options{})
	r.step(ctx)
	fire := t0.Add(10 * time.Second)
	c.set(fire)
	// What the dead instance did: the job, no advance.
	if _, _, err := x.Create(ctx, Client, set.Lookup("quick"), orchestrator.CreateRequest{ID: FireID("quick", fire),
		Metadata: map[string]any{"schedule": "quick", "scheduled_at": fire.Format(time.RFC3339Nano)}}); err != nil {
		t.Fatal(err)
	}
	r2, _ := newRunner(t, st, c, set, Options{})
	r2.step(ctx)
	if n := len(jobsOf(t, st, "quick")); n != 1 {
		t.Fatalf("%d jobs for one fire", n)
	}
	s, _, _ := st.ScheduleState(ctx, "quick")
	if !s.Last.Equal(fire) || s.LastJob != FireID("quick", fire) {
		t.Fatalf("state %+v", s)
	}
}

func TestOverlap(t *testing.T) {
	for _, c := range []struct {
		policy string
		want   []string
		misses uint64
	}{
		{"allow", []string{"10:01:00Z", "10:02:00Z", "10:03:00Z"}, 0},
		{"skip", []string{"10:01:00Z"}, 2},
		{"queue", []string{"10:01:00Z"}, 0},
	} {
		t.Run(c.policy, func(t *testing.T) {
			ctx := context.Background()
			st := memstore.New(memstore.Options{})
			cl := &clock{t: t0}
			r, x := newRunner(t, st, cl, blueprints(t, "", "schedule: {cron: \"0 * * * * *\", overlap: "+c.policy+"}\n"), Options{})
			r.step(ctx)
			for m := 1; m <= 3; m++ {
				cl.set(t0.Add(time.Duration(m) * time.Minute))
				r.step(ctx)
			}
			js := jobsOf(t, st, "slow")
			if got := firesOf(js); strings.Join(got, " ") != strings.Join(c.want, " ") {
				t.Fatalf("fires %v, want %v", got, c.want)
			}
			cs, _ := r.Counts()
			if cs["slow"].Misses[MissOverlap] != c.misses {
				t.Fatalf("misses %v", cs["slow"].Misses)
			}
			if c.policy != "queue" {
				return
			}
			// The first job ends: the two waiting fires run, one at a time.
			if err := x.Cancel(ctx, nil, js[0].ID); err != nil {
				t.Fatal(err)
			}
			cl.set(t0.Add(3*time.Minute + time.Second))
			r.step(ctx)
			if got := firesOf(jobsOf(t, st, "slow")); strings.Join(got, " ") != "10:01:00Z 10:02:00Z" {
				t.Fatalf("after the first ended: %v", got)
			}
		})
	}
}

func TestCatchUp(t *testing.T) {
	for _, c := range []struct {
		policy string
		want   []string
		missed uint64
	}{
		{"none", nil, 6},
		{"latest", []string{"10:06:00Z"}, 5},
		{"3", []string{"10:04:00Z", "10:05:00Z", "10:06:00Z"}, 3},
	} {
		t.Run(c.policy, func(t *testing.T) {
			ctx := context.Background()
			st := memstore.New(memstore.Options{})
			cl := &clock{t: t0.Add(30 * time.Second)}
			set := blueprints(t, "schedule: {cron: \"* * * * *\", catch_up: "+c.policy+"}\n", "")
			r, _ := newRunner(t, st, cl, set, Options{})
			r.step(ctx)
			// Every instance down for six minutes; one comes back.
			cl.set(t0.Add(6*time.Minute + 40*time.Second))
			r2, _ := newRunner(t, st, cl, set, Options{})
			r2.step(ctx)
			if got := firesOf(jobsOf(t, st, "quick")); strings.Join(got, " ") != strings.Join(c.want, " ") {
				t.Fatalf("fires %v, want %v", got, c.want)
			}
			cs, _ := r2.Counts()
			if cs["quick"].Misses[MissCatchUp] != c.missed {
				t.Fatalf("missed %v, want %d", cs["quick"].Misses, c.missed)
			}
			// Back on time: the next fire runs.
			cl.set(t0.Add(7 * time.Minute))
			r2.step(ctx)
			if got := firesOf(jobsOf(t, st, "quick")); got[len(got)-1] != "10:07:00Z" {
				t.Fatalf("after catching up: %v", got)
			}
		})
	}
}

func TestPauseResume(t *testing.T) {
	ctx := context.Background()
	st := memstore.New(memstore.Options{})
	cl := &clock{t: t0}
	r, _ := newRunner(t, st, cl, blueprints(t, "schedule: {every: 1m}\n", ""), Options{})
	r.step(ctx)
	if err := r.Pause(ctx, "quick", true); err != nil {
		t.Fatal(err)
	}
	if err := r.Pause(ctx, "nope", true); err == nil {
		t.Fatal("paused an unknown schedule")
	}
	for m := 1; m <= 3; m++ {
		cl.set(t0.Add(time.Duration(m) * time.Minute))
		r.step(ctx)
	}
	if js := jobsOf(t, st, "quick"); len(js) != 0 {
		t.Fatalf("a paused schedule fired: %v", firesOf(js))
	}
	ls, err := r.List(ctx, 3)
	if err != nil || len(ls) != 1 || !ls[0].Paused || len(ls[0].Next) != 0 {
		t.Fatalf("list %+v %v", ls, err)
	}
	cl.set(t0.Add(3*time.Minute + 30*time.Second))
	if err := r.Pause(ctx, "quick", false); err != nil {
		t.Fatal(err)
	}
	for _, s := range []time.Duration{210, 240} {
		cl.set(t0.Add(s * time.Second))
		r.step(ctx)
	}
	if got := firesOf(jobsOf(t, st, "quick")); strings.Join(got, " ") != "10:04:00Z" {
		t.Fatalf("after resume: %v", got)
	}
	ls, _ = r.List(ctx, 2)
	if ls[0].Paused || ls[0].LastJob == nil || ls[0].LastJob.Status != "finished" || len(ls[0].Next) != 2 ||
		!ls[0].Next[0].Equal(t0.Add(5*time.Minute)) || ls[0].LastFire == nil || !ls[0].LastFire.Equal(t0.Add(4*time.Minute)) {
		t.Fatalf("list %+v", ls[0])
	}
}

func TestReloadAppliesChanges(t *testing.T) {
	ctx := context.Background()
	st := memstore.New(memstore.Options{})
	cl := &clock{t: t0}
	r, x := newRunner(t, st, cl, blueprints(t, "schedule: {every: 1m}\n", ""), Options{})
	r.step(ctx)
	x.Registry().Swap(blueprints(t, "schedule: {every: 10s}\n", "schedule: {every: 30s}\n"))
	cl.set(t0.Add(10 * time.Second))
	r.step(ctx)
	cl.set(t0.Add(30 * time.Second))
	r.step(ctx)
	if got := firesOf(jobsOf(t, st, "quick")); strings.Join(got, " ") != "10:00:10Z 10:00:20Z 10:00:30Z" {
		t.Fatalf("quick after the reload: %v", got)
	}
	if got := firesOf(jobsOf(t, st, "slow")); strings.Join(got, " ") != "10:00:30Z" {
		t.Fatalf("slow after the reload: %v", got)
	}
	x.Registry().Swap(blueprints(t, "", ""))
	cl.set(t0.Add(time.Minute))
	r.step(ctx)
	if ls, _ := r.List(ctx, 1); len(ls) != 0 {
		t.Fatalf("removed schedules still listed: %+v", ls)
	}
}

func TestFileSchedules(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "schedules.toml")
	write := func(s string) {
		// A later edit must look changed even within the file system's
		// time resolution: the size differs, or the time is moved on.
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		tm := time.Now().Add(time.Duration(len(s)) * time.Second)
		_ = os.Chtimes(path, tm, tm)
	}
	write("[every_minute]\nblueprint = \"quick\"\ninterval_seconds = 60\ninput_data = {n = 2}\n")
	st := memstore.New(memstore.Options{})
	cl := &clock{t: t0}
	r, _ := newRunner(t, st, cl, blueprints(t, "", ""), Options{File: path})
	r.step(ctx)
	cl.set(t0.Add(time.Minute))
	r.step(ctx)
	js := jobsOf(t, st, "every_minute")
	if len(js) != 1 || js[0].Blueprint != "quick" {
		t.Fatalf("jobs %v", firesOf(js))
	}
	// A bad edit keeps the schedule; a good one replaces it.
	write("[every_minute]\nblueprint = \"quick\"\ninterval_seconds = \"often\"\n")
	cl.set(t0.Add(2 * time.Minute))
	r.step(ctx)
	if _, refused := r.Counts(); refused != 1 {
		t.Fatalf("refused reloads %d", refused)
	}
	write("[nightly]\nblueprint = \"quick\"\ndaily_at = \"03:00\"\n")
	cl.set(t0.Add(3 * time.Minute))
	r.step(ctx)
	ls, _ := r.List(ctx, 1)
	if len(ls) != 1 || ls[0].Name != "nightly" || !ls[0].Next[0].Equal(time.Date(2026, 3, 3, 3, 0, 0, 0, time.UTC)) {
		t.Fatalf("after the edit: %+v", ls)
	}
	if got := len(jobsOf(t, st, "every_minute")); got != 2 {
		t.Fatalf("every_minute fired %d times, want 2 (before the good edit)", got)
	}
}

func TestNewRefusesBadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "schedules.toml")
	if err := os.WriteFile(path, []byte("[a]\nblueprint = \"quick\"\ndaily_at = \"03:00\"\n\n[b]\nblueprint = \"nope\"\ninterval_seconds = 5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.BlueprintsDir = ""
	x, err := orchestrator.New(orchestrator.Options{Config: cfg, Store: memstore.New(memstore.Options{}), Blueprints: blueprints(t, "", "")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(x, Options{File: path})
	if err == nil || !strings.Contains(err.Error(), path+":5: schedule \"b\": blueprint \"nope\" is not loaded") {
		t.Fatalf("err %v", err)
	}
}

// A fire queued behind a running job is not dropped as missed by an
// instance that starts while it waits, however long it waited.
func TestQueuedFireSurvivesANewInstance(t *testing.T) {
	ctx := context.Background()
	st := memstore.New(memstore.Options{})
	cl := &clock{t: t0}
	set := blueprints(t, "", "schedule: {cron: \"0 * * * * *\", overlap: queue, catch_up: none}\n")
	r, x := newRunner(t, st, cl, set, Options{})
	r.step(ctx)
	cl.set(t0.Add(time.Minute))
	r.step(ctx) // 10:01 starts a job that keeps running
	cl.set(t0.Add(2 * time.Minute))
	r.step(ctx) // 10:02 waits
	// A new instance, ten minutes on; the first one is gone.
	cl.set(t0.Add(12 * time.Minute))
	r2, _ := newRunner(t, st, cl, set, Options{})
	r2.step(ctx)
	js := jobsOf(t, st, "slow")
	if len(js) != 1 {
		t.Fatalf("fires %v while the first job runs", firesOf(js))
	}
	if err := x.Cancel(ctx, nil, js[0].ID); err != nil {
		t.Fatal(err)
	}
	cl.set(t0.Add(12*time.Minute + time.Second))
	r2.step(ctx)
	if got := firesOf(jobsOf(t, st, "slow")); len(got) != 2 || got[1] != "10:02:00Z" {
		t.Fatalf("after the first ended: %v", got)
	}
}
