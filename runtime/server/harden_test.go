package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/avtomatika-ai/avtomatika-go/internal/redistest"
	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store/redisstore"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// Only the worker holding a lease in a task or job may post its events:
// another worker, one that never registered, or the holder once its task
// is done gets 403 and the job is untouched.
func TestEventsOnlyFromLeaseHolder(t *testing.T) {
	t.Parallel()
	h := start(t, true, nil)
	w1 := h.worker("w1", "long_running_task")
	h.worker("w2", "other")
	id := h.create("/jobs/long_running", map[string]any{"duration_seconds": 60})
	p := w1.mustPoll()
	progress := func(worker string, ev wire.Event) (int, map[string]map[string]string) {
		ev.WorkerID, ev.EventType = worker, wire.EventProgress
		ev.Payload = map[string]any{"progress": 0.9, "message": "by " + worker}
		var out map[string]any
		code := h.do("POST", wire.RouteEvents, h.wh(worker), ev, &out)
		e, _ := out["error"].(map[string]any)
		m := map[string]string{}
		for k, v := range e {
			m[k], _ = v.(string)
		}
		return code, map[string]map[string]string{"error": m}
	}
	for _, c := range []struct {
		name, worker string
		ev           wire.Event
	}{
		{"another worker, origin_task_id", "w2", wire.Event{OriginTaskID: p.TaskID}},
		{"another worker, target_job_id", "w2", wire.Event{TargetJobID: id}},
		{"a worker that never registered", "ghost", wire.Event{OriginTaskID: p.TaskID}},
		{"an unregistered worker, target_job_id", "ghost", wire.Event{TargetJobID: id}},
		{"the holder naming another job", "w1", wire.Event{OriginTaskID: p.TaskID, TargetJobID: "00000000-0000-4000-8000-000000000000"}},
		{"an unknown task", "w1", wire.Event{OriginTaskID: "no-such-task"}},
		{"an unregistered worker, no job", "ghost", wire.Event{}},
	} {
		code, out := progress(c.worker, c.ev)
		if code != http.StatusForbidden || out["error"]["code"] != wire.CodeNotLeaseHolder {
			t.Errorf("%s: %d %v, want 403 %s", c.name, code, out, wire.CodeNotLeaseHolder)
		}
	}
	if v := h.job(id); v.Progress != 0 || v.ProgressMessage != "" {
		t.Fatalf("refused events changed the job: progress %v %q", v.Progress, v.ProgressMessage)
	}
	if code, out := progress("w1", wire.Event{TargetJobID: id}); code != 200 {
		t.Fatalf("the holder's event by target_job_id: %d %v", code, out)
	}
	if v := h.job(id); v.ProgressMessage != "by w1" {
		t.Errorf("the holder's event did not reach the job: %q", v.ProgressMessage)
	}
	w1.result(p, wire.ResultSuccess, nil, "")
	if code, _ := progress("w1", wire.Event{OriginTaskID: p.TaskID}); code != http.StatusForbidden {
		t.Errorf("an event for a task whose result is in: %d, want 403", code)
	}
}

// signed returns body with a fresh timestamp and its signature.
func signed(t *testing.T, body map[string]any, kind wire.Kind) []byte {
	t.Helper()
	body["timestamp"] = time.Now().Unix()
	b, _ := json.Marshal(body)
	sig, err := wire.Sign(workerToken, b, kind)
	if err != nil {
		t.Fatal(err)
	}
	body["security"] = map[string]string{"signature": sig}
	b, _ = json.Marshal(body)
	return b
}

func sendRaw(t *testing.T, url, method, path string, hdr map[string]string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A signed registration or heartbeat is accepted once: sent again within
// the timestamp window, to the same instance or another on the same
// Redis, it is refused with 403.
func TestSignedMessagesNotReplayable(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{})
	prefix := srv.Fresh(t)
	a := startOn(t, false, nil, redisStoreAt(t, srv.URL, prefix), "")
	b := startOn(t, false, nil, redisStoreAt(t, srv.URL, prefix), "")
	reg := signed(t, map[string]any{"worker_id": "w1", "worker_type": "t", "supported_skills": []map[string]string{{"name": "a"}}}, wire.KindMessage)
	if code, body := sendRaw(t, a.url, "POST", "/_worker/workers/register", a.wh("w1"), reg); code != 200 {
		t.Fatalf("signed registration: %d %s", code, body)
	}
	for _, h := range []*harness{a, b} {
		if code, body := sendRaw(t, h.url, "POST", "/_worker/workers/register", h.wh("w1"), reg); code != 403 || !strings.Contains(body, wire.CodeReplayed) {
			t.Errorf("replayed registration: %d %s, want 403 %s", code, body, wire.CodeReplayed)
		}
	}
	hb := signed(t, map[string]any{"worker_id": "w1", "status": "idle", "current_tasks": []string{}}, wire.KindMessage)
	if code, body := sendRaw(t, b.url, "PATCH", "/_worker/workers/w1", b.wh("w1"), hb); code != 200 {
		t.Fatalf("signed heartbeat: %d %s", code, body)
	}
	for _, h := range []*harness{a, b} {
		if code, body := sendRaw(t, h.url, "PATCH", "/_worker/workers/w1", h.wh("w1"), hb); code != 403 || !strings.Contains(body, wire.CodeReplayed) {
			t.Errorf("replayed heartbeat: %d %s, want 403 %s", code, body, wire.CodeReplayed)
		}
	}
	// A new message (another timestamp or content) is a new signature.
	hb2 := signed(t, map[string]any{"worker_id": "w1", "status": "busy", "current_tasks": []string{}}, wire.KindMessage)
	if code, body := sendRaw(t, a.url, "PATCH", "/_worker/workers/w1", a.wh("w1"), hb2); code != 200 {
		t.Errorf("a second signed heartbeat: %d %s", code, body)
	}
}

// createKey posts a create with an Idempotency-Key and returns the status
// and job id.
func createKey(t *testing.T, h *harness, key string, body map[string]any) (int, string) {
	t.Helper()
	var out map[string]any
	code := h.do("POST", "/api/v1/jobs/long_running", map[string]string{"Idempotency-Key": key}, body, &out)
	id, _ := out["job_id"].(string)
	return code, id
}

// A retried create with the same key returns the first job (200, same
// id); the key in the body does the same; a key reused for another
// request is 422; another key is another job.
func TestIdempotentCreate(t *testing.T) {
	t.Parallel()
	h := start(t, true, nil)
	body := map[string]any{"initial_data": map[string]any{"duration_seconds": 1}}
	code, id := createKey(t, h, "k-1", body)
	if code != 202 || id == "" {
		t.Fatalf("first create: %d %q", code, id)
	}
	for range 3 {
		if c, again := createKey(t, h, "k-1", body); c != 200 || again != id {
			t.Fatalf("retried create: %d %q, want 200 %q", c, again, id)
		}
	}
	if c, other := createKey(t, h, "k-2", body); c != 202 || other == id {
		t.Errorf("another key: %d %q", c, other)
	}
	var out map[string]map[string]string
	if c := h.do("POST", "/api/v1/jobs/long_running", map[string]string{"Idempotency-Key": "k-1"},
		map[string]any{"initial_data": map[string]any{"duration_seconds": 2}}, &out); c != 422 || out["error"]["code"] != wire.CodeIdempotencyConflict {
		t.Errorf("a key reused with another body: %d %v, want 422", c, out)
	}
	withID := map[string]any{"client_request_id": "r-1", "initial_data": map[string]any{"duration_seconds": 1}}
	var first, second map[string]any
	if c := h.do("POST", "/api/v1/jobs/long_running", nil, withID, &first); c != 202 {
		t.Fatalf("create with client_request_id: %d", c)
	}
	if c := h.do("POST", "/api/v1/jobs/long_running", nil, withID, &second); c != 200 || second["job_id"] != first["job_id"] {
		t.Errorf("retry with client_request_id: %d %v, want 200 %v", c, second["job_id"], first["job_id"])
	}
	st, _ := h.srv.Store().Stats(context.Background())
	if st.Jobs != 3 {
		t.Errorf("%d jobs, want 3 (k-1, k-2, r-1)", st.Jobs)
	}
	if c := h.do("POST", "/api/v1/jobs/long_running", map[string]string{"Idempotency-Key": "a\tb"}, body, nil); c != 400 {
		t.Errorf("a key with a control character: %d, want 400", c)
	}
}

// Clients with a 1 s timeout retry their creates through a 3 s pause of
// Redis, against two instances: each key makes exactly one job.
func TestIdempotentCreateThroughRedisPause(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{})
	prefix := srv.Fresh(t)
	// Redis commands wait out the pause instead of timing out at 3 s and
	// being sent again (which would keep requests in flight past the
	// servers' shutdown grace on a loaded machine); the clients' own 1 s
	// timeouts still make them retry through it.
	url := srv.URL + "?read_timeout=10s&write_timeout=10s&pool_timeout=15s"
	st := redisStoreAt(t, url, prefix)
	hs := []*harness{startOn(t, true, nil, st, ""), startOn(t, true, nil, redisStoreAt(t, url, prefix), "")}
	admin := redisClient(t, srv.URL)
	const keys = 20
	ids := make([]map[string]bool, keys)
	var mu sync.Mutex
	timeouts := 0
	var wg sync.WaitGroup
	started := make(chan struct{})
	for k := range keys {
		ids[k] = map[string]bool{}
		wg.Go(func() {
			hc := &http.Client{Timeout: time.Second}
			body := fmt.Sprintf(`{"initial_data": {"duration_seconds": %d}}`, k+1)
			<-started
			for try := 0; try < 200; try++ {
				h := hs[(k+try)%2]
				req, _ := http.NewRequest("POST", h.url+"/api/v1/jobs/long_running", strings.NewReader(body))
				req.Header.Set("Idempotency-Key", fmt.Sprint("key-", k))
				resp, err := hc.Do(req)
				if err != nil {
					mu.Lock()
					timeouts++
					mu.Unlock()
					continue // timed out: retry
				}
				var out map[string]any
				_ = json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				if resp.StatusCode == 200 || resp.StatusCode == 202 {
					mu.Lock()
					ids[k][out["job_id"].(string)] = true
					n := len(ids[k])
					mu.Unlock()
					if n > 0 && try > 0 {
						return
					}
					continue // one more try after the first success
				}
				time.Sleep(100 * time.Millisecond)
			}
			t.Errorf("key %d: no create succeeded", k)
		})
	}
	if err := admin.Do(context.Background(), "CLIENT", "PAUSE", "3000", "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	close(started)
	wg.Wait()
	if timeouts < keys {
		t.Errorf("%d creates timed out, want at least one per key: the pause was not met", timeouts)
	}
	for k, m := range ids {
		if len(m) != 1 {
			t.Errorf("key %d: job ids %v, want exactly one", k, m)
		}
	}
	stats, err := st.Stats(context.Background())
	if err != nil || stats.Jobs != keys {
		t.Errorf("jobs in the store: %d (%v), want %d", stats.Jobs, err, keys)
	}
}

// A client that goes away is no server error: no 500, no ERROR line, and
// a create that did not commit spends no quota.
func TestClientGoneIsNoServerError(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	var logMu sync.Mutex
	one := int64(1)
	set := loadExamples(t)
	cfg := config.Default()
	cfg.BlueprintsDir = ""
	srv, err := New(Options{Config: cfg, Blueprints: set, Clients: []config.Client{{Name: "acme", Token: "tok", MonthlyAttempts: &one}},
		Logger: slog.New(slog.NewTextHandler(lockedWriter{&logs, &logMu}, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, r := range []*http.Request{
		httptest.NewRequestWithContext(ctx, "POST", "/api/v1/jobs/long_running", strings.NewReader(`{"initial_data": {"duration_seconds": 1}}`)),
		httptest.NewRequestWithContext(ctx, "GET", "/api/v1/jobs/x?wait=5", nil),
		httptest.NewRequestWithContext(ctx, "GET", "/api/v1/jobs", nil),
	} {
		r.Header.Set("X-Client-Token", "tok")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code >= 500 {
			t.Errorf("%s %s with the client gone: %d %s", r.Method, r.URL, rec.Code, rec.Body)
		}
	}
	logMu.Lock()
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("an ERROR line for a client that went away:\n%s", logs.String())
	}
	logMu.Unlock()
	// The quota of one is still there.
	r := call(h, "POST", "/api/v1/jobs/long_running", `{"initial_data": {"duration_seconds": 1}}`, map[string]string{"X-Client-Token": "tok"})
	if r.Code != 202 {
		t.Fatalf("create after a create whose client went away: %d %s (quota spent?)", r.Code, r.Body)
	}
	if r := call(h, "POST", "/api/v1/jobs/long_running", `{"initial_data": {"duration_seconds": 1}}`, map[string]string{"X-Client-Token": "tok"}); r.Code != 429 {
		t.Errorf("second create past a quota of one: %d", r.Code)
	}
}

type lockedWriter struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// failingCreates is a store whose job creations fail.
type failingCreates struct{ store.Store }

func (failingCreates) CreateJob(context.Context, store.CommitParams) error {
	return fmt.Errorf("disk on fire")
}

// A create the store refused spends no quota.
func TestFailedCreateSpendsNoQuota(t *testing.T) {
	t.Parallel()
	one := int64(1)
	cfg := config.Default()
	cfg.BlueprintsDir = ""
	inner := newTestServer(t, nil, nil).Store()
	srv, err := New(Options{Config: cfg, Blueprints: loadExamples(t), Store: failingCreates{inner},
		Clients: []config.Client{{Name: "acme", Token: "tok", MonthlyAttempts: &one}}})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		r := call(srv.Handler(), "POST", "/api/v1/jobs/long_running", `{"initial_data": {"duration_seconds": 1}}`, map[string]string{"X-Client-Token": "tok"})
		if r.Code != 500 {
			t.Fatalf("create on a failing store: %d %s", r.Code, r.Body)
		}
	}
	n, _ := inner.Counter(context.Background(), "quota:acme:"+time.Now().UTC().Format("2006-01"))
	if n != 1 {
		t.Errorf("quota counter after 3 failed creates and this read: %d, want 1", n)
	}
}

// Sizes over their limits are 413 naming the limit.
func TestSizeLimits(t *testing.T) {
	t.Parallel()
	h := startCfg(t, true, nil, nil, "", func(c *config.Config) {
		c.Limits.MaxInputBytes, c.Limits.MaxRegistrationBytes, c.Limits.MaxEventBytes = 100, 300, 100
	})
	big := strings.Repeat("x", 200)
	var out map[string]map[string]string
	if c := h.do("POST", "/api/v1/jobs/long_running", nil, map[string]any{"initial_data": map[string]any{"duration_seconds": 1, "pad": big}}, &out); c != 413 || !strings.Contains(out["error"]["message"], "MAX_JOB_INPUT_BYTES") {
		t.Errorf("big input: %d %v", c, out)
	}
	reg := map[string]any{"worker_id": "w1", "worker_type": "t", "supported_skills": []map[string]string{{"name": "long_running_task"}}, "capabilities": map[string]any{"pad": big}}
	if c := h.do("POST", "/_worker/workers/register", h.wh("w1"), reg, &out); c != 413 || !strings.Contains(out["error"]["message"], "MAX_REGISTRATION_BYTES") {
		t.Errorf("big registration: %d %v", c, out)
	}
	w := h.worker("w1", "long_running_task")
	h.create("/jobs/long_running", map[string]any{"duration_seconds": 60})
	p := w.mustPoll()
	ev := wire.Event{WorkerID: "w1", EventType: wire.EventProgress, OriginTaskID: p.TaskID, Payload: map[string]any{"message": big}}
	if c := h.do("POST", wire.RouteEvents, h.wh("w1"), ev, &out); c != 413 || !strings.Contains(out["error"]["message"], "MAX_EVENT_PAYLOAD_BYTES") {
		t.Errorf("big event payload: %d %v", c, out)
	}
}

// Over the rate a client gets 429 with Retry-After, a heartbeat too; a
// poll over its rate is held and answered 204, never 429.
func TestRateLimits(t *testing.T) {
	t.Parallel()
	h := startCfg(t, true, nil, nil, "", func(c *config.Config) {
		c.Limits.RateLimiting = true
		c.Limits.RateLimit, c.Limits.HeartbeatLimit, c.Limits.PollLimit = 3, 2, 1
		c.Limits.RatePeriod = time.Hour
	})
	for i := range 3 {
		if c := h.do("GET", "/api/v1/jobs", nil, nil, nil); c != 200 {
			t.Fatalf("request %d within the rate: %d", i, c)
		}
	}
	req, _ := http.NewRequest("GET", h.url+"/api/v1/jobs", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("over the client rate: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	w := h.worker("w1", "long_running_task")
	for i := range 2 {
		if c := h.do("PATCH", "/_worker/workers/w1", h.wh("w1"), map[string]any{"worker_id": "w1", "status": "idle"}, nil); c != 200 {
			t.Fatalf("heartbeat %d: %d", i, c)
		}
	}
	if c := h.do("PATCH", "/_worker/workers/w1", h.wh("w1"), map[string]any{"worker_id": "w1", "status": "idle"}, nil); c != 429 {
		t.Errorf("heartbeat over its rate: %d, want 429", c)
	}
	if p := w.poll(0.2); p != nil {
		t.Fatalf("poll with no job: %+v", p)
	}
	// The second poll is over its rate: held for its timeout, then 204.
	if p := w.poll(0.2); p != nil {
		t.Fatalf("poll over its rate: %+v", p)
	}
}

// A worker that registers again gets its tasks handed on at once; so
// does a task its heartbeat leaves out of current_tasks past the grace.
func TestTasksHandedOnWhenWorkerForgetsThem(t *testing.T) {
	t.Parallel()
	bp := "name: handon\nendpoint: /jobs/handon\nstart: work\nstates:\n  work:\n    task: {type: slow, timeout: 1h, retries: 5}\n" +
		"    transitions: {success: done, failure: failed}\n  done: {end: success}\n  failed: {end: failure}\n"
	h := startCfg(t, false, map[string]string{"handon.yaml": bp}, nil, "", func(c *config.Config) { c.Limits.TaskGrace = time.Millisecond })
	w1 := h.worker("w1", "slow")
	id := h.create("/jobs/handon", nil)
	p := w1.mustPoll()
	// A heartbeat listing the task keeps it.
	if c := h.do("PATCH", "/_worker/workers/w1", h.wh("w1"), map[string]any{"worker_id": "w1", "status": "busy", "current_tasks": []string{p.TaskID}}, nil); c != 200 {
		t.Fatal(c)
	}
	if info, _ := h.srv.Store().Task(context.Background(), p.TaskID); info.State != store.TaskLeased {
		t.Fatalf("a listed task: %s, want leased", info.State)
	}
	next := func(after string) *wire.Task {
		t.Helper()
		for range 6 {
			if p := w1.poll(5); p != nil {
				if p.JobID != id || p.TaskID == after {
					t.Fatalf("got %+v, want a new attempt of job %s", p, id)
				}
				return p
			}
		}
		t.Fatalf("no new attempt of job %s (job %+v)", id, h.job(id))
		return nil
	}
	// Registering again: the task comes back at once (the engine retries
	// it), long before its hour is up.
	h.worker("w1", "slow")
	p2 := next(p.TaskID)
	if info, _ := h.srv.Store().Task(context.Background(), p.TaskID); info.State != store.TaskExpired {
		t.Errorf("the first attempt after registering again: %s, want expired", info.State)
	}
	// A heartbeat without it past the grace: back again.
	time.Sleep(5 * time.Millisecond)
	if c := h.do("PATCH", "/_worker/workers/w1", h.wh("w1"), map[string]any{"worker_id": "w1", "status": "idle", "current_tasks": []string{}}, nil); c != 200 {
		t.Fatal(c)
	}
	next(p2.TaskID)
}

// JSON strings must be what was sent: invalid UTF-8 and lone surrogates
// are 400 naming the member.
func TestStrictText(t *testing.T) {
	t.Parallel()
	h := newTestServer(t, nil, nil).Handler()
	for body, want := range map[string]string{
		`{"initial_data": {"duration_seconds": 1, "name": "a\ud800b"}}`:          "initial_data.name: lone surrogate",
		`{"initial_data": {"list": ["ok", "\udc00"]}}`:                           "initial_data.list[1]: lone surrogate",
		"{\"initial_data\": {\"name\": \"a\xffb\"}}":                             "initial_data.name: invalid UTF-8",
		"{\"initial_data\": {\"n\xc3\": 1}}":                                     "a member name in initial_data",
		`{"initial_data": {"duration_seconds": 1, "ok": "\ud83d\ude00 \u00e9"}}`: "",
	} {
		r := call(h, "POST", "/api/v1/jobs/long_running", body, nil)
		if want == "" {
			if r.Code != 202 {
				t.Errorf("%q: %d %s, want 202", body, r.Code, r.Body)
			}
			continue
		}
		if r.Code != 400 || !strings.Contains(r.Body.String(), want) {
			t.Errorf("%q: %d %s, want 400 naming %q", body, r.Code, r.Body, want)
		}
	}
	r := call(h, "POST", "/_worker/workers/register", `{"worker_id": "w1", "worker_type": "\ud800"}`, map[string]string{"X-Worker-Token": workerToken})
	if r.Code != 400 || !strings.Contains(r.Body.String(), "worker_type") {
		t.Errorf("registration with a lone surrogate: %d %s", r.Code, r.Body)
	}
}

// GET /workers is [] when empty and shows a summary, not registrations.
func TestWorkersListForClients(t *testing.T) {
	t.Parallel()
	h := newTestServer(t, nil, nil).Handler()
	if r := call(h, "GET", "/api/v1/workers", "", nil); r.Code != 200 || strings.TrimSpace(r.Body.String()) != "[]" {
		t.Errorf("no workers: %d %q, want []", r.Code, r.Body)
	}
	reg := `{"worker_id": "w1", "worker_type": "gpu", "supported_skills": [{"name": "a"}], "resources": {"secret_host": "10.0.0.7"}, "installed_software": {"cuda": "12"}}`
	if r := call(h, "POST", "/_worker/workers/register", reg, map[string]string{"X-Worker-Token": workerToken}); r.Code != 200 {
		t.Fatalf("register: %d %s", r.Code, r.Body)
	}
	r := call(h, "GET", "/api/v1/workers", "", nil)
	var ws []map[string]any
	if err := json.Unmarshal(r.Body.Bytes(), &ws); err != nil || len(ws) != 1 {
		t.Fatalf("workers: %s %v", r.Body, err)
	}
	if ws[0]["worker_id"] != "w1" || ws[0]["status"] != "idle" || strings.Contains(r.Body.String(), "10.0.0.7") || strings.Contains(r.Body.String(), "cuda") {
		t.Errorf("a client sees %s", r.Body)
	}
}

func loadExamples(t *testing.T) *lang.Set {
	t.Helper()
	set, ds := lang.LoadDir(filepath.Join("..", "..", "blueprints"))
	if len(ds) > 0 {
		t.Fatal(ds)
	}
	return set
}

// redisClient is a plain client of the Redis at url (for admin commands).
func redisClient(t *testing.T, url string) *redis.Client {
	t.Helper()
	o, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Requests held on a job's end wake on the end's notice from another
// instance instead of reading the job from Redis every 250 ms.
func TestHeldWaitsWakeOnEndNotice(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{})
	prefix := srv.Fresh(t)
	a := startOn(t, true, nil, redisStoreAt(t, srv.URL, prefix), "")
	bStore := redisStoreAt(t, srv.URL, prefix).(*redisstore.Store)
	b := startOn(t, true, nil, bStore, "")
	const n = 100
	ids := make([]string, n)
	for i := range ids {
		ids[i] = a.create("/jobs/long_running", map[string]any{"duration_seconds": 60})
	}
	var wg sync.WaitGroup
	statuses := make(chan wire.JobStatus, n)
	for _, id := range ids {
		wg.Go(func() {
			var v wire.JobView
			if code := b.do("GET", "/api/v1/jobs/"+id+"?wait=30", nil, nil, &v); code != 200 {
				t.Errorf("held wait: %d", code)
			}
			statuses <- v.Status
		})
	}
	time.Sleep(500 * time.Millisecond) // the waits settle
	before := bStore.RoundTrips().Trips()
	time.Sleep(1500 * time.Millisecond) // held: a read every 250 ms would be 6 per wait
	for _, id := range ids {
		if code := a.do("POST", "/api/v1/jobs/"+id+"/cancel", nil, nil, nil); code != 200 {
			t.Fatalf("cancel: %d", code)
		}
	}
	wg.Wait()
	trips := bStore.RoundTrips().Trips() - before
	close(statuses)
	for st := range statuses {
		if st != wire.StatusCancelled {
			t.Errorf("a held wait answered %s, want cancelled", st)
		}
	}
	if trips > 3*n {
		t.Errorf("%d round trips to Redis for %d held waits, want about one each (their read at the end)", trips, n)
	}
	t.Logf("%d held waits over 1.5 s: %d round trips", n, trips)
}

// Past MAX_RESERVATIONS live idempotency keys in the memory store, a new
// key is 503 busy with Retry-After; retries of the keys held still work.
func TestReservationsBoundedInMemory(t *testing.T) {
	t.Parallel()
	h := startCfg(t, true, nil, nil, "", func(c *config.Config) { c.Limits.MaxReservations = 2 })
	body := map[string]any{"initial_data": map[string]any{"duration_seconds": 1}}
	for _, k := range []string{"a", "b"} {
		if c, _ := createKey(t, h, k, body); c != 202 {
			t.Fatalf("key %s: %d", k, c)
		}
	}
	req, _ := http.NewRequest("POST", h.url+"/api/v1/jobs/long_running", strings.NewReader(`{"initial_data": {"duration_seconds": 1}}`))
	req.Header.Set("Idempotency-Key", "c")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(b), wire.CodeBusy) || resp.Header.Get("Retry-After") == "" {
		t.Errorf("a third key past a bound of 2: %d %s Retry-After %q", resp.StatusCode, b, resp.Header.Get("Retry-After"))
	}
	if c, _ := createKey(t, h, "a", body); c != 200 {
		t.Errorf("a retry of a held key: %d, want 200", c)
	}
}
