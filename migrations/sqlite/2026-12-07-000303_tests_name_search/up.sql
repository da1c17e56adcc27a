-- Finding a test by part of its name read every name of the project: half a second in a
-- project of a million tests. A trigram index of names and class names (`detail=none`
-- keeps it to about 100 bytes a test) answers "which tests contain this text" from a few
-- lists instead. It holds no text of its own (the content is `tests`); the triggers keep
-- it in step with every insert, change and delete of a test, cascades included.
CREATE VIRTUAL TABLE tests_search USING fts5(
    project_id UNINDEXED,
    classname,
    name,
    content = 'tests',
    content_rowid = 'id',
    tokenize = 'trigram',
    detail = 'none'
);
INSERT INTO tests_search (tests_search) VALUES ('rebuild');

CREATE TRIGGER tests_search_insert AFTER INSERT ON tests BEGIN
    INSERT INTO tests_search (rowid, project_id, classname, name)
    VALUES (new.id, new.project_id, new.classname, new.name);
END;

CREATE TRIGGER tests_search_delete AFTER DELETE ON tests BEGIN
    INSERT INTO tests_search (tests_search, rowid, project_id, classname, name)
    VALUES ('delete', old.id, old.project_id, old.classname, old.name);
END;

CREATE TRIGGER tests_search_update AFTER UPDATE OF project_id, classname, name ON tests BEGIN
    INSERT INTO tests_search (tests_search, rowid, project_id, classname, name)
    VALUES ('delete', old.id, old.project_id, old.classname, old.name);
    INSERT INTO tests_search (rowid, project_id, classname, name)
    VALUES (new.id, new.project_id, new.classname, new.name);
END;
