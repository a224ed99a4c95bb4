package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A bad schedules.toml stops serve before it listens, naming file:line.
func TestServeRefusesBadSchedulesFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "quick.yaml"), []byte("name: quick\nstart: done\nstates:\n  done: {end: success}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "schedules.toml")
	if err := os.WriteFile(path, []byte("[nightly]\nblueprint = \"quick\"\ndaily_at = \"3am\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SCHEDULES_CONFIG_PATH", path)
	var out, errb bytes.Buffer
	code := runServe(context.Background(), []string{"--blueprints", dir, "--addr", "127.0.0.1:0", "--env-file", filepath.Join(dir, "none.env")}, nil, &out, &errb)
	if code != exitUsage || !strings.Contains(errb.String(), path+`:3: schedule "nightly": daily_at: "3am": want HH:MM`) {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
}

func TestScheduleCommand(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == "GET" && r.URL.Path == "/api/v1/schedules" && r.URL.Query().Get("next") == "2" && r.Header.Get("X-Client-Token") == "tok":
			w.Write([]byte(`{"schedules":[{"name":"nightly","blueprint":"report","trigger":"0 3 * * *","timezone":"UTC","overlap":"skip","paused":false,
				"next_fires":["2026-12-06T03:00:00Z","2026-12-07T03:00:00Z"],"last_job":{"job_id":"j-1","status":"finished"}}]}`))
		case r.Method == "POST" && r.URL.Path == "/api/v1/schedules/nightly/pause":
			w.Write([]byte(`{"name":"nightly","blueprint":"report","trigger":"0 3 * * *","timezone":"UTC","overlap":"skip","paused":true,"next_fires":[]}`))
		default:
			w.WriteHeader(404)
			w.Write([]byte(`{"error":{"code":"not_found","message":"no schedule \"x\""}}`))
		}
	}))
	defer srv.Close()
	env := func(k string) (string, bool) {
		return map[string]string{"AVTOMATIKA_URL": srv.URL, "CLIENT_TOKEN": "tok"}[k], true
	}
	var out, errb bytes.Buffer
	if code := scheduleMain(context.Background(), []string{"ls", "--next", "2"}, env, &out, &errb); code != exitOK {
		t.Fatalf("ls: %d %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "nightly") || !strings.Contains(out.String(), "2026-12-06T03:00:00Z,2026-12-07T03:00:00Z") || !strings.Contains(out.String(), "j-1 (finished)") {
		t.Fatalf("ls:\n%s", out.String())
	}
	out.Reset()
	if code := scheduleMain(context.Background(), []string{"pause", "nightly"}, env, &out, &errb); code != exitOK || !strings.Contains(out.String(), "paused") {
		t.Fatalf("pause: %d\n%s", code, out.String())
	}
	errb.Reset()
	if code := scheduleMain(context.Background(), []string{"resume", "x"}, env, &out, &errb); code != exitFindings || !strings.Contains(errb.String(), `no schedule "x"`) {
		t.Fatalf("resume unknown: %d %s", code, errb.String())
	}
	for _, args := range [][]string{{}, {"nope"}, {"pause"}, {"ls", "extra"}, {"ls", "--next", "500"}} {
		if code := scheduleMain(context.Background(), args, env, &out, &errb); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
}
