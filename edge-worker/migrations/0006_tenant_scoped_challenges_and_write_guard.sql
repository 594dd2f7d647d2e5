-- Challenges name their application, so every read and write of one is scoped by tenant like
-- the other tables (a session id alone must never reach another application's row).
ALTER TABLE challenges ADD COLUMN application_id TEXT;
UPDATE challenges SET application_id = (SELECT application_id FROM sessions WHERE sessions.id = challenges.session_id);
DELETE FROM challenges WHERE application_id IS NULL;

-- The version guard of a batched session update: the batch inserts a row here exactly when the
-- session is not at the version the writer read, and the CHECK refuses every row, so the whole
-- batch (template, outbox rows, challenge) rolls back with it. The table always stays empty.
CREATE TABLE IF NOT EXISTS write_conflicts (
    session_id TEXT,
    CONSTRAINT version_conflict CHECK (session_id IS NULL)
);
