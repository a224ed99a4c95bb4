package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/sdk/client"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
	"github.com/avtomatika-ai/avtomatika-go/sdk/worker"
)

func benchBlueprint(name string) string {
	return fmt.Sprintf(`name: %[1]s
endpoint: /jobs/%[1]s
start: work
states:
  work:
    task:
      type: %[1]s
      timeout: 60s
    transitions:
      success: done
  done: {end: success}
`, name)
}

// benchDebounce is how soon after a task a bare worker heartbeats: the
// SDK's default HeartbeatDebounce.
const benchDebounce = 100 * time.Millisecond

// BenchmarkSDKOverhead compares the worker SDK's cost per task with a
// bare HTTP loop making the same calls against the same in-process
// orchestrator on loopback, in the same run. Metrics: bare-ns/task,
// sdk-ns/task and their ratio sdk/bare.
//
// Both sides do what PROTOCOL.md §6 requires of a worker, one task in
// flight: register, heartbeat at once, then per task a long poll and a
// signed result, and a heartbeat once HeartbeatDebounce (0.1 s) has
// passed since the last one (the SDK sends its debounced heartbeats from
// another goroutine, the bare loop between tasks). Each phase's clock
// starts before its worker starts (no connection open, not registered)
// and stops when the orchestrator has answered the phase's last result:
// start-up is counted on both sides, shutdown on neither. The SDK's end
// is seen by its HTTP transport (the one New would build, wrapped to
// note the n-th accepted result), not by a client watching the job,
// whose pauses would be counted as the SDK's. Both go offline after
// their clock stops, so each round starts unregistered; the phases take
// turns going first. Jobs are created before each phase's clock starts,
// and each phase's last job is checked to have finished after its clock
// stops.
func BenchmarkSDKOverhead(b *testing.B) {
	url := orchestratorWith(b, map[string]string{
		"bench_sdk.yaml": benchBlueprint("bench_sdk"), "bench_bare.yaml": benchBlueprint("bench_bare"),
	})
	c, err := client.New(url, client.Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	create := func(name string, n int) (last string) {
		for i := range n {
			id, err := c.Start(ctx, "/jobs/"+name, map[string]any{"i": i}, client.StartOptions{})
			if err != nil {
				b.Fatal(err)
			}
			last = id
		}
		return last
	}
	finished := func(id string) {
		if j, err := c.Wait(ctx, id); err != nil || j.Status != wire.StatusFinished {
			b.Fatalf("job %s: %+v %v", id, j, err)
		}
	}
	b.StopTimer()
	// The phases alternate in rounds, each going first in every other
	// round, so that load from elsewhere on the machine and the jobs the
	// store already holds fall on both alike.
	var bareTime, sdkTime time.Duration
	const rounds = 4
	for r := range rounds {
		n := b.N / rounds
		if r == rounds-1 {
			n = b.N - (rounds-1)*(b.N/rounds)
		}
		if n == 0 {
			continue
		}
		barePhase := func() {
			last := create("bench_bare", n)
			bareTime += bare(b, url, n)
			finished(last)
		}
		sdkPhase := func() {
			last := create("bench_sdk", n)
			sdkTime += sdkRound(b, url, n)
			finished(last)
		}
		if r%2 == 0 {
			barePhase()
			sdkPhase()
		} else {
			sdkPhase()
			barePhase()
		}
	}
	b.ReportMetric(float64(bareTime.Nanoseconds())/float64(b.N), "bare-ns/task")
	b.ReportMetric(float64(sdkTime.Nanoseconds())/float64(b.N), "sdk-ns/task")
	b.ReportMetric(float64(sdkTime)/float64(bareTime), "sdk/bare")
	b.ReportMetric(0, "ns/op")
}

// bare runs a bareWorker of its own client (like the SDK's: no
// connection open at the start) for n tasks, then sends it offline. It
// returns the time from before its first request to its n-th result
// answered.
func bare(b *testing.B, url string, n int) time.Duration {
	t0 := time.Now()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	w := &bareWorker{b: b, hc: &http.Client{Transport: tr}, url: url}
	w.run(n)
	took := time.Since(t0)
	// Leave, as the SDK does at shutdown, so the next round registers
	// afresh.
	w.heartbeat(wire.WorkerOffline)
	return took
}

// bareWorker is a minimal protocol worker of task type bench_bare.
type bareWorker struct {
	b   *testing.B
	hc  *http.Client
	url string
}

const bareID = "bench-bare"

// run registers and heartbeats, then n times takes a task and sends its
// signed result, heartbeating after a task when benchDebounce has passed
// since the last heartbeat.
func (w *bareWorker) run(n int) {
	w.send(http.MethodPost, wire.RouteRegister, wire.Registration{
		WorkerID: bareID, WorkerType: "bench", SupportedSkills: []wire.SkillInfo{{Name: "bench_bare"}}, Timestamp: wire.Now(),
	})
	beat := w.heartbeat(wire.WorkerIdle)
	for i := 0; i < n; {
		out := w.send(http.MethodGet, wire.RouteNext(bareID)+"?timeout=5", nil)
		if len(bytes.TrimSpace(out)) == 0 {
			continue
		}
		var task wire.Task
		if err := json.Unmarshal(out, &task); err != nil {
			w.b.Fatal(err)
		}
		w.send(http.MethodPost, wire.RouteResult, wire.Result{
			JobID: task.JobID, TaskID: task.TaskID, WorkerID: bareID, OriginWorkerID: bareID,
			Status: wire.ResultSuccess, Data: map[string]any{"ok": true}, Timestamp: wire.Now(),
		})
		i++
		if i < n && time.Since(beat) >= benchDebounce {
			beat = w.heartbeat(wire.WorkerIdle)
		}
	}
}

func (w *bareWorker) heartbeat(status wire.WorkerStatus) time.Time {
	w.send(http.MethodPatch, wire.RouteWorker(bareID), wire.Heartbeat{
		WorkerID: bareID, Status: status, CurrentTasks: []string{}, Timestamp: wire.Now(),
	})
	return time.Now()
}

// send makes one call, the body signed, and returns the answer's body.
func (w *bareWorker) send(method, path string, body any) []byte {
	b := w.b
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			b.Fatal(err)
		}
		sig, err := wire.Sign(token, raw, wire.KindMessage)
		if err != nil {
			b.Fatal(err)
		}
		sec, _ := json.Marshal(wire.Security{Signature: sig, SignerID: bareID})
		raw = append(append(raw[:len(raw)-1], `,"security":`...), append(sec, '}')...)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, w.url+path, rd)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set(wire.HeaderWorkerToken, token)
	req.Header.Set(wire.HeaderWorkerID, bareID)
	req.Header.Set(wire.HeaderVersion, wire.Version)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := w.hc.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		b.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, out)
	}
	return out
}

// sdkRound runs a worker until the orchestrator has accepted n results
// (one slot, a handler that returns at once) and returns the time from
// its start to the n-th result answered; the shutdown after is not
// counted.
func sdkRound(b *testing.B, url string, n int) time.Duration {
	// The transport New builds for one slot, wrapped to see the results.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 2*1 + 4
	defer tr.CloseIdleConnections()
	rt := &resultCounter{rt: tr, n: int64(n), done: make(chan time.Time, 1)}
	w, err := worker.New(worker.Config{
		WorkerID: "bench-sdk", Token: token, Logger: quiet(), MaxConcurrentTasks: 1,
		Orchestrators: []worker.Orchestrator{{URL: url}}, PollTimeout: 5 * time.Second, PayloadDir: b.TempDir(),
		HeartbeatDebounce: benchDebounce, HTTPClient: &http.Client{Transport: rt},
	})
	if err != nil {
		b.Fatal(err)
	}
	w.Handle("bench_sdk", func(ctx context.Context, task *worker.Task) (worker.Result, error) {
		return worker.Result{Data: map[string]any{"ok": true}}, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	t0 := time.Now()
	go func() { done <- w.Run(ctx) }()
	var took time.Duration
	select {
	case end := <-rt.done:
		took = end.Sub(t0)
	case err := <-done:
		b.Fatalf("Run returned early: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	return took
}

// resultCounter is a RoundTripper that sends the time on done when the
// n-th result has been answered with 2xx.
type resultCounter struct {
	rt   http.RoundTripper
	n    int64
	seen atomic.Int64
	done chan time.Time
}

func (r *resultCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.rt.RoundTrip(req)
	if err == nil && req.Method == http.MethodPost && req.URL.Path == wire.RouteResult &&
		resp.StatusCode >= 200 && resp.StatusCode < 300 && r.seen.Add(1) == r.n {
		r.done <- time.Now()
	}
	return resp, err
}

// BenchmarkSDKCPU measures the worker side alone: the SDK (one slot) and
// the bare worker of BenchmarkSDKOverhead against an in-memory
// orchestrator, an http.RoundTripper that hands out a task per poll and
// accepts every result at once. Without the server and loopback, ns/op
// and allocs/op are each worker's own cost per task.
func BenchmarkSDKCPU(b *testing.B) {
	b.Run("sdk", func(b *testing.B) {
		o := &memOrchestrator{n: int64(b.N), done: make(chan struct{})}
		w, err := worker.New(worker.Config{
			WorkerID: "bench-sdk", Token: token, Logger: quiet(), MaxConcurrentTasks: 1,
			Orchestrators: []worker.Orchestrator{{URL: "http://orchestrator.invalid"}}, PollTimeout: 5 * time.Second,
			PayloadDir: b.TempDir(), HeartbeatDebounce: benchDebounce, HTTPClient: &http.Client{Transport: o},
		})
		if err != nil {
			b.Fatal(err)
		}
		w.Handle("bench_sdk", func(ctx context.Context, task *worker.Task) (worker.Result, error) {
			return worker.Result{Data: map[string]any{"ok": true}}, nil
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		b.ReportAllocs()
		b.ResetTimer()
		go func() { done <- w.Run(ctx) }()
		select {
		case <-o.done:
		case err := <-done:
			b.Fatalf("Run returned early: %v", err)
		}
		b.StopTimer()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	})
	b.Run("bare", func(b *testing.B) {
		o := &memOrchestrator{n: int64(b.N), done: make(chan struct{})}
		w := &bareWorker{b: b, hc: &http.Client{Transport: o}, url: "http://orchestrator.invalid"}
		b.ReportAllocs()
		b.ResetTimer()
		w.run(b.N)
	})
}

// memOrchestrator answers worker calls in memory: n tasks, one per poll,
// then polls held until they are cancelled; every result is accepted and
// done is closed at the n-th.
type memOrchestrator struct {
	n        int64
	leased   atomic.Int64
	accepted atomic.Int64
	done     chan struct{}
}

func (o *memOrchestrator) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		_ = req.Body.Close()
	}
	answer := func(body string) (*http.Response, error) {
		return &http.Response{
			StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: req,
		}, nil
	}
	switch {
	case strings.HasSuffix(req.URL.Path, "/tasks/next"):
		i := o.leased.Add(1)
		if i > o.n {
			<-req.Context().Done()
			return nil, req.Context().Err()
		}
		typ := "bench_sdk"
		if req.Header.Get(wire.HeaderWorkerID) == bareID {
			typ = "bench_bare"
		}
		return answer(fmt.Sprintf(`{"job_id":"job-%[1]d","task_id":"task-%[1]d","type":%[2]q,"params":{"i":%[1]d},`+
			`"tracing_context":{},"priority":0,"deadline":1767229200,"metadata":{},"timestamp":1767225600}`, i, typ))
	case req.URL.Path == wire.RouteResult:
		if o.accepted.Add(1) == o.n {
			close(o.done)
		}
		return answer(`{"status":"accepted","transition":"success_transition"}`)
	default:
		return answer(`{"status":"ok"}`)
	}
}
