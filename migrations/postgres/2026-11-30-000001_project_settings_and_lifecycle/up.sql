-- Project settings (display name, where the default branch came from), the status
-- lifecycle (skipped and inactive tests, "fixed since"), where a run's times came from,
-- and per-day impact rollups of each test's flaky failures.

ALTER TABLE projects ADD COLUMN display_name TEXT NOT NULL DEFAULT '';
-- 'assumed': nobody said (main); 'ci': an upload's CI system said; 'setting': an admin set it
-- (then uploads no longer change it).
ALTER TABLE projects ADD COLUMN default_branch_source TEXT NOT NULL DEFAULT 'assumed'
    CHECK (default_branch_source IN ('assumed', 'ci', 'setting'));

-- The default branch the client's CI system named, if any.
ALTER TABLE uploads ADD COLUMN default_branch TEXT NOT NULL DEFAULT '';

-- Where started_at/finished_at came from: 'client' (sent with the upload), 'report'
-- (testsuite timestamps and times), 'durations' (test durations ending at receipt),
-- 'receipt' (nothing known: both are the time of receipt).
ALTER TABLE runs ADD COLUMN timing_source TEXT NOT NULL DEFAULT 'client'
    CHECK (timing_source IN ('client', 'report', 'durations', 'receipt'));

ALTER TABLE test_scores DROP CONSTRAINT test_scores_status_check;
ALTER TABLE test_scores ADD CONSTRAINT test_scores_status_check
    CHECK (status IN ('new', 'healthy', 'flaky', 'broken', 'skipped', 'inactive'));
ALTER TABLE test_scores ADD COLUMN last_seen_at TIMESTAMP;
ALTER TABLE test_scores ADD COLUMN fixed_since TIMESTAMP;
-- The inactive sweep looks for tests not seen since a time.
CREATE INDEX test_scores_project_last_seen ON test_scores (project_id, last_seen_at)
    WHERE status <> 'inactive';

-- What a test's failures cost, per day (UTC) of the runs: flaky failures, red runs it was
-- the only failure of, runner time of job reruns after it failed, in-run retry time.
CREATE TABLE test_impact_days (
    test_id         BIGINT NOT NULL REFERENCES tests (id) ON DELETE CASCADE,
    project_id      BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    day             DATE NOT NULL,
    failures        INTEGER NOT NULL DEFAULT 0,
    red_runs_alone  INTEGER NOT NULL DEFAULT 0,
    rerun_ms        BIGINT NOT NULL DEFAULT 0,
    retry_ms        BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (test_id, day)
);
CREATE INDEX test_impact_days_project_day ON test_impact_days (project_id, day);
