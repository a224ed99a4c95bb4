package store

import (
	"context"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
)

// The history contract: what a live store adds so that ended jobs move to a
// durable archive (runtime/history) and leave the live store afterwards,
// and the archive's own interface. The orchestrator drives both: it reads
// the outbox, writes the archive, and only then marks the jobs archived in
// the live store, which may then forget them once their retention passed.
//
//	commit ends a job ─► outbox ─► Archive.Put ─► MarkArchived ─► retained ─► RemoveArchived
//
// Each arrow is idempotent: a crash after Put and before MarkArchived puts
// the same jobs again, and Put of a job already archived changes nothing.

// EndedJob is an ended job and its timeline, as archived.
type EndedJob struct {
	Job      *core.Job
	Timeline []core.TimelineEvent
}

// Outbox is implemented by a live store that can hand its ended jobs to an
// archive and then forget them. Both stores of this module implement it.
type Outbox interface {
	// KeepOutbox turns the outbox on for the life of the store: from now
	// on a commit that ends a job (a terminal status) also records the job
	// in the outbox, atomically with the commit. Off (the default), ended
	// jobs stay in the live store and nothing else is recorded.
	KeepOutbox()
	// PendingArchive returns up to limit jobs of the outbox, earliest
	// ended first, with their timelines. It removes nothing.
	PendingArchive(ctx context.Context, limit int) ([]EndedJob, error)
	// MarkArchived moves the jobs from the outbox to the retained set:
	// they stay readable until RemoveArchived takes them. Ids not in the
	// outbox are ignored.
	MarkArchived(ctx context.Context, ids []string) error
	// RemoveArchived forgets up to limit retained jobs that ended at or
	// before endedBefore (their records, timelines, tasks and index
	// entries) and returns how many it removed. A job still in the outbox
	// is never removed.
	RemoveArchived(ctx context.Context, endedBefore time.Time, limit int) (int, error)
	// OutboxLen counts the jobs waiting in the outbox.
	OutboxLen(ctx context.Context) (int, error)
}

// Searcher is implemented by a store that answers a JobQuery over the jobs
// it holds (the live part of a search).
type Searcher interface {
	// SearchJobs returns up to q.Limit jobs matching q (Match), in q's
	// order, after q.After when set.
	SearchJobs(ctx context.Context, q JobQuery) ([]*core.Job, error)
}

// Archive is the durable history of ended jobs (runtime/history).
type Archive interface {
	// Put writes ended jobs with their timelines in one transaction. A job
	// already archived is left as it is, so Put may be repeated.
	Put(ctx context.Context, jobs []EndedJob) error
	// SearchJobs answers q over the archived jobs (see Searcher).
	SearchJobs(ctx context.Context, q JobQuery) ([]*core.Job, error)
	// Job returns an archived job. ErrNotFound when it is not archived.
	Job(ctx context.Context, id string) (*core.Job, error)
	// Timeline returns an archived job's timeline. ErrNotFound when it is
	// not archived.
	Timeline(ctx context.Context, id string) ([]core.TimelineEvent, error)
	// AppendTimeline adds events to the end of an archived job's timeline
	// (a redrive). ErrNotFound when the job is not archived.
	AppendTimeline(ctx context.Context, id string, evs []core.TimelineEvent) error
	// Describe names the archive for logs (the database, never a password).
	Describe() string
	Close() error
}
