-- User records of `/v3/users/…` (crates/sessions/src/user_records.rs): a vendor_data's profile
-- and monitoring status (ACTIVE, FLAGGED, BLOCKED), as JSON in `data`. A user's sessions and
-- enrolled face stay where they are; `POST /v3/users/delete/` removes all three together.
CREATE TABLE IF NOT EXISTS users (
    application_id TEXT NOT NULL,
    vendor_data TEXT NOT NULL,
    status TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (application_id, vendor_data)
);
