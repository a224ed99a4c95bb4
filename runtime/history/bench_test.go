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
	created := benchT0.Add(time.Duration(int64(i) * (int64(30*24*time.Hour) / int64(n))))
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

// fill archives n jobs and reports the rate. HISTORY_BENCH_LOAD picks how:
// "archive" puts batches of 1,000 as the archiver does, every index kept
// up to date (the archive rate); "bulk" (the default) drops the secondary
// indexes, puts batches of 10,000 with the same Put, and builds the
// indexes again from the schema's own definitions, as a restore would.
func fill(b *testing.B, h *DB, n int) {
	ctx := context.Background()
	mode := os.Getenv("HISTORY_BENCH_LOAD")
	if mode == "" {
		mode = "bulk"
	}
	if mode != "bulk" && mode != "archive" {
		b.Fatalf("HISTORY_BENCH_LOAD=%q: want bulk or archive", mode)
	}
	size := 1000
	var indexes []string
	if mode == "bulk" {
		size = 10_000
		indexes = dropIndexes(b, h)
	}
	r := rand.New(rand.NewPCG(1, 2))
	start := time.Now()
	batch := make([]store.EndedJob, 0, size)
	for i := range n {
		batch = append(batch, fakeJob(i, n, r))
		if len(batch) == cap(batch) || i == n-1 {
			if err := h.Put(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	put := time.Since(start)
	for _, ddl := range indexes {
		if _, err := h.SQL().ExecContext(ctx, ddl); err != nil {
			b.Fatalf("%s: %v", ddl, err)
		}
	}
	el := time.Since(start)
	// The planner's statistics, as autovacuum (PostgreSQL) or a periodic
	// ANALYZE would have them on a database that grew over a month.
	if _, err := h.SQL().ExecContext(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}
	// Logged, not reported: the benchmark's loop resets reported metrics.
	b.Logf("loaded %d jobs (%s) in %v (%.0f jobs/s): rows %v, indexes %v, ANALYZE %v", n, mode, el.Round(time.Millisecond),
		float64(n)/el.Seconds(), put.Round(time.Millisecond), (el - put).Round(time.Millisecond), (time.Since(start) - el).Round(time.Millisecond))
}

// dropIndexes drops the history tables' secondary indexes (not their
// primary keys, which Put's conflict checks use) and returns the
// statements that create them again.
func dropIndexes(b *testing.B, h *DB) []string {
	ctx := context.Background()
	query := `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name LIKE 'history_%'`
	if h.pg {
		query = `SELECT indexname, indexdef FROM pg_indexes WHERE tablename LIKE 'history_%' AND indexname NOT LIKE '%_pkey'`
	}
	rows, err := h.SQL().QueryContext(ctx, query)
	if err != nil {
		b.Fatal(err)
	}
	var names, ddl []string
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			b.Fatal(err)
		}
		names, ddl = append(names, name), append(ddl, def)
	}
	rows.Close()
	for _, name := range names {
		if _, err := h.SQL().ExecContext(ctx, "DROP INDEX "+name); err != nil {
			b.Fatal(err)
		}
	}
	return ddl
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
// first page and its second (by cursor), b.N rounds (-benchtime 20x: 40
// pages a search), and reports the p50 and p99 of a page, over all and
// per search. HISTORY_BENCH_PLANS=1 logs each search's plan first
// (EXPLAIN QUERY PLAN on SQLite, EXPLAIN ANALYZE on PostgreSQL).
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
	if os.Getenv("HISTORY_BENCH_PLANS") != "" {
		for i, q := range qs {
			q.Normalize()
			b.Logf("search %d %s:\n%s", i, describe(q), explain(b, h, q))
		}
	}
	lat := make([][]time.Duration, len(qs))
	got := make([]int, len(qs))
	b.ResetTimer()
	for b.Loop() {
		for i, q := range qs {
			t := time.Now()
			js, err := h.SearchJobs(ctx, q)
			if err != nil {
				b.Fatal(err)
			}
			lat[i] = append(lat[i], time.Since(t))
			got[i] = len(js)
			if len(js) > 0 {
				qq := q
				qq.Normalize()
				k, _ := qq.Key(js[len(js)-1])
				qq.After = &k
				t = time.Now()
				if _, err := h.SearchJobs(ctx, qq); err != nil {
					b.Fatal(err)
				}
				lat[i] = append(lat[i], time.Since(t))
			}
		}
	}
	b.StopTimer()
	p := func(ds []time.Duration, q float64) float64 {
		ds = slices.Clone(ds)
		slices.Sort(ds)
		return float64(ds[min(len(ds)-1, int(q*float64(len(ds))))].Microseconds()) / 1000
	}
	all := slices.Concat(lat...)
	b.ReportMetric(p(all, 0.5), "p50_ms")
	b.ReportMetric(p(all, 0.99), "p99_ms")
	b.Logf("%d pages: p50 %.2f ms, p99 %.2f ms, max %.2f ms", len(all), p(all, 0.5), p(all, 0.99), p(all, 1))
	for i, q := range qs {
		q.Normalize()
		b.Logf("search %2d p50 %6.2f ms p99 %6.2f ms  (%3d jobs a first page)  %s", i, p(lat[i], 0.5), p(lat[i], 0.99), got[i], describe(q))
	}
}

// describe is a search as its query string would give it.
func describe(q store.JobQuery) string {
	var out []string
	add := func(k, v string) {
		if v != "" {
			out = append(out, k+"="+v)
		}
	}
	add("client", q.Client)
	var st []string
	for _, s := range q.Statuses {
		st = append(st, string(s))
	}
	add("status", strings.Join(st, ","))
	add("blueprint", q.Blueprint)
	add("state", q.State)
	add("error_code", q.ErrorCode)
	add("worker", q.Worker)
	add("parent", q.Parent)
	for k, v := range q.Meta {
		add("meta."+k, v)
	}
	for k, t := range map[string]time.Time{"created_after": q.CreatedAfter, "created_before": q.CreatedBefore, "ended_after": q.EndedAfter, "ended_before": q.EndedBefore} {
		if !t.IsZero() {
			add(k, t.Format(time.RFC3339))
		}
	}
	slices.Sort(out)
	sort := "-" + string(q.Sort)
	if q.Asc {
		sort = string(q.Sort)
	}
	add("sort", sort)
	add("limit", strconv.Itoa(q.Limit))
	return strings.Join(out, "&")
}

// explain is the plan of q's page: EXPLAIN QUERY PLAN on SQLite, EXPLAIN
// ANALYZE on PostgreSQL.
func explain(t testing.TB, h *DB, q store.JobQuery) string {
	t.Helper()
	text, args := h.searchSQL(q)
	prefix := "EXPLAIN QUERY PLAN "
	if h.pg {
		prefix = "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) "
	}
	rows, err := h.SQL().QueryContext(context.Background(), prefix+text, args...)
	if err != nil {
		t.Fatalf("explain %s: %v", text, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var b strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		// SQLite: id, parent, notused, detail; PostgreSQL: one text column.
		fmt.Fprintf(&b, "  %v\n", vals[len(vals)-1])
	}
	return b.String()
}

func BenchmarkSearchSQLite(b *testing.B) {
	benchSearch(b, "sqlite:///"+filepath.Join(b.TempDir(), "bench.db"))
}

func BenchmarkSearchPostgres(b *testing.B) {
	benchSearch(b, postgresDBB(b))
}
