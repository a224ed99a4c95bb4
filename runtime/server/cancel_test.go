package server

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/avtomatika-ai/avtomatika-go/internal/redistest"
)

// TestCancelAcrossInstances: two servers on one Redis, each with a store
// of its own (two instances). The worker's WebSocket is on B; jobs are
// created and cancelled on A; the cancel_task reaches the worker through
// the store's pub/sub without any heartbeat. The latencies are logged.
func TestCancelAcrossInstances(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Options{})
	prefix := rs.Fresh(t)
	a := startOn(t, true, nil, redisStoreAt(t, rs.URL, prefix), "")
	b := startOn(t, true, nil, redisStoreAt(t, rs.URL, prefix), a.dir)
	w := b.worker("w1", "long_running_task")
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(b.url, "http")+"/_worker/ws/w1", http.Header{"X-Worker-Token": {workerToken}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const rounds = 40
	var lat []time.Duration
	for range rounds {
		id := a.create("/jobs/long_running", map[string]any{"duration_seconds": 60})
		p := w.mustPoll()
		if p.JobID != id {
			t.Fatalf("leased %s, created %s", p.JobID, id)
		}
		start := time.Now()
		if code := a.do("POST", "/api/v1/jobs/"+id+"/cancel", nil, nil, nil); code != 200 {
			t.Fatalf("cancel: %d", code)
		}
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		var cmd map[string]string
		if err := conn.ReadJSON(&cmd); err != nil {
			t.Fatalf("no cancel_task on the worker's socket: %v", err)
		}
		lat = append(lat, time.Since(start))
		if cmd["command"] != "cancel_task" || cmd["task_id"] != p.TaskID || cmd["job_id"] != id {
			t.Fatalf("ws command: %v, want cancel_task of %s/%s", cmd, id, p.TaskID)
		}
	}
	slices.Sort(lat)
	t.Logf("cancel on A to cancel_task on B's socket over %d rounds: p50 %v, p99 %v, max %v",
		rounds, lat[rounds/2], lat[rounds*99/100], lat[rounds-1])
	// The heartbeat stays the fallback: it still lists the last cancel.
	var hb map[string]any
	b.do("PATCH", "/_worker/workers/w1", b.wh("w1"), map[string]any{"worker_id": "w1", "status": "busy"}, &hb)
	if ids, _ := hb["cancel_task_ids"].([]any); len(ids) != rounds {
		t.Errorf("heartbeat cancel_task_ids: %d ids, want %d", len(ids), rounds)
	}
}
