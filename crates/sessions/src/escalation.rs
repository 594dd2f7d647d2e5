//! Escalation: a borderline passive capture is not decided; the session asks for an active
//! challenge instead (`liveness_escalation` in the workflow). The capture that led to it is not
//! an attempt and its verdict is not kept; the challenge's capture is decided as usual.

use facegate_pipeline::challenge::escalate::{escalate, Escalation};
use facegate_pipeline::challenge::LivenessMethod;

use crate::capture::{CaptureContext, CaptureOutcome, CaptureResult};
use crate::cipher::TemplateCipher;
use crate::error::ApiError;
use crate::service::Service;
use crate::state::{transition, Event};
use crate::store::{Clock, Ids, Store, Write};

/// The challenge to ask for instead of deciding this passive capture, if any.
pub(crate) fn escalation_for(
    ctx: &CaptureContext,
    outcome: &CaptureOutcome,
) -> Option<LivenessMethod> {
    let wf = &ctx.workflow;
    let threshold = wf.policy().liveness_decline_threshold;
    match escalate(
        &outcome.liveness,
        threshold,
        &wf.liveness_escalation,
        ctx.session.escalations,
    ) {
        Escalation::Decide => None,
        // ACTIVE_3D is served one step at a time from challenges the page asks for itself;
        // escalation answers in one response, so it asks for FLASHING.
        Escalation::AskChallenge {
            method: LivenessMethod::Active3d,
        } => Some(LivenessMethod::Flashing),
        Escalation::AskChallenge { method } => Some(method),
    }
}

impl<S: Store, C: Clock, I: Ids, K: TemplateCipher> Service<S, C, I, K> {
    /// A borderline passive capture is not decided: the session asks for a challenge of
    /// `method` instead, and nothing of the capture is kept (it is not an attempt).
    pub(crate) async fn escalate_capture(
        &self,
        ctx: CaptureContext,
        method: LivenessMethod,
    ) -> Result<CaptureResult, ApiError> {
        let s = &ctx.session;
        let next = transition(s, &Event::Escalated, self.clock.now())?;
        let challenge = self
            .draw_challenge(method)?
            .ok_or_else(|| ApiError::Internal("escalation asked for a passive challenge".into()))?;
        let writes = [
            Write::UpdateSession {
                session: next.clone(),
                expected_version: s.version,
            },
            self.put_challenge(&next, &challenge),
        ];
        self.store.commit(&writes).await?;
        Ok(CaptureResult {
            attempts_left: ctx.workflow.max_attempts.saturating_sub(next.attempts),
            session: next,
            retry: true,
            redirect: None,
            challenge: Some(challenge),
            escalated: true,
        })
    }
}
