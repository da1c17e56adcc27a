-- The scorer's state moves out of test_scores into a table of its own, read by test id
-- only, so the rows pages scan stay narrow (see the PostgreSQL migration for the rest).
CREATE TABLE test_states (
    test_id     BIGINT PRIMARY KEY REFERENCES tests (id) ON DELETE CASCADE,
    project_id  BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    state       TEXT NOT NULL
);
INSERT INTO test_states (test_id, project_id, state)
    SELECT test_id, project_id, state FROM test_scores;
CREATE INDEX test_states_project ON test_states (project_id);
ALTER TABLE test_scores DROP COLUMN state;

DROP INDEX test_scores_project_status_score;
DROP INDEX test_scores_project_last_seen;
CREATE INDEX test_scores_project_status ON test_scores (project_id, status);

CREATE INDEX results_run_failing ON results (run_id) WHERE outcome IN ('failed', 'error');
