//! The route table (every route the worker serves, each with its authentication, rate-limit
//! budget and body limit) and authentication, so the adapter's router is one `match`.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::types::Application;

/// Where applications come from (configuration, a D1 table loaded at startup, …).
pub trait Directory {
    fn application(&self, id: &str) -> Option<&Application>;
    fn by_api_key_hash(&self, sha256_hex: &str) -> Option<&Application>;
}

impl Directory for [Application] {
    fn application(&self, id: &str) -> Option<&Application> {
        self.iter().find(|a| a.id == id)
    }
    fn by_api_key_hash(&self, hash: &str) -> Option<&Application> {
        self.iter().find(|a| {
            a.api_key_hashes
                .iter()
                .any(|h| h.eq_ignore_ascii_case(hash))
        })
    }
}

impl Directory for Vec<Application> {
    fn application(&self, id: &str) -> Option<&Application> {
        self.as_slice().application(id)
    }
    fn by_api_key_hash(&self, hash: &str) -> Option<&Application> {
        self.as_slice().by_api_key_hash(hash)
    }
}

/// What `Application::api_key_hashes` holds for a key.
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// `x-api-key` → application. No key → 403, unknown key → 401 (§1.1). Keys are compared
/// by hash, so the lookup leaks nothing about stored keys through timing.
pub fn authenticate<'a, D: Directory + ?Sized>(
    dir: &'a D,
    headers: &[(String, String)],
) -> Result<&'a Application, ApiError> {
    let key = header(headers, "x-api-key")
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or(ApiError::MissingApiKey)?;
    dir.by_api_key_hash(&hash_api_key(key))
        .ok_or(ApiError::InvalidApiKey)
}

/// Every endpoint the worker serves, with what its path names. The worker dispatches on this
/// with one `match`; what each needs before it runs (who may call it, its budget, its body
/// limit) is in `ROUTES`, so a route cannot exist without those choices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    CreateSession,
    ListSessions,
    BatchDelete,
    GetSession(String),
    Decision(String),
    UpdateStatus(String),
    DeleteSession(String),
    /// Recognised so the adapter can answer it; the core renders no PDF.
    GeneratePdf(String),
    SessionWebhooks(String),
    ListReviews(String),
    AddReview(String),
    ListDestinations,
    CreateDestination,
    GetDestination(String),
    UpdateDestination(String),
    DeleteDestination(String),
    /// Destination id, delivery id.
    ResendDelivery(String, String),
    BillingBalance,
    GetCustomization,
    UpdateCustomization,
    ListWorkflows,
    CreateWorkflow,
    GetWorkflow(String),
    UpdateWorkflow(String),
    DeleteWorkflow(String),
    DeleteUsers,
    ListUsers,
    CreateUser,
    GetUser(String),
    UpdateUser(String),
    UpdateUserStatus(String),
    PassiveLiveness,
    FaceMatch,
    /// 1:N over the application's enrolled faces and face list entries.
    FaceSearch,
    ListLists,
    CreateList,
    GetList(String),
    UpdateList(String),
    DeleteList(String),
    ListEntries(String),
    CreateEntry(String),
    /// List id.
    UploadFaceEntry(String),
    /// List id, entry id.
    DeleteEntry(String, String),
    /// The hosted page's HTML at the session URL (token in the path).
    HostedPage(String),
    HostedSummary(String),
    HostedChallenge(String),
    /// An ACTIVE_3D step's frames: token, challenge id, step number (as sent).
    HostedChallengeStep(String, String, String),
    HostedCapture(String),
    HostedQr(String),
    Healthcheck,
    Housekeeping,
    RouteTable,
    // The operator API (the console's server side; `console` module).
    ConsoleBootstrap,
    ConsoleSetup,
    ConsoleLogin,
    /// The second step of a sign-in with the selfie second factor.
    ConsoleLoginSelfie,
    ConsoleLogout,
    ConsoleMe,
    ConsoleSecondFactor,
    ConsoleEnrolSecondFactor,
    ConsoleConfirmSecondFactor,
    ConsoleRemoveSecondFactor,
    ConsoleCreateApplication,
    ConsoleInvite,
    /// Application id for each of these.
    ConsoleOperators(String),
    /// Application, operator.
    ConsoleSetRole(String, String),
    ConsoleRemoveRole(String, String),
    ConsoleQueue(String),
    ConsoleSessions(String),
    ConsoleSession(String, String),
    ConsoleSessionPdf(String, String),
    ConsoleReview(String, String),
    ConsoleAssign(String, String),
    /// Application, destination, delivery.
    ConsoleResend(String, String, String),
    ConsoleKeys(String),
    ConsoleCreateKey(String),
    ConsoleRevokeKey(String, String),
    ConsoleDestinations(String),
    ConsoleCreateDestination(String),
    ConsoleAudit(String),
    ConsoleSettings(String),
    ConsoleUpdateSettings(String),
    ConsoleUsage(String),
    ConsoleUsageCsv(String),
    /// The measured error-rate curves the workflow editor follows.
    ConsoleErrorRates,
    ConsoleWorkflows(String),
    ConsoleCreateWorkflow(String),
    /// Application, workflow id (or a version's uuid).
    ConsoleWorkflow(String, String),
    ConsoleUpdateWorkflow(String, String),
}

/// Who may call a route, checked before any byte of the body is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Auth {
    /// Anyone; budgets are per client IP.
    Public,
    /// `x-api-key` of an application; budgets are per application.
    ApiKey,
    /// The session token in the path must name a session; budgets are per token and client IP.
    SessionToken,
    /// The platform's operator (`Authorization: Bearer` the Worker secret `OPERATOR_TOKEN`),
    /// never an application.
    Operator,
    /// A person signed in to the console (its cookie; writes also need the CSRF token), or
    /// the operator's bearer token from a script. Budgets are per operator.
    Console,
}

/// A per-minute request budget shared by the routes of one class (contract 3.4's scopes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Budget {
    pub class: &'static str,
    pub per_minute: u32,
}

const CREATE: Budget = Budget {
    class: "create",
    per_minute: 600,
};
const READ: Budget = Budget {
    class: "read",
    per_minute: 600,
};
const WRITE: Budget = Budget {
    class: "write",
    per_minute: 300,
};
const DECISION: Budget = Budget {
    class: "decision",
    per_minute: 100,
};
const PDF: Budget = Budget {
    class: "pdf",
    per_minute: 50,
};
/// 40-100 ms of CPU each: a minute's budget is at most a few seconds of CPU per application.
pub const BIOMETRIC: Budget = Budget {
    class: "biometric",
    per_minute: 60,
};
/// The desktop page polls the summary every 3 s; a phone reads it once.
const HOSTED_READ: Budget = Budget {
    class: "hosted-read",
    per_minute: 120,
};
const HOSTED_CHALLENGE: Budget = Budget {
    class: "hosted-challenge",
    per_minute: 30,
};
/// An ACTIVE_3D challenge has 3-4 steps and a session at most 5 challenges; each upload is
/// up to 16 detections, so this bounds a token's CPU like the capture's budget.
const HOSTED_STEP: Budget = Budget {
    class: "hosted-step",
    per_minute: 30,
};
/// The pipeline runs per request, and a request refused before any frame is decoded costs no
/// attempt, so this is what bounds the CPU one session token can spend.
pub const HOSTED_CAPTURE: Budget = Budget {
    class: "hosted-capture",
    per_minute: 20,
};
const PAGE: Budget = Budget {
    class: "page",
    per_minute: 120,
};
const HEALTH: Budget = Budget {
    class: "health",
    per_minute: 600,
};
const OPERATOR: Budget = Budget {
    class: "operator",
    per_minute: 60,
};
/// Per client IP on sign-in and setup: with the per-account lock-out (5 failures), what bounds
/// password guessing across accounts and the argon2 CPU a client can make the worker spend.
const SIGN_IN: Budget = Budget {
    class: "sign-in",
    per_minute: 20,
};
/// A reviewer working the queue makes a few requests a decision.
const CONSOLE: Budget = Budget {
    class: "console",
    per_minute: 300,
};

/// Body limits, enforced on `Content-Length` before reading and again while reading.
/// A route that reads no body still gets a small one: nothing it is sent is read.
pub const NO_BODY: usize = 1024;
const SMALL_JSON: usize = 64 * 1024;
/// `session_numbers` / `session_ids` lists of a few thousand entries.
const BATCH_JSON: usize = 256 * 1024;
/// A 2 MB `portrait_image` is ~2.7 MB of base64.
pub const CREATE_JSON: usize = crate::validate::MAX_BODY_BYTES;
/// One phone photo (Didit's cap is 5 MB an image) plus the form's other fields.
pub const ONE_PHOTO: usize = 6 * 1024 * 1024;
pub const TWO_PHOTOS: usize = 11 * 1024 * 1024;
/// The hosted page sends one ~640 px JPEG (50-150 KB) or a challenge's frames (at most 16 of
/// ~480 px, 30-100 KB each): 4 MiB leaves room for a burst of larger frames, far from a photo.
pub const CAPTURE: usize = 4 * 1024 * 1024;
/// The three branding images (1 MiB each at most) and a few text fields.
const BRANDING_FORM: usize = 3 * crate::branding::MAX_IMAGE_BYTES + 64 * 1024;

/// One row of the route table.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RouteSpec {
    pub method: &'static str,
    /// Segments; `{name}` matches any one segment, `{lang}` a UI language code. A trailing
    /// slash is optional everywhere (Didit redirects slash-less forms, which clients never
    /// follow, so serving both is safe).
    pub pattern: &'static str,
    pub auth: Auth,
    pub budget: Budget,
    pub body_limit: usize,
    /// A write whose first 2xx answer is replayed for the same `Idempotency-Key`.
    pub idempotent: bool,
    #[serde(skip)]
    build: fn(&[String]) -> Route,
}

const fn spec(
    method: &'static str,
    pattern: &'static str,
    auth: Auth,
    budget: Budget,
    body_limit: usize,
    build: fn(&[String]) -> Route,
) -> RouteSpec {
    RouteSpec {
        method,
        pattern,
        auth,
        budget,
        body_limit,
        idempotent: matches!(auth, Auth::ApiKey) && !matches!(method.as_bytes(), b"GET"),
        build,
    }
}

impl RouteSpec {
    /// The standalone biometric APIs store nothing, so a retry duplicates nothing, and their
    /// results (biometric data) are not kept for a replay.
    const fn no_replay(mut self) -> Self {
        self.idempotent = false;
        self
    }
}

fn p(params: &[String]) -> String {
    params.last().cloned().unwrap_or_default()
}

use Auth::{ApiKey, Console, Operator, Public, SessionToken};

/// Application id and the second captured segment.
fn p2(x: &[String]) -> (String, String) {
    (x[0].clone(), x[1].clone())
}

/// Every route, in matching order (the first pattern that fits a path wins for its method).
#[rustfmt::skip]
pub static ROUTES: &[RouteSpec] = &[
    spec("POST", "/v3/session/", ApiKey, CREATE, CREATE_JSON, |_| Route::CreateSession),
    spec("GET", "/v3/sessions/", ApiKey, READ, NO_BODY, |_| Route::ListSessions),
    spec("POST", "/v3/sessions/delete/", ApiKey, WRITE, BATCH_JSON, |_| Route::BatchDelete),
    spec("GET", "/v3/session/{id}/", ApiKey, READ, NO_BODY, |x| Route::GetSession(p(x))),
    spec("GET", "/v3/session/{id}/decision/", ApiKey, DECISION, NO_BODY, |x| Route::Decision(p(x))),
    spec("PATCH", "/v3/session/{id}/update-status/", ApiKey, WRITE, SMALL_JSON, |x| Route::UpdateStatus(p(x))),
    spec("DELETE", "/v3/session/{id}/delete/", ApiKey, WRITE, NO_BODY, |x| Route::DeleteSession(p(x))),
    spec("GET", "/v3/session/{id}/generate-pdf/", ApiKey, PDF, NO_BODY, |x| Route::GeneratePdf(p(x))),
    spec("GET", "/v3/session/{id}/webhooks/", ApiKey, READ, NO_BODY, |x| Route::SessionWebhooks(p(x))),
    spec("GET", "/v3/sessions/{id}/reviews/", ApiKey, READ, NO_BODY, |x| Route::ListReviews(p(x))),
    spec("POST", "/v3/sessions/{id}/reviews/", ApiKey, WRITE, SMALL_JSON, |x| Route::AddReview(p(x))),
    spec("GET", "/v3/webhook/destinations/", ApiKey, READ, NO_BODY, |_| Route::ListDestinations),
    spec("POST", "/v3/webhook/destinations/", ApiKey, WRITE, SMALL_JSON, |_| Route::CreateDestination),
    spec("GET", "/v3/webhook/destinations/{id}/", ApiKey, READ, NO_BODY, |x| Route::GetDestination(p(x))),
    spec("PATCH", "/v3/webhook/destinations/{id}/", ApiKey, WRITE, SMALL_JSON, |x| Route::UpdateDestination(p(x))),
    spec("DELETE", "/v3/webhook/destinations/{id}/", ApiKey, WRITE, NO_BODY, |x| Route::DeleteDestination(p(x))),
    spec("POST", "/v3/webhook/destinations/{id}/deliveries/{delivery}/resend/", ApiKey, WRITE, NO_BODY, |x| Route::ResendDelivery(x[0].clone(), x[1].clone())),
    spec("GET", "/v3/customization/", ApiKey, READ, NO_BODY, |_| Route::GetCustomization),
    spec("PATCH", "/v3/customization/", ApiKey, WRITE, BRANDING_FORM, |_| Route::UpdateCustomization),
    spec("GET", "/v3/billing/balance/", ApiKey, READ, NO_BODY, |_| Route::BillingBalance),
    spec("GET", "/v3/workflows/", ApiKey, READ, NO_BODY, |_| Route::ListWorkflows),
    spec("POST", "/v3/workflows/", ApiKey, WRITE, SMALL_JSON, |_| Route::CreateWorkflow),
    spec("GET", "/v3/workflows/{id}/", ApiKey, READ, NO_BODY, |x| Route::GetWorkflow(p(x))),
    spec("PATCH", "/v3/workflows/{id}/", ApiKey, WRITE, SMALL_JSON, |x| Route::UpdateWorkflow(p(x))),
    spec("DELETE", "/v3/workflows/{id}/", ApiKey, WRITE, NO_BODY, |x| Route::DeleteWorkflow(p(x))),
    spec("POST", "/v3/users/delete/", ApiKey, WRITE, BATCH_JSON, |_| Route::DeleteUsers),
    spec("GET", "/v3/users/", ApiKey, READ, NO_BODY, |_| Route::ListUsers),
    spec("POST", "/v3/users/create/", ApiKey, WRITE, SMALL_JSON, |_| Route::CreateUser),
    spec("GET", "/v3/users/{vendor}/", ApiKey, READ, NO_BODY, |x| Route::GetUser(p(x))),
    spec("PATCH", "/v3/users/{vendor}/", ApiKey, WRITE, SMALL_JSON, |x| Route::UpdateUser(p(x))),
    spec("PATCH", "/v3/users/{vendor}/update-status/", ApiKey, WRITE, SMALL_JSON, |x| Route::UpdateUserStatus(p(x))),
    spec("POST", "/v3/passive-liveness/", ApiKey, BIOMETRIC, ONE_PHOTO, |_| Route::PassiveLiveness).no_replay(),
    spec("POST", "/v3/face-match/", ApiKey, BIOMETRIC, TWO_PHOTOS, |_| Route::FaceMatch).no_replay(),
    spec("POST", "/v3/face-search/", ApiKey, BIOMETRIC, ONE_PHOTO, |_| Route::FaceSearch).no_replay(),
    spec("GET", "/v3/lists/", ApiKey, READ, NO_BODY, |_| Route::ListLists),
    spec("POST", "/v3/lists/", ApiKey, WRITE, SMALL_JSON, |_| Route::CreateList),
    spec("GET", "/v3/lists/{id}/", ApiKey, READ, NO_BODY, |x| Route::GetList(p(x))),
    spec("PATCH", "/v3/lists/{id}/", ApiKey, WRITE, SMALL_JSON, |x| Route::UpdateList(p(x))),
    spec("DELETE", "/v3/lists/{id}/", ApiKey, WRITE, NO_BODY, |x| Route::DeleteList(p(x))),
    spec("GET", "/v3/lists/{id}/entries/", ApiKey, READ, NO_BODY, |x| Route::ListEntries(p(x))),
    spec("POST", "/v3/lists/{id}/entries/", ApiKey, WRITE, SMALL_JSON, |x| Route::CreateEntry(p(x))),
    // One image (2 MB decoded at most, as a session's portrait) run through the face model.
    spec("POST", "/v3/lists/{id}/entries/face-upload/", ApiKey, BIOMETRIC, CREATE_JSON, |x| Route::UploadFaceEntry(x[0].clone())),
    spec("DELETE", "/v3/lists/{id}/entries/{entry}/", ApiKey, WRITE, NO_BODY, |x| Route::DeleteEntry(x[0].clone(), x[1].clone())),
    spec("GET", "/hosted/v1/{token}/", SessionToken, HOSTED_READ, NO_BODY, |x| Route::HostedSummary(p(x))),
    spec("GET", "/hosted/v1/{token}/qr.svg", SessionToken, HOSTED_READ, NO_BODY, |x| Route::HostedQr(x[0].clone())),
    spec("POST", "/hosted/v1/{token}/challenge/", SessionToken, HOSTED_CHALLENGE, NO_BODY, |x| Route::HostedChallenge(x[0].clone())),
    spec("POST", "/hosted/v1/{token}/challenge/{id}/steps/{n}/", SessionToken, HOSTED_STEP, CAPTURE, |x| Route::HostedChallengeStep(x[0].clone(), x[1].clone(), x[2].clone())),
    spec("POST", "/hosted/v1/{token}/capture/", SessionToken, HOSTED_CAPTURE, CAPTURE, |x| Route::HostedCapture(x[0].clone())),
    // The page is public HTML (an unknown token gets the page, which says the link is not
    // valid); the token's application only decides who may frame it.
    spec("GET", "/session/{token}/", Public, PAGE, NO_BODY, |x| Route::HostedPage(p(x))),
    spec("GET", "/{lang}/session/{token}/", Public, PAGE, NO_BODY, |x| Route::HostedPage(p(x))),
    spec("GET", "/system/healthcheck/", Public, HEALTH, NO_BODY, |_| Route::Healthcheck),
    spec("POST", "/internal/housekeeping/", Operator, OPERATOR, NO_BODY, |_| Route::Housekeeping),
    spec("GET", "/internal/routes/", Operator, OPERATOR, NO_BODY, |_| Route::RouteTable),
    spec("POST", "/internal/console-bootstrap/", Operator, OPERATOR, NO_BODY, |_| Route::ConsoleBootstrap),
    spec("POST", "/console/api/setup/", Public, SIGN_IN, SMALL_JSON, |_| Route::ConsoleSetup),
    spec("POST", "/console/api/login/", Public, SIGN_IN, SMALL_JSON, |_| Route::ConsoleLogin),
    spec("POST", "/console/api/login/selfie/", Public, SIGN_IN, NO_BODY, |_| Route::ConsoleLoginSelfie),
    spec("POST", "/console/api/logout/", Console, CONSOLE, NO_BODY, |_| Route::ConsoleLogout),
    spec("GET", "/console/api/me/", Console, CONSOLE, NO_BODY, |_| Route::ConsoleMe),
    // Turning the selfie on or off checks the password (argon2): the sign-in budget.
    spec("GET", "/console/api/me/second-factor/", Console, CONSOLE, NO_BODY, |_| Route::ConsoleSecondFactor),
    spec("POST", "/console/api/me/second-factor/", Console, SIGN_IN, SMALL_JSON, |_| Route::ConsoleEnrolSecondFactor),
    spec("POST", "/console/api/me/second-factor/confirm/", Console, CONSOLE, NO_BODY, |_| Route::ConsoleConfirmSecondFactor),
    spec("DELETE", "/console/api/me/second-factor/", Console, SIGN_IN, SMALL_JSON, |_| Route::ConsoleRemoveSecondFactor),
    spec("POST", "/console/api/applications/", Console, CONSOLE, SMALL_JSON, |_| Route::ConsoleCreateApplication),
    spec("POST", "/console/api/operators/", Console, CONSOLE, SMALL_JSON, |_| Route::ConsoleInvite),
    spec("GET", "/console/api/applications/{app}/operators/", Console, CONSOLE, NO_BODY, |x| Route::ConsoleOperators(x[0].clone())),
    spec("PATCH", "/console/api/applications/{app}/operators/{id}/", Console, CONSOLE, SMALL_JSON, |x| { let (a, b) = p2(x); Route::ConsoleSetRole(a, b) }),
    spec("DELETE", "/console/api/applications/{app}/operators/{id}/", Console, CONSOLE, NO_BODY, |x| { let (a, b) = p2(x); Route::ConsoleRemoveRole(a, b) }),
    spec("GET", "/console/api/applications/{app}/queue/", Console, CONSOLE, NO_BODY, |x| Route::ConsoleQueue(x[0].clone())),
    spec("GET", "/console/api/applications/{app}/sessions/", Console, CONSOLE, NO_BODY, |x| Route::ConsoleSessions(x[0].clone())),
    spec("GET", "/console/api/applications/{app}/sessions/{id}/", Console, CONSOLE, NO_BODY, |x| { let (a, b) = p2(x); Route::ConsoleSession(a, b) }),
    spec("GET", "/console/api/applications/{app}/sessions/{id}/pdf/", Console, PDF, NO_BODY, |x| { let (a, b) = p2(x); Route::ConsoleSessionPdf(a, b) }),
    spec("POST", "/console/api/applications/{app}/sessions/{id}/reviews/", Console, CONSOLE, SMALL_JSON, |x| { let (a, b) = p2(x); Route::ConsoleReview(a, b) }),
    spec("POST", "/console/api/applications/{app}/sessions/{id}/assign/", Console, CONSOLE, SMALL_JSON, |x| { let (a, b) = p2(x); Route::ConsoleAssign(a, b) }),
    spec("POST", "/console/api/applications/{app}/destinations/{d}/deliveries/{id}/resend/", Console, CONSOLE, NO_BODY, |x| Route::ConsoleResend(x[0].clone(), x[1].clone(), x[2].clone())),
    spec("GET", "/console/api/applications/{app}/keys/", Console, CONSOLE, NO_BODY, |x| Route::ConsoleKeys(x[0].clone())),
    spec("POST", "/console/api/applications/{app}/keys/", Console, CONSOLE, NO_BODY, |x| Route::ConsoleCreateKey(x[0].clone())),
    spec("DELETE", "/console/api/applications/{app}/keys/{key}/", Console, CONSOLE, NO_BODY, |x| { let (a, b) = p2(x); Route::ConsoleRevokeKey(a, b) }),
    spec("GET", "/console/api/applications/{app}/destinations/", Console, CONSOLE, NO_BODY, |x| Route::ConsoleDestinations(x[0].clone())),
    spec("POST", "/console/api/applications/{app}/destinations/", Console, CONSOLE, SMALL_JSON, |x| Route::ConsoleCreateDestination(x[0].clone())),
    spec("GET", "/console/api/applications/{app}/settings/", Console, CONSOLE, NO_BODY, |x| Route::ConsoleSettings(x[0].clone())),
    spec("PATCH", "/console/api/applications/{app}/settings/", Console, CONSOLE, SMALL_JSON, |x| Route::ConsoleUpdateSettings(x[0].clone())),
    spec("GET", "/console/api/applications/{app}/audit/", Console, CONSOLE, NO_BODY, |x| Route::ConsoleAudit(x[0].clone())),
    spec("GET", "/console/api/applications/{app}/usage/", Console, CONSOLE, NO_BODY, |x| Route::ConsoleUsage(x[0].clone())),
    spec("GET", "/console/api/applications/{app}/usage.csv", Console, CONSOLE, NO_BODY, |x| Route::ConsoleUsageCsv(x[0].clone())),
    spec("GET", "/console/api/error-rates/", Console, CONSOLE, NO_BODY, |_| Route::ConsoleErrorRates),
    spec("GET", "/console/api/applications/{app}/workflows/", Console, CONSOLE, NO_BODY, |x| Route::ConsoleWorkflows(x[0].clone())),
    spec("POST", "/console/api/applications/{app}/workflows/", Console, CONSOLE, SMALL_JSON, |x| Route::ConsoleCreateWorkflow(x[0].clone())),
    spec("GET", "/console/api/applications/{app}/workflows/{id}/", Console, CONSOLE, NO_BODY, |x| { let (a, b) = p2(x); Route::ConsoleWorkflow(a, b) }),
    spec("PATCH", "/console/api/applications/{app}/workflows/{id}/", Console, CONSOLE, SMALL_JSON, |x| { let (a, b) = p2(x); Route::ConsoleUpdateWorkflow(a, b) }),
];

/// A request's route and the table row it came from.
#[derive(Debug, Clone)]
pub struct Matched {
    pub route: Route,
    pub spec: &'static RouteSpec,
}

/// The captured segments when `path` fits `pattern`.
fn fit(pattern: &str, path: &[&str]) -> Option<Vec<String>> {
    let want: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    if want.len() != path.len() {
        return None;
    }
    let mut params = Vec::new();
    for (w, got) in want.iter().zip(path) {
        match *w {
            "{lang}" if !is_language(got) => return None,
            "{lang}" => {}
            w if w.starts_with('{') => params.push((*got).to_owned()),
            w if w == *got => {}
            _ => return None,
        }
    }
    Some(params)
}

/// Method + path → the route and its row: 404 when no pattern fits, 405 (with `Allow`) when
/// one fits for other methods.
pub fn resolve(method: &str, path: &str) -> Result<Matched, ApiError> {
    let path = path.split(['?', '#']).next().unwrap_or("");
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let m = method.to_ascii_uppercase();
    let mut allow = Vec::new();
    for spec in ROUTES {
        if let Some(params) = fit(spec.pattern, &segs) {
            if spec.method == m {
                return Ok(Matched {
                    route: (spec.build)(&params),
                    spec,
                });
            }
            if !allow.contains(&spec.method) {
                allow.push(spec.method);
            }
        }
    }
    if allow.is_empty() {
        return Err(not_offered(&segs).map_or(ApiError::NotFound, ApiError::NotOffered));
    }
    allow.push("OPTIONS");
    Err(ApiError::MethodNotAllowed { method: m, allow })
}

/// Didit's v3 endpoints (contract Appendix A) that facegate does not serve, by their first
/// path segment (or the session sub-resource), named for the 404 that says so.
fn not_offered(segs: &[&str]) -> Option<&'static str> {
    let what = match segs {
        ["v3", "session", _, sub, ..] => match *sub {
            "update-data" | "update-poa-data" => "editing extracted document data",
            "share" => "session sharing",
            _ => return None,
        },
        ["v3", "session", "import-shared" | "imports", ..] => "session imports",
        ["v3", "billing", "top-up", ..] => "prepaid credit",
        ["v3", first, ..] => match *first {
            "questionnaires" => "questionnaires",
            "businesses" | "kyb" => "business verification (KYB)",
            "transactions" | "wallet-screening" => "transaction monitoring",
            "id-verification" | "poa" | "database-validation" => "document verification",
            "aml" => "AML screening",
            "age-estimation" => "age estimation",
            "email" | "phone" => "email and phone verification",
            _ => return None,
        },
        _ => return None,
    };
    Some(what)
}

/// `resolve` for the route alone.
pub fn route(method: &str, path: &str) -> Result<Route, ApiError> {
    resolve(method, path).map(|m| m.route)
}

/// A UI language path segment as Didit's session URLs carry it (`es`, `cnr`, `pt-BR`), which
/// `/v3/session/{id}/` of the API must never be mistaken for.
pub fn is_language(segment: &str) -> bool {
    let (base, region) = segment.split_once('-').unwrap_or((segment, ""));
    (2..=3).contains(&base.len())
        && base.bytes().all(|b| b.is_ascii_lowercase())
        && (region.is_empty()
            || (region.len() == 2 && region.bytes().all(|b| b.is_ascii_uppercase())))
}

impl Route {
    /// The session token a hosted route names in its path.
    pub fn token(&self) -> Option<&str> {
        match self {
            Route::HostedPage(t)
            | Route::HostedSummary(t)
            | Route::HostedChallenge(t)
            | Route::HostedCapture(t)
            | Route::HostedChallengeStep(t, ..)
            | Route::HostedQr(t) => Some(t),
            _ => None,
        }
    }

    /// This route's row of the table.
    pub fn spec(&self) -> &'static RouteSpec {
        let probe = ["x".to_owned(), "x".to_owned(), "x".to_owned()];
        ROUTES
            .iter()
            .find(|s| std::mem::discriminant(&(s.build)(&probe)) == std::mem::discriminant(self))
            .expect("every route has a row")
    }

    /// The per-minute budget of this route's class (contract 3.4 for the Didit routes). The
    /// adapter counts (it owns the shared state); the core renders the 429
    /// (`ApiError::RateLimited`).
    pub fn rate_limit_per_minute(&self) -> u32 {
        self.spec().budget.per_minute
    }
}

/// The key a request's budget is counted under: the application for API routes (never the raw
/// header, which authentication trims), the session token and client for hosted routes, the
/// client for public ones.
pub fn rate_bucket(
    spec: &RouteSpec,
    application_id: Option<&str>,
    token: Option<&str>,
    client_ip: &str,
) -> String {
    let class = spec.budget.class;
    match (spec.auth, application_id, token) {
        (Auth::ApiKey, Some(app), _) => format!("app:{app}:{class}"),
        (Auth::SessionToken, _, Some(token)) => {
            format!("tok:{}:{client_ip}:{class}", &hash_api_key(token)[..32])
        }
        (Auth::Operator, ..) => format!("op:{class}"),
        // The console's caller is an operator: its id comes in `token`'s place.
        (Auth::Console, _, Some(operator)) => format!("con:{operator}:{class}"),
        _ => format!("ip:{client_ip}:{class}"),
    }
}

/// Credentials that turned out wrong (an API key of no application, a session token of no
/// session, a wrong operator secret), counted per client. Each costs a lookup before any budget
/// of the route applies (there is no application or token to key it by yet), so guessing gets a
/// 429 after this many a minute. A missing credential costs nothing to refuse and is not counted.
pub const FAILED_AUTHENTICATION: Budget = Budget {
    class: "failed-auth",
    per_minute: 60,
};

/// The bucket a failed authentication is counted in, or `None` when `error` is not one.
pub fn failed_authentication_bucket(error: &ApiError, client_ip: &str) -> Option<String> {
    matches!(
        error,
        ApiError::InvalidApiKey | ApiError::NotFound | ApiError::Unauthenticated(_)
    )
    .then(|| format!("ip:{client_ip}:{}", FAILED_AUTHENTICATION.class))
}

/// The operator's credential (`Authorization: Bearer …`) against the configured secret, in
/// constant time. No secret configured: operator routes are closed (the cron still runs).
/// Nothing sent → 403; something wrong sent → 401; an application's `x-api-key` is not a
/// credential here.
pub fn authorize_operator(
    headers: &[(String, String)],
    secret: Option<&str>,
) -> Result<(), ApiError> {
    let sent = header(headers, "authorization")
        .and_then(|v| v.trim().strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let Some(sent) = sent else {
        return Err(ApiError::MissingApiKey);
    };
    let Some(secret) = secret.map(str::trim).filter(|s| !s.is_empty()) else {
        return Err(ApiError::MissingApiKey);
    };
    // Equal-length digests, compared without an early exit.
    let (a, b) = (
        Sha256::digest(sent.as_bytes()),
        Sha256::digest(secret.as_bytes()),
    );
    let diff = a
        .iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    if diff == 0 {
        Ok(())
    } else {
        Err(ApiError::InvalidApiKey)
    }
}

/// The table as `GET /internal/routes` shows it, for the tenancy test and the fuzzer.
pub fn table_json() -> Value {
    serde_json::to_value(ROUTES).unwrap_or(Value::Null)
}

/// A response for the adapter to send as is.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// `None` for 204.
    pub body: Option<Value>,
}

impl HttpResponse {
    pub fn json(status: u16, body: Value) -> Self {
        HttpResponse {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: Some(body),
        }
    }

    pub fn no_content() -> Self {
        HttpResponse {
            status: 204,
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn body_bytes(&self) -> Vec<u8> {
        self.body
            .as_ref()
            .map(|b| b.to_string().into_bytes())
            .unwrap_or_default()
    }
}

impl From<ApiError> for HttpResponse {
    fn from(e: ApiError) -> Self {
        let (status, headers, body) = e.to_http();
        HttpResponse {
            status,
            headers,
            body: Some(body),
        }
    }
}

#[cfg(test)]
mod table_tests;
