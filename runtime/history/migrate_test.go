package history

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

func TestSQLiteMigrateV1(t *testing.T)   { testMigrateV1(t, sqliteDB(t)) }
func TestPostgresMigrateV1(t *testing.T) { testMigrateV1(t, postgresDB(t)) }

// putV1 writes jobs as a version 1 archive held them: the job, event and
// metadata rows without the columns and tables version 2 added.
func putV1(t *testing.T, h *DB, jobs []store.EndedJob) {
	t.Helper()
	ctx := context.Background()
	tx, err := h.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for _, e := range jobs {
		j := e.Job
		body, _ := json.Marshal(j)
		var code, msg, parent any
		if j.Error != nil {
			code, msg = nullable(j.Error.Code), nullable(j.Error.Message)
		}
		if j.Parent != nil {
			parent = nullable(j.Parent.JobID)
		}
		if _, err := tx.ExecContext(ctx, h.q(`INSERT INTO history_jobs
			(id, client, blueprint, blueprint_version, status, state, error_code, error_message, parent_id, created_at, ended_at, archived_at, job)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			j.ID, j.Client.Name, j.Blueprint, j.Version, string(j.Status), j.State, code, msg, parent,
			j.CreatedAt.UnixMicro(), endedAt(j).UnixMicro(), endedAt(j).UnixMicro(), string(body)); err != nil {
			t.Fatal(err)
		}
		for i, ev := range e.Timeline {
			row, err := eventRow(j.ID, i, ev)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, h.q(insertEventSQL), row...); err != nil {
				t.Fatal(err)
			}
		}
		for k, v := range j.Metadata {
			s, _ := store.MetaString(v)
			if _, err := tx.ExecContext(ctx, h.q(`INSERT INTO history_metadata (job_id, key, value) VALUES (?, ?, ?)`), j.ID, k, s); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// A database created at version 1 with jobs in it, opened by this binary,
// is migrated in place and answers every search as one written at the
// current version does, and as the live store's matcher orders them.
func testMigrateV1(t *testing.T, uri string) {
	ctx := context.Background()
	tg, err := ParseURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	const n = 600
	r := rand.New(rand.NewPCG(3, 4))
	var jobs []store.EndedJob
	for i := range n {
		e := fakeJob(i, n, r)
		if i%7 == 0 { // two workers on some jobs, one of them twice
			e.Timeline = append(e.Timeline, core.TimelineEvent{At: e.Job.FinishedAt, Type: "task_finished", WorkerID: "w-7"},
				core.TimelineEvent{At: e.Job.FinishedAt, Type: "task_finished", WorkerID: "w-7"})
		}
		if i%3 == 0 {
			e.Job.Metadata["vip"] = true
		}
		jobs = append(jobs, e)
	}
	old, err := openAt(ctx, tg, 1)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := old.Version(ctx); v != 1 {
		t.Fatalf("version %d, want 1", v)
	}
	putV1(t, old, jobs)
	old.Close()

	h := mustOpen(t, uri) // migrates
	if v, _ := h.Version(ctx); v != SchemaVersion() {
		t.Fatalf("version after the migration %d, want %d", v, SchemaVersion())
	}
	fresh := mustOpen(t, sqliteDB(t))
	if err := fresh.Put(ctx, jobs); err != nil {
		t.Fatal(err)
	}
	wantWorkers := 0
	for _, e := range jobs {
		seen := map[string]bool{}
		for _, ev := range e.Timeline {
			if ev.WorkerID != "" && !seen[ev.WorkerID] {
				seen[ev.WorkerID] = true
				wantWorkers++
			}
		}
	}
	for name, db := range map[string]*DB{"migrated": h, "fresh": fresh} {
		var workers int
		db.SQL().QueryRow(`SELECT count(*) FROM history_workers`).Scan(&workers)
		if workers != wantWorkers {
			t.Fatalf("history_workers (%s): %d rows, want one a job and worker: %d", name, workers, wantWorkers)
		}
	}

	qs := typicalSearches(n)
	qs = append(qs,
		store.JobQuery{Meta: map[string]string{"tenant": "t-42", "vip": "true"}},
		store.JobQuery{Meta: map[string]string{"vip": "true"}, Worker: "w-7", Sort: store.SortEnded, Asc: true},
		store.JobQuery{Worker: "w-7", Client: "c3"},
		store.JobQuery{Worker: "w-7", ErrorCode: wire.CodeTransientError, State: "ship", Blueprint: "bp2"},
		store.JobQuery{Meta: map[string]string{"vip": "true"}, Parent: "job-00000200"},
		store.JobQuery{Meta: map[string]string{"vip": "true"}, Blueprint: "bp4", CreatedAfter: benchT0.Add(240 * time.Hour), EndedBefore: benchT0.Add(600 * time.Hour)},
		store.JobQuery{Worker: "w-7", Statuses: []wire.JobStatus{wire.StatusFailed, wire.StatusQuarantined}},
		store.JobQuery{Statuses: []wire.JobStatus{wire.StatusFailed, wire.StatusQuarantined}, Sort: store.SortEnded, Asc: true},
		store.JobQuery{Client: "c1", Statuses: []wire.JobStatus{wire.StatusFinished, wire.StatusFailed}, ErrorCode: wire.CodeTransientError},
	)
	for qi, q := range qs {
		q.Limit = 13
		q.Normalize()
		// The truth: every job matching, in the query's order.
		var want []string
		sorted := slices.Clone(jobs)
		slices.SortFunc(sorted, func(a, b store.EndedJob) int {
			ka, _ := q.Key(a.Job)
			kb, _ := q.Key(b.Job)
			if q.Less(ka, kb) {
				return -1
			}
			if q.Less(kb, ka) {
				return 1
			}
			return 0
		})
		for _, e := range sorted {
			if q.Match(e.Job, func() []core.TimelineEvent { return e.Timeline }) {
				want = append(want, e.Job.ID)
			}
		}
		for name, db := range map[string]*DB{"migrated": h, "fresh": fresh} {
			var got []string
			qq := q
			for page := 0; page < 4; page++ {
				js, err := db.SearchJobs(ctx, qq)
				if err != nil {
					t.Fatalf("search %d (%s): %v", qi, name, err)
				}
				got = append(got, ids(js)...)
				if len(js) < qq.Limit {
					break
				}
				k, _ := qq.Key(js[len(js)-1])
				qq.After = &k
			}
			w := want[:min(len(want), len(got), 4*q.Limit)]
			if len(got) < min(len(want), 4*q.Limit) || !slices.Equal(got, w) {
				t.Errorf("search %d %+v (%s): got %d %v\nwant %v", qi, q, name, len(got), got, want[:min(len(want), 4*q.Limit)])
			}
		}
	}
}
