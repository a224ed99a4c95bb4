// Package store is the orchestrator's storage contract: jobs with their
// effects committed atomically under a version check, priority task queues
// with leases and long-polling, durable timers, worker records, named
// stores and machine versions.
//
// Data flows in one direction per request. The runtime reads a job
// (GetJob), steps the engine, and commits the new job together with the
// step's effects (CommitIfVersion): either everything happens or, on a
// version mismatch, nothing does and the runtime reloads and steps again.
// Enqueued tasks wait on the shared queue of their type, or on one worker's
// own queue when a dispatch strategy picked that worker; a worker's long
// poll (Lease) takes the best task it may run and holds a lease on it until
// its result commits (CommitParams.Complete) or the lease expires
// (ReclaimExpired). Timers are claimed exactly once (ClaimDueTimers).
//
// This package is the contract and nothing else: the Store interface, the
// params and records its methods take and return, Features, and the
// sentinel errors. The stores live in their own packages, memstore (the
// embedded default) and redisstore, and both run the conformance suite in
// storetest; callers use a store through this interface. docs/store.md holds
// the contract in prose.
//
// # Design notes
//
// Every mutating operation touches one job (and the queues, leases and
// timers its effects name), so a Redis implementation performs it as one
// Lua script over keys sharing the job's hash slot, plus queue keys. The
// version check (Rev) is the only concurrency control the caller sees:
// there are no locks to take or release.
//
// Values are copied in and out: a job or task passed to the store may be
// changed by the caller afterwards, and one returned may be changed freely.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/dispatch"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// Sentinel errors. Compare with errors.Is; implementations wrap them with
// the job or task id. A completed task that is unknown, belongs to another
// job or was withdrawn (cancelled, superseded by a retry) is the engine's
// core.ErrStaleTask: nothing changed, and the result is answered
// "ignored: stale_task" whichever of the two found it stale.
var (
	// ErrNotFound: the job, worker, version or task does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: CreateJob (or a StartChild effect) named an id in use.
	ErrExists = errors.New("already exists")
	// ErrConflict: the stored job's Rev is not CommitParams.ExpectRev;
	// nothing changed. Reload the job, step again and retry.
	ErrConflict = errors.New("version conflict")
	// ErrWorkerMismatch: the task is not leased to (or was not completed
	// by) the worker that sent the result. Nothing changed.
	ErrWorkerMismatch = errors.New("worker mismatch")
	// ErrLeaseLost: the task was leased to this worker, but the lease
	// expired and was reclaimed (or the worker was declared dead). Nothing
	// changed; the result is answered "ignored: deadline_exceeded".
	ErrLeaseLost = errors.New("lease lost")
	// ErrAlreadyDone: this worker's result for this task was already
	// committed. Nothing changed; answer the same "accepted" reply again.
	ErrAlreadyDone = errors.New("task already done")
	// ErrFull: a bounded table of the store (Reserve's keys) is full;
	// nothing changed. Callers answer "try again later".
	ErrFull = errors.New("store table full")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store closed")
)

// Features say how a store works where callers may do better knowing it;
// a store reports them with Store.Features. The zero value promises
// nothing.
type Features struct {
	// InProcess: the store lives in the caller's process, so a read costs
	// a decode, not a round trip, and a copy of a job kept to spare a read
	// would only hold its memory twice.
	InProcess bool
}

// Store is the one storage contract shared by the runtime and every
// implementation. All methods are safe for concurrent use. Times are
// passed in (Now fields); the store reads no clock except to measure how
// long a long poll has waited.
type Store interface {
	// CreateJob writes a new job with Rev 1 and applies its effects
	// atomically. ErrExists when the id (or a StartChild id) is in use.
	// p.ExpectRev and p.Complete are ignored.
	CreateJob(ctx context.Context, p CommitParams) error

	// CommitIfVersion atomically checks and writes: when p.Complete is set
	// its checks run first (core.ErrStaleTask, ErrWorkerMismatch, ErrLeaseLost,
	// ErrAlreadyDone); then the stored job's Rev must equal p.ExpectRev
	// (else ErrConflict). On success the job is stored with Rev
	// ExpectRev+1, the task (if any) is marked done by its worker, and
	// every effect is applied; the new Rev is returned. On any error
	// nothing changed. ErrNotFound when the job does not exist.
	CommitIfVersion(ctx context.Context, p CommitParams) (rev int64, err error)

	// GetJob returns the job. ErrNotFound when it does not exist.
	GetJob(ctx context.Context, id string) (*core.Job, error)
	// ListJobs returns jobs newest first (creation order), filtered by
	// client when p.Client is set.
	ListJobs(ctx context.Context, p ListParams) ([]*core.Job, error)
	// Timeline returns the job's timeline events in commit order (the
	// order of Effects.Timeline within a commit kept). ErrNotFound when
	// the job does not exist.
	Timeline(ctx context.Context, jobID string) ([]core.TimelineEvent, error)

	// Lease takes the best task the worker may run, leases it to the
	// worker and returns it (Worker, LeasedAt and LeaseUntil set). Best is
	// the highest Priority, then the earliest enqueued, among the worker's
	// own queue and the shared queues of p.Types whose tasks fit
	// p.Resources and p.Costs (dispatch.Fits). When there is none it waits
	// until one arrives, p.Wait elapses or ctx is done, and then returns
	// (nil, nil). Each task is leased to exactly one caller.
	Lease(ctx context.Context, p LeaseParams) (*core.Task, error)
	// Task returns a task's current record and state, including done,
	// withdrawn and expired tasks. ErrNotFound when unknown.
	Task(ctx context.Context, id string) (*TaskInfo, error)
	// ReclaimExpired removes up to limit leases that ended at or before
	// now (LeaseUntil passed, or the worker was declared dead) and returns
	// their tasks, state TaskExpired; the runtime then steps each job with
	// core.EventTaskTimeout. A later result for such a task is ErrLeaseLost.
	ReclaimExpired(ctx context.Context, now time.Time, limit int) ([]*core.Task, error)
	// WithdrawIfQueued withdraws the task when it is still waiting on a
	// queue and reports whether it did; false when it is leased, done,
	// withdrawn or unknown. Atomic against a concurrent Lease: exactly one
	// of them gets the task. Used for dispatch timeouts.
	WithdrawIfQueued(ctx context.Context, taskID string) (bool, error)

	// ClaimDueTimers removes and returns up to limit timers due at or
	// before now, earliest first. Each timer is returned to exactly one
	// caller, however many race.
	ClaimDueTimers(ctx context.Context, now time.Time, limit int) ([]core.Timer, error)
	// NextTimerAt returns when the earliest armed timer is due; ok is
	// false when none is armed.
	NextTimerAt(ctx context.Context) (at time.Time, ok bool, err error)
	// TimerArmed returns a channel that is closed when a timer is armed
	// after this call. Take it before NextTimerAt, then wait on it, on the
	// time until the next timer, and on ctx: no timer is missed.
	TimerArmed() <-chan struct{}

	// RegisterWorker stores (or replaces) a worker record. The store
	// keeps its own Load; a new record starts with Reputation 1 when
	// unset. A record whose ExpiresAt passes is dead (ExpireWorkers).
	RegisterWorker(ctx context.Context, w WorkerRecord) error
	// Heartbeat refreshes a live worker: status, expiry, and the hot
	// skills when p.HotSkills is not nil. found is false for an unknown or
	// expired worker (the worker must register again).
	Heartbeat(ctx context.Context, p HeartbeatParams) (found bool, err error)
	// Worker returns one worker record. ErrNotFound when unknown.
	Worker(ctx context.Context, id string) (*WorkerRecord, error)
	// Workers returns all worker records, by id.
	Workers(ctx context.Context) ([]WorkerRecord, error)
	// Candidates returns the dispatch view of the live workers that list
	// taskType among their skills, by id, with their current Load.
	Candidates(ctx context.Context, taskType string) ([]dispatch.Worker, error)
	// ExpireWorkers removes the workers whose ExpiresAt is at or before
	// now and returns their ids. Tasks in their own queues move to the
	// shared queues (Worker cleared, waiting pollers woken); their leases
	// end now, so the next ReclaimExpired returns those tasks.
	ExpireWorkers(ctx context.Context, now time.Time) ([]string, error)
	// RemoveWorker does the same for one worker (an authenticated
	// "offline" heartbeat). ErrNotFound when unknown.
	RemoveWorker(ctx context.Context, id string) error
	// CancelRequests returns and forgets the ids of tasks that were
	// withdrawn while leased to the worker (heartbeat cancel_task_ids).
	CancelRequests(ctx context.Context, workerID string) ([]string, error)
	// Counter increments the named counter and returns its new value
	// (round_robin: one counter per task type).
	Counter(ctx context.Context, name string) (uint64, error)

	// SeedStores creates each of the blueprint's named stores that does
	// not exist yet with the given initial values; existing stores are
	// left as they are.
	SeedStores(ctx context.Context, blueprint string, initial map[string]map[string]any) error
	// Stores returns the blueprint's named stores (empty map when none).
	Stores(ctx context.Context, blueprint string) (map[string]map[string]any, error)

	// PutVersion records a machine version's sources by hash; putting the
	// same hash again is a no-op.
	PutVersion(ctx context.Context, v Version) error
	// Version returns a recorded version. ErrNotFound when unknown.
	Version(ctx context.Context, hash string) (*Version, error)

	// EndLeases ends now the leases held by p.WorkerID that began at or
	// before p.LeasedBefore, except those of the tasks in p.Keep, so the
	// next ReclaimExpired returns their tasks (a worker that restarted, or
	// whose heartbeat no longer lists a task). It returns how many ended.
	EndLeases(ctx context.Context, p EndLeasesParams) (int, error)

	// Reserve sets key to value for ttl unless the key is set: first is
	// true when it was not, else held is the value it has. Atomic across
	// instances (replayed signatures, idempotency keys). A store that
	// bounds its keys by count returns ErrFull when no expired key can
	// make room.
	Reserve(ctx context.Context, key, value string, ttl time.Duration) (held string, first bool, err error)
	// Uncount takes one back from the named counter (never below zero): a
	// counted attempt that did not happen.
	Uncount(ctx context.Context, name string) error

	// JobEnds returns a channel that receives the id of each job whose
	// end (a terminal status) is committed from now on, by any instance
	// sharing the store, so requests waiting for a job's end need not
	// read it over and over. Best effort: an id may be dropped when the
	// reader falls behind or the connection breaks, so a reader still
	// looks now and then. nil when the store sends none (an in-process
	// store's one instance hears of its own commits).
	JobEnds() <-chan string

	// Stats counts what the store holds, for metrics and the dashboard.
	Stats(ctx context.Context) (Stats, error)

	// Features reports how the store works (see Features); it is the
	// same for the life of the store.
	Features() Features

	// Close ends waiting long polls (they return nil, nil) and releases
	// resources; later calls return ErrClosed.
	Close() error
}

// CommitParams is one atomic write: a job and the effects of the step
// that produced it.
type CommitParams struct {
	Job *core.Job
	// ExpectRev is the Rev the job had when it was read.
	ExpectRev int64
	Effects   *core.Effects
	// Complete, when set, marks a leased task done by its worker in the
	// same atomic step (a task result).
	Complete *TaskCompletion
}

// TaskCompletion names the task whose result is being committed and the
// worker that sent it.
type TaskCompletion struct {
	TaskID   string
	WorkerID string
}

// ListParams filters and pages ListJobs. Limit 0 means 100.
type ListParams struct {
	Client string // "" for every client
	Limit  int
	Offset int
}

// LeaseParams describes one long poll.
type LeaseParams struct {
	WorkerID string
	// Types are the worker's skills: the shared queues it takes from.
	Types []string
	// Now is the time of the poll; LeaseUntil = Now (plus the time spent
	// waiting) + task.Timeout. A task with Timeout 0 gets no deadline.
	Now time.Time
	// Wait is how long to hold the poll when no task is ready; 0 returns
	// at once.
	Wait time.Duration
	// Resources and Costs are matched against each task's requires and
	// max_cost (dispatch.Fits).
	Resources map[string]any
	Costs     map[string]float64
}

// EndLeasesParams picks the leases EndLeases ends.
type EndLeasesParams struct {
	WorkerID     string
	LeasedBefore time.Time
	Keep         []string // task ids whose leases stay
}

// TaskState is where a task is in its life.
type TaskState string

const (
	TaskQueued    TaskState = "queued"
	TaskLeased    TaskState = "leased"
	TaskDone      TaskState = "done"
	TaskWithdrawn TaskState = "withdrawn"
	TaskExpired   TaskState = "expired" // lease reclaimed
)

// TaskInfo is a task's record and state. Worker is the lease holder
// (leased), the worker that completed it (done), the worker that held it
// (expired, withdrawn while leased), or the worker whose own queue holds it
// (queued, "" on a shared queue).
type TaskInfo struct {
	Task   *core.Task
	State  TaskState
	Worker string
}

// HeartbeatParams refreshes a worker.
type HeartbeatParams struct {
	WorkerID  string
	Status    wire.WorkerStatus
	Now       time.Time
	ExpiresAt time.Time
	HotSkills []string // nil: unchanged
}

// WorkerRecord is a registered worker.
type WorkerRecord struct {
	dispatch.Worker
	RegisteredAt time.Time `json:"registered_at"`
	LastSeen     time.Time `json:"last_seen"`
	// ExpiresAt is when the worker is dead without a heartbeat (now + 2x
	// the health interval, computed by the caller).
	ExpiresAt time.Time `json:"expires_at"`
	// Info is the registration as received, for GET /workers.
	Info map[string]any `json:"info,omitempty"`
}

// Version is the sources of one machine version, enough to rebuild it.
type Version struct {
	Hash    string
	File    string // the blueprint's YAML path within the sources
	Sources map[string][]byte
}

// Stats are counts of what the store holds.
type Stats struct {
	Jobs         int
	JobsByStatus map[wire.JobStatus]int
	Queued       int
	Leased       int
	Timers       int
	Workers      int
	// Waiting counts the long polls waiting in this process (for a
	// shared store: on this instance).
	Waiting int
}
