-- Each project's branches and jobs, for the pages' filter choices: a few rows a project,
-- read instead of `SELECT DISTINCT` over all its runs. A store adds a name it has not
-- seen (existing names are not written, so concurrent stores do not wait on each other);
-- the scorer moves last_seen_at forward, one project at a time.
CREATE TABLE run_names (
    project_id    BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL CHECK (kind IN ('branch', 'job')),
    name          TEXT NOT NULL,
    last_seen_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (project_id, kind, name)
);
INSERT INTO run_names (project_id, kind, name, last_seen_at)
    SELECT project_id, 'branch', branch, MAX(started_at) FROM runs GROUP BY project_id, branch;
INSERT INTO run_names (project_id, kind, name, last_seen_at)
    SELECT project_id, 'job', job, MAX(started_at) FROM runs GROUP BY project_id, job;
