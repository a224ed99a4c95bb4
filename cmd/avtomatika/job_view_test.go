package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/sdk/client"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

const (
	viewParent = `name: parent
endpoint: /jobs/parent
start: call
states:
  call:
    blueprint: kid
    transitions: {success: work, failure: work}
  work:
    task: {type: slow, timeout: 60s}
    transitions: {success: ask, failure: failed}
  ask:
    approval: {message: "ship it?", timeout: 1h}
    transitions: {approved: done, rejected: failed, timeout: failed}
  done: {end: success}
  failed: {end: failure}
`
	viewKid = "name: kid\nstart: s\nstates:\n  s: {end: success}\n"
)

// job get shows what a job waits on: the running task with its worker
// and lease deadline, then the approval's question; job history shows
// each event's details.
func TestJobGetAndHistoryShowWhatTheJobWaitsOn(t *testing.T) {
	c, env := serveFiles(t, map[string]string{"parent.yaml": viewParent, "kid.yaml": viewKid})
	url := c.URL()
	ctx := context.Background()
	run := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if code := jobMain(ctx, args, env, nil, &out, &errb); code != exitOK {
			t.Fatalf("job %v: exit %d: %s", args, code, errb.String())
		}
		return out.String()
	}
	expect := func(out string, patterns ...string) {
		t.Helper()
		for _, p := range patterns {
			if !regexp.MustCompile("(?m)" + p).MatchString(out) {
				t.Errorf("output lacks %s:\n%s", p, out)
			}
		}
	}
	waitFor := func(id string, st wire.JobStatus) *client.Job {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); ; {
			j, err := c.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if j.Status == st {
				return j
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %s is %s, want %s", id, j.Status, st)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	id, err := c.Start(ctx, "parent", nil, client.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	j := waitFor(id, wire.StatusWaitingForWorker)
	if len(j.ChildJobIDs) != 1 {
		t.Fatalf("children: %q", j.ChildJobIDs)
	}
	kid := regexp.QuoteMeta(j.ChildJobIDs[0])

	// Queued, then running once a worker took it.
	expect(run("get", id), `^children: +`+kid+`$`, `^task: +task-\S+  type=slow  state=queued  attempt=1$`)
	task := leaseOne(t, url, "w1", "slow")
	expect(run("get", id),
		`^status: +waiting_for_worker$`,
		`^task: +`+regexp.QuoteMeta(task.TaskID)+`  type=slow  state=running  attempt=1  worker=w1  lease_deadline=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(in \d+s\)$`)
	expect(run("get", id, "--json"), `"current_tasks": \[`, `"worker_id": "w1"`, `"lease_deadline": \d+`, `"child_job_ids": \[`)

	// The approval: message, choices, deadline; no task.
	post(t, url, "w1", wire.RouteResult, wire.Result{JobID: id, TaskID: task.TaskID, WorkerID: "w1", Status: wire.ResultSuccess, Timestamp: wire.Now()})
	waitFor(id, wire.StatusWaitingForHuman)
	out := run("get", id)
	expect(out, `^approval: +"ship it\?"$`, `^choices: +approved, rejected$`, `^deadline: +\d{4}-\S+Z \(in \d+s\)$`)
	if regexp.MustCompile(`(?m)^tasks?:`).MatchString(out) {
		t.Errorf("an approval waits on no task:\n%s", out)
	}
	run("approve", id, "approved")
	waitFor(id, wire.StatusFinished)

	expect(run("history", id),
		`^TIME +EVENT +STATE +TASK +WORKER +ATTEMPT +DETAIL$`,
		` child_started +call +- +- +- +blueprint=kid child_id=`+kid+`$`,
		` child_finished +call +- +- +- +child_id=`+kid+` outcome=success$`,
		` task_enqueued +work +task-\S+ +- +1 +branch=0 type=slow$`,
		` task_result +work +task-\S+ +w1 +1 +branch=0 status=success$`,
		` approval_requested +ask +- +- +- +message="ship it\?" timeout_at=\d{4}-\S+Z$`,
		` approval +ask +- +- +- +decision=approved$`,
		` state_entered +call -> work +- +- +- +-$`)
}

// leaseOne registers a worker and takes one task as it would.
func leaseOne(t *testing.T, url, id, skill string) wire.Task {
	t.Helper()
	post(t, url, id, wire.RouteRegister, wire.Registration{WorkerID: id, WorkerType: "test",
		SupportedSkills: []wire.SkillInfo{{Name: skill}}, Timestamp: wire.Now()})
	req, err := http.NewRequest(http.MethodGet, url+fmt.Sprintf(wire.RouteNextFmt, id)+"?timeout=5", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(wire.HeaderWorkerToken, scriptWorkerToken)
	req.Header.Set(wire.HeaderWorkerID, id)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var task wire.Task
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("poll: %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&task); err != nil {
		t.Fatal(err)
	}
	return task
}

func post(t *testing.T, url, worker, route string, body any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, url+route, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(wire.HeaderWorkerToken, scriptWorkerToken)
	req.Header.Set(wire.HeaderWorkerID, worker)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %d", route, resp.StatusCode)
	}
}

func TestTimeAndWhen(t *testing.T) {
	now := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	for _, c := range []struct {
		at   time.Time
		want string
	}{
		{now.Add(42 * time.Second), "2026-01-02T15:04:47Z (in 42s)"},
		{now.Add(-3 * time.Second), "2026-01-02T15:04:02Z (3s ago)"},
		{now, "2026-01-02T15:04:05Z (in 0s)"},
	} {
		if got := timeAndWhen(c.at, now); got != c.want {
			t.Errorf("timeAndWhen(%v) = %q, want %q", c.at, got, c.want)
		}
	}
}

func TestDetailText(t *testing.T) {
	d := map[string]any{"delay_ms": 1500.0, "error_code": "TRANSIENT_ERROR", "branch": 0.0, "message": "go on?",
		"empty": "", "ok": true, "list": []any{"a", 1.0}, "none": nil, "eq": "a=b"}
	want := `branch=0 delay_ms=1500 empty="" eq="a=b" error_code=TRANSIENT_ERROR list=["a",1] message="go on?" none=null ok=true`
	if got := detailText(d); got != want {
		t.Errorf("detailText =\n %s\nwant\n %s", got, want)
	}
	if got := detailText(nil); got != "" {
		t.Errorf("no details: %q", got)
	}
}
