package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// serveData runs `avtomatika serve --data data` on the blueprints of dir
// and returns its base URL and a stop function.
func serveData(t *testing.T, dir, data string) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	code := make(chan int, 1)
	go func() {
		defer pw.Close()
		code <- runServe(ctx, []string{"--blueprints", dir, "--addr", "127.0.0.1:0", "--env-file", filepath.Join(dir, "none.env"), "--data", data}, nil, pw, io.Discard)
	}()
	first := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			select {
			case first <- sc.Text():
			default:
			}
		}
	}()
	var line string
	select {
	case line = <-first:
	case c := <-code:
		t.Fatalf("serve exited %d", c)
	case <-time.After(20 * time.Second):
		t.Fatal("serve printed nothing")
	}
	m := regexp.MustCompile(`at (http://\S+)$`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("first line: %q", line)
	}
	return m[1], func() {
		cancel()
		if c := <-code; c != exitOK {
			t.Errorf("serve exited %d", c)
		}
	}
}

// With --data, a single node keeps its job history in one folder: a job
// that ended before a restart is still found after it.
func TestServeDataKeepsHistoryAcrossRestart(t *testing.T) {
	dir, data := t.TempDir(), filepath.Join(t.TempDir(), "node")
	if err := os.WriteFile(filepath.Join(dir, "approval_only.yaml"), []byte(approvalOnly), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HISTORY_DATABASE_URI", "")
	base, stop := serveData(t, dir, data)
	resp, err := http.Post(base+"/api/v1/jobs/approval_only", "application/json", strings.NewReader(`{"initial_data": {}}`))
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		JobID string `json:"job_id"`
	}
	json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	resp, err = http.Post(base+"/api/v1/jobs/"+created.JobID+"/approval", "application/json", strings.NewReader(`{"decision": "rejected"}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("reject: %v %v", resp, err)
	}
	resp.Body.Close()
	// The archiver works off the request path: wait for its commit.
	db, err := sql.Open("sqlite", filepath.Join(data, "history.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for deadline := time.Now().Add(20 * time.Second); ; {
		var n int
		if db.QueryRow(`SELECT count(*) FROM history_jobs WHERE id = ?`, created.JobID).Scan(&n); n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the ended job was not archived")
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()

	base, stop = serveData(t, dir, data)
	defer stop()
	resp, err = http.Get(base + "/api/v1/jobs/" + created.JobID)
	if err != nil {
		t.Fatal(err)
	}
	var view struct {
		Status string `json:"status"`
	}
	json.NewDecoder(resp.Body).Decode(&view)
	resp.Body.Close()
	if resp.StatusCode != 200 || view.Status != "failed" {
		t.Fatalf("after the restart: %d %+v", resp.StatusCode, view)
	}
	resp, err = http.Get(base + "/api/v1/jobs?status=failed")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), created.JobID) {
		t.Fatalf("the search after the restart misses the job: %s", b)
	}
}
