-- Captured frames kept for reviewers, only for applications with `retain_images` on
-- (crates/sessions/src/images.rs): sealed under the template key (hex), one per session and
-- slot, erased with their session (and so by retention and user deletion).
CREATE TABLE IF NOT EXISTS session_images (
    application_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    slot TEXT NOT NULL,
    blob TEXT NOT NULL,
    PRIMARY KEY (application_id, session_id, slot)
);
