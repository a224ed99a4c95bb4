package orchestrator

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"maps"
	"slices"

	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// Query is a job search: the filters and order of store.JobQuery (its
// Client is set from the caller, After from Cursor), an optional Starlark
// condition, an opaque cursor and, for compatibility, an offset.
type Query struct {
	store.JobQuery
	// Where keeps the jobs for which the expression is true (the names
	// input, history, result, results, job and client in scope);
	// CompileWhere makes one. Evaluated with the language's step limit.
	Where *lang.Expr
	// Cursor is the Next of the previous page ("" for the first).
	Cursor string
	// Offset skips that many jobs first (GET /jobs?offset=, kept for
	// compatibility; a cursor is cheaper). At most MaxOffset.
	Offset int
}

// Page is one page of a search.
type Page struct {
	Jobs []*core.Job
	// Next is the cursor of the next page; "" on the last.
	Next string
}

// Bounds of one search request.
const (
	// MaxOffset is the largest offset a search takes.
	MaxOffset = 100_000
	// maxWhereScan is how many jobs one page reads at most to evaluate
	// Where; a page that reaches it ends early, with a cursor to go on.
	maxWhereScan = 10_000
)

// CompileWhere compiles a search condition: KindInvalid naming what does
// not compile.
func CompileWhere(src string) (*lang.Expr, error) {
	e, err := lang.CompileExpr("where", src, lang.DefaultMaxSteps)
	if err != nil {
		return nil, refuse(KindInvalid, wire.CodeInvalidQuery, "where: %v", err)
	}
	return e, nil
}

// cursor is what an opaque cursor holds: the order it was made for and
// the position of the last job of its page.
type cursor struct {
	Sort store.SortKey `json:"s"`
	Asc  bool          `json:"a,omitempty"`
	At   int64         `json:"t"`
	ID   string        `json:"i"`
}

func encodeCursor(q *store.JobQuery, p store.Position) string {
	b, _ := json.Marshal(cursor{Sort: q.Sort, Asc: q.Asc, At: p.At, ID: p.ID})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(q *store.JobQuery, s string) (*store.Position, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	var c cursor
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.ID == "" {
		return nil, refuse(KindInvalid, wire.CodeInvalidQuery, "cursor=%q: not a cursor this server gave", s)
	}
	if c.Sort != q.Sort || c.Asc != q.Asc {
		return nil, refuse(KindInvalid, wire.CodeInvalidQuery, "cursor=%q: made for another sort order; pass the same sort as the first page", s)
	}
	return &store.Position{At: c.At, ID: c.ID}, nil
}

// Search returns a page of the caller's jobs matching q, live and
// archived ones as one list in q's order: each source answers its first
// q.Limit+1 jobs after the cursor, and the merge keeps the first q.Limit
// (a job both live and archived counts once).
func (x *Orchestrator) Search(ctx context.Context, caller *config.Client, q Query) (Page, error) {
	jq := q.JobQuery
	jq.Client = ""
	if caller != nil {
		jq.Client = caller.Name
	}
	jq.Normalize()
	if q.Cursor != "" {
		p, err := decodeCursor(&jq, q.Cursor)
		if err != nil {
			return Page{}, err
		}
		jq.After = p
	}
	if q.Offset < 0 || q.Offset > MaxOffset {
		return Page{}, refuse(KindInvalid, wire.CodeInvalidQuery, "offset=%d: want 0 to %d", q.Offset, MaxOffset)
	}
	limit := jq.Limit
	var out []*core.Job
	skip := q.Offset
	scanned := 0
	for {
		jq.Limit = min(limit+1+skip, store.MaxQueryLimit)
		if q.Where != nil {
			jq.Limit = store.MaxQueryLimit
		}
		batch, err := x.merged(ctx, &jq)
		if err != nil {
			return Page{}, err
		}
		full := len(batch) == jq.Limit
		for _, j := range batch {
			k, _ := jq.Key(j)
			jq.After = &k
			scanned++
			if q.Where != nil {
				ok, err := x.where(ctx, q.Where, j)
				if err != nil {
					return Page{}, err
				}
				if !ok {
					continue
				}
			}
			if skip > 0 {
				skip--
				continue
			}
			out = append(out, j)
			if len(out) > limit {
				break
			}
		}
		switch {
		case len(out) > limit:
			out = out[:limit]
			k, _ := jq.Key(out[limit-1])
			return Page{Jobs: out, Next: encodeCursor(&jq, k)}, nil
		case !full:
			return Page{Jobs: out}, nil
		case q.Where != nil && scanned >= maxWhereScan:
			// Enough read for one request: the page ends here, and the
			// cursor goes on from the last job read.
			return Page{Jobs: out, Next: encodeCursor(&jq, *jq.After)}, nil
		}
	}
}

// merged answers jq from the live store and the archive.
func (x *Orchestrator) merged(ctx context.Context, jq *store.JobQuery) ([]*core.Job, error) {
	live, err := x.searchLive(ctx, *jq)
	if err != nil {
		return nil, err
	}
	if x.hist == nil {
		return live, nil
	}
	old, err := x.hist.SearchJobs(ctx, *jq)
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(live))
	all := live
	for _, j := range live {
		seen[j.ID] = true
	}
	for _, j := range old {
		if !seen[j.ID] {
			all = append(all, j)
		}
	}
	slices.SortFunc(all, func(a, b *core.Job) int {
		ka, _ := jq.Key(a)
		kb, _ := jq.Key(b)
		switch {
		case jq.Less(ka, kb):
			return -1
		case jq.Less(kb, ka):
			return 1
		}
		return 0
	})
	return all[:min(len(all), jq.Limit)], nil
}

// searchLive answers jq from the live store: its own search when it has
// one, else its newest-first list matched here.
func (x *Orchestrator) searchLive(ctx context.Context, jq store.JobQuery) ([]*core.Job, error) {
	if s, ok := x.store.(store.Searcher); ok {
		return s.SearchJobs(ctx, jq)
	}
	top := store.NewTop(&jq)
	for off := 0; ; off += 1000 {
		js, err := x.store.ListJobs(ctx, store.ListParams{Client: jq.Client, Limit: 1000, Offset: off})
		if err != nil {
			return nil, err
		}
		for _, j := range js {
			if jq.Match(j, func() []core.TimelineEvent { tl, _ := x.store.Timeline(ctx, j.ID); return tl }) {
				top.Offer(j)
			}
		}
		if len(js) < 1000 {
			return top.Jobs(), nil
		}
	}
}

// where evaluates a search condition on a job; an evaluation error (the
// step limit, a type error) is the caller's, KindInvalid.
func (x *Orchestrator) where(ctx context.Context, e *lang.Expr, j *core.Job) (bool, error) {
	env := &lang.Env{
		Input:   lang.FromJSON(cloneAny(j.Input)),
		History: j.History,
		Job:     lang.JobInfo{ID: j.ID, Blueprint: j.Blueprint, State: j.State, CreatedAt: j.CreatedAt, Attempt: 1},
		Client:  map[string]any{"name": j.Client.Name, "plan": j.Client.Plan},
	}
	if env.Input == nil {
		env.Input = map[string]any{}
	}
	if env.History != nil {
		env.History, _ = lang.FromJSON(cloneAny(j.History)).(map[string]any)
	}
	maps.Copy(env.Client, j.Client.Fields)
	if j.Result != nil {
		env.Result = resultValue(j.Result)
	}
	for _, r := range j.Results {
		if r != nil {
			env.Results = append(env.Results, resultValue(r))
		} else {
			env.Results = append(env.Results, nil)
		}
	}
	ok, err := e.Truth(ctx, env)
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		return false, refuse(KindInvalid, wire.CodeInvalidQuery, "where, on job %s: %v", j.ID, err)
	}
	return ok, nil
}

// resultValue is a result as expressions see it: {status, data, error}.
func resultValue(r *core.Result) map[string]any {
	out := map[string]any{"status": r.Status, "data": map[string]any{}, "error": nil}
	if r.Data != nil {
		out["data"] = lang.FromJSON(cloneAny(r.Data))
	}
	if r.Error != nil {
		e := map[string]any{"code": r.Error.Code, "message": r.Error.Message}
		if r.Error.Details != nil {
			e["details"] = r.Error.Details
		}
		out["error"] = e
	}
	return out
}

// cloneAny deep-copies a JSON value (FromJSON converts in place).
func cloneAny(v any) any {
	switch x := v.(type) {
	case map[string]any:
		c := make(map[string]any, len(x))
		for k, e := range x {
			c[k] = cloneAny(e)
		}
		return c
	case []any:
		c := make([]any, len(x))
		for i, e := range x {
			c[i] = cloneAny(e)
		}
		return c
	}
	return v
}
