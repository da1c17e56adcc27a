-- How many scored tests each project has in each status, kept by triggers on test_scores,
-- so pages read a few rows instead of counting every score of a project per request (a
-- project of a million tests took seconds). Every write to test_scores, by any path (the
-- scorer, inactivity, rescores, a project's deletion), goes through the triggers. They run
-- once per statement over its transition tables: a scoring batch upserts thousands of
-- scores in one statement and changes each count row once, not once per test.
CREATE TABLE project_test_counts (
    project_id  BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    status      TEXT NOT NULL,
    tests       BIGINT NOT NULL,
    PRIMARY KEY (project_id, status)
);

INSERT INTO project_test_counts (project_id, status, tests)
    SELECT project_id, status, count(*) FROM test_scores GROUP BY project_id, status;

-- Moves each count by what one statement did to test_scores. An update that rewrote
-- scores but changed no test's status has a net change of zero and writes nothing.
CREATE FUNCTION count_test_statuses() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO project_test_counts (project_id, status, tests)
            SELECT project_id, status, count(*) FROM new_scores GROUP BY project_id, status
            ORDER BY project_id, status
            ON CONFLICT (project_id, status)
            DO UPDATE SET tests = project_test_counts.tests + excluded.tests;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO project_test_counts (project_id, status, tests)
            SELECT project_id, status, sum(change) FROM (
                SELECT project_id, status, -1 AS change FROM old_scores
                UNION ALL
                SELECT project_id, status, 1 AS change FROM new_scores
            ) moved
            GROUP BY project_id, status HAVING sum(change) <> 0
            ORDER BY project_id, status
            ON CONFLICT (project_id, status)
            DO UPDATE SET tests = project_test_counts.tests + excluded.tests;
    ELSE
        UPDATE project_test_counts SET tests = project_test_counts.tests - gone.tests
            FROM (SELECT project_id, status, count(*) AS tests FROM old_scores
                  GROUP BY project_id, status) gone
            WHERE project_test_counts.project_id = gone.project_id
              AND project_test_counts.status = gone.status;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER test_scores_counted_on_insert AFTER INSERT ON test_scores
    REFERENCING NEW TABLE AS new_scores
    FOR EACH STATEMENT EXECUTE FUNCTION count_test_statuses();
CREATE TRIGGER test_scores_counted_on_update AFTER UPDATE ON test_scores
    REFERENCING OLD TABLE AS old_scores NEW TABLE AS new_scores
    FOR EACH STATEMENT EXECUTE FUNCTION count_test_statuses();
CREATE TRIGGER test_scores_counted_on_delete AFTER DELETE ON test_scores
    REFERENCING OLD TABLE AS old_scores
    FOR EACH STATEMENT EXECUTE FUNCTION count_test_statuses();
