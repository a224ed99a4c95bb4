package server

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/dispatch"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// versionKey and versionValue are the X-RXON-Version header every worker
// answer carries, set without a canonicalization or an allocation.
var (
	versionKey   = http.CanonicalHeaderKey(wire.HeaderVersion)
	versionValue = []string{wire.Version}
)

func (s *Server) workerRoutes(mux *http.ServeMux) {
	wk := func(h func(http.ResponseWriter, *http.Request, string, []byte) error, parkAfterReply bool) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			bodyRead := false
			if parkAfterReply && !s.draining.Load() {
				// The connection of a heartbeat waits for the next one:
				// the answer is written by hand and the connection parked
				// (connpark.go), once the body has been read to its end.
				rr, out := newRawResponse(), w
				w = rr
				defer func() {
					if bodyRead {
						s.parkIdleAfter(out, r, rr)
					} else {
						rr.copyTo(out)
					}
				}()
			}
			w.Header()[versionKey] = versionValue
			var body []byte
			if r.Method != http.MethodGet {
				b, err := readAll(w, r, s.cfg.MaxBodyBytes)
				if err != nil {
					s.writeError(w, r, err)
					return
				}
				body = b
			}
			bodyRead = true
			id, err := s.authWorker(r, body)
			if err == nil {
				kind := wire.KindMessage
				if r.URL.Path == wire.RouteEvents {
					kind = wire.KindEvent
				}
				err = s.checkSignature(id, body, kind)
			}
			if err == nil {
				err = h(w, r, id, body)
			}
			if err != nil {
				s.writeError(w, r, err)
			}
		})
	}
	mux.Handle("POST /_worker/workers/register", wk(s.register, false))
	mux.Handle("GET /_worker/workers/{id}/tasks/next", wk(s.poll, false))
	mux.Handle("POST /_worker/tasks/result", wk(s.result, false))
	mux.Handle("PATCH /_worker/workers/{id}", wk(s.heartbeat, true))
	mux.Handle("POST /_worker/events", wk(s.event, false))
	mux.Handle("GET /_worker/ws/{id}", wk(s.ws.serve, false))
	mux.Handle("GET /_worker/ws", wk(s.ws.serve, false))
}

// validWorkerID: 1 to 128 of [a-zA-Z0-9_-].
func validWorkerID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func readAll(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	var raw json.RawMessage
	if err := decodeBody(w, r, limit, &raw, true); err != nil {
		return nil, err
	}
	return raw, nil
}

// authWorker checks X-Worker-Token (PROTOCOL.md §3.2): a workers.toml
// token for the worker is tried first, then the global token.
func (s *Server) authWorker(r *http.Request, body []byte) (string, error) {
	id := r.PathValue("id")
	if hid := r.Header.Get(wire.HeaderWorkerID); id == "" {
		id = hid
	} else if hid != "" && hid != id {
		return "", errorf(http.StatusForbidden, "unauthorized", "Unauthorized: X-Worker-ID %q is not worker %q of the path", hid, id)
	}
	if id == "" && len(body) > 0 {
		var b struct {
			WorkerID string `json:"worker_id"`
		}
		_ = json.Unmarshal(body, &b)
		id = b.WorkerID
	}
	tok := r.Header.Get("X-Worker-Token")
	if tok == "" {
		return "", errorf(http.StatusForbidden, "unauthorized", "Unauthorized: missing X-Worker-Token header")
	}
	if id != "" && !validWorkerID(id) {
		return "", errorf(http.StatusBadRequest, "invalid_worker_id", "worker id %q: want 1 to 128 of [a-zA-Z0-9_-]", id)
	}
	if own, ok := s.workers[id]; ok && id != "" {
		if subtle.ConstantTimeCompare([]byte(own), []byte(tok)) == 1 {
			return id, nil
		}
		return "", errorf(http.StatusForbidden, "unauthorized", "Unauthorized: wrong token for worker %q", id)
	}
	if subtle.ConstantTimeCompare([]byte(s.cfg.GlobalWorkerToken), []byte(tok)) == 1 {
		if id == "" {
			id = "unknown_authenticated_by_global_token"
		}
		return id, nil
	}
	return "", errorf(http.StatusForbidden, "unauthorized", "Unauthorized: invalid worker token")
}

// checkSignature verifies a signed message (PROTOCOL.md §3.3): the
// timestamp within 60 s of now and the HMAC-SHA256 over the canonical
// form with the worker's secret (its workers.toml token, else the global
// token). An unsigned message is accepted unless signatures are required;
// an offline heartbeat is never signed by the Python SDK and is let be.
func (s *Server) checkSignature(id string, body []byte, kind wire.Kind) error {
	if !s.cfg.VerifySignatures || len(body) == 0 {
		return nil
	}
	if !s.cfg.RequireSignatures && !mayBeSigned(body) {
		return nil // unsigned, and that is allowed
	}
	var m struct {
		Security  *wire.Security  `json:"security"`
		Timestamp *wire.Timestamp `json:"timestamp"`
		Status    string          `json:"status"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return nil // the handler reports the bad body
	}
	if m.Security == nil || m.Security.Signature == "" {
		if s.cfg.RequireSignatures && m.Status != string(wire.WorkerOffline) {
			return errorf(http.StatusForbidden, "unauthorized", "Unauthorized: the message is not signed")
		}
		return nil
	}
	if m.Security.SignerID != "" && m.Security.SignerID != id {
		return errorf(http.StatusForbidden, "unauthorized", "Unauthorized: signer_id %q is not worker %q", m.Security.SignerID, id)
	}
	if m.Timestamp == nil {
		return errorf(http.StatusForbidden, "unauthorized", "Unauthorized: a signed message needs a timestamp")
	}
	if d := s.now().Unix() - int64(*m.Timestamp); d > 60 || d < -60 {
		return errorf(http.StatusForbidden, "unauthorized", "Unauthorized: timestamp %d is %d s away from the server's clock (limit 60 s)", *m.Timestamp, d)
	}
	secret := s.cfg.GlobalWorkerToken
	if own, ok := s.workers[id]; ok {
		secret = own
	}
	if !wire.Verify(secret, body, kind, m.Security.Signature) {
		return errorf(http.StatusForbidden, "unauthorized", "Unauthorized: invalid signature")
	}
	return nil
}

// mayBeSigned is false when body surely has no "security" member (JSON
// names match case-insensitively and may be escaped).
func mayBeSigned(body []byte) bool {
	if bytes.IndexByte(body, '\\') >= 0 {
		return true
	}
	const name = "security"
	for i := 0; i+len(name) <= len(body); i++ {
		if (body[i]|0x20) == 's' && strings.EqualFold(string(body[i:i+len(name)]), name) {
			return true
		}
	}
	return false
}

// sameWorker refuses a body whose worker_id is not the authenticated one.
func sameWorker(id, bodyID string) error {
	if bodyID != "" && bodyID != id {
		return errorf(http.StatusForbidden, "unauthorized", "Unauthorized: worker_id %q in the body is not the authenticated worker %q", bodyID, id)
	}
	return nil
}

type skillInfo struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

type registration struct {
	WorkerID          string             `json:"worker_id"`
	WorkerType        string             `json:"worker_type"`
	SupportedSkills   []skillInfo        `json:"supported_skills"`
	AvailableSkills   []string           `json:"available_skills"`
	HotSkills         json.RawMessage    `json:"hot_skills"`
	Resources         map[string]any     `json:"resources"`
	InstalledSoftware map[string]any     `json:"installed_software"`
	Capabilities      map[string]any     `json:"capabilities"`
	CostPerSkill      map[string]float64 `json:"-"`
}

func (s *Server) register(w http.ResponseWriter, r *http.Request, id string, body []byte) error {
	var reg registration
	if err := decodeJSON(orEmpty(body), &reg); err != nil {
		return err
	}
	if reg.WorkerID == "" {
		return errorf(http.StatusBadRequest, "invalid_registration", "worker_id is required")
	}
	if err := sameWorker(id, reg.WorkerID); err != nil {
		return err
	}
	skills := map[string]bool{}
	var list []string
	add := func(n string) {
		if n != "" && !skills[n] {
			skills[n] = true
			list = append(list, n)
		}
	}
	for _, sk := range reg.SupportedSkills {
		add(sk.Name)
	}
	for _, n := range reg.AvailableSkills {
		add(n)
	}
	resources := map[string]any{}
	for k, v := range reg.Resources {
		resources[k] = v
	}
	if props, ok := reg.Resources["properties"].(map[string]any); ok {
		for k, v := range props {
			resources[k] = v
		}
	}
	for k, v := range reg.InstalledSoftware {
		resources[k] = v
	}
	costs := map[string]float64{}
	for k, v := range reg.Capabilities {
		if k == "cost_per_skill" {
			if m, ok := v.(map[string]any); ok {
				for sk, c := range m {
					if n, ok := c.(json.Number); ok {
						if f, err := n.Float64(); err == nil {
							costs[sk] = f
						}
					}
				}
			}
			continue
		}
		resources[k] = v
	}
	var info map[string]any
	_ = json.Unmarshal(body, &info)
	delete(info, "security")
	now := s.now()
	rec := store.WorkerRecord{
		Worker: dispatch.Worker{
			ID: reg.WorkerID, Type: reg.WorkerType, Skills: list, CostPerSkill: costs,
			Resources: lang.FromJSON(jsonValue(resources)).(map[string]any), Status: wire.WorkerIdle, Reputation: 1,
		},
		RegisteredAt: now, LastSeen: now, ExpiresAt: now.Add(2 * s.cfg.HealthCheckInterval), Info: info,
	}
	if err := s.store.RegisterWorker(r.Context(), rec); err != nil {
		return err
	}
	s.workerRecs.put(&rec, now)
	writeJSON(w, http.StatusOK, wire.RegisterReply{Status: wire.ReplyRegistered, Version: wire.Version})
	return nil
}

func orEmpty(b []byte) []byte {
	if len(b) == 0 {
		return []byte("{}")
	}
	return b
}

// jsonValue converts json.Number leaves into float64 for FromJSON.
func jsonValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonValue(e)
		}
	case []any:
		for i, e := range x {
			x[i] = jsonValue(e)
		}
	case json.Number:
		return lang.FromJSON(x)
	}
	return v
}

func (s *Server) poll(w http.ResponseWriter, r *http.Request, id string, _ []byte) error {
	rec := s.workerRecs.get(id, s.now())
	if rec == nil {
		var err error
		rec, err = s.store.Worker(r.Context(), id)
		if errors.Is(err, store.ErrNotFound) {
			return errorf(http.StatusNotFound, "not_found", "Worker not found: register first")
		}
		if err != nil {
			return err
		}
		s.workerRecs.put(rec, s.now())
	}
	wait := s.cfg.PollTimeout
	if v := queryValue(r.URL, "timeout"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 {
			return errorf(http.StatusBadRequest, "invalid_query", "timeout=%q: want a number of seconds", v)
		}
		wait = min(wait, time.Duration(f*float64(time.Second)))
	}
	if s.draining.Load() {
		wait = 0
	}
	p := store.LeaseParams{
		WorkerID: id, Types: rec.Skills, Now: s.now(), Wait: wait, Resources: rec.Resources, Costs: rec.CostPerSkill,
	}
	if wait > 0 {
		return s.holdPoll(w, r, p)
	}
	t, err := s.store.Lease(r.Context(), p)
	return s.answerPoll(w, t, err)
}

// queryValue is u.Query().Get(key) without building the map when the
// query needs no unescaping.
func queryValue(u *url.URL, key string) string {
	q := u.RawQuery
	if strings.ContainsAny(q, "%+;") {
		return u.Query().Get(key)
	}
	for q != "" {
		var kv string
		kv, q, _ = strings.Cut(q, "&")
		if k, v, _ := strings.Cut(kv, "="); k == key {
			return v
		}
	}
	return ""
}

// answerPoll writes a poll's answer: the task, or 204 without one.
func (s *Server) answerPoll(w http.ResponseWriter, t *core.Task, err error) error {
	if err != nil && !errors.Is(err, store.ErrClosed) {
		return err
	}
	if t == nil {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	s.metrics.leased(t)
	// tracing_context is always sent, as the Python orchestrator does.
	p := struct {
		wire.Task
		TracingContext map[string]any `json:"tracing_context"`
	}{wire.Task{
		JobID: t.JobID, TaskID: t.ID, Type: t.Type, Params: t.Params, Priority: t.Priority,
		Metadata: t.Metadata, Timestamp: wire.Timestamp(s.now().Unix()),
	}, map[string]any{}}
	if p.Params == nil {
		p.Params = map[string]any{}
	}
	if t.Security != nil {
		if b, err := json.Marshal(t.Security); err == nil {
			p.Security = b
		}
	}
	if !t.LeaseUntil.IsZero() {
		p.Deadline = wire.Timestamp(t.LeaseUntil.Unix())
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

type resultBody struct {
	JobID    string          `json:"job_id"`
	TaskID   string          `json:"task_id"`
	WorkerID string          `json:"worker_id"`
	Origin   string          `json:"origin_worker_id"`
	Status   string          `json:"status"`
	Data     json.RawMessage `json:"data"`
	Error    *wire.Error     `json:"error"`
}

func (s *Server) result(w http.ResponseWriter, r *http.Request, id string, body []byte) error {
	var res resultBody
	if err := decodeJSON(orEmpty(body), &res); err != nil {
		return err
	}
	if res.TaskID == "" || res.JobID == "" {
		return errorf(http.StatusBadRequest, "invalid_result", "job_id and task_id are required")
	}
	if err := sameWorker(id, res.WorkerID); err != nil {
		return err
	}
	var data map[string]any
	if len(res.Data) > 0 && string(res.Data) != "null" {
		var v any
		if err := decodeJSON(res.Data, &v); err != nil {
			return err
		}
		m, ok := v.(map[string]any)
		if !ok {
			return errorf(http.StatusBadRequest, "invalid_result", "data must be a JSON object")
		}
		data = lang.FromJSON(m).(map[string]any)
	}
	if res.Status == "" {
		res.Status = wire.ResultSuccess
	}
	ignored := func(reason, msg string) error {
		writeJSON(w, http.StatusOK, wire.ResultReply{Status: wire.ReplyIgnored, Reason: reason, Message: msg})
		return nil
	}
	// The job holds the task's branch; -1 lets the engine find it.
	ev := core.Event{Kind: core.EventTaskResult, TaskID: res.TaskID, Branch: -1, WorkerID: id,
		Result: &core.Result{Status: res.Status, Data: data, Error: res.Error}}
	j, err := s.deliver(r.Context(), res.JobID, ev, &store.TaskCompletion{TaskID: res.TaskID, WorkerID: id})
	switch {
	case errors.Is(err, store.ErrAlreadyDone):
		writeJSON(w, http.StatusOK, wire.ResultReply{Status: wire.ReplyAccepted, Transition: "duplicate_result"})
		return nil
	case errors.Is(err, store.ErrWorkerMismatch):
		return ignored(wire.ReasonWorkerMismatch, "task "+res.TaskID+" is not leased to worker "+id)
	case errors.Is(err, store.ErrLeaseLost):
		return ignored(wire.ReasonDeadlineExceeded, "the lease on task "+res.TaskID+" expired; the task was handed on")
	case errors.Is(err, store.ErrStaleTask), errors.Is(err, core.ErrStaleTask):
		return ignored(wire.ReasonStaleTask, "the job no longer waits on task "+res.TaskID)
	case errors.Is(err, core.ErrTerminal):
		reason := wire.ReasonAlreadyTerminated
		if j != nil && j.Status == wire.StatusCancelled {
			reason = wire.ReasonJobCancelled
		}
		return ignored(reason, "the job has ended")
	case errors.Is(err, store.ErrNotFound):
		return ignored(wire.ReasonJobNotFound, "unknown job "+res.JobID)
	case err != nil:
		return err
	}
	transition := wire.TransitionSuccess
	switch {
	case j.Tasks.Len() > 0 && j.Status == wire.StatusWaitingParallel:
		transition = wire.TransitionParallelBranch
	case res.Status == wire.ResultFailure:
		transition = wire.TransitionFailureHandled
	case res.Status == wire.ResultCancelled:
		transition = wire.TransitionCancelledHandled
	case j.Status == wire.StatusFailed && j.Error != nil && j.Error.Code == wire.CodeUnhandledStatus:
		transition = wire.TransitionUnhandledStatus
	}
	writeJSON(w, http.StatusOK, wire.ResultReply{Status: wire.ReplyAccepted, Transition: transition})
	return nil
}

func (s *Server) heartbeat(w http.ResponseWriter, r *http.Request, id string, body []byte) error {
	now := s.now()
	p := store.HeartbeatParams{WorkerID: id, Now: now, ExpiresAt: now.Add(2 * s.cfg.HealthCheckInterval), Status: wire.WorkerIdle}
	empty := len(body) == 0
	if !empty {
		var hb struct {
			WorkerID  string            `json:"worker_id"`
			Status    wire.WorkerStatus `json:"status"`
			HotSkills json.RawMessage   `json:"hot_skills"`
		}
		if err := decodeJSON(body, &hb); err != nil {
			return err
		}
		if err := sameWorker(id, hb.WorkerID); err != nil {
			return err
		}
		switch hb.Status {
		case wire.WorkerOffline:
			s.workerRecs.drop(id)
			if err := s.store.RemoveWorker(r.Context(), id); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			writeJSON(w, http.StatusOK, wire.HeartbeatReply{Status: wire.ReplyOK})
			return nil
		case wire.WorkerBusy:
			p.Status = wire.WorkerBusy
		case wire.WorkerDraining:
			p.Status = wire.WorkerDraining
		}
	}
	found, err := s.store.Heartbeat(r.Context(), p)
	if err != nil {
		return err
	}
	if !found {
		s.workerRecs.drop(id)
		return errorf(http.StatusNotFound, "not_found", "Worker not found: register again")
	}
	if empty {
		writeJSON(w, http.StatusOK, wire.HeartbeatReply{Status: wire.ReplyTTLRefreshed})
		return nil
	}
	ids, err := s.store.CancelRequests(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.HeartbeatReply{Status: wire.ReplyOK, CancelTaskIDs: ids})
	return nil
}

func (s *Server) event(w http.ResponseWriter, r *http.Request, id string, body []byte) error {
	if err := s.applyEvent(r.Context(), id, body); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.EventReply{Status: wire.ReplyEventAccepted})
	return nil
}

// applyEvent applies a worker event, from POST /_worker/events or the
// worker's WebSocket: a progress event sets the job's progress and
// message; other events are accepted and logged.
func (s *Server) applyEvent(ctx context.Context, id string, body []byte) error {
	var ev struct {
		WorkerID     string         `json:"worker_id"`
		EventType    string         `json:"event_type"`
		Payload      map[string]any `json:"payload"`
		OriginTaskID string         `json:"origin_task_id"`
		TargetJobID  string         `json:"target_job_id"`
	}
	if err := decodeJSON(orEmpty(body), &ev); err != nil {
		return err
	}
	if err := sameWorker(id, ev.WorkerID); err != nil {
		return err
	}
	if ev.EventType == "" {
		return errorf(http.StatusBadRequest, "invalid_event", "event_type is required")
	}
	jobID := ev.TargetJobID
	if jobID == "" && ev.OriginTaskID != "" {
		if info, err := s.store.Task(ctx, ev.OriginTaskID); err == nil {
			jobID = info.Task.JobID
		}
	}
	if ev.EventType != wire.EventProgress || jobID == "" {
		s.log.Debug("worker event", "worker", id, "type", ev.EventType, "job", jobID)
		return nil
	}
	data := lang.FromJSON(jsonValue(ev.Payload))
	m, _ := data.(map[string]any)
	if _, err := s.deliver(ctx, jobID, core.Event{Kind: core.EventProgress, Data: m}, nil); err != nil && !benign(err) {
		return err
	}
	return nil
}
