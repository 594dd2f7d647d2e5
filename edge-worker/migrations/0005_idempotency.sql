-- Answers kept for Idempotency-Key (contract 3.5): the first 2xx answer to a keyed write,
-- replayed to a retry of the same request for 24 h. Older rows are swept by the cron.
CREATE TABLE IF NOT EXISTS idempotency (
    application_id TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (application_id, key)
);
CREATE INDEX IF NOT EXISTS idempotency_created_at ON idempotency (created_at);
