package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/sdk/client"
)

func TestJobLs(t *testing.T) {
	ctx := context.Background()
	c, env := setupJob(t)
	var ids []string
	for range 3 {
		id, err := c.Start(ctx, "approval_only", map[string]any{"n": 1}, client.StartOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := c.Approve(ctx, ids[0], "rejected"); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := jobMain(ctx, append([]string{"ls"}, args...), env, nil, &out, &errb)
		return code, out.String(), errb.String()
	}
	code, out, _ := run()
	if code != exitOK || !strings.HasPrefix(out, "ID") || !strings.Contains(out, "DURATION") {
		t.Fatalf("ls: %d\n%s", code, out)
	}
	for _, id := range ids {
		if !strings.Contains(out, id) {
			t.Errorf("ls misses %s:\n%s", id, out)
		}
	}
	code, out, _ = run("--status", "failed")
	if code != exitOK || !strings.Contains(out, ids[0]) || strings.Contains(out, ids[1]) || !strings.Contains(out, "refused") {
		t.Fatalf("ls --status failed: %d\n%s", code, out)
	}
	code, out, _ = run("--json", "--where", `job.state == "ask"`, "--created-after", "1h")
	var views []client.Job
	if code != exitOK || json.Unmarshal([]byte(out), &views) != nil || len(views) != 2 {
		t.Fatalf("ls --json --where: %d\n%s", code, out)
	}
	code, out, errText := run("--limit", "1")
	if code != exitOK || strings.Count(out, "\n") != 2 || !strings.Contains(errText, "--cursor ") {
		t.Fatalf("ls --limit 1: %d\n%s\n%s", code, out, errText)
	}
	cur := strings.Fields(errText[strings.Index(errText, "--cursor ")+len("--cursor "):])[0]
	code, out, _ = run("--limit", "1", "--cursor", cur)
	if code != exitOK || !strings.Contains(out, ids[1]) {
		t.Fatalf("second page: %d\n%s (want %s)", code, out, ids[1])
	}
	code, out, errText = run("--limit", "1", "--all")
	if code != exitOK || strings.Count(out, "\n") != 4 || errText != "" {
		t.Fatalf("ls --all: %d\n%s\n%s", code, out, errText)
	}
	// Bad values: the flag's own (exit 2) or the server's refusal (exit 1).
	for _, args := range [][]string{{"--sort", "age"}, {"--limit", "0"}, {"--meta", "novalue"}, {"--created-after", "soon"}} {
		if code, _, errText := run(args...); code != exitUsage || !strings.Contains(errText, args[0]) {
			t.Errorf("ls %v: %d %s; want exit 2 naming the flag", args, code, errText)
		}
	}
	if code, _, errText := run("--status", "bogus"); code != exitFindings || !strings.Contains(errText, "status") {
		t.Errorf("ls --status bogus: %d %s", code, errText)
	}
	if code, _, errText := run("--where", "input.n >"); code != exitFindings || !strings.Contains(errText, "where") {
		t.Errorf("ls --where broken: %d %s", code, errText)
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{-time.Second: "0s", 45 * time.Second: "45s", 192 * time.Second: "3m12s", 5*time.Hour + 4*time.Minute: "5h4m", 51 * time.Hour: "2d3h"} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %s, want %s", d, got, want)
		}
	}
}

func TestJobRedrive(t *testing.T) {
	ctx := context.Background()
	c, env := setupJob(t)
	id, err := c.Start(ctx, "approval_only", map[string]any{}, client.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Approve(ctx, id, "rejected"); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := jobMain(ctx, []string{"redrive", id, "--input", `{"again": true}`}, env, nil, &out, &errb); code != exitOK {
		t.Fatalf("redrive: %d %s", code, errb.String())
	}
	nid := strings.TrimSpace(out.String())
	j, err := c.Get(ctx, nid)
	if err != nil || nid == id || j.State != "ask" {
		t.Fatalf("the new job %q: %+v %v", nid, j, err)
	}
	out.Reset()
	errb.Reset()
	if code := jobMain(ctx, []string{"redrive", nid}, env, nil, &out, &errb); code != exitFindings || !strings.Contains(errb.String(), "only a failed or quarantined job") {
		t.Fatalf("redrive of a waiting job: %d %s", code, errb.String())
	}
	if code := jobMain(ctx, []string{"redrive", id, "--input", `[1]`}, env, nil, &out, &errb); code != exitUsage {
		t.Fatalf("redrive --input [1]: %d", code)
	}
}
