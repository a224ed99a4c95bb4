package server

import (
	"context"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/internal/redistest"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store/redisstore"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// createAndWait posts a job with ?wait and sends the answer's status code
// and view on the channel.
func (h *harness) createAndWait(endpoint, wait string) <-chan createAnswer {
	ch := make(chan createAnswer, 1)
	go func() {
		var a createAnswer
		a.code = h.do("POST", "/api/v1"+endpoint+"?wait="+wait, nil, map[string]any{"initial_data": map[string]any{}}, &a.view)
		ch <- a
	}()
	return ch
}

type createAnswer struct {
	code int
	view wire.JobView
}

func (a createAnswer) must(t *testing.T, code int, status wire.JobStatus) wire.JobView {
	t.Helper()
	if a.code != code || a.view.Status != status || a.view.ID == "" || a.view.JobID != a.view.ID {
		t.Fatalf("create and wait: %d %+v, want %d with status %s and the job id", a.code, a.view, code, status)
	}
	return a.view
}

func recv(t *testing.T, ch <-chan createAnswer) createAnswer {
	t.Helper()
	select {
	case a := <-ch:
		return a
	case <-time.After(20 * time.Second):
		t.Fatal("create and wait: no answer")
		return createAnswer{}
	}
}

// TestCreateAndWait: POST with ?wait holds the creation until the job
// ends (200 with the ended job) or the time is up (202 with the job as it
// stands, which goes on), and refuses a bad wait before creating anything.
func TestCreateAndWait(t *testing.T) {
	t.Parallel()
	h := start(t, false, map[string]string{"retry.yaml": retryBP})
	w := h.worker("w1", "flaky")

	ch := h.createAndWait("/jobs/retry", "10")
	p := w.mustPoll()
	w.result(p, "success", map[string]any{"n": 1}, "")
	v := recv(t, ch).must(t, 200, wire.StatusFinished)
	if v.ID != p.JobID || v.State != "done" || v.Result == nil || v.FinishedAt == 0 {
		t.Errorf("ended job: %+v (task of job %s)", v, p.JobID)
	}

	// A failure ends the job too: 200 with the failed job.
	ch = h.createAndWait("/jobs/retry", "10")
	p = w.mustPoll()
	w.result(p, "failure", nil, "INVALID_INPUT_ERROR")
	recv(t, ch).must(t, 200, wire.StatusFailed)

	// Not ended in time: 202 with the job as it stands; it goes on.
	v = recv(t, h.createAndWait("/jobs/retry", "0.2")).must(t, 202, wire.StatusWaitingForWorker)
	p = w.mustPoll()
	if p.JobID != v.ID {
		t.Fatalf("task of job %s, want %s", p.JobID, v.ID)
	}
	w.result(p, "success", nil, "")
	h.waitStatus(v.ID, wire.StatusFinished)

	// A bad wait is 400 and creates nothing.
	var jobs []wire.JobView
	h.do("GET", "/api/v1/jobs", nil, nil, &jobs)
	for _, bad := range []string{"x", "-1", "61", "NaN"} {
		var e map[string]map[string]any
		if code := h.do("POST", "/api/v1/jobs/retry?wait="+bad, nil, map[string]any{}, &e); code != 400 || e["error"]["code"] != "invalid_query" {
			t.Errorf("wait=%s: %d %v", bad, code, e)
		}
	}
	var after []wire.JobView
	h.do("GET", "/api/v1/jobs", nil, nil, &after)
	if len(after) != len(jobs) {
		t.Errorf("bad waits created jobs: %d before, %d after", len(jobs), len(after))
	}
	if p := w.poll(0.1); p != nil {
		t.Errorf("a bad wait queued a task: %+v", p)
	}
}

// TestCreateAndWaitTwoInstances: the job is created and waited for on one
// instance and ended on another; the held creation sees the end.
func TestCreateAndWaitTwoInstances(t *testing.T) {
	t.Parallel()
	st := redisStore(t)
	a := startOn(t, false, map[string]string{"retry.yaml": retryBP}, st, "")
	b := startOn(t, false, nil, st, a.dir)
	w := b.worker("w1", "flaky")
	ch := a.createAndWait("/jobs/retry", "20")
	p := w.mustPoll()
	w.result(p, "success", nil, "")
	if v := recv(t, ch).must(t, 200, wire.StatusFinished); v.ID != p.JobID {
		t.Errorf("job %s, task of %s", v.ID, p.JobID)
	}
}

// TestRedisRoundTripsCreateAndWait: a single-task job whose client creates
// it and waits in one request costs create, lease and result: the client's
// wait reads nothing from Redis.
func TestRedisRoundTripsCreateAndWait(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{})
	prefix := srv.Fresh(t)
	st := redisStoreAt(t, srv.URL, prefix).(*redisstore.Store)
	// A second client of the same data watches the queue; its commands
	// are not counted.
	watch := redisStoreAt(t, srv.URL, prefix)
	h := startOn(t, false, map[string]string{"retry.yaml": retryBP}, st, "")
	w := h.worker("w1", "flaky")
	const n = 50
	var trips float64
	for range n {
		before := st.RoundTrips().Trips()
		ch := h.createAndWait("/jobs/retry", "10")
		// Poll once the task is queued, as the hot path's worker does
		// (a poll that waits first costs one lease more).
		for {
			s, err := watch.Stats(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if s.Queued == 1 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		w.result(w.mustPoll(), "success", nil, "")
		recv(t, ch).must(t, 200, wire.StatusFinished)
		trips += float64(st.RoundTrips().Trips() - before)
	}
	trips /= n
	t.Logf("%.2f Redis round trips per single-task job with the client's wait", trips)
	// Background loops (lease reclaim, worker expiry) add a little; a read
	// of the job per wait would add one per job.
	if trips > 3.5 {
		t.Errorf("%.2f round trips per job, want 3 (create, lease, result)", trips)
	}
}
