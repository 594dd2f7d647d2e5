-- Suggested D1 (SQLite) schema for an adapter implementing facegate_sessions::Store.
-- Nested values are JSON text; blobs are cipher::seal output (never images).

CREATE TABLE IF NOT EXISTS session_counters (
  application_id TEXT PRIMARY KEY,
  n INTEGER NOT NULL
);
-- next_session_number:
--   INSERT INTO session_counters (application_id, n) VALUES (?1, 1)
--   ON CONFLICT (application_id) DO UPDATE SET n = n + 1 RETURNING n;

CREATE TABLE IF NOT EXISTS sessions (
  id TEXT PRIMARY KEY,
  application_id TEXT NOT NULL,
  number INTEGER NOT NULL,
  token TEXT NOT NULL UNIQUE,
  status TEXT NOT NULL,                 -- wire casing, e.g. 'Not Started'
  vendor_data TEXT,
  metadata TEXT,                        -- JSON
  callback TEXT,
  callback_method TEXT NOT NULL,
  language TEXT,
  contact_details TEXT,                 -- JSON
  expected_details TEXT,                -- JSON
  workflow_id TEXT NOT NULL,
  workflow_version INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  liveness_checks TEXT NOT NULL,        -- JSON array
  face_matches TEXT NOT NULL,           -- JSON array
  reference TEXT NOT NULL,              -- JSON (ReferenceSource)
  reference_template BLOB,
  pending_template BLOB,
  attempts INTEGER NOT NULL,
  resubmit_nodes TEXT,                  -- JSON array or NULL
  reviews TEXT NOT NULL,                -- JSON array
  version INTEGER NOT NULL,
  UNIQUE (application_id, number)
);
CREATE INDEX IF NOT EXISTS sessions_app_number ON sessions (application_id, number DESC);
CREATE INDEX IF NOT EXISTS sessions_app_vendor ON sessions (application_id, vendor_data);
CREATE INDEX IF NOT EXISTS sessions_open_deadline ON sessions (expires_at)
  WHERE status IN ('Not Started', 'In Progress', 'Resubmitted', 'Awaiting User');
-- update_session: UPDATE sessions SET … , version = ?new WHERE id = ?id AND version = ?expected;
--   meta.changes == 0 → StoreError::Conflict.

CREATE TABLE IF NOT EXISTS templates (
  application_id TEXT NOT NULL,
  vendor_data TEXT NOT NULL,
  source_session_id TEXT NOT NULL,
  blob BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (application_id, vendor_data)
);
CREATE INDEX IF NOT EXISTS templates_source ON templates (application_id, source_session_id);

CREATE TABLE IF NOT EXISTS webhook_deliveries (
  id TEXT PRIMARY KEY,
  event_id TEXT NOT NULL,
  application_id TEXT NOT NULL,
  session_id TEXT NOT NULL,
  destination_id TEXT NOT NULL,
  url TEXT NOT NULL,
  webhook_type TEXT NOT NULL,
  payload TEXT NOT NULL,                -- JSON, unsigned, without `timestamp`
  attempt INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  status TEXT NOT NULL,                 -- pending | delivered | failed
  last_response TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE (event_id, destination_id)     -- insert_delivery: INSERT OR IGNORE, changes == 0 → false
);
CREATE INDEX IF NOT EXISTS deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS deliveries_session ON webhook_deliveries (session_id);
