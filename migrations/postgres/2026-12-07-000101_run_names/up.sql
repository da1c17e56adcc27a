-- Each project's branches and jobs, for the pages' filter choices: a few rows a project,
-- read instead of `SELECT DISTINCT` over all its runs. A store adds a name it has not
-- seen (existing names are not written, so concurrent stores do not wait on each other).
CREATE TABLE run_names (
    project_id    BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL CHECK (kind IN ('branch', 'job')),
    name          TEXT NOT NULL,
    PRIMARY KEY (project_id, kind, name)
);
INSERT INTO run_names (project_id, kind, name)
    SELECT DISTINCT project_id, 'branch', branch FROM runs;
INSERT INTO run_names (project_id, kind, name)
    SELECT DISTINCT project_id, 'job', job FROM runs;
