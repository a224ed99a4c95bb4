package server

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store/memstore"
)

// TestReadinessFlipsBeforeTheDrain: after SIGTERM readyz answers 503 at
// once while new jobs are still taken (READY_DELAY_SECONDS); healthz
// stays 200; then the drain refuses new jobs.
func TestReadinessFlipsBeforeTheDrain(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "retry.yaml"), []byte(retryBP), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.BlueprintsDir = dir
	cfg.GlobalWorkerToken = workerToken
	cfg.ReadyDelay = time.Minute
	srv, err := New(Options{Config: cfg, DrainDelay: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	l, cancel, done := runOn(t, srv, 30*time.Second)
	h := &harness{t: t, url: "http://" + l.Addr().String(), dir: dir, srv: srv}
	var ready map[string]any
	if code := h.do("GET", "/_public/readyz", nil, nil, &ready); code != 200 || ready["status"] != "ready" || ready["blueprints"] != float64(1) {
		t.Fatalf("readyz before: %d %v", code, ready)
	}
	cancel() // SIGTERM
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if code := h.do("GET", "/_public/readyz", nil, nil, &ready); code == http.StatusServiceUnavailable && ready["reason"] == "draining" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("readyz never said not ready")
		}
	}
	// Not ready, still working.
	if code := h.do("POST", "/api/v1/jobs/retry", nil, map[string]any{"initial_data": map[string]any{}}, nil); code != http.StatusAccepted {
		t.Errorf("a new job during the readiness delay: %d, want 202", code)
	}
	if code := h.do("GET", "/_public/healthz", nil, nil, nil); code != 200 {
		t.Errorf("healthz while not ready: %d", code)
	}
	srv.endDrainDelay() // ends the readiness delay, then the drain's
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the server did not stop")
	}
}

// An unreachable store makes the instance not ready.
func TestReadyzStoreUnreachable(t *testing.T) {
	t.Parallel()
	st := memstore.New(memstore.Options{})
	h := startOn(t, false, map[string]string{"retry.yaml": retryBP}, st, "")
	if code := h.do("GET", "/_public/readyz", nil, nil, nil); code != 200 {
		t.Fatalf("readyz: %d", code)
	}
	st.Close()
	var ready map[string]any
	if code := h.do("GET", "/_public/readyz", nil, nil, &ready); code != http.StatusServiceUnavailable || ready["reason"] != "store unreachable" {
		t.Fatalf("readyz with the store closed: %d %v", code, ready)
	}
}
