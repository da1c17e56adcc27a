-- Per-day rollups of the runs, kept as runs are scored, so a window's CI figures merge a
-- few rows per day instead of reading every run in it. Durations are log-bucket
-- histograms (src/analysis/histogram.rs) for percentiles within 1%; the rest are sums.

-- Each day's runs by branch, job and runner, by the day they started.
CREATE TABLE run_days (
    project_id            BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    day                   DATE NOT NULL,
    branch                TEXT NOT NULL,
    job                   TEXT NOT NULL,
    runner                TEXT NOT NULL,
    runs                  BIGINT NOT NULL,
    red_runs              BIGINT NOT NULL,
    red_flaky_only        BIGINT NOT NULL,
    red_broken            BIGINT NOT NULL,
    red_other             BIGINT NOT NULL,
    flaky_failures        BIGINT NOT NULL,
    run_ms                BIGINT NOT NULL,
    rerun_ms              BIGINT NOT NULL,
    rerun_after_flaky_ms  BIGINT NOT NULL,
    flaky_retry_ms        BIGINT NOT NULL,
    durations             BYTEA NOT NULL,
    PRIMARY KEY (project_id, day, branch, job, runner)
);

-- Spans (first start to last finish) of whole pipelines (whole, job '') or of one job's
-- attempts in each pipeline, by the day the span started and the branch of its first run.
CREATE TABLE span_days (
    project_id  BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    whole       BOOLEAN NOT NULL,
    day         DATE NOT NULL,
    branch      TEXT NOT NULL,
    job         TEXT NOT NULL,
    feedback    BYTEA NOT NULL,
    first_red   BYTEA NOT NULL,
    minutes     BYTEA NOT NULL,
    PRIMARY KEY (project_id, whole, day, branch, job)
);

-- Each span as it stands, so a run that extends it moves its old values out of the day's
-- histograms. Read by key only. Pipelines are keyed as the metrics group them: by
-- pipeline id, or by commit (commit_sha) when the CI step sent none.
CREATE TABLE pipeline_spans (
    project_id        BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    whole             BOOLEAN NOT NULL,
    pipeline          TEXT NOT NULL,
    commit_sha        TEXT NOT NULL,
    job               TEXT NOT NULL,
    branch            TEXT NOT NULL,
    started_at        TIMESTAMP NOT NULL,
    finished_at       TIMESTAMP NOT NULL,
    first_red_at      TIMESTAMP,
    run_ms            BIGINT NOT NULL,
    -- The last attempt was red only because of flaky tests: the next is a costly rerun.
    last_false_alarm  BOOLEAN NOT NULL,
    PRIMARY KEY (project_id, whole, pipeline, commit_sha, job)
);

-- Each day's completed store tasks of a project, by the day they were received: queue time
-- (enqueued to started), store time (started to stored) and scoring lag (stored to scored).
CREATE TABLE task_days (
    project_id  BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    day         DATE NOT NULL,
    queue       BYTEA NOT NULL,
    store       BYTEA NOT NULL,
    scoring     BYTEA NOT NULL,
    PRIMARY KEY (project_id, day)
);

-- Projects scored before the rollups existed fill them by one rescore, which their next
-- scoring job (asked for at start-up) runs.
UPDATE projects SET rescore_requested = TRUE
    WHERE EXISTS (SELECT 1 FROM runs WHERE runs.project_id = projects.id AND runs.scored_at IS NOT NULL);
