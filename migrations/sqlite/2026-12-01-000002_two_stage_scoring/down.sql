ALTER TABLE projects DROP COLUMN rescore_requested;
DROP INDEX runs_project_score_seq;
DROP INDEX runs_unscored;
ALTER TABLE runs DROP COLUMN score_seq;
ALTER TABLE runs DROP COLUMN scored_at;
CREATE TABLE store_tasks_old (
    id                INTEGER PRIMARY KEY,
    token_hash        TEXT NOT NULL UNIQUE,
    upload_id         BIGINT NOT NULL UNIQUE REFERENCES uploads (id) ON DELETE CASCADE,
    project_id        BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    status            TEXT NOT NULL CHECK (status IN ('enqueued', 'running', 'completed', 'failed', 'cancelled')),
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
    error             TEXT
);
INSERT INTO store_tasks_old
SELECT id, token_hash, upload_id, project_id,
    CASE WHEN status = 'scoring' THEN 'completed' ELSE status END,
    received_at, enqueued_at, started_at, finished_at, heartbeat_at, lease_expires_at,
    worker, claims, cancel_requested, records_seen, records_stored, warnings, error
FROM store_tasks WHERE kind = 'store';
DROP TABLE store_tasks;
ALTER TABLE store_tasks_old RENAME TO store_tasks;
CREATE INDEX store_tasks_enqueued ON store_tasks (enqueued_at) WHERE status = 'enqueued';
CREATE INDEX store_tasks_running_lease ON store_tasks (lease_expires_at) WHERE status = 'running';
CREATE INDEX store_tasks_project_received ON store_tasks (project_id, received_at);
