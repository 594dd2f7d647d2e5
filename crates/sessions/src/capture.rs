//! A hosted-page capture, from the token to the stored decision. The adapter only measures:
//! it calls `begin_capture`, runs the pipeline on the frames, and hands the measurements to
//! `capture`; everything that decides (liveness and face-match items, the challenge's verdict,
//! a re-enrolment with another face, the session's next status) happens here, and the result
//! is stored by one atomic `commit`.

use facegate_pipeline::burst::{burst_liveness_check, BurstAnalysis};
use facegate_pipeline::challenge::active::ActiveChallenge;
use facegate_pipeline::challenge::{self, Challenge, FrameObservation, LivenessMethod};
use facegate_pipeline::config::PipelineConfig;
use facegate_pipeline::decide::{self, verdict, Effect, LivenessEvidence, Warning};
use facegate_pipeline::{Analysis, CheckStatus, Embedding, FaceMatch, LivenessCheck};
use serde_json::{json, Value};

use crate::cipher::{open_embedding, session_aad, template_aad, TemplateCipher};
use crate::error::{ApiError, FieldErrors};
use crate::escalation::escalation_for;
use crate::render;
use crate::routes::Directory;
use crate::service::{Service, SLOT_PENDING, SLOT_REFERENCE};
use crate::state::{transition, Event};
use crate::store::{ActiveRow, Clock, Ids, Store, Write};
use crate::types::{
    Application, Feature, ReferenceSource, Session, SessionStatus, Workflow, WorkflowType,
    FACE_MATCH_NODE, LIVENESS_NODE,
};
use crate::user_records::MSG_USER_BLOCKED;
use crate::visits::{stepped_up, Seen};

/// The warning on a kyc capture whose face is not the one already enrolled for its user.
pub const RISK_ENROLLED_FACE_MISMATCH: &str = "ENROLLED_FACE_MISMATCH";

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
    /// An ACTIVE_3D workflow's challenge in progress (opened; `None` if spent or expired),
    /// whose stored steps decide instead of client-labelled frames, and its row.
    pub active: Option<ActiveChallenge>,
    pub active_row: Option<ActiveRow>,
    /// Kyc only: the face already enrolled for this vendor_data by another session, and that
    /// session's id. A capture enrolling a different face must not silently replace it.
    pub enrolled: Option<(Embedding, String)>,
    /// The frame the capture is decided on, as sent: kept (sealed) only when the application
    /// retains images. The adapter sets it once it knows which frame that is.
    pub image: Option<Vec<u8>>,
    /// The application's faces for the 1:N checks (face blocklist, duplicates), set by the
    /// adapter from its cache (`lists::faces`); `None` skips them.
    pub faces: Option<std::sync::Arc<crate::lists::faces::FaceGallery>>,
}

/// What the page sent for a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureKind {
    /// 5-8 frames of the steady moment (`burst`): how a passive workflow is answered.
    Burst,
    /// The frames filmed while a challenge ran (`frames`, `steps`, `challenge_id`).
    Challenge,
    /// One picture (`frame`).
    SingleFrame,
}

impl CaptureContext {
    /// Refuses a capture of the wrong kind for this workflow (400, before any frame is decoded,
    /// so no attempt is spent). A passive workflow is decided from a burst, an active one from
    /// its challenge's frames: one picture is the weakest liveness evidence there is (see
    /// crates/pipeline/CALIBRATION.md) and a replayed or edited photo answers it, so single
    /// images are taken only by the standalone `/v3/passive-liveness/`.
    /// While a challenge asked for by escalation is outstanding, a passive workflow takes only
    /// that challenge's frames: another burst would skip it.
    pub fn expect(&self, sent: CaptureKind) -> Result<(), ApiError> {
        let method = self
            .challenge_method()
            .unwrap_or(self.workflow.liveness_method);
        match (method.is_active(), sent) {
            (false, CaptureKind::Burst) | (true, CaptureKind::Challenge) => Ok(()),
            (false, _) => Err(FieldErrors::single(
                "burst",
                "This workflow uses passive liveness: send 5 to 8 frames of the steady moment, each in a `burst` field (one picture alone is not accepted here; /v3/passive-liveness/ takes single images).",
            )),
            (true, _) => Err(FieldErrors::single(
                "frames",
                format!(
                    "This workflow uses {}: answer its challenge with `frames`, `steps` and `challenge_id`.",
                    method.as_wire()
                ),
            )),
        }
    }
}

impl CaptureContext {
    /// The active method this capture must answer: the workflow's, or on a passive workflow
    /// the one escalation asked for (its challenge is outstanding); `None` for a passive capture.
    pub fn challenge_method(&self) -> Option<LivenessMethod> {
        if self.workflow.liveness_method.is_active() {
            Some(self.workflow.liveness_method)
        } else {
            self.challenge
                .as_ref()
                .map(|c| c.method)
                .filter(|m| m.is_active())
        }
    }
}

/// What the adapter measured on one capture. Deliberately has no place for image bytes.
#[derive(Debug, Clone)]
pub struct CaptureEvidence {
    /// The pipeline's analysis of the (best) frame.
    pub analysis: Analysis,
    /// A passive capture's burst, analysed: its liveness decides instead of one frame's.
    pub burst: Option<BurstAnalysis>,
    /// The frames filmed for a challenge, with the id the page says it answered; `None` when
    /// the page sent a single frame.
    pub challenge: Option<ChallengeAnswer>,
    /// Client-side precheck figures, if the hosted page ran one. Not stored.
    pub precheck: Option<Value>,
}

#[derive(Debug, Clone)]
pub struct ChallengeAnswer {
    pub challenge_id: String,
    pub frames: Vec<FrameObservation>,
}

/// The decision items of one capture, before they are folded into the session.
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
    /// A fresh challenge for the recapture, when `retry` on an active-liveness workflow, or the
    /// challenge escalation asks for.
    pub challenge: Option<Challenge>,
    /// The passive capture was borderline and not decided: answer `challenge` instead. Cost
    /// no attempt.
    pub escalated: bool,
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
        if self.escalated {
            v["escalated"] = json!(true);
        }
        v
    }
}

/// The decision items of a measured capture: passive liveness on the best frame, the
/// challenge's verdict folded in when the workflow asks for one (a single frame answers no
/// challenge), the face match against the reference, and the re-enrolment check.
pub fn decide(
    ctx: &CaptureContext,
    evidence: CaptureEvidence,
    config: &PipelineConfig,
) -> CaptureOutcome {
    let wf = &ctx.workflow;
    let policy = wf.policy();
    let cal = &config.calibration;
    let analysis = &evidence.analysis;
    let fusion = config.fusion_in_force();
    let mut liveness = match &evidence.burst {
        Some(burst) => {
            let mut check = burst_liveness_check(LIVENESS_NODE, burst, config, &policy);
            check.evidence = burst.evidence(fusion.as_ref());
            check
        }
        None => {
            let mut check = decide::liveness_check(
                LIVENESS_NODE,
                &analysis.observation(None),
                cal,
                &policy,
                &config.quality,
            );
            check.evidence = analysis
                .subject
                .as_ref()
                .and_then(|s| s.liveness.as_ref())
                .map(|l| LivenessEvidence::from_score(l, fusion.as_ref()));
            check
        }
    };
    if let Some(method) = ctx.challenge_method() {
        let answer = evidence.challenge.as_ref();
        let result = if steps_by_server(wf) {
            crate::active::verify_capture(
                ctx.active.as_ref(),
                answer.map(|a| a.challenge_id.as_str()),
                analysis.subject.as_ref().and_then(|s| s.embedding.as_ref()),
                &config.challenge,
                config.burst.same_person_cosine,
            )
        } else {
            challenge::verify(
                ctx.challenge.as_ref(),
                answer.map(|a| a.challenge_id.as_str()),
                answer.map_or(&[][..], |a| &a.frames),
                &config.challenge,
            )
        };
        challenge::apply(
            &mut liveness,
            method,
            answer.map(|a| a.challenge_id.as_str()),
            &result,
        );
    }
    let face_match = wf.has(Feature::FaceMatch).then(|| {
        decide::face_match(
            FACE_MATCH_NODE,
            &analysis.observation(ctx.reference.as_ref()),
            ctx.reference.is_some(),
            cal,
            &policy,
        )
    });
    let embedding = analysis.subject.as_ref().and_then(|s| s.embedding.clone());
    if let (Some((enrolled, enrolled_session)), Some(e)) = (&ctx.enrolled, &embedding) {
        let score = cal.match_score(e.cosine(enrolled));
        if score <= f64::from(policy.face_match_review_threshold) {
            flag_face_change(&mut liveness, wf.on_face_change, enrolled_session, score);
        }
    }
    if let (Some(g), Some(e)) = (&ctx.faces, &embedding) {
        let duplicates = match wf.duplicate_face_action {
            Some(_) => g.duplicates(e, ctx.session.vendor_data.as_deref()),
            None => Vec::new(),
        };
        let on_duplicate = match wf.duplicate_face_action {
            Some(Effect::Decline) => CheckStatus::Declined,
            Some(Effect::Review) => CheckStatus::InReview,
            _ => CheckStatus::Approved,
        };
        crate::lists::faces::apply_face_checks(
            &mut liveness,
            &g.blocklisted(e),
            &duplicates,
            on_duplicate,
            |c| cal.match_score(c),
        );
    }
    CaptureOutcome {
        liveness,
        face_match,
        embedding,
        precheck: evidence.precheck,
    }
}

/// An ACTIVE_3D workflow is answered step by step (`active.rs`); escalation never asks for
/// ACTIVE_3D (see `capture`), so no client-labelled head turns are taken.
pub(crate) fn steps_by_server(wf: &Workflow) -> bool {
    wf.liveness_method == LivenessMethod::Active3d
}

/// A kyc capture of a face other than the enrolled one: the workflow's effect (In Review by
/// default) with a warning saying why, so a reviewer decides whether the user's face changes.
fn flag_face_change(check: &mut LivenessCheck, effect: Effect, enrolled_session: &str, score: f64) {
    let status = match effect {
        Effect::Approve => CheckStatus::Approved,
        Effect::Review => CheckStatus::InReview,
        Effect::Decline => CheckStatus::Declined,
    };
    // The worse of the two, ranked as `decide::verdict` ranks a session's checks.
    let mut flagged = check.clone();
    flagged.status = status;
    check.status = verdict(&[check.clone(), flagged], &[]);
    check.warnings.push(Warning {
        feature: "LIVENESS".into(),
        risk: RISK_ENROLLED_FACE_MISMATCH.into(),
        additional_data: Some(json!({
            "enrolled_session_id": enrolled_session,
            "similarity_score": score,
        })),
        log_type: if status == CheckStatus::Declined {
            "error"
        } else {
            "warning"
        }
        .into(),
        short_description: "Face differs from the enrolled face".into(),
        long_description: "This user already has an enrolled face, and the selfie does not match it: the enrolled face is kept unless a reviewer approves this session.".into(),
        node_id: check.node_id.clone(),
    });
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
    /// The hosted page opened the session: marks it In Progress and returns what the
    /// pipeline needs. Refuses decided (409), expired (410) and unknown (404) tokens.
    /// `seen` is this request's network and device: with IP analysis on, the capture is judged
    /// as a visit of its own, so the page that read the summary from a clean address can't send
    /// its frames from a risky one under the lighter method. (`None`: recording a refusal.)
    pub async fn begin_capture<D: Directory + ?Sized>(
        &self,
        apps: &D,
        token: &str,
        seen: Option<&Seen>,
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
        let base = app.workflow_of(&s).ok_or_else(|| {
            ApiError::Conflict("The workflow of this session is no longer available.".into())
        })?;
        let s = match seen {
            Some(seen) => self.observe_visit(app, base, s, seen).await?,
            None => s,
        };
        let wf = &stepped_up(base, &s);
        if self.is_blocked(&app.id, s.vendor_data.as_deref()).await? {
            return Err(ApiError::Conflict(MSG_USER_BLOCKED.into()));
        }
        let now = self.clock.now();
        let next = transition(&s, &Event::Start, now)?;
        if next.version != s.version {
            let mut writes = vec![Write::UpdateSession {
                session: next.clone(),
                expected_version: s.version,
            }];
            self.enqueue_status(app, &next, &mut writes)?;
            self.store.commit(&writes).await?;
        }
        let (reference, reference_session_id) = if wf.has(Feature::FaceMatch) {
            self.reference_of(app, &next).await?
        } else {
            (None, None)
        };
        let challenge = if wf.liveness_method.is_active() || wf.liveness_escalation.enabled {
            self.store.get_challenge(&app.id, &next.id).await?
        } else {
            None
        };
        let (active, active_row) = if steps_by_server(wf) {
            self.current_active(&next).await?
        } else {
            (None, None)
        };
        let enrolled = match (wf.workflow_type, next.vendor_data.as_deref()) {
            (WorkflowType::Kyc, Some(vendor)) => self
                .enrolled_face(app, vendor)
                .await?
                .filter(|(_, source)| *source != next.id),
            _ => None,
        };
        Ok(CaptureContext {
            application: app.clone(),
            session: next,
            workflow: wf.clone(),
            reference,
            reference_session_id,
            challenge,
            active,
            active_row,
            enrolled,
            image: None,
            faces: None,
        })
    }

    async fn enrolled_face(
        &self,
        app: &Application,
        vendor: &str,
    ) -> Result<Option<(Embedding, String)>, ApiError> {
        let Some(t) = self.store.get_template(&app.id, vendor).await? else {
            return Ok(None);
        };
        let e = open_embedding(&self.cipher, &t.blob, &template_aad(&app.id, vendor))
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(Some((e, t.source_session_id)))
    }

    async fn reference_of(
        &self,
        app: &Application,
        s: &Session,
    ) -> Result<(Option<Embedding>, Option<String>), ApiError> {
        match &s.reference {
            ReferenceSource::None => Ok((None, None)),
            ReferenceSource::Portrait => match &s.reference_template {
                Some(blob) => {
                    let aad = session_aad(&app.id, &s.id, SLOT_REFERENCE);
                    Ok((
                        Some(
                            open_embedding(&self.cipher, blob, &aad)
                                .map_err(|e| ApiError::Internal(e.to_string()))?,
                        ),
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
                Ok(match self.enrolled_face(app, vendor).await? {
                    Some((e, source)) => (Some(e), Some(source)),
                    None => (None, None),
                })
            }
        }
    }

    /// Decides a measured capture (`decide`) and stores it (`finish_capture`).
    pub async fn capture(
        &self,
        ctx: CaptureContext,
        evidence: CaptureEvidence,
        config: &PipelineConfig,
    ) -> Result<CaptureResult, ApiError> {
        let passive = evidence.challenge.is_none();
        let outcome = decide(&ctx, evidence, config);
        if let Some(method) = passive.then(|| escalation_for(&ctx, &outcome)).flatten() {
            return self.escalate_capture(ctx, method).await;
        }
        self.finish_capture(ctx, outcome).await
    }

    /// A capture whose frame was read and refused (undecodable, too many pixels, animated,
    /// a bit depth the pipeline does not take). It is an attempt like any other, decided as a
    /// capture without a face (NO_FACE_DETECTED; a challenge goes unanswered and is spent):
    /// otherwise whoever holds a token could probe the decoder, or grind through forged
    /// frames, for free. Returns the refusal to send back, or the store's error if the attempt
    /// could not be recorded. Only input refusals are charged: a request refused before any
    /// frame was decoded never reaches `begin_capture`, and a 503 or a model fault is ours.
    pub async fn refuse_capture(
        &self,
        ctx: CaptureContext,
        refusal: ApiError,
        config: &PipelineConfig,
    ) -> ApiError {
        if !matches!(refusal, ApiError::Validation(_) | ApiError::BadRequest(_)) {
            return refusal;
        }
        let nothing = CaptureEvidence {
            analysis: Analysis {
                width: 0,
                height: 0,
                faces: Vec::new(),
                subject: None,
            },
            burst: None,
            challenge: None,
            precheck: None,
        };
        match self.capture(ctx, nothing, config).await {
            Ok(_) => refusal,
            Err(e) => e,
        }
    }

    /// Folds the decision items into the session with `decide::verdict`, and stores in one
    /// commit: the session (only if nobody changed it since `begin_capture`; else 409 and
    /// nothing is written), the enrolled template of an approved kyc capture, the webhook
    /// outbox rows, and the spent challenge (replaced by a fresh one for a recapture).
    pub async fn finish_capture(
        &self,
        mut ctx: CaptureContext,
        outcome: CaptureOutcome,
    ) -> Result<CaptureResult, ApiError> {
        let had_challenge = ctx.challenge.is_some();
        let image = ctx.image.take();
        let active_row = ctx.active_row.clone();
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
        // A blocklisted face (or a declined duplicate) is final: a recapture of the same face
        // would change nothing but let it probe the thresholds.
        let final_face = liveness
            .warnings
            .iter()
            .any(crate::lists::faces::declines_for_good);
        let mut next = transition(
            &s,
            &Event::Captured {
                verdict: v,
                max_attempts: if final_face { 1 } else { wf.max_attempts.max(1) },
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
        next.pending_template = match (&outcome.embedding, is_kyc, next.status) {
            (Some(e), true, SessionStatus::InReview) => {
                Some(self.seal_session(&app, &next.id, SLOT_PENDING, e)?)
            }
            _ => None,
        };
        let mut writes = vec![Write::UpdateSession {
            session: next.clone(),
            expected_version: s.version,
        }];
        if let (true, SessionStatus::Approved, Some(e), Some(vendor)) = (
            is_kyc,
            next.status,
            &outcome.embedding,
            next.vendor_data.as_deref(),
        ) {
            writes.push(self.enrol(&app, vendor, &next.id, e, now)?);
        }
        writes.extend(self.keep_capture(&app, &next.id, image.as_deref())?);
        // An approved capture is what makes this device and address the user's own.
        writes.extend(crate::visits::remember_writes(&next, now));
        if next.status != s.status {
            self.enqueue_status(&app, &next, &mut writes)?;
        }
        let retry = next.status == SessionStatus::InProgress;
        // A challenge answers one capture: replaying its frames must not pass again. A step-by-
        // step one is forgotten (the page asks for a new one, within the session's limits).
        let challenge = if retry && !steps_by_server(&wf) {
            self.draw_challenge(wf.liveness_method)?
        } else {
            None
        };
        if let Some(row) = active_row.as_ref().filter(|r| r.current.is_some()) {
            writes.push(self.clear_active(&next, row));
        }
        if (wf.liveness_method.is_active() && !steps_by_server(&wf)) || had_challenge {
            writes.push(match &challenge {
                Some(c) => self.put_challenge(&next, c),
                None => Write::DeleteChallenge {
                    application_id: app.id.clone(),
                    session_id: next.id.clone(),
                },
            });
        }
        self.store.commit(&writes).await?;
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
            escalated: false,
        })
    }
}
