DROP INDEX IF EXISTS tests_full_name_trigrams;
