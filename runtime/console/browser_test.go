package console_test

// Browser tests: the console driven in headless Chromium (Debian's
// `chromium`, installed by `make deps`) against a real server and a real
// worker. One browser serves the package; each test opens its own tab.
// Outside CI a missing Chromium skips these tests with a message; in CI
// (CI set) it fails them.
//
// go test ./runtime/console -run Browser -screenshots writes the
// screenshots kept in docs/console/.

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/avtomatika-ai/avtomatika-go/runtime/server/servertest"
	"github.com/avtomatika-ai/avtomatika-go/sdk/worker"
)

var screenshots = flag.Bool("screenshots", false, "write the console's screenshots into docs/console/")

var (
	browserOnce   sync.Once
	browserCtx    context.Context
	browserCancel context.CancelFunc
	browserErr    error
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if browserCancel != nil {
		browserCancel()
	}
	os.Exit(code)
}

func chromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// tab opens a new tab in the package's browser, started on first use. The
// test fails on any script error or console.error in the tab.
func tab(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed: `make deps` installs it (apt-get install chromium)")
		}
		t.Skip("chromium is not installed: run `make deps` to run the browser tests")
	}
	browserOnce.Do(func() {
		opts := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(path),
			chromedp.NoSandbox, // CI runs as root
			chromedp.DisableGPU,
			chromedp.WindowSize(1280, 900),
			chromedp.Flag("disable-dev-shm-usage", true),
		)
		alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancelCtx := chromedp.NewContext(alloc)
		browserErr = chromedp.Do(ctx) // starts the browser, with no timeout
		browserCtx = ctx
		browserCancel = func() { cancelCtx(); cancelAlloc() }
	})
	if browserErr != nil {
		t.Fatalf("start chromium: %v", browserErr)
	}
	// Each test's tab has a browser context of its own: its own cookies,
	// so a sign-in on one test's server (every server is on 127.0.0.1,
	// and cookies ignore the port) does not sign in another's.
	tabCtx, cancelTab := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
	if err := chromedp.Do(tabCtx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	messages := chromedp.Console(tabCtx)
	var problems []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || (m.Type == chromedp.ConsoleError && m.Source != "network") {
				problems = append(problems, fmt.Sprintf("%s at %s:%d", m, m.URL, m.Line+1))
			}
		}
	}()
	ctx, cancelTimeout := context.WithTimeout(tabCtx, 90*time.Second)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		<-done
		for _, p := range problems {
			t.Errorf("browser console: %s", p)
		}
	})
	return ctx
}

type step = chromedp.Action[chromedp.Void]

// run runs the steps, each call bounded to 20 s.
func run(t *testing.T, ctx context.Context, what string, steps ...step) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if os.Getenv("CONSOLE_TRACE") != "" {
		start := time.Now()
		defer func() { t.Logf("%s: %v", what, time.Since(start).Round(time.Millisecond)) }()
	}
	if err := chromedp.Do(sctx, steps...); err != nil {
		page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.hash + " | " + document.getElementById("main").innerText.slice(0, 600)`))
		t.Fatalf("%s: %v\npage: %s", what, err, page)
	}
}

func text(t *testing.T, ctx context.Context, js string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return s
}

// waitJS polls a JavaScript condition until it holds.
func waitJS(cond string) step {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[bool](cond, chromedp.WithPollingInterval(50*time.Millisecond))(ctx, tg)
		return chromedp.Void{}, err
	}
}

func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

// shoot writes a screenshot of the page at 1280 and 390 px wide: into
// docs/console/ with -screenshots, else into a temporary folder.
func shoot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := t.TempDir()
	if *screenshots {
		dir = filepath.Join("..", "..", "docs", "console")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range []int64{1280, 390} {
		var opts []chromedp.EmulateViewportOption
		if w < 500 {
			opts = append(opts, chromedp.EmulateMobile, chromedp.EmulatePortrait)
		}
		run(t, ctx, "resize for "+name, chromedp.EmulateViewport(w, 900, opts...), chromedp.Sleep(200*time.Millisecond))
		img, err := chromedp.Run(ctx, chromedp.FullScreenshot(80))
		if err != nil || len(img) < 1000 {
			t.Fatalf("screenshot %s at %d px: %d bytes, %v", name, w, len(img), err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d.jpg", name, w)), img, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run(t, ctx, "reset size", chromedp.ResetViewport())
}

// contrastJS lists the visible text of the page whose colour fails WCAG
// AA against its background (4.5:1; 3:1 for large text).
const contrastJS = `(() => {
  const rgb = (s) => { const m = s.match(/rgba?\(([^)]+)\)/); if (!m) return null; const p = m[1].split(',').map(Number); return {r:p[0], g:p[1], b:p[2], a: p.length > 3 ? p[3] : 1}; };
  const lum = (c) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }; return 0.2126*f(c.r) + 0.7152*f(c.g) + 0.0722*f(c.b); };
  const bg = (el) => { for (let e = el; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor); if (c && c.a > 0.5) return c; } return {r:255,g:255,b:255,a:1}; };
  const bad = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement;
    if (!el || seen.has(el) || !walker.currentNode.textContent.trim() || el.closest('svg') || el.closest('.sr-only')) continue;
    seen.add(el);
    const st = getComputedStyle(el);
    if (st.visibility === 'hidden' || st.display === 'none' || el.getClientRects().length === 0) continue;
    const fg = rgb(st.color); const b = bg(el);
    const l1 = lum(fg), l2 = lum(b);
    const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    const size = parseFloat(st.fontSize); const bold = Number(st.fontWeight) >= 700;
    const need = (size >= 24 || (size >= 18.66 && bold)) ? 3 : 4.5;
    if (ratio < need) bad.push(el.tagName + '.' + el.className + ' "' + el.textContent.trim().slice(0, 30) + '" ' + ratio.toFixed(2));
  }
  return bad.join('\n');
})()`

func checkContrast(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	if bad := text(t, ctx, contrastJS); bad != "" {
		t.Errorf("%s: text below WCAG AA contrast:\n%s", page, bad)
	}
}

func startWorker(t *testing.T, url string) {
	t.Helper()
	w, err := worker.New(worker.Config{
		WorkerID: "reviewer-1", WorkerType: "reviewers", Token: servertest.WorkerToken,
		Orchestrators: []worker.Orchestrator{{URL: url}}, PollTimeout: 2 * time.Second, HeartbeatInterval: time.Second,
		PayloadDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	w.Handle("review_check", func(ctx context.Context, task *worker.Task) (worker.Result, error) {
		return worker.Result{Data: map[string]any{"checked": true}}, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func TestBrowserOperatorFlow(t *testing.T) {
	ctx := tab(t)
	srv := servertest.Start(t, servertest.Options{Examples: true, Files: map[string]string{"review.yaml": reviewYAML, "orphan.yaml": orphanYAML}})
	startWorker(t, srv.URL)

	// The blueprints list, opened directly (no clients configured).
	run(t, ctx, "blueprints list",
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(css(`a[href="#/blueprints/review"]`)),
		chromedp.WaitVisible(css(`a[href="#/blueprints/order_processing"]`)))
	if got := text(t, ctx, `document.querySelector('[data-running=review]').textContent`); got != "0" {
		t.Errorf("review jobs running before any job: %q", got)
	}
	checkContrast(t, ctx, "blueprints")
	shoot(t, ctx, "blueprints")

	// Keyboard: the first Tab reaches the skip link, with a visible focus.
	run(t, ctx, "tab to the skip link", chromedp.KeyEvent(kb.Tab))
	if got := text(t, ctx, `document.activeElement.id + ' ' + getComputedStyle(document.activeElement).outlineStyle`); got != "skip solid" {
		t.Errorf("first Tab: focus and outline %q; want the skip link with a solid outline", got)
	}

	// A blueprint's graph, laid out as SVG.
	run(t, ctx, "blueprint graph",
		chromedp.Navigate(srv.URL+"/#/blueprints/order_processing"),
		chromedp.WaitVisible(css(`#graph svg g.node[data-state="approve"]`)))
	if n, want := text(t, ctx, `String(document.querySelectorAll('#graph svg g.node[data-state]').length)`), len(srv.Registry().Current("order_processing").States); n != fmt.Sprint(want) {
		t.Errorf("order_processing graph: %s state nodes; want %d", n, want)
	}
	shoot(t, ctx, "blueprint")

	// Start a job from the form: errors at the field, client- and
	// server-side, then the job.
	run(t, ctx, "start form",
		chromedp.Navigate(srv.URL+"/#/blueprints/review/start"),
		chromedp.WaitVisible(css(`#start-form input[name=order]`)),
		chromedp.Click(css(`#start-form button[type=submit]`)),
		waitJS(`document.getElementById(document.querySelector('[name=order]').id + '-err').textContent === 'is required'`))
	if v := text(t, ctx, `document.querySelector('[name=qty]').value + ' ' + document.querySelector('[name=speed]').selectedOptions[0].text + ' ' + document.querySelector('[name=batch]').value`); v != "1 slow 5" {
		t.Errorf("defaults: %q; want qty 1, speed slow, batch 5", v)
	}
	if got := text(t, ctx, `document.activeElement.name`); got != "order" {
		t.Errorf("focus after a refused submit: %q; want the first field in error", got)
	}
	shoot(t, ctx, "start")
	run(t, ctx, "qty below its minimum",
		chromedp.SetValue(css(`[name=order]`), "A-7"),
		chromedp.SetValue(css(`[name=qty]`), "0"),
		chromedp.Click(css(`#start-form button[type=submit]`)),
		waitJS(`document.getElementById(document.querySelector('[name=qty]').id + '-err').textContent === 'must be at least 1'`))
	// multipleOf is left to the server: its finding lands at the field.
	run(t, ctx, "server-side schema error",
		chromedp.SetValue(css(`[name=qty]`), "2"),
		chromedp.SetValue(css(`[name=batch]`), "7"),
		chromedp.Click(css(`#start-form button[type=submit]`)),
		waitJS(`document.getElementById(document.querySelector('[name=batch]').id + '-err').textContent.includes('multipleOf: got 7, want 5')`))
	if got := text(t, ctx, `document.querySelector('[name=qty]').getAttribute('aria-invalid') || ''`); got != "" {
		t.Errorf("qty is marked invalid after a server error about batch")
	}
	run(t, ctx, "start the job",
		chromedp.SetValue(css(`[name=batch]`), "10"),
		chromedp.SetValue(css(`[name=speed]`), "1"),
		chromedp.Click(css(`#start-form button[type=submit]`)),
		waitJS(`location.hash.startsWith('#/jobs/')`))
	jobID := strings.TrimPrefix(text(t, ctx, `location.hash`), "#/jobs/")
	j, err := srv.Store().GetJob(context.Background(), jobID)
	if err != nil || j.Input["order"] != "A-7" || j.Input["speed"] != "fast" || fmt.Sprint(j.Input["qty"]) != "2" || fmt.Sprint(j.Input["batch"]) != "10" {
		t.Fatalf("the started job %s: %+v, %v", jobID, j, err)
	}

	// The worker runs the check; the job page follows live to the
	// approval, its path drawn on the graph.
	run(t, ctx, "job waits for approval",
		waitJS(`(document.getElementById('approval-message') || {}).textContent === 'Ship order A-7?'`),
		chromedp.WaitVisible(css(`#graph svg g.node.current[data-state="approve"]`)))
	if got := text(t, ctx, `[...document.querySelectorAll('#graph svg g.edge.visited title')].map(e => e.textContent).join(' ')`); got != "(start)->check check->approve" {
		t.Errorf("visited edges: %q", got)
	}
	if got := text(t, ctx, `[...document.querySelectorAll('#timeline > li > strong')].map(e => e.textContent).join(' ')`); !strings.Contains(got, "task_result") {
		t.Errorf("timeline: %q; want the task result", got)
	}
	checkContrast(t, ctx, "job")
	shoot(t, ctx, "job")

	// The graph counts jobs per state, live: a second job moves through
	// check into approve while the page is open.
	run(t, ctx, "counts on the graph",
		chromedp.Navigate(srv.URL+"/#/blueprints/review"),
		chromedp.WaitVisible(css(`#graph svg g.node[data-state="approve"][data-count="1"]`)))
	second := createJob(t, srv.URL, "", "review", `{"order":"B-2"}`)
	run(t, ctx, "count changes live",
		chromedp.WaitVisible(css(`#graph svg g.node[data-state="approve"][data-count="2"]`)),
		waitJS(`document.querySelector('[data-count-for=check]').textContent === '0'`))
	// A state is picked with the keyboard; its jobs are listed.
	run(t, ctx, "pick a state with Enter",
		chromedp.Focus(css(`#graph svg g.node[data-state="approve"]`)),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(css(`#state-jobs a[href="#/jobs/`+second+`"]`)),
		chromedp.WaitVisible(css(`#state-jobs a[href="#/jobs/`+jobID+`"]`)))
	if got := text(t, ctx, `document.querySelector('[data-count-for=check]').closest('tr').children[3].textContent`); got == "—" {
		t.Errorf("p95 time in check: %q; want a measured time", got)
	}

	// Approve from the job page.
	run(t, ctx, "approve",
		chromedp.Navigate(srv.URL+"/#/jobs/"+jobID),
		chromedp.WaitVisible(css(`#approve`)),
		chromedp.Click(css(`#approve`)),
		waitJS(`document.getElementById('job-state').textContent === 'done'`))
	if j, _ := srv.Store().GetJob(context.Background(), jobID); j.Status != "finished" {
		t.Errorf("after approve: %s", j.Status)
	}
	if got := text(t, ctx, `String(document.querySelectorAll('#job-actions button').length)`); got != "0" {
		t.Errorf("a finished job offers %s buttons", got)
	}

	// The jobs list updates live.
	run(t, ctx, "jobs list", chromedp.Navigate(srv.URL+"/#/jobs"), chromedp.WaitVisible(css(`tr[data-job="`+second+`"]`)))
	third := createJob(t, srv.URL, "", "review", `{"order":"C-3"}`)
	run(t, ctx, "a new job appears live", chromedp.WaitVisible(css(`tr[data-job="`+third+`"]`)))
	checkContrast(t, ctx, "jobs")
	shoot(t, ctx, "jobs")

	// Workers and queues: the worker, and a task type nobody serves.
	orphan := createJob(t, srv.URL, "", "orphan", `{}`)
	run(t, ctx, "workers",
		chromedp.Navigate(srv.URL+"/#/workers"),
		chromedp.WaitVisible(css(`tr[data-worker="reviewer-1"]`)),
		waitJS(`(document.getElementById('unserved') || {}).textContent?.includes('nobody_serves_this')`),
		chromedp.WaitVisible(css(`tr[data-queue="nobody_serves_this"] a[href="#/jobs/`+orphan+`"]`)))
	if got := text(t, ctx, `document.querySelector('tr[data-worker="reviewer-1"]').textContent`); !strings.Contains(got, "review_check") {
		t.Errorf("worker row: %q; want its skill", got)
	}
	checkContrast(t, ctx, "workers")
	shoot(t, ctx, "workers")

	// A refused reload's finding, at its file:line:col.
	deadline := time.After(10 * time.Second)
	for len(srv.Registry().Refused()) == 0 {
		ch := srv.Reloaded()
		if err := srv.WriteFile("broken.yaml", "name: broken\nstart: nowhere\nstates:\n  s: {end: success}\n"); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatal("no reload of broken.yaml")
		}
	}
	run(t, ctx, "refused reload",
		chromedp.Navigate(srv.URL+"/#/blueprints"),
		waitJS(`[...document.querySelectorAll('.finding code')].some(c => /^broken\.yaml:\d+:\d+$/.test(c.textContent))`))
}

func TestBrowserClientSeesOnlyItsJobs(t *testing.T) {
	ctx := tab(t)
	srv := servertest.Start(t, servertest.Options{Clients: twoClients, Files: map[string]string{"review.yaml": reviewYAML}})
	alphaJob := createJob(t, srv.URL, "tok-alpha", "review", `{"order":"A"}`)
	betaJob := createJob(t, srv.URL, "tok-beta", "review", `{"order":"B"}`)
	run(t, ctx, "sign in",
		chromedp.Navigate(srv.URL+"/#/jobs"),
		chromedp.WaitVisible(css(`#token`)),
		chromedp.SendKeys(css(`#token`), "wrong"),
		chromedp.Click(css(`form.login button[type=submit]`)),
		waitJS(`document.getElementById('login-err').textContent === 'unknown client token'`))
	shoot(t, ctx, "signin")
	text(t, ctx, `document.getElementById('token').value = ''`)
	run(t, ctx, "sign in again",
		chromedp.SendKeys(css(`#token`), "tok-alpha"),
		chromedp.Click(css(`form.login button[type=submit]`)),
		chromedp.WaitVisible(css(`tr[data-job="`+alphaJob+`"]`)))
	if got := text(t, ctx, `document.cookie`); got != "" {
		t.Errorf("the page reads the cookie %q: it must be HttpOnly", got)
	}
	if got := text(t, ctx, `String(!!document.querySelector('tr[data-job="`+betaJob+`"]'))`); got != "false" {
		t.Errorf("alpha's job list shows beta's job")
	}
	run(t, ctx, "beta's job page",
		chromedp.Navigate(srv.URL+"/#/jobs/"+betaJob),
		waitJS(`document.querySelector('[role=alert]')?.textContent.includes('not found')`))
	// A job beta starts now does not reach alpha's list live either.
	run(t, ctx, "jobs list", chromedp.Navigate(srv.URL+"/#/jobs"), chromedp.WaitVisible(css(`tr[data-job="`+alphaJob+`"]`)))
	later := createJob(t, srv.URL, "tok-beta", "review", `{"order":"B2"}`)
	mine := createJob(t, srv.URL, "tok-alpha", "review", `{"order":"A2"}`)
	run(t, ctx, "alpha's new job appears", chromedp.WaitVisible(css(`tr[data-job="`+mine+`"]`)))
	if got := text(t, ctx, `String(!!document.querySelector('tr[data-job="`+later+`"]'))`); got != "false" {
		t.Errorf("alpha's live list shows beta's new job")
	}
}

const holdYAML = `name: hold
endpoint: /jobs/hold
start: work
states:
  work:
    task: {type: held_task, timeout: 5m}
    transitions: {success: ask}
  ask:
    approval: {message: "Release the hold?", timeout: 1h}
    transitions: {approved: done, rejected: done, timeout: done}
  done: {end: success}
`

// The job page shows a running task's worker, attempt and lease
// deadline, then the approval's question, choices and deadline.
func TestBrowserJobPageShowsRunningTask(t *testing.T) {
	ctx := tab(t)
	srv := servertest.Start(t, servertest.Options{Files: map[string]string{"hold.yaml": holdYAML}})
	taken, release := make(chan string, 1), make(chan struct{})
	w, err := worker.New(worker.Config{
		WorkerID: "holder-1", WorkerType: "holders", Token: servertest.WorkerToken,
		Orchestrators: []worker.Orchestrator{{URL: srv.URL}}, PollTimeout: 2 * time.Second, HeartbeatInterval: time.Second,
		PayloadDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	w.Handle("held_task", func(ctx context.Context, task *worker.Task) (worker.Result, error) {
		taken <- task.TaskID
		select {
		case <-release:
		case <-ctx.Done():
		}
		return worker.Result{}, nil
	})
	wctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(wctx) }()
	t.Cleanup(func() { cancel(); <-done })

	id := createJob(t, srv.URL, "", "hold", `{}`)
	var task string
	select {
	case task = <-taken:
	case <-time.After(20 * time.Second):
		t.Fatal("the worker took no task")
	}
	row := `tr[data-task="` + task + `"]`
	run(t, ctx, "running task",
		chromedp.Navigate(srv.URL+"/#/jobs/"+id),
		waitJS(`document.querySelector('`+row+` .task-worker')?.textContent === 'holder-1'`))
	got := text(t, ctx, `['.task-state', '.task-attempt', '.task-deadline'].map(c => document.querySelector('`+row+` ' + c).textContent).join(' | ')`)
	if !strings.HasPrefix(got, "running | 1 | ") || !strings.Contains(got, "Z (in ") {
		t.Errorf("running task row: %q; want running, attempt 1, a deadline ahead", got)
	}
	checkContrast(t, ctx, "job with a running task")

	close(release)
	run(t, ctx, "approval",
		waitJS(`(document.getElementById('approval-question') || {}).textContent === 'Release the hold?'`))
	if got := text(t, ctx, `document.getElementById('approval-choices').textContent`); got != "approved, rejected" {
		t.Errorf("approval choices: %q", got)
	}
	if got := text(t, ctx, `document.getElementById('approval-deadline').textContent`); !strings.Contains(got, "Z (in ") {
		t.Errorf("approval deadline: %q; want a time ahead", got)
	}
	if got := text(t, ctx, `String(!!document.querySelector('[data-task]'))`); got != "false" {
		t.Errorf("the approval page still lists a task")
	}
}
