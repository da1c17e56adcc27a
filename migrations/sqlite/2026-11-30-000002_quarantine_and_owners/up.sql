-- Quarantine (a test whose failures do not fail the CI gate, for a while, with an owner and
-- a reason), the token an upload came with (so it may read its run's verdict), and each
-- project's CODEOWNERS (tests map to owners by their file path).

ALTER TABLE uploads ADD COLUMN token_id BIGINT REFERENCES api_tokens (id) ON DELETE SET NULL;
CREATE INDEX uploads_token ON uploads (token_id);

CREATE TABLE quarantines (
    id          INTEGER PRIMARY KEY,
    project_id  BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    test_id     BIGINT NOT NULL REFERENCES tests (id) ON DELETE CASCADE,
    owner       TEXT NOT NULL DEFAULT '',
    reason      TEXT NOT NULL DEFAULT '',
    issue_url   TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMP NOT NULL,
    -- It ends by itself at this time (none: until removed).
    expires_at  TIMESTAMP,
    -- When an admin removed it (or a new quarantine of the test replaced an expired one).
    ended_at    TIMESTAMP
);
CREATE INDEX quarantines_project ON quarantines (project_id);
-- At most one quarantine of a test is open (not removed) at a time.
CREATE UNIQUE INDEX quarantines_open_test ON quarantines (test_id) WHERE ended_at IS NULL;

CREATE TABLE project_codeowners (
    project_id  BIGINT PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    content     TEXT NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);
