//! The application service: endpoint logic over the injected ports.

use facegate_pipeline::challenge::{self, Challenge};
use facegate_pipeline::decide::{verdict, Warning};
use facegate_pipeline::{CheckStatus, Embedding, FaceMatch, LivenessCheck};
use serde_json::{json, Value};

use crate::cipher::{open_embedding, seal_embedding, session_aad, template_aad, TemplateCipher};
use crate::deliveries::{apply_result, SendResult};
use crate::error::{ApiError, FieldErrors};
use crate::render::{self, Urls};
use crate::routes::{Directory, HttpResponse};
use crate::state::{expiry_status, transition, Event};
use crate::store::{Clock, Ids, Store, StoreError};
use crate::types::{
    Application, DeliveryRow, DeliveryStatus, Feature, ReferenceSource, ResubmitNode, Review,
    Session, SessionStatus, TemplateRow, Workflow, WorkflowType, FACE_MATCH_NODE, LIVENESS_NODE,
};
use crate::validate::{
    parse_batch_delete, parse_create, parse_list, parse_update_status, CreateRequest, ManualStatus,
    PortraitImage,
};

pub const MSG_NO_STORED_FACE: &str = "No stored face image was found for this user. Provide portrait_image or complete an enrolment session for this vendor_data first.";
pub const MSG_NO_FACE_IN_PORTRAIT: &str = "No face could be detected in portrait_image.";
pub const STATUS_UPDATED: &str = "status.updated";

const SLOT_REFERENCE: &str = "reference";
const SLOT_PENDING: &str = "pending";
/// Expired sessions handled per sweep; the cron trigger calls again for the rest.
const SWEEP_BATCH: u32 = 100;

/// What `begin_capture` hands the adapter for running the pipeline.
#[derive(Debug, Clone)]
pub struct CaptureContext {
    pub application: Application,
    pub session: Session,
    pub workflow: Workflow,
    /// Decrypted reference for face match; `None` → the pipeline emits NO_REFERENCE_IMAGE.
    pub reference: Option<Embedding>,
    /// `source_image_session_id` of the face-match item.
    pub reference_session_id: Option<String>,
    /// The challenge last issued for this session (active liveness methods only); the
    /// capture must answer this one.
    pub challenge: Option<Challenge>,
}

/// The pipeline's result for one selfie. Deliberately has no place for image bytes.
#[derive(Debug, Clone)]
pub struct CaptureOutcome {
    pub liveness: LivenessCheck,
    pub face_match: Option<FaceMatch>,
    /// The selfie's embedding; kept (encrypted) only when a kyc capture enrols.
    pub embedding: Option<Embedding>,
    /// Client-side precheck figures, if the hosted page ran one. Not stored.
    pub precheck: Option<Value>,
}

#[derive(Debug, Clone)]
pub struct CaptureResult {
    pub session: Session,
    /// Declined but captures remain: the hosted page should offer a recapture.
    pub retry: bool,
    pub attempts_left: u32,
    /// Where to send the browser now (callback with Didit's query parameters).
    pub redirect: Option<String>,
    /// A fresh challenge for the recapture, when `retry` on an active-liveness workflow.
    pub challenge: Option<Challenge>,
}

impl CaptureResult {
    /// JSON for the hosted page (not a Didit endpoint).
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "session_id": self.session.id,
            "status": self.session.status,
            "retry": self.retry,
            "attempts_left": self.attempts_left,
            "callback_url": self.redirect,
        });
        if let Some(c) = &self.challenge {
            v["challenge"] = json!(c);
        }
        v
    }
}

pub struct Service<S, C, I, K> {
    pub store: S,
    pub clock: C,
    pub ids: I,
    pub cipher: K,
    pub urls: Urls,
}

fn default_nodes(wf: Option<&Workflow>) -> Vec<ResubmitNode> {
    let features = wf.map_or(vec![Feature::Liveness], Workflow::features);
    features
        .into_iter()
        .map(|f| ResubmitNode {
            node_id: match f {
                Feature::Liveness => LIVENESS_NODE,
                Feature::FaceMatch => FACE_MATCH_NODE,
            }
            .into(),
            feature: Some(f.as_str().into()),
        })
        .collect()
}

/// Image data must never reach storage: the adapter may only put URLs in these fields.
fn strip_inline_images(l: &mut LivenessCheck, m: Option<&mut FaceMatch>) {
    let scrub = |f: &mut Option<String>| {
        if f.as_deref()
            .is_some_and(|u| !u.starts_with("https://") && !u.starts_with("http://"))
        {
            *f = None;
        }
    };
    scrub(&mut l.reference_image);
    scrub(&mut l.video_url);
    if let Some(m) = m {
        scrub(&mut m.source_image);
        scrub(&mut m.target_image);
    }
}

impl<S: Store, C: Clock, I: Ids, K: TemplateCipher> Service<S, C, I, K> {
    // ---------------------------------------------------------------- create

    /// `POST /session/` from the raw body. `analyse` runs the pipeline on a decoded
    /// `portrait_image` and returns its embedding (`None`: no usable face).
    pub async fn create(
        &self,
        app: &Application,
        body: &[u8],
        analyse: impl FnOnce(&PortraitImage) -> Option<Embedding>,
    ) -> Result<HttpResponse, ApiError> {
        let req = parse_create(app, body)?;
        let needs_portrait = app
            .workflow(&req.workflow_id)
            .is_some_and(|w| w.has(Feature::FaceMatch));
        let embedding =
            match (&req.portrait, needs_portrait) {
                (Some(p), true) => Some(analyse(p).ok_or_else(|| {
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
                        Some(self.seal_session(app, &next.id, SLOT_REFERENCE, e));
                }
                next.updated_at = now;
                next.version = existing.version + 1;
                self.store.update_session(&next, existing.version).await?;
                return Ok(HttpResponse::json(201, render::create(&next, &self.urls)));
            }
        }

        let id = self.ids.uuid();
        let number = self.store.next_session_number(&app.id).await?;
        let reference_template = portrait_embedding
            .as_ref()
            .map(|e| self.seal_session(app, &id, SLOT_REFERENCE, e));
        let session = Session {
            id,
            application_id: app.id.clone(),
            number,
            token: self.ids.token(),
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
            expires_at: now + app.settings.session_expiry_seconds,
            liveness_checks: Vec::new(),
            face_matches: Vec::new(),
            reference,
            reference_template,
            pending_template: None,
            attempts: 0,
            resubmit_nodes: None,
            reviews: Vec::new(),
            version: 1,
        };
        self.store.insert_session(&session).await?;
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

    fn seal_session(
        &self,
        app: &Application,
        session_id: &str,
        slot: &str,
        e: &Embedding,
    ) -> Vec<u8> {
        seal_embedding(
            &self.cipher,
            e,
            &session_aad(&app.id, session_id, slot),
            self.ids.nonce(),
        )
    }

    // ---------------------------------------------------------------- reads

    /// Loads a session, first settling an overdue deadline so reads never show a stale
    /// "Not Started" for a session that can no longer be completed.
    async fn load(&self, app: &Application, id: &str) -> Result<Session, ApiError> {
        let s = self
            .store
            .get_session(&app.id, id)
            .await?
            .ok_or(ApiError::NotFound)?;
        self.settle_expiry(app, s).await
    }

    async fn settle_expiry(&self, app: &Application, s: Session) -> Result<Session, ApiError> {
        let now = self.clock.now();
        if now < s.expires_at || expiry_status(s.status).is_none() {
            return Ok(s);
        }
        let next = transition(&s, &Event::Expire, now)?;
        match self.store.update_session(&next, s.version).await {
            Ok(()) => {
                self.enqueue_status(app, &next).await?;
                Ok(next)
            }
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
        let wf = app.workflow(&s.workflow_id);
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
            .map(|s| render::list_row(s, app.workflow(&s.workflow_id), &self.urls))
            .collect();
        Ok(HttpResponse::json(
            200,
            render::list_page(count, rows, &q, &self.urls),
        ))
    }

    // ---------------------------------------------------------------- writes

    pub async fn update_status(
        &self,
        app: &Application,
        id: &str,
        body: &[u8],
    ) -> Result<HttpResponse, ApiError> {
        let req = parse_update_status(body)?;
        let s = self.load(app, id).await?;
        let now = self.clock.now();
        let wf = app.workflow(&s.workflow_id);
        let event = Event::Manual {
            to: req.new_status,
            nodes: req
                .nodes_to_resubmit
                .clone()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| default_nodes(wf)),
            expires_at: now + app.settings.session_expiry_seconds,
        };
        let mut next = transition(&s, &event, now)?;
        if next.version == s.version {
            return Ok(HttpResponse::json(200, render::update_status(&s)));
        }
        next.reviews.push(Review {
            id: self.ids.uuid(),
            action: match req.new_status {
                ManualStatus::Resubmitted => "resubmit",
                _ => "status_change",
            }
            .into(),
            old_status: s.status,
            new_status: next.status,
            note: req.comment.clone(),
            created_at: now,
        });
        let is_kyc = wf.is_some_and(|w| w.workflow_type == WorkflowType::Kyc);
        let enrol = match (req.new_status, next.pending_template.take()) {
            (ManualStatus::Approved, Some(blob)) if is_kyc => Some(blob),
            _ => None,
        };
        self.store.update_session(&next, s.version).await?;
        if let (Some(blob), Some(vendor)) = (enrol, next.vendor_data.as_deref()) {
            let e = open_embedding(
                &self.cipher,
                &blob,
                &session_aad(&app.id, &next.id, SLOT_PENDING),
            )
            .map_err(|e| ApiError::Internal(e.to_string()))?;
            self.enrol(app, vendor, &next.id, &e, now).await?;
        }
        if is_kyc && next.status != SessionStatus::Approved {
            // A reviewer overturning an approval withdraws the face it enrolled.
            self.store
                .delete_templates_from_session(&app.id, &next.id)
                .await?;
        }
        if next.status != s.status {
            self.enqueue_status(app, &next).await?;
        }
        Ok(HttpResponse::json(200, render::update_status(&next)))
    }

    async fn enrol(
        &self,
        app: &Application,
        vendor_data: &str,
        session_id: &str,
        e: &Embedding,
        now: i64,
    ) -> Result<(), ApiError> {
        let blob = seal_embedding(
            &self.cipher,
            e,
            &template_aad(&app.id, vendor_data),
            self.ids.nonce(),
        );
        self.store
            .put_template(&TemplateRow {
                application_id: app.id.clone(),
                vendor_data: vendor_data.to_owned(),
                source_session_id: session_id.to_owned(),
                blob,
                created_at: now,
            })
            .await?;
        Ok(())
    }

    async fn erase(&self, app: &Application, id: &str) -> Result<bool, ApiError> {
        let existed = self.store.delete_session(&app.id, id).await?;
        if existed {
            self.store.delete_challenge(id).await?;
        }
        self.store
            .delete_templates_from_session(&app.id, id)
            .await?;
        self.store.delete_deliveries_for_session(id).await?;
        Ok(existed)
    }

    /// `DELETE /session/{id}/delete/` → 204. Removes the session, any face template it
    /// enrolled, and its queued webhooks.
    pub async fn delete(&self, app: &Application, id: &str) -> Result<HttpResponse, ApiError> {
        if !self.erase(app, id).await? {
            return Err(ApiError::NotFound);
        }
        Ok(HttpResponse::no_content())
    }

    /// `POST /sessions/delete/` → 204.
    pub async fn batch_delete(
        &self,
        app: &Application,
        body: &[u8],
    ) -> Result<HttpResponse, ApiError> {
        let req = parse_batch_delete(body)?;
        let numbers = (!req.delete_all).then_some(req.session_numbers.as_slice());
        for id in self.store.session_ids(&app.id, numbers).await? {
            self.erase(app, &id).await?;
        }
        Ok(HttpResponse::no_content())
    }

    /// Forget a user: every session with that vendor_data and the enrolled template.
    /// Returns how many sessions were removed.
    pub async fn delete_user_data(
        &self,
        app: &Application,
        vendor_data: &str,
    ) -> Result<u64, ApiError> {
        let sessions = self
            .store
            .sessions_for_vendor_data(&app.id, vendor_data)
            .await?;
        for s in &sessions {
            self.erase(app, &s.id).await?;
        }
        self.store.delete_template(&app.id, vendor_data).await?;
        Ok(sessions.len() as u64)
    }

    /// Deletes sessions older than the application's retention. Returns how many.
    pub async fn purge_retention(&self, app: &Application) -> Result<u64, ApiError> {
        let Some(days) = app.settings.retention_days else {
            return Ok(0);
        };
        let cutoff = self.clock.now() - i64::from(days) * 86_400;
        let ids = self.store.sessions_created_before(&app.id, cutoff).await?;
        for id in &ids {
            self.erase(app, id).await?;
        }
        Ok(ids.len() as u64)
    }

    // ---------------------------------------------------------------- capture

    /// `GET /hosted/v1/{token}`: what the page needs before it opens the camera. A read only:
    /// a desktop page polls it while the selfie is taken on a phone.
    pub async fn hosted_summary<D: Directory + ?Sized>(
        &self,
        apps: &D,
        token: &str,
    ) -> Result<Value, ApiError> {
        let (s, wf) = self.session_by_token(apps, token).await?;
        let allowed_origins = apps
            .application(&s.application_id)
            .and_then(|app| app.settings.allowed_origins.clone());
        let mut summary = json!({
            "session_id": s.id,
            "status": s.status,
            "callback": s.callback,
            // Which device returns to the integrator when the selfie is taken on a phone.
            "callback_method": s.callback_method,
            "callback_url": render::callback_redirect(&s),
            "language": s.language,
            "liveness_method": wf.map(|wf| wf.liveness_method).unwrap_or_default(),
        });
        // Where the page may post its events; absent: any embedding origin.
        if let Some(origins) = allowed_origins {
            summary["allowed_origins"] = json!(origins);
        }
        Ok(summary)
    }

    /// `POST /hosted/v1/{token}/challenge`: a new challenge for an active-liveness session,
    /// replacing any earlier one. The page asks once the face is in place, so that the sequence
    /// is known as briefly as possible before the frames must show it.
    pub async fn hosted_challenge<D: Directory + ?Sized>(
        &self,
        apps: &D,
        token: &str,
    ) -> Result<Value, ApiError> {
        let (s, wf) = self.session_by_token(apps, token).await?;
        let wf = wf.ok_or_else(|| {
            ApiError::Conflict("The workflow of this session is no longer available.".into())
        })?;
        if self.clock.now() >= s.expires_at {
            return Err(ApiError::Gone("This session has expired.".into()));
        }
        if !s.status.is_unfinished() {
            return Err(ApiError::Conflict(
                "This session is already finished.".into(),
            ));
        }
        let challenge = self.issue_challenge(&s, wf).await?.ok_or_else(|| {
            ApiError::Conflict(
                "This session's workflow uses passive liveness: no challenge.".into(),
            )
        })?;
        Ok(json!(challenge))
    }

    /// The session a hosted-page token names (404 if none), and its workflow while the
    /// application still configures it.
    async fn session_by_token<'a, D: Directory + ?Sized>(
        &self,
        apps: &'a D,
        token: &str,
    ) -> Result<(Session, Option<&'a Workflow>), ApiError> {
        let s = self
            .store
            .get_session_by_token(token)
            .await?
            .ok_or(ApiError::NotFound)?;
        let wf = apps
            .application(&s.application_id)
            .and_then(|app| app.workflow(&s.workflow_id));
        Ok((s, wf))
    }

    /// Draws and stores a new challenge for an active-liveness workflow (`None` for PASSIVE).
    async fn issue_challenge(
        &self,
        s: &Session,
        wf: &Workflow,
    ) -> Result<Option<Challenge>, ApiError> {
        let Some(c) = challenge::choose(wf.liveness_method, self.ids.uuid(), &mut |n| {
            self.ids.below(n)
        }) else {
            return Ok(None);
        };
        self.store
            .put_challenge(&s.id, &c, self.clock.now())
            .await?;
        Ok(Some(c))
    }

    /// The hosted page opened the session: marks it In Progress and returns what the
    /// pipeline needs. Refuses decided (409), expired (410) and unknown (404) tokens.
    pub async fn begin_capture<D: Directory + ?Sized>(
        &self,
        apps: &D,
        token: &str,
    ) -> Result<CaptureContext, ApiError> {
        let s = self
            .store
            .get_session_by_token(token)
            .await?
            .ok_or(ApiError::NotFound)?;
        let app = apps
            .application(&s.application_id)
            .ok_or(ApiError::NotFound)?;
        let s = self.settle_expiry(app, s).await?;
        let wf = app.workflow(&s.workflow_id).ok_or_else(|| {
            ApiError::Conflict("The workflow of this session is no longer available.".into())
        })?;
        let now = self.clock.now();
        let next = transition(&s, &Event::Start, now)?;
        if next.version != s.version {
            self.store.update_session(&next, s.version).await?;
            self.enqueue_status(app, &next).await?;
        }
        let (reference, reference_session_id) = if wf.has(Feature::FaceMatch) {
            self.reference_of(app, &next).await?
        } else {
            (None, None)
        };
        let challenge = if wf.liveness_method.is_active() {
            self.store.get_challenge(&next.id).await?
        } else {
            None
        };
        Ok(CaptureContext {
            application: app.clone(),
            session: next,
            workflow: wf.clone(),
            reference,
            reference_session_id,
            challenge,
        })
    }

    async fn reference_of(
        &self,
        app: &Application,
        s: &Session,
    ) -> Result<(Option<Embedding>, Option<String>), ApiError> {
        let internal = |e: crate::cipher::CipherError| ApiError::Internal(e.to_string());
        match &s.reference {
            ReferenceSource::None => Ok((None, None)),
            ReferenceSource::Portrait => match &s.reference_template {
                Some(blob) => {
                    let aad = session_aad(&app.id, &s.id, SLOT_REFERENCE);
                    Ok((
                        Some(open_embedding(&self.cipher, blob, &aad).map_err(internal)?),
                        Some(s.id.clone()),
                    ))
                }
                None => Ok((None, None)),
            },
            // The template is read now, not at create: a re-enrolment in between wins, and a
            // deleted one yields NO_REFERENCE_IMAGE rather than a stale face.
            ReferenceSource::Stored { .. } => {
                let Some(vendor) = s.vendor_data.as_deref() else {
                    return Ok((None, None));
                };
                match self.store.get_template(&app.id, vendor).await? {
                    Some(t) => {
                        let aad = template_aad(&app.id, vendor);
                        Ok((
                            Some(open_embedding(&self.cipher, &t.blob, &aad).map_err(internal)?),
                            Some(t.source_session_id),
                        ))
                    }
                    None => Ok((None, None)),
                }
            }
        }
    }

    /// Stores the pipeline's items, moves the session on with `decide::verdict`, enrols a
    /// kyc face, and queues webhooks. A concurrent capture that finished first → 409.
    pub async fn finish_capture(
        &self,
        ctx: CaptureContext,
        outcome: CaptureOutcome,
    ) -> Result<CaptureResult, ApiError> {
        let CaptureContext {
            application: app,
            session: s,
            workflow: wf,
            reference_session_id,
            ..
        } = ctx;
        let now = self.clock.now();
        let mut liveness = outcome.liveness;
        let mut face_match = if wf.has(Feature::FaceMatch) {
            Some(outcome.face_match.ok_or_else(|| {
                ApiError::Internal("face-match workflow finished without a face-match item".into())
            })?)
        } else {
            None
        };
        strip_inline_images(&mut liveness, face_match.as_mut());
        if let Some(m) = face_match.as_mut() {
            m.source_image_session_id = reference_session_id;
        }
        let v = verdict(std::slice::from_ref(&liveness), face_match.as_slice());
        let mut next = transition(
            &s,
            &Event::Captured {
                verdict: v,
                max_attempts: wf.max_attempts.max(1),
            },
            now,
        )?;
        if let Some(m) = face_match.as_mut() {
            if next.status == SessionStatus::Declined
                && wf.max_attempts > 1
                && m.status == CheckStatus::Declined
            {
                m.warnings.push(Warning {
                    feature: "FACEMATCH".into(),
                    risk: "FACE_MATCH_MAX_ATTEMPTS_EXCEEDED".into(),
                    additional_data: Some(json!({ "attempts": next.attempts })),
                    log_type: "error".into(),
                    short_description: "Face match attempts exhausted".into(),
                    long_description: "The user used every allowed face capture without a match."
                        .into(),
                    node_id: m.node_id.clone(),
                });
            }
        }
        next.liveness_checks = vec![liveness];
        next.face_matches = face_match.into_iter().collect();
        next.resubmit_nodes = None;

        let is_kyc = wf.workflow_type == WorkflowType::Kyc;
        let enrol_now = is_kyc && next.status == SessionStatus::Approved;
        next.pending_template = match (&outcome.embedding, is_kyc, next.status) {
            (Some(e), true, SessionStatus::InReview) => {
                Some(self.seal_session(&app, &next.id, SLOT_PENDING, e))
            }
            _ => None,
        };
        self.store.update_session(&next, s.version).await?;
        if let (true, Some(e), Some(vendor)) =
            (enrol_now, &outcome.embedding, next.vendor_data.as_deref())
        {
            self.enrol(&app, vendor, &next.id, e, now).await?;
        }
        if next.status != s.status {
            self.enqueue_status(&app, &next).await?;
        }
        let retry = next.status == SessionStatus::InProgress;
        // A challenge answers one capture: replaying its frames must not pass again.
        let challenge = if wf.liveness_method.is_active() {
            self.store.delete_challenge(&next.id).await?;
            if retry {
                self.issue_challenge(&next, &wf).await?
            } else {
                None
            }
        } else {
            None
        };
        Ok(CaptureResult {
            challenge,
            attempts_left: if retry {
                wf.max_attempts.saturating_sub(next.attempts)
            } else {
                0
            },
            redirect: if retry {
                None
            } else {
                render::callback_redirect(&next)
            },
            retry,
            session: next,
        })
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

    /// One `status.updated` event, one outbox row per subscribed destination.
    async fn enqueue_status(&self, app: &Application, s: &Session) -> Result<(), ApiError> {
        let destinations: Vec<_> = app
            .webhooks
            .iter()
            .filter(|d| d.wants(STATUS_UPDATED))
            .collect();
        if destinations.is_empty() {
            return Ok(());
        }
        let now = self.clock.now();
        let event_id = self.ids.uuid();
        let payload = render::status_webhook(
            &event_id,
            app,
            s,
            app.workflow(&s.workflow_id),
            &self.urls,
            now,
        );
        for d in destinations {
            self.store
                .insert_delivery(&DeliveryRow {
                    id: self.ids.uuid(),
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
                })
                .await?;
        }
        Ok(())
    }

    /// Outbox rows to send now; sign each with `deliveries::sign_for_send` at send time.
    pub async fn deliveries_due(&self, limit: u32) -> Result<Vec<DeliveryRow>, ApiError> {
        Ok(self.store.due_deliveries(self.clock.now(), limit).await?)
    }

    /// Records one send and schedules the retry, if any.
    pub async fn record_delivery_result(
        &self,
        delivery_id: &str,
        result: SendResult,
    ) -> Result<DeliveryRow, ApiError> {
        let row = self
            .store
            .get_delivery(delivery_id)
            .await?
            .ok_or(ApiError::NotFound)?;
        if row.status != DeliveryStatus::Pending {
            return Ok(row);
        }
        let next = apply_result(&row, result, self.clock.now());
        self.store.update_delivery(&next).await?;
        Ok(next)
    }

    /// A delivery whose destination disappeared: give up on it.
    pub async fn abandon_delivery(&self, delivery_id: &str) -> Result<(), ApiError> {
        if let Some(mut row) = self.store.get_delivery(delivery_id).await? {
            row.status = DeliveryStatus::Failed;
            row.last_response = Some("destination removed".into());
            row.updated_at = self.clock.now();
            self.store.update_delivery(&row).await?;
        }
        Ok(())
    }
}
