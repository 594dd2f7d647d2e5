//! Lists and their entries over D1 (migration 0016): records as JSON in `data`, with the
//! columns queries filter on copied out. The same guards as the memory store: a list name
//! another list of the application has, or a value its list already holds, fails the whole
//! batch through `write_conflicts` (a `Conflict`, not a fault).

use facegate_sessions::lists::faces::FaceStamp;
use facegate_sessions::lists::store::{Entry, EntryCount, ListStore, ListWrite};
use facegate_sessions::lists::{EntryType, List};
use facegate_sessions::{StoreError, TemplateRow};
use serde::Deserialize;
use worker::D1PreparedStatement;

use super::{backend, decode, encode, int, text, CountRow, D1Store, DataRow, TemplateDbRow};

#[derive(Deserialize)]
struct CountsRow {
    list_uuid: String,
    n: f64,
    last: Option<f64>,
}

#[derive(Deserialize)]
struct VersionRow {
    n: f64,
}

#[derive(Deserialize)]
struct StampRow {
    v: Option<f64>,
    n: f64,
    newest: Option<f64>,
}

fn search_text(e: &Entry) -> String {
    format!(
        "{}\n{}",
        e.value.to_lowercase(),
        e.display_label.as_deref().unwrap_or("").to_lowercase()
    )
}

fn application_of(w: &ListWrite) -> &str {
    match w {
        ListWrite::PutList(l) => &l.application_id,
        ListWrite::InsertEntry(e) => &e.application_id,
        ListWrite::DeleteList { application_id, .. }
        | ListWrite::DeleteEntry { application_id, .. } => application_id,
    }
}

impl D1Store {
    fn list_statements(
        &self,
        w: &ListWrite,
        out: &mut Vec<D1PreparedStatement>,
    ) -> Result<(), StoreError> {
        match w {
            ListWrite::PutList(l) => {
                out.push(self.statement(
                    "INSERT INTO write_conflicts (session_id) SELECT ?1 WHERE EXISTS \
                     (SELECT 1 FROM lists WHERE application_id = ?2 AND name = ?3 AND uuid <> ?1)",
                    &[text(&l.uuid), text(&l.application_id), text(&l.name)],
                )?);
                out.push(self.statement(
                    "INSERT INTO lists (application_id, uuid, name, created_at, data) VALUES (?1, ?2, ?3, ?4, ?5) \
                     ON CONFLICT (application_id, uuid) DO UPDATE SET name = ?3, data = ?5",
                    &[text(&l.application_id), text(&l.uuid), text(&l.name), int(l.created_at), text(&encode(l)?)],
                )?);
            }
            ListWrite::DeleteList {
                application_id,
                uuid,
            } => {
                out.push(self.statement(
                    "DELETE FROM list_entries WHERE application_id = ?1 AND list_uuid = ?2",
                    &[text(application_id), text(uuid)],
                )?);
                out.push(self.statement(
                    "DELETE FROM lists WHERE application_id = ?1 AND uuid = ?2",
                    &[text(application_id), text(uuid)],
                )?);
            }
            ListWrite::InsertEntry(e) => {
                out.push(self.statement(
                    "INSERT INTO write_conflicts (session_id) SELECT ?1 WHERE EXISTS \
                     (SELECT 1 FROM list_entries WHERE application_id = ?2 AND list_uuid = ?3 AND value = ?4)",
                    &[text(&e.uuid), text(&e.application_id), text(&e.list_uuid), text(&e.value)],
                )?);
                out.push(self.statement(
                    "INSERT INTO list_entries (application_id, uuid, list_uuid, entry_type, value, search_text, created_at, data) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    &[
                        text(&e.application_id),
                        text(&e.uuid),
                        text(&e.list_uuid),
                        text(e.entry_type.as_str()),
                        text(&e.value),
                        text(&search_text(e)),
                        int(e.created_at),
                        text(&encode(e)?),
                    ],
                )?);
            }
            ListWrite::DeleteEntry {
                application_id,
                list_uuid,
                uuid,
            } => out.push(self.statement(
                "DELETE FROM list_entries WHERE application_id = ?1 AND list_uuid = ?2 AND uuid = ?3",
                &[text(application_id), text(list_uuid), text(uuid)],
            )?),
        }
        Ok(())
    }

    async fn entries_where(
        &self,
        condition: &str,
        args: &[worker::wasm_bindgen::JsValue],
    ) -> Result<Vec<Entry>, StoreError> {
        let sql = format!("SELECT data FROM list_entries {condition}");
        self.rows::<DataRow>(&sql, args)
            .await?
            .iter()
            .map(|r| decode(&r.data))
            .collect()
    }
}

impl ListStore for D1Store {
    async fn commit_lists(&self, writes: &[ListWrite]) -> Result<(), StoreError> {
        let mut batch = Vec::with_capacity(writes.len() * 2 + 1);
        let mut apps: Vec<&str> = Vec::new();
        for w in writes {
            self.list_statements(w, &mut batch)?;
            if !apps.contains(&application_of(w)) {
                apps.push(application_of(w));
            }
        }
        for app in apps {
            batch.push(self.statement(
                "INSERT INTO list_versions (application_id, n) VALUES (?1, 1) \
                 ON CONFLICT (application_id) DO UPDATE SET n = n + 1",
                &[text(app)],
            )?);
        }
        self.run_batch(batch).await
    }

    async fn lists(&self, application_id: &str) -> Result<Vec<List>, StoreError> {
        self.rows::<DataRow>(
            "SELECT data FROM lists WHERE application_id = ?1 ORDER BY created_at, uuid",
            &[text(application_id)],
        )
        .await?
        .iter()
        .map(|r| decode(&r.data))
        .collect()
    }

    async fn list(&self, application_id: &str, uuid: &str) -> Result<Option<List>, StoreError> {
        let rows: Vec<DataRow> = self
            .rows(
                "SELECT data FROM lists WHERE application_id = ?1 AND uuid = ?2",
                &[text(application_id), text(uuid)],
            )
            .await?;
        rows.first().map(|r| decode(&r.data)).transpose()
    }

    async fn entry_counts(
        &self,
        application_id: &str,
    ) -> Result<Vec<(String, EntryCount)>, StoreError> {
        let rows: Vec<CountsRow> = self
            .rows(
                "SELECT list_uuid, COUNT(*) AS n, MAX(created_at) AS last FROM list_entries \
                 WHERE application_id = ?1 GROUP BY list_uuid",
                &[text(application_id)],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                (
                    r.list_uuid,
                    EntryCount {
                        count: r.n as u64,
                        last_added_at: r.last.map(|t| t as i64),
                    },
                )
            })
            .collect())
    }

    async fn entries(
        &self,
        application_id: &str,
        list_uuid: &str,
        search: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<Entry>), StoreError> {
        let filter = "WHERE application_id = ?1 AND list_uuid = ?2 AND (?3 = '' OR instr(search_text, ?3) > 0)";
        let args = [
            text(application_id),
            text(list_uuid),
            text(search.unwrap_or("")),
        ];
        let total: Vec<CountRow> = self
            .rows(
                &format!("SELECT COUNT(*) AS n FROM list_entries {filter}"),
                &args,
            )
            .await?;
        let mut page_args = args.to_vec();
        page_args.push(int(limit as i64));
        page_args.push(int(offset as i64));
        let page = self
            .entries_where(
                &format!("{filter} ORDER BY created_at DESC, rowid DESC LIMIT ?4 OFFSET ?5"),
                &page_args,
            )
            .await?;
        Ok((total.first().map_or(0, |c| c.n as u64), page))
    }

    async fn entry(
        &self,
        application_id: &str,
        list_uuid: &str,
        uuid: &str,
    ) -> Result<Option<Entry>, StoreError> {
        Ok(self
            .entries_where(
                "WHERE application_id = ?1 AND list_uuid = ?2 AND uuid = ?3",
                &[text(application_id), text(list_uuid), text(uuid)],
            )
            .await?
            .pop())
    }

    async fn entries_of_type(
        &self,
        application_id: &str,
        entry_type: EntryType,
    ) -> Result<Vec<Entry>, StoreError> {
        self.entries_where(
            "WHERE application_id = ?1 AND entry_type = ?2 ORDER BY rowid",
            &[text(application_id), text(entry_type.as_str())],
        )
        .await
    }

    async fn lists_version(&self, application_id: &str) -> Result<i64, StoreError> {
        let rows: Vec<VersionRow> = self
            .rows(
                "SELECT n FROM list_versions WHERE application_id = ?1",
                &[text(application_id)],
            )
            .await?;
        Ok(rows.first().map_or(0, |r| r.n as i64))
    }

    async fn templates_of(&self, application_id: &str) -> Result<Vec<TemplateRow>, StoreError> {
        let rows: Vec<TemplateDbRow> = self
            .rows(
                "SELECT application_id, vendor_data, source_session_id, blob, created_at FROM templates \
                 WHERE application_id = ?1",
                &[text(application_id)],
            )
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok(TemplateRow {
                    application_id: r.application_id,
                    vendor_data: r.vendor_data,
                    source_session_id: r.source_session_id,
                    blob: hex::decode(&r.blob).map_err(backend)?,
                    created_at: r.created_at as i64,
                })
            })
            .collect()
    }

    async fn face_stamp(&self, application_id: &str) -> Result<FaceStamp, StoreError> {
        let rows: Vec<StampRow> = self
            .rows(
                "SELECT (SELECT n FROM list_versions WHERE application_id = ?1) AS v, \
                 COUNT(*) AS n, MAX(created_at) AS newest FROM templates WHERE application_id = ?1",
                &[text(application_id)],
            )
            .await?;
        Ok(rows.first().map_or_else(FaceStamp::default, |r| FaceStamp {
            lists_version: r.v.unwrap_or(0.0) as i64,
            templates: r.n as u64,
            newest_template: r.newest.unwrap_or(0.0) as i64,
        }))
    }
}
