DROP TABLE staged_results;
