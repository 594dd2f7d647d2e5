-- Lists of `/v3/lists/…` (crates/sessions/src/lists): the created allowlists and custom lists
-- (the system blocklists have no row: their ids are derived from the application), and every
-- list's entries. A list's or entry's record is JSON in `data`; the columns that queries filter,
-- sort or guard on are copied out. Face entries hold a sealed template in `data`, never an
-- image. Entries outlive the session they were taken from (Didit keeps them).
CREATE TABLE IF NOT EXISTS lists (
    application_id TEXT NOT NULL,
    uuid TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (application_id, uuid)
);
CREATE UNIQUE INDEX IF NOT EXISTS lists_name ON lists (application_id, name);

CREATE TABLE IF NOT EXISTS list_entries (
    application_id TEXT NOT NULL,
    uuid TEXT NOT NULL,
    list_uuid TEXT NOT NULL,
    entry_type TEXT NOT NULL,
    value TEXT NOT NULL,
    -- Lower-cased value and display label, for `search`.
    search_text TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (application_id, uuid)
);
CREATE UNIQUE INDEX IF NOT EXISTS list_entries_value ON list_entries (application_id, list_uuid, value);
CREATE INDEX IF NOT EXISTS list_entries_type ON list_entries (application_id, entry_type);

-- Bumped by every write of an application's lists: caches of its face entries compare it.
CREATE TABLE IF NOT EXISTS list_versions (
    application_id TEXT PRIMARY KEY,
    n INTEGER NOT NULL
);
