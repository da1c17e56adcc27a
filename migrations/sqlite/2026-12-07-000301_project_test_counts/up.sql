-- How many scored tests each project has in each status, kept by triggers on test_scores,
-- so pages read a few rows instead of counting every score of a project per request (a
-- project of a million tests took seconds). Every write to test_scores, by any path (the
-- scorer, inactivity, rescores, a project's deletion), goes through the triggers.
CREATE TABLE project_test_counts (
    project_id  BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    status      TEXT NOT NULL,
    tests       BIGINT NOT NULL,
    PRIMARY KEY (project_id, status)
);

INSERT INTO project_test_counts (project_id, status, tests)
    SELECT project_id, status, count(*) FROM test_scores GROUP BY project_id, status;

CREATE TRIGGER test_scores_counted_on_insert AFTER INSERT ON test_scores
BEGIN
    INSERT INTO project_test_counts (project_id, status, tests)
        VALUES (NEW.project_id, NEW.status, 1)
        ON CONFLICT (project_id, status) DO UPDATE SET tests = tests + 1;
END;

CREATE TRIGGER test_scores_counted_on_update AFTER UPDATE OF status ON test_scores
    WHEN OLD.status <> NEW.status OR OLD.project_id <> NEW.project_id
BEGIN
    UPDATE project_test_counts SET tests = tests - 1
        WHERE project_id = OLD.project_id AND status = OLD.status;
    INSERT INTO project_test_counts (project_id, status, tests)
        VALUES (NEW.project_id, NEW.status, 1)
        ON CONFLICT (project_id, status) DO UPDATE SET tests = tests + 1;
END;

CREATE TRIGGER test_scores_counted_on_delete AFTER DELETE ON test_scores
BEGIN
    UPDATE project_test_counts SET tests = tests - 1
        WHERE project_id = OLD.project_id AND status = OLD.status;
END;
