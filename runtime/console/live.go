package console

import (
	"context"
	"encoding/json"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/orchestrator"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// Bounds of the live view.
const (
	// maxActive is how many unfinished jobs the live view follows; jobs
	// past it are still served by the API but not counted on the graph.
	maxActive = 200_000
	// ringSize is how many recent stays per blueprint state the p50/p95
	// are computed over.
	ringSize = 512
	// seedLimit is how many of the newest jobs are read from the store
	// when the console is first used, to count jobs that started before
	// this process did.
	seedLimit = 10_000
	// maxPending bounds the changes held between two pushes; past it a
	// push says only "resync".
	maxPending = 5_000
	// maxBatch is the most jobs one push lists; a larger batch is sent
	// as a count and the page reloads what it shows.
	maxBatch = 200
	// batchWindow is how long changes gather before a push.
	batchWindow = 250 * time.Millisecond
	// maxSubscribers bounds the open live sockets.
	maxSubscribers = 1_000
)

type stateKey struct{ blueprint, state string }

type entry struct {
	blueprint, state, client string
	status                   wire.JobStatus
	since                    time.Time
	tasks                    []taskRef // open tasks, at most maxTasksPerJob
}

type taskRef struct{ id, typ string }

// maxTasksPerJob bounds the open tasks followed per job (a wide parallel
// is sampled).
const maxTasksPerJob = 256

// openTasks lists the job's tasks without a result yet, reusing old.
func (t *tracker) openTasks(j *core.Job, old []taskRef) []taskRef {
	out := old[:0]
	for _, ref := range j.Tasks.All() {
		if ref.Result == nil && len(out) < maxTasksPerJob {
			out = append(out, taskRef{ref.ID, t.intern(ref.Type)})
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

type sample struct {
	client string
	ms     float64
}

// ring keeps the latest stays in one state.
type ring struct {
	buf  [ringSize]sample
	n    int
	next int
}

func (r *ring) add(s sample) {
	r.buf[r.next] = s
	r.next = (r.next + 1) % ringSize
	if r.n < ringSize {
		r.n++
	}
}

// change is one job's new position, as pushed to the pages.
type change struct {
	ID        string         `json:"id"`
	Blueprint string         `json:"blueprint"`
	State     string         `json:"state"`
	Status    wire.JobStatus `json:"status"`
	UpdatedAt int64          `json:"updated_at"`
	client    string
}

type subscriber struct {
	client string // "" sees every job
	ch     chan []byte
	missed atomic.Bool // a push found ch full
}

// tracker follows the unfinished jobs this instance commits: how many
// sit in each state, how long past stays lasted, and the changes pushed
// to open pages.
type tracker struct {
	x *orchestrator.Orchestrator

	mu     sync.Mutex
	active map[string]*entry
	counts map[stateKey]map[string]int // client -> jobs there now
	rings  map[stateKey]*ring

	on       atomic.Bool // following jobs: the console was used
	names    map[string]string
	seedOnce sync.Once
	seeding  bool
	ended    map[string]bool // ended while the seed read the store

	subs     map[*subscriber]struct{}
	pending  map[string]change
	overflow bool
	running  bool
	wake     chan struct{}
}

func newTracker(x *orchestrator.Orchestrator) *tracker {
	return &tracker{
		x: x, names: map[string]string{}, active: map[string]*entry{}, counts: map[stateKey]map[string]int{}, rings: map[stateKey]*ring{},
		subs: map[*subscriber]struct{}{}, pending: map[string]change{}, wake: make(chan struct{}, 1),
	}
}

func (t *tracker) count(k stateKey, client string, d int) {
	m := t.counts[k]
	if m == nil {
		m = map[string]int{}
		t.counts[k] = m
	}
	m[client] += d
	if m[client] <= 0 {
		delete(m, client)
		if len(m) == 0 {
			delete(t.counts, k)
		}
	}
}

// observe takes one committed step of a job.
func (t *tracker) observe(j *core.Job) {
	if !t.on.Load() {
		return
	}
	at := j.UpdatedAt
	terminal := j.Status.Terminal()
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.active[j.ID]
	if e != nil && (e.state != j.State || terminal) {
		k := stateKey{e.blueprint, e.state}
		r := t.rings[k]
		if r == nil {
			r = &ring{}
			t.rings[k] = r
		}
		r.add(sample{e.client, float64(max(at.Sub(e.since), 0)) / float64(time.Millisecond)})
		t.count(k, e.client, -1)
	}
	switch {
	case terminal:
		delete(t.active, j.ID)
		if t.seeding {
			t.ended[j.ID] = true
		}
	case e == nil:
		if len(t.active) < maxActive {
			e = t.newEntry(j, at)
			t.active[j.ID] = e
			t.count(stateKey{e.blueprint, e.state}, e.client, 1)
		}
	case e.state != j.State:
		e.state, e.since, e.status = t.intern(j.State), at, wire.JobStatus(t.intern(string(j.Status)))
		e.tasks = t.openTasks(j, e.tasks)
		t.count(stateKey{e.blueprint, e.state}, e.client, 1)
	default:
		e.status = wire.JobStatus(t.intern(string(j.Status)))
		e.tasks = t.openTasks(j, e.tasks)
	}
	if len(t.subs) == 0 {
		return
	}
	if _, ok := t.pending[j.ID]; ok || len(t.pending) < maxPending {
		t.pending[j.ID] = change{ID: j.ID, Blueprint: j.Blueprint, State: j.State, Status: j.Status, UpdatedAt: at.Unix(), client: j.Client.Name}
	} else {
		t.overflow = true
	}
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// seed starts following jobs, once, when the console is first used (a
// server whose console nobody opens spends nothing on it), and counts the
// unfinished jobs among the newest in the store: those that started
// before.
func (t *tracker) seed() {
	t.seedOnce.Do(func() {
		t.mu.Lock()
		t.seeding, t.ended = true, map[string]bool{}
		t.on.Store(true)
		t.mu.Unlock()
		var jobs []*core.Job
		var err error
		if t.x != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			jobs, err = t.x.Store().ListJobs(ctx, store.ListParams{Limit: seedLimit})
			cancel()
		}
		t.mu.Lock()
		defer t.mu.Unlock()
		if err == nil {
			for _, j := range jobs {
				if j.Status.Terminal() || t.active[j.ID] != nil || t.ended[j.ID] || len(t.active) >= maxActive {
					continue
				}
				t.active[j.ID] = t.newEntry(j, j.UpdatedAt)
				t.count(stateKey{t.intern(j.Blueprint), t.intern(j.State)}, t.intern(j.Client.Name), 1)
			}
		}
		t.seeding, t.ended = false, nil
	})
}

// intern shares one copy of each blueprint, state, client and task type
// name among the followed jobs.
func (t *tracker) intern(s string) string {
	if v, ok := t.names[s]; ok {
		return v
	}
	s = strings.Clone(s)
	t.names[s] = s
	return s
}

func (t *tracker) newEntry(j *core.Job, since time.Time) *entry {
	return &entry{blueprint: t.intern(j.Blueprint), state: t.intern(j.State), client: t.intern(j.Client.Name), status: wire.JobStatus(t.intern(string(j.Status))), since: since, tasks: t.openTasks(j, nil)}
}

// StateStats is one state's live numbers.
type StateStats struct {
	Count int     `json:"count"`
	P50ms float64 `json:"p50_ms"`
	P95ms float64 `json:"p95_ms"`
	// Samples is how many recent stays the percentiles are computed over.
	Samples int `json:"samples"`
}

// BlueprintStats are one blueprint's live numbers.
type BlueprintStats struct {
	Running int                    `json:"running"`
	States  map[string]*StateStats `json:"states"`
}

// stats are the live numbers per blueprint, of the client's jobs only
// when client is set.
func (t *tracker) stats(client string, all bool) map[string]*BlueprintStats {
	out := map[string]*BlueprintStats{}
	get := func(k stateKey) *StateStats {
		b := out[k.blueprint]
		if b == nil {
			b = &BlueprintStats{States: map[string]*StateStats{}}
			out[k.blueprint] = b
		}
		s := b.States[k.state]
		if s == nil {
			s = &StateStats{}
			b.States[k.state] = s
		}
		return s
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, m := range t.counts {
		n := 0
		for cl, c := range m {
			if all || cl == client {
				n += c
			}
		}
		if n > 0 {
			get(k).Count = n
			out[k.blueprint].Running += n
		}
	}
	var ms []float64
	for k, r := range t.rings {
		ms = ms[:0]
		for i := range r.n {
			if s := r.buf[i]; all || s.client == client {
				ms = append(ms, s.ms)
			}
		}
		if len(ms) == 0 {
			continue
		}
		sort.Float64s(ms)
		s := get(k)
		s.P50ms, s.P95ms, s.Samples = percentile(ms, 0.50), percentile(ms, 0.95), len(ms)
	}
	return out
}

// percentile of sorted values, nearest rank.
func percentile(sorted []float64, p float64) float64 {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// StateJob is a job in a state now.
type StateJob struct {
	ID     string         `json:"id"`
	Status wire.JobStatus `json:"status"`
	Since  int64          `json:"since"`
}

// inState lists up to limit jobs in a blueprint's state now, longest
// there first.
func (t *tracker) inState(client string, all bool, blueprint, state string, limit int) []StateJob {
	out := []StateJob{}
	t.mu.Lock()
	for id, e := range t.active {
		if e.blueprint == blueprint && e.state == state && (all || e.client == client) {
			out = append(out, StateJob{ID: id, Status: e.status, Since: e.since.UnixMilli()})
		}
	}
	t.mu.Unlock()
	slices.SortFunc(out, func(a, b StateJob) int {
		if a.Since != b.Since {
			return int(a.Since - b.Since)
		}
		if a.ID < b.ID {
			return -1
		}
		return 1
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

// openTaskSample lists up to limit open tasks of unfinished jobs (with
// their job), and whether there were more.
func (t *tracker) openTaskSample(client string, all bool, limit int) (out []openTask, more bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, e := range t.active {
		if !all && e.client != client {
			continue
		}
		for _, r := range e.tasks {
			if len(out) >= limit {
				return out, true
			}
			out = append(out, openTask{job: id, id: r.id, typ: r.typ})
		}
	}
	return out, false
}

type openTask struct{ job, id, typ string }

// subscribe opens a live feed; nil when too many are open.
func (t *tracker) subscribe(client string) *subscriber {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.subs) >= maxSubscribers {
		return nil
	}
	s := &subscriber{client: client, ch: make(chan []byte, 8)}
	t.subs[s] = struct{}{}
	if !t.running {
		t.running = true
		go t.loop()
	}
	return s
}

func (t *tracker) unsubscribe(s *subscriber) {
	t.mu.Lock()
	delete(t.subs, s)
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// loop pushes the gathered changes to the open feeds, at most one push
// per batchWindow, and stops when the last feed closes. It sleeps while
// nothing changes.
func (t *tracker) loop() {
	for {
		<-t.wake
		time.Sleep(batchWindow)
		t.mu.Lock()
		if len(t.subs) == 0 {
			t.running = false
			clear(t.pending)
			t.overflow = false
			t.mu.Unlock()
			return
		}
		changes, overflow := t.pending, t.overflow
		t.pending, t.overflow = map[string]change{}, false
		subs := make([]*subscriber, 0, len(t.subs))
		for s := range t.subs {
			subs = append(subs, s)
		}
		t.mu.Unlock()
		if len(changes) == 0 && !overflow {
			continue
		}
		for _, s := range subs {
			t.push(s, changes, overflow)
		}
	}
}

// push sends one batch to one feed, filtered to its client. A batch too
// large, or one the feed missed before, says "resync" with a count.
func (t *tracker) push(s *subscriber, changes map[string]change, overflow bool) {
	var jobs []change
	names := map[string]bool{}
	n := 0
	for _, c := range changes {
		if s.client != "" && c.client != s.client {
			continue
		}
		n++
		names[c.Blueprint] = true
		if len(jobs) < maxBatch {
			jobs = append(jobs, c)
		}
	}
	if n == 0 && !overflow && !s.missed.Load() {
		return
	}
	msg := struct {
		Jobs       []change `json:"jobs,omitempty"`
		Count      int      `json:"count"`
		Resync     bool     `json:"resync,omitempty"`
		Blueprints []string `json:"blueprints"`
	}{Count: n, Blueprints: make([]string, 0, len(names))}
	for name := range names {
		msg.Blueprints = append(msg.Blueprints, name)
	}
	sort.Strings(msg.Blueprints)
	if n > maxBatch || overflow || s.missed.Load() {
		msg.Resync = true
	} else {
		sort.Slice(jobs, func(i, j int) bool { return jobs[i].ID < jobs[j].ID })
		msg.Jobs = jobs
	}
	b, _ := json.Marshal(msg)
	select {
	case s.ch <- b:
		s.missed.Store(false)
	default:
		s.missed.Store(true)
	}
}
