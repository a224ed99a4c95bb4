package history

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// benchJobs is how many jobs the search benchmarks archive first
// (HISTORY_BENCH_JOBS, default 1,000,000).
func benchJobs(b *testing.B) int {
	if v := os.Getenv("HISTORY_BENCH_JOBS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1000 {
			b.Fatalf("HISTORY_BENCH_JOBS=%q: want a number of at least 1000", v)
		}
		return n
	}
	return 1_000_000
}

var benchT0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// fakeJob is job i of a month of traffic: 10 clients, 5 blueprints, 80%
// finished, 15% failed, 5% quarantined, 50 workers, 100 tenants.
func fakeJob(i, n int, r *rand.Rand) store.EndedJob {
	created := benchT0.Add(time.Duration(int64(i) * int64(30*24*time.Hour) / int64(n)))
	end := created.Add(time.Duration(1+r.IntN(600)) * time.Second)
	status, code, state := wire.StatusFinished, "", "done"
	switch p := r.IntN(100); {
	case p < 5:
		status, code, state = wire.StatusQuarantined, wire.CodePermanentError, "charge"
	case p < 20:
		status, code, state = wire.StatusFailed, wire.CodeTransientError, "ship"
	}
	worker := fmt.Sprintf("w-%d", r.IntN(50))
	j := &core.Job{ID: fmt.Sprintf("job-%08d", i), Blueprint: fmt.Sprintf("bp%d", i%5), Version: "h1", Status: status, State: state,
		Client: core.Client{Name: fmt.Sprintf("c%d", i%10)}, Input: map[string]any{"order": float64(i), "amount": float64(r.IntN(1000))},
		History:   map[string]any{"charge": map[string]any{"ok": status == wire.StatusFinished}},
		Metadata:  map[string]any{"tenant": fmt.Sprintf("t-%d", r.IntN(100))},
		CreatedAt: created, UpdatedAt: end, FinishedAt: end, Steps: 3}
	if code != "" {
		j.Error = &wire.Error{Code: code, Message: "it failed"}
	}
	if i%100 == 1 {
		j.Parent = &core.ParentRef{JobID: fmt.Sprintf("job-%08d", i-1), State: "sub"}
	}
	tl := []core.TimelineEvent{
		{At: created, Type: "created"},
		{At: created, Type: "state_entered", NextState: "charge"},
		{At: end, Type: "task_finished", State: "charge", TaskID: fmt.Sprintf("t-%d", i), WorkerID: worker, Attempt: 1, Detail: map[string]any{"status": "success"}},
	}
	return store.EndedJob{Job: j, Timeline: tl}
}

// fill archives n jobs in batches of 1,000 and reports the rate.
func fill(b *testing.B, h *DB, n int) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	start := time.Now()
	batch := make([]store.EndedJob, 0, 1000)
	for i := range n {
		batch = append(batch, fakeJob(i, n, r))
		if len(batch) == cap(batch) || i == n-1 {
			if err := h.Put(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	el := time.Since(start)
	// The planner's statistics, as autovacuum (PostgreSQL) or a periodic
	// ANALYZE would have them on a database that grew over a month.
	if _, err := h.SQL().ExecContext(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(n)/el.Seconds(), "archived_jobs/s")
	b.Logf("archived %d jobs in %v (%.0f jobs/s)", n, el.Round(time.Millisecond), float64(n)/el.Seconds())
}

// typicalSearches are 20 searches a console or an operator runs.
func typicalSearches(n int) []store.JobQuery {
	day := benchT0.Add(20 * 24 * time.Hour)
	mid := fmt.Sprintf("job-%08d", n/2)
	return []store.JobQuery{
		{},
		{Statuses: []wire.JobStatus{wire.StatusFailed}},
		{Statuses: []wire.JobStatus{wire.StatusFailed, wire.StatusQuarantined}},
		{Blueprint: "bp3"},
		{Blueprint: "bp3", Statuses: []wire.JobStatus{wire.StatusFailed}},
		{ErrorCode: wire.CodePermanentError},
		{Worker: "w-7"},
		{Meta: map[string]string{"tenant": "t-42"}},
		{CreatedAfter: day, CreatedBefore: day.Add(24 * time.Hour)},
		{EndedAfter: day, EndedBefore: day.Add(time.Hour), Sort: store.SortEnded},
		{Sort: store.SortEnded},
		{Asc: true},
		{Client: "c3"},
		{Client: "c3", Statuses: []wire.JobStatus{wire.StatusQuarantined}},
		{Parent: mid},
		{State: "charge", Limit: 50},
		{Client: "c3", Blueprint: "bp3", Sort: store.SortEnded},
		{Statuses: []wire.JobStatus{wire.StatusQuarantined}, Blueprint: "bp1"},
		{Statuses: []wire.JobStatus{wire.StatusFailed}, CreatedAfter: day},
		{Meta: map[string]string{"tenant": "t-42"}, Statuses: []wire.JobStatus{wire.StatusFailed}},
	}
}

// benchSearch archives benchJobs jobs, then times each typical search's
// first page and its second (by cursor), several rounds, and reports the
// median and p99 of a page.
func benchSearch(b *testing.B, uri string) {
	ctx := context.Background()
	h, err := Open(ctx, uri)
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	n := benchJobs(b)
	fill(b, h, n)
	qs := typicalSearches(n)
	var lat []time.Duration
	worst := map[int]time.Duration{}
	b.ResetTimer()
	for b.Loop() {
		for i, q := range qs {
			t := time.Now()
			js, err := h.SearchJobs(ctx, q)
			if err != nil {
				b.Fatal(err)
			}
			d := time.Since(t)
			lat = append(lat, d)
			worst[i] = max(worst[i], d)
			if len(js) > 0 {
				qq := q
				qq.Normalize()
				k, _ := qq.Key(js[len(js)-1])
				qq.After = &k
				t = time.Now()
				if _, err := h.SearchJobs(ctx, qq); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t))
			}
		}
	}
	slices.Sort(lat)
	p := func(q float64) time.Duration { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
	b.ReportMetric(float64(p(0.5).Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(p(0.99).Microseconds())/1000, "p99_ms")
	b.Logf("%d pages: p50 %v, p99 %v, max %v", len(lat), p(0.5), p(0.99), lat[len(lat)-1])
	var ws []string
	for i := range qs {
		ws = append(ws, fmt.Sprintf("%d:%.1fms", i, float64(worst[i].Microseconds())/1000))
	}
	b.Logf("worst page per search: %s", strings.Join(ws, " "))
}

func BenchmarkSearchSQLite(b *testing.B) {
	benchSearch(b, "sqlite:///"+filepath.Join(b.TempDir(), "bench.db"))
}

func BenchmarkSearchPostgres(b *testing.B) {
	benchSearch(b, postgresDBB(b))
}
