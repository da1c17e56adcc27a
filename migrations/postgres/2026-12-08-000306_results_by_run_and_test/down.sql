CREATE INDEX results_run ON results (run_id);
DROP INDEX results_run_test;
