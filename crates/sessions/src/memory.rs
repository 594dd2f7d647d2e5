//! In-memory `Store` and deterministic ports, for this crate's tests and adapters' tests.
//! Behaves like the SQL store it stands in for: versioned updates, unique tokens, a
//! never-reused session counter, idempotent delivery inserts.

mod lists;
mod operators;
mod records;
mod signals;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use facegate_pipeline::challenge::Challenge;
use serde_json::Value;

use crate::idempotency::IdempotencyRecord;
use crate::store::{
    ActiveRow, Claim, Clock, Ids, RandomnessUnavailable, SessionFilter, Store, StoreError, Write,
};
use crate::types::{AuditRow, DeliveryRow, DeliveryStatus, Session, TemplateRow};
use crate::user_records::UserRow;

#[derive(Default)]
pub struct MemoryStore {
    pub sessions: RefCell<BTreeMap<String, Session>>,
    pub counters: RefCell<BTreeMap<String, i64>>,
    pub templates: RefCell<BTreeMap<(String, String), TemplateRow>>,
    pub deliveries: RefCell<BTreeMap<String, DeliveryRow>>,
    /// Delivery ids in the order they were written (D1's rowid): a session's later event to a
    /// destination waits for its earlier ones. Ids of rows since removed are simply skipped.
    pub delivery_order: RefCell<Vec<String>>,
    /// By delivery id: the claim holding it (the D1 `claim` column).
    pub claims: RefCell<BTreeMap<String, String>>,
    /// By (application_id, session_id): (challenge, issued_at).
    pub challenges: RefCell<BTreeMap<(String, String), (Challenge, i64)>>,
    /// By (application_id, session_id).
    pub active: RefCell<BTreeMap<(String, String), ActiveRow>>,
    /// By (application_id, key).
    pub idempotency: RefCell<BTreeMap<(String, String), IdempotencyRecord>>,
    /// By (application_id, vendor_data).
    pub users: RefCell<BTreeMap<(String, String), UserRow>>,
    /// Insert-only, like the D1 `audit_log` table.
    pub audit: RefCell<Vec<AuditRow>>,
    /// By application id.
    pub branding: RefCell<BTreeMap<String, crate::branding::Branding>>,
    /// Sealed images by (application_id, session_id, slot).
    pub images: RefCell<BTreeMap<(String, String, String), Vec<u8>>>,
    /// Remembered devices and addresses by (application_id, vendor_data, kind, hash).
    pub signal_rows: RefCell<BTreeMap<SignalKey, crate::store::SignalRow>>,
    /// Console operators, their browser sessions and setup links.
    pub operator_tables: RefCell<operators::OperatorTables>,
    /// Lists and their entries (`lists` module).
    pub list_tables: RefCell<lists::ListTables>,
    /// Fault injection: the next this-many commits fail after applying their writes, which
    /// must then be rolled back like a failed D1 batch.
    pub failing_commits: Cell<u32>,
}

type SignalKey = (String, String, String, String);

/// The tables a commit may change, copied before it so a failure restores them.
type Snapshot = (
    BTreeMap<String, Session>,
    BTreeMap<(String, String), TemplateRow>,
    BTreeMap<String, DeliveryRow>,
    BTreeMap<(String, String), (Challenge, i64)>,
    BTreeMap<(String, String), ActiveRow>,
    Vec<AuditRow>,
    BTreeMap<(String, String), UserRow>,
    BTreeMap<(String, String, String), Vec<u8>>,
    BTreeMap<SignalKey, crate::store::SignalRow>,
);

fn contains_ci(hay: Option<&str>, needle: &str) -> bool {
    hay.is_some_and(|h| h.to_lowercase().contains(&needle.to_lowercase()))
}

fn field<'a>(v: &'a Option<Value>, k: &str) -> Option<&'a str> {
    v.as_ref().and_then(|v| v.get(k)).and_then(Value::as_str)
}

fn matches(s: &Session, f: &SessionFilter) -> bool {
    if f.none {
        return false;
    }
    f.status.is_none_or(|st| s.status == st)
        && f.vendor_data
            .as_ref()
            .is_none_or(|v| s.vendor_data.as_ref() == Some(v))
        && f.workflow_id
            .as_ref()
            .is_none_or(|w| s.workflow_id.eq_ignore_ascii_case(w))
        && f.created_from.is_none_or(|t| s.created_at >= t)
        && f.created_to.is_none_or(|t| s.created_at <= t)
        && f.country.as_ref().is_none_or(|c| {
            field(&s.expected_details, "id_country")
                .or_else(|| field(&s.expected_details, "country"))
                == Some(c.as_str())
        })
        && f.search.as_ref().is_none_or(|q| {
            contains_ci(s.vendor_data.as_deref(), q)
                || contains_ci(field(&s.expected_details, "first_name"), q)
                || contains_ci(field(&s.expected_details, "last_name"), q)
                || contains_ci(field(&s.expected_details, "identification_number"), q)
                || contains_ci(field(&s.contact_details, "email"), q)
                || contains_ci(field(&s.contact_details, "phone"), q)
        })
}

/// Takes rows in turns across applications: every application's first, then every one's
/// second, … (rows already in each application's priority order).
fn round_robin<T>(rows: Vec<T>, app_of: impl Fn(&T) -> &str, limit: u32) -> Vec<T> {
    let mut rank: BTreeMap<String, usize> = BTreeMap::new();
    let mut ranked: Vec<(usize, usize, T)> = rows
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let n = rank.entry(app_of(&r).to_owned()).or_insert(0);
            *n += 1;
            (*n, i, r)
        })
        .collect();
    ranked.sort_by_key(|(n, i, _)| (*n, *i));
    ranked
        .into_iter()
        .take(limit as usize)
        .map(|(_, _, r)| r)
        .collect()
}

impl MemoryStore {
    fn snapshot(&self) -> Snapshot {
        (
            self.sessions.borrow().clone(),
            self.templates.borrow().clone(),
            self.deliveries.borrow().clone(),
            self.challenges.borrow().clone(),
            self.active.borrow().clone(),
            self.audit.borrow().clone(),
            self.users.borrow().clone(),
            self.images.borrow().clone(),
            self.signal_rows.borrow().clone(),
        )
    }

    fn restore(
        &self,
        (sessions, templates, deliveries, challenges, active, audit, users, images, signals): Snapshot,
    ) {
        *self.signal_rows.borrow_mut() = signals;
        *self.images.borrow_mut() = images;
        *self.users.borrow_mut() = users;
        *self.audit.borrow_mut() = audit;
        *self.active.borrow_mut() = active;
        *self.sessions.borrow_mut() = sessions;
        *self.templates.borrow_mut() = templates;
        *self.deliveries.borrow_mut() = deliveries;
        *self.challenges.borrow_mut() = challenges;
    }

    fn apply(&self, w: &Write) -> Result<(), StoreError> {
        let key = |a: &str, b: &str| (a.to_owned(), b.to_owned());
        match w {
            Write::InsertSession(session) => {
                let mut all = self.sessions.borrow_mut();
                if all.contains_key(&session.id) || all.values().any(|s| s.token == session.token) {
                    return Err(StoreError::Backend("UNIQUE constraint failed".into()));
                }
                all.insert(session.id.clone(), session.clone());
            }
            Write::UpdateSession {
                session,
                expected_version,
            } => match self.sessions.borrow_mut().get_mut(&session.id) {
                Some(row)
                    if row.version == *expected_version
                        && row.application_id == session.application_id =>
                {
                    *row = session.clone();
                }
                _ => return Err(StoreError::Conflict),
            },
            Write::EraseSessions {
                application_id,
                ids,
            } => {
                let gone = |a: &String, sid: &String| a == application_id && ids.contains(sid);
                self.sessions
                    .borrow_mut()
                    .retain(|id, s| !gone(&s.application_id, id));
                self.challenges
                    .borrow_mut()
                    .retain(|(a, sid), _| !gone(a, sid));
                self.active.borrow_mut().retain(|(a, sid), _| !gone(a, sid));
                self.templates
                    .borrow_mut()
                    .retain(|_, t| !gone(&t.application_id, &t.source_session_id));
                self.deliveries
                    .borrow_mut()
                    .retain(|_, d| !gone(&d.application_id, &d.session_id));
                self.images
                    .borrow_mut()
                    .retain(|(a, sid, _), _| !gone(a, sid));
            }
            Write::PutChallenge {
                application_id,
                session_id,
                challenge,
                issued_at,
            } => {
                self.challenges.borrow_mut().insert(
                    key(application_id, session_id),
                    (challenge.clone(), *issued_at),
                );
            }
            Write::DeleteChallenge {
                application_id,
                session_id,
            } => {
                self.challenges
                    .borrow_mut()
                    .remove(&key(application_id, session_id));
            }
            Write::PutActive {
                application_id,
                session_id,
                row,
            } => {
                let mut all = self.active.borrow_mut();
                let k = key(application_id, session_id);
                if all.get(&k).map_or(0, |r| r.revision) != row.revision - 1 {
                    return Err(StoreError::Conflict);
                }
                all.insert(k, row.clone());
            }
            Write::PutTemplate(row) => {
                self.templates
                    .borrow_mut()
                    .insert(key(&row.application_id, &row.vendor_data), row.clone());
            }
            Write::DeleteTemplate {
                application_id,
                vendor_data,
            } => {
                self.templates
                    .borrow_mut()
                    .remove(&key(application_id, vendor_data));
            }
            Write::DeleteTemplatesFromSession {
                application_id,
                session_id,
            } => self.templates.borrow_mut().retain(|_, r| {
                !(&r.application_id == application_id && &r.source_session_id == session_id)
            }),
            Write::InsertDelivery(row) => {
                let mut d = self.deliveries.borrow_mut();
                if !d
                    .values()
                    .any(|r| r.event_id == row.event_id && r.destination_id == row.destination_id)
                {
                    d.insert(row.id.clone(), row.clone());
                    self.delivery_order.borrow_mut().push(row.id.clone());
                }
            }
            w @ (Write::RequeueDelivery { .. }
            | Write::InsertAudit(_)
            | Write::PutUser(_)
            | Write::DeleteUser { .. }
            | Write::PutBranding { .. }
            | Write::PutImage { .. }) => self.apply_record(w)?,
            w @ (Write::SeeSignal(_)
            | Write::ForgetSignalsBefore { .. }
            | Write::ForgetUserSignals { .. }) => self.apply_signal(w)?,
        }
        Ok(())
    }
}

impl Store for MemoryStore {
    async fn commit(&self, writes: &[Write]) -> Result<(), StoreError> {
        let before = self.snapshot();
        let mut result = writes.iter().try_for_each(|w| self.apply(w));
        if result.is_ok() && self.failing_commits.get() > 0 {
            self.failing_commits.set(self.failing_commits.get() - 1);
            result = Err(StoreError::Backend("injected fault".into()));
        }
        if result.is_err() {
            self.restore(before);
        }
        result
    }

    async fn get_challenge(
        &self,
        application_id: &str,
        session_id: &str,
    ) -> Result<Option<Challenge>, StoreError> {
        Ok(self
            .challenges
            .borrow()
            .get(&(application_id.to_owned(), session_id.to_owned()))
            .map(|c| c.0.clone()))
    }

    async fn get_active(
        &self,
        application_id: &str,
        session_id: &str,
    ) -> Result<Option<ActiveRow>, StoreError> {
        Ok(self
            .active
            .borrow()
            .get(&(application_id.to_owned(), session_id.to_owned()))
            .cloned())
    }

    async fn next_session_number(&self, application_id: &str) -> Result<i64, StoreError> {
        let mut c = self.counters.borrow_mut();
        let n = c.entry(application_id.to_owned()).or_insert(0);
        *n += 1;
        Ok(*n)
    }

    async fn get_session(
        &self,
        application_id: &str,
        id: &str,
    ) -> Result<Option<Session>, StoreError> {
        Ok(self
            .sessions
            .borrow()
            .get(id)
            .filter(|s| s.application_id == application_id)
            .cloned())
    }

    async fn get_session_by_token(&self, token: &str) -> Result<Option<Session>, StoreError> {
        Ok(self
            .sessions
            .borrow()
            .values()
            .find(|s| s.token == token)
            .cloned())
    }

    async fn sessions_for_vendor_data(
        &self,
        application_id: &str,
        vendor_data: &str,
    ) -> Result<Vec<Session>, StoreError> {
        Ok(self
            .sessions
            .borrow()
            .values()
            .filter(|s| {
                s.application_id == application_id && s.vendor_data.as_deref() == Some(vendor_data)
            })
            .cloned()
            .collect())
    }

    async fn list_sessions(
        &self,
        application_id: &str,
        filter: &SessionFilter,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<Session>), StoreError> {
        let mut rows: Vec<Session> = self
            .sessions
            .borrow()
            .values()
            .filter(|s| s.application_id == application_id && matches(s, filter))
            .cloned()
            .collect();
        rows.sort_by_key(|s| std::cmp::Reverse(s.number));
        let count = rows.len() as u64;
        let page = rows
            .into_iter()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .collect();
        Ok((count, page))
    }

    async fn session_ids(
        &self,
        application_id: &str,
        numbers: Option<&[i64]>,
    ) -> Result<Vec<String>, StoreError> {
        Ok(self
            .sessions
            .borrow()
            .values()
            .filter(|s| s.application_id == application_id)
            .filter(|s| numbers.is_none_or(|n| n.contains(&s.number)))
            .map(|s| s.id.clone())
            .collect())
    }

    async fn expired_unfinished(
        &self,
        application_id: Option<&str>,
        now: i64,
        limit: u32,
    ) -> Result<Vec<Session>, StoreError> {
        let mut due: Vec<Session> = self
            .sessions
            .borrow()
            .values()
            .filter(|s| application_id.is_none_or(|a| s.application_id == a))
            .filter(|s| s.status.is_unfinished() && s.expires_at <= now)
            .cloned()
            .collect();
        due.sort_by_key(|s| s.expires_at);
        Ok(round_robin(due, |s| &s.application_id, limit))
    }

    async fn sessions_created_before(
        &self,
        application_id: &str,
        cutoff: i64,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        let mut old: Vec<&Session> = Vec::new();
        let all = self.sessions.borrow();
        old.extend(
            all.values()
                .filter(|s| s.application_id == application_id && s.created_at < cutoff),
        );
        old.sort_by_key(|s| s.created_at);
        Ok(old
            .into_iter()
            .take(limit as usize)
            .map(|s| s.id.clone())
            .collect())
    }

    async fn get_template(
        &self,
        application_id: &str,
        vendor_data: &str,
    ) -> Result<Option<TemplateRow>, StoreError> {
        Ok(self
            .templates
            .borrow()
            .get(&(application_id.to_owned(), vendor_data.to_owned()))
            .cloned())
    }

    async fn claim_due_deliveries(
        &self,
        now: i64,
        claim: &Claim,
        limit: u32,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        // Walk in write order, so the first pending row of each (session, destination) is the
        // one that may go; any later one waits for it, whether it is due or not.
        let mut due = Vec::new();
        {
            let rows = self.deliveries.borrow();
            let mut waiting = BTreeSet::new();
            for r in self.delivery_order.borrow().iter().filter_map(|id| rows.get(id)) {
                if r.status != DeliveryStatus::Pending {
                    continue;
                }
                let first = waiting.insert((&r.application_id, &r.session_id, &r.destination_id));
                if first && r.next_attempt_at <= now {
                    due.push(r.clone());
                }
            }
        }
        due.sort_by_key(|r| (r.next_attempt_at, r.created_at));
        let taken = round_robin(due, |r| &r.application_id, limit);
        let mut rows = self.deliveries.borrow_mut();
        let mut claims = self.claims.borrow_mut();
        Ok(taken
            .into_iter()
            .map(|mut r| {
                r.next_attempt_at = claim.lease_until;
                rows.insert(r.id.clone(), r.clone());
                claims.insert(r.id.clone(), claim.id.clone());
                r
            })
            .collect())
    }

    async fn finish_delivery(&self, row: &DeliveryRow, claim_id: &str) -> Result<bool, StoreError> {
        let mut claims = self.claims.borrow_mut();
        let mut rows = self.deliveries.borrow_mut();
        let held = claims.get(&row.id).is_some_and(|c| c == claim_id)
            && rows
                .get(&row.id)
                .is_some_and(|r| r.application_id == row.application_id);
        if !held {
            return Ok(false);
        }
        claims.remove(&row.id);
        rows.insert(row.id.clone(), row.clone());
        Ok(true)
    }

    async fn deliveries_for_session(
        &self,
        application_id: &str,
        session_id: &str,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        let mut rows: Vec<DeliveryRow> = self
            .deliveries
            .borrow()
            .values()
            .filter(|r| r.application_id == application_id && r.session_id == session_id)
            .cloned()
            .collect();
        rows.sort_by_key(|r| r.created_at);
        Ok(rows)
    }

    async fn get_delivery(
        &self,
        application_id: &str,
        id: &str,
    ) -> Result<Option<DeliveryRow>, StoreError> {
        Ok(self.delivery(application_id, id))
    }

    async fn get_user(
        &self,
        application_id: &str,
        vendor_data: &str,
    ) -> Result<Option<UserRow>, StoreError> {
        Ok(self.user(application_id, vendor_data))
    }

    async fn get_image(
        &self,
        application_id: &str,
        session_id: &str,
        slot: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let key = (
            application_id.to_owned(),
            session_id.to_owned(),
            slot.to_owned(),
        );
        Ok(self.images.borrow().get(&key).cloned())
    }

    async fn get_branding(
        &self,
        application_id: &str,
    ) -> Result<Option<crate::branding::Branding>, StoreError> {
        Ok(self.branding.borrow().get(application_id).cloned())
    }

    async fn user_rows(&self, application_id: &str) -> Result<Vec<UserRow>, StoreError> {
        Ok(self.users_of(application_id))
    }

    async fn signals(
        &self,
        application_id: &str,
        hashes: &[&str],
    ) -> Result<Vec<crate::store::SignalRow>, StoreError> {
        Ok(self.signals_of(application_id, hashes))
    }

    async fn vendor_data_of(&self, application_id: &str) -> Result<Vec<String>, StoreError> {
        Ok(self.vendor_data(application_id))
    }

    async fn audit_for_application(
        &self,
        application_id: &str,
        limit: u32,
    ) -> Result<Vec<AuditRow>, StoreError> {
        Ok(self
            .audit
            .borrow()
            .iter()
            .rev()
            .filter(|a| a.application_id == application_id)
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn session_counts_by_day(
        &self,
        application_id: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<crate::store::DayCount>, StoreError> {
        let mut counts: BTreeMap<(i64, &'static str), (crate::types::SessionStatus, u64)> =
            BTreeMap::new();
        for s in self.sessions.borrow().values() {
            if s.application_id == application_id && (from..to).contains(&s.created_at) {
                counts
                    .entry((s.created_at.div_euclid(86_400), s.status.as_str()))
                    .or_insert((s.status, 0))
                    .1 += 1;
            }
        }
        Ok(counts
            .into_iter()
            .map(|((day, _), (status, count))| crate::store::DayCount { day, status, count })
            .collect())
    }

    async fn audit_for_session(
        &self,
        application_id: &str,
        session_id: &str,
    ) -> Result<Vec<AuditRow>, StoreError> {
        Ok(self.audit_rows(application_id, session_id))
    }

    async fn get_idempotency(
        &self,
        application_id: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        Ok(self
            .idempotency
            .borrow()
            .get(&(application_id.to_owned(), key.to_owned()))
            .cloned())
    }

    async fn put_idempotency(&self, record: &IdempotencyRecord) -> Result<(), StoreError> {
        self.idempotency.borrow_mut().insert(
            (record.application_id.clone(), record.key.clone()),
            record.clone(),
        );
        Ok(())
    }

    async fn delete_idempotency_before(&self, cutoff: i64) -> Result<u64, StoreError> {
        let mut rows = self.idempotency.borrow_mut();
        let before = rows.len();
        rows.retain(|_, r| r.created_at >= cutoff);
        Ok((before - rows.len()) as u64)
    }
}

/// A clock the test moves by hand: unix seconds, and milliseconds past them.
pub struct FixedClock(pub Cell<i64>, pub Cell<i64>);

impl FixedClock {
    pub fn at(t: i64) -> Self {
        FixedClock(Cell::new(t), Cell::new(0))
    }
    pub fn advance(&self, secs: i64) {
        self.0.set(self.0.get() + secs);
    }
    pub fn advance_ms(&self, ms: i64) {
        let t = self.now_ms() + ms;
        self.0.set(t.div_euclid(1000));
        self.1.set(t.rem_euclid(1000));
    }
}

impl Clock for FixedClock {
    fn now(&self) -> i64 {
        self.0.get()
    }
    fn now_ms(&self) -> i64 {
        self.0.get() * 1000 + self.1.get()
    }
}

/// Sequential, recognisable ids: `00000000-0000-4000-8000-000000000001`, `tok-1`, …
#[derive(Default)]
pub struct SeqIds(pub Cell<u64>);

impl SeqIds {
    fn bump(&self) -> u64 {
        let n = self.0.get() + 1;
        self.0.set(n);
        n
    }
}

impl Ids for SeqIds {
    fn uuid(&self) -> Result<String, RandomnessUnavailable> {
        Ok(format!("00000000-0000-4000-8000-{:012x}", self.bump()))
    }
    fn token(&self) -> Result<String, RandomnessUnavailable> {
        Ok(format!("tok-{}", self.bump()))
    }
    fn nonce(&self) -> Result<[u8; 12], RandomnessUnavailable> {
        let mut n = [0u8; 12];
        n[4..].copy_from_slice(&self.bump().to_be_bytes());
        Ok(n)
    }
    fn below(&self, n: u32) -> Result<u32, RandomnessUnavailable> {
        Ok((self.bump() % u64::from(n.max(1))) as u32)
    }
}

/// Randomness that has failed, as `getrandom` can: every draw is an error.
pub struct BrokenIds;

impl Ids for BrokenIds {
    fn uuid(&self) -> Result<String, RandomnessUnavailable> {
        Err(RandomnessUnavailable)
    }
    fn token(&self) -> Result<String, RandomnessUnavailable> {
        Err(RandomnessUnavailable)
    }
    fn nonce(&self) -> Result<[u8; 12], RandomnessUnavailable> {
        Err(RandomnessUnavailable)
    }
    fn below(&self, _: u32) -> Result<u32, RandomnessUnavailable> {
        Err(RandomnessUnavailable)
    }
}

/// Runs a future that never waits on I/O (every `MemoryStore` future is ready at once).
pub fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}
