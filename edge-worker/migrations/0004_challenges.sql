-- Active liveness challenges (FLASHING / ACTIVE_3D): the one a session's hosted page must
-- answer next. Issuing a new one replaces the row; a capture spends it. Kept out of the
-- session row so issuing one never races a capture on the session's version.
CREATE TABLE IF NOT EXISTS challenges (
    session_id TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    issued_at INTEGER NOT NULL
);
