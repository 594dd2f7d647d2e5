-- The audit log (crates/sessions/src/reviews.rs): one row per status change a person made
-- (a review or update-status) and per user deletion. Rows name the session and vendor_data
-- they are about but are kept when those are deleted, so the log still says who did what.
-- Append-only: the triggers refuse any UPDATE or DELETE, whatever statement tries.
CREATE TABLE IF NOT EXISTS audit_log (
    id TEXT PRIMARY KEY,
    application_id TEXT NOT NULL,
    session_id TEXT,
    vendor_data TEXT,
    activity_type TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_session ON audit_log (application_id, session_id, created_at);
CREATE INDEX IF NOT EXISTS audit_by_app ON audit_log (application_id, created_at);

CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
