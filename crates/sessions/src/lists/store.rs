//! What the lists need from storage: their own port beside `Store` (like the console's
//! `OperatorStore`), so lists add tables and writes without touching the session store's.
//! The memory side is `memory/lists.rs`, the D1 side `edge-worker/src/d1_store/lists.rs`
//! (migration 0016).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::faces::FaceStamp;
use super::{EntryType, List};
use crate::store::StoreError;
use crate::types::TemplateRow;

/// One value of a list. Face entries hold a sealed template (`cipher::seal` of the
/// embedding under `entry_aad`), never an image; their `value` is the entry's own id, so two
/// faces never collide as duplicates.
///
/// Entries outlive what they were taken from: deleting the session named by
/// `reference_session_id` (or its user) keeps the entry, as Didit does: a blocklisted face or
/// address must stay blocked after the evidence is erased. Only deleting the entry, or its
/// list, removes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub uuid: String,
    pub application_id: String,
    pub list_uuid: String,
    pub entry_type: EntryType,
    /// Canonical (an IP or CIDR as `parse_value` writes it, a lower-case fingerprint, a
    /// vendor_data), unique within its list.
    pub value: String,
    pub display_label: Option<String>,
    pub comment: Option<String>,
    pub metadata: Option<Value>,
    /// `api` (the only writer facegate has).
    pub added_by: String,
    pub reference_session_id: Option<String>,
    pub reference_session_number: Option<i64>,
    pub reference_object_uuid: Option<String>,
    /// The vendor_data of the session a face was taken from, if any (shown by face search).
    pub vendor_data: Option<String>,
    /// Face entries: the sealed embedding, hex.
    pub template: Option<String>,
    pub created_at: i64,
}

/// AAD of a face entry's template: bound to its application, list and entry.
pub fn entry_aad(application_id: &str, list_uuid: &str, entry_uuid: &str) -> Vec<u8> {
    format!("facegate/list-entry/v1\0{application_id}\0{list_uuid}\0{entry_uuid}").into_bytes()
}

/// A write of the lists' tables; a `commit_lists` applies all of its writes or none. Every
/// commit also bumps the application's lists version (`lists_version`), which caches of the
/// face entries compare against.
#[derive(Debug, Clone, PartialEq)]
pub enum ListWrite {
    /// Insert or replace by (application_id, uuid); `Conflict` when another list of the
    /// application has the name.
    PutList(List),
    /// The list and all of its entries (another application's id matches nothing).
    DeleteList {
        application_id: String,
        uuid: String,
    },
    /// `Conflict` when the list already holds the value.
    InsertEntry(Entry),
    DeleteEntry {
        application_id: String,
        list_uuid: String,
        uuid: String,
    },
}

/// How many entries a list holds, and when the last was added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EntryCount {
    pub count: u64,
    pub last_added_at: Option<i64>,
}

#[allow(async_fn_in_trait)]
pub trait ListStore {
    async fn commit_lists(&self, writes: &[ListWrite]) -> Result<(), StoreError>;
    /// The application's created lists (system lists have no row), oldest first.
    async fn lists(&self, application_id: &str) -> Result<Vec<List>, StoreError>;
    async fn list(&self, application_id: &str, uuid: &str) -> Result<Option<List>, StoreError>;
    /// Entries per list uuid (system lists included), one grouped query.
    async fn entry_counts(
        &self,
        application_id: &str,
    ) -> Result<Vec<(String, EntryCount)>, StoreError>;
    /// One page of a list's entries, newest first, plus the total count of matches; `search`
    /// (lower case) is a substring of the value or the display label.
    async fn entries(
        &self,
        application_id: &str,
        list_uuid: &str,
        search: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<Entry>), StoreError>;
    async fn entry(
        &self,
        application_id: &str,
        list_uuid: &str,
        uuid: &str,
    ) -> Result<Option<Entry>, StoreError>;
    /// Every entry of that type in any of the application's lists (screening, face search).
    async fn entries_of_type(
        &self,
        application_id: &str,
        entry_type: EntryType,
    ) -> Result<Vec<Entry>, StoreError>;
    /// Bumped by every `commit_lists` of the application (0 before the first).
    async fn lists_version(&self, application_id: &str) -> Result<i64, StoreError>;
    /// Every enrolled template of the application: the faces the 1:N checks scan besides the
    /// face entries (the `templates` table, read here to keep the session store's port as it is).
    async fn templates_of(&self, application_id: &str) -> Result<Vec<TemplateRow>, StoreError>;
    /// What the application's face gallery is built from (`lists_version`, and the count and
    /// newest `created_at` of its templates): when it moves, a cached gallery is stale.
    async fn face_stamp(&self, application_id: &str) -> Result<FaceStamp, StoreError>;
}
