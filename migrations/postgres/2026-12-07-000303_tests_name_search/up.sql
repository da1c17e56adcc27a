-- Finding a test by part of its name read every name of the project: about two seconds
-- in a project of a million tests when nothing matched. A trigram index of each test's
-- full name as pages show it, `class::name` (lowered), lets the planner answer the list's
-- `LIKE '%text%'` from it, and still walk the score order when the text is common. The
-- list's condition is this very expression, or the index would not be used.
--
-- pg_trgm ships with PostgreSQL and is a trusted extension, but a database user without
-- CREATE on the database cannot add it: then the index is left out, the search reads
-- every name, and `flakewatch migrate` warns.
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
        CREATE INDEX tests_full_name_trigrams ON tests
            USING gin (lower(classname || '::' || name) gin_trgm_ops);
    END IF;
END
$$;
