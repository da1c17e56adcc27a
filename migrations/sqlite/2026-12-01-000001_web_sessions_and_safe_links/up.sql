-- Dashboard sign-in: a browser session made from a read or admin API token. Only the
-- session secret's hash is stored; a session ends when it expires, when its owner signs
-- out, or when its token is revoked (checked on every use) or deleted (cascade).
CREATE TABLE web_sessions (
    id            INTEGER PRIMARY KEY,
    token_id      BIGINT NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    session_hash  TEXT NOT NULL UNIQUE,
    created_at    TIMESTAMP NOT NULL,
    expires_at    TIMESTAMP NOT NULL
);
CREATE INDEX web_sessions_token ON web_sessions (token_id);
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);

-- Build URLs are links on the dashboard: only http(s) ones are accepted from now on, and
-- any other already stored (a `javascript:` URL) is blanked. This cannot be undone.
UPDATE uploads SET build_url = ''
    WHERE NOT (lower(build_url) LIKE 'http://%' OR lower(build_url) LIKE 'https://%');
UPDATE runs SET build_url = ''
    WHERE NOT (lower(build_url) LIKE 'http://%' OR lower(build_url) LIKE 'https://%');
