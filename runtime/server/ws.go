package server

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// wsHub keeps one WebSocket per worker and pushes cancel_task commands.
type wsHub struct {
	s     *Server
	up    websocket.Upgrader
	mu    sync.Mutex
	conns map[string]*wsConn
	relay bool // cancels come from the store's CancelFeed
}

type wsConn struct {
	c  *websocket.Conn
	mu sync.Mutex // one writer at a time
}

func newWSHub(s *Server) *wsHub {
	return &wsHub{s: s, conns: map[string]*wsConn{}, up: websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}}
}

func (h *wsHub) serve(w http.ResponseWriter, r *http.Request, id string, _ []byte) error {
	c, err := h.up.Upgrade(w, r, nil)
	if err != nil {
		return nil // the upgrader wrote the error
	}
	conn := &wsConn{c: c}
	h.mu.Lock()
	if old := h.conns[id]; old != nil {
		old.close(websocket.ClosePolicyViolation, "replaced by a newer connection")
	}
	h.conns[id] = conn
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		if h.conns[id] == conn {
			delete(h.conns, id)
		}
		h.mu.Unlock()
		_ = c.Close()
	}()
	c.SetReadLimit(h.s.cfg.MaxBodyBytes)
	for {
		// Workers may send signed events here, as to POST /_worker/events;
		// progress reaches the job. A bad event is logged and skipped: the
		// socket carries no replies.
		_, msg, err := c.ReadMessage()
		if err != nil {
			return nil
		}
		err = h.s.checkSignature(r.Context(), id, msg, wire.KindEvent)
		if err == nil {
			err = h.s.applyEvent(r.Context(), id, msg)
		}
		if err != nil {
			h.s.log.Warn("websocket event refused", "worker", id, "err", err)
		}
	}
}

func (c *wsConn) send(v any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.c.WriteJSON(v)
}

func (c *wsConn) close(code int, text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(time.Second))
	_ = c.c.Close()
}

// relayed reports whether cancels reach this hub through the store's
// CancelFeed (from every instance) rather than the local observer.
func (h *wsHub) relayed() bool { return h.relay }

// relayCancel is the CancelFeed's function: a task leased to workerID was
// withdrawn on some instance. When the worker's socket is here, it is
// told at once (off the store's listening goroutine).
func (h *wsHub) relayCancel(workerID, taskID string) {
	h.mu.Lock()
	conn := h.conns[workerID]
	h.mu.Unlock()
	if conn == nil {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		jobID := ""
		if info, err := h.s.x.Store().Task(ctx, taskID); err == nil {
			jobID = info.Task.JobID
		}
		if err := conn.send(wire.Command{Command: wire.CommandCancelTask, TaskID: taskID, JobID: jobID}); err != nil {
			h.s.log.Warn("push cancel_task", "worker", workerID, "task", taskID, "err", err)
		}
	}()
}

// cancel tells the worker holding the task to stop it, when it has a
// socket open; the heartbeat's cancel_task_ids covers the others.
func (h *wsHub) cancel(ctx context.Context, taskID, jobID string) {
	info, err := h.s.x.Store().Task(ctx, taskID)
	if err != nil || info.Worker == "" {
		return
	}
	h.mu.Lock()
	conn := h.conns[info.Worker]
	h.mu.Unlock()
	if conn == nil {
		return
	}
	if err := conn.send(wire.Command{Command: wire.CommandCancelTask, TaskID: taskID, JobID: jobID}); err != nil {
		h.s.log.Warn("push cancel_task", "worker", info.Worker, "task", taskID, "err", err)
	}
}

func (h *wsHub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, c := range h.conns {
		c.close(websocket.CloseGoingAway, "server shutting down")
		delete(h.conns, id)
	}
}
