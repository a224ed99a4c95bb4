package bptest

import (
	"container/heap"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing/fstest"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/orchestrator"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store/memstore"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// DefaultStart is the virtual clock's start when a case gives none.
var DefaultStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// maxEvents bounds what one case may do: a blueprint that loops forever
// on scripted replies is stopped with a failure instead of hanging.
const maxEvents = 10_000

// GCPercent is the garbage collector's target percentage that
// `avtomatika test` sets while it runs cases (unless GOGC is set): the
// cases' jobs are short-lived, so the live heap stays small and fewer
// collections trade little memory for about a third less CPU.
const GCPercent = 400

// Options tune Run. The zero value runs every case on every core.
type Options struct {
	// Run, when set, selects the cases whose name (or BLUEPRINT/NAME)
	// it matches.
	Run *regexp.Regexp
	// Parallel is how many cases run at once; 0: GOMAXPROCS.
	Parallel int
	// Trace keeps the path of every case; without it only failed cases
	// keep theirs.
	Trace bool
	// Coverage records the items each case exercised (Report.Coverage).
	Coverage bool
}

// Outcome is what one case did.
type Outcome struct {
	File      *File
	Case      *Case
	Blueprint string
	Failures  []Failure
	// Trace is the path the job took, one line per state entered, with
	// the reply each task received.
	Trace   []string
	Elapsed time.Duration
	// Covered are the coverage items the case exercised, of every
	// blueprint its jobs ran.
	Covered []ItemKey
}

// Passed reports whether every expectation held.
func (o *Outcome) Passed() bool { return len(o.Failures) == 0 }

// Failure is one expectation that did not hold (or a reason the case
// could not run as scripted).
type Failure struct {
	Pos      lang.Pos
	Kind     string // the expectation's kind, or "run"
	Message  string
	Expected string // JSON, when there is a value to show
	Got      string
}

// Report is the result of Run.
type Report struct {
	Outcomes []*Outcome
	// Machines are the blueprints the files test, by name, for coverage.
	Machines map[string]*lang.Machine
	// dirs are the folders of Machines, by name.
	dirs map[string]string
}

// Failed counts the cases that failed.
func (r *Report) Failed() int {
	n := 0
	for _, o := range r.Outcomes {
		if !o.Passed() {
			n++
		}
	}
	return n
}

// folder is one blueprints folder, loaded once.
type folder struct {
	dir  string
	fsys fstest.MapFS
	set  *lang.Set
	ds   lang.Diagnostics
}

// Runner loads blueprint folders once and runs the cases of test files.
type Runner struct {
	mu      sync.Mutex
	folders map[string]*folder
}

// NewRunner returns a runner with no folder loaded yet.
func NewRunner() *Runner { return &Runner{folders: map[string]*folder{}} }

// loadFolder reads a folder into memory (so child blueprints can be
// replaced per case) and compiles it.
func (rn *Runner) loadFolder(dir string) *folder {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	if f, ok := rn.folders[dir]; ok {
		return f
	}
	f := &folder{dir: dir, fsys: fstest.MapFS{}}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			if p != dir && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if b, err := os.ReadFile(p); err == nil {
			f.fsys[filepath.ToSlash(rel)] = &fstest.MapFile{Data: b}
		}
		return nil
	})
	f.set, f.ds = lang.LoadFS(f.fsys)
	for i := range f.ds {
		f.ds[i].Pos.File = joinRel(dir, f.ds[i].Pos.File)
	}
	rn.folders[dir] = f
	return f
}

func joinRel(dir, file string) string {
	if file == "" {
		return filepath.ToSlash(dir)
	}
	return filepath.ToSlash(filepath.Join(dir, file))
}

// Resolve finds the blueprint a file tests: in the file's folder or,
// when that holds no blueprint (a tests/ subfolder), the nearest folder
// above it that does. A folder that does not lint clean is an error.
func (rn *Runner) Resolve(f *File) (*lang.Machine, *folder, lang.Diagnostics) {
	dir := filepath.Dir(filepath.FromSlash(f.Path))
	var names []string
	for range 4 {
		fo := rn.loadFolder(dir)
		if m := fo.set.Lookup(f.Blueprint); m != nil {
			if fo.ds.HasErrors() {
				return nil, nil, fo.ds
			}
			return m, fo, nil
		}
		if fo.ds.HasErrors() {
			return nil, nil, fo.ds
		}
		if len(fo.set.Machines) > 0 {
			// The folder of blueprints the test belongs to.
			for _, m := range fo.set.Machines {
				names = append(names, m.Name)
			}
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	msg := fmt.Sprintf("no blueprint %q beside the test or in a folder above it", f.Blueprint)
	if s := nearest(f.Blueprint, names); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	return nil, nil, lang.Diagnostics{{Pos: f.BlueprintPos, Rule: RuleTestUnknownBP.Name, Message: msg}}
}

// Run runs the selected cases of the files, in parallel, and returns
// their outcomes in file and case order. The diagnostics are findings of
// Lint and files that could not run: a blueprint that does not exist or
// a folder that does not lint clean. A file with an error is not run.
func (rn *Runner) Run(ctx context.Context, files []*File, o Options) (*Report, lang.Diagnostics) {
	type job struct {
		f  *File
		c  *Case
		m  *lang.Machine
		fo *folder
	}
	var jobs []job
	var ds lang.Diagnostics
	rep := &Report{Machines: map[string]*lang.Machine{}, dirs: map[string]string{}}
	for _, f := range files {
		m, fo, fds := rn.Resolve(f)
		if fds != nil {
			ds = append(ds, fds...)
			continue
		}
		if lds := Lint(f, m, fo.set); len(lds) > 0 {
			ds = append(ds, lds...)
			if lds.HasErrors() {
				continue
			}
		}
		rep.Machines[m.Name] = m
		rep.dirs[m.Name] = fo.dir
		for _, c := range f.Cases {
			if o.Run != nil && !o.Run.MatchString(c.Name) && !o.Run.MatchString(m.Name+"/"+c.Name) {
				continue
			}
			jobs = append(jobs, job{f, c, m, fo})
		}
	}
	rep.Outcomes = make([]*Outcome, len(jobs))
	par := o.Parallel
	if par <= 0 {
		par = runtime.GOMAXPROCS(0)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(par, len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(jobs) {
					return
				}
				j := jobs[i]
				rep.Outcomes[i] = RunCase(ctx, j.f, j.c, j.m, j.fo, o)
			}
		}()
	}
	wg.Wait()
	return rep, ds.Sort()
}

// vclock is a case's virtual clock.
type vclock struct{ ns atomic.Int64 }

func (c *vclock) now() time.Time         { return time.Unix(0, c.ns.Load()).UTC() }
func (c *vclock) set(t time.Time)        { c.ns.Store(t.UnixNano()) }
func (c *vclock) after(t time.Time) bool { return t.After(c.now()) }

// action is something the scripted world does at a time: a reply, an
// approval.
type action struct {
	at  time.Time
	seq int
	do  func() error
}

type actions []*action

func (h actions) Len() int { return len(h) }
func (h actions) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h actions) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *actions) Push(x any)   { *h = append(*h, x.(*action)) }
func (h *actions) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// dispatched is one task the scripted worker took.
type dispatched struct {
	task  *core.Task
	reply *Reply
	at    time.Time
}

// caseRun is one case on its own orchestrator and store.
type caseRun struct {
	ctx     context.Context
	f       *File
	c       *Case
	clock   vclock
	start   time.Time
	x       *orchestrator.Orchestrator
	st      *memstore.Store
	workers []string
	root    string

	mu   sync.Mutex // guards jobs and live (the observer may be called from the orchestrator)
	jobs []string
	live map[string]bool

	pending    actions
	seq        int
	tasks      []*dispatched
	byTask     map[string]*dispatched
	leases     map[string]time.Time // tasks that will not be answered, to their lease deadline
	approvalOf map[string]bool      // job@steps already scheduled
	visits     map[string]int       // approval state to visits so far
	failures   []Failure
	stop       bool
	// parallelTypes are the task types some parallel dispatches, whose
	// branch the trace shows.
	parallelTypes map[string]bool
}

func (r *caseRun) JobCreated(j *core.Job) {
	r.mu.Lock()
	r.jobs = append(r.jobs, j.ID)
	r.live[j.ID] = true
	r.mu.Unlock()
}
func (r *caseRun) JobEnded(j *core.Job) {
	r.mu.Lock()
	delete(r.live, j.ID)
	r.mu.Unlock()
}
func (r *caseRun) TaskWithdrawn(context.Context, string, string)           {}
func (r *caseRun) BlueprintsReloaded(*lang.Set, lang.Diagnostics)          {}
func (r *caseRun) WebhookDelivery(*core.Job, string)                       {}
func (r *caseRun) Stepped(*core.Job, *core.Job, core.Event, *core.Effects) {}

func (r *caseRun) fail(pos lang.Pos, format string, args ...any) {
	r.failures = append(r.failures, Failure{Pos: pos, Kind: "run", Message: fmt.Sprintf(format, args...)})
}

// seededRand is a deterministic random source per case, so job ids, task
// ids and retry delays are the same on every run.
func seededRand(name string) *rand.ChaCha8 {
	h := fnv.New64a()
	h.Write([]byte(name))
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], h.Sum64())
	return rand.NewChaCha8(seed)
}

// RunCase runs one case of f against m (of folder fo).
func RunCase(ctx context.Context, f *File, c *Case, m *lang.Machine, fo *folder, o Options) (out *Outcome) {
	t0 := time.Now()
	out = &Outcome{File: f, Case: c, Blueprint: m.Name}
	defer func() {
		if p := recover(); p != nil {
			out.Failures = append(out.Failures, Failure{Pos: c.Pos, Kind: "run", Message: fmt.Sprint("the runner failed: ", p)})
		}
		out.Elapsed = time.Since(t0)
	}()
	r := &caseRun{ctx: ctx, f: f, c: c, live: map[string]bool{}, byTask: map[string]*dispatched{},
		leases: map[string]time.Time{}, approvalOf: map[string]bool{}, visits: map[string]int{}}
	r.start = c.StartTime
	if r.start.IsZero() {
		r.start = DefaultStart
	}
	r.clock.set(r.start)
	set := fo.set
	if len(c.Children) > 0 {
		var err error
		if set, err = stubbed(fo, c); err != nil {
			out.Failures = append(out.Failures, Failure{Pos: c.Pos, Kind: "run", Message: err.Error()})
			return out
		}
		if m = set.Lookup(m.Name); m == nil {
			out.Failures = append(out.Failures, Failure{Pos: c.Pos, Kind: "run", Message: "children: the blueprint under test cannot be replaced"})
			return out
		}
	}
	cfg := config.Default()
	cfg.BlueprintsDir = ""
	// Workers never expire on the virtual clock: the runner is the worker.
	cfg.HealthCheckInterval = 100 * 365 * 24 * time.Hour
	r.st = memstore.New(memstore.Options{Clock: r.clock.now})
	x, err := orchestrator.New(orchestrator.Options{Config: cfg, Store: r.st, Blueprints: set, Clock: r.clock.now, Rand: seededRand(f.Path + "\x00" + c.Name), Observer: r})
	if err != nil {
		out.Failures = append(out.Failures, Failure{Pos: c.Pos, Kind: "run", Message: err.Error()})
		return out
	}
	r.x = x
	defer x.Close()
	if err := r.registerWorkers(set); err != nil {
		out.Failures = append(out.Failures, Failure{Pos: c.Pos, Kind: "run", Message: err.Error()})
		return out
	}
	var caller *config.Client
	if c.Client != nil {
		caller = &config.Client{Name: c.Client.Name, Plan: c.Client.Plan, Fields: c.Client.Fields}
	}
	j, _, err := x.Create(ctx, caller, m, orchestrator.CreateRequest{Input: cloneMap(c.Input)})
	if err != nil {
		out.Failures = append(out.Failures, Failure{Pos: c.Pos, Kind: "run", Message: "the job was refused: " + err.Error()})
		return out
	}
	r.root = j.ID
	r.drive()
	out.Failures = append(out.Failures, r.failures...)
	final, err := r.st.GetJob(ctx, r.root)
	if err != nil {
		out.Failures = append(out.Failures, Failure{Pos: c.Pos, Kind: "run", Message: err.Error()})
		return out
	}
	var tl []core.TimelineEvent
	timeline := func() []core.TimelineEvent {
		if tl == nil {
			tl, _ = r.st.Timeline(ctx, r.root)
		}
		return tl
	}
	out.Failures = append(out.Failures, r.check(final, timeline)...)
	if o.Trace || len(out.Failures) > 0 {
		out.Trace = r.trace(timeline())
	}
	if o.Coverage {
		out.Covered = r.coverage(set)
	}
	return out
}

// registerWorkers registers one worker for every task type of the set,
// and one more for each task that requires resources or a cost, so every
// task finds a worker it fits.
func (r *caseRun) registerWorkers(set *lang.Set) error {
	types := map[string]bool{}
	r.parallelTypes = map[string]bool{}
	var special []*lang.Task
	for _, m := range set.Machines {
		for _, s := range m.States {
			if p := s.Parallel; p != nil {
				for _, t := range append(append([]*lang.Task(nil), p.Tasks...), p.Task) {
					if t != nil {
						r.parallelTypes[t.Type] = true
					}
				}
			}
		}
		for _, t := range machineTasks(m) {
			types[t.Type] = true
			if len(t.Requires) > 0 || t.MaxCost != nil {
				special = append(special, t)
			}
		}
	}
	var skills []string
	for t := range types {
		skills = append(skills, t)
	}
	sort.Strings(skills)
	regs := []orchestrator.Registration{{WorkerID: "worker", Skills: skills}}
	for i, t := range special {
		reg := orchestrator.Registration{WorkerID: "worker-" + strconv.Itoa(i+1), Skills: []string{t.Type}, Resources: cloneMap(t.Requires)}
		if t.MaxCost != nil {
			reg.Capabilities = map[string]any{"cost_per_skill": map[string]any{t.Type: json.Number(strconv.FormatFloat(*t.MaxCost, 'g', -1, 64))}}
		}
		regs = append(regs, reg)
	}
	for _, reg := range regs {
		if err := r.x.Register(r.ctx, reg); err != nil {
			return err
		}
		r.workers = append(r.workers, reg.WorkerID)
	}
	return nil
}

// machineTasks lists every task a machine may dispatch.
func machineTasks(m *lang.Machine) []*lang.Task {
	var out []*lang.Task
	for _, s := range m.States {
		if s.Task != nil {
			out = append(out, s.Task)
		}
		if p := s.Parallel; p != nil {
			out = append(out, p.Tasks...)
			if p.Task != nil {
				out = append(out, p.Task)
			}
		}
	}
	return out
}

// stubbed is the folder with each stubbed child blueprint replaced by one
// that ends at once.
func stubbed(fo *folder, c *Case) (*lang.Set, error) {
	fsys := fstest.MapFS{}
	for k, v := range fo.fsys {
		fsys[k] = v
	}
	names := make([]string, 0, len(c.Children))
	for name := range c.Children {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		stub := c.Children[name]
		m := fo.set.Lookup(name)
		if m == nil {
			return nil, fmt.Errorf("%s: children: no blueprint %q in %s", stub.Pos, name, filepath.ToSlash(fo.dir))
		}
		var b strings.Builder
		fmt.Fprintf(&b, "name: %s\nstart: stub\nstates:\n  stub:\n", name)
		if len(stub.Data) > 0 {
			keys := make([]string, 0, len(stub.Data))
			for k := range stub.Data {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			b.WriteString("    set:\n")
			for _, k := range keys {
				v, err := json.Marshal(stub.Data[k])
				if err != nil {
					return nil, fmt.Errorf("%s: children: %v", stub.Pos, err)
				}
				kq, _ := json.Marshal(k)
				fmt.Fprintf(&b, "      %s: %s\n", kq, strings.ReplaceAll(string(v), "${{", "$${{"))
			}
		}
		fmt.Fprintf(&b, "    go_to: end\n  end: {end: %s}\n", stub.End)
		fsys[m.File] = &fstest.MapFile{Data: []byte(b.String())}
	}
	set, ds := lang.LoadFS(fsys)
	if ds.HasErrors() {
		return nil, fmt.Errorf("children: the replaced blueprints do not compile: %v", ds)
	}
	return set, nil
}

func (r *caseRun) now() time.Time { return r.clock.now() }

func (r *caseRun) schedule(at time.Time, do func() error) {
	r.seq++
	heap.Push(&r.pending, &action{at: at, seq: r.seq, do: do})
}

// drive runs the case to its end: it answers tasks, decides approvals,
// fires timers and reclaims leases, moving the clock to the next due
// time whenever nothing is due now.
func (r *caseRun) drive() {
	ctx := r.ctx
	for n := 0; !r.stop; n++ {
		if n > maxEvents {
			r.fail(r.c.Pos, "the job did not end after %d events (a loop on scripted replies?)", maxEvents)
			return
		}
		if ctx.Err() != nil {
			r.fail(r.c.Pos, "cancelled: %v", ctx.Err())
			return
		}
		if err := r.leaseAll(); err != nil {
			r.fail(r.c.Pos, "lease: %v", err)
			return
		}
		if r.stop {
			return
		}
		r.scanApprovals()
		now := r.now()
		if len(r.pending) > 0 && !r.pending[0].at.After(now) {
			a := heap.Pop(&r.pending).(*action)
			if err := a.do(); err != nil {
				r.fail(r.c.Pos, "%v", err)
				return
			}
			continue
		}
		at, ok, err := r.st.NextTimerAt(ctx)
		if err != nil {
			r.fail(r.c.Pos, "timers: %v", err)
			return
		}
		if ok && !at.After(now) {
			if err := r.x.FireDue(ctx); err != nil {
				r.fail(r.c.Pos, "timers: %v", err)
				return
			}
			continue
		}
		var leaseAt time.Time
		for id, until := range r.leases {
			if !until.After(now) {
				delete(r.leases, id)
				leaseAt = now
			} else if leaseAt.IsZero() || until.Before(leaseAt) {
				leaseAt = until
			}
		}
		if leaseAt.Equal(now) {
			if err := r.x.ReclaimDue(ctx); err != nil {
				r.fail(r.c.Pos, "reclaim: %v", err)
				return
			}
			continue
		}
		if r.ended() {
			return
		}
		next := leaseAt
		if ok && (next.IsZero() || at.Before(next)) {
			next = at
		}
		if len(r.pending) > 0 && (next.IsZero() || r.pending[0].at.Before(next)) {
			next = r.pending[0].at
		}
		if next.IsZero() {
			return // nothing left to happen: the job waits for ever
		}
		r.clock.set(next)
	}
}

func (r *caseRun) ended() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.live[r.root]
}

// leaseAll takes every task that is ready and schedules its reply.
func (r *caseRun) leaseAll() error {
	for _, w := range r.workers {
		for {
			p, err := r.x.Poll(r.ctx, w, 0)
			if err != nil {
				return err
			}
			t, err := r.x.Lease(r.ctx, p)
			if err != nil {
				return err
			}
			if t == nil {
				break
			}
			r.answer(w, t)
			if r.stop {
				return nil
			}
		}
	}
	return nil
}

func (r *caseRun) answer(worker string, t *core.Task) {
	d := &dispatched{task: t, at: r.now()}
	r.tasks = append(r.tasks, d)
	r.byTask[t.ID] = d
	rp, err := r.pick(t)
	if err != nil {
		r.fail(rp.When.Pos, "when: %v", err)
		r.stop = true
		return
	}
	if rp == nil {
		pos, ok := r.c.ReplyTypePos[t.Type]
		if !ok {
			pos = r.c.Pos
		}
		r.fail(pos, "no reply for task %q (attempt %d, item %d): add one under replies", t.Type, t.Attempt, t.Branch)
		r.stop = true
		return
	}
	d.reply = rp
	if rp.Progress != nil {
		payload := cloneMap(rp.Progress)
		if err := r.x.Event(r.ctx, worker, orchestrator.WorkerEvent{Type: wire.EventProgress, Payload: payload, OriginTaskID: t.ID, TargetJobID: t.JobID}); err != nil {
			r.fail(rp.Pos, "progress: %v", err)
		}
	}
	if rp.Timeout {
		if !t.LeaseUntil.IsZero() {
			r.leases[t.ID] = t.LeaseUntil
		}
		return
	}
	res := orchestrator.TaskResult{JobID: t.JobID, TaskID: t.ID, Status: rp.Status, Data: cloneMap(rp.Data)}
	if rp.Error != nil {
		e := *rp.Error
		res.Error = &e
	}
	r.schedule(r.now().Add(rp.After), func() error {
		_, err := r.x.Result(r.ctx, worker, res)
		return err
	})
}

// pick returns the first reply scripted for the task that matches it.
func (r *caseRun) pick(t *core.Task) (*Reply, error) {
	var vals map[string]any
	for _, rp := range r.c.Replies[t.Type] {
		if rp.Attempt != 0 && rp.Attempt != t.Attempt {
			continue
		}
		if rp.Item != nil && *rp.Item != t.Branch {
			continue
		}
		if rp.When != nil {
			if vals == nil {
				vals = map[string]any{"params": t.Params, "attempt": int64(t.Attempt), "item": int64(t.Branch), "type": t.Type}
				if j, err := r.st.GetJob(r.ctx, t.JobID); err == nil {
					vals["input"], vals["history"] = j.Input, j.History
				}
			}
			ok, err := rp.When.Truth(r.ctx, vals)
			if err != nil {
				return rp, err
			}
			if !ok {
				continue
			}
		}
		return rp, nil
	}
	return nil, nil
}

// scanApprovals schedules the scripted decision for every job that has
// just started waiting for one.
func (r *caseRun) scanApprovals() {
	if len(r.c.Approvals) == 0 {
		return
	}
	r.mu.Lock()
	ids := make([]string, 0, len(r.live))
	for _, id := range r.jobs {
		if r.live[id] {
			ids = append(ids, id)
		}
	}
	r.mu.Unlock()
	for _, id := range ids {
		j, err := r.st.GetJob(r.ctx, id)
		if err != nil || j.Status != wire.StatusWaitingForHuman {
			continue
		}
		key := id + "@" + strconv.Itoa(j.Steps)
		if r.approvalOf[key] {
			continue
		}
		r.approvalOf[key] = true
		ds := r.c.Approvals[j.State]
		if len(ds) == 0 {
			continue
		}
		n := r.visits[j.State]
		r.visits[j.State]++
		d := ds[min(n, len(ds)-1)]
		if d.Decision == "none" {
			continue
		}
		jobID, decision := id, d.Decision
		r.schedule(r.now().Add(d.After), func() error {
			err := r.x.Approve(r.ctx, nil, jobID, decision)
			if _, refused := err.(*orchestrator.Error); refused {
				return nil // the approval timed out first
			}
			return err
		})
	}
}

// cloneMap copies a scripted JSON object, so that no run changes the
// case it came from.
func cloneMap(m map[string]any) map[string]any {
	out, _ := lang.CopyJSON(m).(map[string]any)
	return out
}
