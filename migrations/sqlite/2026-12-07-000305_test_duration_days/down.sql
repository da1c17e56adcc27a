DROP TABLE test_duration_days;
