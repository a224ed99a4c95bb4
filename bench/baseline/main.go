// Command baseline runs the single, dispatch and mem100k shapes of
// `avtomatika bench` on github.com/hibiken/asynq against the same Redis,
// so the orchestrator's figures have a same-machine, same-run reference.
// It is a separate module: the orchestrator does not depend on asynq.
//
// asynq has no HTTP API: its client and server run in this process and a
// client learns of a finished task through an in-process channel, which is
// cheaper than the orchestrator's held GET over HTTP. The comparison is
// therefore favourable to asynq on the client side.
//
// It uses one Redis database (default 15) and removes only the keys it
// created (asynq:*) from it, before and after.
//
//	go run . [--redis-url URL] [--workload single|dispatch|mem100k|all] [--runs N]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/avtomatika-ai/avtomatika-go/internal/bench/pace"
)

// Record matches the fields of avtomatika bench's records that apply.
type Record struct {
	Workload      string  `json:"workload"`
	Store         string  `json:"store"`
	Run           int     `json:"run"`
	GOMAXPROCS    int     `json:"gomaxprocs"`
	GoVersion     string  `json:"go"`
	RedisVersion  string  `json:"redis"`
	Jobs          int     `json:"jobs"`
	Seconds       float64 `json:"seconds"`
	JobsPerSec    float64 `json:"jobs_per_s"`
	RedisCmdsJob  float64 `json:"redis_commands_per_job"`
	RedisTripsJob float64 `json:"redis_round_trips_per_job"`
	CPUMicrosJob  float64 `json:"process_cpu_us_per_job"`
	P50ms         float64 `json:"p50_ms,omitempty"`
	P99ms         float64 `json:"p99_ms,omitempty"`
	P999ms        float64 `json:"p999_ms,omitempty"`
	RedisBytesJob float64 `json:"redis_bytes_per_job,omitempty"`
	DrainPerSec   float64 `json:"drain_jobs_per_s,omitempty"`
}

// counter is a go-redis hook counting round trips and commands.
type counter struct{ trips, cmds atomic.Int64 }

func (c *counter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.trips.Add(1)
		c.cmds.Add(1)
		return next(ctx, cmd)
	}
}
func (c *counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.trips.Add(1)
		c.cmds.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

type bench struct {
	rdb     *redis.Client
	cnt     *counter
	version string
	jobs    int
	rate    int
	queued  int
	clients int
	workers int
	check   time.Duration // asynq's TaskCheckInterval; 0: its default (1 s)
	store   string        // "asynq", or "asynq-<interval>" with check set
}

func main() {
	url := flag.String("redis-url", "redis://127.0.0.1:6379/15", "Redis (a database the baseline may fill with asynq:* keys)")
	workload := flag.String("workload", "all", "single, dispatch, mem100k or all")
	runs := flag.Int("runs", 3, "measured runs per workload, after one warm-up")
	b := bench{}
	flag.IntVar(&b.jobs, "jobs", 5000, "single: jobs per run")
	flag.IntVar(&b.rate, "rate", 500, "dispatch: jobs per second")
	flag.IntVar(&b.queued, "queued", 100000, "mem100k: jobs queued with no workers")
	flag.IntVar(&b.clients, "clients", 50, "single: closed-loop clients")
	flag.IntVar(&b.workers, "workers", 50, "worker concurrency")
	flag.DurationVar(&b.check, "check-interval", 0, "asynq's TaskCheckInterval, how long an idle processor sleeps between looks at empty queues (0: asynq's default, 1 s)")
	flag.Parse()
	b.store = "asynq"
	if b.check > 0 {
		b.store = "asynq-" + b.check.String()
	}
	opt, err := redis.ParseURL(*url)
	if err != nil {
		fmt.Fprintf(os.Stderr, "baseline: --redis-url: %v\n", err)
		os.Exit(2)
	}
	b.cnt = &counter{}
	b.rdb = redis.NewClient(opt)
	b.rdb.AddHook(b.cnt)
	defer b.rdb.Close()
	ctx := context.Background()
	info, err := b.rdb.Info(ctx, "server").Result()
	if err != nil {
		fmt.Fprintf(os.Stderr, "baseline: redis at %s: %v\n", *url, err)
		os.Exit(1)
	}
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "redis_version:"); ok {
			b.version = v
		}
	}
	ws := []string{"single", "dispatch", "mem100k"}
	if *workload != "all" {
		ws = []string{*workload}
	}
	enc := json.NewEncoder(os.Stdout)
	for _, w := range ws {
		var recs []Record
		for i := 0; i <= *runs; i++ {
			b.clean(ctx)
			r, err := b.run(ctx, w, i)
			b.clean(ctx)
			if err != nil {
				fmt.Fprintf(os.Stderr, "baseline: %s run %d: %v\n", w, i, err)
				os.Exit(1)
			}
			if i > 0 {
				_ = enc.Encode(r)
				recs = append(recs, r)
			}
		}
		slices.SortFunc(recs, func(a, b Record) int {
			if w == "dispatch" {
				return cmpf(a.P50ms, b.P50ms)
			}
			return cmpf(a.JobsPerSec, b.JobsPerSec)
		})
		_ = enc.Encode(map[string]any{"workload": w, "store": b.store, "runs": len(recs), "median": recs[len(recs)/2],
			"range": fmt.Sprintf("%.4g–%.4g jobs/s", recs[0].JobsPerSec, recs[len(recs)-1].JobsPerSec)})
	}
}

func cmpf(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// clean removes asynq's keys from the baseline's database only.
func (b *bench) clean(ctx context.Context) {
	it := b.rdb.Scan(ctx, 0, "asynq:*", 1000).Iterator()
	var batch []string
	for it.Next(ctx) {
		batch = append(batch, it.Val())
		if len(batch) == 500 {
			b.rdb.Unlink(ctx, batch...)
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		b.rdb.Unlink(ctx, batch...)
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (b *bench) usedMemory(ctx context.Context) int64 {
	info, _ := b.rdb.Info(ctx, "memory").Result()
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// waiters routes a finished task's id to the client waiting for it.
type waiters struct {
	mu sync.Mutex
	m  map[string]chan struct{}
}

func (w *waiters) add(id string) chan struct{} {
	ch := make(chan struct{})
	w.mu.Lock()
	w.m[id] = ch
	w.mu.Unlock()
	return ch
}

func (w *waiters) done(id string) {
	w.mu.Lock()
	ch := w.m[id]
	delete(w.m, id)
	w.mu.Unlock()
	if ch != nil {
		close(ch)
	}
}

func (b *bench) run(ctx context.Context, workload string, run int) (Record, error) {
	rec := Record{Workload: workload, Store: b.store, Run: run, GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(), RedisVersion: b.version}
	client := asynq.NewClientFromRedisClient(b.rdb)
	wt := &waiters{m: map[string]chan struct{}{}}
	var lat pace.Latencies
	var handled atomic.Int64
	handler := asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		if workload == "dispatch" {
			lat.Seen(id, time.Now())
		}
		handled.Add(1)
		wt.done(id)
		return nil
	})
	newServer := func() *asynq.Server {
		return asynq.NewServerFromRedisClient(b.rdb, asynq.Config{Concurrency: b.workers, LogLevel: asynq.ErrorLevel, TaskCheckInterval: b.check})
	}
	var srv *asynq.Server
	if workload != "mem100k" {
		srv = newServer()
		if err := srv.Start(handler); err != nil {
			return rec, err
		}
		time.Sleep(100 * time.Millisecond) // let the processors park on the queue
	}
	stop := func() {
		if srv != nil {
			srv.Shutdown()
			srv = nil
		}
	}
	defer stop()
	cpu0 := cpuTime()
	trips0, cmds0 := b.cnt.trips.Load(), b.cnt.cmds.Load()
	t0 := time.Now()
	jobs := 0
	switch workload {
	case "single":
		jobs = b.jobs
		var left atomic.Int64
		left.Store(int64(jobs))
		errc := make(chan error, b.clients)
		var wg sync.WaitGroup
		for range b.clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for left.Add(-1) >= 0 {
					id := fmt.Sprintf("s%d-%d", run, left.Load())
					id = id + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
					ch := wt.add(id)
					if _, err := client.EnqueueContext(ctx, asynq.NewTask("noop", nil), asynq.TaskID(id), asynq.MaxRetry(0)); err != nil {
						errc <- err
						return
					}
					select {
					case <-ch:
					case <-time.After(30 * time.Second):
						errc <- fmt.Errorf("task %s not done after 30 s", id)
						return
					}
				}
			}()
		}
		wg.Wait()
		select {
		case err := <-errc:
			return rec, err
		default:
		}
	case "dispatch":
		jobs = max(b.rate*2, 100)
		interval := time.Second / time.Duration(b.rate)
		var cw sync.WaitGroup
		for i := range jobs {
			at := t0.Add(time.Duration(i) * interval)
			pace.Until(at)
			cw.Add(1)
			go func() {
				defer cw.Done()
				id := fmt.Sprintf("d%d-%d-%d", run, i, t0.UnixNano())
				if _, err := client.EnqueueContext(ctx, asynq.NewTask("noop", nil), asynq.TaskID(id), asynq.MaxRetry(0)); err != nil {
					return
				}
				lat.Sent(id, at)
			}()
		}
		cw.Wait()
		for deadline := time.Now().Add(30 * time.Second); handled.Load() < int64(jobs) && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
	case "mem100k":
		jobs = b.queued
		mem0 := b.usedMemory(ctx)
		var next atomic.Int64
		var wg sync.WaitGroup
		for range b.clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(jobs) {
					_, _ = client.EnqueueContext(ctx, asynq.NewTask("noop", nil), asynq.MaxRetry(0))
				}
			}()
		}
		wg.Wait()
		rec.RedisBytesJob = float64(b.usedMemory(ctx)-mem0) / float64(jobs)
		d0 := time.Now()
		srv = newServer()
		if err := srv.Start(handler); err != nil {
			return rec, err
		}
		for deadline := time.Now().Add(10 * time.Minute); handled.Load() < int64(jobs) && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		rec.DrainPerSec = float64(handled.Load()) / time.Since(d0).Seconds()
	default:
		return rec, fmt.Errorf("unknown workload %q", workload)
	}
	el := time.Since(t0)
	cpu := cpuTime() - cpu0
	trips, cmds := b.cnt.trips.Load()-trips0, b.cnt.cmds.Load()-cmds0
	stop()
	_ = client.Close()
	rec.Jobs = jobs
	rec.Seconds = el.Seconds()
	rec.JobsPerSec = float64(jobs) / el.Seconds()
	rec.RedisTripsJob = float64(trips) / float64(jobs)
	rec.RedisCmdsJob = float64(cmds) / float64(jobs)
	rec.CPUMicrosJob = float64(cpu.Microseconds()) / float64(jobs)
	rec.P50ms, rec.P99ms, rec.P999ms = lat.Quantiles()
	return rec, nil
}
