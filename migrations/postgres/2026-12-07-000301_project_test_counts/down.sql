DROP TRIGGER test_scores_counted_on_delete ON test_scores;
DROP TRIGGER test_scores_counted_on_update ON test_scores;
DROP TRIGGER test_scores_counted_on_insert ON test_scores;
DROP FUNCTION count_test_statuses();
DROP TABLE project_test_counts;
