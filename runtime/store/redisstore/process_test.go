package redisstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/internal/proctest"
	"github.com/avtomatika-ai/avtomatika-go/internal/redistest"
)

const singleBlueprint = `name: single
endpoint: /jobs/single
start: work
states:
  work:
    task:
      type: noop
      timeout: 3s
      retries: 5
    transitions:
      success: done
      failure: failed
  done: {end: success}
  failed: {end: failure}
`

const procWorkerToken = "process-test-token"

// instance is one `avtomatika serve` process.
type instance struct {
	url  string
	cmd  *exec.Cmd
	done chan struct{}
}

func (in *instance) kill() {
	in.cmd.Process.Kill()
	<-in.done
}

func startInstance(t *testing.T, bin, dir, redisURL, prefix string) *instance {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "serve", "--blueprints", dir, "--addr", addr, "--env-file", filepath.Join(dir, "none.env"))
	cmd.Env = append(os.Environ(), "REDIS_URL="+redisURL, "REDIS_PREFIX="+prefix, "GLOBAL_WORKER_TOKEN="+procWorkerToken,
		"WORKER_POLL_TIMEOUT_SECONDS=1", "LOG_LEVEL=error")
	logf, err := os.Create(filepath.Join(t.TempDir(), "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in := &instance{url: "http://" + addr, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); logf.Close(); close(in.done) }()
	t.Cleanup(in.kill)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(in.url + "/_public/status")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return in
			}
		}
		select {
		case <-in.done:
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("avtomatika serve exited: %s", b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("avtomatika serve not ready after 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var httpc = &http.Client{Timeout: 10 * time.Second}

// call sends a JSON request; err is a transport error (the instance is
// gone), code the HTTP status.
func call(method, url string, hdr map[string]string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := httpc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		json.Unmarshal(b, out)
	}
	return resp.StatusCode, nil
}

// Two `avtomatika serve` processes on one Redis, workers on both; one
// instance is killed with SIGKILL mid-run. Every job whose creation was
// acknowledged finishes on the survivor.
func TestTwoServeProcessesOneKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the avtomatika binary")
	}
	srv := redistest.Start(t, redistest.Options{})
	prefix := srv.Fresh(t)
	bin := proctest.Build(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "single.yaml"), []byte(singleBlueprint), 0o644); err != nil {
		t.Fatal(err)
	}
	a := startInstance(t, bin, dir, srv.URL, prefix)
	b := startInstance(t, bin, dir, srv.URL, prefix)
	var aDead atomic.Bool
	pick := func(i int) string {
		if i%2 == 0 && !aDead.Load() {
			return a.url
		}
		return b.url
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for i := range 6 {
		id := fmt.Sprint("w", i)
		hdr := map[string]string{"X-Worker-Token": procWorkerToken, "X-Worker-ID": id}
		wg.Go(func() {
			base := ""
			register := func() {
				base = pick(i)
				call("POST", base+"/_worker/workers/register", hdr, map[string]any{"worker_id": id, "worker_type": "t",
					"supported_skills": []map[string]string{{"name": "noop"}}, "timestamp": time.Now().Unix()}, nil)
			}
			register()
			for ctx.Err() == nil {
				var p struct {
					JobID  string `json:"job_id"`
					TaskID string `json:"task_id"`
				}
				code, err := call("GET", base+"/_worker/workers/"+id+"/tasks/next?timeout=1", hdr, nil, &p)
				if err != nil {
					register() // the instance is gone: go to the other
					continue
				}
				if code != 200 {
					continue
				}
				body := map[string]any{"job_id": p.JobID, "task_id": p.TaskID, "worker_id": id, "status": "success", "data": map[string]any{}}
				for ctx.Err() == nil {
					if _, err := call("POST", base+"/_worker/tasks/result", hdr, body, nil); err == nil {
						break
					}
					register()
				}
			}
		})
	}

	const jobs = 400
	var created []string
	for i := range jobs {
		if i == jobs/3 {
			a.kill()
			aDead.Store(true)
		}
		var out map[string]string
		code, err := call("POST", pick(i)+"/api/v1/jobs/single", nil, map[string]any{"initial_data": map[string]any{"n": i}}, &out)
		if err != nil || code != 202 {
			// Not acknowledged: a client would retry; this one moves on.
			continue
		}
		created = append(created, out["job_id"])
	}
	if len(created) < jobs*9/10 {
		t.Fatalf("only %d of %d creations acknowledged", len(created), jobs)
	}
	deadline := time.Now().Add(60 * time.Second)
	for _, id := range created {
		for {
			var v struct {
				Status string `json:"status"`
			}
			code, err := call("GET", b.url+"/api/v1/jobs/"+id, nil, nil, &v)
			if err == nil && code == 200 && v.Status == "finished" {
				break
			}
			if err == nil && code == 200 && (v.Status == "failed" || v.Status == "cancelled") {
				t.Fatalf("job %s ended %s", id, v.Status)
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %s: status %q (http %d, %v) after 60s", id, v.Status, code, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	cancel()
	wg.Wait()
	t.Logf("%d jobs finished after instance A was killed at job %d", len(created), jobs/3)
}
