package faults

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/internal/redistest"
	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/server"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store/redisstore"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

var jobs = flag.Int("jobs", 40, "jobs a scenario creates")

const (
	roleEnv = "AVTOMATIKA_FAULTS_ROLE"
	token   = "faults-worker-token"
)

const blueprint = `name: fault
endpoint: /jobs/fault
start: work
states:
  work:
    task: {type: fault_work, timeout: 10s, retries: 20}
    transitions: {success: done, failure: failed}
  done: {end: success}
  failed: {end: failure}
`

// TestMain runs the process as an instance or a worker when the suite
// started it as one.
func TestMain(m *testing.M) {
	switch os.Getenv(roleEnv) {
	case "instance":
		os.Exit(runInstance())
	case "worker":
		os.Exit(runWorker())
	}
	os.Exit(m.Run())
}

// runInstance serves on ADDR (or a free port) with the configuration of
// its environment, printing READY <addr>, until killed or stdin closes.
func runInstance() int {
	cfg, err := config.FromEnv(os.LookupEnv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	rcfg, err := redisstore.FromEnv(os.LookupEnv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	st, err := redisstore.Open(context.Background(), rcfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	srv, err := server.New(server.Options{Config: cfg, Store: st})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var l net.Listener
	for range 100 { // a port given back by a killed instance may linger
		if l, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); cancel() }()
	fmt.Printf("READY %s\n", l.Addr())
	if err := srv.Run(ctx, l, 5*time.Second); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// runWorker is a worker over plain HTTP: it registers, heartbeats with
// its current task every 300 ms, polls the instances of URLS in turn,
// holds each task TASK_MS and sends its result until one takes it. It
// prints TASK <id> when it takes a task.
func runWorker() int {
	urls := strings.Split(os.Getenv("URLS"), ",")
	id := os.Getenv("WORKER_ID")
	hold, _ := time.ParseDuration(os.Getenv("TASK_MS") + "ms")
	hc := &http.Client{Timeout: 5 * time.Second}
	call := func(method, url string, body any) (int, []byte) {
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = strings.NewReader(string(b))
		}
		req, _ := http.NewRequest(method, url, rd)
		req.Header.Set("X-Worker-Token", token)
		req.Header.Set("X-Worker-ID", id)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	register := func() {
		for i := 0; ; i++ {
			reg := map[string]any{"worker_id": id, "worker_type": "faults", "supported_skills": []map[string]string{{"name": "fault_work"}}}
			if code, _ := call("POST", urls[i%len(urls)]+"/_worker/workers/register", reg); code == 200 {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	register()
	var mu sync.Mutex
	current := []string{}
	go func() {
		for i := 0; ; i++ {
			mu.Lock()
			hb := map[string]any{"worker_id": id, "status": "idle", "current_tasks": append([]string{}, current...)}
			mu.Unlock()
			if code, _ := call("PATCH", urls[i%len(urls)]+"/_worker/workers/"+id, hb); code == 404 {
				register()
			}
			time.Sleep(300 * time.Millisecond)
		}
	}()
	for i := 0; ; i++ {
		code, b := call("GET", urls[i%len(urls)]+"/_worker/workers/"+id+"/tasks/next?timeout=2", nil)
		switch code {
		case 200:
		case 404:
			register()
			continue
		case 204:
			continue
		default:
			time.Sleep(100 * time.Millisecond)
			continue
		}
		var t wire.Task
		if json.Unmarshal(b, &t) != nil {
			continue
		}
		mu.Lock()
		current = []string{t.TaskID}
		mu.Unlock()
		fmt.Printf("TASK %s\n", t.TaskID)
		time.Sleep(hold)
		res := map[string]any{"job_id": t.JobID, "task_id": t.TaskID, "worker_id": id, "status": "success", "data": map[string]any{}}
		for j := i; j < i+600; j++ {
			if code, _ := call("POST", urls[j%len(urls)]+"/_worker/tasks/result", res); code == 200 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		mu.Lock()
		current = []string{}
		mu.Unlock()
	}
}

// proc is a child process of the suite.
type proc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

func spawn(t *testing.T, env ...string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, stdin: stdin, lines: make(chan string, 1024)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		close(p.lines)
	}()
	t.Cleanup(p.kill)
	return p
}

// kill is kill -9.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
}

// drain forgets the lines printed so far.
func (p *proc) drain() {
	for {
		select {
		case <-p.lines:
		default:
			return
		}
	}
}

// wait returns the first line with the prefix.
func (p *proc) wait(t *testing.T, prefix string) string {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("child exited before %q", prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return strings.TrimSpace(strings.TrimPrefix(l, prefix))
			}
		case <-deadline:
			t.Fatalf("no %q from the child", prefix)
		}
	}
}

// deployment is two instances, two workers and a Redis.
type deployment struct {
	t         *testing.T
	redis     *redistest.Server
	redisOpt  redistest.Options
	env       []string
	addrs     []string
	instances []*proc
	workers   []*proc
}

func deploy(t *testing.T, aof string) *deployment {
	t.Helper()
	opt := redistest.Options{AOF: aof}
	rs := redistest.StartServer(t, opt)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "fault.yaml"), []byte(blueprint), 0o644); err != nil {
		t.Fatal(err)
	}
	d := &deployment{t: t, redis: rs, redisOpt: opt, env: []string{
		roleEnv + "=instance", "REDIS_URL=" + rs.URL, "REDIS_PREFIX=" + rs.Fresh(t), "BLUEPRINTS_DIR=" + dir,
		"GLOBAL_WORKER_TOKEN=" + token, "WORKER_POLL_TIMEOUT_SECONDS=2", "WORKER_HEALTH_CHECK_INTERVAL_SECONDS=2",
		"WORKER_TASK_GRACE_SECONDS=1", "LOG_LEVEL=error",
	}}
	for range 2 {
		p := spawn(t, d.env...)
		d.instances = append(d.instances, p)
		d.addrs = append(d.addrs, p.wait(t, "READY "))
	}
	for i := range 2 {
		d.workers = append(d.workers, d.worker(fmt.Sprint("w", i)))
	}
	return d
}

func (d *deployment) urls() string {
	var us []string
	for _, a := range d.addrs {
		us = append(us, "http://"+a)
	}
	return strings.Join(us, ",")
}

func (d *deployment) worker(id string) *proc {
	return spawn(d.t, roleEnv+"=worker", "URLS="+d.urls(), "WORKER_ID="+id, "TASK_MS=150")
}

// restartInstance kills instance i with -9 and starts it again on its
// address.
func (d *deployment) restartInstance(i int) {
	d.instances[i].kill()
	p := spawn(d.t, append(d.env, "ADDR="+d.addrs[i])...)
	p.wait(d.t, "READY ")
	d.instances[i] = p
}

// client creates jobs with idempotency keys, retrying through any fault.
type client struct {
	d    *deployment
	hc   *http.Client
	mu   sync.Mutex
	ids  map[string]map[string]bool // key -> job ids answered
	acks atomic.Int64
}

func (c *client) create(key string) string {
	for try := 0; try < 3000; try++ {
		url := "http://" + c.d.addrs[try%len(c.d.addrs)] + "/api/v1/jobs/fault"
		req, _ := http.NewRequest("POST", url, strings.NewReader(`{"initial_data": {}}`))
		req.Header.Set("Idempotency-Key", key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.hc.Do(req)
		if err != nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if resp.StatusCode != 200 && resp.StatusCode != 202 {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		id, _ := out["job_id"].(string)
		c.mu.Lock()
		if c.ids[key] == nil {
			c.ids[key] = map[string]bool{}
			c.acks.Add(1)
		}
		c.ids[key][id] = true
		c.mu.Unlock()
		return id
	}
	c.d.t.Errorf("create %s: never acknowledged", key)
	return ""
}

// status reads a job from any instance that answers: "" when not found.
func (c *client) status(id string) (wire.JobStatus, bool) {
	for try := 0; try < 200; try++ {
		resp, err := c.hc.Get("http://" + c.d.addrs[try%len(c.d.addrs)] + "/api/v1/jobs/" + id)
		if err != nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		var v wire.JobView
		_ = json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		switch resp.StatusCode {
		case 200:
			return v.Status, true
		case 404:
			return "", false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "", true
}

// figures are what a scenario reports.
type figures struct {
	acknowledged, finished, failed, lost, duplicated, stuck int
	recovery                                                time.Duration
}

// scenario creates the jobs from 8 clients at 8 jobs a second (the two
// workers take about 13), injects the fault once half are acknowledged,
// and counts.
func scenario(t *testing.T, aof string, fault func(d *deployment)) figures {
	d := deploy(t, aof)
	c := &client{d: d, hc: &http.Client{Timeout: 2 * time.Second}, ids: map[string]map[string]bool{}}
	n := *jobs
	var f figures
	var wg sync.WaitGroup
	next := atomic.Int64{}
	recovered := make(chan time.Duration, 1)
	for range 8 {
		wg.Go(func() {
			for {
				k := next.Add(1) - 1
				if k >= int64(n) {
					return
				}
				c.create(fmt.Sprint("job-", k))
				time.Sleep(time.Second) // 8 jobs a second: below the workers' 13
				if k == int64(n/2) {
					// Recovery: from the start of the fault until every
					// job acknowledged by its end has ended.
					at := time.Now()
					fault(d)
					c.mu.Lock()
					var before []string
					for _, set := range c.ids {
						for id := range set {
							before = append(before, id)
						}
					}
					c.mu.Unlock()
					go func() {
						for _, id := range before {
							for deadline := time.Now().Add(120 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
								if st, found := c.status(id); !found || st.Terminal() {
									break
								}
							}
						}
						recovered <- time.Since(at)
					}()
				}
			}
		})
	}
	wg.Wait()
	f.recovery = <-recovered
	// Every acknowledged job ends, or is stuck at the deadline.
	deadline := time.Now().Add(120 * time.Second)
	for key, set := range c.ids {
		if key == "probe" {
			continue
		}
		f.acknowledged++
		if len(set) > 1 {
			f.duplicated += len(set) - 1
		}
		for id := range set {
			for {
				st, found := c.status(id)
				if !found {
					f.lost++
					break
				}
				if st.Terminal() {
					if st == wire.StatusFinished {
						f.finished++
					} else {
						f.failed++
					}
					break
				}
				if time.Now().After(deadline) {
					f.stuck++
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			break
		}
	}
	// Jobs in the store beyond one per key are duplicates too.
	var st struct{ Jobs int }
	if rs, err := redisstore.FromEnv(func(k string) (string, bool) {
		for _, kv := range d.env {
			if v, ok := strings.CutPrefix(kv, k+"="); ok {
				return v, true
			}
		}
		return "", false
	}); err == nil {
		if s, err := redisstore.Open(context.Background(), rs); err == nil {
			if stats, err := s.Stats(context.Background()); err == nil {
				st.Jobs = stats.Jobs
			}
			_ = s.Close()
		}
	}
	if extra := st.Jobs - len(c.ids); extra > 0 {
		f.duplicated += extra
	}
	return f
}

// TestProbes repeats the hardening probes against two instances on one
// Redis: a worker's event for a job it holds no task of, a signed
// heartbeat replayed on the other instance, a create retried on the other
// instance, a lone surrogate, and what a client sees of the workers.
func TestProbes(t *testing.T) {
	if testing.Short() {
		t.Skip("the fault suite starts Redis and several processes")
	}
	d := deploy(t, "everysec")
	a, b := "http://"+d.addrs[0], "http://"+d.addrs[1]
	hc := &http.Client{Timeout: 10 * time.Second}
	do := func(method, url string, hdr map[string]string, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out)
	}
	worker := func(id string) map[string]string {
		return map[string]string{"X-Worker-Token": token, "X-Worker-ID": id}
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, out := do("GET", a+"/api/v1/workers", nil, ""); strings.Contains(out, `"worker_id":"w0"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("worker w0 did not register")
		}
	}

	// Idempotent across instances.
	code1, out1 := do("POST", a+"/api/v1/jobs/fault", map[string]string{"Idempotency-Key": "p-1"}, `{"initial_data": {}}`)
	code2, out2 := do("POST", b+"/api/v1/jobs/fault", map[string]string{"Idempotency-Key": "p-1"}, `{"initial_data": {}}`)
	var j1, j2 struct {
		JobID string `json:"job_id"`
	}
	_ = json.Unmarshal([]byte(out1), &j1)
	_ = json.Unmarshal([]byte(out2), &j2)
	if code1 != 202 || code2 != 200 || j1.JobID == "" || j1.JobID != j2.JobID {
		t.Errorf("a create retried on the other instance: %d %s, then %d %s", code1, out1, code2, out2)
	}
	// An event from a worker holding no task of the job.
	ev := fmt.Sprintf(`{"worker_id": "intruder", "event_type": "progress", "target_job_id": %q, "payload": {"progress": 0.5, "message": "x"}}`, j1.JobID)
	if code, out := do("POST", b+"/_worker/events", worker("intruder"), ev); code != 403 || !strings.Contains(out, wire.CodeNotLeaseHolder) {
		t.Errorf("an event from a worker holding nothing: %d %s", code, out)
	}
	// A signed heartbeat replayed on the other instance.
	hb := map[string]any{"worker_id": "w0", "status": "idle", "current_tasks": []string{}, "timestamp": time.Now().Unix()}
	raw, _ := json.Marshal(hb)
	sig, err := wire.Sign(token, raw, wire.KindMessage)
	if err != nil {
		t.Fatal(err)
	}
	hb["security"] = map[string]string{"signature": sig}
	raw, _ = json.Marshal(hb)
	if code, out := do("PATCH", a+"/_worker/workers/w0", worker("w0"), string(raw)); code != 200 {
		t.Errorf("a signed heartbeat: %d %s", code, out)
	}
	if code, out := do("PATCH", b+"/_worker/workers/w0", worker("w0"), string(raw)); code != 403 || !strings.Contains(out, wire.CodeReplayed) {
		t.Errorf("the same heartbeat on the other instance: %d %s", code, out)
	}
	// Strict text.
	if code, out := do("POST", a+"/api/v1/jobs/fault", nil, `{"initial_data": {"name": "\ud800"}}`); code != 400 || !strings.Contains(out, "initial_data.name") {
		t.Errorf("a lone surrogate: %d %s", code, out)
	}
	// What a client sees of the workers.
	if code, out := do("GET", b+"/api/v1/workers", nil, ""); code != 200 || !strings.Contains(out, `"worker_id":"w0"`) || strings.Contains(out, "supported_skills") {
		t.Errorf("the workers list: %d %s", code, out)
	}
}

// TestFaults runs every scenario and fails on any lost, duplicated or
// stuck job.
func TestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("the fault suite starts Redis and several processes")
	}
	scenarios := []struct {
		name, aof string
		fault     func(d *deployment)
	}{
		{"kill -9 an instance", "everysec", func(d *deployment) { d.restartInstance(0) }},
		{"kill -9 a worker mid-task", "everysec", func(d *deployment) {
			w := d.workers[0]
			w.drain()
			w.wait(d.t, "TASK ") // it took a task and holds it for 150 ms
			w.kill()
			d.workers[0] = d.worker("w0") // it comes back and registers again
		}},
		{"kill -9 Redis, appendfsync everysec", "everysec", func(d *deployment) { d.redis.Restart(d.t, d.redisOpt) }},
		{"kill -9 Redis, appendfsync always", "always", func(d *deployment) { d.redis.Restart(d.t, d.redisOpt) }},
	}
	var report strings.Builder
	fmt.Fprintf(&report, "%-38s %6s %8s %6s %4s %10s %5s %9s\n", "scenario", "acked", "finished", "failed", "lost", "duplicated", "stuck", "recovery")
	for _, s := range scenarios {
		t.Run(strings.NewReplacer(" ", "_", ",", "").Replace(s.name), func(t *testing.T) {
			f := scenario(t, s.aof, s.fault)
			fmt.Fprintf(&report, "%-38s %6d %8d %6d %4d %10d %5d %8.1fs\n", s.name, f.acknowledged, f.finished, f.failed, f.lost, f.duplicated, f.stuck, f.recovery.Seconds())
			if f.lost > 0 || f.duplicated > 0 || f.stuck > 0 || f.acknowledged != *jobs {
				t.Errorf("%s: %+v", s.name, f)
			}
		})
	}
	t.Logf("%d jobs a scenario, two instances on one Redis; recovery is from the start of the fault until every job acknowledged by its end had ended:\n%s", *jobs, report.String())
}
