package history

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

func TestSQLiteMigrate(t *testing.T) {
	for _, from := range []int{1, 2} {
		t.Run(fmt.Sprintf("from%d", from), func(t *testing.T) { testMigrateFrom(t, from, sqliteDB) })
	}
}

func TestPostgresMigrate(t *testing.T) {
	for _, from := range []int{1, 2} {
		t.Run(fmt.Sprintf("from%d", from), func(t *testing.T) { testMigrateFrom(t, from, postgresDB) })
	}
}

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
			var detail any
			if len(ev.Detail) > 0 {
				b, _ := json.Marshal(ev.Detail)
				detail = string(b)
			}
			var attempt any
			if ev.Attempt != 0 {
				attempt = ev.Attempt
			}
			if _, err := tx.ExecContext(ctx, h.q(`INSERT INTO history_events
				(job_id, seq, at, event_type, state, previous_state, next_state, task_id, worker_id, attempt, detail)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`), j.ID, i, ev.At.UnixMicro(), ev.Type, nullable(ev.State), nullable(ev.PrevState),
				nullable(ev.NextState), nullable(ev.TaskID), nullable(ev.WorkerID), attempt, detail); err != nil {
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

// A database created at version 1 with jobs in it, brought to version
// from (migrated by this binary's own earlier migrations, as an older
// binary did), then opened by this binary, is migrated in place: it holds
// the same timelines, history_events rows and worker rows as a fresh
// database of the same driver written at the current version, and
// answers every search as that one does and as the live store's matcher
// orders them.
func testMigrateFrom(t *testing.T, from int, open opener) {
	ctx := context.Background()
	uri := open(t)
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
		switch {
		case i%11 == 1: // no timeline at all
			e.Timeline = nil
		case i%13 == 2: // details of every JSON shape
			e.Timeline[2].Detail = map[string]any{"nested": map[string]any{"list": []any{1.0, "two", nil, true}},
				"quote": `a "b" \\ ü`, "null": nil, "big": 1e300}
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
	if from > 1 {
		mid, err := openAt(ctx, tg, from)
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := mid.Version(ctx); v != from {
			t.Fatalf("version %d, want %d", v, from)
		}
		mid.Close()
	}

	h := mustOpen(t, uri) // migrates
	if v, _ := h.Version(ctx); v != SchemaVersion() {
		t.Fatalf("version after the migration %d, want %d", v, SchemaVersion())
	}
	fresh := mustOpen(t, open(t))
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

	// The timelines, read through the archive and through the
	// history_events view, match what was put; a migrated job's timeline
	// takes appended events.
	for name, db := range map[string]*DB{"migrated": h, "fresh": fresh} {
		for _, e := range jobs {
			got, err := db.Timeline(ctx, e.Job.ID)
			if err != nil {
				t.Fatal(err)
			}
			want := e.Timeline
			if want == nil {
				want = []core.TimelineEvent{}
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("timeline of %s (%s):\n got %+v\nwant %+v", e.Job.ID, name, got, want)
			}
		}
		if got, want := viewRows(t, db), wantViewRows(jobs); !slices.Equal(got, want) {
			i := firstDiff(got, want)
			t.Fatalf("history_events (%s): %d rows, want %d; first difference at %d:\n got %v\nwant %v", name, len(got), len(want), i,
				got[min(i, len(got)-1)], want[min(i, len(want)-1)])
		}
	}
	more := []core.TimelineEvent{{At: benchT0.Add(time.Hour), Type: "redriven", Detail: map[string]any{"new_job_id": "job-x"}},
		{At: benchT0.Add(2 * time.Hour), Type: "task_result", WorkerID: "w-appended", Attempt: 2}}
	for _, db := range []*DB{h, fresh} {
		if err := db.AppendTimeline(ctx, jobs[5].Job.ID, more); err != nil {
			t.Fatal(err)
		}
		got, err := db.Timeline(ctx, jobs[5].Job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if want := slices.Concat(jobs[5].Timeline, more); !reflect.DeepEqual(got, want) {
			t.Fatalf("timeline after an append:\n got %+v\nwant %+v", got, want)
		}
		if js, err := db.SearchJobs(ctx, store.JobQuery{Worker: "w-appended"}); err != nil || len(js) != 1 {
			t.Fatalf("search by the appended event's worker: %d jobs, %v", len(js), err)
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

// viewRows are the history_events view's rows, each as text, in order.
func viewRows(t *testing.T, h *DB) []string {
	t.Helper()
	rows, err := h.SQL().Query(`SELECT job_id, seq, at, event_type, state, previous_state, next_state, task_id, worker_id, attempt, detail
		FROM history_events ORDER BY job_id, seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var (
			id, typ                                 string
			seq, at                                 int64
			state, prev, next, task, worker, detail sql.NullString
			attempt                                 sql.NullInt64
		)
		if err := rows.Scan(&id, &seq, &at, &typ, &state, &prev, &next, &task, &worker, &attempt, &detail); err != nil {
			t.Fatal(err)
		}
		var d any // the detail as JSON, whatever its spacing and key order
		if detail.Valid {
			if err := json.Unmarshal([]byte(detail.String), &d); err != nil {
				t.Fatalf("detail %q: %v", detail.String, err)
			}
		}
		out = append(out, fmt.Sprintf("%s %d %d %s %v %v %v %v %v %v %v", id, seq, at, typ, state, prev, next, task, worker, attempt, d))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// wantViewRows are the history_events rows of jobs, as viewRows gives them.
func wantViewRows(jobs []store.EndedJob) []string {
	sorted := slices.Clone(jobs)
	slices.SortFunc(sorted, func(a, b store.EndedJob) int { return strings.Compare(a.Job.ID, b.Job.ID) })
	var out []string
	for _, e := range sorted {
		for i, ev := range e.Timeline {
			var d any
			if len(ev.Detail) > 0 {
				b, _ := json.Marshal(ev.Detail)
				json.Unmarshal(b, &d)
			}
			str := func(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }
			out = append(out, fmt.Sprintf("%s %d %d %s %v %v %v %v %v %v %v", e.Job.ID, i, ev.At.UnixMicro(), ev.Type, str(ev.State),
				str(ev.PrevState), str(ev.NextState), str(ev.TaskID), str(ev.WorkerID),
				sql.NullInt64{Int64: int64(ev.Attempt), Valid: ev.Attempt != 0}, d))
		}
	}
	return out
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
