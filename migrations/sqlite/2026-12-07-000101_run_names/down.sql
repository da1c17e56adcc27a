DROP TABLE run_names;
