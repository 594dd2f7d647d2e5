//! Who is calling the operator API: sign-in with a password (argon2id), lock-out after
//! repeated failures, the browser session cookie with its CSRF token, one-time setup links
//! for the first admin and for invited operators.
//!
//! The cookie is HttpOnly, SameSite=Strict and scoped to `/console`, so no other site's page
//! can send it and no script can read it; every write must also echo the CSRF token the page
//! got at sign-in (a header a cross-site form cannot set), and a request that says it comes
//! from another origin is refused outright.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::accounts::{ConsoleSession, Operator, OperatorStore, OperatorWrite, SetupLink};
use crate::error::{ApiError, FieldErrors};
use crate::routes::{header, HttpResponse};
use crate::store::{Clock, Ids};
use crate::validate::{opt_str, parse_object};

pub const COOKIE: &str = "fg_console";
/// A browser session lasts a working day; signing in again is cheap, a stolen cookie is not.
pub const SESSION_SECONDS: i64 = 8 * 3600;
/// Failures in a row that lock an account, and for how long.
pub const MAX_FAILURES: u32 = 5;
pub const LOCKOUT_SECONDS: i64 = 15 * 60;
pub const SETUP_LINK_SECONDS: i64 = 72 * 3600;
pub const MIN_PASSWORD_CHARS: usize = 12;
pub const MAX_PASSWORD_CHARS: usize = 256;
const MAX_EMAIL_CHARS: usize = 254;
const MAX_NAME_CHARS: usize = 100;
pub const CSRF_HEADER: &str = "x-csrf-token";

/// OWASP's argon2id setting (19 MiB, 2 passes, 1 lane). The 19 MiB block array is allocated
/// per hash and freed after; the isolate's memory figure in the README is measured with it.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("constant argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A password's argon2id hash with a salt taken from the injected randomness.
pub fn hash_password(password: &str, ids: &impl Ids) -> Result<String, ApiError> {
    let salt_bytes = &Sha256::digest(ids.token()?.as_bytes())[..16];
    let salt = SaltString::encode_b64(salt_bytes).map_err(|e| ApiError::Internal(e.to_string()))?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// Compares in argon2's own constant time. A malformed stored hash matches nothing.
pub fn verify_password(stored: &str, password: &str) -> bool {
    PasswordHash::new(stored)
        .map(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
        .unwrap_or(false)
}

/// Verified instead when the email names nobody (or nobody with a password yet), so a wrong
/// email costs as long as a wrong password and timing does not tell which emails exist. Made
/// once per isolate with the same parameters as every real hash.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        let salt = SaltString::encode_b64(b"facegate-decoy!!").expect("16 bytes is a valid salt");
        argon2()
            .hash_password(b"decoy", &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn equal_secrets(a: &str, b: &str) -> bool {
    let (a, b) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// `Set-Cookie` for a new browser session. `Secure` always: browsers accept it on
/// http://localhost, and anywhere else the console must be served over TLS.
pub fn session_cookie(token: &str, max_age: i64) -> String {
    format!("{COOKIE}={token}; Path=/console; HttpOnly; Secure; SameSite=Strict; Max-Age={max_age}")
}

pub fn cleared_cookie() -> String {
    format!("{COOKIE}=; Path=/console; HttpOnly; Secure; SameSite=Strict; Max-Age=0")
}

/// The session token from a `Cookie` header (the first `fg_console` pair).
pub fn cookie_token(headers: &[(String, String)]) -> Option<&str> {
    header(headers, "cookie")?
        .split(';')
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// Who an operator-API request comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Principal {
    /// A signed-in person, through the console's cookie.
    Operator {
        operator: Operator,
        session: ConsoleSession,
    },
    /// A script holding the platform's `OPERATOR_TOKEN` (bearer): a platform admin without a
    /// person behind it; no cookie, so no CSRF to defend against.
    Platform,
}

impl Principal {
    /// The operator the request acts as: the platform token acts as a platform admin.
    pub fn operator(&self) -> Operator {
        match self {
            Principal::Operator { operator, .. } => operator.clone(),
            Principal::Platform => Operator {
                id: "platform".into(),
                email: String::new(),
                name: "Platform operator".into(),
                password_hash: None,
                platform_admin: true,
                grants: Vec::new(),
                created_at: 0,
                version: 0,
                failed_logins: 0,
                locked_until: 0,
                second_factor: None,
                pending_second_factor: None,
            },
        }
    }

    /// The audit log's actor: Didit's `CONSOLE_USER` for a person, `API_KEY` for the token.
    pub fn actor(&self) -> crate::types::Actor {
        match self {
            Principal::Operator { operator, .. } => crate::types::Actor {
                actor_type: crate::types::ACTOR_CONSOLE_USER.into(),
                display: operator.name.clone(),
                email: Some(operator.email.clone()),
            },
            Principal::Platform => crate::types::Actor {
                actor_type: crate::types::ACTOR_API_KEY.into(),
                display: "Platform operator".into(),
                email: None,
            },
        }
    }
}

/// A browser request's operator, from its cookie. Writes (`unsafe_method`) must carry the
/// session's CSRF token and must not say they come from another site; `own_origin` is the
/// origin the console is served from.
pub async fn from_cookie(
    store: &impl OperatorStore,
    now: i64,
    headers: &[(String, String)],
    unsafe_method: bool,
    own_origin: &str,
) -> Result<Principal, ApiError> {
    const SIGN_IN: ApiError = ApiError::Unauthenticated("Sign in to the console first.");
    let token = cookie_token(headers).ok_or(SIGN_IN)?;
    let session = store
        .console_session(&token_hash(token))
        .await?
        .filter(|s| s.expires_at > now)
        .ok_or(SIGN_IN)?;
    if session.awaiting_selfie.is_some() {
        return Err(ApiError::Unauthenticated(
            "Finish signing in: your selfie is still to come.",
        ));
    }
    let operator = store.operator(&session.operator_id).await?.ok_or(SIGN_IN)?;
    if unsafe_method {
        check_same_site(headers, own_origin)?;
        let sent = header(headers, CSRF_HEADER).unwrap_or("");
        if !equal_secrets(sent.trim(), &session.csrf) {
            return Err(ApiError::Forbidden("CSRF token missing or wrong."));
        }
    }
    Ok(Principal::Operator { operator, session })
}

/// Browsers say where a request comes from (`Sec-Fetch-Site`, `Origin`); a write from
/// anywhere but the console's own origin is refused even before the CSRF token is looked at.
pub fn check_same_site(headers: &[(String, String)], own_origin: &str) -> Result<(), ApiError> {
    const CROSS: ApiError = ApiError::Forbidden("Cross-site requests are refused.");
    if header(headers, "sec-fetch-site")
        .is_some_and(|s| !matches!(s.trim(), "same-origin" | "none"))
    {
        return Err(CROSS);
    }
    if header(headers, "origin").is_some_and(|o| !o.trim().eq_ignore_ascii_case(own_origin)) {
        return Err(CROSS);
    }
    Ok(())
}

/// What `me`, sign-in and setup answer: the operator, the applications they can open with
/// their role in each (name and id pairs from the caller), and the CSRF token.
pub fn me_json(principal: &Principal, applications: &[(String, String)]) -> Value {
    let op = principal.operator();
    let apps: Vec<Value> = applications
        .iter()
        .filter_map(|(id, name)| {
            op.role_in(id)
                .map(|r| json!({ "id": id, "name": name, "role": r.as_str() }))
        })
        .collect();
    let csrf = match principal {
        Principal::Operator { session, .. } => Some(session.csrf.clone()),
        Principal::Platform => None,
    };
    json!({
        "operator": {
            "id": op.id, "email": op.email, "name": op.name, "platform_admin": op.platform_admin,
            "second_factor": op.second_factor.is_some(),
        },
        "applications": apps,
        "csrf_token": csrf,
    })
}

/// A new browser session for `operator` and its raw cookie token.
pub(crate) fn open_session(
    operator: &Operator,
    ids: &impl Ids,
    now: i64,
) -> Result<(ConsoleSession, String), ApiError> {
    let token = ids.token()?;
    let session = ConsoleSession {
        token_hash: token_hash(&token),
        operator_id: operator.id.clone(),
        csrf: ids.token()?,
        created_at: now,
        expires_at: now + SESSION_SECONDS,
        awaiting_selfie: None,
    };
    Ok((session, token))
}

pub(crate) fn signed_in(
    operator: Operator,
    session: ConsoleSession,
    token: &str,
    applications: &[(String, String)],
) -> HttpResponse {
    let principal = Principal::Operator { operator, session };
    let mut r = HttpResponse::json(200, me_json(&principal, applications));
    r.headers.push(("Set-Cookie".into(), session_cookie(token, SESSION_SECONDS)));
    r.headers.push(("Cache-Control".into(), "no-store".into()));
    r
}

fn normal_email(s: &str) -> String {
    s.trim().to_lowercase()
}

pub(crate) fn valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && s.chars().count() <= MAX_EMAIL_CHARS
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// A sign-in or setup request as sent: its body and where the browser says it comes from.
pub struct SignInForm<'a> {
    pub headers: &'a [(String, String)],
    /// The origin the console is served from.
    pub own_origin: &'a str,
    pub body: &'a [u8],
}

impl SignInForm<'_> {
    /// The body's fields, once the request is known to come from the console's own origin:
    /// another site's form must not sign this browser in to the attacker's account (login
    /// CSRF), so these two are same-origin only, like every write.
    fn fields(&self) -> Result<serde_json::Map<String, Value>, ApiError> {
        check_same_site(self.headers, self.own_origin)?;
        parse_object(self.body)
    }
}

/// `POST /console/api/login/` `{email, password}` for an operator without a second factor
/// (the service's `console_login` is the route's handler; it asks for the selfie of those
/// who have one).
pub async fn login(
    store: &impl OperatorStore,
    clock: &impl Clock,
    ids: &impl Ids,
    form: &SignInForm<'_>,
    applications: &[(String, String)],
) -> Result<HttpResponse, ApiError> {
    let op = check_password(store, clock, form).await?;
    sign_in(store, ids, clock.now(), op, applications).await
}

/// A browser session for an operator who has proved who they are; earlier failures are
/// forgotten.
pub(crate) async fn sign_in(
    store: &impl OperatorStore,
    ids: &impl Ids,
    now: i64,
    op: Operator,
    applications: &[(String, String)],
) -> Result<HttpResponse, ApiError> {
    let (session, token) = open_session(&op, ids, now)?;
    store
        .commit_operators(&[
            OperatorWrite::ClearFailures {
                operator_id: op.id.clone(),
            },
            OperatorWrite::PutConsoleSession(session.clone()),
        ])
        .await?;
    Ok(signed_in(op, session, &token, applications))
}

/// The operator a sign-in form's email and password name, or why not: a wrong password
/// counts towards the lock-out, a locked account is refused before its hash is checked.
pub(crate) async fn check_password(
    store: &impl OperatorStore,
    clock: &impl Clock,
    form: &SignInForm<'_>,
) -> Result<Operator, ApiError> {
    const WRONG: ApiError = ApiError::Unauthenticated("Email or password is wrong.");
    let m = form.fields()?;
    let mut e = FieldErrors::new();
    let email = opt_str(&m, "email", false, &mut e).map(|s| normal_email(&s));
    let password = opt_str(&m, "password", false, &mut e);
    for (field, value) in [("email", &email), ("password", &password)] {
        if value.is_none() && !e.0.contains_key(field) {
            e.add(field, "This field is required.");
        }
    }
    e.into_result()?;
    let (email, password) = (email.unwrap_or_default(), password.unwrap_or_default());
    if password.chars().count() > MAX_PASSWORD_CHARS || email.chars().count() > MAX_EMAIL_CHARS {
        return Err(WRONG);
    }
    let now = clock.now();
    let operator = store.operator_by_email(&email).await?;
    if let Some(op) = operator.as_ref().filter(|op| op.locked_until > now) {
        let retry_after = op.locked_until - now;
        return Err(ApiError::TooMany {
            detail: format!(
                "Too many failed sign-ins: this account is locked for {} more minute(s).",
                (retry_after + 59) / 60
            ),
            retry_after,
        });
    }
    let stored = operator.as_ref().and_then(|op| op.password_hash.as_deref());
    let ok = verify_password(stored.unwrap_or(decoy_hash()), &password) && stored.is_some();
    let Some(op) = operator else {
        return Err(WRONG);
    };
    if !ok {
        count_failure(store, &op.id, now).await?;
        return Err(WRONG);
    }
    Ok(op)
}

/// One more failed sign-in of `operator_id` (a wrong password, or a selfie that did not
/// confirm them): the fifth in a row locks the account.
pub(crate) async fn count_failure(
    store: &impl OperatorStore,
    operator_id: &str,
    now: i64,
) -> Result<(), ApiError> {
    store
        .commit_operators(&[OperatorWrite::CountFailure {
            operator_id: operator_id.to_owned(),
            limit: MAX_FAILURES,
            lock_until: now + LOCKOUT_SECONDS,
        }])
        .await?;
    Ok(())
}

/// `POST /console/api/logout/`: the session stops working at once (not just the cookie).
pub async fn logout(
    store: &impl OperatorStore,
    principal: &Principal,
) -> Result<HttpResponse, ApiError> {
    if let Principal::Operator { session, .. } = principal {
        store
            .commit_operators(&[OperatorWrite::DeleteConsoleSession {
                token_hash: session.token_hash.clone(),
            }])
            .await?;
    }
    let mut r = HttpResponse::no_content();
    r.headers.push(("Set-Cookie".into(), cleared_cookie()));
    Ok(r)
}

/// A one-time setup link for `operator`, replacing any earlier one. Returns the writes and
/// the link's path (the token travels in the fragment, which no server log records).
pub fn issue_setup_link(
    operator: &Operator,
    ids: &impl Ids,
    now: i64,
) -> Result<(Vec<OperatorWrite>, String), ApiError> {
    let token = ids.token()?;
    let writes = vec![
        OperatorWrite::DeleteSetupLinksOf {
            operator_id: operator.id.clone(),
        },
        OperatorWrite::PutSetupLink(SetupLink {
            token_hash: token_hash(&token),
            operator_id: operator.id.clone(),
            expires_at: now + SETUP_LINK_SECONDS,
        }),
    ];
    Ok((writes, format!("/console/#setup={token}")))
}

/// `POST /internal/console-bootstrap/` (platform token): a setup link for the first platform
/// admin, as long as none has set a password yet. Run by `npm run dev` / setup, which print it.
pub async fn bootstrap(
    store: &impl OperatorStore,
    clock: &impl Clock,
    ids: &impl Ids,
) -> Result<HttpResponse, ApiError> {
    let now = clock.now();
    let operators = store.operators().await?;
    if operators
        .iter()
        .any(|o| o.platform_admin && o.password_hash.is_some())
    {
        return Err(ApiError::Conflict(
            "A platform admin exists: sign in, or ask them to invite you.".into(),
        ));
    }
    let pending = operators
        .into_iter()
        .find(|o| o.platform_admin && o.password_hash.is_none());
    let (operator, mut writes) = match pending {
        Some(op) => (op, Vec::new()),
        None => {
            let op = Operator {
                id: ids.uuid()?,
                email: String::new(),
                name: String::new(),
                password_hash: None,
                platform_admin: true,
                grants: Vec::new(),
                created_at: now,
                version: 1,
                failed_logins: 0,
                locked_until: 0,
                second_factor: None,
                pending_second_factor: None,
            };
            let w = OperatorWrite::PutOperator {
                operator: op.clone(),
                expected_version: 0,
            };
            (op, vec![w])
        }
    };
    let (link_writes, url) = issue_setup_link(&operator, ids, now)?;
    writes.extend(link_writes);
    store.commit_operators(&writes).await?;
    Ok(HttpResponse::json(
        201,
        json!({ "setup_url": url, "expires_in": SETUP_LINK_SECONDS }),
    ))
}

/// `POST /console/api/setup/` `{token, name, email, password}`: the link's operator sets a
/// password (and, for the first admin, an email) and is signed in. The link is used up in the
/// same commit, so two tabs racing one link cannot both succeed.
pub async fn setup(
    store: &impl OperatorStore,
    clock: &impl Clock,
    ids: &impl Ids,
    form: &SignInForm<'_>,
    applications: &[(String, String)],
) -> Result<HttpResponse, ApiError> {
    const UNKNOWN: ApiError =
        ApiError::NoSuch("This setup link is not valid (used, expired or mistyped).");
    let m = form.fields()?;
    let mut e = FieldErrors::new();
    let token = opt_str(&m, "token", false, &mut e).unwrap_or_default();
    let name = opt_str(&m, "name", false, &mut e).map(|n| n.trim().to_owned());
    let email = opt_str(&m, "email", true, &mut e).map(|s| normal_email(&s));
    let password = opt_str(&m, "password", false, &mut e).unwrap_or_default();
    let now = clock.now();
    let link = store
        .setup_link(&token_hash(&token))
        .await?
        .filter(|l| l.expires_at > now)
        .ok_or(UNKNOWN)?;
    let mut op = store.operator(&link.operator_id).await?.ok_or(UNKNOWN)?;
    let name = name
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| op.name.clone());
    if name.is_empty() {
        e.add("name", "This field is required.");
    } else if name.chars().count() > MAX_NAME_CHARS {
        e.add(
            "name",
            format!("Ensure this field has no more than {MAX_NAME_CHARS} characters."),
        );
    }
    if op.email.is_empty() {
        match email.filter(|s| !s.is_empty()) {
            Some(email) if valid_email(&email) => {
                if store.operator_by_email(&email).await?.is_some() {
                    e.add("email", "An operator with this email exists.");
                }
                op.email = email;
            }
            Some(_) => e.add("email", "Enter a valid email address."),
            None => e.add("email", "This field is required."),
        }
    }
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        e.add(
            "password",
            format!("Use at least {MIN_PASSWORD_CHARS} characters."),
        );
    } else if chars > MAX_PASSWORD_CHARS {
        e.add(
            "password",
            format!("Use at most {MAX_PASSWORD_CHARS} characters."),
        );
    } else if password.to_lowercase().contains(&op.email) && !op.email.is_empty() {
        e.add(
            "password",
            "The password must not contain your email address.",
        );
    }
    e.into_result()?;
    let expected_version = op.version;
    op.name = name;
    op.password_hash = Some(hash_password(&password, ids)?);
    op.version += 1;
    op.failed_logins = 0;
    op.locked_until = 0;
    let (session, cookie) = open_session(&op, ids, now)?;
    store
        .commit_operators(&[
            OperatorWrite::ConsumeSetupLink {
                token_hash: link.token_hash.clone(),
            },
            OperatorWrite::PutOperator {
                operator: op.clone(),
                expected_version,
            },
            OperatorWrite::PutConsoleSession(session.clone()),
        ])
        .await
        .map_err(|e| match e {
            crate::store::StoreError::Conflict => UNKNOWN,
            other => other.into(),
        })?;
    Ok(signed_in(op, session, &cookie, applications))
}
