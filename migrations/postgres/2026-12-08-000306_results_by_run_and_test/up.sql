-- The scorer reads a run's results in chunks of ascending test id (`run_id = $1 AND
-- test_id > $2 ORDER BY test_id LIMIT n`). With an index on run_id alone, PostgreSQL's
-- generic plan walked `results_test_run` in test id order instead and skipped every other
-- run's rows: 57 ms a chunk on 3.3M results, seconds for late chunks. This index serves
-- that read in order, and everything the old one served.
CREATE INDEX results_run_test ON results (run_id, test_id);
DROP INDEX results_run;
