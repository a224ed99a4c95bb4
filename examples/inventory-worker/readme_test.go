package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/server"
	"github.com/avtomatika-ai/avtomatika-go/sdk/client"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// TestReadmeQuickStart runs the README's quick start as written: the
// server with its defaults and the repository's blueprints, this worker
// with exactly the README's environment (its URL pointed at the test's
// server), and each job command of the README, checked against what its
// comment promises. A line the test does not understand fails it, so the
// README cannot drift from what runs.
func TestReadmeQuickStart(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	start := strings.Index(text, "## Quick start")
	if start < 0 {
		t.Fatal("README has no Quick start section")
	}
	text = text[start:]
	if end := strings.Index(text[3:], "\n## "); end > 0 {
		text = text[:end+3]
	}
	blocks := regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(text, -1)
	if len(blocks) != 2 {
		t.Fatalf("the quick start has %d sh blocks, want 2 (the worker, the jobs)", len(blocks))
	}

	// The worker's command: VAR=VALUE ... go run ./examples/inventory-worker.
	workerLine := strings.Join(strings.Fields(strings.ReplaceAll(blocks[0][1], "\\\n", " ")), " ")
	before, ok := strings.CutSuffix(workerLine, " go run ./examples/inventory-worker")
	if !ok {
		t.Fatalf("worker command %q does not end in go run ./examples/inventory-worker", workerLine)
	}
	env := map[string]string{}
	for _, kv := range strings.Fields(before) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("worker command: %q is not VAR=VALUE", kv)
		}
		env[k] = v
	}
	if env["WORKER_ENABLE_WEBSOCKETS"] != "true" {
		t.Error("the quick start's worker does not enable WebSockets: a cancel would wait for its next heartbeat")
	}
	def := config.Default()
	if env["WORKER_TOKEN"] != def.GlobalWorkerToken {
		t.Errorf("the quick start's WORKER_TOKEN %q is not the server's default %q", env["WORKER_TOKEN"], def.GlobalWorkerToken)
	}

	// The server as `make run` starts it: defaults, blueprints/.
	cfg := config.Default()
	cfg.BlueprintsDir = filepath.Join("..", "..", "blueprints")
	srv, err := server.New(server.Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stopServer := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Run(sctx, l, 5*time.Second) }()
	defer func() { stopServer(); <-served }()
	url := "http://" + l.Addr().String()
	if env["ORCHESTRATOR_URL"] != "http://localhost:8080" {
		t.Errorf("ORCHESTRATOR_URL %q is not where make run serves", env["ORCHESTRATOR_URL"])
	}
	env["ORCHESTRATOR_URL"] = url
	env["TASK_FILES_DIR"] = t.TempDir()

	a := testApp()
	a.step = time.Minute // only a cancel ends long_running in time
	started := make(chan string, 1)
	a.started = func(id string) { started <- id }
	w, err := newWorker(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, slog.New(slog.NewTextHandler(io.Discard, nil)), a)
	if err != nil {
		t.Fatal(err)
	}
	wctx, stopWorker := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- w.Run(wctx) }()
	defer func() { stopWorker(); <-ran }()

	c, err := client.New(url, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var (
		startRe   = regexp.MustCompile(`^(?:ID=\$\()?bin/avtomatika job start (\w+)(?: --input '([^']*)')?( --watch)?\)?$`)
		watchRe   = regexp.MustCompile(`status=(\w+) state=(\w+); exit (\d)`)
		outcomeRe = regexp.MustCompile(`^(\w+): exit (\d)$`)
	)
	id := ""
	for _, line := range strings.Split(strings.TrimSpace(blocks[1][1]), "\n") {
		cmd, comment, _ := strings.Cut(line, "#")
		cmd, comment = strings.TrimSpace(cmd), strings.TrimSpace(comment)
		switch {
		case strings.HasPrefix(cmd, "export AVTOMATIKA_URL="):
			if cmd != "export AVTOMATIKA_URL=http://localhost:8080" {
				t.Errorf("%q: not where make run serves", cmd)
			}
		case startRe.MatchString(cmd):
			m := startRe.FindStringSubmatch(cmd)
			var input any
			if m[2] != "" {
				input = jsonObject(t, m[2])
			}
			if id, err = c.Start(ctx, m[1], input, client.StartOptions{}); err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			if m[3] != "" { // --watch: the comment says how it ends
				o := outcomeRe.FindStringSubmatch(comment)
				if o == nil {
					t.Fatalf("%s: the comment should say STATE: exit N", line)
				}
				j := waitJob(t, c, id)
				if j.State != o[1] || (o[2] == "0") != (j.Status == wire.StatusFinished) {
					t.Errorf("%s: ended %s in state %s", line, j.Status, j.State)
				}
			}
		case cmd == "bin/avtomatika job watch $ID":
			m := watchRe.FindStringSubmatch(comment)
			if m == nil {
				t.Fatalf("%s: the comment should say status=S state=T; exit N", line)
			}
			j := waitJob(t, c, id)
			if string(j.Status) != m[1] || j.State != m[2] {
				t.Errorf("%s: ended %s in state %s", line, j.Status, j.State)
			}
		case cmd == "bin/avtomatika job history $ID":
			if evs, err := c.History(ctx, id); err != nil || len(evs) < 2 {
				t.Errorf("%s: %d events, %v", line, len(evs), err)
			}
		case cmd == "bin/avtomatika job cancel $ID":
			select {
			case <-started:
			case <-time.After(30 * time.Second):
				t.Fatal("long_running never started")
			}
			if err := c.Cancel(ctx, id); err != nil {
				t.Fatal(err)
			}
			if j := waitJob(t, c, id); j.Status != wire.StatusCancelled || !strings.Contains(comment, "cancelled") {
				t.Errorf("%s: ended %s (comment %q)", line, j.Status, comment)
			}
		default:
			t.Fatalf("a quick start line this test does not know: %q", line)
		}
	}
}

func jsonObject(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("--input %s: %v", s, err)
	}
	return m
}
