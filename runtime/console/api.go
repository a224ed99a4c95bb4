package console

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/gorilla/websocket"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/orchestrator"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// clientName is the name the live view filters on, and whether the
// caller sees every job.
func (who caller) filter() (string, bool) {
	if who.client == nil {
		return "", true
	}
	return who.client.Name, false
}

func (c *Console) stats(w http.ResponseWriter, r *http.Request, who caller) {
	c.live.seed()
	name, all := who.filter()
	writeJSON(w, http.StatusOK, map[string]any{"blueprints": c.live.stats(name, all)})
}

func (c *Console) stateJobs(w http.ResponseWriter, r *http.Request, who caller) {
	c.live.seed()
	q := r.URL.Query()
	bp, st := q.Get("blueprint"), q.Get("state")
	if bp == "" || st == "" {
		writeErr(w, http.StatusBadRequest, "invalid_query", "blueprint and state are required")
		return
	}
	name, all := who.filter()
	writeJSON(w, http.StatusOK, c.live.inState(name, all, bp, st, 200))
}

func (c *Console) graph(w http.ResponseWriter, r *http.Request, _ caller) {
	m, err := c.graphs.machine(r.Context(), r.PathValue("name"), r.URL.Query().Get("version"))
	if err != nil {
		writeErr(w, http.StatusNotFound, "not_found", err.Error())
		return
	}
	svg, err := c.graphs.svg(r.Context(), m)
	if err != nil {
		c.writeFailure(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "private, max-age=3600")
	w.Header().Set("X-Blueprint-Version", m.Hash)
	_, _ = w.Write(svg)
}

// TaskView is one task a job waits on now, as the store holds it.
type TaskView struct {
	ID         string  `json:"id"`
	Type       string  `json:"type"`
	Branch     int     `json:"branch"`
	Attempt    int     `json:"attempt"`
	State      string  `json:"state"` // queued, leased, done, withdrawn, expired, unknown
	Worker     string  `json:"worker,omitempty"`
	EnqueuedAt float64 `json:"enqueued_at,omitempty"`
	LeasedAt   float64 `json:"leased_at,omitempty"`
	LeaseUntil float64 `json:"lease_until,omitempty"`
}

// JobDetail is what a job's page shows beyond the API's job view.
type JobDetail struct {
	ID               string          `json:"id"`
	Blueprint        string          `json:"blueprint"`
	BlueprintVersion string          `json:"blueprint_version"`
	State            string          `json:"state"`
	Status           wire.JobStatus  `json:"status"`
	Client           string          `json:"client,omitempty"`
	Input            map[string]any  `json:"input"`
	History          map[string]any  `json:"history"`
	Result           *core.Result    `json:"result,omitempty"`
	Results          []*core.Result  `json:"results,omitempty"`
	Error            *wire.Error     `json:"error,omitempty"`
	ApprovalMessage  string          `json:"approval_message,omitempty"`
	ChildJobID       string          `json:"child_job_id,omitempty"`
	ChildJobIDs      []string        `json:"child_job_ids,omitempty"` // every child job it started
	Approval         *wire.Approval  `json:"approval,omitempty"`      // the question it waits on
	Parent           *core.ParentRef `json:"parent,omitempty"`
	Metadata         map[string]any  `json:"metadata,omitempty"`
	Progress         float64         `json:"progress,omitempty"`
	ProgressMessage  string          `json:"progress_message,omitempty"`
	Steps            int             `json:"steps"`
	CreatedAt        float64         `json:"created_at"`
	UpdatedAt        float64         `json:"updated_at"`
	FinishedAt       float64         `json:"finished_at,omitempty"`
	Tasks            []TaskView      `json:"tasks"`
	// Actions the job's state allows: cancel (and approve, reject while
	// it waits for an approval) until it ends; redrive once it failed or
	// was quarantined.
	Actions []string `json:"actions"`
}

func unix(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixMilli()) / 1000
}

// job is one job with its current tasks and the actions its state allows.
func (c *Console) job(w http.ResponseWriter, r *http.Request, who caller) {
	j, err := c.x.Job(r.Context(), who.client, r.PathValue("id"))
	if err != nil {
		c.writeFailure(w, r, err)
		return
	}
	d := JobDetail{
		ID: j.ID, Blueprint: j.Blueprint, BlueprintVersion: j.Version, State: j.State, Status: j.Status, Client: j.Client.Name,
		Input: j.Input, History: j.History, Result: j.Result, Results: j.Results, Error: j.Error,
		ApprovalMessage: j.ApprovalMessage, ChildJobID: j.Child, ChildJobIDs: j.Children, Approval: orchestrator.ApprovalView(j),
		Parent: j.Parent, Metadata: j.Metadata,
		Progress: j.Progress, ProgressMessage: j.ProgressMessage, Steps: j.Steps,
		CreatedAt: unix(j.CreatedAt), UpdatedAt: unix(j.UpdatedAt), FinishedAt: unix(j.FinishedAt),
		Tasks: []TaskView{}, Actions: []string{},
	}
	if d.Input == nil {
		d.Input = map[string]any{}
	}
	if d.History == nil {
		d.History = map[string]any{}
	}
	if !j.Status.Terminal() {
		for _, t := range j.Tasks.All() {
			if t.Result != nil || len(d.Tasks) >= 100 {
				continue
			}
			tv := TaskView{ID: t.ID, Type: t.Type, Branch: t.Branch, Attempt: t.Attempt, State: "unknown"}
			if ti, err := c.x.Store().Task(r.Context(), t.ID); err == nil {
				tv.State, tv.Worker = string(ti.State), ti.Worker
				tv.EnqueuedAt, tv.LeasedAt, tv.LeaseUntil = unix(ti.Task.EnqueuedAt), unix(ti.Task.LeasedAt), unix(ti.Task.LeaseUntil)
			}
			d.Tasks = append(d.Tasks, tv)
		}
		d.Actions = append(d.Actions, "cancel")
		if j.Status == wire.StatusWaitingForHuman {
			d.Actions = append(d.Actions, "approve", "reject")
		}
	} else if j.Status == wire.StatusFailed || j.Status == wire.StatusQuarantined {
		d.Actions = append(d.Actions, "redrive")
	}
	writeJSON(w, http.StatusOK, d)
}

// QueueView is one task type's queue.
type QueueView struct {
	Type string `json:"type"`
	// Queued tasks wait for a worker; Leased are being run.
	Queued int `json:"queued"`
	Leased int `json:"leased"`
	// OldestWaitSeconds is how long the oldest queued task has waited.
	OldestWaitSeconds float64 `json:"oldest_wait_seconds"`
	OldestJob         string  `json:"oldest_job,omitempty"`
	// Workers counts the live workers that list the type among their
	// skills; Unserved flags a type jobs wait on that none serves.
	Workers  int  `json:"workers"`
	Unserved bool `json:"unserved"`
}

// queueSample bounds the open tasks a queues request reads from the store.
const queueSample = 2_000

// queues are the task types the followed jobs wait on: depth, oldest
// waiting task, and whether any live worker serves the type.
func (c *Console) queues(w http.ResponseWriter, r *http.Request, who caller) {
	c.live.seed()
	name, all := who.filter()
	open, sampled := c.live.openTaskSample(name, all, queueSample)
	ws, err := c.x.Workers(r.Context())
	if err != nil {
		c.writeFailure(w, r, err)
		return
	}
	now := c.x.Now()
	byType := map[string]*QueueView{}
	get := func(t string) *QueueView {
		q := byType[t]
		if q == nil {
			q = &QueueView{Type: t}
			byType[t] = q
		}
		return q
	}
	inFlight := map[string][]string{}
	for _, t := range open {
		ti, err := c.x.Store().Task(r.Context(), t.id)
		if err != nil {
			continue
		}
		switch ti.State {
		case store.TaskQueued:
			q := get(t.typ)
			q.Queued++
			if wait := now.Sub(ti.Task.EnqueuedAt).Seconds(); wait >= q.OldestWaitSeconds {
				q.OldestWaitSeconds, q.OldestJob = wait, t.job
			}
		case store.TaskLeased:
			get(t.typ).Leased++
			if len(inFlight[ti.Worker]) < 50 {
				inFlight[ti.Worker] = append(inFlight[ti.Worker], t.id)
			}
		}
	}
	for _, wk := range ws {
		if wk.ExpiresAt.Before(now) {
			continue
		}
		for _, s := range wk.Skills {
			if q, ok := byType[s]; ok {
				q.Workers++
			}
		}
	}
	out := make([]*QueueView, 0, len(byType))
	for _, q := range byType {
		q.Unserved = q.Workers == 0 && (q.Queued > 0 || q.Leased > 0)
		out = append(out, q)
	}
	slices.SortFunc(out, func(a, b *QueueView) int {
		if a.Unserved != b.Unserved {
			if a.Unserved {
				return -1
			}
			return 1
		}
		if a.Type < b.Type {
			return -1
		}
		return 1
	})
	writeJSON(w, http.StatusOK, map[string]any{"queues": out, "sampled": sampled, "in_flight": inFlight})
}

// upgrader accepts the live socket from this host's pages only (its
// CheckOrigin compares Origin with Host), on top of guard's checks.
var upgrader = websocket.Upgrader{ReadBufferSize: 512, WriteBufferSize: 4096}

// live pushes the live view's changes over a WebSocket, one message per
// batch (at most one per batchWindow). A WebSocket rather than server-sent
// events: a browser opens at most six HTTP/1.1 connections per host, and
// an event stream per open console tab would use them up.
func (c *Console) liveSocket(w http.ResponseWriter, r *http.Request, who caller) {
	c.live.seed()
	name, _ := who.filter()
	s := c.live.subscribe(name)
	if s == nil {
		w.Header().Set("Retry-After", "5")
		writeErr(w, http.StatusServiceUnavailable, "too_many_sockets", fmt.Sprintf("over %d open live sockets", maxSubscribers))
		return
	}
	defer c.live.unsubscribe(s)
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered
	}
	defer conn.Close()
	closed := make(chan struct{})
	go func() {
		// The page sends nothing; reading handles pings and the close.
		defer close(closed)
		conn.SetReadLimit(512)
		for {
			if _, _, err := conn.NextReader(); err != nil {
				return
			}
		}
	}()
	ping := time.NewTicker(25 * time.Second)
	defer ping.Stop()
	drain := c.x.DrainContext().Done()
	for {
		select {
		case b := <-s.ch:
			_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if err := conn.WriteMessage(websocket.TextMessage, b); err != nil {
				return
			}
		case <-ping.C:
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(10*time.Second)); err != nil {
				return
			}
		case <-closed:
			return
		case <-r.Context().Done():
			return
		case <-drain:
			_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "draining"), time.Now().Add(time.Second))
			return
		}
	}
}
