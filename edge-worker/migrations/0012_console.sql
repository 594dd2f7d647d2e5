-- The console's operators (crates/sessions/src/console): platform-wide people with roles per
-- application, as JSON in `data`. The sign-in failure count and lock are columns so one UPDATE
-- counts a failure atomically. Emails are unique once set (the first admin's is set on setup).
CREATE TABLE IF NOT EXISTS operators (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    version INTEGER NOT NULL,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS operators_by_email ON operators (email) WHERE email <> '';

-- Signed-in browsers, by the sha256 of their cookie's token (the token itself is never kept).
CREATE TABLE IF NOT EXISTS console_sessions (
    token_hash TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS console_sessions_by_operator ON console_sessions (operator_id);

-- One-time links to set a password (first admin, invitations), by the sha256 of their token.
CREATE TABLE IF NOT EXISTS setup_links (
    token_hash TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
