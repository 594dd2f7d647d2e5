//! The application service: endpoint logic over the injected ports.

use facegate_pipeline::Embedding;

use crate::cipher::{seal_embedding, session_aad, template_aad, TemplateCipher};
use crate::deliveries::{apply_result, SendResult, LEASE_SECONDS};
use crate::error::{ApiError, FieldErrors};
use crate::render::{self, Urls};
use crate::routes::{Directory, HttpResponse};
use crate::state::{expiry_status, transition, Event};
use crate::store::{Claim, Clock, Ids, Store, StoreError, Write};
use crate::types::{
    Application, DeliveryRow, DeliveryStatus, Feature, ReferenceSource, ResubmitNode, Session,
    SessionStatus, TemplateRow, Workflow, FACE_MATCH_NODE, LIVENESS_NODE,
};
use crate::user_records::MSG_USER_BLOCKED;
use crate::validate::{parse_batch_delete, parse_create, parse_list, CreateRequest, PortraitImage};

pub const MSG_NO_STORED_FACE: &str = "No stored face image was found for this user. Provide portrait_image or complete an enrolment session for this vendor_data first.";
pub const MSG_NO_FACE_IN_PORTRAIT: &str = "No face could be detected in portrait_image.";
pub const STATUS_UPDATED: &str = "status.updated";

pub(crate) const SLOT_REFERENCE: &str = "reference";
pub(crate) const SLOT_PENDING: &str = "pending";
/// Sessions handled per sweep (expiry, retention); the cron trigger calls again for the rest.
const SWEEP_BATCH: u32 = 100;

pub struct Service<S, C, I, K> {
    pub store: S,
    pub clock: C,
    pub ids: I,
    pub cipher: K,
    pub urls: Urls,
}

pub(crate) fn default_nodes(wf: Option<&Workflow>) -> Vec<ResubmitNode> {
    let features = wf.map_or(vec![Feature::Liveness], Workflow::features);
    // The visit's analysis is not something the user can redo: it is judged again on the
    // next visit anyway.
    features
        .into_iter()
        .filter_map(|f| {
            let node_id = match f {
                Feature::Liveness => LIVENESS_NODE,
                Feature::FaceMatch => FACE_MATCH_NODE,
                Feature::IpAnalysis => return None,
            };
            Some(ResubmitNode {
                node_id: node_id.into(),
                feature: Some(f.as_str().into()),
            })
        })
        .collect()
}

impl<S: Store, C: Clock, I: Ids, K: TemplateCipher> Service<S, C, I, K> {
    // ---------------------------------------------------------------- create

    /// `POST /session/` from the raw body. `analyse` runs the pipeline on a decoded
    /// `portrait_image` and returns its embedding (`None`: no usable face), or refuses the work
    /// (the worker's memory guard: 503, nothing written).
    pub async fn create(
        &self,
        app: &Application,
        body: &[u8],
        analyse: impl FnOnce(&PortraitImage) -> Result<Option<Embedding>, ApiError>,
    ) -> Result<HttpResponse, ApiError> {
        let req = parse_create(app, body)?;
        // Before the portrait is analysed: a blocked user costs no model run.
        if self.is_blocked(&app.id, req.vendor_data.as_deref()).await? {
            return Err(FieldErrors::single("vendor_data", MSG_USER_BLOCKED));
        }
        let needs_portrait = app
            .workflow(&req.workflow_id)
            .is_some_and(|w| w.has(Feature::FaceMatch));
        let embedding =
            match (&req.portrait, needs_portrait) {
                (Some(p), true) => Some(analyse(p)?.ok_or_else(|| {
                    FieldErrors::single("portrait_image", MSG_NO_FACE_IN_PORTRAIT)
                })?),
                _ => None,
            };
        self.create_parsed(app, req, embedding).await
    }

    /// The part of create after the adapter analysed the portrait itself.
    pub async fn create_parsed(
        &self,
        app: &Application,
        req: CreateRequest,
        portrait_embedding: Option<Embedding>,
    ) -> Result<HttpResponse, ApiError> {
        let now = self.clock.now();
        let wf = app.workflow(&req.workflow_id).ok_or_else(|| {
            FieldErrors::single(
                "workflow_id",
                format!(
                    "Invalid pk \"{}\" - object does not exist.",
                    req.workflow_id
                ),
            )
        })?;

        // Resolve the face-match reference before anything is written (§1.3).
        let mut reference = ReferenceSource::None;
        if wf.has(Feature::FaceMatch) {
            if req.portrait.is_some() {
                if portrait_embedding.is_none() {
                    return Err(FieldErrors::single(
                        "portrait_image",
                        MSG_NO_FACE_IN_PORTRAIT,
                    ));
                }
                reference = ReferenceSource::Portrait;
            } else {
                let stored = match &req.vendor_data {
                    Some(v) => self.store.get_template(&app.id, v).await?,
                    None => None,
                };
                match stored {
                    Some(t) => {
                        reference = ReferenceSource::Stored {
                            session_id: Some(t.source_session_id),
                        }
                    }
                    None => {
                        let mut e = FieldErrors::new();
                        e.set_plain("portrait_image", MSG_NO_STORED_FACE);
                        return Err(ApiError::Validation(e));
                    }
                }
            }
        }
        let portrait_embedding =
            portrait_embedding.filter(|_| reference == ReferenceSource::Portrait);

        if let Some(vendor) = &req.vendor_data {
            if let Some(existing) = self.reusable(app, wf, vendor, now).await? {
                let mut next = existing.clone();
                next.callback = req.callback.clone();
                next.metadata = req.metadata.clone();
                if let Some(e) = &portrait_embedding {
                    next.reference = ReferenceSource::Portrait;
                    next.reference_template =
                        Some(self.seal_session(app, &next.id, SLOT_REFERENCE, e)?);
                }
                next.updated_at = now;
                next.version = existing.version + 1;
                self.store
                    .commit(&[Write::UpdateSession {
                        session: next.clone(),
                        expected_version: existing.version,
                    }])
                    .await?;
                return Ok(HttpResponse::json(201, render::create(&next, &self.urls)));
            }
        }

        let id = self.ids.uuid()?;
        let token = self.ids.token()?;
        let reference_template = portrait_embedding
            .as_ref()
            .map(|e| self.seal_session(app, &id, SLOT_REFERENCE, e))
            .transpose()?;
        let number = self.store.next_session_number(&app.id).await?;
        let session = Session {
            id,
            application_id: app.id.clone(),
            number,
            token,
            status: SessionStatus::NotStarted,
            vendor_data: req.vendor_data,
            metadata: req.metadata,
            callback: req.callback,
            callback_method: req.callback_method,
            language: req.language,
            contact_details: req.contact_details,
            expected_details: req.expected_details,
            workflow_id: wf.id.clone(),
            workflow_version: wf.version,
            created_at: now,
            updated_at: now,
            expires_at: now + wf.session_expiry_seconds(&app.settings),
            liveness_checks: Vec::new(),
            face_matches: Vec::new(),
            reference,
            reference_template,
            pending_template: None,
            attempts: 0,
            resubmit_nodes: None,
            reviews: Vec::new(),
            version: 1,
            public_origin: Some(self.urls.hosted_base.clone()).filter(|o| !o.is_empty()),
            escalations: 0,
            assignee: None,
            visit: None,
            step_up: req.step_up,
        };
        self.store
            .commit(&[Write::InsertSession(session.clone())])
            .await?;
        Ok(HttpResponse::json(
            201,
            render::create(&session, &self.urls),
        ))
    }

    /// Didit's create idempotency: an unfinished, unexpired session of the same user on the
    /// workflow's current version is handed back instead of a new one.
    async fn reusable(
        &self,
        app: &Application,
        wf: &Workflow,
        vendor_data: &str,
        now: i64,
    ) -> Result<Option<Session>, ApiError> {
        let sessions = self
            .store
            .sessions_for_vendor_data(&app.id, vendor_data)
            .await?;
        Ok(sessions
            .into_iter()
            .filter(|s| {
                s.workflow_id == wf.id
                    && s.workflow_version == wf.version
                    && s.status.is_unfinished()
                    && now < s.expires_at
            })
            .max_by_key(|s| s.number))
    }

    pub(crate) fn seal_session(
        &self,
        app: &Application,
        session_id: &str,
        slot: &str,
        e: &Embedding,
    ) -> Result<Vec<u8>, ApiError> {
        Ok(seal_embedding(
            &self.cipher,
            e,
            &session_aad(&app.id, session_id, slot),
            self.ids.nonce()?,
        ))
    }

    // ---------------------------------------------------------------- reads

    /// Loads a session, first settling an overdue deadline so reads never show a stale
    /// "Not Started" for a session that can no longer be completed.
    pub(crate) async fn load(&self, app: &Application, id: &str) -> Result<Session, ApiError> {
        let s = self
            .store
            .get_session(&app.id, id)
            .await?
            .ok_or(ApiError::NotFound)?;
        self.settle_expiry(app, s).await
    }

    pub(crate) async fn settle_expiry(
        &self,
        app: &Application,
        s: Session,
    ) -> Result<Session, ApiError> {
        let now = self.clock.now();
        if now < s.expires_at || expiry_status(s.status).is_none() {
            return Ok(s);
        }
        let next = transition(&s, &Event::Expire, now)?;
        let mut writes = vec![Write::UpdateSession {
            session: next.clone(),
            expected_version: s.version,
        }];
        self.enqueue_status(app, &next, &mut writes)?;
        // An ACTIVE_3D challenge in progress holds a face embedding and patch: never past the
        // session's end.
        if let Some(row) = self.store.get_active(&app.id, &s.id).await? {
            if row.current.is_some() {
                writes.push(self.clear_active(&next, &row));
            }
        }
        match self.store.commit(&writes).await {
            Ok(()) => Ok(next),
            // Someone else settled or changed it first: their row is the truth.
            Err(StoreError::Conflict) => self
                .store
                .get_session(&app.id, &s.id)
                .await?
                .ok_or(ApiError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn get(&self, app: &Application, id: &str) -> Result<HttpResponse, ApiError> {
        let s = self.load(app, id).await?;
        Ok(HttpResponse::json(200, render::get(&s, &self.urls)))
    }

    pub async fn decision(&self, app: &Application, id: &str) -> Result<HttpResponse, ApiError> {
        let s = self.load(app, id).await?;
        let wf = app.workflow_of(&s);
        Ok(HttpResponse::json(
            200,
            render::decision(&s, app, wf, &self.urls),
        ))
    }

    /// `GET /sessions/?…` with the raw query string (no leading `?` needed).
    pub async fn list(&self, app: &Application, query: &str) -> Result<HttpResponse, ApiError> {
        let q = parse_list(query)?;
        self.expire_due_for(Some(app)).await?;
        let (count, rows) = if q.filter.none {
            (0, Vec::new())
        } else {
            self.store
                .list_sessions(&app.id, &q.filter, q.offset, q.limit)
                .await?
        };
        let rows = rows
            .iter()
            .map(|s| render::list_row(s, app.workflow_of(s), &self.urls))
            .collect();
        Ok(HttpResponse::json(
            200,
            render::list_page(count, rows, &q, &self.urls),
        ))
    }

    // ---------------------------------------------------------------- writes

    /// The write that makes `e` the face enrolled for `vendor_data`.
    pub(crate) fn enrol(
        &self,
        app: &Application,
        vendor_data: &str,
        session_id: &str,
        e: &Embedding,
        now: i64,
    ) -> Result<Write, ApiError> {
        let blob = seal_embedding(
            &self.cipher,
            e,
            &template_aad(&app.id, vendor_data),
            self.ids.nonce()?,
        );
        Ok(Write::PutTemplate(TemplateRow {
            application_id: app.id.clone(),
            vendor_data: vendor_data.to_owned(),
            source_session_id: session_id.to_owned(),
            blob,
            created_at: now,
        }))
    }

    fn erase(app: &Application, ids: Vec<String>) -> Write {
        Write::EraseSessions {
            application_id: app.id.clone(),
            ids,
        }
    }

    /// `DELETE /session/{id}/delete/` → 204. Removes the session, any face template it
    /// enrolled, its challenge and its queued webhooks, together. Another application's
    /// session is not found, and nothing of it is touched (the store scopes every write).
    pub async fn delete(&self, app: &Application, id: &str) -> Result<HttpResponse, ApiError> {
        if self.store.get_session(&app.id, id).await?.is_none() {
            return Err(ApiError::NotFound);
        }
        self.store
            .commit(&[Self::erase(app, vec![id.to_owned()])])
            .await?;
        Ok(HttpResponse::no_content())
    }

    /// `POST /sessions/delete/` → 204, all of them or none.
    pub async fn batch_delete(
        &self,
        app: &Application,
        body: &[u8],
    ) -> Result<HttpResponse, ApiError> {
        let req = parse_batch_delete(body)?;
        let numbers = (!req.delete_all).then_some(req.session_numbers.as_slice());
        let ids = self.store.session_ids(&app.id, numbers).await?;
        if !ids.is_empty() {
            self.store.commit(&[Self::erase(app, ids)]).await?;
        }
        Ok(HttpResponse::no_content())
    }

    /// Deletes sessions older than the application's retention, a batch per call (the cron
    /// calls again for the rest). Returns how many.
    pub async fn purge_retention(&self, app: &Application) -> Result<u64, ApiError> {
        let Some(days) = app.settings.retention_days else {
            return Ok(0);
        };
        let cutoff = self.clock.now() - i64::from(days) * 86_400;
        let ids = self
            .store
            .sessions_created_before(&app.id, cutoff, SWEEP_BATCH)
            .await?;
        let n = ids.len() as u64;
        if n > 0 {
            self.store.commit(&[Self::erase(app, ids)]).await?;
        }
        Ok(n)
    }

    // ---------------------------------------------------------------- expiry & webhooks

    /// Settles overdue sessions of one application, or of all (for a cron trigger).
    /// Returns how many changed.
    pub async fn expire_due<D: Directory + ?Sized>(&self, apps: &D) -> Result<u32, ApiError> {
        let now = self.clock.now();
        let mut changed = 0;
        for s in self
            .store
            .expired_unfinished(None, now, SWEEP_BATCH)
            .await?
        {
            if let Some(app) = apps.application(&s.application_id) {
                let before = s.status;
                if self.settle_expiry(app, s).await?.status != before {
                    changed += 1;
                }
            }
        }
        Ok(changed)
    }

    async fn expire_due_for(&self, app: Option<&Application>) -> Result<(), ApiError> {
        let Some(app) = app else { return Ok(()) };
        let now = self.clock.now();
        for s in self
            .store
            .expired_unfinished(Some(&app.id), now, SWEEP_BATCH)
            .await?
        {
            self.settle_expiry(app, s).await?;
        }
        Ok(())
    }

    /// One `status.updated` event, one outbox row per subscribed destination, added to the
    /// writes that change the status, so the event exists exactly when the change does.
    pub(crate) fn enqueue_status(
        &self,
        app: &Application,
        s: &Session,
        writes: &mut Vec<Write>,
    ) -> Result<(), ApiError> {
        let destinations: Vec<_> = app
            .webhooks
            .iter()
            .filter(|d| d.wants(STATUS_UPDATED))
            .collect();
        if destinations.is_empty() {
            return Ok(());
        }
        let now = self.clock.now();
        let event_id = self.ids.uuid()?;
        let payload =
            render::status_webhook(&event_id, app, s, app.workflow_of(s), &self.urls_of(s), now);
        for d in destinations {
            writes.push(Write::InsertDelivery(DeliveryRow {
                id: self.ids.uuid()?,
                event_id: event_id.clone(),
                application_id: app.id.clone(),
                session_id: s.id.clone(),
                destination_id: d.id.clone(),
                url: d.url.clone(),
                webhook_type: STATUS_UPDATED.into(),
                payload: payload.clone(),
                attempt: 0,
                next_attempt_at: now,
                status: DeliveryStatus::Pending,
                last_response: None,
                created_at: now,
                updated_at: now,
                attempt_log: Vec::new(),
            }));
        }
        Ok(())
    }

    /// The URLs a webhook about `s` carries: where the session was created, so the cron (which
    /// serves no request) still sends the absolute `session_url` the integrator was given.
    fn urls_of(&self, s: &Session) -> Urls {
        match &s.public_origin {
            Some(origin) => Urls {
                hosted_base: origin.clone(),
                api_base: format!("{}/v3", origin.trim_end_matches('/')),
            },
            None => self.urls.clone(),
        }
    }

    /// `GET /session/{id}/webhooks/`: the session's delivery log (404 for another
    /// application's session, like every read).
    pub async fn session_deliveries(
        &self,
        app: &Application,
        id: &str,
    ) -> Result<Vec<DeliveryRow>, ApiError> {
        let s = self.load(app, id).await?;
        Ok(self.store.deliveries_for_session(&app.id, &s.id).await?)
    }

    /// `POST /webhook/destinations/{uuid}/deliveries/{delivery_uuid}/resend/` (§2.1): the stored
    /// payload goes through the outbox again, due now with a fresh retry budget; the sender
    /// signs it at send time like any delivery, so it carries a fresh timestamp. The delivery
    /// must be this application's and belong to that destination, else 404 and nothing changes.
    pub async fn resend_delivery(
        &self,
        app: &Application,
        destination_id: &str,
        delivery_id: &str,
    ) -> Result<HttpResponse, ApiError> {
        if !app.webhooks.iter().any(|d| d.id == destination_id) {
            return Err(ApiError::NotFound);
        }
        let mut row = self
            .store
            .get_delivery(&app.id, delivery_id)
            .await?
            .filter(|r| r.destination_id == destination_id)
            .ok_or(ApiError::NotFound)?;
        let now = self.clock.now();
        self.store
            .commit(&[Write::RequeueDelivery {
                application_id: app.id.clone(),
                id: row.id.clone(),
                now,
            }])
            .await?;
        (row.status, row.attempt, row.next_attempt_at, row.updated_at) =
            (DeliveryStatus::Pending, 0, now, now);
        Ok(HttpResponse::json(
            200,
            crate::deliveries::delivery_json(&row),
        ))
    }

    /// Takes up to `limit` due outbox rows for this sender, leased for `LEASE_SECONDS`; sign
    /// each with `deliveries::sign_for_send` at send time and report with the claim's id.
    pub async fn claim_deliveries(
        &self,
        limit: u32,
    ) -> Result<(Claim, Vec<DeliveryRow>), ApiError> {
        let now = self.clock.now();
        let claim = Claim {
            id: self.ids.uuid()?,
            lease_until: now + LEASE_SECONDS,
        };
        let rows = self.store.claim_due_deliveries(now, &claim, limit).await?;
        Ok((claim, rows))
    }

    /// Records one send of a claimed row and schedules the retry, if any. `latency_ms` is
    /// how long the sender waited for the answer (measured where it sends; `None` when it
    /// sent nothing). `None` when the lease was lost meanwhile (another sender owns the row
    /// now; its result counts).
    pub async fn record_delivery_result(
        &self,
        claim_id: &str,
        row: &DeliveryRow,
        result: SendResult,
        latency_ms: Option<u32>,
    ) -> Result<Option<DeliveryRow>, ApiError> {
        let mut next = apply_result(row, result, self.clock.now());
        crate::deliveries::log_attempt(&mut next, latency_ms);
        Ok(self
            .store
            .finish_delivery(&next, claim_id)
            .await?
            .then_some(next))
    }

    /// A claimed delivery whose destination disappeared: give up on it.
    pub async fn abandon_delivery(
        &self,
        claim_id: &str,
        row: &DeliveryRow,
    ) -> Result<(), ApiError> {
        let mut row = row.clone();
        row.status = DeliveryStatus::Failed;
        row.last_response = Some("destination removed".into());
        row.updated_at = self.clock.now();
        self.store.finish_delivery(&row, claim_id).await?;
        Ok(())
    }
}
