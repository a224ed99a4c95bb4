package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/server"
	"github.com/avtomatika-ai/avtomatika-go/sdk/client"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

const workerToken = "client-test-worker-token"

// approvalYAML is a blueprint that starts by waiting for a human.
const approvalYAML = `name: approval_only
endpoint: /jobs/approval_only
start: ask
states:
  ask:
    approval:
      message: "go on?"
      timeout: 1h
    transitions: {approved: done, rejected: refused, timeout: refused}
  done: {end: success}
  refused: {end: failure}
`

type bundle struct {
	url string
}

type serverOptions struct {
	clientToken string
	clients     []config.Client
}

// setup serves the example blueprints and approval_only on a loopback
// port until the test ends.
func setup(t *testing.T, o serverOptions) bundle {
	t.Helper()
	dir := t.TempDir()
	examples := filepath.Join("..", "..", "blueprints")
	if err := os.CopyFS(dir, os.DirFS(examples)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "approval_only.yaml"), []byte(approvalYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.BlueprintsDir = dir
	cfg.GlobalWorkerToken = workerToken
	cfg.ClientToken = o.clientToken
	cfg.PollTimeout = 2 * time.Second
	srv, err := server.New(server.Options{Config: cfg, Clients: o.clients})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, l, 5*time.Second) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("server did not stop")
		}
	})
	return bundle{url: "http://" + l.Addr().String()}
}

func newClient(t *testing.T, b bundle, token string) *client.Client {
	t.Helper()
	c, err := client.New(b.url, client.Options{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// worker answers tasks over the raw worker protocol: each task's status
// is decide(task) until the test ends.
func worker(t *testing.T, b bundle, id string, decide func(wire.Task) string, skills ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	send := func(method, path string, body any) (*http.Response, error) {
		var rd io.Reader
		if body != nil {
			buf, err := json.Marshal(body)
			if err != nil {
				return nil, err
			}
			rd = bytes.NewReader(buf)
		}
		req, err := http.NewRequestWithContext(ctx, method, b.url+path, rd)
		if err != nil {
			return nil, err
		}
		req.Header.Set(wire.HeaderWorkerToken, workerToken)
		req.Header.Set(wire.HeaderWorkerID, id)
		req.Header.Set("Content-Type", "application/json")
		return http.DefaultClient.Do(req)
	}
	var sk []wire.SkillInfo
	for _, s := range skills {
		sk = append(sk, wire.SkillInfo{Name: s})
	}
	resp, err := send(http.MethodPost, wire.RouteRegister, map[string]any{"worker_id": id, "worker_type": "test", "supported_skills": sk, "timestamp": time.Now().Unix()})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("register worker %s: %d", id, resp.StatusCode)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			resp, err := send(http.MethodGet, fmt.Sprintf(wire.RouteNextFmt, id)+"?timeout=1", nil)
			if err != nil {
				continue
			}
			var task wire.Task
			err = json.NewDecoder(resp.Body).Decode(&task)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || err != nil {
				continue
			}
			status := decide(task)
			res := wire.Result{JobID: task.JobID, TaskID: task.TaskID, WorkerID: id, Status: status, Data: map[string]any{"answered": status}, Timestamp: wire.Now()}
			if resp, err := send(http.MethodPost, wire.RouteResult, res); err == nil {
				resp.Body.Close()
			}
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
}

func inventory(task wire.Task) string {
	if strings.HasPrefix(fmt.Sprint(task.Params["item_id"]), "gone") {
		return "out_of_stock"
	}
	return wire.ResultSuccess
}

func TestStartWaitFinished(t *testing.T) {
	t.Parallel()
	b := setup(t, serverOptions{})
	worker(t, b, "w1", inventory, "check_inventory")
	c := newClient(t, b, "")
	ctx := testContext(t)
	for _, target := range []string{"inventory_check", "/jobs/inventory_check", "/api/v1/jobs/inventory_check", "jobs/inventory_check"} {
		t.Run(target, func(t *testing.T) {
			id, err := c.Start(ctx, target, map[string]any{"item_id": "sku-1", "quantity": 2}, client.StartOptions{})
			if err != nil {
				t.Fatal(err)
			}
			j, err := c.Wait(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if j.ID != id || j.Status != wire.StatusFinished || j.State != "in_stock" || j.Blueprint != "inventory_check" {
				t.Errorf("ended job: %+v", j)
			}
			if j.Result["answered"] != "success" {
				t.Errorf("result: %v", j.Result)
			}
			if j.Created().IsZero() || j.Finished().Before(j.Created()) {
				t.Errorf("times: created %v finished %v", j.Created(), j.Finished())
			}
			g, err := c.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if g.Status != wire.StatusFinished {
				t.Errorf("get after wait: %s", g.Status)
			}
			evs, err := c.History(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) < 2 || evs[0].Type != "created" || evs[0].Time().IsZero() {
				t.Errorf("history: %+v", evs)
			}
		})
	}
}

func TestWaitFailedIsNoError(t *testing.T) {
	t.Parallel()
	b := setup(t, serverOptions{})
	worker(t, b, "w1", inventory, "check_inventory")
	c := newClient(t, b, "")
	ctx := testContext(t)
	id, err := c.Start(ctx, "inventory_check", json.RawMessage(`{"item_id":"gone-1"}`), client.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []client.Status
	j, err := c.Watch(ctx, id, client.WatchOptions{Every: 200 * time.Millisecond, OnUpdate: func(j *client.Job, changed bool) {
		mu.Lock()
		defer mu.Unlock()
		if changed || len(seen) == 0 {
			seen = append(seen, j.Status)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != wire.StatusFailed || j.State != "out_of_stock" || j.Status.Succeeded() || !j.Status.Terminal() {
		t.Errorf("ended job: %+v", j)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) == 0 || seen[len(seen)-1] != wire.StatusFailed {
		t.Errorf("updates: %v", seen)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	one := int64(1)
	b := setup(t, serverOptions{clients: []config.Client{
		{Name: "acme", Token: "tok-acme", Plan: "free"},
		{Name: "small", Token: "tok-small", Plan: "free", MonthlyAttempts: &one},
	}})
	ctx := testContext(t)
	acme := newClient(t, b, "tok-acme")
	tests := []struct {
		name     string
		call     func() error
		sentinel error
		status   int
		code     string
	}{
		{"unknown job", func() error { _, err := acme.Get(ctx, "no-such-job"); return err }, client.ErrNotFound, 404, "not_found"},
		{"empty job id", func() error { _, err := acme.Get(ctx, " "); return err }, client.ErrInvalidInput, 0, ""},
		{"no token", func() error { _, err := newClient(t, b, "").Blueprints(ctx); return err }, client.ErrUnauthorized, 401, "unauthorized"},
		{"bad token", func() error { _, err := newClient(t, b, "nope").Get(ctx, "x"); return err }, client.ErrUnauthorized, 401, "unauthorized"},
		{"input schema", func() error {
			_, err := acme.Start(ctx, "inventory_check", map[string]any{"quantity": 0}, client.StartOptions{})
			return err
		}, client.ErrInvalidInput, 400, "invalid_input"},
		{"input not an object", func() error {
			_, err := acme.Start(ctx, "/jobs/inventory_check", []int{1}, client.StartOptions{})
			return err
		}, client.ErrInvalidInput, 400, "invalid_input"},
		{"unknown blueprint name", func() error {
			_, err := acme.Start(ctx, "no_such_blueprint", nil, client.StartOptions{})
			return err
		}, client.ErrNotFound, 0, ""},
		{"blueprint without endpoint", func() error {
			_, err := acme.Start(ctx, "send_notification", nil, client.StartOptions{})
			return err
		}, client.ErrNoEndpoint, 0, ""},
		{"unknown endpoint", func() error {
			_, err := acme.Start(ctx, "/jobs/nothing_here", nil, client.StartOptions{})
			return err
		}, client.ErrNotFound, 404, "not_found"},
		{"graph of unknown", func() error { _, err := acme.Graph(ctx, "nope", ""); return err }, client.ErrNotFound, 404, "not_found"},
		{"graph format", func() error { _, err := acme.Graph(ctx, "inventory_check", "png"); return err }, client.ErrInvalidInput, 400, "invalid_query"},
		{"bad decision", func() error { return acme.Approve(ctx, startApproval(t, acme), "maybe") }, client.ErrInvalidInput, 400, "invalid_decision"},
		{"approve a finished job", func() error {
			id := startApproval(t, acme)
			if err := acme.Approve(ctx, id, client.Rejected); err != nil {
				return fmt.Errorf("first approval: %w", err)
			}
			return acme.Approve(ctx, id, client.Approved)
		}, client.ErrConflict, 409, "not_waiting"},
		{"cancel an unknown job", func() error { return acme.Cancel(ctx, "no-such-job") }, client.ErrNotFound, 404, "not_found"},
		{"another client's job", func() error {
			id := startApproval(t, acme)
			_, err := newClient(t, b, "tok-small").Get(ctx, id)
			return err
		}, client.ErrNotFound, 404, "not_found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if !errors.Is(err, tc.sentinel) {
				t.Fatalf("error %v, want %v", err, tc.sentinel)
			}
			var ae *client.APIError
			if !errors.As(err, &ae) {
				if tc.status != 0 {
					t.Fatalf("error %v is not an *APIError", err)
				}
				return
			}
			if ae.Status != tc.status || ae.Code != tc.code || ae.Message == "" {
				t.Errorf("APIError %+v, want status %d code %q and a message", ae, tc.status, tc.code)
			}
		})
	}

	t.Run("schema details", func(t *testing.T) {
		_, err := acme.Start(ctx, "inventory_check", map[string]any{"quantity": 0}, client.StartOptions{})
		var ae *client.APIError
		if !errors.As(err, &ae) {
			t.Fatalf("error %v", err)
		}
		if ds, ok := ae.Details.([]any); !ok || len(ds) < 2 {
			t.Errorf("details: %#v, want one reason per violation", ae.Details)
		}
	})

	t.Run("quota", func(t *testing.T) {
		small := newClient(t, b, "tok-small")
		if _, err := small.Start(ctx, "/jobs/approval_only", nil, client.StartOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err := small.Start(ctx, "/jobs/approval_only", nil, client.StartOptions{})
		var ae *client.APIError
		if !errors.Is(err, client.ErrQuota) || !errors.As(err, &ae) || ae.Code != "quota_exceeded" || ae.RetryAfter <= 0 {
			t.Errorf("second start: %v (%+v)", err, ae)
		}
	})
}

func startApproval(t *testing.T, c *client.Client) string {
	t.Helper()
	id, err := c.Start(testContext(t), "approval_only", nil, client.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestApprove(t *testing.T) {
	t.Parallel()
	b := setup(t, serverOptions{clientToken: "secret"})
	c := newClient(t, b, "secret")
	ctx := testContext(t)
	for _, tc := range []struct {
		decision string
		status   client.Status
		state    string
	}{{client.Approved, wire.StatusFinished, "done"}, {client.Rejected, wire.StatusFailed, "refused"}} {
		id := startApproval(t, c)
		j, err := c.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if j.Status != wire.StatusWaitingForHuman {
			t.Fatalf("before the decision: %s", j.Status)
		}
		if err := c.Approve(ctx, id, tc.decision); err != nil {
			t.Fatal(err)
		}
		j, err = c.Wait(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if j.Status != tc.status || j.State != tc.state {
			t.Errorf("%s: ended %s in %s, want %s in %s", tc.decision, j.Status, j.State, tc.status, tc.state)
		}
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	b := setup(t, serverOptions{})
	c := newClient(t, b, "")
	ctx := testContext(t)
	// No worker takes long_running_task: the job waits for one.
	id, err := c.Start(ctx, "long_running", map[string]any{"duration_seconds": 5}, client.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waited := make(chan *client.Job, 1)
	go func() {
		j, err := c.Wait(ctx, id)
		if err != nil {
			t.Error(err)
		}
		waited <- j
	}()
	if err := c.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	select {
	case j := <-waited:
		if j == nil || j.Status != wire.StatusCancelled {
			t.Errorf("after cancel: %+v", j)
		}
	case <-ctx.Done():
		t.Fatal("Wait did not see the cancellation")
	}
	if err := c.Cancel(ctx, id); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("second cancel: %v, want ErrNotFound", err)
	}
	jobs, err := c.Jobs(ctx, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 || jobs[0].ID != id || jobs[0].Status != wire.StatusCancelled {
		t.Errorf("jobs: %+v", jobs)
	}
}

func TestWaitEndsWithContext(t *testing.T) {
	t.Parallel()
	b := setup(t, serverOptions{})
	c := newClient(t, b, "")
	id, err := c.Start(testContext(t), "long_running", nil, client.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Watch(ctx, id, client.WatchOptions{OnUpdate: func(*client.Job, bool) { cancel() }})
		errc <- err
	}()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("watch after cancel: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("watch did not end with its context")
	}
}

func TestBlueprintsAndGraph(t *testing.T) {
	t.Parallel()
	b := setup(t, serverOptions{})
	c := newClient(t, b, "")
	ctx := testContext(t)
	bs, err := c.Blueprints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]client.Blueprint{}
	for _, bp := range bs.Blueprints {
		byName[bp.Name] = bp
	}
	inv, ok := byName["inventory_check"]
	if !ok || inv.Endpoint != "/api/v1/jobs/inventory_check" || inv.Version == "" || inv.InputSchema == nil {
		t.Errorf("inventory_check: %+v", inv)
	}
	if sn := byName["send_notification"]; sn.Name == "" || sn.Endpoint != "" {
		t.Errorf("send_notification: %+v", sn)
	}
	dot, err := c.Graph(ctx, "inventory_check", client.FormatDOT)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(dot, "digraph") || !strings.Contains(dot, "out_of_stock") {
		t.Errorf("dot:\n%s", dot)
	}
	mmd, err := c.Graph(ctx, "inventory_check", client.FormatMermaid)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(mmd, "stateDiagram") && !strings.Contains(mmd, "flowchart") {
		t.Errorf("mermaid:\n%s", mmd)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"", "localhost:8080", "ftp://host", "http://", "http://h/?q=1", "http://[::1"} {
		if _, err := client.New(u, client.Options{}); err == nil {
			t.Errorf("New(%q): no error", u)
		}
	}
	c, err := client.New("http://localhost:8080/", client.Options{})
	if err != nil || c.URL() != "http://localhost:8080" {
		t.Errorf("New: %v, %v", c, err)
	}
}

// TestWatchWithoutServerWait follows a job on a server that ignores
// ?wait and answers at once, as the Python orchestrator does, and that
// is briefly unavailable.
func TestWatchWithoutServerWait(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/jobs/j1" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch n.Add(1) {
		case 1:
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error":"draining"}`)
		case 2, 3:
			fmt.Fprint(w, `{"job_id":"j1","status":"running","blueprint_name":"b"}`)
		default:
			fmt.Fprint(w, `{"job_id":"j1","status":"quarantined","blueprint_name":"b","error_message":"retries exhausted","result":{"k":1}}`)
		}
	}))
	t.Cleanup(ts.Close)
	c, err := client.New(ts.URL, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var changes int
	j, err := c.Watch(testContext(t), "j1", client.WatchOptions{Every: 10 * time.Second, OnUpdate: func(_ *client.Job, changed bool) {
		if changed {
			changes++
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if j.ID != "j1" || j.Status != wire.StatusQuarantined || j.Error == nil || j.Error.Message != "retries exhausted" {
		t.Errorf("job: %+v", j)
	}
	if got := n.Load(); got != 4 {
		t.Errorf("%d requests, want 4", got)
	}
	if changes != 2 {
		t.Errorf("%d changes, want 2 (running, quarantined)", changes)
	}
}

// TestErrorBodies reads error answers in the shapes servers send.
func TestErrorBodies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		status   int
		body     string
		code     string
		message  string
		sentinel error
	}{
		{"ours", 400, `{"error":{"code":"invalid_json","message":"invalid JSON at byte 3","details":["x"]}}`, "invalid_json", "invalid JSON at byte 3", client.ErrInvalidInput},
		{"python", 429, `{"error":"Quota exceeded or not configured"}`, "", "Quota exceeded or not configured", client.ErrQuota},
		{"python forbidden", 403, `{"error":"Forbidden"}`, "", "Forbidden", client.ErrUnauthorized},
		{"html", 502, `<html>bad gateway</html>`, "", "<html>bad gateway</html>", client.ErrUnavailable},
		{"empty", 500, ``, "", "internal server error", client.ErrServer},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
			}))
			t.Cleanup(ts.Close)
			c, err := client.New(ts.URL, client.Options{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Get(testContext(t), "j1")
			var ae *client.APIError
			if !errors.As(err, &ae) || !errors.Is(err, tc.sentinel) {
				t.Fatalf("error %v, want an APIError matching %v", err, tc.sentinel)
			}
			if ae.Status != tc.status || ae.Code != tc.code || ae.Message != tc.message {
				t.Errorf("got %+v", ae)
			}
			if !strings.Contains(ae.Error(), "GET /api/v1/jobs/j1") {
				t.Errorf("Error() %q does not name the request", ae.Error())
			}
		})
	}
}

// TestStartByNameWithoutBlueprintList: a server without GET
// /api/v1/blueprints (the Python orchestrator) still takes endpoints,
// and a name is refused with a hint.
func TestStartByNameWithoutBlueprintList(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/api/v1/jobs/flow" {
			w.WriteHeader(http.StatusAccepted)
			fmt.Fprint(w, `{"status":"accepted","job_id":"j9"}`)
			return
		}
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error":"Not Found"}`)
	}))
	t.Cleanup(ts.Close)
	c, err := client.New(ts.URL, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	if id, err := c.Start(ctx, "/jobs/flow", nil, client.StartOptions{}); err != nil || id != "j9" {
		t.Errorf("start by endpoint: %q, %v", id, err)
	}
	_, err = c.Start(ctx, "flow", nil, client.StartOptions{})
	if !errors.Is(err, client.ErrNotFound) || !strings.Contains(err.Error(), "give the endpoint instead, e.g. /jobs/flow") {
		t.Errorf("start by name: %v", err)
	}
}

// countingTransport counts the requests a client sends.
type countingTransport struct {
	n    atomic.Int32
	next http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

// TestRun: a job created and waited for in one held request, finished or
// failed, costs one request.
func TestRun(t *testing.T) {
	t.Parallel()
	b := setup(t, serverOptions{})
	worker(t, b, "w1", inventory, "check_inventory")
	ct := &countingTransport{next: http.DefaultTransport}
	c, err := client.New(b.url, client.Options{HTTPClient: &http.Client{Transport: ct}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	for item, want := range map[string]client.Status{"sku-1": wire.StatusFinished, "gone-1": wire.StatusFailed} {
		before := ct.n.Load()
		j, err := c.Run(ctx, "/jobs/inventory_check", map[string]any{"item_id": item}, client.StartOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if j.ID == "" || j.Status != want || j.Result == nil {
			t.Errorf("%s: %+v, want status %s with its result", item, j, want)
		}
		if n := ct.n.Load() - before; n != 1 {
			t.Errorf("%s: %d requests, want 1", item, n)
		}
	}
	if _, err := c.Run(ctx, "/jobs/inventory_check", map[string]any{"quantity": 0}, client.StartOptions{}); !errors.Is(err, client.ErrInvalidInput) {
		t.Errorf("bad input: %v", err)
	}
}

// TestRunWithoutServerWait: a server that answers a creation at once
// (the Python orchestrator: 202 accepted) is followed as Wait does.
func TestRunWithoutServerWait(t *testing.T) {
	t.Parallel()
	var gets atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == "POST" && r.URL.Path == "/api/v1/jobs/b":
			w.WriteHeader(http.StatusAccepted)
			fmt.Fprint(w, `{"status":"accepted","job_id":"j1"}`)
		case r.Method == "GET" && r.URL.Path == "/api/v1/jobs/j1":
			if gets.Add(1) == 1 {
				fmt.Fprint(w, `{"job_id":"j1","status":"running","blueprint_name":"b"}`)
				return
			}
			fmt.Fprint(w, `{"job_id":"j1","status":"finished","blueprint_name":"b","result":{"k":1}}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(ts.Close)
	c, err := client.New(ts.URL, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	j, err := c.Run(testContext(t), "/jobs/b", nil, client.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if j.ID != "j1" || j.Status != wire.StatusFinished || j.Result["k"] != float64(1) {
		t.Errorf("job: %+v", j)
	}
	if gets.Load() != 2 {
		t.Errorf("%d reads, want 2", gets.Load())
	}
}
