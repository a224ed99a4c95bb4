package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

const apiPrefix = "/api/v1"

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	c := func(h func(http.ResponseWriter, *http.Request, *client) error) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cl, err := s.authClient(r)
			if err == nil {
				err = h(w, r, cl)
			}
			if err != nil {
				s.writeError(w, r, err)
			}
		})
	}
	mux.Handle("POST "+apiPrefix+"/{path...}", c(s.createJob))
	mux.Handle("GET "+apiPrefix+"/jobs", c(s.listJobs))
	mux.Handle("GET "+apiPrefix+"/jobs/{id}", c(s.getJob))
	mux.Handle("GET "+apiPrefix+"/jobs/{id}/history", c(s.jobHistory))
	mux.Handle("POST "+apiPrefix+"/jobs/{id}/cancel", c(s.cancelJob))
	mux.Handle("POST "+apiPrefix+"/jobs/{id}/approval", c(s.approve))
	mux.Handle("POST /_public/webhooks/approval/{id}", c(s.approve))
	mux.Handle("GET "+apiPrefix+"/blueprints", c(s.listBlueprints))
	mux.Handle("GET "+apiPrefix+"/blueprints/{name}/graph", c(s.graph))
	mux.Handle("GET "+apiPrefix+"/workers", c(s.listWorkers))
	mux.HandleFunc("GET /_public/status", func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("GET /_public/metrics", s.metrics.handler())
	s.workerRoutes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, errorf(http.StatusNotFound, "not_found", "no route %s %s", r.Method, r.URL.Path))
	})
	return s.recoverer(s.metrics.instrument(mux))
}

// authClient finds the client of X-Client-Token. With neither clients.toml
// nor CLIENT_TOKEN the API is open to one anonymous client.
func (s *Server) authClient(r *http.Request) (*client, error) {
	tok := r.Header.Get("X-Client-Token")
	if len(s.clients) == 0 {
		return &client{}, nil
	}
	if tok == "" {
		return nil, errorf(http.StatusUnauthorized, "unauthorized", "missing X-Client-Token header")
	}
	c, ok := s.clients[tok]
	if !ok {
		return nil, errorf(http.StatusUnauthorized, "unauthorized", "unknown client token")
	}
	return c, nil
}

type createRequest struct {
	InitialData     json.RawMessage `json:"initial_data"`
	WebhookURL      string          `json:"webhook_url"`
	DispatchTimeout json.Number     `json:"dispatch_timeout"`
	ResultTimeout   json.Number     `json:"result_timeout"`
	Metadata        map[string]any  `json:"metadata"`
	Security        any             `json:"security"`
}

func (s *Server) createJob(w http.ResponseWriter, r *http.Request, cl *client) error {
	endpoint := "/" + r.PathValue("path")
	m := s.reg.ByEndpoint(endpoint)
	if m == nil {
		return errorf(http.StatusNotFound, "not_found", "no blueprint serves POST %s%s", apiPrefix, endpoint)
	}
	if s.draining.Load() {
		return errorf(http.StatusServiceUnavailable, "shutting_down", "the server is shutting down; retry on another instance")
	}
	wait, held, err := waitParam(r)
	if err != nil {
		return err
	}
	var req createRequest
	if err := decodeBody(w, r, s.cfg.MaxBodyBytes, &req, true); err != nil {
		return err
	}
	input := map[string]any{}
	if len(req.InitialData) > 0 && string(req.InitialData) != "null" {
		var v any
		if err := decodeJSON(req.InitialData, &v); err != nil {
			return err
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return errorf(http.StatusBadRequest, "invalid_input", "initial_data must be a JSON object")
		}
		input = lang.FromJSON(obj).(map[string]any)
	}
	if m.Input != nil {
		if err := m.Input.Validate(input); err != nil {
			var se *lang.SchemaError
			if errors.As(err, &se) {
				return &apiError{Status: http.StatusBadRequest, Code: "invalid_input", Message: "initial_data does not match the input schema of " + m.Name + ": " + se.Error(), Details: se.Reasons}
			}
			return errorf(http.StatusBadRequest, "invalid_input", "initial_data: %v", err)
		}
	}
	dt, err := seconds(req.DispatchTimeout, "dispatch_timeout")
	if err != nil {
		return err
	}
	rt, err := seconds(req.ResultTimeout, "result_timeout")
	if err != nil {
		return err
	}
	if req.WebhookURL != "" && !strings.HasPrefix(req.WebhookURL, "http://") && !strings.HasPrefix(req.WebhookURL, "https://") {
		return errorf(http.StatusBadRequest, "invalid_field", "webhook_url must be an http or https URL")
	}
	if err := s.takeQuota(r.Context(), cl); err != nil {
		return err
	}
	now := s.now()
	j := &core.Job{
		ID: s.uuid(), Blueprint: m.Name, Version: m.Hash, Status: wire.StatusPending, Input: input,
		Client:     core.Client{Name: cl.Name, Plan: cl.Plan, Fields: cl.Fields},
		WebhookURL: req.WebhookURL, Metadata: req.Metadata, Security: req.Security,
		DispatchTimeout: time.Duration(dt * float64(time.Second)), ResultTimeout: time.Duration(rt * float64(time.Second)),
		CreatedAt: now, UpdatedAt: now,
	}
	var ch chan *core.Job
	if held {
		// Registered before the job exists: its end cannot be missed.
		ch = s.waiters.wait(j.ID)
	}
	nj, err := s.startJob(r.Context(), j)
	if err != nil {
		if ch != nil {
			s.waiters.drop(j.ID, ch)
		}
		return err
	}
	if ch == nil {
		writeJSON(w, http.StatusAccepted, map[string]string{"status": "accepted", "job_id": j.ID})
		return nil
	}
	if nj, err = s.hold(r, nj, ch, wait); err != nil || nj == nil {
		return err
	}
	code := http.StatusOK
	if !nj.Status.Terminal() {
		code = http.StatusAccepted
	}
	writeJSON(w, code, view(nj))
	return nil
}

// takeQuota counts one job creation against the client's monthly_attempts;
// a client without the key is unlimited. The count is a store counter per
// client and calendar month (UTC), so it holds across restarts and
// instances and starts again each month. A refused creation is 429 with
// Retry-After set to the start of the next month.
func (s *Server) takeQuota(ctx context.Context, cl *client) error {
	if cl.MonthlyAttempts == nil {
		return nil
	}
	now := s.now().UTC()
	n, err := s.store.Counter(ctx, "quota:"+cl.Name+":"+now.Format("2006-01"))
	if err != nil {
		return err
	}
	if n > uint64(*cl.MonthlyAttempts) {
		next := time.Date(now.Year(), now.Month()+1, 1, 0, 0, 0, 0, time.UTC)
		e := errorf(http.StatusTooManyRequests, "quota_exceeded", "client %q used its %d job creations of %s", cl.Name, *cl.MonthlyAttempts, now.Format("January 2006"))
		e.RetryAfter = int(next.Sub(now).Seconds()) + 1
		return e
	}
	return nil
}

// ownJob returns the job when the client owns it; another client's job is
// 404, as an unknown one.
func (s *Server) ownJob(ctx context.Context, id string, cl *client) (*core.Job, error) {
	j, err := s.store.GetJob(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && len(s.clients) > 0 && j.Client.Name != cl.Name) {
		return nil, errorf(http.StatusNotFound, "not_found", "job %q not found", id)
	}
	return j, err
}

func view(j *core.Job) wire.JobView {
	v := wire.JobView{
		ID: j.ID, JobID: j.ID, Status: j.Status, Blueprint: j.Blueprint, BlueprintVersion: j.Version, State: j.State,
		Error: j.Error, Progress: j.Progress, ProgressMessage: j.ProgressMessage, ChildJobID: j.Child,
		CreatedAt: j.CreatedAt.Unix(), UpdatedAt: j.UpdatedAt.Unix(),
	}
	if j.Parent != nil {
		v.ParentJobID = j.Parent.JobID
	}
	for _, t := range j.Tasks.All() {
		if t.Result == nil {
			v.TaskIDs = append(v.TaskIDs, t.ID)
		}
	}
	if j.Status.Terminal() {
		v.Result = j.History
		if v.Result == nil {
			v.Result = map[string]any{}
		}
		v.FinishedAt = j.FinishedAt.Unix()
	}
	return v
}

// waitParam reads ?wait=SECONDS (0 to 60); zero when absent.
func waitParam(r *http.Request) (time.Duration, bool, error) {
	v := r.URL.Query().Get("wait")
	if v == "" {
		return 0, false, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || !(f >= 0 && f <= 60) { // NaN is neither
		return 0, false, errorf(http.StatusBadRequest, "invalid_query", "wait=%q: want seconds from 0 to 60", v)
	}
	return time.Duration(f * float64(time.Second)), true, nil
}

// getJob answers the job's status. With ?wait=SECONDS (at most 60) it
// holds the request until the job ends or the time is up, so a client
// waits for a result without polling.
func (s *Server) getJob(w http.ResponseWriter, r *http.Request, cl *client) error {
	id := r.PathValue("id")
	wait, held, err := waitParam(r)
	if err != nil {
		return err
	}
	var ch chan *core.Job
	if held {
		// Registered before the read: an end committed after it wakes us.
		ch = s.waiters.wait(id)
	}
	j, err := s.ownJob(r.Context(), id, cl)
	if err != nil {
		if ch != nil {
			s.waiters.drop(id, ch)
		}
		return err
	}
	if ch != nil {
		if j, err = s.hold(r, j, ch, wait); err != nil || j == nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, view(j))
	return nil
}

// hold waits up to wait for job j, as last seen, to end, and returns it as
// last seen: at its end, or when the time is up or the server drains. ch
// is the job's registration with the waiters, made before j was read; hold
// drops it. An end committed on this instance arrives on ch with the
// committed job (no read); one committed on another instance is seen by a
// read every 250 ms. A nil job means the request went away.
func (s *Server) hold(r *http.Request, j *core.Job, ch chan *core.Job, wait time.Duration) (*core.Job, error) {
	id := j.ID
	defer func() { s.waiters.drop(id, ch) }()
	if j.Status.Terminal() {
		return j, nil
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for !j.Status.Terminal() {
		select {
		case j = <-ch: // committed here: no read needed
			if !j.Status.Terminal() {
				s.waiters.drop(id, ch)
				ch = s.waiters.wait(id)
			}
			continue
		case <-tick.C:
		case <-deadline.C:
			return j, nil
		case <-r.Context().Done():
			return nil, nil
		case <-s.drainCtx.Done():
			return j, nil
		}
		var err error
		if j, err = s.store.GetJob(r.Context(), id); err != nil {
			return nil, err
		}
	}
	return j, nil
}

func (s *Server) jobHistory(w http.ResponseWriter, r *http.Request, cl *client) error {
	j, err := s.ownJob(r.Context(), r.PathValue("id"), cl)
	if err != nil {
		return err
	}
	tl, err := s.store.Timeline(r.Context(), j.ID)
	if err != nil {
		return err
	}
	type entry struct {
		core.TimelineEvent
		JobID     string  `json:"job_id"`
		Timestamp float64 `json:"timestamp"`
	}
	out := make([]entry, len(tl))
	for i, e := range tl {
		out[i] = entry{TimelineEvent: e, JobID: j.ID, Timestamp: float64(e.At.UnixMilli()) / 1000}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request, cl *client) error {
	q := r.URL.Query()
	limit, offset := 100, 0
	for name, dst := range map[string]*int{"limit": &limit, "offset": &offset} {
		if v := q.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 10000 {
				return errorf(http.StatusBadRequest, "invalid_query", "%s=%q: want an integer from 0 to 10000", name, v)
			}
			*dst = n
		}
	}
	p := store.ListParams{Limit: limit, Offset: offset}
	if len(s.clients) > 0 {
		p.Client = cl.Name
	}
	jobs, err := s.store.ListJobs(r.Context(), p)
	if err != nil {
		return err
	}
	out := make([]wire.JobView, len(jobs))
	for i, j := range jobs {
		out[i] = view(j)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) cancelJob(w http.ResponseWriter, r *http.Request, cl *client) error {
	j, err := s.ownJob(r.Context(), r.PathValue("id"), cl)
	if err != nil {
		return err
	}
	if _, err := s.deliver(r.Context(), j.ID, core.Event{Kind: core.EventCancel, Reason: "cancelled by client " + cl.Name}, nil); err != nil {
		if errors.Is(err, core.ErrTerminal) {
			return errorf(http.StatusNotFound, "not_found", "Job not found or already terminal.")
		}
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "cancellation_request_accepted"})
	return nil
}

func (s *Server) approve(w http.ResponseWriter, r *http.Request, cl *client) error {
	j, err := s.ownJob(r.Context(), r.PathValue("id"), cl)
	if err != nil {
		return err
	}
	var req struct {
		Decision string         `json:"decision"`
		Metadata map[string]any `json:"metadata"`
	}
	if err := decodeBody(w, r, s.cfg.MaxBodyBytes, &req, false); err != nil {
		return err
	}
	if req.Decision != "approved" && req.Decision != "rejected" {
		return errorf(http.StatusBadRequest, "invalid_decision", "decision %q: want approved or rejected", req.Decision)
	}
	if j.Status != wire.StatusWaitingForHuman {
		return errorf(http.StatusConflict, "not_waiting", "job %s is %s, not waiting for an approval", j.ID, j.Status)
	}
	ev := core.Event{Kind: core.EventApproval, Decision: req.Decision}
	if _, err := s.deliver(r.Context(), j.ID, ev, nil); err != nil {
		if errors.Is(err, core.ErrBadDecision) || errors.Is(err, core.ErrTerminal) || errors.Is(err, core.ErrBadEvent) {
			return errorf(http.StatusConflict, "not_waiting", "%v", err)
		}
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "approval_received", "job_id": j.ID})
	return nil
}

type blueprintView struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Endpoint    string `json:"endpoint,omitempty"`
	Version     string `json:"version"`
	File        string `json:"file"`
	InputSchema any    `json:"input_schema,omitempty"`
}

type findingView struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Rule    string `json:"rule"`
	Message string `json:"message"`
}

func (s *Server) listBlueprints(w http.ResponseWriter, r *http.Request, _ *client) error {
	set := s.reg.Set()
	out := struct {
		Blueprints []blueprintView `json:"blueprints"`
		Refused    []findingView   `json:"refused_reload,omitempty"`
	}{Blueprints: []blueprintView{}}
	for _, m := range set.Machines {
		bv := blueprintView{Name: m.Name, Description: m.Description, Version: m.Hash, File: m.File}
		if m.Endpoint != "" {
			bv.Endpoint = apiPrefix + m.Endpoint
		}
		if m.Input != nil {
			bv.InputSchema = m.Input.Raw
		}
		out.Blueprints = append(out.Blueprints, bv)
	}
	for _, d := range s.reg.Refused() {
		out.Refused = append(out.Refused, findingView{d.Pos.File, d.Pos.Line, d.Pos.Col, d.Rule, d.Message})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) graph(w http.ResponseWriter, r *http.Request, _ *client) error {
	m := s.reg.Current(r.PathValue("name"))
	if m == nil {
		return errorf(http.StatusNotFound, "not_found", "no blueprint %q", r.PathValue("name"))
	}
	switch f := r.URL.Query().Get("format"); f {
	case "", "dot":
		w.Header().Set("Content-Type", "text/vnd.graphviz; charset=utf-8")
		_, _ = w.Write([]byte(m.DOT()))
	case "mermaid":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte(m.Mermaid()))
	default:
		return errorf(http.StatusBadRequest, "invalid_query", "format=%q: want dot or mermaid", f)
	}
	return nil
}

func (s *Server) listWorkers(w http.ResponseWriter, r *http.Request, _ *client) error {
	ws, err := s.store.Workers(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ws)
	return nil
}
