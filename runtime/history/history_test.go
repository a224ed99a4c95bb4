package history

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// opener opens a fresh, empty history database for one test; reopen opens
// the same database again.
type opener func(t *testing.T) (uri string)

func sqliteDB(t *testing.T) string {
	return "sqlite:///" + filepath.Join(t.TempDir(), "history.db")
}

// pgAdmin is the PostgreSQL the tests use: trust auth, user postgres.
const pgAdmin = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// postgresDB creates a database of its own for the test and drops it
// after. Without a PostgreSQL the test is skipped, or fails under CI.
func postgresDB(t *testing.T) string { return postgresDBB(t) }

// postgresDBB is postgresDB for tests and benchmarks.
func postgresDBB(t testing.TB) string {
	t.Helper()
	db, err := sql.Open("pgx", pgAdmin)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = db.PingContext(ctx)
		cancel()
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL at 127.0.0.1:5432 is required under CI: %v", err)
		}
		t.Skipf("no PostgreSQL at 127.0.0.1:5432: %v", err)
	}
	var b [6]byte
	rand.Read(b[:])
	name := "avt_history_test_" + hex.EncodeToString(b[:])
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		db.Close()
	})
	return "postgresql://postgres@127.0.0.1:5432/" + name + "?sslmode=disable"
}

func TestSQLite(t *testing.T)   { suite(t, sqliteDB) }
func TestPostgres(t *testing.T) { suite(t, postgresDB) }

// suite is the history conformance suite every database runs.
func suite(t *testing.T, open opener) {
	t.Run("Migrate", func(t *testing.T) { testMigrate(t, open(t)) })
	t.Run("PutOnce", func(t *testing.T) { testPutOnce(t, open(t)) })
	t.Run("Search", func(t *testing.T) { testSearch(t, open(t)) })
	t.Run("Paging", func(t *testing.T) { testPaging(t, open(t)) })
}

func mustOpen(t *testing.T, uri string) *DB {
	t.Helper()
	h, err := Open(context.Background(), uri)
	if err != nil {
		t.Fatalf("open %s: %v", uri, err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func testMigrate(t *testing.T, uri string) {
	ctx := context.Background()
	h := mustOpen(t, uri)
	if v, err := h.Version(ctx); err != nil || v != SchemaVersion() {
		t.Fatalf("version after open = %d, %v; want %d", v, err, SchemaVersion())
	}
	h.Close()
	h = mustOpen(t, uri) // a second open migrates nothing and fails nothing
	if v, _ := h.Version(ctx); v != SchemaVersion() {
		t.Fatalf("version after reopen = %d", v)
	}
	if _, err := h.SQL().Exec(h.q(`UPDATE history_schema SET version = ?`), SchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	h.Close()
	_, err := Open(ctx, uri)
	if !errors.Is(err, ErrNewerSchema) || !strings.Contains(err.Error(), fmt.Sprintf("schema version %d", SchemaVersion()+1)) {
		t.Fatalf("open of a newer schema: %v; want ErrNewerSchema naming the version", err)
	}
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func ended(id, client, bp string, status wire.JobStatus, created, end time.Duration) store.EndedJob {
	j := &core.Job{ID: id, Blueprint: bp, Version: "h1", Status: status, State: "done",
		Client: core.Client{Name: client}, Input: map[string]any{"n": 1.0},
		CreatedAt: t0.Add(created), UpdatedAt: t0.Add(end), FinishedAt: t0.Add(end)}
	tl := []core.TimelineEvent{
		{At: t0.Add(created), Type: "job_created", State: "start"},
		{At: t0.Add(end), Type: "task_finished", State: "work", TaskID: "t-" + id, WorkerID: "w-" + client, Attempt: 1, Detail: map[string]any{"status": "success"}},
	}
	return store.EndedJob{Job: j, Timeline: tl}
}

func testPutOnce(t *testing.T, uri string) {
	ctx := context.Background()
	h := mustOpen(t, uri)
	e := ended("j1", "alice", "order", wire.StatusFinished, 0, time.Second)
	e.Job.Metadata = map[string]any{"region": "eu", "n": 3.0}
	if err := h.Put(ctx, []store.EndedJob{e}); err != nil {
		t.Fatal(err)
	}
	// A crash between the archive and the live store's acknowledgement
	// puts the same job again: nothing doubles.
	if err := h.Put(ctx, []store.EndedJob{e, ended("j2", "bob", "order", wire.StatusFailed, 0, 2*time.Second)}); err != nil {
		t.Fatal(err)
	}
	var jobs, events, meta int
	h.SQL().QueryRow(`SELECT count(*) FROM history_jobs`).Scan(&jobs)
	h.SQL().QueryRow(`SELECT count(*) FROM history_events`).Scan(&events)
	h.SQL().QueryRow(`SELECT count(*) FROM history_metadata`).Scan(&meta)
	if jobs != 2 || events != 4 || meta != 2 {
		t.Fatalf("rows: jobs %d events %d metadata %d; want 2, 4, 2", jobs, events, meta)
	}
	j, err := h.Job(ctx, "j1")
	if err != nil || j.ID != "j1" || j.Client.Name != "alice" || !j.FinishedAt.Equal(e.Job.FinishedAt) || j.Input["n"] != 1.0 || j.Metadata["region"] != "eu" {
		t.Fatalf("Job = %+v, %v", j, err)
	}
	tl, err := h.Timeline(ctx, "j1")
	if err != nil || len(tl) != 2 || tl[1].WorkerID != "w-alice" || tl[1].Detail["status"] != "success" || !tl[1].At.Equal(e.Timeline[1].At) || tl[1].Attempt != 1 {
		t.Fatalf("Timeline = %+v, %v", tl, err)
	}
	if err := h.AppendTimeline(ctx, "j1", []core.TimelineEvent{{At: t0.Add(time.Hour), Type: "redriven", Detail: map[string]any{"job_id": "j9"}}}); err != nil {
		t.Fatal(err)
	}
	if tl, _ := h.Timeline(ctx, "j1"); len(tl) != 3 || tl[2].Type != "redriven" || tl[2].Detail["job_id"] != "j9" {
		t.Fatalf("timeline after AppendTimeline = %+v", tl)
	}
	// An appended event that names a worker makes the job found by it.
	if js, _ := h.SearchJobs(ctx, store.JobQuery{Worker: "w-late"}); len(js) != 0 {
		t.Fatalf("worker search before the event: %v", ids(js))
	}
	if err := h.AppendTimeline(ctx, "j1", []core.TimelineEvent{{At: t0.Add(2 * time.Hour), Type: "task_finished", WorkerID: "w-late"}}); err != nil {
		t.Fatal(err)
	}
	if js, err := h.SearchJobs(ctx, store.JobQuery{Worker: "w-late", Client: "alice", Statuses: []wire.JobStatus{wire.StatusFinished}}); err != nil || !slices.Equal(ids(js), []string{"j1"}) {
		t.Fatalf("worker search after the event: %v, %v", ids(js), err)
	}
	if err := h.AppendTimeline(ctx, "nope", []core.TimelineEvent{{At: t0, Type: "x"}}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("AppendTimeline(unknown) = %v", err)
	}
	if _, err := h.Job(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Job(unknown) = %v; want ErrNotFound", err)
	}
	if _, err := h.Timeline(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Timeline(unknown) = %v; want ErrNotFound", err)
	}
}

func ids(js []*core.Job) []string {
	out := []string{}
	for _, j := range js {
		out = append(out, j.ID)
	}
	return out
}

func testSearch(t *testing.T, uri string) {
	ctx := context.Background()
	h := mustOpen(t, uri)
	a := ended("a", "alice", "order", wire.StatusFinished, 0, 10*time.Second)
	b := ended("b", "alice", "order", wire.StatusFailed, time.Second, 5*time.Second)
	b.Job.Error = &wire.Error{Code: "PERMANENT_ERROR", Message: "no"}
	b.Job.State = "charge"
	c := ended("c", "bob", "refund", wire.StatusQuarantined, 2*time.Second, 3*time.Second)
	c.Job.Parent = &core.ParentRef{JobID: "a", State: "sub"}
	c.Job.Metadata = map[string]any{"tenant": "acme", "tier": 2.0}
	if err := h.Put(ctx, []store.EndedJob{a, b, c}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		q    store.JobQuery
		want []string
	}{
		{"all newest first", store.JobQuery{}, []string{"c", "b", "a"}},
		{"oldest first", store.JobQuery{Asc: true}, []string{"a", "b", "c"}},
		{"by end", store.JobQuery{Sort: store.SortEnded}, []string{"a", "b", "c"}},
		{"by end asc", store.JobQuery{Sort: store.SortEnded, Asc: true}, []string{"c", "b", "a"}},
		{"client", store.JobQuery{Client: "alice"}, []string{"b", "a"}},
		{"statuses", store.JobQuery{Statuses: []wire.JobStatus{wire.StatusFailed, wire.StatusQuarantined}}, []string{"c", "b"}},
		{"blueprint", store.JobQuery{Blueprint: "refund"}, []string{"c"}},
		{"state", store.JobQuery{State: "charge"}, []string{"b"}},
		{"error code", store.JobQuery{ErrorCode: "PERMANENT_ERROR"}, []string{"b"}},
		{"worker", store.JobQuery{Worker: "w-bob"}, []string{"c"}},
		{"parent", store.JobQuery{Parent: "a"}, []string{"c"}},
		{"created range", store.JobQuery{CreatedAfter: t0.Add(time.Second), CreatedBefore: t0.Add(2 * time.Second)}, []string{"b"}},
		{"ended range", store.JobQuery{EndedAfter: t0.Add(4 * time.Second)}, []string{"b", "a"}},
		{"meta string", store.JobQuery{Meta: map[string]string{"tenant": "acme"}}, []string{"c"}},
		{"meta number", store.JobQuery{Meta: map[string]string{"tier": "2"}}, []string{"c"}},
		{"meta miss", store.JobQuery{Meta: map[string]string{"tenant": "other"}}, []string{}},
		{"other client's worker", store.JobQuery{Client: "alice", Worker: "w-bob"}, []string{}},
	}
	for _, tc := range cases {
		got, err := h.SearchJobs(ctx, tc.q)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !slices.Equal(ids(got), tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, ids(got), tc.want)
		}
		// The live store's matcher agrees with the database.
		var live []string
		for _, e := range []store.EndedJob{c, b, a} {
			q := tc.q
			q.Normalize()
			if q.Match(e.Job, func() []core.TimelineEvent { return e.Timeline }) {
				live = append(live, e.Job.ID)
			}
		}
		if !tc.q.Asc && tc.q.Sort == "" && !slices.Equal(append([]string{}, live...), tc.want) {
			t.Errorf("%s: Match gives %v, the database %v", tc.name, live, tc.want)
		}
	}
}

func testPaging(t *testing.T, uri string) {
	ctx := context.Background()
	h := mustOpen(t, uri)
	var batch []store.EndedJob
	var want []string
	for i := range 57 {
		// Pairs share a creation time: the id breaks the tie.
		e := ended(fmt.Sprintf("j%03d", i), "alice", "order", wire.StatusFinished, time.Duration(i/2)*time.Second, time.Hour)
		batch = append(batch, e)
		want = append(want, e.Job.ID)
	}
	if err := h.Put(ctx, batch); err != nil {
		t.Fatal(err)
	}
	slices.Reverse(want)
	var got []string
	q := store.JobQuery{Limit: 10}
	for page := 0; ; page++ {
		js, err := h.SearchJobs(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ids(js)...)
		if len(js) < q.Limit {
			break
		}
		k, _ := q.Key(js[len(js)-1])
		q.After = &k
		if page > 10 {
			t.Fatal("paging does not end")
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pages gave %v\nwant %v", got, want)
	}
}

// The error code's and the parent's indexes hold only the jobs that have
// one (schema version 4), and a search by either still reads them.
func TestPartialIndexesServeTheirSearches(t *testing.T) {
	h := mustOpen(t, sqliteDB(t))
	ctx := context.Background()
	withCode := ended("j1", "c1", "bp", wire.StatusFailed, 0, time.Second)
	withCode.Job.Error = &wire.Error{Code: "TIMEOUT", Message: "late"}
	child := ended("j2", "c1", "bp", wire.StatusFinished, 0, time.Second)
	child.Job.Parent = &core.ParentRef{JobID: "j1"}
	if err := h.Put(ctx, []store.EndedJob{withCode, child, ended("j3", "c1", "bp", wire.StatusFinished, 0, time.Second)}); err != nil {
		t.Fatal(err)
	}
	for index, where := range map[string]string{"history_jobs_error_code": "WHERE error_code IS NOT NULL", "history_jobs_parent_created": "WHERE parent_id IS NOT NULL"} {
		var def string
		if err := h.SQL().QueryRowContext(ctx, "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?", index).Scan(&def); err != nil {
			t.Fatalf("%s: %v", index, err)
		}
		if !strings.HasSuffix(def, where) {
			t.Errorf("%s is %q, want it to end %q", index, def, where)
		}
	}
	for _, c := range []struct {
		q     store.JobQuery
		index string
		want  string
	}{
		{store.JobQuery{ErrorCode: "TIMEOUT"}, "history_jobs_error_code", "j1"},
		{store.JobQuery{Parent: "j1"}, "history_jobs_parent_created", "j2"},
	} {
		c.q.Normalize()
		if plan := explain(t, h, c.q); !strings.Contains(plan, c.index) {
			t.Errorf("search %+v does not read %s:\n%s", c.q, c.index, plan)
		}
		js, err := h.SearchJobs(ctx, c.q)
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(js); len(got) != 1 || got[0] != c.want {
			t.Errorf("search %+v = %v, want [%s]", c.q, got, c.want)
		}
	}
}
