DROP INDEX IF EXISTS tests_classname_trigrams;
DROP INDEX IF EXISTS tests_name_trigrams;
