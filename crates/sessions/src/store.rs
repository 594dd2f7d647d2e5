//! Ports: everything the core needs from the outside world.
//!
//! `Store` is row-oriented so a D1 (SQLite) adapter maps each method to one or two prepared
//! statements. Futures carry no `Send` bound because workers-rs futures are `!Send`.

use facegate_pipeline::challenge::Challenge;

use crate::idempotency::IdempotencyRecord;
use crate::types::{DeliveryRow, Session, SessionStatus, TemplateRow};

pub trait Clock {
    /// Unix seconds.
    fn now(&self) -> i64;
}

pub trait Ids {
    /// A fresh UUID (v4 text form).
    fn uuid(&self) -> String;
    /// An unguessable session token (≥ 128 bits of entropy, URL-safe).
    fn token(&self) -> String;
    /// A fresh 96-bit AES-GCM nonce; must never repeat under one key.
    fn nonce(&self) -> [u8; 12];
    /// A uniformly random integer in `0..n` (`n` ≥ 1), unpredictable to clients: it picks
    /// liveness challenges.
    fn below(&self, n: u32) -> u32;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Optimistic-concurrency miss: the row's version was not the one the writer read.
    #[error("version conflict")]
    Conflict,
    #[error("storage backend: {0}")]
    Backend(String),
}

/// Filters of `GET /sessions/`, already validated. All present filters must match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionFilter {
    pub status: Option<SessionStatus>,
    pub vendor_data: Option<String>,
    pub workflow_id: Option<String>,
    /// Case-insensitive substring over vendor_data, expected/contact name, email, phone,
    /// identification number (SQL: `LIKE '%' || ? || '%'` on those columns).
    pub search: Option<String>,
    /// Upper-case alpha-3; matched against `expected_details.id_country` / `country`.
    pub country: Option<String>,
    /// Inclusive bounds on `created_at`.
    pub created_from: Option<i64>,
    pub created_to: Option<i64>,
    /// `session_kind=business`: facegate has no business sessions, so nothing matches.
    pub none: bool,
}

#[allow(async_fn_in_trait)]
pub trait Store {
    /// Next per-application session number. Never reuses a number, even after deletes
    /// (D1: `INSERT … ON CONFLICT DO UPDATE SET n = n + 1 RETURNING n` on a counters table).
    async fn next_session_number(&self, application_id: &str) -> Result<i64, StoreError>;
    async fn insert_session(&self, session: &Session) -> Result<(), StoreError>;
    async fn get_session(
        &self,
        application_id: &str,
        id: &str,
    ) -> Result<Option<Session>, StoreError>;
    /// Tokens are globally unique (unique index): the hosted page knows nothing else.
    async fn get_session_by_token(&self, token: &str) -> Result<Option<Session>, StoreError>;
    async fn sessions_for_vendor_data(
        &self,
        application_id: &str,
        vendor_data: &str,
    ) -> Result<Vec<Session>, StoreError>;
    /// Writes `session` only if the stored row still has `expected_version`
    /// (`UPDATE … WHERE id = ? AND version = ?`, 0 rows changed → `Conflict`).
    async fn update_session(
        &self,
        session: &Session,
        expected_version: i64,
    ) -> Result<(), StoreError>;
    async fn delete_session(&self, application_id: &str, id: &str) -> Result<bool, StoreError>;
    /// One page, newest first (descending `number`), plus the total count of matches.
    async fn list_sessions(
        &self,
        application_id: &str,
        filter: &SessionFilter,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<Session>), StoreError>;
    /// Ids of the application's sessions with those numbers, or of all of them (`None`).
    async fn session_ids(
        &self,
        application_id: &str,
        numbers: Option<&[i64]>,
    ) -> Result<Vec<String>, StoreError>;
    /// Sessions still unfinished (Not Started / In Progress / Resubmitted / Awaiting User)
    /// whose `expires_at <= now`, of one application or of all (`None`), up to `limit`.
    async fn expired_unfinished(
        &self,
        application_id: Option<&str>,
        now: i64,
        limit: u32,
    ) -> Result<Vec<Session>, StoreError>;
    /// Ids of the application's sessions created before `cutoff`.
    async fn sessions_created_before(
        &self,
        application_id: &str,
        cutoff: i64,
    ) -> Result<Vec<String>, StoreError>;

    /// The session's current liveness challenge, replacing any earlier one (D1: `INSERT …
    /// ON CONFLICT (session_id) DO UPDATE`).
    async fn put_challenge(
        &self,
        session_id: &str,
        challenge: &Challenge,
        issued_at: i64,
    ) -> Result<(), StoreError>;
    async fn get_challenge(&self, session_id: &str) -> Result<Option<Challenge>, StoreError>;
    async fn delete_challenge(&self, session_id: &str) -> Result<bool, StoreError>;

    /// Insert or replace by (application_id, vendor_data).
    async fn put_template(&self, row: &TemplateRow) -> Result<(), StoreError>;
    async fn get_template(
        &self,
        application_id: &str,
        vendor_data: &str,
    ) -> Result<Option<TemplateRow>, StoreError>;
    async fn delete_template(
        &self,
        application_id: &str,
        vendor_data: &str,
    ) -> Result<bool, StoreError>;
    /// Removes templates enrolled from that session.
    async fn delete_templates_from_session(
        &self,
        application_id: &str,
        session_id: &str,
    ) -> Result<u64, StoreError>;

    /// Idempotent on (event_id, destination_id): returns `false` if that pair exists.
    async fn insert_delivery(&self, row: &DeliveryRow) -> Result<bool, StoreError>;
    /// Pending rows with `next_attempt_at <= now`, oldest first, up to `limit`.
    async fn due_deliveries(&self, now: i64, limit: u32) -> Result<Vec<DeliveryRow>, StoreError>;
    async fn get_delivery(&self, id: &str) -> Result<Option<DeliveryRow>, StoreError>;
    async fn update_delivery(&self, row: &DeliveryRow) -> Result<(), StoreError>;
    async fn deliveries_for_session(
        &self,
        session_id: &str,
    ) -> Result<Vec<DeliveryRow>, StoreError>;
    async fn delete_deliveries_for_session(&self, session_id: &str) -> Result<u64, StoreError>;

    /// The answer kept for an `Idempotency-Key`, expired or not (the caller judges age).
    async fn get_idempotency(
        &self,
        application_id: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError>;
    /// Insert or replace by (application_id, key): a replaced row is one the caller found
    /// expired, or a concurrent duplicate's equal answer.
    async fn put_idempotency(&self, record: &IdempotencyRecord) -> Result<(), StoreError>;
    /// Drops answers created before `cutoff`; returns how many.
    async fn delete_idempotency_before(&self, cutoff: i64) -> Result<u64, StoreError>;
}
