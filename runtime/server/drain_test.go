package server

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// TestDrainAnswers503: during the drain delay the listener stays open:
// the status says draining (503), a new job is refused with 503 and an
// error body, a poll answers 204 at once, and the result of a task a
// worker holds is still taken. Then the listener closes.
func TestDrainAnswers503(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "retry.yaml"), []byte(retryBP), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.BlueprintsDir = dir
	cfg.GlobalWorkerToken = workerToken
	srv, err := New(Options{Config: cfg, DrainDelay: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	l, cancel, done := runOn(t, srv, 30*time.Second)
	h := &harness{t: t, url: "http://" + l.Addr().String(), dir: dir, srv: srv}
	h.stop = func() {}

	w := h.worker("w1", "flaky")
	id := h.create("/jobs/retry", nil)
	p := w.mustPoll()

	cancel() // SIGTERM
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var st map[string]string
		if code := h.do("GET", "/_public/status", nil, nil, &st); code == http.StatusServiceUnavailable && st["status"] == "draining" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the status never said draining")
		}
	}
	var refused struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if code := h.do("POST", "/api/v1/jobs/retry", nil, map[string]any{"initial_data": map[string]any{}}, &refused); code != http.StatusServiceUnavailable || refused.Error.Code == "" {
		t.Errorf("a new job while draining: %d %+v, want 503 with an error body", code, refused)
	}
	if p := w.poll(5); p != nil {
		t.Errorf("a poll while draining leased %s", p.TaskID)
	}
	if out := w.result(p, "success", nil, ""); out["status"] != string(wire.ReplyAccepted) {
		t.Errorf("a result while draining: %v, want accepted", out)
	}
	if v := h.job(id); v.Status != wire.StatusFinished {
		t.Errorf("job after its result: %s", v.Status)
	}

	srv.endDrainDelay()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the server did not stop after the drain delay")
	}
	if c, err := net.Dial("tcp", l.Addr().String()); err == nil {
		c.Close()
		t.Error("the listener is still open after Run returned")
	}
}

// TestGraceEndsOnlyForRequests: a connection that has sent no whole
// request head does not hold the stop past its grace nor make it an
// error (net/http would wait five seconds for it), but a request under
// way when the grace ends is reported.
func TestGraceEndsOnlyForRequests(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		send    string
		wantErr bool
	}{
		{"silent connection", "", false},
		{"request head half sent", "POST /api/v1/jobs/inventory_check HTTP/1.1\r\nHost: x\r\n", false},
		{"result body half sent", "POST " + wire.RouteResult + " HTTP/1.1\r\nHost: x\r\n" + wire.HeaderWorkerToken + ": " + workerToken + "\r\n" + wire.HeaderWorkerID + ": w1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg := config.Default()
			cfg.BlueprintsDir = ""
			cfg.GlobalWorkerToken = workerToken
			srv, err := New(Options{Config: cfg, Blueprints: loadExamples(t)})
			if err != nil {
				t.Fatal(err)
			}
			l, cancel, done := runOn(t, srv, time.Second)
			conn, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if c.send != "" {
				if _, err := conn.Write([]byte(c.send)); err != nil {
					t.Fatal(err)
				}
			}
			// The server accepts connections in turn: once a request on
			// a second one is answered, this one is accepted.
			resp, err := http.Get("http://" + l.Addr().String() + "/_public/status")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			cancel()
			select {
			case err := <-done:
				if (err != nil) != c.wantErr {
					t.Errorf("Run = %v, want an error: %v", err, c.wantErr)
				}
			case <-time.After(4 * time.Second):
				t.Fatal("Run did not end within 4 s of a 1 s grace")
			}
		})
	}
}

// runOn runs srv on a loopback port with the grace given, until cancel;
// done then receives Run's error.
func runOn(t *testing.T, srv *Server, grace time.Duration) (l net.Listener, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- srv.Run(ctx, l, grace) }()
	return l, cancel, errc
}
