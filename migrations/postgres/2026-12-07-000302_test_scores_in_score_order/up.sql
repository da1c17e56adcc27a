-- The tests list reads a project's scores highest first, with or without a status, by
-- index, instead of sorting every score of the project per request (seconds in a
-- project of a million tests). A score changes only while a test has evidence of
-- flakiness (it is 0 for a test that never failed and decays back to 0), so most score
-- writes leave these keys as they were and, on PostgreSQL, stay HOT updates.
DROP INDEX test_scores_project_status;
CREATE INDEX test_scores_project_status_score ON test_scores (project_id, status, score DESC, test_id);
CREATE INDEX test_scores_project_score ON test_scores (project_id, score DESC, test_id);
