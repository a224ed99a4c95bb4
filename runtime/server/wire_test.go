package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

type recorded struct {
	T          float64           `json:"t"`
	Method     string            `json:"method"`
	Path       string            `json:"path"`
	ReqHeaders map[string]string `json:"req_headers"`
	ReqBody    string            `json:"req_body"`
	Status     int               `json:"status"`
	RespBody   string            `json:"resp_body"`
}

// TestReplayPythonWorker replays the requests a real Python worker made to
// the Python orchestrator against our server, with the server's clock at
// the recorded times so the signatures' timestamps hold. Registration and
// heartbeats are sent byte for byte (signed); polls and results carry our
// job and task ids. Every answer must be one the Python worker accepts;
// the exchange is kept as a golden txtar.
func TestReplayPythonWorker(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "..", "testdata", "wire", "python-worker-1.0b18-exchange.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ex []recorded
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r recorded
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		ex = append(ex, r)
	}
	var clock atomic.Int64
	cfg := config.Default()
	cfg.GlobalWorkerToken = "peer-worker-token"
	cfg.PollTimeout = time.Second
	set, ds := lang.LoadDir(filepath.Join("..", "..", "blueprints"))
	if len(ds) > 0 {
		t.Fatal(ds)
	}
	cfg.BlueprintsDir = ""
	srv, err := New(Options{Config: cfg, Blueprints: set, Clock: func() time.Time { return time.Unix(0, clock.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	var golden bytes.Buffer
	golden.WriteString("Requests of Python avtomatika-worker 1.0b18 replayed against our server; our answers.\n")
	send := func(i int, r recorded, body string) (int, string) {
		req, _ := http.NewRequest(r.Method, ts.URL+r.Path, strings.NewReader(body))
		for k, v := range r.ReqHeaders {
			if k != "Host" && k != "Content-Length" {
				req.Header.Set(k, v)
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	jobs := 0
	var lastTask wire.Task
	for i, r := range ex {
		clock.Store(int64(r.T * 1e9))
		body := r.ReqBody
		switch {
		case strings.Contains(r.Path, "/tasks/next") && r.Status == 200:
			// The Python orchestrator had a job waiting; so do we.
			var task map[string]any
			_ = json.Unmarshal([]byte(r.RespBody), &task)
			h := &harness{t: t, url: ts.URL}
			h.create("/jobs/inventory_check", task["params"].(map[string]any))
			jobs++
		case strings.HasSuffix(r.Path, "/tasks/result"):
			var res map[string]any
			_ = json.Unmarshal([]byte(body), &res)
			res["job_id"], res["task_id"] = lastTask.JobID, lastTask.TaskID
			delete(res, "security")
			b, _ := json.Marshal(res)
			body = string(b)
		}
		code, got := send(i, r, body)
		fmt.Fprintf(&golden, "-- %02d %s %s --\n%d %s\n", i+1, r.Method, strings.SplitN(r.Path, "?", 2)[0], code, normalize(got))
		if code/100 != 2 {
			t.Errorf("%d %s %s: %d %s (Python answered %d %s)", i+1, r.Method, r.Path, code, got, r.Status, r.RespBody)
			continue
		}
		if code != r.Status {
			t.Errorf("%d %s %s: status %d, Python answered %d", i+1, r.Method, r.Path, code, r.Status)
		}
		switch {
		case strings.HasSuffix(r.Path, "/register"):
			if !strings.Contains(got, `"status":"registered"`) {
				t.Errorf("register: %s", got)
			}
		case r.Method == "PATCH":
			if !strings.Contains(got, `"status":"ok"`) {
				t.Errorf("heartbeat: %s", got)
			}
		case strings.Contains(r.Path, "/tasks/next") && code == 200:
			if err := json.Unmarshal([]byte(got), &lastTask); err != nil || lastTask.Type != "check_inventory" || lastTask.Timestamp == 0 {
				t.Errorf("task: %s", got)
			}
		case strings.HasSuffix(r.Path, "/tasks/result"):
			if got != `{"status":"accepted","transition":"success_transition"}` {
				t.Errorf("result: %s", got)
			}
		}
	}
	if jobs != 3 {
		t.Errorf("replayed %d tasks, want 3", jobs)
	}
	// A tampered signature is refused.
	reg := ex[0]
	clock.Store(int64(reg.T * 1e9))
	if code, _ := send(0, reg, strings.Replace(reg.ReqBody, `"vm"`, `"evil"`, 1)); code != 403 {
		t.Errorf("tampered registration: %d, want 403", code)
	}
	clock.Store(int64((reg.T + 120) * 1e9))
	if code, _ := send(0, reg, reg.ReqBody); code != 403 {
		t.Errorf("stale timestamp: %d, want 403", code)
	}
	goldenFile(t, filepath.Join("..", "..", "testdata", "wire", "replay-python-worker.txtar"), golden.Bytes())
}

// normalize replaces ids and times that differ from run to run.
func normalize(s string) string {
	var v map[string]any
	if json.Unmarshal([]byte(s), &v) != nil {
		return s
	}
	for _, k := range []string{"job_id", "task_id", "timestamp", "deadline"} {
		if _, ok := v[k]; ok {
			v[k] = "<" + k + ">"
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return strings.TrimSpace(b.String())
}

func goldenFile(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./runtime/server -run Replay -update writes it)", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs:\n--- want\n%s\n--- got\n%s", path, want, got)
	}
}
