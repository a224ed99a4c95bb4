// Package redisstore is the Redis implementation of store.Store: several
// orchestrator instances share jobs, queues, leases, timers and workers
// through one Redis (a server, Sentinel or Cluster).
//
// # Key layout
//
// Every key starts with "{prefix}:" (default prefix "avt"). The braces are
// a Redis Cluster hash tag: all keys of one store live in one hash slot, so
// every operation is one Lua script over keys of one slot and is atomic on
// Cluster exactly as on a single server. The price is that one store does
// not spread over several Cluster shards (Cluster gives failover, not
// write scaling); docs/operations.md discusses it.
//
//	jl:<n>        list   job records, jobs n*1024 to n*1024+1023 in creation
//	                     order; a record is MessagePack {i=id, r=rev,
//	                     s=status code, v=version number, c=created at (ns,
//	                     base 36), d=job JSON, l=timeline lines, t=tasks by
//	                     enqueue sequence}; a task is {i=id, y=type, s=state
//	                     (none: queued; l d w x), c="1" when constrained,
//	                     p=queue score (none: 0), o=timeout (µs), a=assigned
//	                     worker, w=lease holder, la/lu=lease start/end (µs),
//	                     d=task JSON}
//	ix:<bucket>   hash   index: 48-bit hash of "j"+job id or "t"+task id
//	                     (6 bytes) -> job number
//	jc:<client>   list   a named client's job numbers, newest first
//	stc           hash   status code (codec.go) -> job count
//	vn, vh        hash   "<len>:<version hash><blueprint>" -> number; number -> it
//	qp:<type>     zset   the queue scores that have a list; ql:<type>:<score>
//	                     list of queue members in enqueue order (the shared
//	                     queue); wqp:<worker>, wql:<worker>:<score> a
//	                     worker's own queue
//	leases        zset   leased tasks' queue members by lease end (µs; +inf: none)
//	wl:<worker>   set    queue members of the tasks leased to the worker
//	cr:<worker>   list   cancel requests (task ids withdrawn while leased)
//	tm, tmd       zset   timer ids by due time (µs); hash id -> timer JSON
//	w:<worker>    hash   d=record JSON, st, ls, ex, hs (heartbeat fields)
//	workers       zset   worker ids by expiry (µs)
//	st:<bp>:<s>   hash   a named store; sts:<bp> set of its store names
//	v:<hash>      string machine version JSON
//	seq, cnt, ctr:<name>  counters (cnt: j jobs, q queued tasks, v versions,
//	                     xb index buckets, xe index entries)
//	layout        string the key layout ("2"); New refuses another
//
// Memory per queued job is the design's first concern: about 350 bytes
// for a one-task job created through the API (BenchmarkRedisMemoryQueuedJobs).
// Every Redis key costs about a hundred bytes before its value, a string
// value is rounded up to the allocator's size class, and a hash or zset
// past its listpack limits (128 entries, 64-byte values by default)
// becomes a hash table or skip list several times its size. So:
//
//   - A job is not a key but an element of a list holding 1,024 records:
//     an element costs its length and a few bytes, where a key cost about
//     150 bytes around its value. Jobs are numbered in creation order, so
//     job n is element n%1024 of jl:<n/1024> (LINDEX, LSET), listing newest
//     first is a range read, and a task's record is the job's.
//   - Job and task ids lead to the job's number through one index of small
//     hashes holding a 48-bit hash of the id (6 bytes) and the number, not
//     the ids (a reader checks the id in the record, so colliding hashes
//     share an entry). It grows by linear hashing, one bucket split at a
//     time, so every bucket stays a listpack of about 40 entries.
//   - Ids are packed (ids.go): a UUID, as the server makes job ids and the
//     engine task ids, is stored as 22 characters instead of 36 or 41.
//   - The job JSON (codec.go) leaves out what the record holds, the task
//     JSON its timeout, and timeline events are short positional lines.
//   - A queue is a list per priority, not a zset: a member costs its 20
//     bytes instead of about 160.
//
// A queue member is "<12 hex digits of the enqueue sequence><flag><job
// number in hex>": it names the job record and the task in it (by its
// sequence), and orders tasks FIFO within a list; lists of one queue are
// taken in score order (-priority), so the lease order is the highest
// priority first, then FIFO, across the worker's own queue and the shared
// queues of its types. The flag is 1 for a task with requires or
// max_cost, which the lease script leaves to Go to check (dispatch.Fits)
// before claiming. A task put back (a lease undone, a dead worker's queue
// moved) is inserted at its sequence's place. A withdrawn task is removed
// when found within 1,000 members of either end of its list; one deeper
// stays until a lease reaches and drops it, so a withdrawal costs bounded
// work however long the queue.
//
// Long polls wait in the process; the scripts that enqueue publish
// "t:<n>:<type>" (n tasks queued), "T:<type>" (a constrained task) or
// "w:<worker>" on "{prefix}:wake", and each store instance holds one
// subscription. It wakes n of its polls of the type, the longest waiting
// first, every poll of the type for a constrained task (not every worker
// fits it), or the worker's polls; a poll that leases while more are
// queued wakes the next.
package redisstore

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
)

//go:embed lua/*.lua
var luaFS embed.FS

// scripts are the store's Lua scripts, each with lib.lua prepended.
type scripts struct {
	commit, lease, unlease, reclaim, withdraw, timers, nextTimer, workers,
	heartbeat, getWorkers, seed, stores, list, stats, getTask, getJob, timeline, init *redis.Script
}

func loadScripts() (*scripts, error) {
	lib, err := luaFS.ReadFile("lua/lib.lua")
	if err != nil {
		return nil, err
	}
	var firstErr error
	load := func(name string) *redis.Script {
		src, err := luaFS.ReadFile("lua/" + name + ".lua")
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return redis.NewScript(string(lib) + "\n" + string(src))
	}
	s := &scripts{
		commit: load("commit"), lease: load("lease"), unlease: load("unlease"), reclaim: load("reclaim"),
		withdraw: load("withdraw"), timers: load("timers"), nextTimer: load("nexttimer"), workers: load("workers"),
		heartbeat: load("heartbeat"), getWorkers: load("getworkers"), seed: load("seed"), stores: load("stores"),
		list: load("list"), stats: load("stats"), getTask: load("gettask"), getJob: load("getjob"),
		timeline: load("timeline"), init: load("init"),
	}
	return s, firstErr
}

// Options tune a Store.
type Options struct {
	// Prefix starts every key; default "avt".
	Prefix string
	// Recheck is how often the longest-waiting poll of each task type is
	// woken to look at the queues without a wake message (a safety net
	// under the wake messages; a subscription that comes back after a
	// break wakes every poll, since messages may have been lost in it);
	// default 2 s.
	Recheck time.Duration
	// OwnsClient makes Close close the client.
	OwnsClient bool
}

// Store is a store.Store on Redis. Create it with New or Open.
type Store struct {
	rdb     redis.UniversalClient
	prefix  string // "{prefix}"
	keys    []string
	sc      *scripts
	recheck time.Duration
	owns    bool
	rt      *RoundTrips
	outbox  atomic.Bool // KeepOutbox (outbox.go)
	// onCancel holds the CancelFeed's functions ([]func(worker, task string)).
	onCancel   atomic.Value
	onCancelMu sync.Mutex

	mu       sync.Mutex
	waiters  waiters
	timerCh  chan struct{}
	ends     chan string // ids of jobs whose end was committed (JobEnds)
	closed   bool
	closedCh chan struct{}

	sub    *redis.PubSub
	subCtx context.CancelFunc
	subEnd chan struct{}
}

var _ store.Store = (*Store)(nil)

// Open connects to the Redis the configuration names and returns a store
// that closes its client on Close.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	c, err := cfg.NewClient()
	if err != nil {
		return nil, err
	}
	s, err := New(ctx, c, Options{Prefix: cfg.Prefix, OwnsClient: true})
	if err != nil {
		c.Close()
		return nil, err
	}
	return s, nil
}

// New returns a store over the client. It pings Redis, loads the scripts
// and subscribes to wake messages; ctx bounds that start only.
func New(ctx context.Context, c redis.UniversalClient, opt Options) (*Store, error) {
	if opt.Prefix == "" {
		opt.Prefix = "avt"
	}
	if strings.ContainsAny(opt.Prefix, "{}") {
		return nil, fmt.Errorf("redis store: prefix %q must not contain { or }", opt.Prefix)
	}
	if opt.Recheck <= 0 {
		opt.Recheck = 2 * time.Second
	}
	sc, err := loadScripts()
	if err != nil {
		return nil, fmt.Errorf("redis store: scripts: %w", err)
	}
	s := &Store{
		rdb: c, prefix: "{" + opt.Prefix + "}", sc: sc, recheck: opt.Recheck, owns: opt.OwnsClient,
		rt: &RoundTrips{}, waiters: newWaiters(), timerCh: make(chan struct{}), closedCh: make(chan struct{}),
		ends: make(chan string, 4096),
	}
	s.keys = []string{s.prefix}
	if err := c.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("redis store: ping: %w", err)
	}
	for _, x := range []*redis.Script{sc.commit, sc.lease, sc.unlease, sc.reclaim, sc.withdraw, sc.timers, sc.nextTimer,
		sc.workers, sc.heartbeat, sc.getWorkers, sc.seed, sc.stores, sc.list, sc.stats, sc.getTask, sc.getJob, sc.timeline, sc.init} {
		if err := x.Load(ctx, c).Err(); err != nil {
			return nil, fmt.Errorf("redis store: load script: %w", err)
		}
	}
	switch found, err := sc.init.Run(ctx, c, s.keys, layout).Text(); {
	case err != nil:
		return nil, fmt.Errorf("redis store: check key layout: %w", err)
	case found != "OK":
		if found == "" {
			found = "1"
		}
		return nil, fmt.Errorf("redis store: prefix %q holds data of key layout %s, this version reads layout %s only (use another prefix, or drain and remove the old keys)", opt.Prefix, found, layout)
	}
	s.sub = c.Subscribe(ctx, s.prefix+":wake")
	if _, err := s.sub.Receive(ctx); err != nil {
		s.sub.Close()
		return nil, fmt.Errorf("redis store: subscribe %s:wake: %w", s.prefix, err)
	}
	c.AddHook(s.rt)
	subCtx, cancel := context.WithCancel(context.Background())
	s.subCtx, s.subEnd = cancel, make(chan struct{})
	go s.listen(subCtx)
	return s, nil
}

// RoundTrips counts the requests the store's client sends to Redis: a
// command or a pipeline is one round trip.
func (s *Store) RoundTrips() *RoundTrips { return s.rt }

// RoundTrips is a go-redis hook counting round trips and commands.
type RoundTrips struct {
	trips, commands atomic.Int64
}

// Trips returns the round trips so far.
func (r *RoundTrips) Trips() int64 { return r.trips.Load() }

// Commands returns the commands so far (a pipeline counts each).
func (r *RoundTrips) Commands() int64 { return r.commands.Load() }

// DialHook implements redis.Hook.
func (r *RoundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook implements redis.Hook.
func (r *RoundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		r.trips.Add(1)
		r.commands.Add(1)
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook implements redis.Hook.
func (r *RoundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		r.trips.Add(1)
		r.commands.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// listen delivers wake messages to waiting polls and timer signals until
// the store closes. A subscription confirmed again (the connection broke
// and came back) may have lost messages: every poll looks. Every recheck
// interval the longest-waiting poll of each type looks too; one that finds
// a task while more are queued wakes the next, so a task whose wake went
// astray waits at most an interval, whatever the number of waiting polls.
func (s *Store) listen(ctx context.Context) {
	defer close(s.subEnd)
	ch := s.sub.ChannelWithSubscriptions(redis.WithChannelSize(1024))
	tick := time.NewTicker(s.recheck)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			switch m := m.(type) {
			case *redis.Message:
				s.wake(m.Payload)
			case *redis.Subscription:
				s.mu.Lock()
				s.waiters.deliver("*")
				s.mu.Unlock()
			}
		case <-tick.C:
			s.mu.Lock()
			s.waiters.recheck()
			s.mu.Unlock()
		}
	}
}

func (s *Store) wake(msg string) {
	if id, ok := strings.CutPrefix(msg, "e:"); ok {
		select {
		case s.ends <- id:
		default: // nobody reads fast enough: the reader's own reads catch up
		}
		return
	}
	if rest, ok := strings.CutPrefix(msg, "c:"); ok {
		if task, worker, ok := strings.Cut(rest, "\n"); ok {
			fs, _ := s.onCancel.Load().([]func(string, string))
			for _, f := range fs {
				f(worker, unpack(task, taskPrefix))
			}
		}
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if msg == "timer" {
		close(s.timerCh)
		s.timerCh = make(chan struct{})
		return
	}
	s.waiters.deliver(msg)
}

// JobEnds implements store.Store: the ends committed by every instance
// sharing the Redis, as published by their commits.
func (s *Store) JobEnds() <-chan string { return s.ends }

var _ store.CancelFeed = (*Store)(nil)

// OnCancel implements store.CancelFeed: f hears of every task withdrawn
// while leased, on every instance, through the wake channel. Each call
// adds a listener (servers in one process may share a store).
func (s *Store) OnCancel(f func(workerID, taskID string)) {
	s.onCancelMu.Lock()
	defer s.onCancelMu.Unlock()
	fs, _ := s.onCancel.Load().([]func(string, string))
	s.onCancel.Store(append(fs[:len(fs):len(fs)], f))
}

// Features implements store.Store: every read is a round trip to Redis.
func (s *Store) Features() store.Features { return store.Features{} }

// Close ends waiting polls, stops the subscription and, when the store
// owns it, closes the client.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closedCh)
	s.mu.Unlock()
	s.subCtx()
	err := s.sub.Close()
	<-s.subEnd
	if s.owns {
		if cerr := s.rdb.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

func (s *Store) check() error {
	select {
	case <-s.closedCh:
		return store.ErrClosed
	default:
		return nil
	}
}

func (s *Store) key(parts ...string) string { return s.prefix + ":" + strings.Join(parts, ":") }

func us(t time.Time) string { return strconv.FormatInt(t.UnixMicro(), 10) }

func fromUS(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMicro(n).UTC()
}

// ---- jobs and commits ----

// layout names the key layout below (init.lua refuses another one).
const layout = "2"

type commitArgs struct {
	ID     string       `json:"id"` // packed (ids.go), as every id sent to the scripts
	Create bool         `json:"create,omitempty"`
	Rev    string       `json:"rev,omitempty"`
	Job    string       `json:"job"`
	Status string       `json:"st"`
	Client string       `json:"cl,omitempty"`
	V      string       `json:"v,omitempty"`  // version hash
	B      string       `json:"b,omitempty"`  // blueprint
	Tb     string       `json:"tb,omitempty"` // created at (ns), the base of other times
	Done   *doneArg     `json:"done,omitempty"`
	Enq    []enqArg     `json:"enq,omitempty"`
	Wd     []string     `json:"wd,omitempty"`
	Tm     []timerArg   `json:"tm,omitempty"`
	Ctm    []string     `json:"ctm,omitempty"`
	Ch     []childArg   `json:"ch,omitempty"`
	Sw     []storeWrite `json:"sw,omitempty"`
	Tl     string       `json:"tl,omitempty"`  // compact events, one a line
	Ob     string       `json:"ob,omitempty"`  // end time (µs) when the commit ends the job and the outbox is on
	Fin    string       `json:"fin,omitempty"` // the job's id when it ends: published as e:<id>
}

type doneArg struct {
	T string `json:"t"`
	W string `json:"w"`
}

type enqArg struct {
	ID string      `json:"id"`
	Ty string      `json:"ty"`
	D  string      `json:"d"`
	Sc string      `json:"sc,omitempty"` // queue score; "" for 0
	C  string      `json:"c,omitempty"`  // "1": constrained
	W  string      `json:"w,omitempty"`
	To json.Number `json:"to,omitempty"` // timeout (µs)
}

type timerArg struct {
	ID string `json:"id"`
	At string `json:"at"`
	D  string `json:"d"`
}

type childArg struct {
	ID string `json:"id"`
	D  string `json:"job"`
	St string `json:"st"`
	Cl string `json:"cl,omitempty"`
	V  string `json:"v,omitempty"`
	B  string `json:"b,omitempty"`
	Tb string `json:"tb,omitempty"`
}

type storeWrite struct {
	B string `json:"b"`
	S string `json:"s"`
	K string `json:"k"`
	V string `json:"v"`
}

func (s *Store) buildCommit(p store.CommitParams, create bool) (string, error) {
	if p.Job == nil || p.Job.ID == "" {
		return "", errors.New("commit job: a job with an id is required")
	}
	j := p.Job
	d, err := encodeJob(j)
	if err != nil {
		return "", err
	}
	a := commitArgs{ID: packJob(j.ID), Create: create, Job: d, Status: statusCode(j.Status), Client: j.Client.Name,
		V: j.Version, B: j.Blueprint, Tb: base(j.CreatedAt)}
	if j.Status.Terminal() {
		a.Fin = j.ID
	}
	if !create {
		a.Rev = strconv.FormatInt(p.ExpectRev, 10)
		if c := p.Complete; c != nil {
			a.Done = &doneArg{T: packTask(c.TaskID), W: c.WorkerID}
		}
	}
	if s.outbox.Load() && j.Status.Terminal() {
		a.Ob = us(endTime(j))
	}
	tb := baseNanos(j.CreatedAt)
	if fx := p.Effects; fx != nil {
		for _, t := range fx.Enqueue {
			if t == nil || t.ID == "" {
				return "", fmt.Errorf("commit job %q: enqueue: a task with an id is required", j.ID)
			}
			if math.IsNaN(t.Priority) {
				return "", fmt.Errorf("commit job %q: enqueue task %q: priority is NaN", j.ID, t.ID)
			}
			td, to, err := encodeTask(t, tb)
			if err != nil {
				return "", err
			}
			e := enqArg{ID: packTask(t.ID), Ty: t.Type, D: td, W: t.Worker, To: json.Number(to)}
			if t.Priority != 0 {
				e.Sc = strconv.FormatFloat(-t.Priority, 'g', -1, 64)
			}
			if len(t.Requires) > 0 || t.MaxCost != nil {
				e.C = "1"
			}
			a.Enq = append(a.Enq, e)
		}
		a.Wd = packTasks(fx.Withdraw)
		for _, tm := range fx.Timers {
			if tm.ID == "" {
				return "", fmt.Errorf("commit job %q: arm timer: a timer with an id is required", j.ID)
			}
			b, err := json.Marshal(tm)
			if err != nil {
				return "", fmt.Errorf("commit job %q: encode timer %q: %w", j.ID, tm.ID, err)
			}
			a.Tm = append(a.Tm, timerArg{ID: tm.ID, At: us(tm.At), D: string(b)})
		}
		a.Ctm = fx.CancelTimers
		for _, c := range fx.StartChild {
			if c == nil || c.ID == "" {
				return "", fmt.Errorf("commit job %q: start child: a job with an id is required", j.ID)
			}
			cd, err := encodeJob(c)
			if err != nil {
				return "", err
			}
			a.Ch = append(a.Ch, childArg{ID: packJob(c.ID), D: cd, St: statusCode(c.Status), Cl: c.Client.Name, V: c.Version,
				B: c.Blueprint, Tb: base(c.CreatedAt)})
		}
		for _, w := range fx.StoreWrites {
			b, err := json.Marshal(w.Value)
			if err != nil {
				return "", fmt.Errorf("commit job %q: store write %s.%s: %w", j.ID, w.Store, w.Key, err)
			}
			a.Sw = append(a.Sw, storeWrite{B: w.Blueprint, S: w.Store, K: w.Key, V: string(b)})
		}
		var tl strings.Builder
		var prev *time.Time
		for _, e := range fx.Timeline {
			b, err := encodeEvent(e, tb, prev)
			prev = &e.At
			if err != nil {
				return "", fmt.Errorf("commit job %q: timeline event %q: %w", j.ID, e.Type, err)
			}
			tl.WriteString(b)
			tl.WriteByte('\n')
		}
		a.Tl = tl.String()
	}
	b, err := json.Marshal(&a)
	if err != nil {
		return "", fmt.Errorf("commit job %q: %w", j.ID, err)
	}
	return string(b), nil
}

// replyErr maps a script's refusal to the contract's errors.
func commitErr(jobID string, p store.CommitParams, r []any) error {
	code, _ := r[0].(string)
	arg := func(i int) string {
		if i < len(r) {
			s, _ := r[i].(string)
			return s
		}
		return ""
	}
	var task, worker string
	if p.Complete != nil {
		task, worker = p.Complete.TaskID, p.Complete.WorkerID
	}
	switch code {
	case "EXISTS":
		id := arg(2)
		if arg(1) == "task" {
			id = unpackTask(id)
		} else {
			id = unpackJob(id)
		}
		return fmt.Errorf("commit job %q: %s %q: %w", jobID, arg(1), id, store.ErrExists)
	case "NOTFOUND":
		return fmt.Errorf("commit job %q: %w", jobID, store.ErrNotFound)
	case "CONFLICT":
		return fmt.Errorf("commit job %q at rev %d (stored rev %s): %w", jobID, p.ExpectRev, arg(1), store.ErrConflict)
	case "STALE":
		return fmt.Errorf("result for task %q of job %q: %w", task, jobID, core.ErrStaleTask)
	case "DONE":
		return fmt.Errorf("result for task %q from worker %q: %w", task, worker, store.ErrAlreadyDone)
	case "LOST":
		return fmt.Errorf("result for task %q from worker %q: %w", task, worker, store.ErrLeaseLost)
	case "MISMATCH":
		return fmt.Errorf("result for task %q from worker %q: %w", task, worker, store.ErrWorkerMismatch)
	}
	return fmt.Errorf("commit job %q: unexpected reply %v", jobID, r)
}

func (s *Store) runCommit(ctx context.Context, p store.CommitParams, create bool) (int64, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	arg, err := s.buildCommit(p, create)
	if err != nil {
		return 0, err
	}
	res, err := s.sc.commit.Run(ctx, s.rdb, s.keys, arg).Slice()
	if err != nil {
		return 0, fmt.Errorf("commit job %q: redis: %w", p.Job.ID, err)
	}
	if len(res) == 2 && res[0] == "OK" {
		rev, _ := res[1].(int64)
		return rev, nil
	}
	return 0, commitErr(p.Job.ID, p, res)
}

// CreateJob implements store.Store.
func (s *Store) CreateJob(ctx context.Context, p store.CommitParams) error {
	_, err := s.runCommit(ctx, p, true)
	return err
}

// CommitIfVersion implements store.Store.
func (s *Store) CommitIfVersion(ctx context.Context, p store.CommitParams) (int64, error) {
	return s.runCommit(ctx, p, false)
}

// GetJob implements store.Store.
func (s *Store) GetJob(ctx context.Context, id string) (*core.Job, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	v, err := s.sc.getJob.Run(ctx, s.rdb, s.keys, packJob(id)).StringSlice()
	if err == redisNil {
		return nil, fmt.Errorf("job %q: %w", id, store.ErrNotFound)
	}
	if err != nil || len(v) != 5 {
		return nil, fmt.Errorf("get job %q: redis: %v", id, err)
	}
	return decodeJob(id, v[0], v[1], v[2], v[3], v[4])
}

// ListJobs implements store.Store.
func (s *Store) ListJobs(ctx context.Context, p store.ListParams) ([]*core.Job, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if p.Limit <= 0 {
		p.Limit = 100
	}
	if p.Offset < 0 {
		p.Offset = 0
	}
	res, err := s.sc.list.Run(ctx, s.rdb, s.keys, p.Client, p.Offset, p.Limit).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("list jobs: redis: %w", err)
	}
	var out []*core.Job
	for i := 0; i+5 < len(res); i += 6 {
		j, err := decodeJob(unpackJob(res[i]), res[i+1], res[i+2], res[i+3], res[i+4], res[i+5])
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, nil
}

// Timeline implements store.Store.
func (s *Store) Timeline(ctx context.Context, jobID string) ([]core.TimelineEvent, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	v, err := s.sc.timeline.Run(ctx, s.rdb, s.keys, packJob(jobID)).StringSlice()
	if err == redisNil {
		return nil, fmt.Errorf("timeline of job %q: %w", jobID, store.ErrNotFound)
	}
	if err != nil || len(v) != 2 {
		return nil, fmt.Errorf("timeline of job %q: redis: %v", jobID, err)
	}
	out, err := decodeTimeline(v[0], v[1])
	if err != nil {
		return nil, fmt.Errorf("timeline of job %q: decode: %w", jobID, err)
	}
	if out == nil {
		out = []core.TimelineEvent{}
	}
	return out, nil
}
