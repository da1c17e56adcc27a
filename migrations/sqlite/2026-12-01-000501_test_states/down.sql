DROP INDEX results_run_failing;
DROP INDEX test_scores_project_status;
ALTER TABLE test_scores ADD COLUMN state TEXT NOT NULL DEFAULT '{}';
UPDATE test_scores SET state = (SELECT st.state FROM test_states st WHERE st.test_id = test_scores.test_id)
    WHERE test_id IN (SELECT test_id FROM test_states);
DROP TABLE test_states;
CREATE INDEX test_scores_project_status_score ON test_scores (project_id, status, score DESC);
CREATE INDEX test_scores_project_last_seen ON test_scores (project_id, last_seen_at)
    WHERE status <> 'inactive';
