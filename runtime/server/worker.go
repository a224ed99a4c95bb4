package server

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/orchestrator"
	"github.com/avtomatika-ai/avtomatika-go/runtime/server/internal/park"
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
			orig := w
			accepted := false // authenticated, signed and answered without error
			var id string
			if p := s.parker(r); parkAfterReply && p != nil && !s.x.Draining() {
				// The connection of a heartbeat waits for the next one:
				// the answer is written by hand and the connection parked,
				// once the body has been read to its end, when the
				// heartbeat was accepted and the worker holds fewer parked
				// connections than its cap.
				rr, out := park.NewResponse(), w
				w = rr
				defer func() {
					code := rr.Status() // rr is recycled once sent
					if accepted && s.parked.take(id) {
						wid := id
						if p.ParkAfter(out, r, rr, func() { s.parked.give(wid) }) {
							setStatus(out, code)
							return
						}
						s.parked.give(wid)
					}
					rr.CopyTo(out)
					rr.Release()
				}()
			}
			w.Header()[versionKey] = versionValue
			var body []byte
			if r.Method != http.MethodGet {
				b, err := s.readBody(orig, r, s.cfg.MaxBodyBytes)
				if err != nil {
					s.writeError(w, r, err)
					return
				}
				body = b
			}
			id, err := s.authWorker(r, body)
			if err == nil {
				kind := wire.KindMessage
				if r.URL.Path == wire.RouteEvents {
					kind = wire.KindEvent
				}
				err = s.checkSignature(r.Context(), id, body, kind)
			}
			if err == nil {
				err = h(w, r, id, body)
			}
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			accepted = true
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

// overRate refuses a request over its rate (429 with Retry-After); l nil
// is no limit.
func (s *Server) overRate(l *limiter, key, what string) error {
	if l == nil {
		return nil
	}
	wait, ok := l.take(key, s.now(), 0)
	if ok {
		return nil
	}
	return &apiError{Status: http.StatusTooManyRequests, Code: wire.CodeRateLimited,
		Message: fmt.Sprintf("Too Many Requests: %s over its rate of requests; retry in %d s", what, retryAfter(wait)), RetryAfter: retryAfter(wait)}
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

// readBody reads a worker request's JSON body of at most limit bytes,
// within the body read timeout.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	var raw json.RawMessage
	if err := s.decodeBody(w, r, limit, &raw, true); err != nil {
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
		return "", errorf(http.StatusForbidden, wire.CodeUnauthorized, "Unauthorized: X-Worker-ID %q is not worker %q of the path", hid, id)
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
		return "", errorf(http.StatusForbidden, wire.CodeUnauthorized, "Unauthorized: missing X-Worker-Token header")
	}
	if id != "" && !validWorkerID(id) {
		return "", errorf(http.StatusBadRequest, wire.CodeInvalidWorkerID, "worker id %q: want 1 to 128 of [a-zA-Z0-9_-]", id)
	}
	if own, ok := s.workers[id]; ok && id != "" {
		if subtle.ConstantTimeCompare([]byte(own), []byte(tok)) == 1 {
			return id, nil
		}
		return "", errorf(http.StatusForbidden, wire.CodeUnauthorized, "Unauthorized: wrong token for worker %q", id)
	}
	if subtle.ConstantTimeCompare([]byte(s.cfg.GlobalWorkerToken), []byte(tok)) == 1 {
		if id == "" {
			id = "unknown_authenticated_by_global_token"
		}
		return id, nil
	}
	return "", errorf(http.StatusForbidden, wire.CodeUnauthorized, "Unauthorized: invalid worker token")
}

// checkSignature verifies a signed message (PROTOCOL.md §3.3): the
// timestamp within 60 s of now and the HMAC-SHA256 over the canonical
// form with the worker's secret (its workers.toml token, else the global
// token). An unsigned message is accepted unless signatures are required;
// an offline heartbeat is never signed by the Python SDK and is let be.
//
// A signed message is accepted once: its signature is recorded in the
// store for as long as its timestamp is within the window, and a second
// message with the same signature (a replay) is refused with 403.
func (s *Server) checkSignature(ctx context.Context, id string, body []byte, kind wire.Kind) error {
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
			return errorf(http.StatusForbidden, wire.CodeUnauthorized, "Unauthorized: the message is not signed")
		}
		return nil
	}
	if m.Security.SignerID != "" && m.Security.SignerID != id {
		return errorf(http.StatusForbidden, wire.CodeUnauthorized, "Unauthorized: signer_id %q is not worker %q", m.Security.SignerID, id)
	}
	if m.Timestamp == nil {
		return errorf(http.StatusForbidden, wire.CodeUnauthorized, "Unauthorized: a signed message needs a timestamp")
	}
	if d, lim := s.x.Now().Unix()-int64(*m.Timestamp), int64(orchestrator.SignatureWindow/time.Second); d > lim || d < -lim {
		return errorf(http.StatusForbidden, wire.CodeUnauthorized, "Unauthorized: timestamp %d is %d s away from the server's clock (limit %d s)", *m.Timestamp, d, lim)
	}
	secret := s.cfg.GlobalWorkerToken
	if own, ok := s.workers[id]; ok {
		secret = own
	}
	if !wire.Verify(secret, body, kind, m.Security.Signature) {
		return errorf(http.StatusForbidden, wire.CodeUnauthorized, "Unauthorized: invalid signature")
	}
	return s.x.FirstUse(ctx, id, m.Security.Signature)
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
		return errorf(http.StatusForbidden, wire.CodeUnauthorized, "Unauthorized: worker_id %q in the body is not the authenticated worker %q", bodyID, id)
	}
	return nil
}

type registration struct {
	WorkerID          string           `json:"worker_id"`
	WorkerType        string           `json:"worker_type"`
	SupportedSkills   []wire.SkillInfo `json:"supported_skills"`
	AvailableSkills   []string         `json:"available_skills"`
	HotSkills         json.RawMessage  `json:"hot_skills"`
	Resources         map[string]any   `json:"resources"`
	InstalledSoftware map[string]any   `json:"installed_software"`
	Capabilities      map[string]any   `json:"capabilities"`
}

func (s *Server) register(w http.ResponseWriter, r *http.Request, id string, body []byte) error {
	if n := s.cfg.Limits.MaxRegistrationBytes; len(body) > n {
		return errorf(http.StatusRequestEntityTooLarge, wire.CodeBodyTooLarge, "registration of %d bytes is over the limit of %d (MAX_REGISTRATION_BYTES)", len(body), n)
	}
	if err := s.overRate(s.workerRate, id, "worker "+id); err != nil {
		return err
	}
	var reg registration
	if err := decodeJSON(orEmpty(body), &reg); err != nil {
		return err
	}
	if reg.WorkerID != "" {
		if err := sameWorker(id, reg.WorkerID); err != nil {
			return err
		}
	}
	skills := make([]string, 0, len(reg.SupportedSkills)+len(reg.AvailableSkills))
	for _, sk := range reg.SupportedSkills {
		skills = append(skills, sk.Name)
	}
	skills = append(skills, reg.AvailableSkills...)
	var info map[string]any
	_ = json.Unmarshal(body, &info)
	delete(info, "security")
	err := s.x.Register(r.Context(), orchestrator.Registration{
		WorkerID: reg.WorkerID, WorkerType: reg.WorkerType, Skills: skills, Resources: reg.Resources,
		InstalledSoftware: reg.InstalledSoftware, Capabilities: reg.Capabilities, Info: info,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.RegisterReply{Status: wire.ReplyRegistered, Version: wire.Version})
	return nil
}

func orEmpty(b []byte) []byte {
	if len(b) == 0 {
		return []byte("{}")
	}
	return b
}

func (s *Server) poll(w http.ResponseWriter, r *http.Request, id string, _ []byte) error {
	wait := s.cfg.PollTimeout
	if v := queryValue(r.URL, "timeout"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 {
			return errorf(http.StatusBadRequest, wire.CodeInvalidQuery, "timeout=%q: want a number of seconds", v)
		}
		wait = time.Duration(f * float64(time.Second))
	}
	p, err := s.x.Poll(r.Context(), id, wait)
	if err != nil {
		return err
	}
	if s.pollRate != nil {
		// A poll over its rate is held until its turn, not refused: a
		// worker's loop simply slows down.
		due, ok := s.pollRate.take(id, s.now(), p.Wait)
		if !ok {
			due = p.Wait
		}
		if due > 0 {
			t := time.NewTimer(due)
			select {
			case <-t.C:
			case <-r.Context().Done():
			case <-s.x.DrainContext().Done():
			}
			t.Stop()
			if !ok || r.Context().Err() != nil || s.x.Draining() {
				w.WriteHeader(http.StatusNoContent)
				return nil
			}
			p.Wait -= due
			p.Now = s.x.Now()
		}
	}
	if p.Wait > 0 {
		return s.holdPoll(w, r, p)
	}
	t, err := s.x.Lease(r.Context(), p)
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
	if err != nil {
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
		Metadata: t.Metadata, Timestamp: wire.Timestamp(s.x.Now().Unix()),
	}, t.TracingContext}
	if p.TracingContext == nil {
		p.TracingContext = map[string]any{}
	}
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
		return errorf(http.StatusBadRequest, wire.CodeInvalidResult, "job_id and task_id are required")
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
			return errorf(http.StatusBadRequest, wire.CodeInvalidResult, "data must be a JSON object")
		}
		data = lang.FromJSON(m).(map[string]any)
	}
	reply, err := s.x.Result(r.Context(), id, orchestrator.TaskResult{JobID: res.JobID, TaskID: res.TaskID, Status: res.Status, Data: data, Error: res.Error})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, reply)
	return nil
}

func (s *Server) heartbeat(w http.ResponseWriter, r *http.Request, id string, body []byte) error {
	if err := s.overRate(s.heartbeatRate, id, "the heartbeats of worker "+id); err != nil {
		return err
	}
	if len(body) == 0 {
		if err := s.x.Touch(r.Context(), id, ""); err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, wire.HeartbeatReply{Status: wire.ReplyTTLRefreshed})
		return nil
	}
	var hb wire.Heartbeat
	if err := decodeJSON(body, &hb); err != nil {
		return err
	}
	if err := sameWorker(id, hb.WorkerID); err != nil {
		return err
	}
	ids, err := s.x.Heartbeat(r.Context(), id, hb.Status, hb.CurrentTasks)
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

// applyEvent decodes a worker event, from POST /_worker/events or the
// worker's WebSocket, and hands it to the orchestrator.
func (s *Server) applyEvent(ctx context.Context, id string, body []byte) error {
	if err := s.overRate(s.workerRate, id, "worker "+id); err != nil {
		return err
	}
	var raw struct {
		Payload json.RawMessage `json:"payload"`
	}
	if err := decodeJSON(orEmpty(body), &raw); err != nil {
		return err
	}
	if n := s.cfg.Limits.MaxEventBytes; len(raw.Payload) > n {
		return errorf(http.StatusRequestEntityTooLarge, wire.CodeBodyTooLarge, "payload of %d bytes is over the limit of %d (MAX_EVENT_PAYLOAD_BYTES)", len(raw.Payload), n)
	}
	var ev wire.Event
	if err := decodeJSON(orEmpty(body), &ev); err != nil {
		return err
	}
	if err := sameWorker(id, ev.WorkerID); err != nil {
		return err
	}
	return s.x.Event(ctx, id, orchestrator.WorkerEvent{Type: ev.EventType, Payload: ev.Payload, OriginTaskID: ev.OriginTaskID, TargetJobID: ev.TargetJobID})
}
