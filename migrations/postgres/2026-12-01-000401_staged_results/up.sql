-- Results of a store in progress, committed batch by batch and invisible to every reader
-- and to the scorer; the store's last step moves them into results with its run. SQLite
-- stores this way, so its one write lock is held a batch at a time; PostgreSQL stores in
-- one transaction and leaves this table empty.
CREATE TABLE staged_results (
    id                  BIGSERIAL PRIMARY KEY,
    task_id             BIGINT NOT NULL REFERENCES store_tasks (id) ON DELETE CASCADE,
    claim               INTEGER NOT NULL,
    test_id             BIGINT NOT NULL,
    outcome             TEXT NOT NULL,
    duration_ms         BIGINT,
    attempts            INTEGER NOT NULL,
    failed_attempts     INTEGER NOT NULL,
    retry_ms            BIGINT NOT NULL,
    failure_message_id  BIGINT
);
CREATE INDEX staged_results_task ON staged_results (task_id, claim);
