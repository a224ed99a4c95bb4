package store

import (
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// SortKey is what a search orders jobs by.
type SortKey string

const (
	// SortCreated orders by creation time (then id).
	SortCreated SortKey = "created"
	// SortEnded orders by end time (then id); jobs that have not ended
	// have no end time and are left out.
	SortEnded SortKey = "ended"
)

// MaxQueryLimit is the most jobs one search page returns.
const MaxQueryLimit = 1000

// JobQuery is a search over jobs: every set field must match. Time ranges
// are half-open, [After, Before). Times compare at microsecond precision,
// the precision the archive keeps.
type JobQuery struct {
	Client    string           // "" for every client
	Statuses  []wire.JobStatus // any of them
	Blueprint string
	State     string // the current state
	ErrorCode string
	// Worker: a worker that reported on the job (a timeline event names it).
	Worker string
	// Parent: the job that started this one as a child.
	Parent        string
	CreatedAfter  time.Time
	CreatedBefore time.Time
	EndedAfter    time.Time
	EndedBefore   time.Time
	// Meta: metadata keys and values; a value compares with the
	// metadata's value as a string (a string as it is, anything else as
	// JSON: 42, true).
	Meta map[string]string

	Sort SortKey // "" is SortCreated
	Asc  bool    // oldest first; default newest first
	// Limit is how many jobs at most (0: 100, at most MaxQueryLimit).
	Limit int
	// After is the position of the last job of the previous page.
	After *Position
}

// Position is a job's place in a search order: its sort time (Unix
// microseconds) and id.
type Position struct {
	At int64
	ID string
}

// Normalize fills in the defaults of q.
func (q *JobQuery) Normalize() {
	if q.Sort == "" {
		q.Sort = SortCreated
	}
	if q.Limit <= 0 {
		q.Limit = 100
	}
	q.Limit = min(q.Limit, MaxQueryLimit)
}

// Key is the job's position in q's order; ok is false when the job has no
// such time (SortEnded and a job that has not ended).
func (q *JobQuery) Key(j *core.Job) (Position, bool) {
	t := j.CreatedAt
	if q.Sort == SortEnded {
		t = j.FinishedAt
		if t.IsZero() {
			return Position{}, false
		}
	}
	return Position{At: t.UnixMicro(), ID: j.ID}, true
}

// Less reports whether position a comes before b in q's order.
func (q *JobQuery) Less(a, b Position) bool {
	if a.At != b.At {
		return (a.At < b.At) == q.Asc
	}
	if a.ID == b.ID {
		return false
	}
	return (a.ID < b.ID) == q.Asc
}

// Match reports whether j matches every filter of q and comes after
// q.After. tl is the job's timeline, read only when q.Worker is set (nil
// otherwise is fine).
func (q *JobQuery) Match(j *core.Job, tl func() []core.TimelineEvent) bool {
	key, ok := q.Key(j)
	if !ok {
		return false
	}
	if q.After != nil && !q.Less(*q.After, key) {
		return false
	}
	if q.Client != "" && j.Client.Name != q.Client {
		return false
	}
	if len(q.Statuses) > 0 && !slices.Contains(q.Statuses, j.Status) {
		return false
	}
	if q.Blueprint != "" && j.Blueprint != q.Blueprint {
		return false
	}
	if q.State != "" && j.State != q.State {
		return false
	}
	if q.ErrorCode != "" && (j.Error == nil || j.Error.Code != q.ErrorCode) {
		return false
	}
	if q.Parent != "" && (j.Parent == nil || j.Parent.JobID != q.Parent) {
		return false
	}
	if !inRange(j.CreatedAt, q.CreatedAfter, q.CreatedBefore) {
		return false
	}
	if !q.EndedAfter.IsZero() || !q.EndedBefore.IsZero() {
		if j.FinishedAt.IsZero() || !inRange(j.FinishedAt, q.EndedAfter, q.EndedBefore) {
			return false
		}
	}
	for k, v := range q.Meta {
		mv, ok := j.Metadata[k]
		if !ok {
			return false
		}
		if s, ok := MetaString(mv); !ok || s != v {
			return false
		}
	}
	if q.Worker != "" {
		if tl == nil || !slices.ContainsFunc(tl(), func(e core.TimelineEvent) bool { return e.WorkerID == q.Worker }) {
			return false
		}
	}
	return true
}

func inRange(t, after, before time.Time) bool {
	us := t.UnixMicro()
	if !after.IsZero() && us < after.UnixMicro() {
		return false
	}
	if !before.IsZero() && us >= before.UnixMicro() {
		return false
	}
	return true
}

// MetaString is a metadata value as a search compares it: a string as it
// is, a number, boolean or null as JSON. ok is false for a list or an
// object, which a search does not match.
func MetaString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case nil:
		return "null", true
	case bool:
		return strconv.FormatBool(x), true
	case map[string]any, []any:
		return "", false
	}
	b, err := json.Marshal(v)
	if err != nil || len(b) == 0 || b[0] == '{' || b[0] == '[' {
		return "", false
	}
	return string(b), true
}

// Top keeps the first q.Limit jobs of q's order among those offered.
type Top struct {
	q    *JobQuery
	jobs []*core.Job
	keys []Position
}

// NewTop returns an empty Top for q (normalized).
func NewTop(q *JobQuery) *Top { return &Top{q: q} }

// Offer adds j (which matches q) when it is among the first q.Limit.
func (t *Top) Offer(j *core.Job) {
	k, ok := t.q.Key(j)
	if !ok {
		return
	}
	if len(t.jobs) == t.q.Limit && !t.q.Less(k, t.keys[len(t.keys)-1]) {
		return
	}
	i, _ := slices.BinarySearchFunc(t.keys, k, func(a, b Position) int {
		switch {
		case t.q.Less(a, b):
			return -1
		case t.q.Less(b, a):
			return 1
		}
		return 0
	})
	t.keys = slices.Insert(t.keys, i, k)
	t.jobs = slices.Insert(t.jobs, i, j)
	if len(t.jobs) > t.q.Limit {
		t.keys, t.jobs = t.keys[:t.q.Limit], t.jobs[:t.q.Limit]
	}
}

// Full reports whether Top holds q.Limit jobs and the job at position k
// would not enter.
func (t *Top) Full(k Position) bool {
	return len(t.jobs) == t.q.Limit && !t.q.Less(k, t.keys[len(t.keys)-1])
}

// Jobs returns the jobs kept, in q's order.
func (t *Top) Jobs() []*core.Job { return t.jobs }
