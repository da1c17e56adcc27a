-- The scorer's state (about 1.5 KB a test, rewritten at every run of the test) moves out
-- of test_scores into a table of its own, read by test id only. test_scores keeps the few
-- columns lists and pages read, so its rows stay narrow; with no index on a column that
-- changes at every run and room left on each page, most of its updates are HOT (no new
-- index entries, old versions pruned within the page), so pages that scan a project's
-- scores do not wade through millions of dead row versions after a busy day.
CREATE TABLE test_states (
    test_id     BIGINT PRIMARY KEY REFERENCES tests (id) ON DELETE CASCADE,
    project_id  BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    state       TEXT NOT NULL
) WITH (fillfactor = 50);
INSERT INTO test_states (test_id, project_id, state)
    SELECT test_id, project_id, state FROM test_scores;
CREATE INDEX test_states_project ON test_states (project_id);
ALTER TABLE test_scores DROP COLUMN state;
ALTER TABLE test_scores SET (fillfactor = 70);

-- score and last_seen_at change at every run: indexes on them made every update a
-- non-HOT one. Lists sort a project's scores in memory; the inactive sweep reads them all.
DROP INDEX test_scores_project_status_score;
DROP INDEX test_scores_project_last_seen;
CREATE INDEX test_scores_project_status ON test_scores (project_id, status);

-- A run's failures (run and commit pages) without reading its passing results.
CREATE INDEX results_run_failing ON results (run_id) WHERE outcome IN ('failed', 'error');
