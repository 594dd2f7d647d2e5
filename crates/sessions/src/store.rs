//! Ports: everything the core needs from the outside world.
//!
//! `Store` is row-oriented so a D1 (SQLite) adapter maps each read to one prepared statement and
//! each `Write` of a `commit` to one statement of a single transaction (D1 `batch()`).
//! Futures carry no `Send` bound because workers-rs futures are `!Send`.
//!
//! Tenancy is part of every signature: a call names the application it acts for and the store
//! filters by it, so another tenant's id can never reach a row. The exceptions are the session
//! token lookup (the hosted page knows nothing else) and the operator sweeps (expiry, outbox),
//! which return rows carrying the application id they belong to.

use facegate_pipeline::challenge::active::IssueHistory;
use facegate_pipeline::challenge::Challenge;
use serde::{Deserialize, Serialize};

use crate::branding::Branding;
use crate::idempotency::IdempotencyRecord;
use crate::types::{AuditRow, DeliveryRow, Session, SessionStatus, TemplateRow};
use crate::user_records::UserRow;

pub trait Clock {
    /// Unix seconds.
    fn now(&self) -> i64;
    /// Unix milliseconds: the ACTIVE_3D protocol times a step's frames by the server's clock,
    /// and a step lasts about a second.
    fn now_ms(&self) -> i64;
}

/// A session's step-by-step ACTIVE_3D challenges: how many were issued (kept for the session's
/// life, so deleting a spent challenge never resets the limit) and the one in progress.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ActiveRow {
    pub history: IssueHistory,
    /// The challenge in progress (`None` once verified, spent or expired).
    pub current: Option<SealedActive>,
    /// Bumped by every write: a step's answer is stored only over the state it was checked
    /// against, so two uploads of one step cannot both be recorded.
    pub revision: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SealedActive {
    pub id: String,
    /// Server milliseconds.
    pub expires_at: i64,
    /// The `ActiveChallenge` JSON under the template cipher (it holds a face embedding and a
    /// face patch), hex.
    pub sealed: String,
}

/// The platform's randomness failed. Never papered over with zeros: an all-zero nonce repeats
/// under the template key and a zero token is guessable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("randomness unavailable")]
pub struct RandomnessUnavailable;

pub trait Ids {
    /// A fresh UUID (v4 text form).
    fn uuid(&self) -> Result<String, RandomnessUnavailable>;
    /// An unguessable session token (≥ 128 bits of entropy, URL-safe).
    fn token(&self) -> Result<String, RandomnessUnavailable>;
    /// A fresh 96-bit AES-GCM nonce; must never repeat under one key.
    fn nonce(&self) -> Result<[u8; 12], RandomnessUnavailable>;
    /// A uniformly random integer in `0..n` (`n` ≥ 1), unpredictable to clients: it picks
    /// liveness challenges.
    fn below(&self, n: u32) -> Result<u32, RandomnessUnavailable>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Optimistic-concurrency miss: the row's version was not the one the writer read.
    #[error("version conflict")]
    Conflict,
    #[error("storage backend: {0}")]
    Backend(String),
}

/// One write of a unit of work. A `commit` applies all of a list or none of it; an
/// `UpdateSession` whose version no longer matches aborts the whole list with `Conflict`.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    InsertSession(Session),
    /// `UPDATE … WHERE application_id = ? AND id = ? AND version = ?`; no row → `Conflict`.
    UpdateSession {
        session: Session,
        expected_version: i64,
    },
    /// Removes those sessions of the application and everything hanging off them: their
    /// challenges, the templates they enrolled, their webhook rows, their kept images. Ids of other applications
    /// match nothing.
    EraseSessions {
        application_id: String,
        ids: Vec<String>,
    },
    /// The session's current liveness challenge, replacing any earlier one.
    PutChallenge {
        application_id: String,
        session_id: String,
        challenge: Challenge,
        issued_at: i64,
    },
    DeleteChallenge {
        application_id: String,
        session_id: String,
    },
    /// The session's ACTIVE_3D row, written only if its revision is still `row.revision - 1`
    /// (0: no row yet); else the commit fails with `Conflict`.
    PutActive {
        application_id: String,
        session_id: String,
        row: ActiveRow,
    },
    /// Insert or replace by (application_id, vendor_data).
    PutTemplate(TemplateRow),
    DeleteTemplate {
        application_id: String,
        vendor_data: String,
    },
    /// Removes templates enrolled from that session.
    DeleteTemplatesFromSession {
        application_id: String,
        session_id: String,
    },
    /// Idempotent on (event_id, destination_id): an existing pair is left as it is.
    InsertDelivery(DeliveryRow),
    /// A resend: the application's delivery becomes due at `now` again with a fresh retry
    /// budget (pending, no sends counted, no claim). Another application's id matches nothing.
    RequeueDelivery {
        application_id: String,
        id: String,
        now: i64,
    },
    /// Insert only: audit rows are never updated or deleted (not even with their session).
    InsertAudit(AuditRow),
    /// Insert or replace by (application_id, vendor_data).
    PutUser(UserRow),
    DeleteUser {
        application_id: String,
        vendor_data: String,
    },
    /// Insert or replace a session's sealed image in `slot` (`images` module).
    PutImage {
        application_id: String,
        session_id: String,
        slot: String,
        blob: Vec<u8>,
    },
    /// Insert or replace the application's branding (always committed alone: a PATCH
    /// replaces it whole).
    PutBranding {
        application_id: String,
        branding: Branding,
    },
    /// A device or address seen on an approved session of this user: insert, or count one
    /// more sighting (first_seen kept, last_seen and the session moved on). `visits` module.
    SeeSignal(SeenSignal),
    /// Forgets signals not seen since `before` (retention), across applications.
    ForgetSignalsBefore { before: i64 },
    /// Forgets every device and address of the user (data-subject deletion).
    ForgetUserSignals {
        application_id: String,
        vendor_data: String,
    },
}

/// One remembered device or address of a user: only a keyed hash of it is kept
/// (`facegate_signals::device::keyed_hash`), never the address or the page's device id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenSignal {
    pub application_id: String,
    pub vendor_data: String,
    /// `device` or `ip`.
    pub kind: String,
    pub hash: String,
    /// The session that saw it last (Didit's `matches[].session_id`).
    pub session_id: String,
    pub at: i64,
}

/// A remembered signal as read back (`Store::signals`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalRow {
    pub vendor_data: String,
    pub kind: String,
    pub hash: String,
    pub session_id: String,
    pub first_seen: i64,
    pub last_seen: i64,
    pub count: u64,
}

/// Outbox rows one sender took for itself until `lease_until`.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub id: String,
    pub lease_until: i64,
}

/// How many sessions of one status were created on one UTC day (unix seconds / 86 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayCount {
    pub day: i64,
    pub status: SessionStatus,
    pub count: u64,
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

/// Lists are their own port (`lists::store`), but every store keeps them: the visit and capture
/// paths screen against them wherever a session is read.
#[allow(async_fn_in_trait)]
pub trait Store: crate::lists::store::ListStore {
    /// Applies every write or none (D1: one `batch()`, a transaction). See `Write`.
    async fn commit(&self, writes: &[Write]) -> Result<(), StoreError>;

    /// Next per-application session number. Never reuses a number, even after deletes
    /// (D1: `INSERT … ON CONFLICT DO UPDATE SET n = n + 1 RETURNING n` on a counters table).
    async fn next_session_number(&self, application_id: &str) -> Result<i64, StoreError>;
    async fn get_session(
        &self,
        application_id: &str,
        id: &str,
    ) -> Result<Option<Session>, StoreError>;
    /// Tokens are globally unique (unique index): the hosted page knows nothing else. The
    /// session found carries its application id.
    async fn get_session_by_token(&self, token: &str) -> Result<Option<Session>, StoreError>;
    async fn sessions_for_vendor_data(
        &self,
        application_id: &str,
        vendor_data: &str,
    ) -> Result<Vec<Session>, StoreError>;
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
    /// whose `expires_at <= now`, of one application or of all (`None`, an operator sweep), up
    /// to `limit`. Across applications the rows are taken in turns (each application's
    /// oldest, then each one's second, …), so one tenant's backlog cannot starve the others.
    async fn expired_unfinished(
        &self,
        application_id: Option<&str>,
        now: i64,
        limit: u32,
    ) -> Result<Vec<Session>, StoreError>;
    /// Ids of the application's sessions created before `cutoff`, oldest first, up to `limit`.
    async fn sessions_created_before(
        &self,
        application_id: &str,
        cutoff: i64,
        limit: u32,
    ) -> Result<Vec<String>, StoreError>;

    async fn get_challenge(
        &self,
        application_id: &str,
        session_id: &str,
    ) -> Result<Option<Challenge>, StoreError>;

    async fn get_active(
        &self,
        application_id: &str,
        session_id: &str,
    ) -> Result<Option<ActiveRow>, StoreError>;

    async fn get_template(
        &self,
        application_id: &str,
        vendor_data: &str,
    ) -> Result<Option<TemplateRow>, StoreError>;

    /// Operator sweep: takes up to `limit` pending rows due at `now` for the claimer, in turns
    /// across applications (as `expired_unfinished`), by moving their `next_attempt_at` to the
    /// lease's end and recording the claim, in one statement. A row is therefore sent by one
    /// sender at a time; a claimer that dies leaves it due again when the lease ends.
    async fn claim_due_deliveries(
        &self,
        now: i64,
        claim: &Claim,
        limit: u32,
    ) -> Result<Vec<DeliveryRow>, StoreError>;
    /// Records a send's outcome on a claimed row and releases the claim. `false` (nothing
    /// written) when the claim was lost: the lease ran out and another sender took the row.
    async fn finish_delivery(&self, row: &DeliveryRow, claim_id: &str) -> Result<bool, StoreError>;
    async fn deliveries_for_session(
        &self,
        application_id: &str,
        session_id: &str,
    ) -> Result<Vec<DeliveryRow>, StoreError>;
    async fn get_delivery(
        &self,
        application_id: &str,
        id: &str,
    ) -> Result<Option<DeliveryRow>, StoreError>;

    async fn get_user(
        &self,
        application_id: &str,
        vendor_data: &str,
    ) -> Result<Option<UserRow>, StoreError>;
    /// Every user record of the application.
    async fn user_rows(&self, application_id: &str) -> Result<Vec<UserRow>, StoreError>;

    /// The application's remembered devices and addresses with these hashes, of every user
    /// (the caller tells its own user's from others'), most recently seen first, at most 20.
    async fn signals(
        &self,
        application_id: &str,
        hashes: &[&str],
    ) -> Result<Vec<SignalRow>, StoreError>;

    /// Every vendor_data the application has a session, an enrolled face or a user record
    /// for (distinct).
    async fn vendor_data_of(&self, application_id: &str) -> Result<Vec<String>, StoreError>;

    /// The audit rows naming that session of the application, in the order they were
    /// written (D1: `rowid`), which the second-resolution `created_at` cannot tell apart.
    async fn audit_for_session(
        &self,
        application_id: &str,
        session_id: &str,
    ) -> Result<Vec<AuditRow>, StoreError>;

    /// The application's audit rows, newest first, up to `limit` (the console's audit log).
    async fn audit_for_application(
        &self,
        application_id: &str,
        limit: u32,
    ) -> Result<Vec<AuditRow>, StoreError>;

    /// The application's sessions created in `[from, to)`, counted per UTC day and status
    /// (one grouped query; no rows are read).
    async fn session_counts_by_day(
        &self,
        application_id: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<DayCount>, StoreError>;

    /// A session's sealed image in `slot`, if kept.
    async fn get_image(
        &self,
        application_id: &str,
        session_id: &str,
        slot: &str,
    ) -> Result<Option<Vec<u8>>, StoreError>;

    async fn get_branding(&self, application_id: &str) -> Result<Option<Branding>, StoreError>;
    /// The answer kept for an `Idempotency-Key`, expired or not (the caller judges age).
    async fn get_idempotency(
        &self,
        application_id: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError>;
    /// Insert or replace by (application_id, key): a replaced row is one the caller found
    /// expired, or a concurrent duplicate's equal answer.
    async fn put_idempotency(&self, record: &IdempotencyRecord) -> Result<(), StoreError>;
    /// Operator sweep: drops answers created before `cutoff`; returns how many.
    async fn delete_idempotency_before(&self, cutoff: i64) -> Result<u64, StoreError>;
}

impl From<RandomnessUnavailable> for crate::error::ApiError {
    fn from(e: RandomnessUnavailable) -> Self {
        crate::error::ApiError::Internal(e.to_string())
    }
}
