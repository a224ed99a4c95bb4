package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// startServe runs `avtomatika serve` in-process on a copy of the example
// blueprints and a free loopback port until ctx ends: the lines it prints
// and its exit code.
func startServe(ctx context.Context, t *testing.T) (<-chan string, <-chan int) {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("..", "..", "blueprints"))); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	code := make(chan int, 1)
	go func() {
		defer pw.Close()
		code <- runServe(ctx, []string{"--blueprints", dir, "--addr", "127.0.0.1:0", "--env-file", filepath.Join(dir, "none.env")}, nil, pw, io.Discard)
	}()
	lines := make(chan string, 16) // serve blocks on a full pipe: read ahead
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return lines, code
}

// TestServePrintsAWorkingCurlLine starts `avtomatika serve` on a free
// port, runs the curl line it prints (as an HTTP request) and stops it as
// SIGTERM would.
func TestServePrintsAWorkingCurlLine(t *testing.T) {
	t.Setenv("CLIENT_TOKEN", "tok")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lines, code := startServe(ctx, t)
	next := func() string {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("serve stopped printing")
			}
			return l
		case <-time.After(20 * time.Second):
			t.Fatal("serve printed nothing")
		}
		return ""
	}
	first := next()
	if !regexp.MustCompile(`^avtomatika serving 4 blueprint\(s\) from .* at http://127\.0\.0\.1:\d+$`).MatchString(first) {
		t.Fatalf("first line: %q", first)
	}
	curl := next()
	m := regexp.MustCompile(`^start a job:  curl -s -X POST (\S+) -H 'X-Client-Token: tok' -H 'Content-Type: application/json' -d '(.*)'$`).FindStringSubmatch(curl)
	if m == nil {
		t.Fatalf("curl line: %q", curl)
	}
	req, err := http.NewRequest("POST", m[1], strings.NewReader(m[2]))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Client-Token", "tok")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 202 {
		t.Fatalf("the printed curl line: %d %s (body %s)", resp.StatusCode, body, m[2])
	}
	if l := next(); !strings.HasPrefix(l, "blueprints:   curl -s http://127.0.0.1:") {
		t.Errorf("blueprints line: %q", l)
	}
	console := next()
	cm := regexp.MustCompile(`^console:      (http://127\.0\.0\.1:\d+/)$`).FindStringSubmatch(console)
	if cm == nil {
		t.Fatalf("console line: %q", console)
	}
	resp, err = http.Get(cm[1])
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "/console/assets/app.js") {
		t.Errorf("the printed console URL: %d %.200s", resp.StatusCode, page)
	}
	cancel()
	if l := next(); l != "avtomatika: drained and stopped" {
		t.Errorf("after the stop: %q", l)
	}
	if c := <-code; c != exitOK {
		t.Errorf("exit %d, want 0", c)
	}
}

func TestServeRefusesBadConfiguration(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		env, dotenv, want string
	}{
		{env: "API_PORT=http", want: `API_PORT="http": want an integer from 0 to 65535`},
		{env: "WORKER_POLL_TIMEOUT_SECONDS=-1", want: "WORKER_POLL_TIMEOUT_SECONDS"},
		{dotenv: "LOG_LEVEL=loud\n", want: `LOG_LEVEL="loud": want debug, info, warn or error`},
		{dotenv: "A=1\nnot a line\n", want: ".env:2: want KEY=VALUE"},
		{env: "CLIENTS_CONFIG_PATH=" + filepath.Join(dir, "clients.toml"), want: "clients.toml:1: acme.token: want a non-empty string"},
		{env: "WORKERS_CONFIG_PATH=" + filepath.Join(dir, "nope.toml"), want: "nope.toml"},
		{env: "BLUEPRINTS_DIR=" + filepath.Join(dir, "bad"), want: "x.yaml:1:1: yaml: did not find expected node content at the end of the file [yaml-syntax]"},
	} {
		if err := os.WriteFile(filepath.Join(dir, "clients.toml"), []byte("acme = {token = 1}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, "bad"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "bad", "x.yaml"), []byte("name: [\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		env := filepath.Join(dir, "test.env")
		if err := os.WriteFile(env, []byte(c.dotenv), 0o644); err != nil {
			t.Fatal(err)
		}
		if c.env != "" {
			k, v, _ := strings.Cut(c.env, "=")
			t.Setenv(k, v)
		}
		var stderr strings.Builder
		got := runServe(context.Background(), []string{"--env-file", env, "--addr", "127.0.0.1:0", "--blueprints", ""}, nil, io.Discard, &stderr)
		if got != exitUsage || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%s%s: exit %d, stderr:\n%s\nwant exit 2 and %q", c.env, c.dotenv, got, stderr.String(), c.want)
		}
		if c.env != "" {
			k, _, _ := strings.Cut(c.env, "=")
			os.Unsetenv(k)
		}
	}
}

// TestServeConsoleOff: with CONSOLE=off serve prints no console URL and
// the URL it would have printed answers 404.
func TestServeConsoleOff(t *testing.T) {
	t.Setenv("CONSOLE", "off")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lines, code := startServe(ctx, t)
	var got []string
	var base string
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("serve stopped printing after %q", got)
			}
			got = append(got, l)
			if m := regexp.MustCompile(`^blueprints:   curl -s (http://\S+)/api/v1/blueprints$`).FindStringSubmatch(l); m != nil {
				base = m[1]
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("serve printed %q, then nothing", got)
		}
		if base != "" {
			break
		}
	}
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("GET / with CONSOLE=off: %d, want 404", resp.StatusCode)
	}
	cancel()
	if l := <-lines; l != "avtomatika: drained and stopped" {
		t.Errorf("after the blueprints line: %q; want no console line", l)
	}
	if c := <-code; c != exitOK {
		t.Errorf("exit %d, want 0", c)
	}
}
