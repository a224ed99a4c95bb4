package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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

// BenchmarkSDKOverhead compares the worker SDK's cost per task with a
// bare HTTP loop making the same calls (signed poll and result, one task
// in flight) against the same in-process orchestrator on loopback, in
// the same run. Jobs are created before each phase's clock starts.
// Metrics: bare-ns/task, sdk-ns/task and their ratio.
func BenchmarkSDKOverhead(b *testing.B) {
	url := orchestratorWith(b, map[string]string{
		"bench_sdk.yaml": benchBlueprint("bench_sdk"), "bench_bare.yaml": benchBlueprint("bench_bare"),
	})
	c, err := client.New(url, client.Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	create := func(name string, n int) {
		for i := range n {
			if _, err := c.Start(ctx, "/jobs/"+name, map[string]any{"i": i}, client.StartOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	hc := &http.Client{}
	// The phases alternate in rounds so that load from elsewhere on the
	// machine falls on both alike.
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
		create("bench_bare", n)
		t0 := time.Now()
		bare(b, hc, url, n)
		bareTime += time.Since(t0)

		create("bench_sdk", n)
		sdkTime += sdkRound(b, c, url, n)
	}
	b.ReportMetric(float64(bareTime.Nanoseconds())/float64(b.N), "bare-ns/task")
	b.ReportMetric(float64(sdkTime.Nanoseconds())/float64(b.N), "sdk-ns/task")
	b.ReportMetric(float64(sdkTime)/float64(bareTime), "sdk/bare")
	b.ReportMetric(0, "ns/op")
}

// bare is a minimal protocol worker: register, then n times take a
// task and send its signed result.
func bare(b *testing.B, hc *http.Client, url string, n int) {
	const id = "bench-bare"
	send := func(method, path string, body any) []byte {
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
			sec, _ := json.Marshal(wire.Security{Signature: sig, SignerID: id})
			raw = append(append(raw[:len(raw)-1], `,"security":`...), append(sec, '}')...)
			rd = bytes.NewReader(raw)
		}
		req, err := http.NewRequest(method, url+path, rd)
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set(wire.HeaderWorkerToken, token)
		req.Header.Set(wire.HeaderWorkerID, id)
		req.Header.Set(wire.HeaderVersion, wire.Version)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := hc.Do(req)
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
	send(http.MethodPost, wire.RouteRegister, wire.Registration{
		WorkerID: id, WorkerType: "bench", SupportedSkills: []wire.SkillInfo{{Name: "bench_bare"}}, Timestamp: wire.Now(),
	})
	for i := 0; i < n; {
		out := send(http.MethodGet, wire.RouteNext(id)+"?timeout=5", nil)
		if len(bytes.TrimSpace(out)) == 0 {
			continue
		}
		var task wire.Task
		if err := json.Unmarshal(out, &task); err != nil {
			b.Fatal(err)
		}
		send(http.MethodPost, wire.RouteResult, wire.Result{
			JobID: task.JobID, TaskID: task.TaskID, WorkerID: id, OriginWorkerID: id,
			Status: wire.StatusSuccess, Data: map[string]any{"ok": true}, Timestamp: wire.Now(),
		})
		i++
	}
}

// sdkRound runs a worker until it has done n tasks (one slot, a handler
// that returns at once) and returns the time from its start to the last
// result accepted; the shutdown after is not counted.
func sdkRound(b *testing.B, c *client.Client, url string, n int) time.Duration {
	w, err := worker.New(worker.Config{
		WorkerID: "bench-sdk", Token: token, Logger: quiet(), MaxConcurrentTasks: 1,
		Orchestrators: []worker.Orchestrator{{URL: url}}, PollTimeout: 5 * time.Second, PayloadDir: b.TempDir(),
	})
	if err != nil {
		b.Fatal(err)
	}
	var handled atomic.Int64
	last := make(chan string, 1)
	w.Handle("bench_sdk", func(ctx context.Context, task *worker.Task) (worker.Result, error) {
		if handled.Add(1) == int64(n) {
			last <- task.JobID
		}
		return worker.Result{Data: map[string]any{"ok": true}}, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	t0 := time.Now()
	go func() { done <- w.Run(ctx) }()
	lastJob := <-last
	if j, err := c.Wait(context.Background(), lastJob); err != nil || j.Status != client.StatusFinished {
		b.Fatalf("last SDK job: %+v %v", j, err)
	}
	took := time.Since(t0)
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	return took
}
