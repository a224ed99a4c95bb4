package history

// migrations are the schema's versions: migrations[i] takes the schema
// from version i to i+1. A migration is appended, never edited once
// released; the version a database holds is in history_schema.
//
// Times are Unix microseconds (UTC) in BIGINT columns, the same in SQLite
// and PostgreSQL, so one query text serves both.
var migrations = []string{
	// 1: jobs, their timelines and their metadata.
	`
CREATE TABLE history_jobs (
	id                TEXT PRIMARY KEY,
	client            TEXT NOT NULL,
	blueprint         TEXT NOT NULL,
	blueprint_version TEXT NOT NULL,
	status            TEXT NOT NULL,
	state             TEXT NOT NULL,
	error_code        TEXT,
	error_message     TEXT,
	parent_id         TEXT,
	created_at        BIGINT NOT NULL,
	ended_at          BIGINT NOT NULL,
	archived_at       BIGINT NOT NULL,
	job               TEXT NOT NULL
);
CREATE INDEX history_jobs_created ON history_jobs (created_at, id);
CREATE INDEX history_jobs_ended ON history_jobs (ended_at, id);
CREATE INDEX history_jobs_client_created ON history_jobs (client, created_at, id);
CREATE INDEX history_jobs_client_ended ON history_jobs (client, ended_at, id);
CREATE INDEX history_jobs_status_created ON history_jobs (status, created_at, id);
CREATE INDEX history_jobs_blueprint_created ON history_jobs (blueprint, created_at, id);
CREATE INDEX history_jobs_error_code ON history_jobs (error_code, created_at, id);
CREATE INDEX history_jobs_parent ON history_jobs (parent_id);
CREATE TABLE history_events (
	job_id         TEXT NOT NULL,
	seq            INTEGER NOT NULL,
	at             BIGINT NOT NULL,
	event_type     TEXT NOT NULL,
	state          TEXT,
	previous_state TEXT,
	next_state     TEXT,
	task_id        TEXT,
	worker_id      TEXT,
	attempt        INTEGER,
	detail         TEXT,
	PRIMARY KEY (job_id, seq)
);
CREATE INDEX history_events_worker ON history_events (worker_id, job_id);
CREATE TABLE history_metadata (
	job_id TEXT NOT NULL,
	key    TEXT NOT NULL,
	value  TEXT NOT NULL,
	PRIMARY KEY (job_id, key)
);
CREATE INDEX history_metadata_value ON history_metadata (key, value, job_id);
`,
}

// SchemaVersion is the schema version this binary writes.
func SchemaVersion() int { return len(migrations) }
