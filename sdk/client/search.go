package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// SearchQuery filters, orders and pages a job search (GET /api/v1/jobs).
// Zero fields do not filter. Time ranges are [After, Before).
type SearchQuery struct {
	Statuses      []wire.JobStatus
	Blueprint     string
	State         string // the current state
	ErrorCode     string
	Worker        string // a worker that reported on the job
	Parent        string // the parent job's id
	CreatedAfter  time.Time
	CreatedBefore time.Time
	EndedAfter    time.Time
	EndedBefore   time.Time
	Meta          map[string]string // metadata key = value
	// Sort is "created" or "ended", oldest first, or "-created" (the
	// default) or "-ended", newest first.
	Sort string
	// Limit is the page size (server default 100, at most 1000).
	Limit int
	// Cursor is the Next of the previous page.
	Cursor string
	// Where is a Starlark condition over input, result and history.
	Where string
}

// Values is the query as URL parameters.
func (q SearchQuery) Values() url.Values {
	v := url.Values{}
	if len(q.Statuses) > 0 {
		s := make([]string, len(q.Statuses))
		for i, st := range q.Statuses {
			s[i] = string(st)
		}
		v.Set("status", strings.Join(s, ","))
	}
	for name, s := range map[string]string{"blueprint": q.Blueprint, "state": q.State, "error_code": q.ErrorCode,
		"worker": q.Worker, "parent": q.Parent, "sort": q.Sort, "cursor": q.Cursor, "where": q.Where} {
		if s != "" {
			v.Set(name, s)
		}
	}
	for name, t := range map[string]time.Time{"created_after": q.CreatedAfter, "created_before": q.CreatedBefore,
		"ended_after": q.EndedAfter, "ended_before": q.EndedBefore} {
		if !t.IsZero() {
			v.Set(name, t.UTC().Format(time.RFC3339Nano))
		}
	}
	for k, val := range q.Meta {
		v.Set("meta."+k, val)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v
}

// JobPage is one page of a search.
type JobPage struct {
	Jobs []Job
	// Next is the cursor of the next page, "" on the last.
	Next string
}

// Search returns one page of the caller's jobs matching q, live and
// archived ones alike.
func (c *Client) Search(ctx context.Context, q SearchQuery) (*JobPage, error) {
	path := c.prefix + "/jobs"
	u := c.base + path
	if v := q.Values(); len(v) > 0 {
		u += "?" + v.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.ua)
	if c.token != "" {
		req.Header.Set(wire.HeaderClientToken, c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", c.base+path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return nil, apiError(http.MethodGet, path, resp, b)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: read the answer: %w", path, err)
	}
	if len(b) > maxBody {
		return nil, fmt.Errorf("GET %s: the answer is over %d bytes", path, maxBody)
	}
	page := &JobPage{Jobs: []Job{}, Next: resp.Header.Get("X-Next-Cursor")}
	if err := json.Unmarshal(b, &page.Jobs); err != nil {
		return nil, fmt.Errorf("GET %s: decode the answer: %w", path, err)
	}
	return page, nil
}

// RedriveOptions say how to re-run a failed or quarantined job.
type RedriveOptions struct {
	FromState      string         `json:"from_state,omitempty"`      // "" : where it failed
	CurrentVersion bool           `json:"current_version,omitempty"` // the blueprint's current version
	Input          map[string]any `json:"input,omitempty"`           // replaces the job's input
}

// Redrive re-runs a failed or quarantined job as a new job and returns
// it (its metadata redrive_of names the old one).
func (c *Client) Redrive(ctx context.Context, id string, o RedriveOptions) (*Job, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	var j Job
	if err := c.do(ctx, http.MethodPost, c.prefix+"/jobs/"+url.PathEscape(id)+"/redrive", nil, o, &j); err != nil {
		return nil, err
	}
	return &j, nil
}
