package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/history"
	"github.com/avtomatika-ai/avtomatika-go/runtime/server"
	"github.com/avtomatika-ai/avtomatika-go/runtime/server/servertest"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
)

// blockedArchive is an archive whose Put waits until release is closed.
type blockedArchive struct {
	store.Archive
	release chan struct{}
}

func (b *blockedArchive) Put(ctx context.Context, jobs []store.EndedJob) error {
	select {
	case <-b.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return b.Archive.Put(ctx, jobs)
}

// With a history, the metrics count the ended jobs waiting for it; the
// series is absent without one.
func TestMetricsHistoryOutbox(t *testing.T) {
	h, err := history.Open(context.Background(), "sqlite:///"+filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	arch := &blockedArchive{Archive: h, release: make(chan struct{})}
	srv := servertest.Start(t, servertest.Options{Files: map[string]string{"ask.yaml": askBP}, History: arch})
	get := func(url string) map[string]float64 {
		t.Helper()
		return server.ScrapeMetrics(t, url)
	}
	if m := get(srv.URL); m["avtomatika_history_outbox_jobs"] != 0 {
		t.Fatalf("no job ended: outbox %v", m["avtomatika_history_outbox_jobs"])
	} else if _, ok := m["avtomatika_history_outbox_jobs"]; !ok {
		t.Fatal("a server with a history does not serve avtomatika_history_outbox_jobs")
	}
	post := func(path, body string) []byte {
		t.Helper()
		resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode/100 != 2 {
			t.Fatalf("POST %s: %d %s", path, resp.StatusCode, b)
		}
		return b
	}
	for range 2 {
		var job struct {
			JobID string `json:"job_id"`
		}
		if err := json.Unmarshal(post("/api/v1/jobs/ask", `{"initial_data":{}}`), &job); err != nil {
			t.Fatal(err)
		}
		post("/api/v1/jobs/"+job.JobID+"/approval", `{"decision":"approved"}`)
	}
	if n := get(srv.URL)["avtomatika_history_outbox_jobs"]; n != 2 {
		t.Fatalf("two jobs ended, the archive blocked: outbox %v, want 2", n)
	}
	close(arch.release)
	for deadline := time.Now().Add(20 * time.Second); get(srv.URL)["avtomatika_history_outbox_jobs"] != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the outbox did not empty once the archive took the jobs")
		}
	}

	plain := servertest.Start(t, servertest.Options{})
	if _, ok := server.ScrapeMetrics(t, plain.URL)["avtomatika_history_outbox_jobs"]; ok {
		t.Error("a server without a history serves avtomatika_history_outbox_jobs")
	}
}
