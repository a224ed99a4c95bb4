package bench

import (
	"context"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/internal/redistest"
)

// TestSmoke runs every workload briefly on both stores so the harness
// cannot rot; the full runs are `make bench`.
func TestSmoke(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Options{})
	for _, st := range []string{"memory", "redis"} {
		for _, w := range Workloads {
			o := Options{Store: st, RedisURL: rs.URL, Jobs: 20, Clients: 4, Workers: 4, Rate: 200, Duration: 250 * time.Millisecond, Idle: 20, Queued: 300}
			r, err := Run(context.Background(), w, 1, o)
			if err != nil {
				t.Fatalf("%s on %s: %v", w, st, err)
			}
			if r.Jobs == 0 || r.JobsPerSec <= 0 || r.GOMAXPROCS == 0 || r.CPU == "" {
				t.Errorf("%s on %s: %+v", w, st, r)
			}
			if st == "redis" && (r.RedisTripsJob <= 0 || r.RedisVersion == "" || r.RedisCPUMicrosJob <= 0) {
				t.Errorf("%s on redis: no round trips counted: %+v", w, r)
			}
			if w == "idle10k" && (r.IdleWorkers != 20 || r.Goroutines < 20 || r.RSSBytes <= 0 ||
				r.AloneJobsPerSec <= 0 || r.AloneP50ms <= 0 || r.AloneP99ms < r.AloneP50ms ||
				r.DropPct != 100*(1-r.JobsPerSec/r.AloneJobsPerSec)) {
				t.Errorf("idle10k: %+v", r)
			}
			if w == "mem100k" && (r.DrainPerSec <= 0 || (st == "memory" && r.HeapBytesJob <= 0) || (st == "redis" && r.RedisBytesJob <= 0)) {
				t.Errorf("mem100k on %s: %+v", st, r)
			}
			if (w == "dispatch" || w == "idle10k") && (r.P50ms <= 0 || r.P99ms < r.P50ms) {
				t.Errorf("dispatch latency: %+v", r)
			}
		}
	}
	s := Summarize([]Record{{Workload: "single", JobsPerSec: 3}, {Workload: "single", JobsPerSec: 1}, {Workload: "single", JobsPerSec: 2}})
	if s.Median.JobsPerSec != 2 || s.Range == "" {
		t.Errorf("summary: %+v", s)
	}
}
