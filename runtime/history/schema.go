package history

// migration is one schema version's statements: all runs on every
// database, then the driver's own (what SQLite and PostgreSQL spell
// differently: JSON functions, views over them).
type migration struct {
	all, sqlite, postgres string
}

// migrations are the schema's versions: migrations[i] takes the schema
// from version i to i+1. A migration is appended, never edited once
// released; the version a database holds is in history_schema.
//
// Times are Unix microseconds (UTC) in BIGINT columns, the same in SQLite
// and PostgreSQL, so one query text serves both.
var migrations = []migration{
	// 1: jobs, their timelines and their metadata.
	{all: `
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
`},
	// 2: every search an index range read in its order. The metadata rows
	// and a new table of a job's workers carry their job's filter columns
	// and sort times, so a filter on them reads one index range and tests
	// the rest on those small rows (the client and status, the commonest
	// beside, in the index itself), joining the job by id only for the
	// page; the jobs table gains the indexes its remaining filters lack.
	// The events' worker index gives way to history_workers.
	{all: `
ALTER TABLE history_metadata ADD COLUMN client TEXT NOT NULL DEFAULT '';
ALTER TABLE history_metadata ADD COLUMN blueprint TEXT NOT NULL DEFAULT '';
ALTER TABLE history_metadata ADD COLUMN status TEXT NOT NULL DEFAULT '';
ALTER TABLE history_metadata ADD COLUMN state TEXT NOT NULL DEFAULT '';
ALTER TABLE history_metadata ADD COLUMN error_code TEXT;
ALTER TABLE history_metadata ADD COLUMN parent_id TEXT;
ALTER TABLE history_metadata ADD COLUMN created_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE history_metadata ADD COLUMN ended_at BIGINT NOT NULL DEFAULT 0;
UPDATE history_metadata SET client = j.client, blueprint = j.blueprint, status = j.status, state = j.state,
	error_code = j.error_code, parent_id = j.parent_id, created_at = j.created_at, ended_at = j.ended_at
	FROM history_jobs j WHERE j.id = history_metadata.job_id;
DROP INDEX history_metadata_value;
CREATE INDEX history_metadata_created ON history_metadata (key, value, created_at, job_id, client, status);
CREATE INDEX history_metadata_ended ON history_metadata (key, value, ended_at, job_id, client, status);
CREATE TABLE history_workers (
	worker_id  TEXT NOT NULL,
	job_id     TEXT NOT NULL,
	client     TEXT NOT NULL,
	blueprint  TEXT NOT NULL,
	status     TEXT NOT NULL,
	state      TEXT NOT NULL,
	error_code TEXT,
	parent_id  TEXT,
	created_at BIGINT NOT NULL,
	ended_at   BIGINT NOT NULL,
	PRIMARY KEY (worker_id, job_id)
);
INSERT INTO history_workers (worker_id, job_id, client, blueprint, status, state, error_code, parent_id, created_at, ended_at)
	SELECT DISTINCT e.worker_id, e.job_id, j.client, j.blueprint, j.status, j.state, j.error_code, j.parent_id, j.created_at, j.ended_at
	FROM history_events e JOIN history_jobs j ON j.id = e.job_id
	WHERE e.worker_id IS NOT NULL AND e.worker_id <> '';
CREATE INDEX history_workers_created ON history_workers (worker_id, created_at, job_id, client, status);
CREATE INDEX history_workers_ended ON history_workers (worker_id, ended_at, job_id, client, status);
DROP INDEX history_events_worker;
DROP INDEX history_jobs_parent;
CREATE INDEX history_jobs_parent_created ON history_jobs (parent_id, created_at, id);
CREATE INDEX history_jobs_state_created ON history_jobs (state, created_at, id);
CREATE INDEX history_jobs_status_ended ON history_jobs (status, ended_at, id);
CREATE INDEX history_jobs_client_status_created ON history_jobs (client, status, created_at, id);
CREATE INDEX history_jobs_blueprint_status_created ON history_jobs (blueprint, status, created_at, id);
`},
	// 3: a job's timeline is one JSON array in its row (timelineJSON),
	// written with the job: one B-tree insert a job instead of one (and
	// its primary key's) an event. history_events becomes a view of the
	// same columns over those arrays, for the queries people wrote
	// against the table; the job's own index reads a job's events.
	{
		all: `ALTER TABLE history_jobs ADD COLUMN timeline TEXT`,
		sqlite: `
UPDATE history_jobs SET timeline = (
	SELECT json_group_array(json_object('at', e.at, 'event_type', e.event_type, 'state', e.state,
		'previous_state', e.previous_state, 'next_state', e.next_state, 'task_id', e.task_id,
		'worker_id', e.worker_id, 'attempt', e.attempt, 'detail', json(e.detail)) ORDER BY e.seq)
	FROM history_events e WHERE e.job_id = history_jobs.id)
	WHERE EXISTS (SELECT 1 FROM history_events e WHERE e.job_id = history_jobs.id);
DROP TABLE history_events;
CREATE VIEW history_events AS
	SELECT j.id AS job_id, CAST(e.key AS INTEGER) AS seq, json_extract(e.value, '$.at') AS at,
		json_extract(e.value, '$.event_type') AS event_type, json_extract(e.value, '$.state') AS state,
		json_extract(e.value, '$.previous_state') AS previous_state, json_extract(e.value, '$.next_state') AS next_state,
		json_extract(e.value, '$.task_id') AS task_id, json_extract(e.value, '$.worker_id') AS worker_id,
		json_extract(e.value, '$.attempt') AS attempt, json_extract(e.value, '$.detail') AS detail
	FROM history_jobs j, json_each(j.timeline) e;
`,
		postgres: `
UPDATE history_jobs SET timeline = t.tl FROM (
	SELECT job_id, json_agg(json_build_object('at', at, 'event_type', event_type, 'state', state,
		'previous_state', previous_state, 'next_state', next_state, 'task_id', task_id,
		'worker_id', worker_id, 'attempt', attempt, 'detail', detail::json) ORDER BY seq)::text AS tl
	FROM history_events GROUP BY job_id) t
	WHERE t.job_id = history_jobs.id;
DROP TABLE history_events;
CREATE VIEW history_events AS
	SELECT j.id AS job_id, (e.n - 1)::INTEGER AS seq, (e.v ->> 'at')::BIGINT AS at,
		e.v ->> 'event_type' AS event_type, e.v ->> 'state' AS state,
		e.v ->> 'previous_state' AS previous_state, e.v ->> 'next_state' AS next_state,
		e.v ->> 'task_id' AS task_id, e.v ->> 'worker_id' AS worker_id,
		(e.v ->> 'attempt')::INTEGER AS attempt, e.v ->> 'detail' AS detail
	FROM history_jobs j CROSS JOIN LATERAL jsonb_array_elements(j.timeline::jsonb) WITH ORDINALITY AS e(v, n);
`,
	},
	// 4: the error code's and the parent's indexes hold only the jobs that
	// have one. Most jobs end without an error code and are no one's
	// child, so each such job writes two index entries fewer. A search by
	// either names a value, which implies it is not null, so these
	// partial indexes still serve it.
	{all: `
DROP INDEX history_jobs_error_code;
CREATE INDEX history_jobs_error_code ON history_jobs (error_code, created_at, id) WHERE error_code IS NOT NULL;
DROP INDEX history_jobs_parent_created;
CREATE INDEX history_jobs_parent_created ON history_jobs (parent_id, created_at, id) WHERE parent_id IS NOT NULL;
`},
}

// SchemaVersion is the schema version this binary writes.
func SchemaVersion() int { return len(migrations) }
