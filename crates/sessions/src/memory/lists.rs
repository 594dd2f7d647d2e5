//! The in-memory store's lists and entries (the D1 side is edge-worker/src/d1_store/lists.rs):
//! the same guards (unique list names, unique values per list), so tests see the same
//! conflicts.

use std::collections::BTreeMap;

use crate::lists::faces::FaceStamp;
use crate::lists::store::{Entry, EntryCount, ListStore, ListWrite};
use crate::lists::{EntryType, List};
use crate::store::StoreError;
use crate::types::TemplateRow;

use super::MemoryStore;

#[derive(Default, Clone)]
pub struct ListTables {
    /// By (application_id, uuid).
    pub lists: BTreeMap<(String, String), List>,
    /// By (application_id, uuid), with the order written (D1's rowid) for ties.
    pub entries: BTreeMap<(String, String), (u64, Entry)>,
    pub written: u64,
    pub versions: BTreeMap<String, i64>,
}

fn apply(t: &mut ListTables, w: &ListWrite) -> Result<String, StoreError> {
    match w {
        ListWrite::PutList(l) => {
            let taken = t.lists.values().any(|o| {
                o.application_id == l.application_id && o.name == l.name && o.uuid != l.uuid
            });
            if taken {
                return Err(StoreError::Conflict);
            }
            t.lists
                .insert((l.application_id.clone(), l.uuid.clone()), l.clone());
            Ok(l.application_id.clone())
        }
        ListWrite::DeleteList {
            application_id,
            uuid,
        } => {
            t.lists.remove(&(application_id.clone(), uuid.clone()));
            t.entries
                .retain(|(app, _), (_, e)| !(app == application_id && &e.list_uuid == uuid));
            Ok(application_id.clone())
        }
        ListWrite::InsertEntry(e) => {
            let duplicate = t.entries.values().any(|(_, o)| {
                o.application_id == e.application_id
                    && o.list_uuid == e.list_uuid
                    && o.value == e.value
            });
            if duplicate {
                return Err(StoreError::Conflict);
            }
            t.written += 1;
            t.entries.insert(
                (e.application_id.clone(), e.uuid.clone()),
                (t.written, e.clone()),
            );
            Ok(e.application_id.clone())
        }
        ListWrite::DeleteEntry {
            application_id,
            list_uuid,
            uuid,
        } => {
            let key = (application_id.clone(), uuid.clone());
            if t.entries
                .get(&key)
                .is_some_and(|(_, e)| &e.list_uuid == list_uuid)
            {
                t.entries.remove(&key);
            }
            Ok(application_id.clone())
        }
    }
}

impl MemoryStore {
    fn app_entries(&self, application_id: &str) -> Vec<(u64, Entry)> {
        self.list_tables
            .borrow()
            .entries
            .iter()
            .filter(|((app, _), _)| app == application_id)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

impl ListStore for MemoryStore {
    async fn commit_lists(&self, writes: &[ListWrite]) -> Result<(), StoreError> {
        // All or nothing, like the D1 batch: work on a copy, keep it only if every write held.
        let mut copy = self.list_tables.borrow().clone();
        for w in writes {
            let app = apply(&mut copy, w)?;
            *copy.versions.entry(app).or_default() += 1;
        }
        *self.list_tables.borrow_mut() = copy;
        Ok(())
    }

    async fn lists(&self, application_id: &str) -> Result<Vec<List>, StoreError> {
        let mut all: Vec<List> = self
            .list_tables
            .borrow()
            .lists
            .values()
            .filter(|l| l.application_id == application_id)
            .cloned()
            .collect();
        all.sort_by(|a, b| (a.created_at, &a.uuid).cmp(&(b.created_at, &b.uuid)));
        Ok(all)
    }

    async fn list(&self, application_id: &str, uuid: &str) -> Result<Option<List>, StoreError> {
        Ok(self
            .list_tables
            .borrow()
            .lists
            .get(&(application_id.to_owned(), uuid.to_owned()))
            .cloned())
    }

    async fn entry_counts(
        &self,
        application_id: &str,
    ) -> Result<Vec<(String, EntryCount)>, StoreError> {
        let mut counts: BTreeMap<String, EntryCount> = BTreeMap::new();
        for (_, e) in self.app_entries(application_id) {
            let c = counts.entry(e.list_uuid.clone()).or_default();
            c.count += 1;
            c.last_added_at = c.last_added_at.max(Some(e.created_at));
        }
        Ok(counts.into_iter().collect())
    }

    async fn entries(
        &self,
        application_id: &str,
        list_uuid: &str,
        search: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<Entry>), StoreError> {
        let mut found: Vec<(u64, Entry)> = self
            .app_entries(application_id)
            .into_iter()
            .filter(|(_, e)| {
                e.list_uuid == list_uuid
                    && search.is_none_or(|q| {
                        e.value.to_lowercase().contains(q)
                            || e.display_label
                                .as_deref()
                                .is_some_and(|l| l.to_lowercase().contains(q))
                    })
            })
            .collect();
        found.sort_by(|(an, a), (bn, b)| (b.created_at, bn).cmp(&(a.created_at, an)));
        let count = found.len() as u64;
        Ok((
            count,
            found
                .into_iter()
                .skip(offset as usize)
                .take(limit as usize)
                .map(|(_, e)| e)
                .collect(),
        ))
    }

    async fn entry(
        &self,
        application_id: &str,
        list_uuid: &str,
        uuid: &str,
    ) -> Result<Option<Entry>, StoreError> {
        Ok(self
            .list_tables
            .borrow()
            .entries
            .get(&(application_id.to_owned(), uuid.to_owned()))
            .map(|(_, e)| e.clone())
            .filter(|e| e.list_uuid == list_uuid))
    }

    async fn entries_of_type(
        &self,
        application_id: &str,
        entry_type: EntryType,
    ) -> Result<Vec<Entry>, StoreError> {
        let mut found = self.app_entries(application_id);
        found.sort_by_key(|(n, _)| *n);
        Ok(found
            .into_iter()
            .map(|(_, e)| e)
            .filter(|e| e.entry_type == entry_type)
            .collect())
    }

    async fn lists_version(&self, application_id: &str) -> Result<i64, StoreError> {
        Ok(self
            .list_tables
            .borrow()
            .versions
            .get(application_id)
            .copied()
            .unwrap_or(0))
    }

    async fn templates_of(&self, application_id: &str) -> Result<Vec<TemplateRow>, StoreError> {
        Ok(self
            .templates
            .borrow()
            .values()
            .filter(|t| t.application_id == application_id)
            .cloned()
            .collect())
    }

    async fn face_stamp(&self, application_id: &str) -> Result<FaceStamp, StoreError> {
        let templates = self.templates_of(application_id).await?;
        Ok(FaceStamp {
            lists_version: self.lists_version(application_id).await?,
            templates: templates.len() as u64,
            newest_template: templates.iter().map(|t| t.created_at).max().unwrap_or(0),
        })
    }
}
