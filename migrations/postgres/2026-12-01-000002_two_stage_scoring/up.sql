-- Storing and scoring become two stages, and the store-task queue takes other job kinds.
--
-- A store task now ends its store transaction in `scoring` (its run is stored, not yet
-- scored); the project's scoring job completes it. Other kinds (`score`, `retention`) have
-- no upload or token; `dedupe_key` keeps at most one of a kind and key waiting.
ALTER TABLE store_tasks ADD COLUMN kind TEXT NOT NULL DEFAULT 'store';
ALTER TABLE store_tasks ADD COLUMN dedupe_key TEXT;
ALTER TABLE store_tasks ADD COLUMN stored_at TIMESTAMP;
ALTER TABLE store_tasks ADD COLUMN scored_at TIMESTAMP;
ALTER TABLE store_tasks ALTER COLUMN token_hash DROP NOT NULL;
ALTER TABLE store_tasks ALTER COLUMN upload_id DROP NOT NULL;
ALTER TABLE store_tasks ALTER COLUMN project_id DROP NOT NULL;
ALTER TABLE store_tasks DROP CONSTRAINT store_tasks_status_check;
ALTER TABLE store_tasks ADD CONSTRAINT store_tasks_status_check
    CHECK (status IN ('enqueued', 'running', 'scoring', 'completed', 'failed', 'cancelled'));
ALTER TABLE store_tasks ADD CONSTRAINT store_tasks_store_has_upload
    CHECK (kind <> 'store' OR (upload_id IS NOT NULL AND token_hash IS NOT NULL AND project_id IS NOT NULL));
UPDATE store_tasks SET stored_at = finished_at, scored_at = finished_at WHERE status = 'completed';
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
ALTER TABLE projects ADD COLUMN rescore_requested BOOLEAN NOT NULL DEFAULT FALSE;
