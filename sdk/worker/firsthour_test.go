package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
	"github.com/avtomatika-ai/avtomatika-go/sdk/worker"
)

// fakeOrchestrator answers the worker routes over HTTP: registration
// with register's status, heartbeats ok, one task on the first poll
// (when task is set) and 204 after it, results accepted. It keeps what
// it was sent.
type fakeOrchestrator struct {
	register int        // status of every registration; 0: 200
	task     *wire.Task // handed out once

	mu         sync.Mutex
	regs       int
	heartbeats int
	events     [][]byte
	eventSeen  chan []byte
	handedOut  bool
}

func (f *fakeOrchestrator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.URL.Path == wire.RouteRegister:
		f.regs++
		if f.register != 0 {
			w.WriteHeader(f.register)
			io.WriteString(w, `{"error":"invalid worker token"}`)
			return
		}
		io.WriteString(w, `{"status":"registered"}`)
	case r.Method == http.MethodPatch:
		f.heartbeats++
		io.WriteString(w, `{"status":"ok"}`)
	case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/tasks/next"):
		if f.task != nil && !f.handedOut {
			f.handedOut = true
			_ = json.NewEncoder(w).Encode(f.task)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case r.URL.Path == wire.RouteEvents:
		f.events = append(f.events, body)
		if f.eventSeen != nil {
			f.eventSeen <- body
		}
		io.WriteString(w, `{"status":"event_accepted"}`)
	case r.URL.Path == wire.RouteResult:
		io.WriteString(w, `{"status":"accepted","transition":"success_transition"}`)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func (f *fakeOrchestrator) counts() (regs, heartbeats int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.regs, f.heartbeats
}

// lockedBuffer is a log sink for a worker's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// records decodes the JSON log lines written so far.
func (l *lockedBuffer) records(t *testing.T) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(l.b.Bytes()), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func fastConfig(t *testing.T, url string) worker.Config {
	return worker.Config{
		WorkerID: "first-hour", Token: token, Orchestrators: []worker.Orchestrator{{URL: url}}, Logger: quiet(),
		HeartbeatInterval: 20 * time.Millisecond, PollTimeout: time.Second, RetryInitial: 10 * time.Millisecond,
		RetryMax: 20 * time.Millisecond, ShutdownTimeout: time.Second, PayloadDir: t.TempDir(),
	}
}

func noop(context.Context, *worker.Task) (worker.Result, error) { return worker.Result{}, nil }

func TestNewRefusesAMissingTokenOrURL(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(&fakeOrchestrator{})
	defer ts.Close()
	cfg := fastConfig(t, ts.URL)
	cfg.Token = ""
	if _, err := worker.New(cfg); err == nil || !strings.Contains(err.Error(), "WORKER_TOKEN") || !strings.Contains(err.Error(), ts.URL) {
		t.Errorf("no token: %v; want an error naming WORKER_TOKEN and the orchestrator", err)
	}
	cfg.Orchestrators = []worker.Orchestrator{{URL: ts.URL, Token: "its-own"}}
	if _, err := worker.New(cfg); err != nil {
		t.Errorf("a token per orchestrator: %v; want it accepted", err)
	}
	cfg = fastConfig(t, "")
	if _, err := worker.New(cfg); err == nil || !strings.Contains(err.Error(), "ORCHESTRATOR_URL is empty") {
		t.Errorf("empty orchestrator URL: %v; want an error naming ORCHESTRATOR_URL", err)
	}
	// FromEnv leaves the token to code: reading an environment without
	// one is not an error, New is.
	env := map[string]string{"ORCHESTRATOR_URL": ts.URL}
	got, err := worker.FromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("FromEnv without a token: %v", err)
	}
	if _, err := worker.New(got); err == nil || !strings.Contains(err.Error(), "WORKER_TOKEN") {
		t.Errorf("New from an environment without a token: %v; want an error naming WORKER_TOKEN", err)
	}
}

func TestRegistrationRefusedEndsRun(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			t.Parallel()
			f := &fakeOrchestrator{register: status}
			ts := httptest.NewServer(f)
			defer ts.Close()
			w, err := worker.New(fastConfig(t, ts.URL))
			if err != nil {
				t.Fatal(err)
			}
			w.Handle("noop", noop)
			done := make(chan error, 1)
			go func() { done <- w.Run(context.Background()) }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), ts.URL) || !strings.Contains(err.Error(), "refused the registration") ||
					!strings.Contains(err.Error(), "invalid worker token") || !strings.Contains(err.Error(), "HTTP "+strconv.Itoa(status)) {
					t.Errorf("Run = %v; want the refusal with the orchestrator, the status and its answer", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run still retries a refused registration after 10 s")
			}
			if regs, _ := f.counts(); regs != 1 {
				t.Errorf("%d registrations, want 1 (a refused token is not retried)", regs)
			}
		})
	}
}

func TestRegistrationLoggedOnce(t *testing.T) {
	t.Parallel()
	f := &fakeOrchestrator{}
	ts := httptest.NewServer(f)
	defer ts.Close()
	var logs lockedBuffer
	cfg := fastConfig(t, ts.URL)
	cfg.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	w, err := worker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.Handle("noop", noop)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for _, hb := f.counts(); hb < 5; _, hb = f.counts() { // several heartbeats after the registration
		if time.Now().After(deadline) {
			t.Fatalf("%d heartbeats after 10 s", hb)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	var registered []map[string]any
	for _, r := range logs.records(t) {
		if r["msg"] == "registered" {
			registered = append(registered, r)
		}
	}
	if len(registered) != 1 || registered[0]["orchestrator"] != ts.URL || registered[0]["level"] != "INFO" || registered[0]["worker"] != "first-hour" {
		t.Errorf("registration log records %v; want one at INFO naming orchestrator %s and the worker", registered, ts.URL)
	}
}

func TestProgressEventBody(t *testing.T) {
	t.Parallel()
	f := &fakeOrchestrator{
		task:      &wire.Task{JobID: "job-1", TaskID: "task-1", Type: "slow"},
		eventSeen: make(chan []byte, 1),
	}
	ts := httptest.NewServer(f)
	defer ts.Close()
	w, err := worker.New(fastConfig(t, ts.URL))
	if err != nil {
		t.Fatal(err)
	}
	w.Handle("slow", func(ctx context.Context, task *worker.Task) (worker.Result, error) {
		return worker.Result{}, task.Progress(ctx, 0.5, "half way")
	})
	run(t, w)
	var body []byte
	select {
	case body = <-f.eventSeen:
	case <-time.After(10 * time.Second):
		t.Fatal("no event after 10 s")
	}
	var ev map[string]any
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"worker_id": "first-hour", "origin_worker_id": "first-hour", "event_type": "progress",
		"origin_task_id": "task-1", "target_job_id": "job-1",
	}
	for k, v := range want {
		if ev[k] != v {
			t.Errorf("event %s = %v, want %v (body %s)", k, ev[k], v, body)
		}
	}
	if p, _ := ev["payload"].(map[string]any); p["progress"] != 0.5 || p["message"] != "half way" {
		t.Errorf("event payload %v, want progress 0.5 and the message", ev["payload"])
	}
	if id, _ := ev["event_id"].(string); len(id) != 36 || id[14] != '4' {
		t.Errorf("event_id %q, want a version 4 UUID", id)
	}
}
