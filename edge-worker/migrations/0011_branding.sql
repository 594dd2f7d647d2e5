-- Hosted-page branding of `/v3/customization/` (crates/sessions/src/branding.rs): re-encoded
-- PNG logos, colours and title, as JSON in `data`, one row per application. Kept out of the
-- application's configuration, which every request reads.
CREATE TABLE IF NOT EXISTS branding (
    application_id TEXT PRIMARY KEY,
    data TEXT NOT NULL
);
