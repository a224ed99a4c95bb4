package server

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/orchestrator"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// Search parameters of GET /api/v1/jobs (docs/history.md).
const (
	HeaderNextCursor = "X-Next-Cursor"
)

// jobStatuses are the statuses a search names.
var jobStatuses = []wire.JobStatus{wire.StatusPending, wire.StatusRunning, wire.StatusWaitingForWorker,
	wire.StatusWaitingForHuman, wire.StatusWaitingParallel, wire.StatusWaitingForChild, wire.StatusWaiting,
	wire.StatusAwaitingRetry, wire.StatusFinished, wire.StatusFailed, wire.StatusCancelled, wire.StatusQuarantined,
	wire.StatusError}

// ParseSearch reads the query of GET /api/v1/jobs into a search. An
// unknown parameter or a malformed value is an error naming it.
func ParseSearch(v url.Values) (orchestrator.Query, error) {
	var q orchestrator.Query
	bad := func(name, val, want string) error {
		return errorf(http.StatusBadRequest, wire.CodeInvalidQuery, "%s=%q: %s", name, val, want)
	}
	one := func(name string) (string, error) {
		vs := v[name]
		if len(vs) > 1 {
			return "", errorf(http.StatusBadRequest, wire.CodeInvalidQuery, "%s is given %d times; give it once", name, len(vs))
		}
		if len(vs) == 0 {
			return "", nil
		}
		if vs[0] == "" {
			return "", bad(name, "", "must not be empty")
		}
		return vs[0], nil
	}
	when := func(name string, dst *time.Time) error {
		s, err := one(name)
		if err != nil || s == "" {
			return err
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return bad(name, s, "want an RFC 3339 time such as 2026-03-01T12:00:00Z")
		}
		*dst = t
		return nil
	}
	for name, vals := range v {
		switch {
		case name == "status":
			for _, val := range vals {
				for s := range strings.SplitSeq(val, ",") {
					s = strings.TrimSpace(s)
					st := wire.JobStatus(s)
					known := false
					for _, k := range jobStatuses {
						known = known || k == st
					}
					if !known {
						names := make([]string, len(jobStatuses))
						for i, k := range jobStatuses {
							names[i] = string(k)
						}
						return q, bad("status", s, "want one of "+strings.Join(names, ", "))
					}
					q.Statuses = append(q.Statuses, st)
				}
			}
		case name == "blueprint":
			s, err := one(name)
			if err != nil {
				return q, err
			}
			q.Blueprint = s
		case name == "state":
			s, err := one(name)
			if err != nil {
				return q, err
			}
			q.State = s
		case name == "error_code":
			s, err := one(name)
			if err != nil {
				return q, err
			}
			q.ErrorCode = s
		case name == "worker":
			s, err := one(name)
			if err != nil {
				return q, err
			}
			q.Worker = s
		case name == "parent":
			s, err := one(name)
			if err != nil {
				return q, err
			}
			q.Parent = s
		case name == "created_after":
			if err := when(name, &q.CreatedAfter); err != nil {
				return q, err
			}
		case name == "created_before":
			if err := when(name, &q.CreatedBefore); err != nil {
				return q, err
			}
		case name == "ended_after":
			if err := when(name, &q.EndedAfter); err != nil {
				return q, err
			}
		case name == "ended_before":
			if err := when(name, &q.EndedBefore); err != nil {
				return q, err
			}
		case strings.HasPrefix(name, "meta."):
			key := strings.TrimPrefix(name, "meta.")
			if key == "" {
				return q, errorf(http.StatusBadRequest, wire.CodeInvalidQuery, "meta.: name the metadata key, as meta.KEY=VALUE")
			}
			if len(vals) > 1 {
				return q, errorf(http.StatusBadRequest, wire.CodeInvalidQuery, "%s is given %d times; give it once", name, len(vals))
			}
			if q.Meta == nil {
				q.Meta = map[string]string{}
			}
			q.Meta[key] = vals[0]
		case name == "sort":
			s, err := one(name)
			if err != nil {
				return q, err
			}
			switch s {
			case "created", "-created":
				q.Sort = store.SortCreated
			case "ended", "-ended":
				q.Sort = store.SortEnded
			default:
				return q, bad("sort", s, "want created, -created, ended or -ended")
			}
			q.Asc = !strings.HasPrefix(s, "-")
		case name == "limit":
			s, err := one(name)
			if err != nil {
				return q, err
			}
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > store.MaxQueryLimit {
				return q, bad("limit", s, "want an integer from 1 to "+strconv.Itoa(store.MaxQueryLimit))
			}
			q.Limit = n
		case name == "offset":
			s, err := one(name)
			if err != nil {
				return q, err
			}
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 || n > orchestrator.MaxOffset {
				return q, bad("offset", s, "want an integer from 0 to "+strconv.Itoa(orchestrator.MaxOffset))
			}
			q.Offset = n
		case name == "cursor":
			s, err := one(name)
			if err != nil {
				return q, err
			}
			q.Cursor = s
		case name == "where":
			s, err := one(name)
			if err != nil {
				return q, err
			}
			e, err := orchestrator.CompileWhere(s)
			if err != nil {
				return q, err
			}
			q.Where = e
		default:
			return q, errorf(http.StatusBadRequest, wire.CodeInvalidQuery,
				"unknown parameter %q; GET /api/v1/jobs takes status, blueprint, state, error_code, worker, parent, created_after, created_before, ended_after, ended_before, meta.KEY, sort, limit, cursor, offset and where", name)
		}
	}
	if q.Cursor != "" && q.Offset > 0 {
		return q, errorf(http.StatusBadRequest, wire.CodeInvalidQuery, "offset and cursor: give one of them")
	}
	return q, nil
}

// searchJobs answers GET /api/v1/jobs: a JSON array of job views, and the
// next page's cursor in X-Next-Cursor and a Link header (absent on the
// last page).
func (s *Server) searchJobs(w http.ResponseWriter, r *http.Request, cl *config.Client) error {
	q, err := ParseSearch(r.URL.Query())
	if err != nil {
		return err
	}
	page, err := s.x.Search(r.Context(), cl, q)
	if err != nil {
		return err
	}
	if page.Next != "" {
		next := *r.URL
		vals := next.Query()
		vals.Del("offset")
		vals.Set("cursor", page.Next)
		next.RawQuery = vals.Encode()
		w.Header().Set(HeaderNextCursor, page.Next)
		w.Header().Set("Link", "<"+next.RequestURI()+`>; rel="next"`)
	}
	out := make([]wire.JobView, len(page.Jobs))
	for i, j := range page.Jobs {
		out[i] = summary(j)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
