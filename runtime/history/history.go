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
		dsn += "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(on)&_txlock=immediate"
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
	if err := h.migrate(ctx); err != nil {
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

// migrate applies the migrations the database lacks, each in a
// transaction that also records the new version.
func (h *DB) migrate(ctx context.Context) error {
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
	for v := have; v < len(migrations); v++ {
		for _, stmt := range strings.Split(migrations[v], ";\n") {
			if strings.TrimSpace(stmt) == "" {
				continue
			}
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("history database %s: migration to version %d: %w", h.target, v+1, err)
			}
		}
	}
	if have < len(migrations) {
		if _, err := tx.ExecContext(ctx, h.q(`UPDATE history_schema SET version = ?`), len(migrations)); err != nil {
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
// its events and metadata.
func (h *DB) Put(ctx context.Context, jobs []store.EndedJob) error {
	if len(jobs) == 0 {
		return nil
	}
	tx, err := h.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	defer tx.Rollback()
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
		var code, msg, parent any
		if j.Error != nil {
			code, msg = nullable(j.Error.Code), nullable(j.Error.Message)
		}
		if j.Parent != nil {
			parent = nullable(j.Parent.JobID)
		}
		ended := j.FinishedAt
		if ended.IsZero() {
			ended = j.UpdatedAt
		}
		rows = append(rows, []any{j.ID, j.Client.Name, j.Blueprint, j.Version, string(j.Status), j.State,
			code, msg, parent, j.CreatedAt.UnixMicro(), ended.UnixMicro(), now, string(body)})
	}
	// The jobs not archived before: their events and metadata follow.
	fresh := map[string]bool{}
	err = h.insertRows(ctx, tx, `INSERT INTO history_jobs
		(id, client, blueprint, blueprint_version, status, state, error_code, error_message, parent_id, created_at, ended_at, archived_at, job)
		VALUES `, ` ON CONFLICT (id) DO NOTHING RETURNING id`, 13, rows, func(r *sql.Rows) error {
		var id string
		if err := r.Scan(&id); err != nil {
			return err
		}
		fresh[id] = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	var evRows, metaRows [][]any
	for _, e := range jobs {
		id := e.Job.ID
		if !fresh[id] {
			continue
		}
		delete(fresh, id) // once, however often the batch names it
		for i, ev := range e.Timeline {
			row, err := eventRow(id, i, ev)
			if err != nil {
				return err
			}
			evRows = append(evRows, row)
		}
		for k, v := range e.Job.Metadata {
			if s, ok := store.MetaString(v); ok {
				metaRows = append(metaRows, []any{id, k, s})
			}
		}
	}
	if err := h.insertRows(ctx, tx, `INSERT INTO history_events
		(job_id, seq, at, event_type, state, previous_state, next_state, task_id, worker_id, attempt, detail) VALUES `, "", 11, evRows, nil); err != nil {
		return fmt.Errorf("archive events: %w", err)
	}
	if err := h.insertRows(ctx, tx, `INSERT INTO history_metadata (job_id, key, value) VALUES `, "", 3, metaRows, nil); err != nil {
		return fmt.Errorf("archive metadata: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	return nil
}

// maxParams bounds the parameters of one statement (SQLite allows 32,766,
// PostgreSQL 65,535).
const maxParams = 30_000

// insertRows inserts rows of width columns with as few statements as the
// parameter bound allows; each row returned (RETURNING tail) goes to scan.
func (h *DB) insertRows(ctx context.Context, tx *sql.Tx, head, tail string, width int, rows [][]any, scan func(*sql.Rows) error) error {
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
			b.WriteString("(")
			b.WriteString(strings.TrimSuffix(strings.Repeat("?, ", width), ", "))
			b.WriteString(")")
			args = append(args, r...)
		}
		b.WriteString(tail)
		if scan == nil {
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
			if err := scan(rs); err != nil {
				rs.Close()
				return err
			}
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

func eventRow(id string, seq int, ev core.TimelineEvent) ([]any, error) {
	var detail any
	if len(ev.Detail) > 0 {
		b, err := json.Marshal(ev.Detail)
		if err != nil {
			return nil, fmt.Errorf("archive job %s: event %d: %w", id, seq, err)
		}
		detail = string(b)
	}
	var attempt any
	if ev.Attempt != 0 {
		attempt = ev.Attempt
	}
	return []any{id, seq, ev.At.UnixMicro(), ev.Type, nullable(ev.State), nullable(ev.PrevState),
		nullable(ev.NextState), nullable(ev.TaskID), nullable(ev.WorkerID), attempt, detail}, nil
}

const insertEventSQL = `INSERT INTO history_events
	(job_id, seq, at, event_type, state, previous_state, next_state, task_id, worker_id, attempt, detail)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

func insertEvent(ctx context.Context, st *sql.Stmt, id string, seq int, ev core.TimelineEvent) error {
	row, err := eventRow(id, seq, ev)
	if err != nil {
		return err
	}
	if _, err := st.ExecContext(ctx, row...); err != nil {
		return fmt.Errorf("archive job %s: event %d: %w", id, seq, err)
	}
	return nil
}

// AppendTimeline implements store.Archive.
func (h *DB) AppendTimeline(ctx context.Context, id string, evs []core.TimelineEvent) error {
	tx, err := h.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("archived job %q: %w", id, err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, h.q(`SELECT count(*) FROM history_jobs WHERE id = ?`), id).Scan(&n); err != nil {
		return fmt.Errorf("archived job %q: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("archived job %q: %w", id, store.ErrNotFound)
	}
	var next int
	if err := tx.QueryRowContext(ctx, h.q(`SELECT COALESCE(MAX(seq) + 1, 0) FROM history_events WHERE job_id = ?`), id).Scan(&next); err != nil {
		return fmt.Errorf("archived job %q: %w", id, err)
	}
	st, err := tx.PrepareContext(ctx, h.q(insertEventSQL))
	if err != nil {
		return fmt.Errorf("archived job %q: %w", id, err)
	}
	defer st.Close()
	for i, ev := range evs {
		if err := insertEvent(ctx, st, id, next+i, ev); err != nil {
			return err
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
	var one int
	err := h.db.QueryRowContext(ctx, h.q(`SELECT 1 FROM history_jobs WHERE id = ?`), id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("timeline of archived job %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("timeline of archived job %q: %w", id, err)
	}
	rows, err := h.db.QueryContext(ctx, h.q(`SELECT at, event_type, state, previous_state, next_state, task_id, worker_id, attempt, detail
		FROM history_events WHERE job_id = ? ORDER BY seq`), id)
	if err != nil {
		return nil, fmt.Errorf("timeline of archived job %q: %w", id, err)
	}
	defer rows.Close()
	out := []core.TimelineEvent{}
	for rows.Next() {
		var (
			at                                      int64
			typ                                     string
			state, prev, next, task, worker, detail sql.NullString
			attempt                                 sql.NullInt64
		)
		if err := rows.Scan(&at, &typ, &state, &prev, &next, &task, &worker, &attempt, &detail); err != nil {
			return nil, fmt.Errorf("timeline of archived job %q: %w", id, err)
		}
		ev := core.TimelineEvent{At: time.UnixMicro(at).UTC(), Type: typ, State: state.String, PrevState: prev.String,
			NextState: next.String, TaskID: task.String, WorkerID: worker.String, Attempt: int(attempt.Int64)}
		if detail.Valid {
			if err := json.Unmarshal([]byte(detail.String), &ev.Detail); err != nil {
				return nil, fmt.Errorf("timeline of archived job %q: %w", id, err)
			}
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}

// SearchJobs implements store.Archive: one indexed query, keyset-paged.
func (h *DB) SearchJobs(ctx context.Context, q store.JobQuery) ([]*core.Job, error) {
	q.Normalize()
	col := "created_at"
	if q.Sort == store.SortEnded {
		col = "ended_at"
	}
	var where []string
	var args []any
	add := func(cond string, a ...any) {
		where = append(where, cond)
		args = append(args, a...)
	}
	if q.Client != "" {
		add("client = ?", q.Client)
	}
	if len(q.Statuses) > 0 {
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(q.Statuses)), ", ")
		a := make([]any, len(q.Statuses))
		for i, s := range q.Statuses {
			a[i] = string(s)
		}
		add("status IN ("+marks+")", a...)
	}
	if q.Blueprint != "" {
		add("blueprint = ?", q.Blueprint)
	}
	if q.State != "" {
		add("state = ?", q.State)
	}
	if q.ErrorCode != "" {
		add("error_code = ?", q.ErrorCode)
	}
	if q.Parent != "" {
		add("parent_id = ?", q.Parent)
	}
	if !q.CreatedAfter.IsZero() {
		add("created_at >= ?", q.CreatedAfter.UnixMicro())
	}
	if !q.CreatedBefore.IsZero() {
		add("created_at < ?", q.CreatedBefore.UnixMicro())
	}
	if !q.EndedAfter.IsZero() {
		add("ended_at >= ?", q.EndedAfter.UnixMicro())
	}
	if !q.EndedBefore.IsZero() {
		add("ended_at < ?", q.EndedBefore.UnixMicro())
	}
	if q.Worker != "" {
		add("EXISTS (SELECT 1 FROM history_events e WHERE e.worker_id = ? AND e.job_id = history_jobs.id)", q.Worker)
	}
	for k, v := range q.Meta {
		add("EXISTS (SELECT 1 FROM history_metadata m WHERE m.key = ? AND m.value = ? AND m.job_id = history_jobs.id)", k, v)
	}
	dir, cmp := "DESC", "<"
	if q.Asc {
		dir, cmp = "ASC", ">"
	}
	if q.After != nil {
		add(fmt.Sprintf("(%s, id) %s (?, ?)", col, cmp), q.After.At, q.After.ID)
	}
	text := "SELECT job FROM history_jobs"
	if len(where) > 0 {
		text += " WHERE " + strings.Join(where, " AND ")
	}
	text += fmt.Sprintf(" ORDER BY %s %s, id %s LIMIT %d", col, dir, dir, q.Limit)
	rows, err := h.db.QueryContext(ctx, h.q(text), args...)
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
