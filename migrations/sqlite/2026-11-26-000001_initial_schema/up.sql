-- flakewatch's first schema, shaped for the whole mission: uploads become store tasks,
-- tasks store runs and their results, the analyzer keeps one score per test.
-- Timestamps are UTC; durations are integer milliseconds; keys are surrogate BIGINTs.

-- Per-installation secrets shared by every replica (e.g. the key that derives task tokens).
CREATE TABLE instance_secrets (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);

CREATE TABLE projects (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    default_branch  TEXT NOT NULL DEFAULT 'main',
    created_at      TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- Secrets are stored as SHA-256 hashes; `prefix` lets people recognise a token in lists.
CREATE TABLE api_tokens (
    id            INTEGER PRIMARY KEY,
    project_id    BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    scope         TEXT NOT NULL CHECK (scope IN ('upload', 'read', 'admin')),
    label         TEXT NOT NULL DEFAULT '',
    prefix        TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    created_at    TIMESTAMP NOT NULL,
    last_used_at  TIMESTAMP,
    revoked_at    TIMESTAMP
);
CREATE INDEX api_tokens_project ON api_tokens (project_id);

-- Cost per runner minute, per project and runner label, in micro-units of the currency.
CREATE TABLE runner_rates (
    project_id              BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    runner_label            TEXT NOT NULL,
    micros_per_minute       BIGINT NOT NULL CHECK (micros_per_minute >= 0),
    currency                TEXT NOT NULL DEFAULT 'USD',
    PRIMARY KEY (project_id, runner_label)
);

-- One CI upload: its metadata, as the client sent it.
CREATE TABLE uploads (
    id               INTEGER PRIMARY KEY,
    project_id       BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    -- Same metadata and same bytes give the same key: a client retry finds its first upload.
    idempotency_key  TEXT NOT NULL,
    received_at      TIMESTAMP NOT NULL,
    branch           TEXT NOT NULL DEFAULT '',
    commit_sha       TEXT NOT NULL DEFAULT '',
    job              TEXT NOT NULL DEFAULT '',
    attempt          INTEGER NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    pipeline         TEXT NOT NULL DEFAULT '',
    build_url        TEXT NOT NULL DEFAULT '',
    runner           TEXT NOT NULL DEFAULT '',
    started_at       TIMESTAMP,
    finished_at      TIMESTAMP,
    content_type     TEXT NOT NULL,
    -- File name the client gave a single report; errors name it.
    report_name      TEXT NOT NULL DEFAULT 'report.xml',
    body_bytes       BIGINT NOT NULL,
    UNIQUE (project_id, idempotency_key)
);
CREATE INDEX uploads_project_received ON uploads (project_id, received_at);

-- The raw report, gzip-compressed, apart from `uploads` so lists never read blobs.
-- Deleted after its task completes and the retention period passes.
CREATE TABLE upload_payloads (
    upload_id         BIGINT PRIMARY KEY REFERENCES uploads (id) ON DELETE CASCADE,
    compressed        BLOB NOT NULL,
    compressed_bytes  BIGINT NOT NULL
);

-- The asynchronous store task of an upload. The token is a 128-bit secret kept hashed.
CREATE TABLE store_tasks (
    id                INTEGER PRIMARY KEY,
    token_hash        TEXT NOT NULL UNIQUE,
    upload_id         BIGINT NOT NULL UNIQUE REFERENCES uploads (id) ON DELETE CASCADE,
    project_id        BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    status            TEXT NOT NULL CHECK (status IN ('enqueued', 'running', 'completed', 'failed', 'cancelled')),
    received_at       TIMESTAMP NOT NULL,
    enqueued_at       TIMESTAMP NOT NULL,
    started_at        TIMESTAMP,
    finished_at       TIMESTAMP,
    heartbeat_at      TIMESTAMP,
    lease_expires_at  TIMESTAMP,
    worker            TEXT,
    claims            INTEGER NOT NULL DEFAULT 0,
    cancel_requested  BOOLEAN NOT NULL DEFAULT 0,
    records_seen      BIGINT NOT NULL DEFAULT 0,
    records_stored    BIGINT NOT NULL DEFAULT 0,
    warnings          TEXT NOT NULL DEFAULT '[]',
    error             TEXT
);
-- Claiming takes the oldest enqueued task; lease recovery scans running ones.
CREATE INDEX store_tasks_enqueued ON store_tasks (enqueued_at) WHERE status = 'enqueued';
CREATE INDEX store_tasks_running_lease ON store_tasks (lease_expires_at) WHERE status = 'running';
CREATE INDEX store_tasks_project_received ON store_tasks (project_id, received_at);

-- One CI job attempt, stored from one upload (UNIQUE: stored exactly once).
CREATE TABLE runs (
    id                 INTEGER PRIMARY KEY,
    project_id         BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    upload_id          BIGINT NOT NULL UNIQUE REFERENCES uploads (id) ON DELETE CASCADE,
    branch             TEXT NOT NULL,
    on_default_branch  BOOLEAN NOT NULL,
    commit_sha         TEXT NOT NULL,
    job                TEXT NOT NULL,
    attempt            INTEGER NOT NULL,
    pipeline           TEXT NOT NULL,
    build_url          TEXT NOT NULL,
    runner             TEXT NOT NULL,
    started_at         TIMESTAMP NOT NULL,
    finished_at        TIMESTAMP NOT NULL,
    stored_at          TIMESTAMP NOT NULL,
    tests              INTEGER NOT NULL,
    passed             INTEGER NOT NULL,
    failed             INTEGER NOT NULL,
    errors             INTEGER NOT NULL,
    skipped            INTEGER NOT NULL,
    flaky_in_run       INTEGER NOT NULL,
    test_time_ms       BIGINT NOT NULL,
    -- Time spent re-running failed tests inside this run.
    retry_ms           BIGINT NOT NULL DEFAULT 0,
    -- Set by the analyzer when it scores the run: its red (failed or error) tests by the
    -- status they had then, and the retry time of tests that were flaky. CI-quality
    -- metrics read these instead of rescanning results.
    red_flaky          INTEGER NOT NULL DEFAULT 0,
    red_broken         INTEGER NOT NULL DEFAULT 0,
    red_other          INTEGER NOT NULL DEFAULT 0,
    flaky_retry_ms     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX runs_project_started ON runs (project_id, started_at);
CREATE INDEX runs_project_branch_started ON runs (project_id, branch, started_at);
CREATE INDEX runs_project_job_started ON runs (project_id, job, started_at);
CREATE INDEX runs_project_commit ON runs (project_id, commit_sha);
CREATE INDEX runs_project_pipeline ON runs (project_id, pipeline);

-- A test's identity within a project (see src/junit for the identity rule).
CREATE TABLE tests (
    id             INTEGER PRIMARY KEY,
    project_id     BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    -- SHA-256 of the identity, so the unique index stays small whatever the names' length.
    identity_hash  TEXT NOT NULL,
    suite          TEXT NOT NULL,
    classname      TEXT NOT NULL,
    name           TEXT NOT NULL,
    file           TEXT,
    first_seen_at  TIMESTAMP NOT NULL,
    UNIQUE (project_id, identity_hash)
);

-- Failure messages normalised (numbers, addresses, temp paths, ids stripped) into signatures.
CREATE TABLE failure_signatures (
    id              INTEGER PRIMARY KEY,
    project_id      BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    signature_hash  TEXT NOT NULL,
    normalized      TEXT NOT NULL,
    first_seen_at   TIMESTAMP NOT NULL,
    UNIQUE (project_id, signature_hash)
);

-- Distinct failure messages, stored once however many results share them.
CREATE TABLE failure_messages (
    id            INTEGER PRIMARY KEY,
    project_id    BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    message_hash  TEXT NOT NULL,
    signature_id  BIGINT NOT NULL REFERENCES failure_signatures (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL DEFAULT '',
    message       TEXT NOT NULL DEFAULT '',
    details       TEXT NOT NULL DEFAULT '',
    UNIQUE (project_id, message_hash)
);
CREATE INDEX failure_messages_signature ON failure_messages (signature_id);

-- One test in one run. `attempts` counts in-run tries; `failed_attempts` those that failed,
-- so passed with failed_attempts > 0 is flaky within the run.
CREATE TABLE results (
    id                  INTEGER PRIMARY KEY,
    run_id              BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    test_id             BIGINT NOT NULL REFERENCES tests (id) ON DELETE CASCADE,
    outcome             TEXT NOT NULL CHECK (outcome IN ('passed', 'failed', 'error', 'skipped')),
    duration_ms         BIGINT,
    attempts            INTEGER NOT NULL DEFAULT 1,
    failed_attempts     INTEGER NOT NULL DEFAULT 0,
    -- Duration of the tries before the one that decided the outcome.
    retry_ms            BIGINT NOT NULL DEFAULT 0,
    failure_message_id  BIGINT REFERENCES failure_messages (id)
);
CREATE INDEX results_run ON results (run_id);
CREATE INDEX results_test_run ON results (test_id, run_id);
CREATE INDEX results_failure_message ON results (failure_message_id) WHERE failure_message_id IS NOT NULL;

-- The analyzer's verdict per test; `state` is its serialized incremental state.
CREATE TABLE test_scores (
    test_id             BIGINT PRIMARY KEY REFERENCES tests (id) ON DELETE CASCADE,
    project_id          BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    status              TEXT NOT NULL CHECK (status IN ('new', 'healthy', 'flaky', 'broken')),
    score               REAL NOT NULL,
    failure_rate        REAL NOT NULL,
    runs_seen           INTEGER NOT NULL,
    first_flaky_at      TIMESTAMP,
    last_flaky_at       TIMESTAMP,
    status_changed_at   TIMESTAMP NOT NULL,
    updated_at          TIMESTAMP NOT NULL,
    evidence            TEXT NOT NULL DEFAULT '[]',
    state               TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX test_scores_project_status_score ON test_scores (project_id, status, score DESC);
