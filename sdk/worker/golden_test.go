package worker_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
	"github.com/avtomatika-ai/avtomatika-go/sdk/worker"
)

var update = flag.Bool("update", false, "rewrite testdata/wire/go-worker-exchange.txtar")

const (
	recording   = "../../testdata/wire/python-worker-1.0b18-exchange.jsonl"
	goldenGo    = "../../testdata/wire/go-worker-exchange.txtar"
	peerToken   = "peer-worker-token"
	peerWorker  = "inventory-worker-01"
	peerVersion = "1.0b16"
)

// exchange is one recorded request and its answer.
type exchange struct {
	Method   string            `json:"method"`
	Path     string            `json:"path"`
	Headers  map[string]string `json:"req_headers"`
	Body     string            `json:"req_body"`
	Status   int               `json:"status"`
	RespBody string            `json:"resp_body"`
}

func readRecording(t *testing.T) []exchange {
	t.Helper()
	f, err := os.Open(recording)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []exchange
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e exchange
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("%s: %v", recording, err)
		}
		out = append(out, e)
	}
	return out
}

// kind names a request: register, heartbeat, poll or result.
func kind(method, path string) string {
	switch {
	case method == http.MethodPost && path == wire.RouteRegister:
		return "register"
	case method == http.MethodPatch && strings.HasPrefix(path, "/_worker/workers/"):
		return "heartbeat"
	case method == http.MethodGet && strings.HasSuffix(strings.SplitN(path, "?", 2)[0], "/tasks/next"):
		return "poll"
	case method == http.MethodPost && path == wire.RouteResult:
		return "result"
	}
	return method + " " + path
}

// needed are the members an orchestrator reads from each message; the
// Python worker's recorded messages carry them all, and so must ours.
var needed = map[string][]string{
	"register":  {"worker_id", "worker_type", "supported_skills", "capabilities", "timestamp", "security"},
	"heartbeat": {"worker_id", "status", "current_tasks", "timestamp", "security"},
	"result":    {"job_id", "task_id", "worker_id", "origin_worker_id", "data", "timestamp", "security"},
}

type seenReq struct {
	kind, path string
	header     http.Header
	body       []byte
}

// TestReplayPythonOrchestrator runs the Go worker against the recorded
// answers of the Python orchestrator (a task with a float timestamp, its
// plain "registered"/"ok"/"accepted" replies) and checks that our
// requests carry the headers, members and signatures the recorded Python
// worker's did. The first request of each kind, normalised, is the golden
// file testdata/wire/go-worker-exchange.txtar (go test -update rewrites it).
func TestReplayPythonOrchestrator(t *testing.T) {
	t.Parallel()
	rec := readRecording(t)
	replies := map[string]exchange{}
	python := map[string]map[string]any{}
	var task exchange
	for _, e := range rec {
		k := kind(e.Method, e.Path)
		if _, ok := replies[k]; !ok && e.Status == 200 {
			replies[k] = e
		}
		if k == "poll" && e.Status == 200 && task.RespBody == "" {
			task = e
		}
		if e.Body != "" && python[k] == nil {
			var m map[string]any
			if err := json.Unmarshal([]byte(e.Body), &m); err != nil {
				t.Fatal(err)
			}
			python[k] = m
		}
	}
	for k, members := range needed {
		for _, m := range members {
			if _, ok := python[k][m]; !ok && !(k == "result" && m == "status") {
				t.Fatalf("recorded Python %s lacks %q: the recording or the list is wrong", k, m)
			}
		}
	}

	var mu sync.Mutex
	var seen []seenReq
	stop := make(chan struct{})
	results := make(chan []byte, 4)
	served := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		k := kind(r.Method, r.URL.Path)
		mu.Lock()
		seen = append(seen, seenReq{k, r.URL.RequestURI(), r.Header.Clone(), body})
		first := k == "poll" && !served
		if first {
			served = true
		}
		mu.Unlock()
		switch k {
		case "poll":
			if !first {
				select { // hold the long poll, as the orchestrator does
				case <-r.Context().Done():
				case <-stop:
				}
				w.WriteHeader(http.StatusNoContent)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, task.RespBody)
		case "register", "heartbeat", "result":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, replies[k].RespBody)
			if k == "result" {
				results <- body
			}
		default:
			http.Error(w, `{"error":"not recorded"}`, http.StatusNotFound)
		}
	}))
	defer srv.Close()
	defer close(stop)

	w, err := worker.New(worker.Config{
		WorkerID: peerWorker, WorkerType: "inventory-checker", Token: peerToken, Logger: quiet(),
		Orchestrators: []worker.Orchestrator{{URL: srv.URL}}, MaxConcurrentTasks: 1,
		HeartbeatInterval: time.Minute, PollTimeout: 30 * time.Second, PayloadDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	w.Handle("check_inventory", func(ctx context.Context, task *worker.Task) (worker.Result, error) {
		return worker.Result{Data: map[string]any{"in_stock": true, "item_id": task.Params["item_id"], "warehouse_info": "ok"}}, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var result []byte
	select {
	case result = <-results:
	case <-time.After(20 * time.Second):
		t.Fatal("no result was sent")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return")
	}

	var recTask wire.Task
	if err := json.Unmarshal([]byte(task.RespBody), &recTask); err != nil {
		t.Fatal(err)
	}
	var res wire.Result
	if err := json.Unmarshal(result, &res); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"in_stock": true, "item_id": "sku-42", "warehouse_info": "ok"}
	if res.JobID != recTask.JobID || res.TaskID != recTask.TaskID || !reflect.DeepEqual(res.Data, want) || res.Status != wire.ResultSuccess {
		t.Errorf("result %s: want job %s task %s success with %v", result, recTask.JobID, recTask.TaskID, want)
	}

	mu.Lock()
	defer mu.Unlock()
	golden := &txtar.Archive{Comment: []byte("The Go worker's first request of each kind against the recorded Python orchestrator,\nnormalised (timestamps, signatures, host name). go test ./sdk/worker -run TestReplayPythonOrchestrator -update rewrites it.\n")}
	have := map[string]bool{}
	for _, s := range seen {
		for h, v := range map[string]string{wire.HeaderWorkerToken: peerToken, wire.HeaderWorkerID: peerWorker, wire.HeaderVersion: peerVersion} {
			if got := s.header.Get(h); got != v {
				t.Errorf("%s %s: header %s = %q, want %q", s.kind, s.path, h, got, v)
			}
		}
		if len(s.body) > 0 {
			var m map[string]any
			d := json.NewDecoder(bytes.NewReader(s.body))
			d.UseNumber()
			if err := d.Decode(&m); err != nil {
				t.Errorf("%s: body %s: %v", s.kind, s.body, err)
				continue
			}
			for _, name := range needed[s.kind] {
				if _, ok := m[name]; !ok {
					t.Errorf("%s %s lacks %q, which the Python worker sends: %s", s.kind, s.path, name, s.body)
				}
			}
			if ts, ok := m["timestamp"].(json.Number); !ok || strings.ContainsAny(ts.String(), ".eE") {
				t.Errorf("%s: timestamp %v, want an integer", s.kind, m["timestamp"])
			}
			sec, _ := m["security"].(map[string]any)
			sig, _ := sec["signature"].(string)
			if sec["signer_id"] != peerWorker || !wire.Verify(peerToken, s.body, wire.KindMessage, sig) {
				t.Errorf("%s: signature %v does not verify with the worker token: %s", s.kind, sec, s.body)
			}
		}
		if have[s.kind] {
			continue
		}
		have[s.kind] = true
		golden.Files = append(golden.Files, txtar.File{Name: s.kind + " " + strings.SplitN(s.path, "?", 2)[0], Data: normalise(t, s)})
	}
	for _, k := range []string{"register", "heartbeat", "poll", "result"} {
		if !have[k] {
			t.Errorf("the worker sent no %s", k)
		}
	}
	sort.SliceStable(golden.Files, func(i, j int) bool { return order(golden.Files[i].Name) < order(golden.Files[j].Name) })
	got := txtar.Format(golden)
	if *update {
		if err := os.WriteFile(filepath.FromSlash(goldenGo), got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	wantGolden, err := os.ReadFile(filepath.FromSlash(goldenGo))
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, wantGolden) {
		t.Errorf("the Go worker's requests changed; if intended, rerun with -update.\n--- got\n%s\n--- want\n%s", got, wantGolden)
	}
}

func order(name string) int {
	for i, k := range []string{"register", "heartbeat", "poll", "result"} {
		if strings.HasPrefix(name, k+" ") {
			return i
		}
	}
	return 9
}

// normalise writes a request's query and body with the members that
// change from run to run replaced by placeholders.
func normalise(t *testing.T, s seenReq) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, q, ok := strings.Cut(s.path, "?"); ok {
		b.WriteString("query: " + q + "\n")
	}
	if len(s.body) == 0 {
		return b.Bytes()
	}
	var m map[string]any
	if err := json.Unmarshal(s.body, &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m["timestamp"]; ok {
		m["timestamp"] = "<timestamp>"
	}
	if sec, ok := m["security"].(map[string]any); ok {
		sec["signature"] = "<signature>"
	}
	if c, ok := m["capabilities"].(map[string]any); ok {
		if _, ok := c["hostname"]; ok {
			c["hostname"] = "<hostname>"
		}
	}
	for _, id := range []string{"job_id", "task_id"} {
		if _, ok := m[id]; ok {
			m[id] = "<" + id + ">"
		}
	}
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
