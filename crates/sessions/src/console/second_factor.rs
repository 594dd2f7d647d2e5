//! The operators' optional second factor: a facegate selfie. The console signs its own people
//! in with the product it runs: each operator who turns it on is a user (named by the
//! operator's id) of a built-in application, enrolled by a kyc session and re-authenticated
//! by a biometric-authentication session at every sign-in, with the same liveness, face
//! match, escalation and attempt limits an integrator's users get.
//!
//! Sign-in with it on: the password, if right, opens a browser session that can do one thing
//! — finish with a selfie — and sends the browser to the hosted page. Back on the console,
//! `POST /console/api/login/selfie/` looks at that re-authentication session: Approved turns
//! the waiting session into a real one (a new cookie token; the old one is used up atomically,
//! so two racing requests cannot both get in); anything else ends it and counts as a failed
//! sign-in. Turning the factor on or off asks for the password again, so a stolen cookie alone
//! can neither remove it nor replace the face.

use serde_json::{json, Value};

use super::accounts::{Operator, OperatorStore, OperatorWrite, SecondFactor};
use super::signin::{
    self, check_same_site, cookie_token, token_hash, verify_password, Principal, SignInForm,
};
use crate::cipher::TemplateCipher;
use crate::error::{ApiError, FieldErrors};
use crate::routes::HttpResponse;
use crate::service::Service;
use crate::store::{Clock, Ids, Store};
use crate::types::{AppSettings, Application, CallbackMethod, SessionStatus, Workflow, WorkflowType};
use crate::validate::{opt_str, parse_object, CreateRequest};

/// The built-in application whose users are the operators. Its ids are fixed so that every
/// isolate (and every restart) names the same one; it is created the first time it is needed
/// and is an ordinary application otherwise: a platform admin sees its sessions in the console
/// and may change its workflows (e.g. to ACTIVE_3D liveness).
pub const APPLICATION_ID: &str = "00000000-0000-4000-8000-00000000fa01";
const REAUTH_WORKFLOW_ID: &str = "00000000-0000-4000-8000-00000000fa02";
const ENROL_WORKFLOW_ID: &str = "00000000-0000-4000-8000-00000000fa03";
/// How long a password-checked sign-in waits for its selfie.
pub const SELFIE_SECONDS: i64 = 10 * 60;

/// The built-in application as first created: a re-authentication and an enrolment workflow
/// with the product's defaults, no API key (nothing outside the console uses it).
pub fn application() -> Application {
    let mut reauth = Workflow::new(REAUTH_WORKFLOW_ID, WorkflowType::BiometricAuthentication);
    reauth.label = Some("Operator sign-in".into());
    reauth.is_default = true;
    let mut enrol = Workflow::new(ENROL_WORKFLOW_ID, WorkflowType::Kyc);
    enrol.label = Some("Operator selfie enrolment".into());
    Application {
        id: APPLICATION_ID.into(),
        name: "Console sign-in (operators' selfies)".into(),
        api_key_hashes: Vec::new(),
        webhooks: Vec::new(),
        settings: AppSettings::default(),
        workflows: vec![reauth, enrol],
        workflow_history: Vec::new(),
    }
}

/// The workflow of `kind` in the built-in application as it is now (a platform admin may have
/// edited it; the default of that type is used).
fn workflow_of(app: &Application, kind: WorkflowType) -> Result<&Workflow, ApiError> {
    app.workflows
        .iter()
        .filter(|w| w.workflow_type == kind)
        .max_by_key(|w| w.is_default)
        .ok_or_else(|| {
            ApiError::Conflict(format!(
                "The console sign-in application has no {} workflow: a platform admin must add one.",
                match kind {
                    WorkflowType::Kyc => "enrolment",
                    WorkflowType::BiometricAuthentication => "re-authentication",
                }
            ))
        })
}

/// Turning the factor on or off: the body's password must be the operator's.
async fn confirm_password(
    store: &impl OperatorStore,
    now: i64,
    op: &Operator,
    body: &[u8],
) -> Result<(), ApiError> {
    let m = parse_object(body)?;
    let mut e = FieldErrors::new();
    let password = opt_str(&m, "password", false, &mut e);
    if password.is_none() && !e.0.contains_key("password") {
        e.add("password", "This field is required.");
    }
    e.into_result()?;
    let password = password.unwrap_or_default();
    let ok = password.chars().count() <= signin::MAX_PASSWORD_CHARS
        && op
            .password_hash
            .as_deref()
            .is_some_and(|h| verify_password(h, &password));
    if !ok {
        // A stolen cookie must not be a free password oracle: these count like sign-ins.
        signin::count_failure(store, &op.id, now).await?;
        return Err(ApiError::Forbidden("The password is wrong."));
    }
    Ok(())
}

/// Stores a changed operator at the version it was read (a concurrent change → 409).
async fn save(store: &impl OperatorStore, mut op: Operator) -> Result<Operator, ApiError> {
    let expected_version = op.version;
    op.version += 1;
    store
        .commit_operators(&[OperatorWrite::PutOperator {
            operator: op.clone(),
            expected_version,
        }])
        .await?;
    Ok(op)
}

/// The signed-in person behind a console request; the platform token has no face.
fn person(who: &Principal) -> Result<Operator, ApiError> {
    match who {
        Principal::Operator { operator, .. } => Ok(operator.clone()),
        Principal::Platform => Err(ApiError::Forbidden(
            "The operator token is not a person: it has no second factor.",
        )),
    }
}

fn status_json(op: &Operator) -> Value {
    json!({
        "enabled": op.second_factor.is_some(),
        "enrolled_at": op.second_factor.as_ref().map(|f| crate::time::iso8601(f.enrolled_at)),
        "pending": op.pending_second_factor.is_some(),
    })
}

impl<S: Store + OperatorStore, C: Clock, I: Ids, K: TemplateCipher> Service<S, C, I, K> {
    /// A session of the built-in application for `operator`, its hosted page returning to
    /// the console with `step` in the query. Returns (session id, hosted page URL).
    async fn selfie_session(
        &self,
        app: &Application,
        operator: &Operator,
        kind: WorkflowType,
        step: &str,
    ) -> Result<(String, String), ApiError> {
        let req = CreateRequest {
            workflow_id: workflow_of(app, kind)?.id.clone(),
            vendor_data: Some(operator.id.clone()),
            callback: Some(format!(
                "{}/console/?second_factor={step}",
                self.urls.hosted_base.trim_end_matches('/')
            )),
            callback_method: CallbackMethod::default(),
            metadata: None,
            language: None,
            contact_details: None,
            expected_details: None,
            portrait: None,
            step_up: None,
        };
        let created = self.create_parsed(app, req, None).await?;
        let body = created.body.unwrap_or_default();
        match (body["session_id"].as_str(), body["url"].as_str()) {
            (Some(id), Some(url)) => Ok((id.to_owned(), url.to_owned())),
            _ => Err(ApiError::Internal("a created session without its id or url".into())),
        }
    }

    /// `GET /console/api/me/second-factor/`.
    pub async fn second_factor_status(&self, who: &Principal) -> Result<HttpResponse, ApiError> {
        Ok(HttpResponse::json(200, status_json(&person(who)?)))
    }

    /// `POST /console/api/me/second-factor/` `{password}`: starts the enrolment; the answer's
    /// `url` is the hosted page, which comes back to `/console/?second_factor=enrol`. A face
    /// enrolled before (a factor turned off, an abandoned try) is forgotten first, so the new
    /// capture is the one that counts.
    pub async fn second_factor_enrol(
        &self,
        app: &Application,
        who: &Principal,
        body: &[u8],
    ) -> Result<HttpResponse, ApiError> {
        let mut op = person(who)?;
        let now = self.clock.now();
        confirm_password(&self.store, now, &op, body).await?;
        if op.second_factor.is_some() {
            return Err(ApiError::Conflict(
                "Your selfie is already your second factor: turn it off first to enrol again."
                    .into(),
            ));
        }
        self.delete_user_data(app, &op.id).await?;
        let (session_id, url) = self
            .selfie_session(app, &op, WorkflowType::Kyc, "enrol")
            .await?;
        op.pending_second_factor = Some(session_id.clone());
        save(&self.store, op).await?;
        Ok(HttpResponse::json(
            201,
            json!({ "session_id": session_id, "url": url }),
        ))
    }

    /// `POST /console/api/me/second-factor/confirm/`: after the hosted page, the enrolment
    /// session must have ended Approved; then every later sign-in asks for the selfie.
    pub async fn second_factor_confirm(
        &self,
        app: &Application,
        who: &Principal,
    ) -> Result<HttpResponse, ApiError> {
        let mut op = person(who)?;
        let Some(session_id) = op.pending_second_factor.clone() else {
            return Err(ApiError::Conflict(
                "No selfie enrolment is under way: start one first.".into(),
            ));
        };
        let session = self
            .store
            .get_session(&app.id, &session_id)
            .await?
            .filter(|s| s.vendor_data.as_deref() == Some(op.id.as_str()));
        let status = session.as_ref().map(|s| s.status);
        match status {
            Some(SessionStatus::Approved) => {
                op.second_factor = Some(SecondFactor {
                    enrolled_at: self.clock.now(),
                    session_id,
                });
            }
            Some(SessionStatus::NotStarted | SessionStatus::InProgress) => {
                return Err(ApiError::Conflict(
                    "The enrolment selfie is not finished yet.".into(),
                ))
            }
            other => {
                // Declined, in review, expired or gone: this try is over.
                op.pending_second_factor = None;
                save(&self.store, op).await?;
                return Err(ApiError::Conflict(format!(
                    "The enrolment selfie was not approved ({}): start again.",
                    other.map_or("no session", |s| s.as_str())
                )));
            }
        }
        op.pending_second_factor = None;
        let op = save(&self.store, op).await?;
        Ok(HttpResponse::json(200, status_json(&op)))
    }

    /// `DELETE /console/api/me/second-factor/` `{password}`: sign-in is password-only again
    /// and the enrolled face is deleted (a user deletion in the built-in application, audited
    /// there like any other).
    pub async fn second_factor_remove(
        &self,
        app: &Application,
        who: &Principal,
        body: &[u8],
    ) -> Result<HttpResponse, ApiError> {
        let mut op = person(who)?;
        confirm_password(&self.store, self.clock.now(), &op, body).await?;
        op.second_factor = None;
        op.pending_second_factor = None;
        let op = save(&self.store, op).await?;
        self.delete_user_data(app, &op.id).await?;
        Ok(HttpResponse::json(200, status_json(&op)))
    }

    /// `POST /console/api/login/` `{email, password}`: signed in at once without a second
    /// factor; with one, 200 `{second_factor: "selfie", url}` and a cookie good only for
    /// `login/selfie/` for ten minutes.
    pub async fn console_login(
        &self,
        app: &Application,
        form: &SignInForm<'_>,
        applications: &[(String, String)],
    ) -> Result<HttpResponse, ApiError> {
        let op = signin::check_password(&self.store, &self.clock, form).await?;
        let now = self.clock.now();
        if op.second_factor.is_none() {
            return signin::sign_in(&self.store, &self.ids, now, op, applications).await;
        }
        let (session_id, url) = self
            .selfie_session(app, &op, WorkflowType::BiometricAuthentication, "signin")
            .await?;
        let (mut waiting, token) = signin::open_session(&op, &self.ids, now)?;
        waiting.awaiting_selfie = Some(session_id);
        waiting.expires_at = now + SELFIE_SECONDS;
        self.store
            .commit_operators(&[OperatorWrite::PutConsoleSession(waiting)])
            .await?;
        let mut r = HttpResponse::json(200, json!({ "second_factor": "selfie", "url": url }));
        r.headers.push((
            "Set-Cookie".into(),
            signin::session_cookie(&token, SELFIE_SECONDS),
        ));
        r.headers.push(("Cache-Control".into(), "no-store".into()));
        Ok(r)
    }

    /// `POST /console/api/login/selfie/`: the second step. Approved → signed in (a new token);
    /// not finished → 409 and the step stays open; anything else → 401, the step is over and
    /// it counts as a failed sign-in.
    pub async fn console_login_selfie(
        &self,
        app: &Application,
        form: &SignInForm<'_>,
        applications: &[(String, String)],
    ) -> Result<HttpResponse, ApiError> {
        const START_AGAIN: ApiError =
            ApiError::Unauthenticated("Sign in again: no sign-in is waiting for a selfie.");
        check_same_site(form.headers, form.own_origin)?;
        let now = self.clock.now();
        let token = cookie_token(form.headers).ok_or(START_AGAIN)?;
        let waiting = self
            .store
            .console_session(&token_hash(token))
            .await?
            .filter(|s| s.expires_at > now)
            .ok_or(START_AGAIN)?;
        let session_id = waiting.awaiting_selfie.clone().ok_or(START_AGAIN)?;
        let op = self
            .store
            .operator(&waiting.operator_id)
            .await?
            .ok_or(START_AGAIN)?;
        let status = self
            .store
            .get_session(&app.id, &session_id)
            .await?
            .filter(|s| s.vendor_data.as_deref() == Some(op.id.as_str()))
            .map(|s| s.status);
        if matches!(
            status,
            Some(SessionStatus::NotStarted | SessionStatus::InProgress)
        ) {
            return Err(ApiError::Conflict("The selfie is not finished yet.".into()));
        }
        // Used up whatever the outcome; `Conflict` here means another request already did.
        self.store
            .commit_operators(&[OperatorWrite::ConsumeConsoleSession {
                token_hash: waiting.token_hash.clone(),
            }])
            .await
            .map_err(|_| START_AGAIN)?;
        if status != Some(SessionStatus::Approved) {
            signin::count_failure(&self.store, &op.id, now).await?;
            return Err(ApiError::Unauthenticated(
                "The selfie did not confirm it is you: sign in again.",
            ));
        }
        signin::sign_in(&self.store, &self.ids, now, op, applications).await
    }
}
