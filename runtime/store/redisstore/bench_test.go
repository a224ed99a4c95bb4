package redisstore_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/avtomatika-ai/avtomatika-go/internal/redistest"
	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

func benchJob(id string) (*core.Job, *core.Task) {
	return &core.Job{ID: id, Blueprint: "bp", Version: "0123456789abcdef", State: "run", Status: wire.StatusWaitingForWorker,
			Client: core.Client{Name: "c"}, Input: map[string]any{"n": 1.0}, CreatedAt: t0, UpdatedAt: t0},
		&core.Task{ID: "t" + id, JobID: id, Type: "a", Attempt: 1, Timeout: time.Minute, Params: map[string]any{"x": "y"}, EnqueuedAt: t0}
}

// BenchmarkSingleTaskThroughput runs b.N single-task jobs with 50
// producers (create) and 50 pollers (long-poll lease, read, commit the
// result), the shape of the `single` workload at the store level.
func BenchmarkSingleTaskThroughput(b *testing.B) {
	const producers, pollers = 50, 50
	srv := redistest.Start(b, redistest.Options{})
	s := open(b, srv)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var finished atomic.Int64
	allDone := make(chan struct{})
	var wg sync.WaitGroup
	for i := range pollers {
		w := fmt.Sprint("w", i)
		wg.Go(func() {
			for ctx.Err() == nil {
				tk, err := s.Lease(ctx, store.LeaseParams{WorkerID: w, Types: []string{"a"}, Now: time.Now(), Wait: time.Hour})
				if err != nil || tk == nil {
					return
				}
				for {
					j, err := s.GetJob(ctx, tk.JobID)
					if err != nil {
						b.Error(err)
						return
					}
					j.Status = wire.StatusFinished
					_, err = s.CommitIfVersion(ctx, store.CommitParams{Job: j, ExpectRev: j.Rev,
						Complete: &store.TaskCompletion{TaskID: tk.ID, WorkerID: w}})
					if err == nil {
						break
					}
					b.Error(err)
					return
				}
				if finished.Add(1) == int64(b.N) {
					close(allDone)
				}
			}
		})
	}
	waitWaiting(b, s, pollers)
	trips := s.RoundTrips().Trips()
	b.ResetTimer()
	start := time.Now()
	var next atomic.Int64
	var pw sync.WaitGroup
	for range producers {
		pw.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				j, tk := benchJob(fmt.Sprint("j", i))
				if err := s.CreateJob(ctx, store.CommitParams{Job: j, Effects: &core.Effects{Enqueue: []*core.Task{tk}}}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	pw.Wait()
	select {
	case <-allDone:
	case <-time.After(5 * time.Minute):
		b.Fatalf("%d of %d jobs finished", finished.Load(), b.N)
	}
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "jobs/s")
	b.ReportMetric(float64(s.RoundTrips().Trips()-trips)/float64(b.N), "trips/job")
	cancel()
	wg.Wait()
}

// BenchmarkDispatchLatency measures the time from the start of CreateJob
// (one task) to a waiting poll returning it, with 50 idle pollers: the
// wake goes through Redis pub/sub.
func BenchmarkDispatchLatency(b *testing.B) {
	const pollers = 50
	srv := redistest.Start(b, redistest.Options{})
	s := open(b, srv)
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan time.Time, pollers)
	var wg sync.WaitGroup
	for i := range pollers {
		wg.Go(func() {
			for ctx.Err() == nil {
				tk, err := s.Lease(ctx, store.LeaseParams{WorkerID: fmt.Sprint("w", i), Types: []string{"a"}, Now: time.Now(), Wait: time.Hour})
				if err != nil {
					b.Error(err)
					return
				}
				if tk != nil {
					got <- time.Now()
				}
			}
		})
	}
	waitWaiting(b, s, pollers)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		j, tk := benchJob(fmt.Sprint("j", i))
		start := time.Now()
		if err := s.CreateJob(ctx, store.CommitParams{Job: j, Effects: &core.Effects{Enqueue: []*core.Task{tk}}}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, (<-got).Sub(start))
	}
	b.StopTimer()
	cancel()
	wg.Wait()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkMemory100k queues 100,000 single-task jobs with no worker and
// reports Redis used_memory per job (goal: <= 40 MB per 100,000).
func BenchmarkMemory100k(b *testing.B) {
	const jobs, producers = 100_000, 16
	for range b.N {
		b.StopTimer()
		srv := redistest.StartServer(b, redistest.Options{})
		s := open(b, srv)
		opt, _ := redis.ParseURL(srv.URL)
		c := redis.NewClient(opt)
		ctx := context.Background()
		before := usedMemory(b, c)
		b.StartTimer()
		var next atomic.Int64
		var wg sync.WaitGroup
		for range producers {
			wg.Go(func() {
				for {
					i := next.Add(1)
					if i > jobs {
						return
					}
					j, tk := benchJob(fmt.Sprintf("%016x", i))
					if err := s.CreateJob(ctx, store.CommitParams{Job: j, Effects: &core.Effects{Enqueue: []*core.Task{tk}}}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		b.StopTimer()
		after := usedMemory(b, c)
		c.Close()
		per := float64(after-before) / jobs
		b.ReportMetric(per, "redis-B/job")
		b.ReportMetric(per*100_000/1e6, "redis-MB/100k")
		s.Close()
		srv.Kill()
		b.StartTimer()
	}
}

func usedMemory(b testing.TB, c *redis.Client) int64 {
	info, err := c.Info(context.Background(), "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	b.Fatal("INFO memory without used_memory")
	return 0
}
