package console_test

// Browser tests of redrive from a job's page and of the job list's search
// filters over live and archived jobs.

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/history"
	"github.com/avtomatika-ai/avtomatika-go/runtime/server/servertest"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
	"github.com/avtomatika-ai/avtomatika-go/sdk/worker"
)

// flakyYAML fails when its input says so: the worker answers failure
// (retried, then the job fails with TRANSIENT_ERROR).
const flakyYAML = `name: flaky
endpoint: /jobs/flaky
input:
  type: object
  required: [order]
  properties:
    order: {type: string, minLength: 1}
    fail: {type: boolean}
start: check
states:
  check:
    task: {type: flaky_check, params: {fail: "${{ input.fail }}"}}
    transitions: {success: done, failure: failed}
  done: {end: success}
  failed: {end: failure}
`

// startFlakyWorker serves flaky_check: failure when params.fail is true.
func startFlakyWorker(t *testing.T, url string) {
	t.Helper()
	w, err := worker.New(worker.Config{
		WorkerID: "flaky-1", WorkerType: "checkers", Token: servertest.WorkerToken,
		Orchestrators: []worker.Orchestrator{{URL: url}}, PollTimeout: 2 * time.Second, HeartbeatInterval: time.Second,
		PayloadDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	w.Handle("flaky_check", func(ctx context.Context, task *worker.Task) (worker.Result, error) {
		if task.Params["fail"] == true {
			return worker.Result{Status: "failure", Data: map[string]any{"reason": "asked to fail"}}, nil
		}
		return worker.Result{Data: map[string]any{"checked": true}}, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// waitStatus waits until the job has the status (in the live store or the
// archive, through the API).
func waitStatus(t *testing.T, srv *servertest.Server, id string, want wire.JobStatus) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		j, err := srv.Orchestrator().Job(context.Background(), nil, id)
		if err == nil && j.Status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s: %+v, %v; want status %s", id, j, err, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestBrowserRedrive(t *testing.T) {
	ctx := tab(t)
	srv := servertest.Start(t, servertest.Options{Files: map[string]string{"flaky.yaml": flakyYAML}})
	startFlakyWorker(t, srv.URL)
	old := createJob(t, srv.URL, "", "flaky", `{"order":"F-1","fail":true}`)
	waitStatus(t, srv, old, wire.StatusFailed)

	run(t, ctx, "the failed job offers a redrive",
		chromedp.Navigate(srv.URL+"/#/jobs/"+old),
		chromedp.WaitVisible(css(`#redrive`)),
		chromedp.Click(css(`#redrive`)),
		chromedp.WaitVisible(css(`#redrive-form`)),
		chromedp.Click(css(`#redrive-edit`)),
		chromedp.WaitVisible(css(`#redrive-input`)))
	if got := text(t, ctx, `JSON.stringify(JSON.parse(document.getElementById('redrive-input').value))`); got != `{"fail":true,"order":"F-1"}` && got != `{"order":"F-1","fail":true}` {
		t.Errorf("the input to edit: %s; want the job's input", got)
	}
	// The input is checked before sending: not JSON, not an object, then
	// the server's schema check; each shown at the field.
	for _, c := range []struct{ input, want string }{
		{`{"order": `, "not JSON"},
		{`[1, 2]`, "must be a JSON object"},
		{`{"order": ""}`, "input does not match the input schema"},
	} {
		run(t, ctx, "redrive with "+c.input,
			chromedp.SetValue(css(`#redrive-input`), c.input),
			chromedp.Click(css(`#redrive-submit`)),
			waitJS(`document.getElementById('redrive-input-err').textContent.includes(`+fmt.Sprintf("%q", c.want)+`)`))
		if got := text(t, ctx, `document.getElementById('redrive-input').getAttribute('aria-invalid') + ' ' + document.activeElement.id`); got != "true redrive-input" {
			t.Errorf("after %s: invalid and focus %q; want the field marked and focused", c.input, got)
		}
	}
	if got := text(t, ctx, `String(document.querySelectorAll('#redrive-links a').length)`); got != "0" {
		t.Fatalf("a refused redrive made %s links", got)
	}
	shoot(t, ctx, "redrive")
	run(t, ctx, "redrive with a fixed input on the current version",
		chromedp.SetValue(css(`#redrive-input`), `{"order": "F-1", "fail": false}`),
		chromedp.Click(css(`#redrive-current`)),
		chromedp.Click(css(`#redrive-submit`)),
		chromedp.WaitVisible(css(`#redriven-as a`)))
	nid := strings.TrimPrefix(text(t, ctx, `document.querySelector('#redriven-as a').getAttribute('href')`), "#/jobs/")
	if nid == "" || nid == old || text(t, ctx, `document.getElementById('redrive-new').getAttribute('href')`) != "#/jobs/"+nid {
		t.Fatalf("the new job's link: %q", nid)
	}
	if got := text(t, ctx, `String(!!document.getElementById('redrive'))`); got != "true" {
		t.Errorf("the failed job no longer offers a redrive: %s", got)
	}
	waitStatus(t, srv, nid, wire.StatusFinished)
	run(t, ctx, "the new job's page",
		chromedp.Click(css(`#redriven-as a`)),
		waitJS(`location.hash === '#/jobs/`+nid+`' && document.getElementById('job-state')?.textContent === 'done'`),
		chromedp.WaitVisible(css(`#redrive-of a[href="#/jobs/`+old+`"]`)),
		waitJS(`document.getElementById('timeline').textContent.includes('worker flaky-1')`))
	if got := text(t, ctx, `String(document.querySelectorAll('#job-actions button').length)`); got != "0" {
		t.Errorf("the finished redrive offers %s buttons", got)
	}
	j, err := srv.Store().GetJob(context.Background(), nid)
	if err != nil || j.Input["fail"] != false || j.Metadata["redrive_of"] != old {
		t.Errorf("the new job: %+v, %v; want the edited input and redrive_of %s", j, err, old)
	}
}

// The job list's filters run against live and archived jobs: a history
// on SQLite, with ended jobs leaving the live store once archived.
func TestBrowserJobsSearch(t *testing.T) {
	ctx := tab(t)
	h, err := history.Open(context.Background(), "sqlite:///"+filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	srv := servertest.Start(t, servertest.Options{
		Files:   map[string]string{"flaky.yaml": flakyYAML, "orphan.yaml": orphanYAML},
		History: h,
		Config:  func(c *config.Config) { c.JobRetention = time.Nanosecond },
	})
	startFlakyWorker(t, srv.URL)
	var failed, finished, orphans []string
	for i := range 3 {
		failed = append(failed, createJob(t, srv.URL, "", "flaky", fmt.Sprintf(`{"order":"F-%d","fail":true}`, i)))
	}
	finished = append(finished, createJob(t, srv.URL, "", "flaky", `{"order":"OK"}`))
	for range 52 {
		orphans = append(orphans, createJob(t, srv.URL, "", "orphan", `{}`))
	}
	for _, id := range failed {
		waitStatus(t, srv, id, wire.StatusFailed)
	}
	waitStatus(t, srv, finished[0], wire.StatusFinished)
	// The ended jobs leave the live store: the archive alone has them.
	for _, id := range append(failed, finished...) {
		deadline := time.Now().Add(20 * time.Second)
		for {
			if _, err := srv.Store().GetJob(context.Background(), id); err != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %s is still in the live store", id)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	rowsJS := `[...document.querySelectorAll('#jobs-body tr[data-job]')].map(r => r.dataset.job).sort().join(' ')`
	want := func(ids ...string) string { // as rowsJS lists them
		s := slices.Clone(ids)
		slices.Sort(s)
		return strings.Join(s, " ")
	}

	// Status, picked in the form: the archived failed jobs, nothing else.
	run(t, ctx, "filter by status",
		chromedp.Navigate(srv.URL+"/#/jobs"),
		chromedp.WaitVisible(css(`tr[data-job]`)),
		chromedp.Click(css(`#q-status input[value=failed]`)),
		chromedp.Click(css(`#q-search`)),
		waitJS(`location.hash === '#/jobs?status=failed'`),
		waitJS(rowsJS+` === `+fmt.Sprintf("%q", want(failed...))))
	// Two statuses.
	run(t, ctx, "filter by two statuses",
		chromedp.Click(css(`#q-status input[value=finished]`)),
		chromedp.Click(css(`#q-search`)),
		waitJS(`location.hash === '#/jobs?status=finished%2Cfailed' || location.hash === '#/jobs?status=failed%2Cfinished'`),
		waitJS(rowsJS+` === `+fmt.Sprintf("%q", want(append(failed, finished...)...))))
	checkContrast(t, ctx, "jobs search")
	// Blueprint, with the statuses cleared: the archived flaky jobs.
	run(t, ctx, "filter by blueprint",
		chromedp.Navigate(srv.URL+"/#/jobs"),
		chromedp.WaitVisible(css(`#q-blueprint`)),
		chromedp.SetValue(css(`#q-blueprint`), "flaky"),
		chromedp.Click(css(`#q-search`)),
		waitJS(`location.hash === '#/jobs?blueprint=flaky'`),
		waitJS(rowsJS+` === `+fmt.Sprintf("%q", want(append(failed, finished...)...))))
	// Error code and worker, from the address.
	run(t, ctx, "filter by error code and worker",
		chromedp.Navigate(srv.URL+"/#/jobs?error_code=TRANSIENT_ERROR&worker=flaky-1"),
		waitJS(rowsJS+` === `+fmt.Sprintf("%q", want(failed...))),
		waitJS(`document.getElementById('q-error_code').value === 'TRANSIENT_ERROR'`))
	// A created range that ends before the jobs: none.
	run(t, ctx, "filter by created range",
		chromedp.Navigate(srv.URL+"/#/jobs?created_before=2020-01-01T00:00:00Z"),
		waitJS(`document.getElementById('jobs-status').textContent.startsWith('0 jobs shown')`))
	// Paging: the live orphans, 50 a page; "More" follows the cursor.
	run(t, ctx, "first page",
		chromedp.Navigate(srv.URL+"/#/jobs?blueprint=orphan"),
		waitJS(`document.querySelectorAll('#jobs-body tr[data-job]').length === 50`),
		chromedp.WaitVisible(css(`#jobs-more`)),
		chromedp.Click(css(`#jobs-more`)),
		waitJS(rowsJS+` === `+fmt.Sprintf("%q", want(orphans...))),
		waitJS(`document.getElementById('jobs-more').hidden`))
	// A malformed filter is the server's 400, shown on the page.
	run(t, ctx, "a bad filter",
		chromedp.Navigate(srv.URL+"/#/jobs?status=nonsense"),
		waitJS(`document.getElementById('jobs-error').textContent.includes('status="nonsense"')`))
}
