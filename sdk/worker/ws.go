package worker

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// socket keeps a WebSocket to the orchestrator open until ctx ends,
// reconnecting with backoff (RetryInitial -> RetryMax), and cancels
// tasks on cancel_task commands.
func (l *link) socket(ctx context.Context) {
	w := l.w
	var bo backoff
	bo.init(w.cfg.RetryInitial, w.cfg.RetryMax)
	for ctx.Err() == nil {
		connected, err := l.socketOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if connected {
			bo.reset()
		}
		w.log.Debug("websocket closed, will reconnect", "orchestrator", l.o.URL, "err", err)
		if !sleep(ctx, bo.next()) {
			return
		}
	}
}

// socketOnce dials and reads commands until the connection ends.
func (l *link) socketOnce(ctx context.Context) (connected bool, err error) {
	w := l.w
	u, err := url.Parse(l.o.URL + fmt.Sprintf(wire.RouteWSFmt, url.PathEscape(w.cfg.WorkerID)))
	if err != nil {
		return false, err
	}
	u.Scheme = strings.Replace(u.Scheme, "http", "ws", 1)
	h := http.Header{}
	if l.token != "" {
		h.Set(wire.HeaderWorkerToken, l.token)
	}
	h.Set(wire.HeaderWorkerID, w.cfg.WorkerID)
	h.Set(wire.HeaderVersion, wire.Version)
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, Proxy: http.ProxyFromEnvironment}
	conn, resp, err := d.DialContext(ctx, u.String(), h)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return false, fmt.Errorf("dial %s: %w", u, err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()
	conn.SetReadLimit(1 << 20)
	for {
		var cmd wire.Command
		if err := conn.ReadJSON(&cmd); err != nil {
			return true, err
		}
		switch cmd.Command {
		case wire.CommandCancelTask:
			if cmd.TaskID != "" {
				w.cancelTasks([]string{cmd.TaskID})
			}
		default:
			w.log.Debug("websocket: unknown command", "command", cmd.Command)
		}
	}
}
