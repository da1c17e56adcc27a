DROP TABLE project_codeowners;
DROP TABLE quarantines;
DROP INDEX uploads_token;
ALTER TABLE uploads DROP COLUMN token_id;
