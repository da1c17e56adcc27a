DROP INDEX results_run_failing;
DROP INDEX test_scores_project_status;
ALTER TABLE test_scores RESET (fillfactor);
ALTER TABLE test_scores ADD COLUMN state TEXT NOT NULL DEFAULT '{}';
UPDATE test_scores s SET state = st.state FROM test_states st WHERE st.test_id = s.test_id;
DROP TABLE test_states;
CREATE INDEX test_scores_project_status_score ON test_scores (project_id, status, score DESC);
CREATE INDEX test_scores_project_last_seen ON test_scores (project_id, last_seen_at)
    WHERE status <> 'inactive';
