//! What the hosted page reads before it opens the camera, and the challenges it is issued:
//! the summary (a read only: a desktop page polls it while the selfie is taken on a phone),
//! and a fresh FLASHING challenge, an ACTIVE_3D challenge's first step, or the challenge an
//! escalation asked for.

use facegate_pipeline::challenge::{self, Challenge, ChallengeLimits, LivenessMethod};
use serde_json::{json, Value};

use crate::capture::steps_by_server;
use crate::cipher::TemplateCipher;
use crate::error::ApiError;
use crate::render;
use crate::routes::Directory;
use crate::service::Service;
use crate::store::{Clock, Ids, Store, Write};
use crate::types::{Session, SessionStatus, Workflow};
use crate::visits::{stepped_up, Seen};

impl<S: Store, C: Clock, I: Ids, K: TemplateCipher> Service<S, C, I, K> {
    /// `GET /hosted/v1/{token}`: what the page needs before it opens the camera. A read only:
    /// a desktop page polls it while the selfie is taken on a phone.
    /// With IP analysis on, the first read of each visit (before the capture starts) is judged
    /// too: see `visits`. Once capturing, a poll (the desktop following a phone) changes nothing;
    /// the capture is judged by its own request.
    pub async fn hosted_summary<D: Directory + ?Sized>(
        &self,
        apps: &D,
        token: &str,
        seen: &Seen,
    ) -> Result<Value, ApiError> {
        let (mut s, mut wf) = self.session_by_token(apps, token).await?;
        if let (Some(app), Some(w)) = (apps.application(&s.application_id), wf.as_ref()) {
            let before_capture = matches!(
                s.status,
                SessionStatus::NotStarted | SessionStatus::Resubmitted | SessionStatus::AwaitingUser
            );
            if before_capture {
                let base = app.workflow_of(&s).unwrap_or(w);
                s = self.observe_visit(app, base, s, seen).await?;
                wf = Some(stepped_up(base, &s));
            }
        }
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
            "liveness_method": wf.as_ref().map(|wf| wf.liveness_method).unwrap_or_default(),
        });
        // Which rule set the method (or approved or declined the visit), for the page's copy.
        if let Some(v) = &s.visit {
            summary["step_up"] = json!({ "rule": v.rule, "action": v.action });
        }
        if let Some(branding) = self
            .store
            .get_branding(&s.application_id)
            .await?
            .and_then(|b| b.for_page())
        {
            summary["branding"] = branding;
        }
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
        limits: &ChallengeLimits,
    ) -> Result<Value, ApiError> {
        let (s, wf) = self.session_by_token(apps, token).await?;
        let wf = &wf.ok_or_else(|| {
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
        if steps_by_server(wf) {
            return self.issue_active(&s, limits).await;
        }
        // A passive workflow has a challenge only while escalation's is outstanding: asking
        // again (a reloaded page) replaces it with a fresh one of the same method.
        let method = if wf.liveness_method.is_active() {
            Some(wf.liveness_method)
        } else if wf.liveness_escalation.enabled {
            self.store
                .get_challenge(&s.application_id, &s.id)
                .await?
                .map(|c| c.method)
        } else {
            None
        };
        let Some(challenge) = self.draw_challenge(method.unwrap_or_default())? else {
            return Err(ApiError::Conflict(
                "This session's workflow uses passive liveness: no challenge.".into(),
            ));
        };
        self.store
            .commit(&[self.put_challenge(&s, &challenge)])
            .await?;
        Ok(json!(challenge))
    }

    /// The session a hosted-page token names (404 if none), and its workflow while the
    /// application still configures it, as the visit stepped it up.
    pub(crate) async fn session_by_token<D: Directory + ?Sized>(
        &self,
        apps: &D,
        token: &str,
    ) -> Result<(Session, Option<Workflow>), ApiError> {
        let s = self
            .store
            .get_session_by_token(token)
            .await?
            .ok_or(ApiError::NotFound)?;
        let wf = apps
            .application(&s.application_id)
            .and_then(|app| app.workflow_of(&s))
            .map(|wf| stepped_up(wf, &s));
        Ok((s, wf))
    }

    /// A new challenge of an active method (`None` for PASSIVE).
    pub(crate) fn draw_challenge(
        &self,
        method: LivenessMethod,
    ) -> Result<Option<Challenge>, ApiError> {
        let id = self.ids.uuid()?;
        let mut failed = None;
        let c = challenge::choose(method, id, &mut |n| {
            self.ids.below(n).unwrap_or_else(|e| {
                failed = Some(e);
                0
            })
        });
        // A challenge drawn from failed randomness would be predictable: refuse it.
        match failed {
            Some(e) => Err(e.into()),
            None => Ok(c),
        }
    }

    pub(crate) fn put_challenge(&self, s: &Session, c: &Challenge) -> Write {
        Write::PutChallenge {
            application_id: s.application_id.clone(),
            session_id: s.id.clone(),
            challenge: c.clone(),
            issued_at: self.clock.now(),
        }
    }
}
