package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/orchestrator"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

const apiPrefix = "/api/v1"

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	c := func(h func(http.ResponseWriter, *http.Request, *config.Client) error) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cl, err := s.authClient(r)
			if err == nil {
				err = s.overRate(s.clientRate, clientKey(r, cl), "this client")
			}
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
	s.redriveRoutes(mux, c)
	mux.HandleFunc("GET /_public/status", func(w http.ResponseWriter, r *http.Request) {
		if s.x.Draining() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("GET /_public/metrics", s.metrics.handler())
	s.healthRoutes(mux)
	s.scheduleRoutes(mux, c)
	s.workerRoutes(mux)
	s.mountConsole(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, errorf(http.StatusNotFound, wire.CodeNotFound, "no route %s %s", r.Method, r.URL.Path))
	})
	return s.recoverer(s.metrics.instrument(mux))
}

// authClient finds the client of X-Client-Token. With neither clients.toml
// nor CLIENT_TOKEN the API is open: the caller is nil, and sees every job.
func (s *Server) authClient(r *http.Request) (*config.Client, error) {
	tok := r.Header.Get("X-Client-Token")
	if len(s.clients) == 0 {
		return nil, nil
	}
	if tok == "" {
		return nil, errorf(http.StatusUnauthorized, wire.CodeUnauthorized, "missing X-Client-Token header")
	}
	c, ok := s.clients[tok]
	if !ok {
		return nil, errorf(http.StatusUnauthorized, wire.CodeUnauthorized, "unknown client token")
	}
	return c, nil
}

// clientKey names a caller's rate bucket: its client, or its address
// when the API is open.
func clientKey(r *http.Request, cl *config.Client) string {
	if cl != nil {
		return "client:" + cl.Name
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "addr:" + host
}

type createRequest struct {
	ClientRequestID string          `json:"client_request_id"`
	InitialData     json.RawMessage `json:"initial_data"`
	WebhookURL      string          `json:"webhook_url"`
	DispatchTimeout json.Number     `json:"dispatch_timeout"`
	ResultTimeout   json.Number     `json:"result_timeout"`
	Metadata        map[string]any  `json:"metadata"`
	Security        any             `json:"security"`
}

func (s *Server) createJob(w http.ResponseWriter, r *http.Request, cl *config.Client) error {
	m, err := s.x.Endpoint("/" + r.PathValue("path"))
	if err != nil {
		return err
	}
	wait, held, err := waitParam(r)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := s.decodeBody(w, r, s.cfg.MaxBodyBytes, &raw, true); err != nil {
		return err
	}
	var req createRequest
	if len(raw) > 0 {
		if err := decodeJSON(raw, &req); err != nil {
			return err
		}
	}
	key, err := idempotencyKey(r.Header.Get(headerIdempotencyKey), req.ClientRequestID)
	if err != nil {
		return err
	}
	if n := s.cfg.Limits.MaxInputBytes; len(req.InitialData) > n {
		return errorf(http.StatusRequestEntityTooLarge, wire.CodeBodyTooLarge, "initial_data of %d bytes is over the limit of %d (MAX_JOB_INPUT_BYTES)", len(req.InitialData), n)
	}
	var input map[string]any
	if len(req.InitialData) > 0 && string(req.InitialData) != "null" {
		var v any
		if err := decodeJSON(req.InitialData, &v); err != nil {
			return err
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return errorf(http.StatusBadRequest, wire.CodeInvalidInput, "initial_data must be a JSON object")
		}
		input = lang.FromJSON(obj).(map[string]any)
	}
	dt, err := seconds(req.DispatchTimeout, "dispatch_timeout")
	if err != nil {
		return err
	}
	rt, err := seconds(req.ResultTimeout, "result_timeout")
	if err != nil {
		return err
	}
	creq := orchestrator.CreateRequest{
		Input: input, WebhookURL: req.WebhookURL, Metadata: req.Metadata, Security: req.Security,
		DispatchTimeout: dt, ResultTimeout: rt, Watch: held, IdempotencyKey: key,
		TraceParent: r.Header.Get("traceparent"),
	}
	if key != "" {
		sum := sha256.Sum256(append([]byte(r.URL.Path+"\n"), raw...))
		creq.Fingerprint = hex.EncodeToString(sum[:16])
	}
	j, watch, replayed, err := s.x.CreateOnce(r.Context(), cl, m, creq)
	if err != nil {
		return err
	}
	if watch == nil {
		code := http.StatusAccepted
		if replayed {
			code = http.StatusOK // the job the first request created
		}
		writeJSON(w, code, map[string]string{"status": "accepted", "job_id": j.ID})
		return nil
	}
	if j, err = watch.Until(r.Context(), j, wait); err != nil || j == nil {
		return err
	}
	code := http.StatusOK
	if !j.Status.Terminal() && !replayed {
		code = http.StatusAccepted
	}
	v, err := s.view(r.Context(), j)
	if err != nil {
		return err
	}
	writeJSON(w, code, v)
	return nil
}

// headerIdempotencyKey names a create that may be retried: the same key
// (per client) gets the same job within the idempotency window.
const headerIdempotencyKey = "Idempotency-Key"

// idempotencyKey is the key of a create, from its header or its body's
// client_request_id: 1 to 255 printable ASCII characters; both, when
// given, must agree.
func idempotencyKey(header, body string) (string, error) {
	if header != "" && body != "" && header != body {
		return "", errorf(http.StatusBadRequest, wire.CodeInvalidField, "the Idempotency-Key header %q and client_request_id %q differ", header, body)
	}
	key, name := header, "the Idempotency-Key header"
	if key == "" {
		key, name = body, "client_request_id"
	}
	if len(key) > 255 {
		return "", errorf(http.StatusBadRequest, wire.CodeInvalidField, "%s: at most 255 characters", name)
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return "", errorf(http.StatusBadRequest, wire.CodeInvalidField, "%s: printable ASCII characters only", name)
		}
	}
	return key, nil
}

// view is the job as the client API shows it. It reads the store once
// per task the job waits on (orchestrator.CurrentTasks).
func (s *Server) view(ctx context.Context, j *core.Job) (wire.JobView, error) {
	v := summary(j)
	tasks, err := s.x.CurrentTasks(ctx, j)
	if err != nil {
		return v, err
	}
	v.CurrentTasks = tasks
	return v, nil
}

// summary is j's view without current_tasks: what a list shows, with no
// store read (current_tasks costs one read per task the job waits on).
func summary(j *core.Job) wire.JobView {
	v := wire.JobView{
		ID: j.ID, JobID: j.ID, Status: j.Status, Blueprint: j.Blueprint, BlueprintVersion: j.Version, State: j.State,
		Error: j.Error, Progress: j.Progress, ProgressMessage: j.ProgressMessage, ChildJobID: j.Child,
		ChildJobIDs: j.Children, Approval: orchestrator.ApprovalView(j),
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
		return 0, false, errorf(http.StatusBadRequest, wire.CodeInvalidQuery, "wait=%q: want seconds from 0 to 60", v)
	}
	return time.Duration(f * float64(time.Second)), true, nil
}

// getJob answers the job's status. With ?wait=SECONDS (at most 60) it
// holds the request until the job ends or the time is up, so a client
// waits for a result without polling.
func (s *Server) getJob(w http.ResponseWriter, r *http.Request, cl *config.Client) error {
	id := r.PathValue("id")
	wait, held, err := waitParam(r)
	if err != nil {
		return err
	}
	var watch *orchestrator.Watch
	if held {
		// Registered before the read: an end committed after it wakes us.
		watch = s.x.WatchJob(id)
	}
	j, err := s.x.Job(r.Context(), cl, id)
	if err != nil {
		watch.Stop()
		return err
	}
	if watch != nil {
		if j, err = watch.Until(r.Context(), j, wait); err != nil || j == nil {
			return err
		}
	}
	v, err := s.view(r.Context(), j)
	if err != nil {
		return err
	}
	v.WaitingReason = s.x.WaitingReason(r.Context(), j)
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) jobHistory(w http.ResponseWriter, r *http.Request, cl *config.Client) error {
	j, tl, err := s.x.Timeline(r.Context(), cl, r.PathValue("id"))
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

// listJobs is the job search (search.go).
func (s *Server) listJobs(w http.ResponseWriter, r *http.Request, cl *config.Client) error {
	return s.searchJobs(w, r, cl)
}

func (s *Server) cancelJob(w http.ResponseWriter, r *http.Request, cl *config.Client) error {
	if err := s.x.Cancel(r.Context(), cl, r.PathValue("id")); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "cancellation_request_accepted"})
	return nil
}

func (s *Server) approve(w http.ResponseWriter, r *http.Request, cl *config.Client) error {
	var req struct {
		Decision string         `json:"decision"`
		Metadata map[string]any `json:"metadata"`
	}
	if err := s.decodeBody(w, r, s.cfg.MaxBodyBytes, &req, false); err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := s.x.Approve(r.Context(), cl, id, req.Decision); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "approval_received", "job_id": id})
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

// lastReloadView is what the last hot reload did, blueprint by blueprint.
type lastReloadView struct {
	At      time.Time              `json:"at"`
	Applied []appliedView          `json:"applied"`
	Removed []string               `json:"removed"`
	Refused []refusedBlueprintView `json:"refused"`
}

type appliedView struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	File    string `json:"file"`
}

type refusedBlueprintView struct {
	File        string        `json:"file"`
	Name        string        `json:"name,omitempty"`
	KeptVersion string        `json:"kept_version,omitempty"`
	Sub         string        `json:"refused_sub_blueprint,omitempty"`
	Findings    []findingView `json:"findings"`
}

func reloadView(r *orchestrator.ReloadReport) *lastReloadView {
	if r == nil {
		return nil
	}
	v := &lastReloadView{At: r.At.UTC(), Applied: []appliedView{}, Removed: append([]string{}, r.Removed...), Refused: []refusedBlueprintView{}}
	for _, a := range r.Applied {
		v.Applied = append(v.Applied, appliedView{a.Name, a.Version, a.File})
	}
	for _, b := range r.Refused {
		rv := refusedBlueprintView{File: b.File, Name: b.Name, KeptVersion: b.Kept, Sub: b.Sub, Findings: []findingView{}}
		for _, d := range b.Findings {
			rv.Findings = append(rv.Findings, findingView{d.Pos.File, d.Pos.Line, d.Pos.Col, d.Rule, d.Message})
		}
		v.Refused = append(v.Refused, rv)
	}
	return v
}

func (s *Server) listBlueprints(w http.ResponseWriter, r *http.Request, _ *config.Client) error {
	reg := s.x.Registry()
	set := reg.Set()
	out := struct {
		Blueprints []blueprintView `json:"blueprints"`
		Refused    []findingView   `json:"refused_reload,omitempty"`
		LastReload *lastReloadView `json:"last_reload,omitempty"`
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
	for _, d := range reg.Refused() {
		out.Refused = append(out.Refused, findingView{d.Pos.File, d.Pos.Line, d.Pos.Col, d.Rule, d.Message})
	}
	out.LastReload = reloadView(s.x.LastReload())
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) graph(w http.ResponseWriter, r *http.Request, _ *config.Client) error {
	m := s.x.Registry().Current(r.PathValue("name"))
	if m == nil {
		return errorf(http.StatusNotFound, wire.CodeNotFound, "no blueprint %q", r.PathValue("name"))
	}
	switch f := r.URL.Query().Get("format"); f {
	case "", "dot":
		w.Header().Set("Content-Type", "text/vnd.graphviz; charset=utf-8")
		_, _ = w.Write([]byte(m.DOT()))
	case "mermaid":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte(m.Mermaid()))
	default:
		return errorf(http.StatusBadRequest, wire.CodeInvalidQuery, "format=%q: want dot or mermaid", f)
	}
	return nil
}

// workerView is what a client sees of a worker: what it can run and how
// busy it is, not its registration (addresses, software, costs, tokens
// a worker may have put in it).
type workerView struct {
	WorkerID   string            `json:"worker_id"`
	WorkerType string            `json:"worker_type,omitempty"`
	Skills     []string          `json:"skills"`
	HotSkills  []string          `json:"hot_skills,omitempty"`
	Status     wire.WorkerStatus `json:"status"`
	Load       int               `json:"load"`
	LastSeen   int64             `json:"last_seen"`
}

func (s *Server) listWorkers(w http.ResponseWriter, r *http.Request, _ *config.Client) error {
	ws, err := s.x.Workers(r.Context())
	if err != nil {
		return err
	}
	out := make([]workerView, 0, len(ws))
	for _, rec := range ws {
		v := workerView{WorkerID: rec.ID, WorkerType: rec.Type, Skills: rec.Skills, HotSkills: rec.HotSkills,
			Status: rec.Status, Load: rec.Load, LastSeen: rec.LastSeen.Unix()}
		if v.Skills == nil {
			v.Skills = []string{}
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
