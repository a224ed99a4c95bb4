// Package history is the durable archive of ended jobs: their records,
// timelines and metadata in SQL, in SQLite (embedded, pure Go:
// modernc.org/sqlite) or PostgreSQL (pgx). It implements store.Archive; the
// orchestrator moves ended jobs from the live store's outbox into it
// (runtime/orchestrator/archive.go) and searches live and archived jobs as
// one list.
//
// The schema is created and migrated by Open (schema.go): versioned
// migrations applied in one transaction each, under a lock, so several
// instances starting at once migrate once. A database whose schema is newer
// than the binary is refused. docs/history.md describes the tables for
// people who query them directly.
package history

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // the "sqlite" database/sql driver

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
)

// DB is an open history database.
type DB struct {
	db     *sql.DB
	target Target
	pg     bool
}

var _ store.Archive = (*DB)(nil)

// ErrNewerSchema: the database was migrated by a newer binary.
var ErrNewerSchema = errors.New("history database schema is newer than this binary")

// Open opens (creating when needed) the history database of uri
// (ParseURI) and brings its schema to this binary's version.
func Open(ctx context.Context, uri string) (*DB, error) {
	t, err := ParseURI(uri)
	if err != nil {
		return nil, err
	}
	return OpenTarget(ctx, t)
}

// OpenTarget opens a parsed target (see Open).
func OpenTarget(ctx context.Context, t Target) (*DB, error) {
	return openAt(ctx, t, len(migrations))
}

// openAt opens t with its schema brought to version to (tests build older
// databases with it).
func openAt(ctx context.Context, t Target, to int) (*DB, error) {
	h := &DB{target: t}
	switch t.Driver {
	case "sqlite":
		dsn := t.Path
		if t.Path != ":memory:" {
			if dir := filepath.Dir(t.Path); dir != "" {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return nil, fmt.Errorf("history database %s: %w", t, err)
				}
			}
			dsn = "file:" + t.Path
		}
		// WAL lets searches read while the archiver writes; a writer
		// waits for another (busy_timeout) instead of failing; a write
		// transaction takes its lock at BEGIN (no upgrade deadlocks).
		// An archive transaction of a thousand jobs changes a few
		// thousand pages: a 16 MB page cache holds them (a smaller one
		// spills them to the WAL and reads them back mid-transaction),
		// and a checkpoint once the WAL holds 10,000 pages (40 MB)
		// rather than SQLite's 1,000 copies each page once for many
		// transactions that changed it (the tails of the indexes).
		dsn += "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(on)" +
			"&_pragma=cache_size(-16000)&_pragma=wal_autocheckpoint(10000)&_txlock=immediate"
		db, err := sql.Open("sqlite", dsn)
		if err != nil {
			return nil, fmt.Errorf("history database %s: %w", t, err)
		}
		if t.Path == ":memory:" {
			db.SetMaxOpenConns(1) // each connection would be a database of its own
		} else {
			db.SetMaxOpenConns(4)
		}
		h.db = db
	case "postgres":
		db, err := sql.Open("pgx", t.DSN)
		if err != nil {
			return nil, fmt.Errorf("history database %s: %w", t, err)
		}
		db.SetMaxOpenConns(8)
		db.SetConnMaxIdleTime(5 * time.Minute)
		h.db, h.pg = db, true
	default:
		return nil, fmt.Errorf("history database: unknown driver %q", t.Driver)
	}
	if err := h.migrate(ctx, to); err != nil {
		h.db.Close()
		return nil, err
	}
	return h, nil
}

// Describe names the database, without a password.
func (h *DB) Describe() string { return h.target.String() }

// Close closes the database.
func (h *DB) Close() error { return h.db.Close() }

// SQL is the database handle, for tools and tests that query it directly.
func (h *DB) SQL() *sql.DB { return h.db }

// q rewrites ? placeholders as $1, $2… for PostgreSQL.
func (h *DB) q(s string) string {
	if !h.pg {
		return s
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// migrate applies the migrations the database lacks up to version to,
// in one transaction that also records the new version.
func (h *DB) migrate(ctx context.Context, to int) error {
	tx, err := h.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("history database %s: %w", h.target, err)
	}
	defer tx.Rollback()
	if h.pg {
		// One migrating instance at a time; the lock ends with the
		// transaction.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7320190417)`); err != nil {
			return fmt.Errorf("history database %s: lock for migration: %w", h.target, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS history_schema (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("history database %s: %w", h.target, err)
	}
	var have int
	err = tx.QueryRowContext(ctx, `SELECT version FROM history_schema`).Scan(&have)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := tx.ExecContext(ctx, `INSERT INTO history_schema (version) VALUES (0)`); err != nil {
			return fmt.Errorf("history database %s: %w", h.target, err)
		}
	case err != nil:
		return fmt.Errorf("history database %s: read schema version: %w", h.target, err)
	}
	if have > len(migrations) {
		return fmt.Errorf("%w: %s has schema version %d, this binary knows versions up to %d; run a newer avtomatika (or restore a backup taken before the upgrade)",
			ErrNewerSchema, h.target, have, len(migrations))
	}
	for v := have; v < to; v++ {
		m := migrations[v]
		own := m.sqlite
		if h.pg {
			own = m.postgres
		}
		for _, stmt := range slices.Concat(strings.Split(m.all, ";\n"), strings.Split(own, ";\n")) {
			if strings.TrimSpace(stmt) == "" {
				continue
			}
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("history database %s: migration to version %d: %w", h.target, v+1, err)
			}
		}
	}
	if have < to {
		if _, err := tx.ExecContext(ctx, h.q(`UPDATE history_schema SET version = ?`), to); err != nil {
			return fmt.Errorf("history database %s: %w", h.target, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("history database %s: migration: %w", h.target, err)
	}
	return nil
}

// Version returns the schema version the database holds.
func (h *DB) Version(ctx context.Context) (int, error) {
	var v int
	err := h.db.QueryRowContext(ctx, `SELECT version FROM history_schema`).Scan(&v)
	return v, err
}

// Put implements store.Archive: one transaction for the batch, rows
// written with multi-row INSERTs; a job already archived is skipped with
// its timeline (in its row), workers and metadata.
func (h *DB) Put(ctx context.Context, jobs []store.EndedJob) error {
	if len(jobs) == 0 {
		return nil
	}
	tx, err := h.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	defer tx.Rollback()
	// The statements run to their end once begun: a context that can end
	// costs modernc's driver a goroutine and a progress handler for each
	// row, and the transaction itself still ends with ctx.
	ctx = context.WithoutCancel(ctx)
	now := time.Now().UnixMicro()
	byID := make(map[string]store.EndedJob, len(jobs))
	var rows [][]any
	for _, e := range jobs {
		j := e.Job
		if _, dup := byID[j.ID]; dup {
			continue
		}
		byID[j.ID] = e
		body, err := json.Marshal(j)
		if err != nil {
			return fmt.Errorf("archive job %s: %w", j.ID, err)
		}
		tl, err := timelineJSON(nil, e.Timeline)
		if err != nil {
			return fmt.Errorf("archive job %s: %w", j.ID, err)
		}
		var code, msg, parent any
		if j.Error != nil {
			code, msg = nullable(j.Error.Code), nullable(j.Error.Message)
		}
		if j.Parent != nil {
			parent = nullable(j.Parent.JobID)
		}
		rows = append(rows, []any{j.ID, j.Client.Name, j.Blueprint, j.Version, string(j.Status), j.State,
			code, msg, parent, j.CreatedAt.UnixMicro(), endedAt(j).UnixMicro(), now, string(body), tl})
	}
	// The jobs not archived before: their workers and metadata follow.
	fresh := map[string]bool{}
	err = h.insertRows(ctx, tx, `INSERT INTO history_jobs
		(id, client, blueprint, blueprint_version, status, state, error_code, error_message, parent_id, created_at, ended_at, archived_at, job, timeline)
		VALUES `, ` ON CONFLICT (id) DO NOTHING`, 14, rows, func(id string) { fresh[id] = true })
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	var metaRows, workerRows [][]any
	for _, e := range jobs {
		id := e.Job.ID
		if !fresh[id] {
			continue
		}
		delete(fresh, id) // once, however often the batch names it
		j := e.Job
		cols := filterCols(j)
		var workers []string
		for _, ev := range e.Timeline {
			if ev.WorkerID != "" && !slices.Contains(workers, ev.WorkerID) {
				workers = append(workers, ev.WorkerID)
				workerRows = append(workerRows, append([]any{ev.WorkerID, id}, cols...))
			}
		}
		for k, v := range j.Metadata {
			if s, ok := store.MetaString(v); ok {
				metaRows = append(metaRows, append([]any{id, k, s}, cols...))
			}
		}
	}
	if err := h.insertRows(ctx, tx, `INSERT INTO history_metadata (job_id, key, value, `+filterColNames+`) VALUES `, "", 11, metaRows, nil); err != nil {
		return fmt.Errorf("archive metadata: %w", err)
	}
	if err := h.insertRows(ctx, tx, `INSERT INTO history_workers (worker_id, job_id, `+filterColNames+`) VALUES `, "", 10, workerRows, nil); err != nil {
		return fmt.Errorf("archive workers: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	return nil
}

// filterColNames are the job's columns the side tables (history_metadata,
// history_workers) repeat, so that a search driven by one filters there.
const filterColNames = "client, blueprint, status, state, error_code, parent_id, created_at, ended_at"

// filterCols are j's values of filterColNames.
func filterCols(j *core.Job) []any {
	var code, parent any
	if j.Error != nil {
		code = nullable(j.Error.Code)
	}
	if j.Parent != nil {
		parent = nullable(j.Parent.JobID)
	}
	return []any{j.Client.Name, j.Blueprint, string(j.Status), j.State, code, parent, j.CreatedAt.UnixMicro(), endedAt(j).UnixMicro()}
}

// endedAt is the end time an archived job is sorted by: when it finished,
// or its last update for a job without one.
func endedAt(j *core.Job) time.Time {
	if j.FinishedAt.IsZero() {
		return j.UpdatedAt
	}
	return j.FinishedAt
}

// maxParams bounds the parameters of one statement (SQLite allows 32,766,
// PostgreSQL 65,535).
const maxParams = 30_000

// insertRows inserts rows of width columns; inserted (when not nil) hears
// the first column of each row the statement inserted (a tail of ON
// CONFLICT DO NOTHING skips some). On PostgreSQL the rows go in as few
// multi-row statements as the parameter bound allows (one round trip
// each); on SQLite, in the process, one prepared single-row statement runs
// per row, which costs less than parsing a statement of thousands of
// parameters for every batch.
func (h *DB) insertRows(ctx context.Context, tx *sql.Tx, head, tail string, width int, rows [][]any, inserted func(id string)) error {
	if len(rows) == 0 {
		return nil
	}
	marks := "(" + strings.TrimSuffix(strings.Repeat("?, ", width), ", ") + ")"
	if !h.pg {
		st, err := tx.PrepareContext(ctx, head+marks+tail)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, r := range rows {
			res, err := st.ExecContext(ctx, r...)
			if err != nil {
				return err
			}
			if inserted != nil {
				if n, err := res.RowsAffected(); err != nil {
					return err
				} else if n == 1 {
					inserted(r[0].(string))
				}
			}
		}
		return nil
	}
	if inserted != nil {
		tail += " RETURNING id"
	}
	per := maxParams / width
	for len(rows) > 0 {
		chunk := rows[:min(per, len(rows))]
		rows = rows[len(chunk):]
		var b strings.Builder
		b.WriteString(head)
		args := make([]any, 0, len(chunk)*width)
		for i, r := range chunk {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(marks)
			args = append(args, r...)
		}
		b.WriteString(tail)
		if inserted == nil {
			if _, err := tx.ExecContext(ctx, h.q(b.String()), args...); err != nil {
				return err
			}
			continue
		}
		rs, err := tx.QueryContext(ctx, h.q(b.String()), args...)
		if err != nil {
			return err
		}
		for rs.Next() {
			var id string
			if err := rs.Scan(&id); err != nil {
				rs.Close()
				return err
			}
			inserted(id)
		}
		if err := rs.Close(); err != nil {
			return err
		}
		if err := rs.Err(); err != nil {
			return err
		}
	}
	return nil
}

// storedEvent is a timeline event as history_jobs.timeline holds it:
// the history_events view's columns (seq is the event's place in the
// array), the time in Unix microseconds.
type storedEvent struct {
	At        int64          `json:"at"`
	Type      string         `json:"event_type"`
	State     string         `json:"state,omitempty"`
	PrevState string         `json:"previous_state,omitempty"`
	NextState string         `json:"next_state,omitempty"`
	TaskID    string         `json:"task_id,omitempty"`
	WorkerID  string         `json:"worker_id,omitempty"`
	Attempt   int            `json:"attempt,omitempty"`
	Detail    map[string]any `json:"detail,omitempty"`
}

// timelineJSON appends evs to the stored timeline old (a JSON array, or
// empty for none) and returns the array's text.
func timelineJSON(old []byte, evs []core.TimelineEvent) (string, error) {
	out := make([]storedEvent, len(evs))
	for i, ev := range evs {
		out[i] = storedEvent{At: ev.At.UnixMicro(), Type: ev.Type, State: ev.State, PrevState: ev.PrevState,
			NextState: ev.NextState, TaskID: ev.TaskID, WorkerID: ev.WorkerID, Attempt: ev.Attempt, Detail: ev.Detail}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return "", fmt.Errorf("timeline: %w", err)
	}
	if len(old) > 2 && len(evs) > 0 { // "[...]" + "[...]" is "[..., ...]"
		b = append(append(old[:len(old)-1:len(old)-1], ','), b[1:]...)
	} else if len(evs) == 0 && len(old) > 0 {
		b = old
	}
	return string(b), nil
}

// AppendTimeline implements store.Archive: the events join the end of
// the job's stored timeline.
func (h *DB) AppendTimeline(ctx context.Context, id string, evs []core.TimelineEvent) error {
	tx, err := h.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("archived job %q: %w", id, err)
	}
	defer tx.Rollback()
	lock := ""
	if h.pg {
		lock = " FOR UPDATE" // SQLite's write transaction holds the database already
	}
	var old sql.NullString
	err = tx.QueryRowContext(ctx, h.q(`SELECT timeline FROM history_jobs WHERE id = ?`+lock), id).Scan(&old)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("archived job %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("archived job %q: %w", id, err)
	}
	tl, err := timelineJSON([]byte(old.String), evs)
	if err != nil {
		return fmt.Errorf("archived job %q: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, h.q(`UPDATE history_jobs SET timeline = ? WHERE id = ?`), tl, id); err != nil {
		return fmt.Errorf("archived job %q: %w", id, err)
	}
	for _, ev := range evs {
		if ev.WorkerID != "" {
			if _, err := tx.ExecContext(ctx, h.q(`INSERT INTO history_workers (worker_id, job_id, `+filterColNames+`)
				SELECT ?, id, `+filterColNames+` FROM history_jobs WHERE id = ?
				ON CONFLICT (worker_id, job_id) DO NOTHING`), ev.WorkerID, id); err != nil {
				return fmt.Errorf("archived job %q: %w", id, err)
			}
		}
	}
	return tx.Commit()
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Job implements store.Archive.
func (h *DB) Job(ctx context.Context, id string) (*core.Job, error) {
	var body string
	err := h.db.QueryRowContext(ctx, h.q(`SELECT job FROM history_jobs WHERE id = ?`), id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("archived job %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("archived job %q: %w", id, err)
	}
	return decodeJob(body)
}

func decodeJob(body string) (*core.Job, error) {
	var j core.Job
	if err := json.Unmarshal([]byte(body), &j); err != nil {
		return nil, fmt.Errorf("archived job: %w", err)
	}
	return &j, nil
}

// Timeline implements store.Archive.
func (h *DB) Timeline(ctx context.Context, id string) ([]core.TimelineEvent, error) {
	var tl sql.NullString
	err := h.db.QueryRowContext(ctx, h.q(`SELECT timeline FROM history_jobs WHERE id = ?`), id).Scan(&tl)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("timeline of archived job %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("timeline of archived job %q: %w", id, err)
	}
	var stored []storedEvent
	if tl.Valid {
		if err := json.Unmarshal([]byte(tl.String), &stored); err != nil {
			return nil, fmt.Errorf("timeline of archived job %q: %w", id, err)
		}
	}
	out := make([]core.TimelineEvent, len(stored))
	for i, ev := range stored {
		out[i] = core.TimelineEvent{At: time.UnixMicro(ev.At).UTC(), Type: ev.Type, State: ev.State, PrevState: ev.PrevState,
			NextState: ev.NextState, TaskID: ev.TaskID, WorkerID: ev.WorkerID, Attempt: ev.Attempt, Detail: ev.Detail}
	}
	return out, nil
}

// SearchJobs implements store.Archive: one keyset-paged query, read as an
// index range in the page's order (searchSQL).
func (h *DB) SearchJobs(ctx context.Context, q store.JobQuery) ([]*core.Job, error) {
	q.Normalize()
	text, args := h.searchSQL(q)
	rows, err := h.db.QueryContext(ctx, text, args...)
	if err != nil {
		return nil, fmt.Errorf("search history: %w", err)
	}
	defer rows.Close()
	var out []*core.Job
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, fmt.Errorf("search history: %w", err)
		}
		j, err := decodeJob(body)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// searchSQL is the query of a search page (q normalized) and its
// arguments. Each page is an index range read in the sort order, stopped
// by LIMIT:
//
//   - a metadata filter drives the read from history_metadata's (key,
//     value, time, job) index, a worker filter (without one) from
//     history_workers' (worker, time, job); the other filters test the
//     side table's row, which repeats the job's filter columns, and the
//     job row is joined by id for the page;
//   - otherwise history_jobs is read by the index of its most selective
//     equality filter (the planner chooses), with the sort time and id
//     after it;
//   - several statuses are one such read per status, merged: at most
//     limit rows from each.
func (h *DB) searchSQL(q store.JobQuery) (string, []any) {
	tcol := "created_at"
	if q.Sort == store.SortEnded {
		tcol = "ended_at"
	}
	dir, cmp := "DESC", "<"
	if q.Asc {
		dir, cmp = "ASC", ">"
	}
	metaKeys := make([]string, 0, len(q.Meta))
	for k := range q.Meta {
		metaKeys = append(metaKeys, k)
	}
	slices.Sort(metaKeys)
	// The table the read walks, its alias and its id column.
	from, d, idcol := "history_jobs j", "j", "id"
	var args []any
	var where []string
	add := func(cond string, a ...any) {
		where = append(where, cond)
		args = append(args, a...)
	}
	switch {
	case len(metaKeys) > 0:
		from, d, idcol = "history_metadata m JOIN history_jobs j ON j.id = m.job_id", "m", "job_id"
		add("m.key = ? AND m.value = ?", metaKeys[0], q.Meta[metaKeys[0]])
		metaKeys = metaKeys[1:]
	case q.Worker != "":
		from, d, idcol = "history_workers w JOIN history_jobs j ON j.id = w.job_id", "w", "job_id"
		add("w.worker_id = ?", q.Worker)
	}
	// The side tables carry every filter column: they are tested there.
	if q.Client != "" {
		add(d+".client = ?", q.Client)
	}
	if !q.CreatedAfter.IsZero() {
		add(d+".created_at >= ?", q.CreatedAfter.UnixMicro())
	}
	if !q.CreatedBefore.IsZero() {
		add(d+".created_at < ?", q.CreatedBefore.UnixMicro())
	}
	if !q.EndedAfter.IsZero() {
		add(d+".ended_at >= ?", q.EndedAfter.UnixMicro())
	}
	if !q.EndedBefore.IsZero() {
		add(d+".ended_at < ?", q.EndedBefore.UnixMicro())
	}
	if q.After != nil {
		add(fmt.Sprintf("(%s.%s, %s.%s) %s (?, ?)", d, tcol, d, idcol, cmp), q.After.At, q.After.ID)
	}
	if q.Blueprint != "" {
		add(d+".blueprint = ?", q.Blueprint)
	}
	if q.State != "" {
		add(d+".state = ?", q.State)
	}
	if q.ErrorCode != "" {
		add(d+".error_code = ?", q.ErrorCode)
	}
	if q.Parent != "" {
		add(d+".parent_id = ?", q.Parent)
	}
	if q.Worker != "" && d != "w" {
		add("EXISTS (SELECT 1 FROM history_workers w WHERE w.worker_id = ? AND w.job_id = j.id)", q.Worker)
	}
	for _, k := range metaKeys {
		add("EXISTS (SELECT 1 FROM history_metadata m2 WHERE m2.job_id = j.id AND m2.key = ? AND m2.value = ?)", k, q.Meta[k])
	}
	order := fmt.Sprintf(" ORDER BY %s.%s %s, %s.%s %s LIMIT %d", d, tcol, dir, d, idcol, dir, q.Limit)
	statuses := make([]string, len(q.Statuses))
	for i, s := range q.Statuses {
		statuses[i] = string(s)
	}
	slices.Sort(statuses)
	statuses = slices.Compact(statuses)
	page := func(cols string, status []string) (string, []any) {
		w := slices.Clone(where)
		a := slices.Clone(args)
		switch len(status) {
		case 0:
		case 1:
			w = append(w, d+".status = ?")
			a = append(a, status[0])
		default:
			w = append(w, d+".status IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(status)), ", ")+")")
			for _, s := range status {
				a = append(a, s)
			}
		}
		text := "SELECT " + cols + " FROM " + from
		if len(w) > 0 {
			text += " WHERE " + strings.Join(w, " AND ")
		}
		return text + order, a
	}
	if len(statuses) < 2 || d != "j" {
		text, a := page("j.job", statuses)
		return h.q(text), a
	}
	// One ordered read per status, then the first limit of their merge.
	var parts []string
	var all []any
	for i, s := range statuses {
		text, a := page(fmt.Sprintf("j.job, j.%s AS k, j.id AS i", tcol), []string{s})
		parts = append(parts, fmt.Sprintf("SELECT * FROM (%s) s%d", text, i))
		all = append(all, a...)
	}
	text := fmt.Sprintf("SELECT job FROM (%s) u ORDER BY k %s, i %s LIMIT %d", strings.Join(parts, " UNION ALL "), dir, dir, q.Limit)
	return h.q(text), all
}
