DROP INDEX test_scores_project_score;
DROP INDEX test_scores_project_status_score;
CREATE INDEX test_scores_project_status ON test_scores (project_id, status);
