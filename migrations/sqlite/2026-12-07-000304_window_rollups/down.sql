DROP TABLE task_days;
DROP TABLE pipeline_spans;
DROP TABLE span_days;
DROP TABLE run_days;
