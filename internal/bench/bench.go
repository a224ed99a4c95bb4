// Package bench measures an orchestrator through its public HTTP API only:
// built-in client and worker simulators drive a server started in-process
// (memory or Redis store) or one at a URL. Each run yields a Record; a
// workload's runs end with their median and range.
//
// Workloads:
//   - single: single-task jobs, closed loop: 50 clients create then wait
//     (one request: POST ?wait holds the creation until the job ends),
//     50 no-op workers.
//   - linear10: ten sequential tasks per job; reports per-step overhead.
//   - fanout100: one job fans out 100 parallel tasks (and 1,000 with
//     Sizes) and aggregates; reports the time per job.
//   - dispatch: open loop at a fixed rate with 50 idle pollers; latency
//     from each create's scheduled send time to the worker holding the
//     task, so a stall is not hidden.
//   - idle10k: 10,000 idle workers long-polling (with heartbeats) while
//     single jobs arrive open loop at 1,000/s: RSS, goroutines, idle CPU
//     and the single rate and latency beside them, against the same open
//     loop without them earlier in the run.
//   - mem100k: 100,000 jobs queued with no workers (heap bytes per job
//     after GC, Redis used_memory per job), then drained by 50 workers.
package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/internal/bench/pace"
	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/history"
	"github.com/avtomatika-ai/avtomatika-go/runtime/server"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store/redisstore"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// Workloads are the names Run knows, in the order "all" runs them.
var Workloads = []string{"single", "linear10", "fanout100", "dispatch", "idle10k", "mem100k"}

// Options shape a benchmark. Zero values take the defaults.
type Options struct {
	Store    string // memory (default) or redis
	RedisURL string // for Store redis; default redis://127.0.0.1:6379/0
	URL      string // a running server instead of an in-process one
	Token    string // its worker token (GLOBAL_WORKER_TOKEN)
	Clients  int    // default 50
	Workers  int    // default 50
	Jobs     int    // jobs per run of single; others scale from it; default 5,000
	Rate     int    // dispatch: jobs/s; default 500
	Duration time.Duration
	Idle     int // idle10k: idle workers; default 10,000 (bounded by the file limit)
	Queued   int // mem100k: queued jobs; default 100,000
	// History turns the in-process server's history on: "sqlite" (a
	// fresh file per run) or a HISTORY_DATABASE_URI; "" leaves it off.
	// Ended jobs are then archived as they end (JOB_RETENTION 1h, the
	// default), and a run's CPU per job counts the archiving of all its
	// jobs: the run ends when the archive holds them.
	History string
	// ArchiveBacklog, when set, is the in-process server's
	// HISTORY_ARCHIVE_BACKLOG (0: the archiver never yields).
	ArchiveBacklog *int
	Progress       io.Writer // a progress line while it runs; nil: none
	// IdleCommand, when set, runs idle10k's idle workers in another
	// process (see IdleWorkers): the server's RSS and CPU are then its
	// own, and the open-file limit holds the server's connections only.
	// It returns the command for n workers against url with token.
	IdleCommand func(url, token string, n int) *exec.Cmd
}

func (o *Options) defaults() {
	if o.Store == "" {
		o.Store = "memory"
	}
	if o.RedisURL == "" {
		o.RedisURL = "redis://127.0.0.1:6379/0"
	}
	if o.Token == "" {
		o.Token = "bench-worker-token"
	}
	if o.Clients <= 0 {
		o.Clients = 50
	}
	if o.Workers <= 0 {
		o.Workers = 50
	}
	if o.Jobs <= 0 {
		o.Jobs = 5000
	}
	if o.Rate <= 0 {
		o.Rate = 500
	}
	if o.Idle <= 0 {
		o.Idle = 10000
	}
	if o.Queued <= 0 {
		o.Queued = 100000
	}
}

// Record is one run's figures (one JSON line).
type Record struct {
	Workload      string  `json:"workload"`
	Store         string  `json:"store"`
	Run           int     `json:"run"`
	GOMAXPROCS    int     `json:"gomaxprocs"`
	CPU           string  `json:"cpu"`
	GoVersion     string  `json:"go"`
	RedisVersion  string  `json:"redis,omitempty"`
	History       string  `json:"history,omitempty"`
	Jobs          int     `json:"jobs"`
	Seconds       float64 `json:"seconds"`
	JobsPerSec    float64 `json:"jobs_per_s"`
	TasksPerSec   float64 `json:"tasks_per_s"`
	RequestsPerS  float64 `json:"http_requests_per_s"`
	RedisCmdsJob  float64 `json:"redis_commands_per_job,omitempty"`
	RedisTripsJob float64 `json:"redis_round_trips_per_job,omitempty"`
	CPUMicrosJob  float64 `json:"server_cpu_us_per_job"`
	// RedisCPUMicrosJob is the Redis server's CPU per job (INFO cpu; it
	// counts other clients of the same server too).
	RedisCPUMicrosJob float64 `json:"redis_cpu_us_per_job,omitempty"`
	P50ms             float64 `json:"p50_ms,omitempty"`
	P99ms             float64 `json:"p99_ms,omitempty"`
	P999ms            float64 `json:"p999_ms,omitempty"`
	StepMicros        float64 `json:"per_step_us,omitempty"`
	JobMillis         float64 `json:"ms_per_job,omitempty"`
	IdleWorkers       int     `json:"idle_workers,omitempty"`
	RSSBytes          int64   `json:"rss_bytes,omitempty"`
	Goroutines        int     `json:"goroutines,omitempty"`
	IdleCPUPct        float64 `json:"idle_cpu_percent,omitempty"`
	// idle10k: the same open loop at 1,000 jobs/s without the idle
	// workers, run first; DropPct is how much lower the job rate is
	// beside them (negative: higher).
	AloneJobsPerSec float64 `json:"alone_jobs_per_s,omitempty"`
	AloneP50ms      float64 `json:"alone_p50_ms,omitempty"`
	AloneP99ms      float64 `json:"alone_p99_ms,omitempty"`
	DropPct         float64 `json:"drop_percent,omitempty"`
	HeapBytesJob    float64 `json:"heap_bytes_per_queued_job,omitempty"`
	RedisBytesJob   float64 `json:"redis_bytes_per_queued_job,omitempty"`
	DrainPerSec     float64 `json:"drain_jobs_per_s,omitempty"`
}

const blueprints = `name: single
endpoint: /jobs/single
start: work
states:
  work: {task: {type: noop}, transitions: {success: done}}
  done: {end: success}
---
name: linear10
endpoint: /jobs/linear10
start: s1
states:
  s1:  {task: {type: noop}, transitions: {success: s2}}
  s2:  {task: {type: noop}, transitions: {success: s3}}
  s3:  {task: {type: noop}, transitions: {success: s4}}
  s4:  {task: {type: noop}, transitions: {success: s5}}
  s5:  {task: {type: noop}, transitions: {success: s6}}
  s6:  {task: {type: noop}, transitions: {success: s7}}
  s7:  {task: {type: noop}, transitions: {success: s8}}
  s8:  {task: {type: noop}, transitions: {success: s9}}
  s9:  {task: {type: noop}, transitions: {success: s10}}
  s10: {task: {type: noop}, transitions: {success: done}}
  done: {end: success}
---
name: fanout
endpoint: /jobs/fanout
start: fan
states:
  fan:
    parallel:
      for_each: ${{ list(range(input.n)) }}
      as: i
      task: {type: noop, params: {i: "${{ i }}"}}
    transitions: {success: done, failure: failed}
  done: {end: success}
  failed: {end: failure}
`

// target is a server under test.
type target struct {
	url      string
	trips    *redisstore.RoundTrips
	redis    string // its version
	redisURL string
	stop     func()
	hc       *http.Client
	reqs     atomic.Int64
	token    string
	prefix   string
	hist     *history.DB
}

// start serves the bench blueprints in-process on a fresh key prefix.
func start(ctx context.Context, o Options) (*target, error) {
	t := &target{hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024}}, token: o.Token}
	if o.URL != "" {
		t.url = strings.TrimRight(o.URL, "/")
		t.stop = func() {}
		return t, nil
	}
	dir, err := os.MkdirTemp("", "avtomatika-bench-")
	if err != nil {
		return nil, err
	}
	for i, doc := range strings.Split(blueprints, "---\n") {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("b%d.yaml", i)), []byte(doc), 0o644); err != nil {
			return nil, err
		}
	}
	cfg := config.Default()
	cfg.BlueprintsDir = dir
	cfg.GlobalWorkerToken = o.Token
	if o.ArchiveBacklog != nil {
		cfg.ArchiveBacklog = *o.ArchiveBacklog
	}
	// The server's default poll hold (30 s): idle workers' polls are held
	// as long as they ask, and a drain answers waiting polls at once.
	var st store.Store
	var rs *redisstore.Store
	if o.Store == "redis" {
		t.prefix = "avtbench" + fmt.Sprint(time.Now().UnixNano())
		rs, err = redisstore.Open(ctx, redisstore.Config{URL: o.RedisURL, Prefix: t.prefix})
		if err != nil {
			return nil, fmt.Errorf("redis at %s: %w", o.RedisURL, err)
		}
		st, t.trips = rs, rs.RoundTrips()
		t.redis, t.redisURL = redisVersion(ctx, o.RedisURL), o.RedisURL
	}
	var arch store.Archive
	if o.History != "" {
		uri := o.History
		if uri == "sqlite" {
			uri = "sqlite:///" + filepath.Join(dir, "history.db")
		}
		if t.hist, err = history.Open(ctx, uri); err != nil {
			return nil, err
		}
		arch = t.hist
	}
	srv, err := server.New(server.Options{Config: cfg, Store: st, History: arch})
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.Run(rctx, l, 5*time.Second); close(done) }()
	t.url = "http://" + l.Addr().String()
	t.stop = func() {
		// The simulators' idle connections, some dialled for a request
		// that was cancelled and never sent: the server's stop would wait
		// for those to its grace's end.
		t.hc.CloseIdleConnections()
		cancel()
		<-done
		if t.hist != nil {
			t.hist.Close()
		}
		if t.prefix != "" {
			cleanRedis(o.RedisURL, t.prefix)
		}
		os.RemoveAll(dir)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		if resp, err := t.hc.Get(t.url + "/_public/status"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.stop()
			return nil, errors.New("the in-process server did not start")
		}
	}
	return t, nil
}

// archivedCount is how many jobs the history holds (0 without one).
func (t *target) archivedCount(ctx context.Context) (int, error) {
	if t.hist == nil {
		return 0, nil
	}
	var n int
	if err := t.hist.SQL().QueryRowContext(ctx, `SELECT count(*) FROM history_jobs`).Scan(&n); err != nil {
		return 0, fmt.Errorf("history: %w", err)
	}
	return n, nil
}

// archived waits until the history holds n jobs (a minute at most).
func (t *target) archived(ctx context.Context, n int) error {
	deadline := time.Now().Add(time.Minute)
	for {
		have, err := t.archivedCount(ctx)
		if err != nil || have >= n {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("history: %d of %d jobs archived after a minute", have, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (t *target) do(ctx context.Context, method, path string, body []byte, worker string, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, t.url+path, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if worker != "" {
		req.Header.Set("X-Worker-Token", t.token)
		req.Header.Set("X-Worker-ID", worker)
	}
	t.reqs.Add(1)
	resp, err := t.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode/100 == 2 && resp.StatusCode != 204 {
		err = json.NewDecoder(resp.Body).Decode(out)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// workers runs n no-op workers until ctx ends; seen (may be nil) hears of
// each task as it is leased.
func (t *target) workers(ctx context.Context, n int, seen func(jobID string)) (*sync.WaitGroup, error) {
	var wg sync.WaitGroup
	for i := range n {
		id := fmt.Sprintf("bench-w%d", i)
		if code, err := t.do(ctx, "POST", "/_worker/workers/register", []byte(`{"worker_id":"`+id+`","supported_skills":[{"name":"noop"}]}`), id, nil); code != 200 {
			return nil, fmt.Errorf("register a worker: %d %v", code, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				var task struct {
					JobID  string `json:"job_id"`
					TaskID string `json:"task_id"`
				}
				code, err := t.do(ctx, "GET", "/_worker/workers/"+id+"/tasks/next?timeout=1", nil, id, &task)
				if err != nil || code != 200 {
					continue
				}
				if seen != nil {
					seen(task.JobID)
				}
				res, _ := json.Marshal(map[string]any{"job_id": task.JobID, "task_id": task.TaskID, "worker_id": id, "status": wire.ResultSuccess})
				_, _ = t.do(ctx, "POST", "/_worker/tasks/result", res, id, nil)
			}
		}()
	}
	return &wg, nil
}

// closedLoop has clients create jobs and wait for each to end.
func (t *target) closedLoop(ctx context.Context, endpoint string, input string, clients, jobs int, progress func(int)) error {
	var left atomic.Int64
	left.Store(int64(jobs))
	var done atomic.Int64
	errc := make(chan error, clients)
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 {
				// The creation is held until the job ends (200); one that
				// has not ended in 30 s (202) is waited for by GET ?wait.
				var v struct {
					JobID  string         `json:"job_id"`
					Status wire.JobStatus `json:"status"`
				}
				code, err := t.do(ctx, "POST", "/api/v1"+endpoint+"?wait=30", []byte(`{"initial_data":`+input+`}`), "", &v)
				if code != 200 && code != 202 {
					errc <- fmt.Errorf("create: %d %v", code, err)
					return
				}
				for v.Status != wire.StatusFinished {
					if v.Status == wire.StatusFailed || v.Status == wire.StatusCancelled || v.Status == wire.StatusQuarantined {
						errc <- fmt.Errorf("job %s %s", v.JobID, v.Status)
						return
					}
					if code, err := t.do(ctx, "GET", "/api/v1/jobs/"+v.JobID+"?wait=30", nil, "", &v); code != 200 {
						errc <- fmt.Errorf("wait: %d %v", code, err)
						return
					}
				}
				if n := done.Add(1); progress != nil && n%100 == 0 {
					progress(int(n))
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

// Run measures one workload once (after the caller's warm-up) and
// returns its record.
func Run(ctx context.Context, workload string, run int, o Options) (Record, error) {
	o.defaults()
	t, err := start(ctx, o)
	if err != nil {
		return Record{}, err
	}
	defer t.stop()
	rec := Record{Workload: workload, Store: o.Store, Run: run, GOMAXPROCS: runtime.GOMAXPROCS(0), CPU: cpuModel(), GoVersion: runtime.Version(), RedisVersion: t.redis}
	if t.hist != nil {
		rec.History = t.hist.Describe()
		rec.Store += "+history"
	}
	if o.URL != "" {
		rec.Store = "url"
	}
	wctx, stopWorkers := context.WithCancel(ctx)
	defer stopWorkers()
	prog := func(n int) {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "\r%s run %d: %d jobs", workload, run, n)
		}
	}
	var lat pace.Latencies
	var seen func(string)
	if workload == "dispatch" || workload == "idle10k" {
		seen = func(job string) { lat.Seen(job, time.Now()) }
	}
	wg := &sync.WaitGroup{}
	if workload != "mem100k" { // mem100k starts its workers after the fill
		if wg, err = t.workers(wctx, o.Workers, seen); err != nil {
			return rec, err
		}
	}
	defer func() { stopWorkers(); wg.Wait() }()
	time.Sleep(50 * time.Millisecond) // let the pollers park
	tasksPerJob, jobs := 1, o.Jobs
	hist0, err := t.archivedCount(ctx)
	if err != nil {
		return rec, err
	}
	cpu0 := cpuTime()
	rcpu := t.redisCPU(ctx)
	trips0, cmds0 := t.counts()
	req0 := t.reqs.Load()
	t0 := time.Now()
	switch workload {
	case "single":
		err = t.closedLoop(ctx, "/jobs/single", "{}", o.Clients, jobs, prog)
	case "linear10":
		tasksPerJob, jobs = 10, max(jobs/10, 1)
		err = t.closedLoop(ctx, "/jobs/linear10", "{}", o.Clients, jobs, prog)
	case "fanout100":
		tasksPerJob, jobs = 100, max(jobs/100, 1)
		err = t.closedLoop(ctx, "/jobs/fanout", `{"n":100}`, 1, jobs, prog)
	case "fanout1000":
		tasksPerJob, jobs = 1000, max(jobs/1000, 1)
		err = t.closedLoop(ctx, "/jobs/fanout", `{"n":1000}`, 1, jobs, prog)
	case "dispatch":
		jobs = t.openLoop(ctx, o, t0, &lat, prog)
	case "idle10k":
		// The same open loop without the idle workers first, in the same
		// run: what the idle workers cost the jobs beside them.
		o.Rate = 1000
		n := t.openLoop(ctx, o, time.Now(), &lat, prog)
		rec.AloneJobsPerSec = float64(n) / time.Since(t0).Seconds()
		rec.AloneP50ms, rec.AloneP99ms, _ = lat.Quantiles()
		lat.Reset()
		if o.IdleCommand != nil {
			var stop func()
			stop, rec.IdleWorkers, err = t.idleProcess(o)
			if err != nil {
				return rec, err
			}
			defer stop()
		} else {
			var idle *sync.WaitGroup
			idle, rec.IdleWorkers, err = t.idleWorkers(wctx, o.Idle, 2, o.Progress)
			if err != nil {
				return rec, err
			}
			defer func() { stopWorkers(); idle.Wait() }()
		}
		// Idle CPU over five seconds of parked pollers in their steady
		// state: after one heartbeat interval, when every worker's second
		// connection (its heartbeats') is open and no more are made.
		settle, window := idleHeartbeat, 5*time.Second
		if o.Duration > 0 {
			settle, window = 0, o.Duration
		}
		time.Sleep(settle)
		c0, w0 := cpuTime(), time.Now()
		time.Sleep(window)
		rec.IdleCPUPct = 100 * (cpuTime() - c0).Seconds() / time.Since(w0).Seconds()
		rec.RSSBytes, rec.Goroutines = rss(), runtime.NumGoroutine()
		cpu0, req0, rcpu = cpuTime(), t.reqs.Load(), t.redisCPU(ctx)
		trips0, cmds0 = t.counts()
		t0 = time.Now()
		jobs = t.openLoop(ctx, o, t0, &lat, prog)
	case "mem100k":
		jobs = o.Queued
		rec.HeapBytesJob, rec.RedisBytesJob, err = t.fill(ctx, o, jobs, prog)
		if err == nil {
			rec.DrainPerSec, err = t.drain(wctx, o, jobs, wg)
		}
	default:
		return rec, fmt.Errorf("unknown workload %q; known: %s", workload, strings.Join(append(slices.Clone(Workloads), "fanout1000"), ", "))
	}
	if err != nil {
		return rec, err
	}
	el := time.Since(t0)
	if t.hist != nil && workload != "mem100k" {
		// The archiving of the run's jobs is part of their cost.
		if err := t.archived(ctx, hist0+jobs); err != nil {
			return rec, err
		}
	}
	if o.Progress != nil {
		fmt.Fprint(o.Progress, "\r\033[K")
	}
	trips1, cmds1 := t.counts()
	rec.Jobs = jobs
	rec.Seconds = el.Seconds()
	rec.JobsPerSec = float64(jobs) / el.Seconds()
	rec.TasksPerSec = float64(jobs*tasksPerJob) / el.Seconds()
	rec.RequestsPerS = float64(t.reqs.Load()-req0) / el.Seconds()
	if o.URL == "" {
		rec.CPUMicrosJob = float64((cpuTime() - cpu0).Microseconds()) / float64(jobs)
	}
	if t.trips != nil {
		rec.RedisCPUMicrosJob = float64((t.redisCPU(ctx) - rcpu).Microseconds()) / float64(jobs)
	}
	if t.trips != nil {
		rec.RedisTripsJob = float64(trips1-trips0) / float64(jobs)
		rec.RedisCmdsJob = float64(cmds1-cmds0) / float64(jobs)
	}
	switch workload {
	case "linear10":
		rec.StepMicros = float64(el.Microseconds()) / float64(jobs*10) * float64(o.Clients)
	case "fanout100", "fanout1000":
		rec.JobMillis = float64(el.Milliseconds()) / float64(jobs)
	case "dispatch", "idle10k":
		rec.P50ms, rec.P99ms, rec.P999ms = lat.Quantiles()
		if workload == "idle10k" && rec.AloneJobsPerSec > 0 {
			rec.DropPct = 100 * (1 - rec.JobsPerSec/rec.AloneJobsPerSec)
		}
	}
	return rec, nil
}

// redisCPU is the CPU time of the target's Redis; 0 without one.
func (t *target) redisCPU(ctx context.Context) time.Duration {
	if t.trips == nil {
		return 0
	}
	return redisCPU(ctx, t.redisURL)
}

func (t *target) counts() (int64, int64) {
	if t.trips == nil {
		return 0, 0
	}
	return t.trips.Trips(), t.trips.Commands()
}

// cpuTime is this process's user+system CPU time (the in-process server's
// share cannot be told from the simulators', so it includes both).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// LoadTooHigh reports the 1-minute load average when it is above the
// number of cores: figures taken then measure the neighbours.
func LoadTooHigh() (float64, bool) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, false
	}
	var l float64
	if _, err := fmt.Sscan(string(b), &l); err != nil {
		return 0, false
	}
	return l, l > float64(runtime.NumCPU())
}

// Summary is a workload's median and range over its runs.
type Summary struct {
	Workload string     `json:"workload"`
	Store    string     `json:"store"`
	Runs     int        `json:"runs"`
	Median   Record     `json:"median"`
	Min, Max [2]float64 `json:"-"`
	Range    string     `json:"range"`
}

// Summarize takes the run with the median jobs/s (dispatch: median p50)
// and states the range.
func Summarize(recs []Record) Summary {
	key := func(r Record) float64 {
		if r.Workload == "dispatch" || r.Workload == "idle10k" {
			return r.P50ms
		}
		return r.JobsPerSec
	}
	s := slices.Clone(recs)
	slices.SortFunc(s, func(a, b Record) int {
		switch {
		case key(a) < key(b):
			return -1
		case key(a) > key(b):
			return 1
		}
		return 0
	})
	m := s[len(s)/2]
	unit := "jobs/s"
	if m.Workload == "dispatch" || m.Workload == "idle10k" {
		unit = "ms p50"
	}
	return Summary{Workload: m.Workload, Store: m.Store, Runs: len(recs), Median: m,
		Range: fmt.Sprintf("%s–%s %s", figure(key(s[0])), figure(key(s[len(s)-1])), unit)}
}

// Paired is the history's cost measured in pairs of runs, one with the
// history off and one on, taken back to back: the on/off ratios of each
// pair's job rate and CPU per job, their medians and ranges. A machine
// whose speed drifts from minute to minute moves both runs of a pair
// alike, so the ratios spread less than the figures.
type Paired struct {
	Workload   string    `json:"workload"`
	Pairs      int       `json:"pairs"`
	RateRatio  float64   `json:"jobs_per_s_ratio"`
	RateRange  string    `json:"jobs_per_s_ratio_range"`
	CPURatio   float64   `json:"cpu_per_job_ratio"`
	CPURange   string    `json:"cpu_per_job_ratio_range"`
	RateRatios []float64 `json:"jobs_per_s_ratios"`
	CPURatios  []float64 `json:"cpu_per_job_ratios"`
}

// Pair sums up pairs of runs, off[i] with on[i].
func Pair(off, on []Record) Paired {
	p := Paired{Pairs: min(len(off), len(on))}
	if p.Pairs == 0 {
		return p
	}
	p.Workload = on[0].Workload
	for i := range p.Pairs {
		if off[i].JobsPerSec > 0 {
			p.RateRatios = append(p.RateRatios, on[i].JobsPerSec/off[i].JobsPerSec)
		}
		if off[i].CPUMicrosJob > 0 {
			p.CPURatios = append(p.CPURatios, on[i].CPUMicrosJob/off[i].CPUMicrosJob)
		}
	}
	p.RateRatio, p.RateRange = medianRange(p.RateRatios)
	p.CPURatio, p.CPURange = medianRange(p.CPURatios)
	return p
}

// medianRange is the median of vs (of an even count, the mean of the
// middle two) and their range, "lo–hi".
func medianRange(vs []float64) (float64, string) {
	if len(vs) == 0 {
		return 0, ""
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (m + s[len(s)/2-1]) / 2
	}
	return m, fmt.Sprintf("%.2f–%.2f", s[0], s[len(s)-1])
}

// figure writes a measured value readably: whole from 100 up, else three
// significant digits.
func figure(v float64) string {
	if v >= 100 || v <= -100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

// openLoop creates single jobs at o.Rate from t0 on, each at its scheduled
// time, and waits until the workers have seen them all (30 s at most);
// latency runs from the scheduled send time to the lease.
func (t *target) openLoop(ctx context.Context, o Options, t0 time.Time, lat *pace.Latencies, prog func(int)) int {
	jobs := max(o.Rate*2, 100)
	if o.Duration > 0 {
		jobs = max(int(o.Duration.Seconds()*float64(o.Rate)), 1)
	}
	interval := time.Second / time.Duration(o.Rate)
	var cw sync.WaitGroup
	for i := range jobs {
		at := t0.Add(time.Duration(i) * interval)
		pace.Until(at)
		cw.Add(1)
		go func() {
			defer cw.Done()
			var out struct {
				JobID string `json:"job_id"`
			}
			if code, _ := t.do(ctx, "POST", "/api/v1/jobs/single", []byte(`{}`), "", &out); code != 202 {
				return
			}
			lat.Sent(out.JobID, at)
		}()
		if i%100 == 0 {
			prog(i)
		}
	}
	cw.Wait()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if n := lat.Len(); n >= jobs || time.Now().After(deadline) {
			break
		}
	}
	return jobs
}

// Idle workers poll and heartbeat at the worker SDKs' defaults
// (TASK_POLL_TIMEOUT 30 s, HEARTBEAT_INTERVAL 15 s).
const (
	idlePoll      = "30"
	idleHeartbeat = 15 * time.Second
)

// IdleWorkers runs n idle workers against the server at url (worker
// token token) until ctx ends: each registers a skill no job asks for and
// long-polls, with a heartbeat every 15 s. Once all are parked it
// writes "parked <count>" and a newline to parked (the count is bounded
// by this process's open-file limit). avtomatika bench runs it in a child
// process for idle10k.
func IdleWorkers(ctx context.Context, url, token string, n int, parked io.Writer) error {
	t := &target{url: strings.TrimRight(url, "/"), token: token,
		hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n + 16}}}
	wg, got, err := t.idleWorkers(ctx, n, 1, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(parked, "parked %d\n", got)
	<-ctx.Done()
	wg.Wait()
	return nil
}

// idleProcess starts o.IdleCommand for o.Idle workers and waits until it
// says they are parked; stop ends it.
func (t *target) idleProcess(o Options) (stop func(), n int, err error) {
	cmd := o.IdleCommand(t.url, t.token, o.Idle)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, 0, err
	}
	if err := cmd.Start(); err != nil {
		return nil, 0, fmt.Errorf("idle workers: %w", err)
	}
	stop = func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if _, serr := fmt.Sscanf(line, "parked %d", &n); err != nil || serr != nil {
		stop()
		return nil, 0, fmt.Errorf("idle workers: no parked line (%q): %v", line, err)
	}
	time.Sleep(500 * time.Millisecond) // the last polls reach the server
	return stop, n, nil
}

// idleWorkers registers up to n workers of a skill no job asks for and
// keeps each long-polling, with a heartbeat every 15 s, until ctx ends.
// The count is bounded by the open-file limit (each poller holds fds open
// files in this process: 2 when the server is in it too); it returns how
// many run.
func (t *target) idleWorkers(ctx context.Context, n, fds int, progress io.Writer) (*sync.WaitGroup, int, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
		n = min(n, max(int(lim.Cur)-1000, 2)/fds)
	}
	var wg sync.WaitGroup
	parked := make(chan struct{}, n)
	for i := range n {
		id := fmt.Sprintf("bench-idle%d", i)
		if code, err := t.do(ctx, "POST", "/_worker/workers/register", []byte(`{"worker_id":"`+id+`","supported_skills":[{"name":"idle"}]}`), id, nil); code != 200 {
			wg.Wait()
			return &wg, i, fmt.Errorf("register idle worker %d: %d %v", i, code, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			first := true
			for ctx.Err() == nil {
				if first {
					parked <- struct{}{}
					first = false
				}
				if _, err := t.do(ctx, "GET", "/_worker/workers/"+id+"/tasks/next?timeout="+idlePoll, nil, id, nil); err != nil {
					select { // out of connections or stopping: back off, do not spin
					case <-ctx.Done():
					case <-time.After(100 * time.Millisecond):
					}
				}
			}
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Heartbeats as the worker SDKs send them, every 15 s; the first
			// after a random part of that, so they spread over the interval.
			hb := []byte(`{"worker_id":"` + id + `","status":"idle"}`)
			tm := time.NewTimer(mrand.N(idleHeartbeat))
			defer tm.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tm.C:
				}
				_, _ = t.do(ctx, "PATCH", "/_worker/workers/"+id, hb, id, nil)
				tm.Reset(idleHeartbeat)
			}
		}()
		if progress != nil && i%1000 == 0 {
			fmt.Fprintf(progress, "\ridle10k: %d idle workers", i)
		}
	}
	for range n {
		<-parked
	}
	time.Sleep(500 * time.Millisecond) // the last polls reach the server
	return &wg, n, nil
}

// fill queues jobs with no workers and returns the in-process heap and
// the Redis memory each queued job holds after a GC.
func (t *target) fill(ctx context.Context, o Options, jobs int, prog func(int)) (heap, redisBytes float64, err error) {
	var m0, m1 runtime.MemStats
	settledHeap(&m0)
	r0 := usedMemory(ctx, o.RedisURL, t.prefix != "")
	var next, done atomic.Int64
	errc := make(chan error, o.Clients)
	var wg sync.WaitGroup
	for range o.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(jobs) {
				if code, err := t.do(ctx, "POST", "/api/v1/jobs/single", []byte(`{"initial_data":{}}`), "", nil); code != 202 {
					errc <- fmt.Errorf("create: %d %v", code, err)
					return
				}
				if n := done.Add(1); n%1000 == 0 {
					prog(int(n))
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errc:
		return 0, 0, err
	default:
	}
	t.hc.CloseIdleConnections()
	runtime.GC()
	runtime.ReadMemStats(&m1)
	heap = (float64(m1.HeapAlloc) - float64(m0.HeapAlloc)) / float64(jobs)
	if t.prefix != "" {
		redisBytes = float64(usedMemory(ctx, o.RedisURL, true)-r0) / float64(jobs)
	}
	return heap, redisBytes, nil
}

// settledHeap reads the heap once what earlier runs left behind is gone:
// after a collection, until a further one frees less than 1% (at most a
// second), so the memory a run measures is its own.
func settledHeap(m *runtime.MemStats) {
	runtime.GC()
	runtime.ReadMemStats(m)
	for range 50 {
		time.Sleep(20 * time.Millisecond)
		var n runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&n)
		freed := n.HeapAlloc < m.HeapAlloc && m.HeapAlloc-n.HeapAlloc > m.HeapAlloc/100
		*m = n
		if !freed {
			return
		}
	}
}

// drain starts o.Workers no-op workers and returns the jobs per second
// they lease until every queued job is taken.
func (t *target) drain(ctx context.Context, o Options, jobs int, wg *sync.WaitGroup) (float64, error) {
	var leased atomic.Int64
	all := make(chan struct{})
	d0 := time.Now()
	w, err := t.workers(ctx, o.Workers, func(string) {
		if leased.Add(1) == int64(jobs) {
			close(all)
		}
	})
	if err != nil {
		return 0, err
	}
	wg.Add(1)
	go func() { w.Wait(); wg.Done() }()
	select {
	case <-all:
		return float64(jobs) / time.Since(d0).Seconds(), nil
	case <-time.After(10 * time.Minute):
		return 0, fmt.Errorf("drain: %d of %d jobs leased after 10 minutes", leased.Load(), jobs)
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// rss is this process's resident set size (VmRSS), 0 when unknown.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
			return kb * 1024
		}
	}
	return 0
}
