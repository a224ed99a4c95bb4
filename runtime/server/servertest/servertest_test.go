package servertest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/server/servertest"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

func do(t *testing.T, method, url string, hdr map[string]string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, url, b, err)
		}
	}
	return resp.StatusCode
}

func TestStartServesExamplesToAWorker(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{Examples: true})
	wh := map[string]string{wire.HeaderWorkerToken: servertest.WorkerToken, wire.HeaderWorkerID: "w1"}
	reg := wire.Registration{WorkerID: "w1", SupportedSkills: []wire.SkillInfo{{Name: "check_inventory"}}}
	if code := do(t, "POST", srv.URL+wire.RouteRegister, wh, reg, nil); code != 200 {
		t.Fatalf("register: %d", code)
	}
	var acc map[string]string
	if code := do(t, "POST", srv.URL+"/api/v1/jobs/inventory_check", nil, map[string]any{"initial_data": map[string]any{"item_id": "sku-1"}}, &acc); code != 202 {
		t.Fatalf("create: %d %v", code, acc)
	}
	var task wire.Task
	if code := do(t, "GET", srv.URL+wire.RouteNext("w1")+"?timeout=5", wh, nil, &task); code != 200 || task.JobID != acc["job_id"] {
		t.Fatalf("poll: %d %+v", code, task)
	}
	var rr wire.ResultReply
	res := wire.Result{JobID: task.JobID, TaskID: task.TaskID, WorkerID: "w1", Status: "success", Data: map[string]any{"in_stock": true}}
	if code := do(t, "POST", srv.URL+wire.RouteResult, wh, res, &rr); code != 200 || rr.Status != wire.ReplyAccepted {
		t.Fatalf("result: %d %+v", code, rr)
	}
	var job map[string]any
	if code := do(t, "GET", srv.URL+"/api/v1/jobs/"+task.JobID+"?wait=10", nil, nil, &job); code != 200 || job["status"] != "finished" {
		t.Fatalf("job: %d %v", code, job)
	}
}

func TestWriteFileReloads(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{
		Files:  map[string]string{"a.yaml": "name: a\nendpoint: /a\nstart: s\nstates:\n  s: {end: success}\n"},
		Config: func(c *config.Config) { c.ClientToken = "tok" },
	})
	if code := do(t, "POST", srv.URL+"/api/v1/a", nil, nil, nil); code != 401 {
		t.Errorf("without the client token: %d, want 401", code)
	}
	hdr := map[string]string{"X-Client-Token": "tok"}
	if code := do(t, "POST", srv.URL+"/api/v1/a", hdr, nil, nil); code != 202 {
		t.Errorf("create: %d, want 202", code)
	}
	deadline := time.After(10 * time.Second)
	for srv.Registry().Current("b") == nil {
		ch := srv.Reloaded()
		if err := srv.WriteFile("b.yaml", "name: b\nendpoint: /b\nstart: s\nstates:\n  s: {end: success}\n"); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatal("b.yaml was not reloaded")
		}
	}
	if code := do(t, "POST", srv.URL+"/api/v1/b", hdr, nil, nil); code != 202 {
		t.Errorf("create on the reloaded blueprint: %d, want 202", code)
	}
}

func TestCloseDrains(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{Examples: true})
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := http.Get(srv.URL + "/_public/status"); err == nil {
		t.Error("the server still answers after Close")
	}
}
