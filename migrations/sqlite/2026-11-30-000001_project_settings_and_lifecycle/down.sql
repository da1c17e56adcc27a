DROP TABLE test_impact_days;
CREATE TABLE test_scores_old (
    test_id             BIGINT PRIMARY KEY REFERENCES tests (id) ON DELETE CASCADE,
    project_id          BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    status              TEXT NOT NULL CHECK (status IN ('new', 'healthy', 'flaky', 'broken')),
    score               REAL NOT NULL,
    failure_rate        REAL NOT NULL,
    runs_seen           INTEGER NOT NULL,
    first_flaky_at      TIMESTAMP,
    last_flaky_at       TIMESTAMP,
    status_changed_at   TIMESTAMP NOT NULL,
    updated_at          TIMESTAMP NOT NULL,
    evidence            TEXT NOT NULL DEFAULT '[]',
    state               TEXT NOT NULL DEFAULT '{}'
);
INSERT INTO test_scores_old
    SELECT test_id, project_id,
           CASE WHEN status IN ('skipped', 'inactive') THEN 'healthy' ELSE status END,
           score, failure_rate, runs_seen, first_flaky_at, last_flaky_at, status_changed_at,
           updated_at, evidence, state
    FROM test_scores;
DROP TABLE test_scores;
ALTER TABLE test_scores_old RENAME TO test_scores;
CREATE INDEX test_scores_project_status_score ON test_scores (project_id, status, score DESC);
ALTER TABLE runs DROP COLUMN timing_source;
ALTER TABLE uploads DROP COLUMN default_branch;
ALTER TABLE projects DROP COLUMN default_branch_source;
ALTER TABLE projects DROP COLUMN display_name;
