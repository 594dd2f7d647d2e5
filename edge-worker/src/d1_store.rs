//! `facegate_sessions::Store` over Cloudflare D1 (schema: edge-worker/migrations). Each read is
//! one prepared statement; a `commit` is one `batch()` (a transaction: all or nothing). Sessions
//! keep their full record as JSON in `data`, with the columns that queries filter or sort on
//! copied out. Every statement names the application it acts for, except the token lookup and
//! the operator sweeps.

use facegate_pipeline::challenge::Challenge;
mod audit;
mod branding;
mod lists;
mod operators;
mod signals;
mod users;

use facegate_sessions::{
    ActiveRow, AuditRow, Claim, DeliveryRow, IdempotencyRecord, Session, SessionFilter, Store,
    StoreError, TemplateRow, Write,
};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, D1Result};

/// The CHECK constraint of `write_conflicts` (migration 0006): a batch fails on it exactly when
/// a guarded session update found another version.
const VERSION_CONFLICT: &str = "version_conflict";
/// Metadata key of a session whose decision write fails, when development faults are on.
const FAULT_KEY: &str = "facegate_fault";

pub struct D1Store {
    db: D1Database,
    /// Development only (`FACEGATE_DEV_FAULTS=1`): a commit that records a decision for a
    /// session whose metadata has `"facegate_fault": "decision"` gets a failing statement
    /// appended, after all of its real writes ran, so D1 must roll every one of them back.
    dev_faults: bool,
}

impl D1Store {
    pub fn new(db: D1Database) -> Self {
        D1Store {
            db,
            dev_faults: false,
        }
    }

    /// The store with the development fault switch read from the environment; off unless the
    /// `FACEGATE_DEV_FAULTS` var is exactly `1` (never set in wrangler.toml).
    pub fn with_dev_faults(mut self, env: &worker::Env) -> Self {
        self.dev_faults = env
            .var("FACEGATE_DEV_FAULTS")
            .is_ok_and(|v| v.to_string() == "1");
        self
    }

    fn injects_fault(&self, writes: &[Write]) -> bool {
        self.dev_faults
            && writes.iter().any(|w| match w {
                Write::UpdateSession { session, .. } => {
                    !session.status.is_unfinished()
                        && session
                            .metadata
                            .as_ref()
                            .and_then(|m| m.get(FAULT_KEY))
                            .and_then(Value::as_str)
                            == Some("decision")
                }
                _ => false,
            })
    }

    /// The statements of one write, in order.
    fn statements(&self, w: &Write, out: &mut Vec<D1PreparedStatement>) -> Result<(), StoreError> {
        match w {
            Write::InsertSession(s) => out.push(self.statement(
                "INSERT INTO sessions (id, application_id, number, token, status, vendor_data, workflow_id, country, \
                 search_text, created_at, expires_at, version, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                &[
                    text(&s.id),
                    text(&s.application_id),
                    int(s.number),
                    text(&s.token),
                    text(&enum_text(&s.status)?),
                    opt(s.vendor_data.as_deref()),
                    text(&s.workflow_id),
                    opt(country(s)),
                    text(&search_text(s)),
                    int(s.created_at),
                    int(s.expires_at),
                    int(s.version),
                    text(&encode(s)?),
                ],
            )?),
            Write::UpdateSession {
                session: s,
                expected_version,
            } => {
                // The guard inserts a row (refused by the table's CHECK, failing the batch)
                // exactly when the session is not at the version the writer read.
                out.push(self.statement(
                    "INSERT INTO write_conflicts (session_id) SELECT ?1 WHERE NOT EXISTS \
                     (SELECT 1 FROM sessions WHERE application_id = ?2 AND id = ?1 AND version = ?3)",
                    &[text(&s.id), text(&s.application_id), int(*expected_version)],
                )?);
                out.push(self.statement(
                    "UPDATE sessions SET status = ?1, vendor_data = ?2, country = ?3, search_text = ?4, expires_at = ?5, \
                     version = ?6, data = ?7 WHERE application_id = ?8 AND id = ?9 AND version = ?10",
                    &[
                        text(&enum_text(&s.status)?),
                        opt(s.vendor_data.as_deref()),
                        opt(country(s)),
                        text(&search_text(s)),
                        int(s.expires_at),
                        int(s.version),
                        text(&encode(s)?),
                        text(&s.application_id),
                        text(&s.id),
                        int(*expected_version),
                    ],
                )?);
            }
            Write::EraseSessions {
                application_id,
                ids,
            } => {
                // json_each keeps one statement per table however many sessions go.
                let ids = text(&encode(ids)?);
                for sql in [
                    "DELETE FROM challenges WHERE application_id = ?1 AND session_id IN (SELECT value FROM json_each(?2))",
                    "DELETE FROM active_challenges WHERE application_id = ?1 AND session_id IN (SELECT value FROM json_each(?2))",
                    "DELETE FROM templates WHERE application_id = ?1 AND source_session_id IN (SELECT value FROM json_each(?2))",
                    "DELETE FROM webhook_deliveries WHERE application_id = ?1 AND session_id IN (SELECT value FROM json_each(?2))",
                    "DELETE FROM session_images WHERE application_id = ?1 AND session_id IN (SELECT value FROM json_each(?2))",
                    "DELETE FROM sessions WHERE application_id = ?1 AND id IN (SELECT value FROM json_each(?2))",
                ] {
                    out.push(self.statement(sql, &[text(application_id), ids.clone()])?);
                }
            }
            Write::PutChallenge {
                application_id,
                session_id,
                challenge,
                issued_at,
            } => out.push(self.statement(
                "INSERT INTO challenges (session_id, application_id, data, issued_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (session_id) DO UPDATE SET data = ?3, issued_at = ?4 WHERE application_id = ?2",
                &[
                    text(session_id),
                    text(application_id),
                    text(&encode(challenge)?),
                    int(*issued_at),
                ],
            )?),
            Write::DeleteChallenge {
                application_id,
                session_id,
            } => out.push(self.statement(
                "DELETE FROM challenges WHERE application_id = ?1 AND session_id = ?2",
                &[text(application_id), text(session_id)],
            )?),
            Write::PutActive {
                application_id,
                session_id,
                row,
            } => {
                // The same guard as a session update: a row is inserted (and refused) exactly
                // when the stored revision is not the one the writer read (0: no row).
                out.push(self.statement(
                    "INSERT INTO write_conflicts (session_id) SELECT ?1 WHERE COALESCE( \
                     (SELECT revision FROM active_challenges WHERE application_id = ?2 AND session_id = ?1), 0) <> ?3",
                    &[text(session_id), text(application_id), int(row.revision - 1)],
                )?);
                out.push(self.statement(
                    "INSERT INTO active_challenges (session_id, application_id, revision, data) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (session_id) DO UPDATE SET revision = ?3, data = ?4 WHERE application_id = ?2",
                    &[text(session_id), text(application_id), int(row.revision), text(&encode(row)?)],
                )?);
            }
            Write::PutTemplate(t) => out.push(self.statement(
                "INSERT INTO templates (application_id, vendor_data, source_session_id, blob, created_at) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (application_id, vendor_data) DO UPDATE SET source_session_id = ?3, blob = ?4, created_at = ?5",
                &[text(&t.application_id), text(&t.vendor_data), text(&t.source_session_id), text(&hex::encode(&t.blob)), int(t.created_at)],
            )?),
            Write::DeleteTemplate {
                application_id,
                vendor_data,
            } => out.push(self.statement(
                "DELETE FROM templates WHERE application_id = ?1 AND vendor_data = ?2",
                &[text(application_id), text(vendor_data)],
            )?),
            Write::DeleteTemplatesFromSession {
                application_id,
                session_id,
            } => out.push(self.statement(
                "DELETE FROM templates WHERE application_id = ?1 AND source_session_id = ?2",
                &[text(application_id), text(session_id)],
            )?),
            Write::InsertDelivery(d) => out.push(self.statement(
                &format!(
                    "INSERT INTO webhook_deliveries ({DELIVERY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) \
                     ON CONFLICT (event_id, destination_id) DO NOTHING"
                ),
                &delivery_args(d)?,
            )?),
            Write::RequeueDelivery {
                application_id,
                id,
                now,
            } => out.push(self.requeue_delivery(application_id, id, *now)?),
            Write::InsertAudit(r) => out.push(self.insert_audit(r)?),
            Write::PutUser(u) => out.push(self.put_user(u)?),
            Write::DeleteUser {
                application_id,
                vendor_data,
            } => out.push(self.statement(
                "DELETE FROM users WHERE application_id = ?1 AND vendor_data = ?2",
                &[text(application_id), text(vendor_data)],
            )?),
            Write::PutBranding {
                application_id,
                branding,
            } => out.push(self.put_branding(application_id, branding)?),
            Write::PutImage {
                application_id,
                session_id,
                slot,
                blob,
            } => out.push(self.statement(
                "INSERT OR REPLACE INTO session_images (application_id, session_id, slot, blob) VALUES (?1, ?2, ?3, ?4)",
                &[text(application_id), text(session_id), text(slot), text(&hex::encode(blob))],
            )?),
            Write::SeeSignal(seen) => out.push(self.see_signal(seen)?),
            Write::ForgetSignalsBefore { before } => out.push(self.forget_signals_before(*before)?),
            Write::ForgetUserSignals {
                application_id,
                vendor_data,
            } => out.push(self.forget_user_signals(application_id, vendor_data)?),
        }
        Ok(())
    }

    fn statement(&self, sql: &str, args: &[JsValue]) -> Result<D1PreparedStatement, StoreError> {
        self.db.prepare(sql).bind(args).map_err(backend)
    }

    /// One transaction; a guard row refused by `write_conflicts` is a `Conflict`.
    async fn run_batch(&self, batch: Vec<D1PreparedStatement>) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.db.batch(batch).await.map(|_| ()).map_err(|e| {
            let message = e.to_string();
            if message.contains(VERSION_CONFLICT) {
                StoreError::Conflict
            } else {
                StoreError::Backend(message)
            }
        })
    }

    async fn run(&self, sql: &str, args: &[JsValue]) -> Result<D1Result, StoreError> {
        self.statement(sql, args)?.run().await.map_err(backend)
    }

    async fn changes(&self, sql: &str, args: &[JsValue]) -> Result<u64, StoreError> {
        let result = self.run(sql, args).await?;
        Ok(result
            .meta()
            .map_err(backend)?
            .and_then(|m| m.changes)
            .unwrap_or(0) as u64)
    }

    async fn rows<T: DeserializeOwned>(
        &self,
        sql: &str,
        args: &[JsValue],
    ) -> Result<Vec<T>, StoreError> {
        self.statement(sql, args)?
            .all()
            .await
            .map_err(backend)?
            .results::<T>()
            .map_err(backend)
    }

    async fn sessions(&self, sql: &str, args: &[JsValue]) -> Result<Vec<Session>, StoreError> {
        self.rows::<DataRow>(sql, args)
            .await?
            .into_iter()
            .map(|r| decode(&r.data))
            .collect()
    }
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn int(n: i64) -> JsValue {
    JsValue::from_f64(n as f64)
}

fn text(s: &str) -> JsValue {
    JsValue::from_str(s)
}

fn opt(s: Option<&str>) -> JsValue {
    s.map_or(JsValue::NULL, JsValue::from_str)
}

fn decode<T: DeserializeOwned>(json: &str) -> Result<T, StoreError> {
    serde_json::from_str(json)
        .map_err(|e| StoreError::Backend(format!("stored row does not decode: {e}")))
}

fn encode<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(backend)
}

#[derive(Deserialize)]
struct DataRow {
    data: String,
}

#[derive(Deserialize)]
struct IdRow {
    id: String,
}

#[derive(Deserialize)]
struct CountRow {
    n: f64,
}

#[derive(Deserialize)]
struct TemplateDbRow {
    application_id: String,
    vendor_data: String,
    source_session_id: String,
    blob: String,
    created_at: f64,
}

#[derive(Deserialize)]
struct IdempotencyDbRow {
    request_hash: String,
    status: f64,
    body: String,
    created_at: f64,
}

#[derive(Deserialize)]
struct DeliveryDbRow {
    id: String,
    event_id: String,
    application_id: String,
    session_id: String,
    destination_id: String,
    url: String,
    webhook_type: String,
    payload: String,
    attempt: f64,
    next_attempt_at: f64,
    status: String,
    last_response: Option<String>,
    created_at: f64,
    updated_at: f64,
    attempt_log: String,
}

impl TryFrom<DeliveryDbRow> for DeliveryRow {
    type Error = StoreError;
    fn try_from(r: DeliveryDbRow) -> Result<Self, StoreError> {
        Ok(DeliveryRow {
            id: r.id,
            event_id: r.event_id,
            application_id: r.application_id,
            session_id: r.session_id,
            destination_id: r.destination_id,
            url: r.url,
            webhook_type: r.webhook_type,
            payload: decode(&r.payload)?,
            attempt: r.attempt as u32,
            next_attempt_at: r.next_attempt_at as i64,
            status: decode(&format!("\"{}\"", r.status))?,
            last_response: r.last_response,
            created_at: r.created_at as i64,
            updated_at: r.updated_at as i64,
            attempt_log: decode(&r.attempt_log)?,
        })
    }
}

fn detail<'a>(v: &'a Option<Value>, key: &str) -> Option<&'a str> {
    v.as_ref().and_then(|v| v.get(key)).and_then(Value::as_str)
}

/// Lower-cased text the list `search` filter looks in (the same fields as the core's
/// in-memory store), so SQL can match it with one `instr`.
fn search_text(s: &Session) -> String {
    [
        s.vendor_data.as_deref(),
        detail(&s.expected_details, "first_name"),
        detail(&s.expected_details, "last_name"),
        detail(&s.expected_details, "identification_number"),
        detail(&s.contact_details, "email"),
        detail(&s.contact_details, "phone"),
    ]
    .iter()
    .flatten()
    .map(|t| t.to_lowercase())
    .collect::<Vec<_>>()
    .join("\n")
}

fn country(s: &Session) -> Option<&str> {
    detail(&s.expected_details, "id_country").or_else(|| detail(&s.expected_details, "country"))
}

/// A unit enum (session or delivery status) as its bare wire string, for a TEXT column.
fn enum_text<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    Ok(encode(value)?.trim_matches('"').to_owned())
}

const DELIVERY_COLUMNS: &str = "id, event_id, application_id, session_id, destination_id, url, webhook_type, payload, attempt, next_attempt_at, status, last_response, created_at, updated_at, attempt_log";

impl Store for D1Store {
    async fn commit(&self, writes: &[Write]) -> Result<(), StoreError> {
        let mut batch = Vec::with_capacity(writes.len() + 1);
        for w in writes {
            self.statements(w, &mut batch)?;
        }
        if self.injects_fault(writes) {
            batch.push(self.statement("SELECT * FROM facegate_injected_fault", &[])?);
        }
        self.run_batch(batch).await
    }

    async fn next_session_number(&self, application_id: &str) -> Result<i64, StoreError> {
        let rows: Vec<CountRow> = self
            .rows(
                "INSERT INTO session_counters (application_id, n) VALUES (?1, 1) \
                 ON CONFLICT (application_id) DO UPDATE SET n = n + 1 RETURNING n",
                &[text(application_id)],
            )
            .await?;
        rows.first()
            .map(|r| r.n as i64)
            .ok_or_else(|| backend("counter returned no row"))
    }

    async fn get_session(
        &self,
        application_id: &str,
        id: &str,
    ) -> Result<Option<Session>, StoreError> {
        Ok(self
            .sessions(
                "SELECT data FROM sessions WHERE application_id = ?1 AND id = ?2",
                &[text(application_id), text(id)],
            )
            .await?
            .pop())
    }

    async fn get_session_by_token(&self, token: &str) -> Result<Option<Session>, StoreError> {
        Ok(self
            .sessions("SELECT data FROM sessions WHERE token = ?1", &[text(token)])
            .await?
            .pop())
    }

    async fn sessions_for_vendor_data(
        &self,
        application_id: &str,
        vendor_data: &str,
    ) -> Result<Vec<Session>, StoreError> {
        self.sessions(
            "SELECT data FROM sessions WHERE application_id = ?1 AND vendor_data = ?2 ORDER BY number DESC",
            &[text(application_id), text(vendor_data)],
        )
        .await
    }

    async fn list_sessions(
        &self,
        application_id: &str,
        f: &SessionFilter,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<Session>), StoreError> {
        if f.none {
            return Ok((0, Vec::new()));
        }
        let mut clauses = vec!["application_id = ?1".to_owned()];
        let mut args = vec![text(application_id)];
        let mut add = |clause: &str, value: JsValue| {
            args.push(value);
            clauses.push(clause.replace('?', &format!("?{}", args.len())));
        };
        if let Some(status) = f.status {
            add("status = ?", text(&enum_text(&status)?));
        }
        if let Some(v) = &f.vendor_data {
            add("vendor_data = ?", text(v));
        }
        if let Some(w) = &f.workflow_id {
            add("lower(workflow_id) = lower(?)", text(w));
        }
        if let Some(c) = &f.country {
            add("country = ?", text(c));
        }
        if let Some(q) = &f.search {
            add("instr(search_text, ?) > 0", text(&q.to_lowercase()));
        }
        if let Some(t) = f.created_from {
            add("created_at >= ?", int(t));
        }
        if let Some(t) = f.created_to {
            add("created_at <= ?", int(t));
        }
        let filter = clauses.join(" AND ");
        let count: Vec<CountRow> = self
            .rows(
                &format!("SELECT count(*) AS n FROM sessions WHERE {filter}"),
                &args,
            )
            .await?;
        let total = count.first().map_or(0, |r| r.n as u64);
        let page_args: Vec<JsValue> = args
            .iter()
            .cloned()
            .chain([int(limit as i64), int(offset as i64)])
            .collect();
        let (l, o) = (args.len() + 1, args.len() + 2);
        let page = self
            .sessions(&format!("SELECT data FROM sessions WHERE {filter} ORDER BY number DESC LIMIT ?{l} OFFSET ?{o}"), &page_args)
            .await?;
        Ok((total, page))
    }

    async fn session_ids(
        &self,
        application_id: &str,
        numbers: Option<&[i64]>,
    ) -> Result<Vec<String>, StoreError> {
        let rows: Vec<IdRow> = match numbers {
            None => {
                self.rows(
                    "SELECT id FROM sessions WHERE application_id = ?1",
                    &[text(application_id)],
                )
                .await?
            }
            Some(numbers) => {
                // json_each keeps one statement however many numbers come in.
                let list = encode(&numbers)?;
                self.rows(
                    "SELECT id FROM sessions WHERE application_id = ?1 AND number IN (SELECT value FROM json_each(?2))",
                    &[text(application_id), text(&list)],
                )
                .await?
            }
        };
        Ok(rows.into_iter().map(|r| r.id).collect())
    }

    async fn expired_unfinished(
        &self,
        application_id: Option<&str>,
        now: i64,
        limit: u32,
    ) -> Result<Vec<Session>, StoreError> {
        // `turn` numbers each application's overdue sessions oldest first; taking turn 1 of
        // every application before anyone's turn 2 keeps one tenant's backlog from starving
        // the others.
        self.sessions(
            "SELECT data FROM (SELECT data, expires_at, ROW_NUMBER() OVER (PARTITION BY application_id ORDER BY expires_at) AS turn \
             FROM sessions WHERE (?1 IS NULL OR application_id = ?1) AND expires_at <= ?2 \
             AND status IN ('Not Started', 'In Progress', 'Resubmitted', 'Awaiting User')) ORDER BY turn, expires_at LIMIT ?3",
            &[opt(application_id), int(now), int(i64::from(limit))],
        )
        .await
    }

    async fn sessions_created_before(
        &self,
        application_id: &str,
        cutoff: i64,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        let rows: Vec<IdRow> = self
            .rows(
                "SELECT id FROM sessions WHERE application_id = ?1 AND created_at < ?2 ORDER BY created_at LIMIT ?3",
                &[text(application_id), int(cutoff), int(i64::from(limit))],
            )
            .await?;
        Ok(rows.into_iter().map(|r| r.id).collect())
    }

    async fn get_challenge(
        &self,
        application_id: &str,
        session_id: &str,
    ) -> Result<Option<Challenge>, StoreError> {
        let rows: Vec<DataRow> = self
            .rows(
                "SELECT data FROM challenges WHERE application_id = ?1 AND session_id = ?2",
                &[text(application_id), text(session_id)],
            )
            .await?;
        rows.into_iter().next().map(|r| decode(&r.data)).transpose()
    }

    async fn get_active(
        &self,
        application_id: &str,
        session_id: &str,
    ) -> Result<Option<ActiveRow>, StoreError> {
        let rows: Vec<DataRow> = self
            .rows(
                "SELECT data FROM active_challenges WHERE application_id = ?1 AND session_id = ?2",
                &[text(application_id), text(session_id)],
            )
            .await?;
        rows.into_iter().next().map(|r| decode(&r.data)).transpose()
    }

    async fn get_template(
        &self,
        application_id: &str,
        vendor_data: &str,
    ) -> Result<Option<TemplateRow>, StoreError> {
        let rows: Vec<TemplateDbRow> = self
            .rows(
                "SELECT application_id, vendor_data, source_session_id, blob, created_at FROM templates \
                 WHERE application_id = ?1 AND vendor_data = ?2",
                &[text(application_id), text(vendor_data)],
            )
            .await?;
        rows.into_iter()
            .next()
            .map(|r| {
                Ok(TemplateRow {
                    application_id: r.application_id,
                    vendor_data: r.vendor_data,
                    source_session_id: r.source_session_id,
                    blob: hex::decode(&r.blob).map_err(backend)?,
                    created_at: r.created_at as i64,
                })
            })
            .transpose()
    }

    async fn claim_due_deliveries(
        &self,
        now: i64,
        claim: &Claim,
        limit: u32,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        // One statement, so two senders never both take a row; turns across applications as
        // in `expired_unfinished`. The lease is the row's next attempt time: if this sender
        // dies, the row is simply due again when it ends. A row written after another still
        // pending for the same session and destination waits for it (rowid is write order),
        // so a receiver sees a session's statuses in the order they happened.
        let rows: Vec<DeliveryDbRow> = self
            .rows(
                &format!(
                    "UPDATE webhook_deliveries SET next_attempt_at = ?2, claim = ?3 WHERE id IN (\
                     SELECT id FROM (SELECT id, next_attempt_at, created_at, ROW_NUMBER() OVER \
                     (PARTITION BY application_id ORDER BY next_attempt_at, created_at) AS turn FROM webhook_deliveries \
                     AS d WHERE status = 'pending' AND next_attempt_at <= ?1 AND NOT EXISTS (SELECT 1 FROM webhook_deliveries AS e \
                     WHERE e.application_id = d.application_id AND e.session_id = d.session_id AND e.destination_id = d.destination_id \
                     AND e.status = 'pending' AND e.rowid < d.rowid)) ORDER BY turn, next_attempt_at, created_at LIMIT ?4) \
                     RETURNING {DELIVERY_COLUMNS}"
                ),
                &[int(now), int(claim.lease_until), text(&claim.id), int(i64::from(limit))],
            )
            .await?;
        rows.into_iter().map(DeliveryRow::try_from).collect()
    }

    async fn finish_delivery(&self, d: &DeliveryRow, claim_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .changes(
                "UPDATE webhook_deliveries SET attempt = ?1, next_attempt_at = ?2, status = ?3, last_response = ?4, \
                 updated_at = ?5, attempt_log = ?9, claim = NULL WHERE id = ?6 AND application_id = ?7 AND claim = ?8",
                &[
                    int(i64::from(d.attempt)),
                    int(d.next_attempt_at),
                    text(&enum_text(&d.status)?),
                    opt(d.last_response.as_deref()),
                    int(d.updated_at),
                    text(&d.id),
                    text(&d.application_id),
                    text(claim_id),
                    text(&encode(&d.attempt_log)?),
                ],
            )
            .await?
            > 0)
    }

    async fn deliveries_for_session(
        &self,
        application_id: &str,
        session_id: &str,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        let rows: Vec<DeliveryDbRow> = self
            .rows(
                &format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE application_id = ?1 AND session_id = ?2 ORDER BY created_at"),
                &[text(application_id), text(session_id)],
            )
            .await?;
        rows.into_iter().map(DeliveryRow::try_from).collect()
    }

    async fn get_delivery(
        &self,
        application_id: &str,
        id: &str,
    ) -> Result<Option<DeliveryRow>, StoreError> {
        self.delivery(application_id, id).await
    }

    async fn get_user(
        &self,
        application_id: &str,
        vendor_data: &str,
    ) -> Result<Option<facegate_sessions::user_records::UserRow>, StoreError> {
        self.user(application_id, vendor_data).await
    }

    async fn audit_for_application(
        &self,
        application_id: &str,
        limit: u32,
    ) -> Result<Vec<AuditRow>, StoreError> {
        let rows: Vec<DataRow> = self
            .rows(
                "SELECT data FROM audit_log WHERE application_id = ?1 ORDER BY rowid DESC LIMIT ?2",
                &[text(application_id), int(i64::from(limit))],
            )
            .await?;
        rows.iter().map(|r| decode(&r.data)).collect()
    }

    async fn session_counts_by_day(
        &self,
        application_id: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<facegate_sessions::store::DayCount>, StoreError> {
        #[derive(Deserialize)]
        struct Row {
            day: f64,
            status: String,
            n: f64,
        }
        let rows: Vec<Row> = self
            .rows(
                "SELECT created_at / 86400 AS day, status, COUNT(*) AS n FROM sessions \
                 WHERE application_id = ?1 AND created_at >= ?2 AND created_at < ?3 GROUP BY day, status",
                &[text(application_id), int(from), int(to)],
            )
            .await?;
        rows.into_iter()
            .map(|r| {
                let status = facegate_sessions::SessionStatus::parse(&r.status)
                    .ok_or_else(|| backend(format!("stored status {:?}", r.status)))?;
                Ok(facegate_sessions::store::DayCount {
                    day: r.day as i64,
                    status,
                    count: r.n as u64,
                })
            })
            .collect()
    }

    async fn get_image(
        &self,
        application_id: &str,
        session_id: &str,
        slot: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        #[derive(Deserialize)]
        struct Row {
            blob: String,
        }
        let rows: Vec<Row> = self
            .rows(
                "SELECT blob FROM session_images WHERE application_id = ?1 AND session_id = ?2 AND slot = ?3",
                &[text(application_id), text(session_id), text(slot)],
            )
            .await?;
        rows.first()
            .map(|r| hex::decode(&r.blob).map_err(backend))
            .transpose()
    }

    async fn get_branding(
        &self,
        application_id: &str,
    ) -> Result<Option<facegate_sessions::branding::Branding>, StoreError> {
        self.branding(application_id).await
    }

    async fn user_rows(
        &self,
        application_id: &str,
    ) -> Result<Vec<facegate_sessions::user_records::UserRow>, StoreError> {
        self.users(application_id).await
    }

    async fn signals(
        &self,
        application_id: &str,
        hashes: &[&str],
    ) -> Result<Vec<facegate_sessions::store::SignalRow>, StoreError> {
        self.signal_rows(application_id, hashes).await
    }

    async fn vendor_data_of(&self, application_id: &str) -> Result<Vec<String>, StoreError> {
        self.vendor_data(application_id).await
    }

    async fn audit_for_session(
        &self,
        application_id: &str,
        session_id: &str,
    ) -> Result<Vec<AuditRow>, StoreError> {
        self.audit_rows(application_id, session_id).await
    }

    async fn get_idempotency(
        &self,
        application_id: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let rows: Vec<IdempotencyDbRow> = self
            .rows(
                "SELECT request_hash, status, body, created_at FROM idempotency \
                 WHERE application_id = ?1 AND key = ?2",
                &[text(application_id), text(key)],
            )
            .await?;
        Ok(rows.into_iter().next().map(|r| IdempotencyRecord {
            application_id: application_id.to_owned(),
            key: key.to_owned(),
            request_hash: r.request_hash,
            status: r.status as u16,
            body: r.body,
            created_at: r.created_at as i64,
        }))
    }

    async fn put_idempotency(&self, r: &IdempotencyRecord) -> Result<(), StoreError> {
        self.run(
            "INSERT INTO idempotency (application_id, key, request_hash, status, body, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (application_id, key) DO UPDATE SET \
             request_hash = ?3, status = ?4, body = ?5, created_at = ?6",
            &[
                text(&r.application_id),
                text(&r.key),
                text(&r.request_hash),
                int(i64::from(r.status)),
                text(&r.body),
                int(r.created_at),
            ],
        )
        .await
        .map(|_| ())
    }

    async fn delete_idempotency_before(&self, cutoff: i64) -> Result<u64, StoreError> {
        self.changes(
            "DELETE FROM idempotency WHERE created_at < ?1",
            &[int(cutoff)],
        )
        .await
    }
}

fn delivery_args(d: &DeliveryRow) -> Result<Vec<JsValue>, StoreError> {
    Ok(vec![
        text(&d.id),
        text(&d.event_id),
        text(&d.application_id),
        text(&d.session_id),
        text(&d.destination_id),
        text(&d.url),
        text(&d.webhook_type),
        text(&encode(&d.payload)?),
        int(i64::from(d.attempt)),
        int(d.next_attempt_at),
        text(&enum_text(&d.status)?),
        opt(d.last_response.as_deref()),
        int(d.created_at),
        int(d.updated_at),
        text(&encode(&d.attempt_log)?),
    ])
}
