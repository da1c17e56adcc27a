DROP TABLE test_impact_days;
DROP INDEX test_scores_project_last_seen;
ALTER TABLE test_scores DROP COLUMN fixed_since;
ALTER TABLE test_scores DROP COLUMN last_seen_at;
UPDATE test_scores SET status = 'healthy' WHERE status IN ('skipped', 'inactive');
ALTER TABLE test_scores DROP CONSTRAINT test_scores_status_check;
ALTER TABLE test_scores ADD CONSTRAINT test_scores_status_check
    CHECK (status IN ('new', 'healthy', 'flaky', 'broken'));
ALTER TABLE runs DROP COLUMN timing_source;
ALTER TABLE uploads DROP COLUMN default_branch;
ALTER TABLE projects DROP COLUMN default_branch_source;
ALTER TABLE projects DROP COLUMN display_name;
