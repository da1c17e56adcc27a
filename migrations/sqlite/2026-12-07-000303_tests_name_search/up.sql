-- Finding a test by part of its name read every name of the project: half a second in a
-- project of a million tests. A trigram index answers "which tests contain this text"
-- from a few lists instead.
--
-- It indexes one text per test, its full name as pages show it (`class::name`), which is
-- what a search matches, from the view below; `detail=none` keeps it to about 100 bytes
-- a test. It holds no text of its own; the triggers keep it in step with every insert,
-- change and delete of a test, cascades included, writing the same text as the view.
CREATE VIEW tests_search_text AS
    SELECT id, project_id, classname || '::' || name AS text FROM tests;

CREATE VIRTUAL TABLE tests_search USING fts5(
    project_id UNINDEXED,
    text,
    content = 'tests_search_text',
    content_rowid = 'id',
    tokenize = 'trigram',
    detail = 'none'
);
INSERT INTO tests_search (tests_search) VALUES ('rebuild');

CREATE TRIGGER tests_search_insert AFTER INSERT ON tests BEGIN
    INSERT INTO tests_search (rowid, project_id, text)
    VALUES (new.id, new.project_id, new.classname || '::' || new.name);
END;

CREATE TRIGGER tests_search_delete AFTER DELETE ON tests BEGIN
    INSERT INTO tests_search (tests_search, rowid, project_id, text)
    VALUES ('delete', old.id, old.project_id, old.classname || '::' || old.name);
END;

CREATE TRIGGER tests_search_update AFTER UPDATE OF project_id, classname, name ON tests BEGIN
    INSERT INTO tests_search (tests_search, rowid, project_id, text)
    VALUES ('delete', old.id, old.project_id, old.classname || '::' || old.name);
    INSERT INTO tests_search (rowid, project_id, text)
    VALUES (new.id, new.project_id, new.classname || '::' || new.name);
END;
