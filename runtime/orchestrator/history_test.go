package orchestrator

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/avtomatika-ai/avtomatika-go/internal/redistest"
	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/history"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store/memstore"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store/redisstore"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// clock is a test clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openHistory(t testing.TB, path string) *history.DB {
	t.Helper()
	h, err := history.Open(context.Background(), "sqlite:///"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// runStock starts a stock job for the caller with input n and, unless
// status is "", has worker w1 answer it with that status.
func runStock(t testing.TB, x *Orchestrator, caller *config.Client, n int64, status string) *core.Job {
	t.Helper()
	ctx := context.Background()
	m, err := x.Endpoint("/jobs/stock")
	if err != nil {
		t.Fatal(err)
	}
	j, _, err := x.Create(ctx, caller, m, CreateRequest{Input: map[string]any{"n": n}, Metadata: map[string]any{"batch": strconv.FormatInt(n%2, 10)}})
	if err != nil {
		t.Fatal(err)
	}
	if status == "" {
		return j
	}
	p, err := x.Poll(ctx, "w1", 0)
	if err != nil {
		t.Fatal(err)
	}
	task, err := x.Lease(ctx, p)
	if err != nil || task == nil || task.JobID != j.ID {
		t.Fatalf("lease: %+v %v", task, err)
	}
	if _, err := x.Result(ctx, "w1", TaskResult{JobID: j.ID, TaskID: task.ID, Status: status}); err != nil {
		t.Fatal(err)
	}
	return j
}

func pageIDs(p Page) []string {
	out := []string{}
	for _, j := range p.Jobs {
		out = append(out, j.ID)
	}
	return out
}

// Ended jobs move to the archive and, past their retention, leave the live
// store; they stay readable, and a search sees live and archived jobs as
// one list, each client only its own.
func TestHistoryArchiveRetentionSearch(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	st := memstore.New(memstore.Options{})
	h := openHistory(t, filepath.Join(t.TempDir(), "h.db"))
	x := newOrchestrator(t, st, Options{History: h, Clock: clk.now})
	register(t, x, "w1")
	acme, other := &config.Client{Name: "acme"}, &config.Client{Name: "other"}
	var acmeIDs []string // newest first
	for i := range 5 {
		status := "success"
		if i%2 == 1 {
			status = "out_of_stock"
		}
		acmeIDs = slices.Insert(acmeIDs, 0, runStock(t, x, acme, int64(i), status).ID)
		clk.add(time.Second)
	}
	otherJob := runStock(t, x, other, 7, "success")
	clk.add(time.Second)
	running := runStock(t, x, acme, 9, "")
	acmeIDs = slices.Insert(acmeIDs, 0, running.ID)

	if n, err := x.ArchiveOnce(ctx); err != nil || n != 6 {
		t.Fatalf("ArchiveOnce = %d, %v; want the 6 ended jobs", n, err)
	}
	if n, _ := x.outbox.OutboxLen(ctx); n != 0 {
		t.Fatalf("outbox holds %d after archiving", n)
	}
	// Retention not reached: nothing leaves.
	if n, err := x.RemoveExpired(ctx); err != nil || n != 0 {
		t.Fatalf("RemoveExpired before the retention = %d, %v", n, err)
	}
	clk.add(x.cfg.JobRetention + time.Second)
	if n, err := x.RemoveExpired(ctx); err != nil || n != 6 {
		t.Fatalf("RemoveExpired = %d, %v; want 6", n, err)
	}
	if _, err := st.GetJob(ctx, acmeIDs[2]); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an archived job past its retention is still live: %v", err)
	}
	// Still readable, from the archive, by its client only.
	j, tl, err := x.Timeline(ctx, acme, acmeIDs[2])
	if err != nil || j.Status != wire.StatusFailed || len(tl) == 0 {
		t.Fatalf("archived job: %+v, %d events, %v", j, len(tl), err)
	}
	if !slices.ContainsFunc(tl, func(e core.TimelineEvent) bool { return e.WorkerID == "w1" }) {
		t.Errorf("archived timeline lost the worker: %+v", tl)
	}
	if _, err := x.Job(ctx, other, acmeIDs[2]); err == nil {
		t.Fatal("another client reads acme's archived job")
	}
	if _, err := x.Job(ctx, acme, running.ID); err != nil {
		t.Fatalf("the running job: %v", err)
	}

	search := func(caller *config.Client, q Query) Page {
		t.Helper()
		p, err := x.Search(ctx, caller, q)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if got := pageIDs(search(acme, Query{})); !slices.Equal(got, acmeIDs) {
		t.Errorf("acme's jobs = %v\nwant live and archived, newest first: %v", got, acmeIDs)
	}
	if got := pageIDs(search(other, Query{})); !slices.Equal(got, []string{otherJob.ID}) {
		t.Errorf("other's jobs = %v", got)
	}
	if got := search(nil, Query{}); len(got.Jobs) != 7 {
		t.Errorf("the open API sees %d jobs, want 7", len(got.Jobs))
	}
	failed := search(acme, Query{JobQuery: store.JobQuery{Statuses: []wire.JobStatus{wire.StatusFailed}}})
	if got := pageIDs(failed); !slices.Equal(got, []string{acmeIDs[2], acmeIDs[4]}) {
		t.Errorf("failed = %v, want %v", got, []string{acmeIDs[2], acmeIDs[4]})
	}
	// Pages of 2 by cursor cover every job once.
	var all []string
	q := Query{JobQuery: store.JobQuery{Limit: 2}}
	for range 10 {
		p := search(acme, q)
		all = append(all, pageIDs(p)...)
		if p.Next == "" {
			break
		}
		q.Cursor = p.Next
	}
	if !slices.Equal(all, acmeIDs) {
		t.Errorf("pages = %v, want %v", all, acmeIDs)
	}
	// The offset of the list API still works.
	if got := pageIDs(search(acme, Query{JobQuery: store.JobQuery{Limit: 2}, Offset: 3})); !slices.Equal(got, acmeIDs[3:5]) {
		t.Errorf("offset 3 = %v, want %v", got, acmeIDs[3:5])
	}
	// Oldest first, by end, with metadata and a Starlark condition.
	asc := search(acme, Query{JobQuery: store.JobQuery{Sort: store.SortEnded, Asc: true}})
	if got := pageIDs(asc); !slices.Equal(got, []string{acmeIDs[5], acmeIDs[4], acmeIDs[3], acmeIDs[2], acmeIDs[1]}) {
		t.Errorf("by end, oldest first = %v", got)
	}
	where, err := CompileWhere(`input.n >= 3 and job.blueprint == "stock"`)
	if err != nil {
		t.Fatal(err)
	}
	if got := pageIDs(search(acme, Query{Where: where})); !slices.Equal(got, acmeIDs[:3]) {
		t.Errorf("where input.n >= 3 = %v, want %v", got, acmeIDs[:3])
	}
	meta := search(acme, Query{JobQuery: store.JobQuery{Meta: map[string]string{"batch": "1"}}})
	if got := pageIDs(meta); !slices.Equal(got, []string{running.ID, acmeIDs[2], acmeIDs[4]}) {
		t.Errorf("meta batch=1 = %v", got)
	}
	// A cursor of another order, or not a cursor, is refused.
	if _, err := x.Search(ctx, acme, Query{Cursor: "bogus"}); !isInvalid(err) {
		t.Errorf("bogus cursor: %v", err)
	}
	first := search(acme, Query{JobQuery: store.JobQuery{Limit: 1}})
	if _, err := x.Search(ctx, acme, Query{JobQuery: store.JobQuery{Sort: store.SortEnded}, Cursor: first.Next}); !isInvalid(err) {
		t.Errorf("cursor of another sort: %v", err)
	}
	if _, err := CompileWhere(`input.n >`); !isInvalid(err) {
		t.Errorf("where that does not compile: %v", err)
	}
	loop, _ := CompileWhere(`len([i for i in range(100000) for k in range(100)]) > 0`)
	if _, err := x.Search(ctx, acme, Query{Where: loop}); !isInvalid(err) || !strings.Contains(err.Error(), "step") {
		t.Errorf("where past the step limit: %v", err)
	}
}

func isInvalid(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == KindInvalid
}

// crashingArchive commits a batch and then fails as a process killed
// before it could tell the live store would.
type crashingArchive struct {
	store.Archive
	crash bool
}

func (c *crashingArchive) Put(ctx context.Context, jobs []store.EndedJob) error {
	if err := c.Archive.Put(ctx, jobs); err != nil {
		return err
	}
	if c.crash {
		return errors.New("killed after the archive committed")
	}
	return nil
}

// A crash between the archive's commit and the live store's
// acknowledgement loses nothing and archives nothing twice: the jobs stay
// in the outbox, the next archiver (another instance, or this one
// restarted on the same Redis) puts them again, and the archive keeps one
// copy. Run on Redis, whose data outlives the process.
func TestHistoryCrashBetweenArchiveAndAck(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t, redistest.Options{})
	dbPath := filepath.Join(t.TempDir(), "h.db")
	open := func() store.Store {
		st, err := redisstore.Open(ctx, redisstore.Config{URL: srv.URL, Prefix: srv.Prefix})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	h1 := openHistory(t, dbPath)
	x1 := newOrchestrator(t, open(), Options{History: &crashingArchive{Archive: h1, crash: true}})
	register(t, x1, "w1")
	var ids []string
	for i := range 5 {
		ids = append(ids, runStock(t, x1, nil, int64(i), "success").ID)
	}
	if _, err := x1.ArchiveOnce(ctx); err == nil {
		t.Fatal("the crashing archive did not fail")
	}
	if n, _ := x1.outbox.OutboxLen(ctx); n != 5 {
		t.Fatalf("after the crash the outbox holds %d, want all 5", n)
	}
	x1.Close()

	h2 := openHistory(t, dbPath)
	x2 := newOrchestrator(t, open(), Options{History: h2})
	if n, err := x2.ArchiveOnce(ctx); err != nil || n != 5 {
		t.Fatalf("archive after the restart = %d, %v", n, err)
	}
	if n, _ := x2.outbox.OutboxLen(ctx); n != 0 {
		t.Fatalf("outbox holds %d", n)
	}
	var jobs, dupEvents int
	h2.SQL().QueryRow(`SELECT count(*) FROM history_jobs`).Scan(&jobs)
	h2.SQL().QueryRow(`SELECT count(*) FROM (SELECT job_id, event_type, at, count(*) c FROM history_events GROUP BY job_id, event_type, at HAVING count(*) > 1)`).Scan(&dupEvents)
	if jobs != 5 || dupEvents != 0 {
		t.Fatalf("archive holds %d jobs (want 5) and %d doubled events (want 0)", jobs, dupEvents)
	}
	for _, id := range ids {
		live, err := x2.store.Timeline(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		arch, err := h2.Timeline(ctx, id)
		if err != nil || len(arch) != len(live) {
			t.Fatalf("job %s: archived %d events, live %d (%v)", id, len(arch), len(live), err)
		}
	}
	// A crash before the archive committed: the jobs wait, then go.
	h2.Close()
	if _, err := x2.ArchiveOnce(ctx); err != nil {
		t.Fatalf("nothing to archive: %v", err)
	}
}

func redisUsedMemory(t testing.TB, url string) int64 {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	info, err := c.Info(context.Background(), "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("INFO memory without used_memory")
	return 0
}

// runThroughRedis runs n one-task jobs to their end through the Redis
// store with history on, archives them, lets their retention pass and
// removes them; it returns Redis' used_memory before and after.
func runThroughRedis(t testing.TB, n int) (before, after int64) {
	ctx := context.Background()
	srv := redistest.Start(t, redistest.Options{})
	if srv.Port == 0 {
		t.Skip("a Redis of the test's own is needed to read used_memory")
	}
	st, err := redisstore.Open(ctx, redisstore.Config{URL: srv.URL, Prefix: srv.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	h := openHistory(t, filepath.Join(t.TempDir(), "h.db"))
	set, ds := lang.LoadFS(fstest.MapFS{"stock.yaml": {Data: []byte(stockBP)}})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	cfg := config.Default()
	cfg.BlueprintsDir = ""
	x, err := New(Options{Config: cfg, Store: st, Blueprints: set, History: h, Clock: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if err := x.Register(ctx, Registration{WorkerID: "w1", Skills: []string{"check_inventory"}}); err != nil {
		t.Fatal(err)
	}
	// cycle runs k jobs through: created, ended, archived, removed.
	cycle := func(k int) {
		for i := range k {
			runStock(t, x, &config.Client{Name: "acme"}, int64(i), "success")
			if i%archiveBatch == archiveBatch-1 {
				if _, err := x.ArchiveOnce(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
		for {
			k, err := x.ArchiveOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if k == 0 {
				break
			}
		}
		clk.add(x.cfg.JobRetention + time.Second)
		removed, err := x.RemoveExpired(ctx)
		if err != nil || removed != k {
			t.Fatalf("removed %d of %d: %v", removed, k, err)
		}
	}
	// Where it started: a store that ran a few jobs, so the scripts are
	// loaded and the connections open (memory a fresh Redis has not
	// spent yet, and that does not grow with jobs).
	cycle(archiveBatch)
	before = redisUsedMemory(t, srv.URL)
	cycle(n)
	var archived int
	h.SQL().QueryRow(`SELECT count(*) FROM history_jobs`).Scan(&archived)
	if archived != n+archiveBatch {
		t.Fatalf("archived %d of %d", archived, n+archiveBatch)
	}
	after = redisUsedMemory(t, srv.URL)
	if after-before > before/10 {
		logBiggestKeys(t, srv.URL)
	}
	return before, after
}

// logBiggestKeys logs the keys that hold the most memory, to say where a
// growth went.
func logBiggestKeys(t testing.TB, url string) {
	ctx := context.Background()
	opt, _ := redis.ParseURL(url)
	c := redis.NewClient(opt)
	defer c.Close()
	keys, _ := c.Keys(ctx, "*").Result()
	type km struct {
		k string
		n int64
	}
	var all []km
	for _, k := range keys {
		n, _ := c.MemoryUsage(ctx, k).Result()
		all = append(all, km{k, n})
	}
	slices.SortFunc(all, func(a, b km) int { return int(b.n - a.n) })
	t.Logf("%d keys left; the biggest:", len(all))
	for _, e := range all[:min(len(all), 15)] {
		t.Logf("  %8d  %s", e.n, e.k)
	}
}

// The live store stays bounded: jobs run through the Redis store with
// history on leave its memory where it started, within 10%. (The 100,000
// job run is BenchmarkRedisBounded.)
func TestHistoryRedisBounded(t *testing.T) {
	n := 3000 // three lists of 1,024 jobs: two are deleted whole
	before, after := runThroughRedis(t, n)
	t.Logf("used_memory %d before, %d after %d jobs", before, after, n)
	if d := after - before; d > before/10 {
		t.Fatalf("Redis used_memory grew %d bytes (%.1f%%) over %d jobs; want within 10%%", d, 100*float64(d)/float64(before), n)
	}
}

// BenchmarkRedisBounded runs 100,000 jobs through the Redis store with
// history on and reports the growth of Redis used_memory (goal: within
// 10% of the start).
func BenchmarkRedisBounded(b *testing.B) {
	for range b.N {
		before, after := runThroughRedis(b, 100_000)
		b.ReportMetric(float64(before), "start_bytes")
		b.ReportMetric(float64(after), "end_bytes")
		b.ReportMetric(100*float64(after-before)/float64(before), "growth_%")
	}
}

// The archiver's wait after a job ended ends once no other job ended in
// a tick, once a batch's worth has ended, or with its context; reading
// the outbox starts the count again.
func TestArchiveLingerEnds(t *testing.T) {
	x := &Orchestrator{}
	if !x.linger(context.Background()) {
		t.Fatal("linger with no job ending: want true")
	}
	x.archiveEnded.Store(archiveBatch)
	if !x.linger(context.Background()) {
		t.Fatal("linger with a batch ended: want true")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if x.linger(ctx) {
		t.Fatal("linger with its context ended: want false")
	}

	h := openHistory(t, filepath.Join(t.TempDir(), "h.db"))
	x2 := newOrchestrator(t, memstore.New(memstore.Options{}), Options{History: h})
	x2.kickArchive()
	x2.kickArchive()
	if n := x2.archiveEnded.Load(); n != 2 {
		t.Fatalf("after two jobs ended the count is %d, want 2", n)
	}
	if _, err := x2.ArchiveOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := x2.archiveEnded.Load(); n != 0 {
		t.Fatalf("after the outbox was read the count is %d, want 0", n)
	}
}
