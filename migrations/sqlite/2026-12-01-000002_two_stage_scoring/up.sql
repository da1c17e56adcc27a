-- Storing and scoring become two stages, and the store-task queue takes other job kinds.
--
-- A store task now ends its store transaction in `scoring` (its run is stored, not yet
-- scored); the project's scoring job completes it. Other kinds (`score`, `retention`) have
-- no upload or token; `dedupe_key` keeps at most one of a kind and key waiting.
-- SQLite cannot change a column's constraints in place: the table is rebuilt.
CREATE TABLE store_tasks_new (
    id                INTEGER PRIMARY KEY,
    token_hash        TEXT UNIQUE,
    upload_id         BIGINT UNIQUE REFERENCES uploads (id) ON DELETE CASCADE,
    project_id        BIGINT REFERENCES projects (id) ON DELETE CASCADE,
    status            TEXT NOT NULL CHECK (status IN ('enqueued', 'running', 'scoring', 'completed', 'failed', 'cancelled')),
    received_at       TIMESTAMP NOT NULL,
    enqueued_at       TIMESTAMP NOT NULL,
    started_at        TIMESTAMP,
    finished_at       TIMESTAMP,
    heartbeat_at      TIMESTAMP,
    lease_expires_at  TIMESTAMP,
    worker            TEXT,
    claims            INTEGER NOT NULL DEFAULT 0,
    cancel_requested  BOOLEAN NOT NULL DEFAULT 0,
    records_seen      BIGINT NOT NULL DEFAULT 0,
    records_stored    BIGINT NOT NULL DEFAULT 0,
    warnings          TEXT NOT NULL DEFAULT '[]',
    error             TEXT,
    kind              TEXT NOT NULL DEFAULT 'store',
    dedupe_key        TEXT,
    stored_at         TIMESTAMP,
    scored_at         TIMESTAMP,
    CHECK (kind <> 'store' OR (upload_id IS NOT NULL AND token_hash IS NOT NULL AND project_id IS NOT NULL))
);
INSERT INTO store_tasks_new (id, token_hash, upload_id, project_id, status, received_at,
    enqueued_at, started_at, finished_at, heartbeat_at, lease_expires_at, worker, claims,
    cancel_requested, records_seen, records_stored, warnings, error, kind, stored_at, scored_at)
SELECT id, token_hash, upload_id, project_id, status, received_at, enqueued_at, started_at,
    finished_at, heartbeat_at, lease_expires_at, worker, claims, cancel_requested,
    records_seen, records_stored, warnings, error, 'store',
    CASE WHEN status = 'completed' THEN finished_at END,
    CASE WHEN status = 'completed' THEN finished_at END
FROM store_tasks;
DROP TABLE store_tasks;
ALTER TABLE store_tasks_new RENAME TO store_tasks;
CREATE INDEX store_tasks_enqueued ON store_tasks (enqueued_at) WHERE status = 'enqueued';
CREATE INDEX store_tasks_running_lease ON store_tasks (lease_expires_at) WHERE status = 'running';
CREATE INDEX store_tasks_project_received ON store_tasks (project_id, received_at);
CREATE UNIQUE INDEX store_tasks_waiting_dedupe ON store_tasks (kind, dedupe_key)
    WHERE status = 'enqueued' AND dedupe_key IS NOT NULL;
-- Completing the tasks of scored runs, and the scoring lag.
CREATE INDEX store_tasks_scoring ON store_tasks (project_id, stored_at) WHERE status = 'scoring';

-- Runs stored but not yet scored, in the order their project's scorer takes them.
ALTER TABLE runs ADD COLUMN scored_at TIMESTAMP;
ALTER TABLE runs ADD COLUMN score_seq BIGINT;
UPDATE runs SET scored_at = stored_at, score_seq = id;
CREATE INDEX runs_unscored ON runs (project_id, id) WHERE scored_at IS NULL;
CREATE INDEX runs_project_score_seq ON runs (project_id, score_seq);

-- A changed default branch asks the scorer to replay the project's history.
ALTER TABLE projects ADD COLUMN rescore_requested BOOLEAN NOT NULL DEFAULT 0;
