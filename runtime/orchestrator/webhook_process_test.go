package orchestrator_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/internal/proctest"
	"github.com/avtomatika-ai/avtomatika-go/internal/redistest"
)

// An instance is killed with SIGKILL while its webhook try is under way;
// a second instance on the same Redis tries again after the try's timeout
// and backoff, with the same Idempotency-Key, and records the delivery.
func TestWebhookSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the avtomatika binary")
	}
	var mu sync.Mutex
	var keys []string
	first := make(chan struct{})
	release := make(chan struct{})
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		n := len(keys)
		mu.Unlock()
		if n == 1 {
			close(first)
			<-release // the first try never gets its answer
			return
		}
		w.WriteHeader(200)
	}))
	defer recv.Close()
	defer close(release)

	srv := redistest.Start(t, redistest.Options{})
	prefix := srv.Fresh(t)
	bin := proctest.Build(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "quick.yaml"), []byte("name: quick\nendpoint: /jobs/quick\nstart: done\nstates:\n  done: {end: success}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"REDIS_URL=" + srv.URL, "REDIS_PREFIX=" + prefix, "WEBHOOK_TIMEOUT_SECONDS=1", "LOG_LEVEL=info"}
	a := proctest.Start(t, bin, dir, env...)
	resp, err := http.Post(a.URL+"/api/v1/jobs/quick", "application/json", strings.NewReader(`{"initial_data": {}, "webhook_url": "`+recv.URL+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	var acc struct {
		JobID string `json:"job_id"`
	}
	json.NewDecoder(resp.Body).Decode(&acc)
	resp.Body.Close()
	select {
	case <-first:
	case <-time.After(20 * time.Second):
		t.Fatalf("no webhook try: %s", a.Output())
	}
	a.Kill()
	b := proctest.Start(t, bin, dir, env...)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(b.URL + "/api/v1/jobs/" + acc.JobID + "/history")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), "webhook_delivered") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no delivery recorded after the kill: %s\n%s", body, b.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(keys) != 2 || keys[0] != keys[1] || keys[0] != acc.JobID+":job_finished" {
		t.Fatalf("tries with keys %v, want two with %s:job_finished", keys, acc.JobID)
	}
}
