-- Weekly report delivery and webhook notifications.
--
-- A delivery batch is what is sent once: one project's report of one ISO week (its label
-- unique per project, so a week is never produced twice) or one batch of events. Each
-- configured webhook gets one delivery row per batch with its attempts and outcome; the
-- webhook is stored by an id derived from its URL, never the URL (it may hold a secret).
CREATE TABLE delivery_batches (
    id          INTEGER PRIMARY KEY,
    project_id  BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    subject     TEXT NOT NULL CHECK (subject IN ('weekly_report', 'events')),
    label       TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    UNIQUE (project_id, subject, label)
);

CREATE TABLE deliveries (
    id               INTEGER PRIMARY KEY,
    batch_id         BIGINT NOT NULL REFERENCES delivery_batches (id) ON DELETE CASCADE,
    webhook          TEXT NOT NULL,
    body             TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    next_attempt_at  TIMESTAMP NOT NULL,
    delivered_at     TIMESTAMP,
    UNIQUE (batch_id, webhook)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';

-- The scorer's outbox: a test's status changes, written in the scoring transaction, and
-- quarantine expiries (deduplicated by their key). batch_id is set when batched.
CREATE TABLE notification_events (
    id           INTEGER PRIMARY KEY,
    project_id   BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    test_id      BIGINT NOT NULL REFERENCES tests (id) ON DELETE CASCADE,
    event        TEXT NOT NULL CHECK (event IN ('flaky', 'broken', 'fixed', 'quarantine_expired')),
    happened_at  TIMESTAMP NOT NULL,
    dedupe_key   TEXT UNIQUE,
    batch_id     BIGINT REFERENCES delivery_batches (id) ON DELETE CASCADE
);
CREATE INDEX notification_events_unbatched ON notification_events (project_id, id) WHERE batch_id IS NULL;
CREATE INDEX notification_events_test ON notification_events (test_id);
CREATE INDEX notification_events_batch ON notification_events (batch_id);
