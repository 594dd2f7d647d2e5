-- The full application configuration (workflows, webhook destinations, settings) as JSON:
-- read once per request by id, never queried by its parts.
ALTER TABLE applications ADD COLUMN config TEXT;

-- Sessions: the whole record as JSON in `data`, with the columns that queries filter or sort
-- on copied out. `version` backs optimistic concurrency (UPDATE ... WHERE version = ?).
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    application_id TEXT NOT NULL,
    number INTEGER NOT NULL,
    token TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    vendor_data TEXT,
    workflow_id TEXT NOT NULL,
    country TEXT,
    search_text TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    version INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_app_number ON sessions (application_id, number DESC);
CREATE INDEX IF NOT EXISTS sessions_by_vendor ON sessions (application_id, vendor_data);
CREATE INDEX IF NOT EXISTS sessions_unfinished ON sessions (status, expires_at);

CREATE TABLE IF NOT EXISTS session_counters (
    application_id TEXT PRIMARY KEY,
    n INTEGER NOT NULL
);

-- Face templates: only an AES-256-GCM sealed embedding (hex), never an image.
CREATE TABLE IF NOT EXISTS templates (
    application_id TEXT NOT NULL,
    vendor_data TEXT NOT NULL,
    source_session_id TEXT NOT NULL,
    blob TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (application_id, vendor_data)
);
CREATE INDEX IF NOT EXISTS templates_by_session ON templates (application_id, source_session_id);

-- Webhook outbox: one row per (event, destination); survives restarts, unlike local queues.
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL,
    application_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    destination_id TEXT NOT NULL,
    url TEXT NOT NULL,
    webhook_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    status TEXT NOT NULL,
    last_response TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (event_id, destination_id)
);
CREATE INDEX IF NOT EXISTS deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS deliveries_by_session ON webhook_deliveries (session_id);
