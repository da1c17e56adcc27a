-- Finding a test by part of its name read every name of the project: about two seconds
-- in a project of a million tests when nothing matched. Trigram indexes on the lowered
-- names and class names let the planner answer the list's `LIKE '%text%'` from them (and
-- still walk the score order when the text is common). pg_trgm ships with PostgreSQL and
-- is a trusted extension, but a database user without CREATE on the database cannot add
-- it: then the search keeps reading every name, and the migration says so.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN insufficient_privilege OR undefined_file THEN
    RAISE WARNING 'pg_trgm could not be created (%): searching tests by name reads every name', SQLERRM;
END
$$;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX tests_name_trigrams ON tests USING gin (lower(name) gin_trgm_ops);
        CREATE INDEX tests_classname_trigrams ON tests USING gin (lower(classname) gin_trgm_ops);
    END IF;
END
$$;
