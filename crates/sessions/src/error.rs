//! The one error type of the API and its mapping to Didit's DRF-style responses (§1.1, §3.1).

use serde_json::{json, Map, Value};
use thiserror::Error;

/// Field-keyed validation messages, DRF style: `{"field": ["msg", …]}` or nested objects for
/// nested serializers (`{"contact_details": {"email": ["…"]}}`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldErrors(pub Map<String, Value>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        let entry = self
            .0
            .entry(field.to_owned())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = entry {
            list.push(Value::String(message.into()));
        }
    }

    /// Errors of a nested object under `field`.
    pub fn nest(&mut self, field: &str, inner: FieldErrors) {
        if !inner.is_empty() {
            self.0.insert(field.to_owned(), Value::Object(inner.0));
        }
    }

    /// A bare string value, as Didit does for the missing-stored-face error (§1.3).
    pub fn set_plain(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .insert(field.to_owned(), Value::String(message.into()));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_result(self) -> Result<(), ApiError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self))
        }
    }

    pub fn single(field: &str, message: impl Into<String>) -> ApiError {
        let mut e = FieldErrors::new();
        e.add(field, message);
        ApiError::Validation(e)
    }
}

pub const MSG_PERMISSION: &str = "You do not have permission to perform this action.";
pub const MSG_BAD_CREDENTIALS: &str = "Incorrect authentication credentials.";
pub const MSG_NOT_FOUND: &str = "Not found.";

#[derive(Debug, Clone, PartialEq, Error)]
pub enum ApiError {
    /// 400 with a field-keyed body.
    #[error("validation failed: {0:?}")]
    Validation(FieldErrors),
    /// 400 with `{"detail": …}` (malformed JSON, refused transitions).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 401: a key was sent but matches no application.
    #[error("invalid API key")]
    InvalidApiKey,
    /// 403: no key at all (Didit answers 403, not 401, for this).
    #[error("missing API key")]
    MissingApiKey,
    #[error("not found")]
    NotFound,
    /// 404 whose detail says what is missing (a used setup link).
    #[error("no such thing: {0}")]
    NoSuch(&'static str),
    /// 401 of the operator API: no console session (or an expired one), wrong credentials.
    #[error("unauthenticated: {0}")]
    Unauthenticated(&'static str),
    /// 403 of the operator API: a role without the right, a write without its CSRF token.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// 404 for one of Didit's endpoints facegate does not offer, saying so (an MCP tool for
    /// documents or businesses gets a reason, not a bare "Not found.").
    #[error("not offered: {0}")]
    NotOffered(&'static str),
    #[error("method {method} not allowed")]
    MethodNotAllowed {
        method: String,
        allow: Vec<&'static str>,
    },
    /// 409: a concurrent writer won, or the session token was already used for a verdict.
    #[error("conflict: {0}")]
    Conflict(String),
    /// 410: the session expired before this capture.
    #[error("gone: {0}")]
    Gone(String),
    #[error("payload too large (limit {limit} bytes)")]
    PayloadTooLarge { limit: usize },
    #[error("rate limited")]
    RateLimited {
        limit: u32,
        remaining: u32,
        /// Epoch seconds at which the window frees a slot.
        reset: i64,
        retry_after: i64,
    },
    /// 429 from a limit of the service rather than a request budget (ACTIVE_3D challenges
    /// per session and their interval): `{"detail"}` and `Retry-After` seconds.
    #[error("too many: {detail}")]
    TooMany { detail: String, retry_after: i64 },
    /// 503: the service refuses or failed the work for now (an isolate without the memory
    /// for this request's images, a storage backend fault); nothing of the request was
    /// written, so it can be sent again after `retry_after` seconds (and with
    /// `Idempotency-Key`, deduplicated). `cause` is for the operator's log, never the client.
    #[error("unavailable: {detail}")]
    Unavailable {
        detail: String,
        retry_after: u32,
        cause: Option<String>,
    },
    /// Storage or crypto fault: never caused by client input, never shows its detail.
    #[error("internal: {0}")]
    Internal(String),
}

impl ApiError {
    /// A storage fault: the client is told to retry, the operator's log gets `cause`.
    pub fn storage_unavailable(cause: impl Into<String>) -> Self {
        ApiError::Unavailable {
            detail: "The service is temporarily unavailable; retry the request.".into(),
            retry_after: 5,
            cause: Some(cause.into()),
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            ApiError::Validation(_) | ApiError::BadRequest(_) => 400,
            ApiError::InvalidApiKey | ApiError::Unauthenticated(_) => 401,
            ApiError::MissingApiKey | ApiError::Forbidden(_) => 403,
            ApiError::NotFound | ApiError::NotOffered(_) | ApiError::NoSuch(_) => 404,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::Conflict(_) => 409,
            ApiError::Gone(_) => 410,
            ApiError::PayloadTooLarge { .. } => 413,
            ApiError::RateLimited { .. } | ApiError::TooMany { .. } => 429,
            ApiError::Unavailable { .. } => 503,
            ApiError::Internal(_) => 500,
        }
    }

    pub fn to_http(&self) -> (u16, Vec<(String, String)>, Value) {
        let mut headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
        let detail = |m: &str| json!({ "detail": m });
        let body = match self {
            ApiError::Validation(f) => Value::Object(f.0.clone()),
            ApiError::BadRequest(m) | ApiError::Conflict(m) | ApiError::Gone(m) => detail(m),
            ApiError::InvalidApiKey => detail(MSG_BAD_CREDENTIALS),
            ApiError::MissingApiKey => detail(MSG_PERMISSION),
            ApiError::NotFound => detail(MSG_NOT_FOUND),
            ApiError::NoSuch(m) | ApiError::Unauthenticated(m) | ApiError::Forbidden(m) => detail(m),
            ApiError::NotOffered(what) => detail(&format!(
                "facegate does not offer {what}: it runs selfie liveness and face match, their sessions, workflows, users, reviews and webhooks."
            )),
            ApiError::MethodNotAllowed { method, allow } => {
                headers.push(("Allow".to_owned(), allow.join(", ")));
                detail(&format!("Method \"{method}\" not allowed."))
            }
            ApiError::PayloadTooLarge { limit } => {
                detail(&format!("Request body is too large (limit {limit} bytes)."))
            }
            ApiError::RateLimited {
                limit,
                remaining,
                reset,
                retry_after,
            } => {
                let retry_after = (*retry_after).max(1);
                headers.extend([
                    ("Retry-After".to_owned(), retry_after.to_string()),
                    ("X-RateLimit-Limit".to_owned(), limit.to_string()),
                    ("X-RateLimit-Remaining".to_owned(), remaining.to_string()),
                    ("X-RateLimit-Reset".to_owned(), reset.to_string()),
                ]);
                detail(&format!(
                    "Request was throttled. Expected available in {retry_after} seconds."
                ))
            }
            ApiError::TooMany {
                detail: m,
                retry_after,
            } => {
                headers.push(("Retry-After".to_owned(), retry_after.max(&1).to_string()));
                detail(m)
            }
            ApiError::Unavailable {
                detail: m,
                retry_after,
                ..
            } => {
                headers.push(("Retry-After".to_owned(), retry_after.max(&1).to_string()));
                detail(m)
            }
            ApiError::Internal(_) => detail("A server error occurred."),
        };
        (self.status(), headers, body)
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Conflict => ApiError::Conflict(
                "The session was modified concurrently; retry the request.".into(),
            ),
            crate::store::StoreError::Backend(m) => ApiError::storage_unavailable(m),
        }
    }
}

/// A refusal of the step-by-step ACTIVE_3D protocol (nothing was recorded), in Didit's
/// `{"detail"}` shape. `session_left_s`: how long the session still lives, the only honest
/// `Retry-After` once its challenges are used up (a new session is needed after that).
pub fn protocol_error(
    e: facegate_pipeline::challenge::active::ProtocolError,
    limits: &facegate_pipeline::challenge::ChallengeLimits,
    session_left_s: i64,
) -> ApiError {
    use facegate_pipeline::challenge::active::ProtocolError as P;
    let detail = format!("{}.", capitalised(&e.to_string()));
    match e {
        P::TooManyChallenges(_) => ApiError::TooMany {
            detail,
            retry_after: session_left_s,
        },
        P::TooSoon(since) => ApiError::TooMany {
            detail,
            retry_after: (i64::from(limits.min_issue_interval_ms) - since + 999) / 1000,
        },
        P::Expired => ApiError::Gone(detail),
        P::WrongStep(_) | P::Unanswered(_) | P::NoMoreSteps => ApiError::Conflict(detail),
        P::FrameCount { .. } => ApiError::BadRequest(detail),
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}
