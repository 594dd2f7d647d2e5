//! ACTIVE_3D step by step over the store. The protocol itself (what may be issued, revealed
//! and accepted, and the verdict) is pure state in `facegate_pipeline::challenge::active`; this
//! keeps that state between requests, sealed (it holds a face embedding and a face patch),
//! stamps each step's frames with the server's clock, and maps the protocol's refusals to
//! HTTP. Client labels and timestamps never reach the verdict.

use facegate_pipeline::challenge::active::{self, ActiveChallenge, IssueHistory, ProtocolError};
use facegate_pipeline::challenge::{ChallengeLimits, ChallengeResult, FrameObservation};
use facegate_pipeline::config::PipelineConfig;
use facegate_pipeline::Embedding;
use serde_json::{json, Value};

use crate::cipher::TemplateCipher;
use crate::error::{protocol_error, ApiError};
use crate::routes::Directory;
use crate::service::Service;
use crate::store::{ActiveRow, Clock, Ids, SealedActive, Store, Write};
use crate::types::Session;

/// AAD of a sealed challenge state: a blob copied to another session, application or
/// challenge fails to open.
pub fn active_aad(application_id: &str, session_id: &str, challenge_id: &str) -> Vec<u8> {
    format!("facegate/active/v1\0{application_id}\0{session_id}\0{challenge_id}").into_bytes()
}

/// A step upload checked before any frame is decoded (so what is refused here is free).
#[derive(Debug, Clone)]
pub struct StepContext {
    pub session: Session,
    pub step: usize,
    row: ActiveRow,
    state: ActiveChallenge,
}

/// The verdict on a capture of an ACTIVE_3D workflow: the stored steps (`active::verify`,
/// which also checks that one face did every step), and the capture's own face against the
/// steps', so the frames decided for passive liveness and face match are of the person who
/// followed the instructions.
pub fn verify_capture(
    state: Option<&ActiveChallenge>,
    answered: Option<&str>,
    embedding: Option<&Embedding>,
    limits: &ChallengeLimits,
    same_person_cosine: f32,
) -> ChallengeResult {
    let fail = |reason: &str| ChallengeResult {
        passed: false,
        score: 0.0,
        reasons: vec![reason.to_owned()],
        figures: Value::Null,
    };
    let Some(state) = state else {
        return fail("no ACTIVE_3D challenge was in progress for this session (never asked for, spent or expired)");
    };
    let Some(answered) = answered else {
        return fail("the capture answered no challenge");
    };
    if answered != state.id {
        return fail(
            "the capture answers another challenge than the one last issued for this session",
        );
    }
    let mut result = active::verify(state, limits);
    let steps: Vec<&Embedding> = state
        .steps
        .iter()
        .filter_map(|s| s.answer.as_ref().and_then(|a| a.identity.as_ref()))
        .collect();
    let cosine = embedding.and_then(|e| {
        steps
            .iter()
            .map(|s| e.cosine(s))
            .fold(None, |m: Option<f32>, c| Some(m.map_or(c, |m| m.min(c))))
    });
    match cosine {
        Some(c) if c >= same_person_cosine => {}
        other => {
            result.passed = false;
            result.score = result.score.min(50.0);
            result.reasons.push(match other {
                Some(c) => format!("the capture shows another face than the steps (cosine {c:.2})"),
                None => "the capture's face could not be compared with the steps'".into(),
            });
        }
    }
    if let Value::Object(f) = &mut result.figures {
        f.insert("capture_cosine".into(), json!(cosine));
    }
    result
}

impl<S: Store, C: Clock, I: Ids, K: TemplateCipher> Service<S, C, I, K> {
    /// `POST /hosted/v1/{token}/challenge` on an ACTIVE_3D workflow: a new challenge (within the
    /// session's limits), replacing any in progress, and its first step only.
    pub(crate) async fn issue_active(
        &self,
        s: &Session,
        limits: &ChallengeLimits,
    ) -> Result<Value, ApiError> {
        let now = self.clock.now_ms();
        let row = self
            .store
            .get_active(&s.application_id, &s.id)
            .await?
            .unwrap_or_default();
        let left = s.expires_at - self.clock.now();
        let refuse = |e: ProtocolError| protocol_error(e, limits, left);
        let id = self.ids.uuid()?;
        let mut failed = None;
        let mut draw = |n| {
            self.ids.below(n).unwrap_or_else(|e| {
                failed = Some(e);
                0
            })
        };
        let mut state = active::issue(id, now, row.history, &mut draw, limits).map_err(refuse)?;
        let reveal = active::reveal_next(&mut state, now, &mut draw, limits).map_err(refuse)?;
        // A sequence drawn from failed randomness would be predictable.
        if let Some(e) = failed {
            return Err(e.into());
        }
        let next = ActiveRow {
            history: IssueHistory {
                issued: row.history.issued + 1,
                last_issued_at: Some(now),
            },
            current: Some(self.seal_active(s, &state)?),
            revision: row.revision + 1,
        };
        self.store.commit(&[self.put_active(s, next)]).await?;
        Ok(json!({
            "id": state.id,
            "method": "ACTIVE_3D",
            "total_steps": state.total_steps,
            "step": reveal,
        }))
    }

    /// `POST /hosted/v1/{token}/challenge/{id}/steps/{n}` before any frame is decoded: the
    /// session may still capture, `id` is its challenge in progress and `n` the step awaiting
    /// frames. A replayed, reordered, late or foreign upload ends here, for free.
    pub async fn begin_step<D: Directory + ?Sized>(
        &self,
        apps: &D,
        token: &str,
        challenge_id: &str,
        step: &str,
        limits: &ChallengeLimits,
    ) -> Result<StepContext, ApiError> {
        let (s, _) = self.session_by_token(apps, token).await?;
        let left = s.expires_at - self.clock.now();
        if left <= 0 {
            return Err(ApiError::Gone("This session has expired.".into()));
        }
        if !s.status.is_unfinished() {
            return Err(ApiError::Conflict(
                "This session is already finished.".into(),
            ));
        }
        let step: usize = step.parse().map_err(|_| ApiError::NotFound)?;
        let row = self
            .store
            .get_active(&s.application_id, &s.id)
            .await?
            .unwrap_or_default();
        let Some(current) = row.current.as_ref().filter(|c| c.id == challenge_id) else {
            return Err(ApiError::Conflict(
                "This is not the session's challenge in progress: ask for a new one.".into(),
            ));
        };
        if self.clock.now_ms() >= current.expires_at {
            self.drop_active(&s, &row).await?;
            return Err(protocol_error(ProtocolError::Expired, limits, left));
        }
        let state = self.open_active(&s, current)?;
        let awaiting = state.steps.len().checked_sub(1);
        if awaiting != Some(step) || state.steps[step].answer.is_some() {
            return Err(protocol_error(ProtocolError::WrongStep(step), limits, left));
        }
        Ok(StepContext {
            session: s,
            step,
            row,
            state,
        })
    }

    /// Records a step's measured frames, stamped now, and reveals the next step:
    /// `{"step": Reveal}`, or `{"done": true}` once every step is answered.
    pub async fn answer_step(
        &self,
        ctx: StepContext,
        frames: &[FrameObservation],
        identity: Option<Embedding>,
        limits: &ChallengeLimits,
    ) -> Result<Value, ApiError> {
        let StepContext {
            session: s,
            step,
            row,
            mut state,
        } = ctx;
        let now = self.clock.now_ms();
        let left = s.expires_at - self.clock.now();
        if let Err(e) = active::accept_step_frames(&mut state, step, frames, identity, now, limits)
        {
            if e == ProtocolError::Expired {
                self.drop_active(&s, &row).await?;
            }
            return Err(protocol_error(e, limits, left));
        }
        let mut failed = None;
        let body = if state.steps.len() < state.total_steps {
            let mut draw = |n| {
                self.ids.below(n).unwrap_or_else(|e| {
                    failed = Some(e);
                    0
                })
            };
            let reveal = active::reveal_next(&mut state, now, &mut draw, limits)
                .map_err(|e| protocol_error(e, limits, left))?;
            json!({ "step": reveal })
        } else {
            json!({ "done": true })
        };
        if let Some(e) = failed {
            return Err(e.into());
        }
        let next = ActiveRow {
            current: Some(self.seal_active(&s, &state)?),
            revision: row.revision + 1,
            history: row.history,
        };
        // Over the revision read: of two uploads of one step, the second gets a 409.
        self.store.commit(&[self.put_active(&s, next)]).await?;
        Ok(body)
    }

    /// A step frame decoded and refused (undecodable, too large, …) is an attempt like a
    /// capture's refused frame (`refuse_capture`): the session records a capture without a
    /// face and the challenge is spent, so the decoder cannot be probed for free. Other
    /// refusals (ours, or before decoding) are returned as they are.
    pub async fn refuse_step<D: Directory + ?Sized>(
        &self,
        apps: &D,
        token: &str,
        refusal: ApiError,
        config: &PipelineConfig,
    ) -> ApiError {
        if !matches!(refusal, ApiError::Validation(_) | ApiError::BadRequest(_)) {
            return refusal;
        }
        match self.begin_capture(apps, token, None).await {
            Ok(ctx) => self.refuse_capture(ctx, refusal, config).await,
            Err(e) => e,
        }
    }

    /// The session's challenge in progress, opened, unless expired; with its row.
    pub(crate) async fn current_active(
        &self,
        s: &Session,
    ) -> Result<(Option<ActiveChallenge>, Option<ActiveRow>), ApiError> {
        let Some(row) = self.store.get_active(&s.application_id, &s.id).await? else {
            return Ok((None, None));
        };
        let state = match &row.current {
            Some(c) if self.clock.now_ms() < c.expires_at => Some(self.open_active(s, c)?),
            _ => None,
        };
        Ok((state, Some(row)))
    }

    /// The write that forgets the challenge in progress (verified, spent or expired) and
    /// keeps the count of those issued.
    pub(crate) fn clear_active(&self, s: &Session, row: &ActiveRow) -> Write {
        self.put_active(
            s,
            ActiveRow {
                history: row.history,
                current: None,
                revision: row.revision + 1,
            },
        )
    }

    async fn drop_active(&self, s: &Session, row: &ActiveRow) -> Result<(), ApiError> {
        Ok(self.store.commit(&[self.clear_active(s, row)]).await?)
    }

    fn put_active(&self, s: &Session, row: ActiveRow) -> Write {
        Write::PutActive {
            application_id: s.application_id.clone(),
            session_id: s.id.clone(),
            row,
        }
    }

    fn seal_active(&self, s: &Session, state: &ActiveChallenge) -> Result<SealedActive, ApiError> {
        let plain = serde_json::to_vec(state).map_err(|e| ApiError::Internal(e.to_string()))?;
        let aad = active_aad(&s.application_id, &s.id, &state.id);
        Ok(SealedActive {
            id: state.id.clone(),
            expires_at: state.expires_at,
            sealed: hex::encode(self.cipher.seal(&plain, &aad, self.ids.nonce()?)),
        })
    }

    fn open_active(&self, s: &Session, c: &SealedActive) -> Result<ActiveChallenge, ApiError> {
        let internal = |e: String| ApiError::Internal(format!("active challenge: {e}"));
        let blob = hex::decode(&c.sealed).map_err(|e| internal(e.to_string()))?;
        let plain = self
            .cipher
            .open(&blob, &active_aad(&s.application_id, &s.id, &c.id))
            .map_err(|e| internal(e.to_string()))?;
        serde_json::from_slice(&plain).map_err(|e| internal(e.to_string()))
    }
}
