//! In-memory `Store` and deterministic ports, for this crate's tests and adapters' tests.
//! Behaves like the SQL store it stands in for: versioned updates, unique tokens, a
//! never-reused session counter, idempotent delivery inserts.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use facegate_pipeline::challenge::Challenge;
use serde_json::Value;

use crate::idempotency::IdempotencyRecord;
use crate::store::{Clock, Ids, SessionFilter, Store, StoreError};
use crate::types::{DeliveryRow, DeliveryStatus, Session, TemplateRow};

#[derive(Default)]
pub struct MemoryStore {
    pub sessions: RefCell<BTreeMap<String, Session>>,
    pub counters: RefCell<BTreeMap<String, i64>>,
    pub templates: RefCell<BTreeMap<(String, String), TemplateRow>>,
    pub deliveries: RefCell<BTreeMap<String, DeliveryRow>>,
    /// By session id: (challenge, issued_at).
    pub challenges: RefCell<BTreeMap<String, (Challenge, i64)>>,
    /// By (application_id, key).
    pub idempotency: RefCell<BTreeMap<(String, String), IdempotencyRecord>>,
}

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

impl Store for MemoryStore {
    async fn put_challenge(
        &self,
        session_id: &str,
        challenge: &Challenge,
        issued_at: i64,
    ) -> Result<(), StoreError> {
        self.challenges
            .borrow_mut()
            .insert(session_id.to_owned(), (challenge.clone(), issued_at));
        Ok(())
    }

    async fn get_challenge(&self, session_id: &str) -> Result<Option<Challenge>, StoreError> {
        Ok(self
            .challenges
            .borrow()
            .get(session_id)
            .map(|c| c.0.clone()))
    }

    async fn delete_challenge(&self, session_id: &str) -> Result<bool, StoreError> {
        Ok(self.challenges.borrow_mut().remove(session_id).is_some())
    }

    async fn next_session_number(&self, application_id: &str) -> Result<i64, StoreError> {
        let mut c = self.counters.borrow_mut();
        let n = c.entry(application_id.to_owned()).or_insert(0);
        *n += 1;
        Ok(*n)
    }

    async fn insert_session(&self, session: &Session) -> Result<(), StoreError> {
        let mut all = self.sessions.borrow_mut();
        if all.contains_key(&session.id) || all.values().any(|s| s.token == session.token) {
            return Err(StoreError::Backend("UNIQUE constraint failed".into()));
        }
        all.insert(session.id.clone(), session.clone());
        Ok(())
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

    async fn update_session(
        &self,
        session: &Session,
        expected_version: i64,
    ) -> Result<(), StoreError> {
        let mut all = self.sessions.borrow_mut();
        match all.get_mut(&session.id) {
            Some(row) if row.version == expected_version => {
                *row = session.clone();
                Ok(())
            }
            _ => Err(StoreError::Conflict),
        }
    }

    async fn delete_session(&self, application_id: &str, id: &str) -> Result<bool, StoreError> {
        let mut all = self.sessions.borrow_mut();
        if all
            .get(id)
            .is_some_and(|s| s.application_id == application_id)
        {
            all.remove(id);
            Ok(true)
        } else {
            Ok(false)
        }
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
        Ok(self
            .sessions
            .borrow()
            .values()
            .filter(|s| application_id.is_none_or(|a| s.application_id == a))
            .filter(|s| s.status.is_unfinished() && s.expires_at <= now)
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn sessions_created_before(
        &self,
        application_id: &str,
        cutoff: i64,
    ) -> Result<Vec<String>, StoreError> {
        Ok(self
            .sessions
            .borrow()
            .values()
            .filter(|s| s.application_id == application_id && s.created_at < cutoff)
            .map(|s| s.id.clone())
            .collect())
    }

    async fn put_template(&self, row: &TemplateRow) -> Result<(), StoreError> {
        self.templates.borrow_mut().insert(
            (row.application_id.clone(), row.vendor_data.clone()),
            row.clone(),
        );
        Ok(())
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

    async fn delete_template(
        &self,
        application_id: &str,
        vendor_data: &str,
    ) -> Result<bool, StoreError> {
        Ok(self
            .templates
            .borrow_mut()
            .remove(&(application_id.to_owned(), vendor_data.to_owned()))
            .is_some())
    }

    async fn delete_templates_from_session(
        &self,
        application_id: &str,
        session_id: &str,
    ) -> Result<u64, StoreError> {
        let mut t = self.templates.borrow_mut();
        let before = t.len();
        t.retain(|_, r| !(r.application_id == application_id && r.source_session_id == session_id));
        Ok((before - t.len()) as u64)
    }

    async fn insert_delivery(&self, row: &DeliveryRow) -> Result<bool, StoreError> {
        let mut d = self.deliveries.borrow_mut();
        if d.values()
            .any(|r| r.event_id == row.event_id && r.destination_id == row.destination_id)
        {
            return Ok(false);
        }
        d.insert(row.id.clone(), row.clone());
        Ok(true)
    }

    async fn due_deliveries(&self, now: i64, limit: u32) -> Result<Vec<DeliveryRow>, StoreError> {
        let mut due: Vec<DeliveryRow> = self
            .deliveries
            .borrow()
            .values()
            .filter(|r| r.status == DeliveryStatus::Pending && r.next_attempt_at <= now)
            .cloned()
            .collect();
        due.sort_by_key(|r| (r.next_attempt_at, r.created_at));
        due.truncate(limit as usize);
        Ok(due)
    }

    async fn get_delivery(&self, id: &str) -> Result<Option<DeliveryRow>, StoreError> {
        Ok(self.deliveries.borrow().get(id).cloned())
    }

    async fn update_delivery(&self, row: &DeliveryRow) -> Result<(), StoreError> {
        self.deliveries
            .borrow_mut()
            .insert(row.id.clone(), row.clone());
        Ok(())
    }

    async fn deliveries_for_session(
        &self,
        session_id: &str,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        let mut rows: Vec<DeliveryRow> = self
            .deliveries
            .borrow()
            .values()
            .filter(|r| r.session_id == session_id)
            .cloned()
            .collect();
        rows.sort_by_key(|r| r.created_at);
        Ok(rows)
    }

    async fn delete_deliveries_for_session(&self, session_id: &str) -> Result<u64, StoreError> {
        let mut d = self.deliveries.borrow_mut();
        let before = d.len();
        d.retain(|_, r| r.session_id != session_id);
        Ok((before - d.len()) as u64)
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

/// A clock the test moves by hand.
pub struct FixedClock(pub Cell<i64>);

impl FixedClock {
    pub fn at(t: i64) -> Self {
        FixedClock(Cell::new(t))
    }
    pub fn advance(&self, secs: i64) {
        self.0.set(self.0.get() + secs);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> i64 {
        self.0.get()
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
    fn uuid(&self) -> String {
        format!("00000000-0000-4000-8000-{:012x}", self.bump())
    }
    fn token(&self) -> String {
        format!("tok-{}", self.bump())
    }
    fn nonce(&self) -> [u8; 12] {
        let mut n = [0u8; 12];
        n[4..].copy_from_slice(&self.bump().to_be_bytes());
        n
    }
    fn below(&self, n: u32) -> u32 {
        (self.bump() % u64::from(n.max(1))) as u32
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
