package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/avtomatika-ai/avtomatika-go/runtime/history"
	"github.com/avtomatika-ai/avtomatika-go/runtime/server/servertest"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

type api struct {
	t   *testing.T
	url string
}

func (a api) do(method, path string, body any) (int, []byte) {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, a.url+path, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (a api) startRejected() string {
	a.t.Helper()
	code, b := a.do("POST", "/api/v1/jobs/ask", map[string]any{"initial_data": map[string]any{"n": 1}})
	var out struct {
		JobID string `json:"job_id"`
	}
	if code != 202 || json.Unmarshal(b, &out) != nil {
		a.t.Fatalf("create: %d %s", code, b)
	}
	if code, b := a.do("POST", "/api/v1/jobs/"+out.JobID+"/approval", map[string]any{"decision": "rejected"}); code != 200 {
		a.t.Fatalf("reject: %d %s", code, b)
	}
	return out.JobID
}

// A failed job is redriven from the state where it failed, as a new job
// linked to the old one, whose timeline tells of it; live or archived.
func TestRedrive(t *testing.T) {
	ctx := context.Background()
	h, err := history.Open(ctx, "sqlite:///"+filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	srv := servertest.Start(t, servertest.Options{Files: map[string]string{"ask.yaml": askBP}, History: h})
	a := api{t, srv.URL}
	old := a.startRejected()
	code, b := a.do("POST", "/api/v1/jobs/"+old+"/redrive", nil)
	var nv wire.JobView
	if code != 202 || json.Unmarshal(b, &nv) != nil {
		t.Fatalf("redrive: %d %s", code, b)
	}
	if nv.ID == old || nv.State != "ask" || nv.Status != wire.StatusWaitingForHuman {
		t.Fatalf("the new attempt: %+v; want a new job waiting in ask (where the old one failed)", nv)
	}
	nj, err := srv.Orchestrator().Job(ctx, nil, nv.ID)
	if err != nil || nj.Metadata["redrive_of"] != old {
		t.Fatalf("new job %+v, %v: want metadata redrive_of %s", nj, err, old)
	}
	_, b = a.do("GET", "/api/v1/jobs/"+old+"/history", nil)
	if !strings.Contains(string(b), `"redriven"`) || !strings.Contains(string(b), nv.ID) {
		t.Fatalf("old job's timeline misses the redrive: %s", b)
	}
	// Only failed or quarantined jobs; a state that exists.
	if code, b := a.do("POST", "/api/v1/jobs/"+nv.ID+"/redrive", nil); code != 409 {
		t.Errorf("redrive of a waiting job: %d %s", code, b)
	}
	if code, b := a.do("POST", "/api/v1/jobs/"+old+"/redrive", map[string]any{"from_state": "nowhere"}); code != 400 || !strings.Contains(string(b), "nowhere") {
		t.Errorf("redrive from an unknown state: %d %s", code, b)
	}
	if code, _ := a.do("POST", "/api/v1/jobs/nope/redrive", nil); code != 404 {
		t.Errorf("redrive of an unknown job: %d", code)
	}
	// An archived job, gone from the live store, is redriven too.
	old2 := a.startRejected()
	x := srv.Orchestrator()
	if _, err := x.ArchiveOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if code, b := a.do("POST", "/api/v1/jobs/"+old2+"/redrive", map[string]any{"current_version": true, "input": map[string]any{"n": 2}}); code != 202 {
		t.Fatalf("redrive of an archived job: %d %s", code, b)
	}
	tl, err := h.Timeline(ctx, old2)
	if err != nil || tl[len(tl)-1].Type != "redriven" {
		t.Fatalf("archived timeline: %+v %v", tl, err)
	}
	// Bulk: a dry run counts, the real one redrives.
	a.startRejected()
	code, b = a.do("POST", "/api/v1/jobs/redrive?blueprint=ask", map[string]any{"dry_run": true})
	var res struct {
		Matched int      `json:"matched"`
		Jobs    []string `json:"jobs"`
	}
	if code != 200 || json.Unmarshal(b, &res) != nil || res.Matched != 3 || len(res.Jobs) != 0 {
		t.Fatalf("dry run: %d %s; want 3 matched, none redriven", code, b)
	}
	code, b = a.do("POST", "/api/v1/jobs/redrive?blueprint=ask&status=failed", nil)
	if code != 200 || json.Unmarshal(b, &res) != nil || res.Matched != 3 || len(res.Jobs) != 3 {
		t.Fatalf("bulk redrive: %d %s", code, b)
	}
	if code, b := a.do("POST", "/api/v1/jobs/redrive?status=finished", nil); code != 400 {
		t.Errorf("bulk redrive of finished jobs: %d %s", code, b)
	}
	if code, b := a.do("POST", "/api/v1/jobs/redrive?limit=3", nil); code != 400 {
		t.Errorf("bulk redrive with a limit: %d %s", code, b)
	}
}
