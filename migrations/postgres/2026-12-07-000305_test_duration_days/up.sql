-- Each test's passing results per day (UTC) of their runs: how many and their total
-- duration, kept as runs are scored, so the weekly report's slowest tests and duration
-- regressions add up days instead of reading every result of the period.
CREATE TABLE test_duration_days (
    test_id     BIGINT NOT NULL REFERENCES tests (id) ON DELETE CASCADE,
    project_id  BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    day         DATE NOT NULL,
    passed      INTEGER NOT NULL,
    passed_ms   BIGINT NOT NULL,
    PRIMARY KEY (test_id, day)
);
CREATE INDEX test_duration_days_project_day ON test_duration_days (project_id, day);

-- Filled for projects scored before by their one rescore (see the window rollups).
UPDATE projects SET rescore_requested = TRUE
    WHERE EXISTS (SELECT 1 FROM runs WHERE runs.project_id = projects.id AND runs.scored_at IS NOT NULL);
