package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/sdk/client"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

const approvalOnly = `name: approval_only
endpoint: /jobs/approval_only
start: ask
states:
  ask:
    approval: {message: "go on?", timeout: 1h}
    transitions: {approved: done, rejected: refused, timeout: refused}
  done: {end: success}
  refused: {end: failure}
`

// setupJob serves approval_only and returns a client of it and the env
// that points `avtomatika job` at it.
func setupJob(t *testing.T) (*client.Client, func(string) (string, bool)) {
	t.Helper()
	return serveFiles(t, map[string]string{"approval_only.yaml": approvalOnly})
}

// serveFiles serves a folder of the blueprint files given (name to
// source) and returns a client of it and the env that points `avtomatika
// job` at it.
func serveFiles(t *testing.T, files map[string]string) (*client.Client, func(string) (string, bool)) {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	url, stop, err := startTestServer(config.Default(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	})
	c, err := client.New(url, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	env := func(k string) (string, bool) {
		if k == "AVTOMATIKA_URL" {
			return url, true
		}
		return "", false
	}
	return c, env
}

// TestWatchPrintsEachChange reads watch's output as it comes: one line
// while the job waits, one more when it ends.
func TestWatchPrintsEachChange(t *testing.T) {
	t.Parallel()
	c, env := setupJob(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id, err := c.Start(ctx, "approval_only", nil, client.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	code := make(chan int, 1)
	go func() {
		code <- jobMain(ctx, []string{"watch", id}, env, nil, pw, &stderr)
		pw.Close()
	}()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	next := func() string {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("watch stopped printing")
			}
			return l
		case <-ctx.Done():
			t.Fatal("no line from watch")
		}
		return ""
	}
	want := regexp.MustCompile(`^` + id + `  approval_only  status=waiting_for_human  state=ask  elapsed=\d+s$`)
	if l := next(); !want.MatchString(l) {
		t.Fatalf("first line %q, want %s", l, want)
	}
	if err := c.Approve(ctx, id, client.Approved); err != nil {
		t.Fatal(err)
	}
	want = regexp.MustCompile(`^` + id + `  approval_only  status=finished  state=done  elapsed=\d+s$`)
	if l := next(); !want.MatchString(l) {
		t.Fatalf("second line %q, want %s", l, want)
	}
	if got := <-code; got != exitOK {
		t.Errorf("exit %d, stderr %q", got, stderr.String())
	}
	for l := range lines {
		t.Errorf("extra line %q", l)
	}
}

// TestWatchRedrawsOnTerminal checks the terminal form: the line is
// redrawn in place and ends with a newline.
func TestWatchRedrawsOnTerminal(t *testing.T) {
	t.Parallel()
	c, _ := setupJob(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id, err := c.Start(ctx, "approval_only", nil, client.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Approve(ctx, id, client.Rejected); err != nil {
		t.Fatal(err)
	}
	var out, errs bytes.Buffer
	r := &jobRun{c: c, stdout: &out, stderr: &errs, name: "avtomatika job watch", tty: true}
	if code := r.follow(ctx, id); code != exitFindings {
		t.Errorf("exit %d, want %d", code, exitFindings)
	}
	want := regexp.MustCompile("^\r\033\\[K" + id + "  approval_only  status=failed  state=refused  elapsed=\\d+s\n$")
	if !want.MatchString(out.String()) {
		t.Errorf("terminal output %q, want %s", out.String(), want)
	}
	if !strings.Contains(errs.String(), `ended failed in state "refused"`) {
		t.Errorf("stderr %q", errs.String())
	}
}

func TestWatchLine(t *testing.T) {
	t.Parallel()
	began := time.Unix(1000, 0)
	tests := []struct {
		name string
		job  client.Job
		now  time.Time
		want string
	}{
		{"running since watch began", client.Job{ID: "j", Blueprint: "b", Status: wire.StatusRunning, State: "s"}, began.Add(1500 * time.Millisecond),
			"j  b  status=running  state=s  elapsed=1s"},
		{"since created", client.Job{ID: "j", Blueprint: "b", Status: wire.StatusWaitingForWorker, State: "s", CreatedAt: 900}, began,
			"j  b  status=waiting_for_worker  state=s  elapsed=1m40s"},
		{"ended", client.Job{ID: "j", Blueprint: "b", Status: wire.StatusFinished, State: "done", CreatedAt: 990, FinishedAt: 993}, began.Add(time.Hour),
			"j  b  status=finished  state=done  elapsed=3s"},
		{"progress", client.Job{ID: "j", Blueprint: "b", Status: wire.StatusRunning, Progress: 0.25, ProgressMessage: "step 1"}, began,
			`j  b  status=running  progress=25% "step 1"  elapsed=0s`},
		{"server clock ahead", client.Job{ID: "j", Blueprint: "b", Status: wire.StatusPending, CreatedAt: 1010}, began,
			"j  b  status=pending  elapsed=0s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := watchLine(&tc.job, began, tc.now); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}
