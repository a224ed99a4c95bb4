package server

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store/memstore"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

func newTestServer(t testing.TB, clients []config.Client, workers map[string]string) *Server {
	t.Helper()
	set, ds := lang.LoadDir(filepath.Join("..", "..", "blueprints"))
	if len(ds) > 0 {
		t.Fatal(ds)
	}
	cfg := config.Default()
	cfg.BlueprintsDir = ""
	cfg.GlobalWorkerToken = workerToken
	cfg.PollTimeout = 0
	srv, err := New(Options{Config: cfg, Blueprints: set, Clients: clients, Workers: workers})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

func call(h http.Handler, method, path, body string, hdr map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestClientAuthAndQuota(t *testing.T) {
	t.Parallel()
	two := int64(2)
	srv := newTestServer(t, []config.Client{
		{Name: "acme", Token: "tok-acme", Plan: "premium", MonthlyAttempts: &two},
		{Name: "other", Token: "tok-other"},
	}, nil)
	h := srv.Handler()
	create := `{"initial_data": {"item_id": "x"}}`
	if r := call(h, "POST", "/api/v1/jobs/inventory_check", create, nil); r.Code != 401 {
		t.Errorf("no token: %d", r.Code)
	}
	if r := call(h, "POST", "/api/v1/jobs/inventory_check", create, map[string]string{"X-Client-Token": "nope"}); r.Code != 401 {
		t.Errorf("bad token: %d", r.Code)
	}
	acme := map[string]string{"X-Client-Token": "tok-acme"}
	r := call(h, "POST", "/api/v1/jobs/inventory_check", create, acme)
	if r.Code != 202 {
		t.Fatalf("create: %d %s", r.Code, r.Body)
	}
	id := strings.Split(strings.Split(r.Body.String(), `"job_id":"`)[1], `"`)[0]
	// Reading does not count against the quota.
	for range 5 {
		if r := call(h, "GET", "/api/v1/jobs/"+id, "", acme); r.Code != 200 {
			t.Fatalf("get: %d", r.Code)
		}
	}
	if r := call(h, "GET", "/api/v1/jobs/"+id, "", map[string]string{"X-Client-Token": "tok-other"}); r.Code != 404 {
		t.Errorf("another client's job must be 404, got %d", r.Code)
	}
	call(h, "POST", "/api/v1/jobs/inventory_check", create, acme)
	r = call(h, "POST", "/api/v1/jobs/inventory_check", create, acme)
	if r.Code != 429 || r.Header().Get("Retry-After") == "" {
		t.Errorf("quota: %d, Retry-After %q", r.Code, r.Header().Get("Retry-After"))
	}
	// A client without monthly_attempts is unlimited.
	for range 3 {
		if r := call(h, "POST", "/api/v1/jobs/inventory_check", create, map[string]string{"X-Client-Token": "tok-other"}); r.Code != 202 {
			t.Fatalf("unlimited client: %d", r.Code)
		}
	}
	var list []wire.JobView
	r = call(h, "GET", "/api/v1/jobs", "", map[string]string{"X-Client-Token": "tok-other"})
	if err := decodeJSON(r.Body.Bytes(), &list); err != nil || len(list) != 3 {
		t.Errorf("list sees only the client's jobs: %d %v", len(list), err)
	}
}

func TestWorkerTokens(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, nil, map[string]string{"gpu-01": "own-secret"})
	h := srv.Handler()
	reg := func(id, tok string) int {
		return call(h, "POST", "/_worker/workers/register", `{"worker_id":"`+id+`","supported_skills":[{"name":"x"}]}`, map[string]string{"X-Worker-Token": tok}).Code
	}
	if c := reg("gpu-01", "own-secret"); c != 200 {
		t.Errorf("own token: %d", c)
	}
	if c := reg("gpu-01", workerToken); c != 403 {
		t.Errorf("the global token must not stand in for a worker with its own: %d", c)
	}
	if c := reg("cpu-01", workerToken); c != 200 {
		t.Errorf("global token: %d", c)
	}
	if c := call(h, "POST", "/_worker/workers/register", `{"worker_id":"other"}`, map[string]string{"X-Worker-Token": workerToken, "X-Worker-ID": "cpu-01"}).Code; c != 403 {
		t.Errorf("body id differing from the header id: %d", c)
	}
	if c := call(h, "PATCH", "/_worker/workers/cpu-01", `{"worker_id":"cpu-01","status":"idle"}`, map[string]string{"X-Worker-Token": workerToken, "X-Worker-ID": "gpu-01"}).Code; c != 403 {
		t.Errorf("header id differing from the path id: %d", c)
	}
	if c := call(h, "PATCH", "/_worker/workers/cpu-01", `{"worker_id":"cpu-01","status":"idle"}`, map[string]string{"X-Worker-Token": workerToken, "X-Worker-ID": "cpu-01"}).Code; c != 200 {
		t.Errorf("heartbeat: %d", c)
	}
}

// FuzzRequests sends arbitrary bodies to every route that decodes one:
// the answer is never a 5xx.
func FuzzRequests(f *testing.F) {
	srv := newTestServer(f, nil, nil)
	h := srv.Handler()
	routes := []string{"/api/v1/jobs/inventory_check", "/api/v1/jobs/process_order", "/_worker/workers/register", "/_worker/tasks/result", "/_worker/events", "/_public/webhooks/approval/x"}
	for _, s := range []string{`{"initial_data":{"item_id":"a"}}`, `{"worker_id":"w","supported_skills":[{"name":"x"}]}`, `{"job_id":"j","task_id":"t","status":"success","data":{}}`, `{"event_type":"progress","payload":{"progress":0.5}}`, `{"decision":"approved"}`, `{`, `[]`, `null`, `{"initial_data":{"items":[1e400]}}`} {
		for i := range routes {
			f.Add(uint8(i), s)
		}
	}
	f.Fuzz(func(t *testing.T, route uint8, body string) {
		path := routes[int(route)%len(routes)]
		r := call(h, "POST", path, body, map[string]string{"X-Worker-Token": workerToken, "X-Worker-ID": "w", "Content-Type": "application/json"})
		if r.Code >= 500 {
			t.Fatalf("POST %s %q: %d %s", path, body, r.Code, r.Body)
		}
		call(h, "PATCH", "/_worker/workers/w", body, map[string]string{"X-Worker-Token": workerToken})
	})
}

func TestQuotaIsMonthlyAndDurable(t *testing.T) {
	t.Parallel()
	set, ds := lang.LoadDir(filepath.Join("..", "..", "blueprints"))
	if len(ds) > 0 {
		t.Fatal(ds)
	}
	var mu sync.Mutex
	now := time.Date(2026, 1, 31, 23, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	st := memstore.New(memstore.Options{Clock: clock})
	one := int64(1)
	newSrv := func() http.Handler {
		cfg := config.Default()
		cfg.BlueprintsDir = ""
		srv, err := New(Options{Config: cfg, Blueprints: set, Store: st, Clock: clock,
			Clients: []config.Client{{Name: "acme", Token: "tok", MonthlyAttempts: &one}}})
		if err != nil {
			t.Fatal(err)
		}
		return srv.Handler()
	}
	create := `{"initial_data": {"item_id": "x"}}`
	hdr := map[string]string{"X-Client-Token": "tok"}
	h := newSrv()
	if r := call(h, "POST", "/api/v1/jobs/inventory_check", create, hdr); r.Code != 202 {
		t.Fatalf("first job of January: %d %s", r.Code, r.Body)
	}
	// A second instance on the same store sees the same count.
	r := call(newSrv(), "POST", "/api/v1/jobs/inventory_check", create, hdr)
	if r.Code != 429 || r.Header().Get("Retry-After") != "3601" {
		t.Errorf("over quota: %d, Retry-After %q, want 429 and 3601 (the start of February)", r.Code, r.Header().Get("Retry-After"))
	}
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	if r := call(h, "POST", "/api/v1/jobs/inventory_check", create, hdr); r.Code != 202 {
		t.Errorf("first job of February: %d %s", r.Code, r.Body)
	}
}
