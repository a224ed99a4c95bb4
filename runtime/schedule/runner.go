package schedule

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/internal/uuid"
	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/orchestrator"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// Options configure a Runner.
type Options struct {
	// File is schedules.toml (SCHEDULES_CONFIG_PATH); "" for none. It is
	// read again when it changes; a bad edit keeps the schedules as they
	// were and is logged and counted.
	File string
	// TZ is the time zone of file entries without one (TZ; "" is UTC).
	TZ     string
	Logger *slog.Logger
	// Grace is how late a fire may be and still count as on time rather
	// than missed while no instance ran (default 30 s).
	Grace time.Duration
	// Tick is the longest the runner sleeps between looks at pause,
	// overlap and reloads (default 1 s).
	Tick time.Duration
}

// Miss reasons, the label of the misses metric.
const (
	MissOverlap = "overlap"  // the previous job still ran (overlap skip)
	MissCatchUp = "catch_up" // missed while no instance ran, beyond catch_up
	MissPaused  = "paused"
	MissError   = "error" // the job could not be created (bad input, blueprint gone)
)

// Client is the caller scheduled jobs run as (as in the Python
// orchestrator).
var Client = &config.Client{Name: "internal-scheduler", Plan: "system"}

// maxDueScan bounds the fires one look walks through after a long outage.
const maxDueScan = 100_000

// Runner fires schedules against an orchestrator.
type Runner struct {
	x     *orchestrator.Orchestrator
	st    store.Schedules
	log   *slog.Logger
	grace time.Duration
	tick  time.Duration
	file  string
	tz    string

	mu      sync.Mutex
	set     *lang.Set // the blueprint set the entries were built from
	fileMod time.Time
	fileSz  int64
	files   []*Spec
	entries map[string]*entry
	fileErr uint64 // refused reloads of the file

	poke chan struct{}
}

type entry struct {
	spec *Spec
	// seen is when this runner last looked at the schedule with the store
	// answering: fires up to it were seen on time.
	seen time.Time
	next time.Time // when to look again
	// Counts of this instance (the instance whose advance won).
	fires  uint64
	misses map[string]uint64
}

// New builds a runner for the orchestrator's blueprints and the file. A
// file that does not parse, or whose schedules name unknown blueprints or
// the name of a blueprint's schedule, is an error naming file:line.
func New(x *orchestrator.Orchestrator, o Options) (*Runner, error) {
	st, _ := x.Store().(store.Schedules)
	r := &Runner{x: x, st: st, log: o.Logger, grace: o.Grace, tick: o.Tick, file: o.File, tz: o.TZ,
		entries: map[string]*entry{}, poke: make(chan struct{}, 1)}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.grace <= 0 {
		r.grace = 30 * time.Second
	}
	if r.tick <= 0 {
		r.tick = time.Second
	}
	if r.tz != "" {
		if _, err := lang.LoadLocation(r.tz); err != nil {
			return nil, fmt.Errorf("TZ: %v", err)
		}
	}
	if r.file != "" {
		fi, err := os.Stat(r.file)
		if err != nil {
			return nil, err
		}
		files, err := LoadFile(r.file, r.tz)
		if err != nil {
			return nil, err
		}
		set := x.Registry().Set()
		if err := r.checkFile(files, set); err != nil {
			return nil, err
		}
		r.files, r.fileMod, r.fileSz = files, fi.ModTime(), fi.Size()
	}
	r.rebuild(x.Registry().Set())
	if st == nil && len(r.entries) > 0 {
		return nil, fmt.Errorf("schedules: the store (%T) keeps no schedule state", x.Store())
	}
	return r, nil
}

// checkFile refuses file schedules that name unknown blueprints or a
// blueprint schedule's name.
func (r *Runner) checkFile(files []*Spec, set *lang.Set) error {
	var errs []error
	fromSet := map[string]bool{}
	for _, s := range FromSet(set) {
		fromSet[s.Name] = true
	}
	for _, s := range files {
		if set.Lookup(s.Blueprint) == nil {
			errs = append(errs, fmt.Errorf("%s: schedule %q: blueprint %q is not loaded", s.Source, s.Name, s.Blueprint))
		}
		if fromSet[s.Name] {
			errs = append(errs, fmt.Errorf("%s: schedule %q: a blueprint's schedule has that name", s.Source, s.Name))
		}
	}
	return errors.Join(errs...)
}

// rebuild makes the entries those of set and the file; entries whose name
// stays keep their counts.
func (r *Runner) rebuild(set *lang.Set) {
	specs := FromSet(set)
	seen := map[string]bool{}
	for _, s := range specs {
		seen[s.Name] = true
	}
	for _, s := range r.files {
		if seen[s.Name] {
			r.log.Warn("schedule defined twice: the blueprint's is used", "schedule", s.Name, "file", s.Source)
			continue
		}
		specs = append(specs, s)
	}
	old := r.entries
	r.entries = make(map[string]*entry, len(specs))
	for _, s := range specs {
		if e := old[s.Name]; e != nil {
			if !e.spec.equal(s) {
				e.next = time.Time{} // look again at once
			}
			e.spec = s
			r.entries[s.Name] = e
			continue
		}
		r.entries[s.Name] = &entry{spec: s, misses: map[string]uint64{}}
	}
	r.set = set
}

// refresh picks up a reloaded blueprint set and an edited file. Only the
// Run goroutine calls it (and New): the entries' specs and times are
// written there alone, under mu where others read them.
func (r *Runner) refresh() {
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := false
	if r.file != "" {
		if fi, err := os.Stat(r.file); err == nil && (!fi.ModTime().Equal(r.fileMod) || fi.Size() != r.fileSz) {
			r.fileMod, r.fileSz = fi.ModTime(), fi.Size()
			files, err := LoadFile(r.file, r.tz)
			if err == nil {
				err = r.checkFile(files, r.x.Registry().Set())
			}
			if err != nil {
				r.fileErr++
				r.log.Error("schedules file not reloaded; the schedules stay as they were", "err", err)
			} else {
				r.files, changed = files, true
				r.log.Info("schedules file reloaded", "schedules", len(files))
			}
		}
	}
	if set := r.x.Registry().Set(); set != r.set || changed {
		r.rebuild(set)
	}
}

// Run fires schedules until ctx ends; it fires nothing while the
// orchestrator drains.
func (r *Runner) Run(ctx context.Context) {
	for {
		wake := r.step(ctx)
		t := time.NewTimer(max(wake.Sub(r.x.Now()), time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-r.poke:
			t.Stop()
		case <-t.C:
		}
	}
}

// step looks at every schedule due and returns when to look again.
func (r *Runner) step(ctx context.Context) time.Time {
	r.refresh()
	now := r.x.Now()
	wake := now.Add(r.tick)
	if r.x.Draining() || r.st == nil {
		return wake
	}
	r.mu.Lock()
	list := make([]*entry, 0, len(r.entries))
	for _, e := range r.entries {
		list = append(list, e)
	}
	r.mu.Unlock()
	for _, e := range list {
		if e.next.After(now) {
			e.seen = now
		} else {
			r.look(ctx, e, now)
		}
		if e.next.Before(wake) {
			wake = e.next
		}
	}
	return wake
}

// FireID is the id of the job a schedule starts for the fire at t: the
// same on every instance, so the store lets only one create it.
func FireID(name string, t time.Time) string {
	h := sha256.Sum256([]byte("avtomatika-schedule\x00" + name + "\x00" + strconv.FormatInt(t.UnixNano(), 10)))
	id, _ := uuid.New(bytes.NewReader(h[:16]))
	return id
}

// look handles the fires of e due by now. Runner state of e is touched by
// the Run goroutine only.
func (r *Runner) look(ctx context.Context, e *entry, now time.Time) {
	s := e.spec
	st, ok, err := r.st.ScheduleState(ctx, s.Name)
	if err != nil {
		r.log.Warn("schedule state", "schedule", s.Name, "err", err)
		e.next = now.Add(r.tick)
		return
	}
	if !ok {
		// A new schedule starts from now: nothing before it was missed.
		if _, err := r.st.AdvanceSchedule(ctx, s.Name, time.Time{}, now, ""); err != nil {
			r.log.Warn("schedule state", "schedule", s.Name, "err", err)
			e.next = now.Add(r.tick)
			return
		}
		e.seen, e.next = now, s.Next(now)
		return
	}
	seenBefore := e.seen
	e.seen = now
	// The fires due: those up to seenBefore were seen on time and wait
	// (overlap queue, a failed create); later ones are on time within the
	// grace, else missed while nobody looked.
	var waiting, late, onTime []time.Time
	lateCount := 0
	t := s.Next(st.Last)
	for n := 0; !t.IsZero() && !t.After(now) && n < maxDueScan; n++ {
		switch {
		case !t.After(seenBefore):
			waiting = append(waiting, t)
		case now.Sub(t) > r.grace:
			lateCount++
			late = append(late, t)
			if len(late) > 2*max(s.CatchUp, 1)+64 { // keep the latest only
				late = append(late[:0], late[len(late)-max(s.CatchUp, 1):]...)
			}
		default:
			onTime = append(onTime, t)
		}
		t = s.Next(t)
	}
	if len(waiting)+lateCount+len(onTime) == 0 {
		e.next = s.Next(st.Last)
		if e.next.Before(now) { // scan cut short
			e.next = now
		}
		return
	}
	defer func() {
		if e.next.IsZero() {
			e.next = now.Add(r.tick)
		}
	}()
	e.next = time.Time{}
	if st.Paused {
		last := now
		if n := len(onTime); n > 0 {
			last = onTime[n-1]
		} else if n := len(late); n > 0 {
			last = late[n-1]
		} else if n := len(waiting); n > 0 {
			last = waiting[n-1]
		}
		if ok, err := r.st.AdvanceSchedule(ctx, s.Name, st.Last, last, ""); err == nil && ok {
			r.count(e, false, MissPaused, len(waiting)+lateCount+len(onTime))
		}
		e.next = s.Next(last)
		return
	}
	if s.Overlap == lang.OverlapQueue && st.LastJob != "" {
		// Fires wait while the previous job runs, late or not: none is
		// dropped for lateness by an instance that looks for the first
		// time (it has seen them by its next look).
		j, err := r.x.Store().GetJob(ctx, st.LastJob)
		if err == nil && !j.Status.Terminal() {
			e.next = now.Add(r.tick)
			return
		}
	}
	run := waiting
	if len(waiting) == 0 && lateCount > 0 {
		keep := min(s.CatchUp, len(late))
		if dropped := lateCount - keep; dropped > 0 {
			to := late[len(late)-keep-1]
			ok, err := r.st.AdvanceSchedule(ctx, s.Name, st.Last, to, "")
			if err != nil || !ok {
				return // another instance moved it; look again
			}
			r.count(e, false, MissCatchUp, dropped)
			r.log.Info("missed fires dropped", "schedule", s.Name, "missed", dropped, "catch_up", s.CatchUp)
			st.Last = to
		}
		run = append(run, late[len(late)-keep:]...)
	}
	if len(waiting) == 0 {
		run = append(run, onTime...)
	}
	for _, fire := range run {
		ok, stop := r.fire(ctx, e, &st, fire)
		if !ok || stop {
			return
		}
	}
	e.next = s.Next(st.Last)
}

// fire starts the job of one fire and moves the state past it. ok is
// false when the state moved under it (look again); stop when the fire
// waits (overlap queue, a store error).
func (r *Runner) fire(ctx context.Context, e *entry, st *store.ScheduleState, at time.Time) (ok, stop bool) {
	s := e.spec
	advance := func(job, miss string) bool {
		won, err := r.st.AdvanceSchedule(ctx, s.Name, st.Last, at, job)
		if err != nil {
			r.log.Warn("schedule state", "schedule", s.Name, "err", err)
			return false
		}
		if !won {
			return false
		}
		st.Last = at
		if job != "" {
			st.LastJob = job
		}
		r.count(e, job != "", miss, 1)
		return true
	}
	if s.Overlap != lang.OverlapAllow && st.LastJob != "" && st.LastJob != FireID(s.Name, at) {
		j, err := r.x.Store().GetJob(ctx, st.LastJob)
		switch {
		case err == nil && !j.Status.Terminal():
			if s.Overlap == lang.OverlapQueue {
				return true, true
			}
			r.log.Info("fire skipped: the previous job still runs", "schedule", s.Name, "fire", at, "job", st.LastJob)
			return advance("", MissOverlap), false
		case err != nil && !errors.Is(err, store.ErrNotFound):
			r.log.Warn("schedule overlap check", "schedule", s.Name, "err", err)
			return true, true
		}
	}
	m := r.x.Registry().Set().Lookup(s.Blueprint)
	if m == nil {
		r.log.Error("fire missed: blueprint not loaded", "schedule", s.Name, "blueprint", s.Blueprint)
		return advance("", MissError), false
	}
	id := FireID(s.Name, at)
	md := map[string]any{}
	for k, v := range s.Metadata {
		md[k] = v
	}
	md["schedule"] = s.Name
	md["scheduled_at"] = at.UTC().Format(time.RFC3339Nano)
	input := map[string]any{}
	for k, v := range s.Input {
		input[k] = v
	}
	_, _, err := r.x.Create(ctx, Client, m, orchestrator.CreateRequest{
		ID: id, Input: input, Metadata: md, DispatchTimeout: s.DispatchTimeout, ResultTimeout: s.ResultTimeout,
	})
	var oe *orchestrator.Error
	switch {
	case err == nil, errors.Is(err, store.ErrExists):
		// Created here, or by an instance that did not get to advance.
		if !advance(id, "") {
			return false, false
		}
		r.log.Info("schedule fired", "schedule", s.Name, "fire", at, "job", id)
		return true, false
	case errors.As(err, &oe) && oe.Kind != orchestrator.KindUnavailable:
		r.log.Error("fire missed: the job was refused", "schedule", s.Name, "fire", at, "err", err)
		return advance("", MissError), false
	default:
		r.log.Warn("fire delayed: create failed", "schedule", s.Name, "fire", at, "err", err)
		return true, true
	}
}

// count adds a fire or n misses to e's counters.
func (r *Runner) count(e *entry, fired bool, miss string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if fired {
		e.fires++
	}
	if miss != "" {
		e.misses[miss] += uint64(n)
	}
}

// Status is one schedule as GET /api/v1/schedules shows it.
type Status struct {
	Name      string         `json:"name"`
	Blueprint string         `json:"blueprint"`
	Trigger   string         `json:"trigger"`
	TimeZone  string         `json:"timezone"`
	Overlap   string         `json:"overlap"`
	CatchUp   int            `json:"catch_up"`
	Input     map[string]any `json:"input,omitempty"`
	Source    string         `json:"source"`
	Paused    bool           `json:"paused"`
	Next      []time.Time    `json:"next_fires"`
	LastFire  *time.Time     `json:"last_fire,omitempty"`
	LastJob   *LastJob       `json:"last_job,omitempty"`
}

// LastJob is the job of a schedule's latest fire that started one.
type LastJob struct {
	ID     string         `json:"job_id"`
	Status wire.JobStatus `json:"status,omitempty"`
}

// List returns every schedule, by name, with its next n fire times.
func (r *Runner) List(ctx context.Context, n int) ([]Status, error) {
	r.mu.Lock()
	specs := make([]*Spec, 0, len(r.entries))
	for _, e := range r.entries {
		specs = append(specs, e.spec)
	}
	r.mu.Unlock()
	sort.Slice(specs, func(i, j int) bool { return specs[i].Name < specs[j].Name })
	now := r.x.Now()
	out := make([]Status, 0, len(specs))
	for _, s := range specs {
		tz := s.TZ
		if tz == "" {
			tz = "UTC"
		}
		v := Status{Name: s.Name, Blueprint: s.Blueprint, Trigger: s.Expr, TimeZone: tz, Overlap: s.Overlap,
			CatchUp: s.CatchUp, Input: s.Input, Source: s.Source, Next: s.NextN(now, n)}
		var st store.ScheduleState
		var ok bool
		var err error
		if r.st != nil {
			if st, ok, err = r.st.ScheduleState(ctx, s.Name); err != nil {
				return nil, err
			}
		}
		if ok {
			v.Paused = st.Paused
			if st.Paused {
				v.Next = []time.Time{}
			}
			if st.LastJob != "" {
				lj := &LastJob{ID: st.LastJob}
				if j, err := r.x.Store().GetJob(ctx, st.LastJob); err == nil {
					lj.Status = j.Status
					at := j.CreatedAt.UTC()
					if sa, ok := j.Metadata["scheduled_at"].(string); ok {
						if t, err := time.Parse(time.RFC3339Nano, sa); err == nil {
							at = t
						}
					}
					v.LastFire = &at
				}
				v.LastJob = lj
			}
		}
		out = append(out, v)
	}
	return out, nil
}

// ErrUnknown is returned for a schedule name that is not defined.
var ErrUnknown = errors.New("no such schedule")

// Pause stops (paused) or resumes a schedule on every instance: a paused
// schedule's fires are missed, and resuming starts with the next fire.
func (r *Runner) Pause(ctx context.Context, name string, paused bool) error {
	r.mu.Lock()
	e := r.entries[name]
	r.mu.Unlock()
	if e == nil || r.st == nil {
		return fmt.Errorf("%w %q", ErrUnknown, name)
	}
	now := r.x.Now()
	if !paused {
		// Resuming skips what fell due while paused: move Last to now
		// first (fires up to now are missed as paused).
		for range 10 {
			st, ok, err := r.st.ScheduleState(ctx, name)
			if err != nil {
				return err
			}
			if !ok || !st.Paused || !st.Last.Before(now) {
				break
			}
			if won, err := r.st.AdvanceSchedule(ctx, name, st.Last, now, ""); err != nil {
				return err
			} else if won {
				break
			}
		}
	}
	if err := r.st.PauseSchedule(ctx, name, paused, now); err != nil {
		return err
	}
	select {
	case r.poke <- struct{}{}:
	default:
	}
	return nil
}

// Counts are one schedule's counters on this instance.
type Counts struct {
	Fires  uint64
	Misses map[string]uint64
}

// Counts returns the counters of every schedule, by name, and the number
// of refused reloads of the file. Safe to call from any goroutine; the
// numbers may lag the runner by a look.
func (r *Runner) Counts() (map[string]Counts, uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]Counts, len(r.entries))
	for name, e := range r.entries {
		c := Counts{Fires: e.fires, Misses: map[string]uint64{}}
		for k, v := range e.misses {
			c.Misses[k] = v
		}
		out[name] = c
	}
	return out, r.fileErr
}
