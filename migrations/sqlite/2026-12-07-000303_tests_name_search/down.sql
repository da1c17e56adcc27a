DROP TRIGGER tests_search_update;
DROP TRIGGER tests_search_delete;
DROP TRIGGER tests_search_insert;
DROP TABLE tests_search;
DROP VIEW tests_search_text;
