-- ACTIVE_3D answered step by step (crates/sessions/src/active.rs): one row per session with
-- how many challenges it was issued (kept for the session's life, so the per-session limit
-- survives a spent challenge) and the challenge in progress, sealed under the template key
-- (it holds a face embedding and patch), both as JSON in `data`. `revision` guards each
-- write, so two uploads of one step cannot both be recorded.
CREATE TABLE IF NOT EXISTS active_challenges (
    session_id TEXT PRIMARY KEY,
    application_id TEXT NOT NULL,
    revision INTEGER NOT NULL,
    data TEXT NOT NULL
);
