package main

import (
	"testing"

	"github.com/avtomatika-ai/avtomatika-go/internal/bench"
)

func TestCompareWithBaseline(t *testing.T) {
	ours := map[string]bench.Record{
		"single":   {Workload: "single", Store: "redis", JobsPerSec: 3000},
		"dispatch": {Workload: "dispatch", Store: "redis", P50ms: 0.5},
		"mem100k":  {Workload: "mem100k", Store: "redis", RedisBytesJob: 600, DrainPerSec: 4000},
	}
	out := []byte(`{"workload":"single","store":"asynq","run":1,"jobs_per_s":1}
{"median":{"workload":"single","jobs_per_s":5000},"store":"asynq-1ms","workload":"single","runs":3}
{"median":{"workload":"dispatch","p50_ms":2},"store":"asynq-1ms","workload":"dispatch","runs":3}
{"median":{"workload":"mem100k","jobs_per_s":9,"redis_bytes_per_job":300,"drain_jobs_per_s":8000},"store":"asynq-1ms","workload":"mem100k","runs":3}
{"median":{"workload":"linear10","jobs_per_s":9},"store":"asynq-1ms","workload":"linear10","runs":3}
not json
`)
	got := compare(ours, out)
	want := []Comparison{
		{"single", "jobs_per_s", 3000, "redis", "asynq-1ms", 5000, 0.6},
		{"dispatch", "p50_ms", 0.5, "redis", "asynq-1ms", 2, 0.25},
		{"mem100k", "redis_bytes_per_queued_job", 600, "redis", "asynq-1ms", 300, 2},
		{"mem100k", "drain_jobs_per_s", 4000, "redis", "asynq-1ms", 8000, 0.5},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d comparisons %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("comparison %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}
