// Package client is a typed Go client for the Avtomatika client API: start
// jobs, read and wait for them, read their timeline, cancel and approve
// them, list blueprints and draw their graphs.
//
// Every method is one or a few HTTP requests to the server's /api/v1
// routes with the client's X-Client-Token. A 2xx answer is decoded into
// this package's own types (it does not import the server); any other
// answer becomes an *APIError carrying the status and the body's
// {"error": {"code", "message", "details"}}, which errors.Is matches
// against ErrNotFound, ErrUnauthorized, ErrInvalidInput, ErrConflict,
// ErrQuota, ErrUnavailable and ErrServer.
//
// Wait and Watch follow a job until it ends. They ask the server to hold
// each request (GET /api/v1/jobs/{id}?wait=S) so an ended job is seen at
// once without polling; against a server that answers at once (the Python
// orchestrator ignores wait) they poll with a backoff from 100 ms to 2 s.
// Run starts a job and waits for its end in one held request (POST with
// ?wait=S), falling back to Wait when the job outlasts it.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// DefaultPrefix is where the client API lives on an Avtomatika server.
const DefaultPrefix = "/api/v1"

// Options configure a Client. The zero value works against an open
// server.
type Options struct {
	Token      string       // sent as X-Client-Token when set
	HTTPClient *http.Client // default: a client without a timeout (ctx bounds each call)
	Prefix     string       // default DefaultPrefix
	UserAgent  string       // default "avtomatika-go-client"
}

// Client talks to one server. It is safe for concurrent use.
type Client struct {
	base   string // scheme://host[:port][/path], no trailing slash
	prefix string
	token  string
	ua     string
	hc     *http.Client
}

// New returns a client of the server at baseURL, e.g.
// "http://localhost:8080".
func New(baseURL string, o Options) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("server URL %q: %w", baseURL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server URL %q: want http://host[:port] or https://host[:port]", baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("server URL %q: want no query or fragment", baseURL)
	}
	c := &Client{base: strings.TrimRight(u.String(), "/"), prefix: o.Prefix, token: o.Token, ua: o.UserAgent, hc: o.HTTPClient}
	if c.prefix == "" {
		c.prefix = DefaultPrefix
	}
	c.prefix = "/" + strings.Trim(c.prefix, "/")
	if c.ua == "" {
		c.ua = "avtomatika-go-client"
	}
	if c.hc == nil {
		c.hc = &http.Client{}
	}
	return c, nil
}

// URL is the server's base URL.
func (c *Client) URL() string { return c.base }

// Start creates a job and returns its id. target is either an endpoint
// ("/jobs/inventory_check", with or without the "/api/v1" prefix) or a
// blueprint name ("inventory_check"), which costs one more request to
// find its endpoint. input becomes initial_data: a map, a struct or a
// json.RawMessage holding a JSON object; nil sends none.
func (c *Client) Start(ctx context.Context, target string, input any, o StartOptions) (string, error) {
	var out struct {
		JobID string `json:"job_id"`
	}
	endpoint, err := c.create(ctx, target, input, o, nil, &out)
	if err != nil {
		return "", err
	}
	if out.JobID == "" {
		return "", fmt.Errorf("POST %s: the answer has no job_id", endpoint)
	}
	return out.JobID, nil
}

// Run creates a job and waits until it ends, returning it in its end
// state. The creation itself is held by the server until the job ends
// (POST with ?wait=60), so a job that ends within a minute costs one
// request; a longer one is followed as Wait does. Against a server that
// answers a creation at once (the Python orchestrator) it is Start then
// Wait.
func (c *Client) Run(ctx context.Context, target string, input any, o StartOptions) (*Job, error) {
	var j Job
	endpoint, err := c.create(ctx, target, input, o, url.Values{"wait": {strconv.Itoa(int(maxWait.Seconds()))}}, &j)
	if err != nil {
		return nil, err
	}
	if j.ID == "" {
		return nil, fmt.Errorf("POST %s: the answer has no job_id", endpoint)
	}
	if j.Status.Terminal() {
		return &j, nil
	}
	return c.Wait(ctx, j.ID)
}

// create posts a new job to target's endpoint with query q and decodes
// the answer into out; it returns the endpoint.
func (c *Client) create(ctx context.Context, target string, input any, o StartOptions, q url.Values, out any) (string, error) {
	endpoint, err := c.endpoint(ctx, target)
	if err != nil {
		return "", err
	}
	body := map[string]any{}
	if input != nil {
		body["initial_data"] = input
	}
	if o.WebhookURL != "" {
		body["webhook_url"] = o.WebhookURL
	}
	if o.DispatchTimeout > 0 {
		body["dispatch_timeout"] = o.DispatchTimeout.Seconds()
	}
	if o.ResultTimeout > 0 {
		body["result_timeout"] = o.ResultTimeout.Seconds()
	}
	if o.Metadata != nil {
		body["metadata"] = o.Metadata
	}
	return endpoint, c.do(ctx, http.MethodPost, endpoint, q, body, out)
}

// endpoint resolves Start's target to a path under the server.
func (c *Client) endpoint(ctx context.Context, target string) (string, error) {
	target = strings.TrimSpace(target)
	if target == "" {
		return "", fmt.Errorf("start: %w: empty blueprint name or endpoint", ErrInvalidInput)
	}
	if strings.Contains(target, "/") {
		p := "/" + strings.TrimLeft(target, "/")
		if p == c.prefix || strings.HasPrefix(p, c.prefix+"/") {
			return p, nil
		}
		return c.prefix + p, nil
	}
	bs, err := c.Blueprints(ctx)
	if errors.Is(err, ErrNotFound) {
		// The Python orchestrator has no blueprint list.
		return "", fmt.Errorf("find the endpoint of blueprint %q: the server lists no blueprints; give the endpoint instead, e.g. /jobs/%s: %w", target, target, err)
	}
	if err != nil {
		return "", fmt.Errorf("find the endpoint of blueprint %q: %w", target, err)
	}
	var names []string
	for _, b := range bs.Blueprints {
		if b.Name != target {
			names = append(names, b.Name)
			continue
		}
		if b.Endpoint == "" {
			return "", fmt.Errorf("blueprint %q: %w: it runs only as a child of another blueprint", target, ErrNoEndpoint)
		}
		return "/" + strings.TrimLeft(b.Endpoint, "/"), nil
	}
	slices.Sort(names)
	return "", fmt.Errorf("blueprint %q: %w (served: %s)", target, ErrNotFound, strings.Join(names, ", "))
}

// Get reads a job's status.
func (c *Client) Get(ctx context.Context, id string) (*Job, error) {
	return c.get(ctx, id, 0)
}

// get reads a job, asking the server to hold up to wait for it to end.
func (c *Client) get(ctx context.Context, id string, wait time.Duration) (*Job, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	var q url.Values
	if wait > 0 {
		q = url.Values{"wait": {strconv.FormatFloat(min(wait, maxWait).Seconds(), 'f', -1, 64)}}
	}
	var j Job
	if err := c.do(ctx, http.MethodGet, c.prefix+"/jobs/"+url.PathEscape(id), q, nil, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

// maxWait is the longest hold the server grants.
const maxWait = 60 * time.Second

// WatchOptions tune Watch.
type WatchOptions struct {
	// Every is the longest time between two looks at the job (default 1 s,
	// at most 60 s). The server holds each look up to this long and answers
	// at once when the job ends.
	Every time.Duration
	// OnUpdate, when set, is called after every look with the job and
	// whether its status, state, progress or error changed since the last
	// look (true on the first).
	OnUpdate func(j *Job, changed bool)
}

// Watch follows a job until it ends and returns it in its end state. An
// unavailable server (a draining instance, a 503) is retried with backoff;
// other errors, and ctx ending, stop the watch.
func (c *Client) Watch(ctx context.Context, id string, o WatchOptions) (*Job, error) {
	every := o.Every
	if every <= 0 {
		every = time.Second
	}
	every = min(every, maxWait)
	const minPause, maxPause = 100 * time.Millisecond, 2 * time.Second
	pause := minPause
	var last *Job
	for {
		// The first look answers at once, so OnUpdate sees where the job
		// is; later ones are held.
		hold := every
		if last == nil {
			hold = 0
		}
		t0 := time.Now()
		j, err := c.get(ctx, id, hold)
		if err != nil {
			var ae *APIError
			if !errors.As(err, &ae) || !errors.Is(err, ErrUnavailable) {
				return nil, err
			}
			if err := sleep(ctx, max(pause, ae.RetryAfter)); err != nil {
				return nil, fmt.Errorf("watch job %s: %w (last answer: %v)", id, err, ae)
			}
			pause = min(2*pause, maxPause)
			continue
		}
		changed := last == nil || moved(last, j)
		if o.OnUpdate != nil {
			o.OnUpdate(j, changed)
		}
		if j.Status.Terminal() {
			return j, nil
		}
		if changed {
			pause = minPause
		}
		// A server that held the request already spent the pause; one that
		// answered at once is polled with backoff.
		if err := sleep(ctx, min(pause, max(hold, minPause))-time.Since(t0)); err != nil {
			return nil, fmt.Errorf("watch job %s: %w", id, err)
		}
		pause = min(2*pause, maxPause)
		last = j
	}
}

// Wait blocks until the job ends and returns it. After a first look, each
// request is held by the server up to 60 s, so an ended job is seen at
// once.
func (c *Client) Wait(ctx context.Context, id string) (*Job, error) {
	return c.Watch(ctx, id, WatchOptions{Every: maxWait})
}

func moved(a, b *Job) bool {
	return a.Status != b.Status || a.State != b.State || a.Progress != b.Progress ||
		a.ProgressMessage != b.ProgressMessage || !reflect.DeepEqual(a.Error, b.Error)
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// History reads a job's timeline, oldest first.
func (c *Client) History(ctx context.Context, id string) ([]Event, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	evs := []Event{}
	if err := c.do(ctx, http.MethodGet, c.prefix+"/jobs/"+url.PathEscape(id)+"/history", nil, nil, &evs); err != nil {
		return nil, err
	}
	return evs, nil
}

// Jobs lists the caller's jobs, newest first.
func (c *Client) Jobs(ctx context.Context, limit, offset int) ([]Job, error) {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if offset > 0 {
		q.Set("offset", strconv.Itoa(offset))
	}
	jobs := []Job{}
	if err := c.do(ctx, http.MethodGet, c.prefix+"/jobs", q, nil, &jobs); err != nil {
		return nil, err
	}
	return jobs, nil
}

// Cancel asks the server to cancel a job. A job that already ended, like
// an unknown one, is ErrNotFound.
func (c *Client) Cancel(ctx context.Context, id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, c.prefix+"/jobs/"+url.PathEscape(id)+"/cancel", nil, nil, nil)
}

// Decisions of an approval state.
const (
	Approved = "approved"
	Rejected = "rejected"
)

// Approve answers a job waiting for a human with a decision, Approved or
// Rejected. A job that is not waiting is ErrConflict.
func (c *Client) Approve(ctx context.Context, id, decision string) error {
	if err := checkID(id); err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, c.prefix+"/jobs/"+url.PathEscape(id)+"/approval", nil, map[string]string{"decision": decision}, nil)
}

// Blueprints lists the blueprints the server runs.
func (c *Client) Blueprints(ctx context.Context) (*Blueprints, error) {
	var bs Blueprints
	if err := c.do(ctx, http.MethodGet, c.prefix+"/blueprints", nil, nil, &bs); err != nil {
		return nil, err
	}
	return &bs, nil
}

// Graph formats.
const (
	FormatDOT     = "dot"
	FormatMermaid = "mermaid"
)

// Graph draws a blueprint's state machine as DOT or Mermaid text.
func (c *Client) Graph(ctx context.Context, name, format string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("graph: %w: empty blueprint name", ErrInvalidInput)
	}
	var q url.Values
	if format != "" {
		q = url.Values{"format": {format}}
	}
	var text []byte
	if err := c.do(ctx, http.MethodGet, c.prefix+"/blueprints/"+url.PathEscape(name)+"/graph", q, nil, &text); err != nil {
		return "", err
	}
	return string(text), nil
}

func checkID(id string) error {
	if strings.TrimSpace(id) == "" {
		return fmt.Errorf("%w: empty job id", ErrInvalidInput)
	}
	return nil
}

// maxBody bounds a successful answer (a finished job's history included).
const maxBody = 64 << 20

// do sends one request. body, when not nil, is sent as JSON; out is a
// pointer to decode a JSON answer into, or a *[]byte for the raw body, or
// nil.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body, out any) error {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s %s: encode the request: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.ua)
	if c.token != "" {
		req.Header.Set(wire.HeaderClientToken, c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, c.base+path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return apiError(method, path, resp, b)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	if len(b) > maxBody {
		return fmt.Errorf("%s %s: the answer is over %d bytes", method, path, maxBody)
	}
	switch o := out.(type) {
	case nil:
		return nil
	case *[]byte:
		*o = b
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decode the answer: %w", method, path, err)
	}
	return nil
}
