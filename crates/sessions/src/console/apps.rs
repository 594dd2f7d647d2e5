//! Applications, their API keys and who may work in them, as the operator API changes them.
//! The adapter stores applications and keys (the worker's `apps` module); this decides who
//! may, what is created, and what the answer shows — a key only once, at its creation.

use serde_json::{json, Value};

use super::accounts::{Action, Grant, Operator, OperatorStore, OperatorWrite, Role};
use super::signin::{issue_setup_link, Principal};
use crate::error::{ApiError, FieldErrors};
use crate::routes::{hash_api_key, HttpResponse};
use crate::store::{Clock, Ids};
use crate::types::{AppSettings, Application, Workflow, WorkflowType};
use crate::validate::{opt_str, parse_object};

const MAX_APP_NAME_CHARS: usize = 100;

/// A key as stored: its hash, and the short public id the console names it by.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredKey {
    pub hash: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// The first 16 hex digits of the key's sha256: enough to tell keys apart, useless to guess
/// the key from.
pub fn key_id(hash: &str) -> &str {
    &hash[..hash.len().min(16)]
}

/// A fresh API key: `fg_` and 128+ random bits. Returns (key, its hash).
pub fn new_key(ids: &impl Ids) -> Result<(String, String), ApiError> {
    let key = format!("fg_{}", ids.token()?);
    let hash = hash_api_key(&key);
    Ok((key, hash))
}

/// `POST /console/api/applications/` `{name}` (platform admins): an application with a
/// re-authentication and an enrolment workflow (Didit's new applications come with
/// workflows too) and one API key.
pub fn new_application(
    who: &Principal,
    body: &[u8],
    ids: &impl Ids,
) -> Result<(Application, String), ApiError> {
    if !who.operator().platform_admin {
        return Err(ApiError::Forbidden(
            "Only platform admins create applications.",
        ));
    }
    let m = parse_object(body)?;
    let mut e = FieldErrors::new();
    let name = opt_str(&m, "name", false, &mut e).map(|n| n.trim().to_owned());
    match &name {
        None if !e.0.contains_key("name") => e.add("name", "This field is required."),
        Some(n) if n.chars().count() > MAX_APP_NAME_CHARS => e.add(
            "name",
            format!("Ensure this field has no more than {MAX_APP_NAME_CHARS} characters."),
        ),
        _ => {}
    }
    // A script provisioning from its own secrets store may name the id and the first key
    // (`scripts/dev.mjs` keeps them across restarts); otherwise both are fresh.
    let id = opt_str(&m, "id", false, &mut e);
    if id
        .as_deref()
        .is_some_and(|id| id.len() != 36 || !id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'))
    {
        e.add("id", "A UUID.");
    }
    let given_key = opt_str(&m, "api_key", false, &mut e);
    if given_key
        .as_deref()
        .is_some_and(|k| !(32..=200).contains(&k.len()) || !k.bytes().all(|b| b.is_ascii_graphic()))
    {
        e.add("api_key", "32 to 200 printable characters, no spaces.");
    }
    e.into_result()?;
    let (key, hash) = match given_key {
        Some(k) => {
            let h = hash_api_key(&k);
            (k, h)
        }
        None => new_key(ids)?,
    };
    let mut reauth = Workflow::new(ids.uuid()?, WorkflowType::BiometricAuthentication);
    reauth.label = Some("Re-authentication".into());
    reauth.is_default = true;
    let mut enrol = Workflow::new(ids.uuid()?, WorkflowType::Kyc);
    enrol.label = Some("Enrolment".into());
    let app = Application {
        id: match id {
            Some(id) => id.to_lowercase(),
            None => ids.uuid()?,
        },
        name: name.unwrap_or_default(),
        api_key_hashes: vec![hash],
        webhooks: Vec::new(),
        settings: AppSettings::default(),
        workflows: vec![reauth, enrol],
        workflow_history: Vec::new(),
    };
    Ok((app, key))
}

/// The answer to an application's creation: the key is in it, and never shown again.
pub fn created_json(app: &Application, key: &str) -> HttpResponse {
    HttpResponse::json(
        201,
        json!({
            "id": app.id, "name": app.name, "api_key": key,
            "key_id": key_id(&hash_api_key(key)),
            "workflows": app.workflows.iter().map(|w| json!({
                "id": w.id, "label": w.label, "type": w.workflow_type,
            })).collect::<Vec<_>>(),
        }),
    )
}

pub fn keys_json(keys: &[StoredKey]) -> HttpResponse {
    let results: Vec<Value> = keys
        .iter()
        .map(|k| {
            json!({
                "key_id": key_id(&k.hash),
                "created_at": crate::time::iso8601(k.created_at),
                "revoked_at": k.revoked_at.map(crate::time::iso8601),
            })
        })
        .collect();
    HttpResponse::json(200, json!({ "count": results.len(), "results": results }))
}

/// The stored key a console `key_id` names, among the application's.
pub fn find_key<'a>(keys: &'a [StoredKey], id: &str) -> Result<&'a StoredKey, ApiError> {
    keys.iter()
        .find(|k| !id.is_empty() && key_id(&k.hash).eq_ignore_ascii_case(id))
        .ok_or(ApiError::NotFound)
}

/// Key management is an admin's: checked before anything is read.
pub fn may_configure(who: &Principal, app: &Application) -> Result<(), ApiError> {
    who.operator()
        .authorize(&app.id, Action::Configure)
        .map(|_| ())
}

/// `POST /console/api/operators/` `{email, name, application_id, role}`: a platform admin,
/// or an admin of that application, gives someone a role in it. A new person gets a one-time
/// setup link (shown once, to be passed on); someone who already has an account just gains
/// the role. `application_exists` says whether the id names an application.
pub async fn invite(
    store: &impl OperatorStore,
    clock: &impl Clock,
    ids: &impl Ids,
    who: &Principal,
    body: &[u8],
    application_exists: impl Fn(&str) -> bool,
) -> Result<HttpResponse, ApiError> {
    let m = parse_object(body)?;
    let mut e = FieldErrors::new();
    let email = opt_str(&m, "email", false, &mut e).map(|s| s.trim().to_lowercase());
    let name = opt_str(&m, "name", true, &mut e).map(|s| s.trim().to_owned());
    let application_id = opt_str(&m, "application_id", false, &mut e).unwrap_or_default();
    let role = opt_str(&m, "role", false, &mut e);
    let role = match role.as_deref().map(|r| (r, Role::parse(r))) {
        Some((_, Some(r))) => Some(r),
        Some((r, None)) => {
            e.add("role", format!("\"{r}\" is not a valid choice."));
            None
        }
        None => {
            e.add("role", "This field is required.");
            None
        }
    };
    let email = email.unwrap_or_default();
    if !super::signin::valid_email(&email) {
        e.add("email", "Enter a valid email address.");
    }
    e.into_result()?;
    // Outside the inviter's applications the id is answered as unknown, like any other.
    if !application_exists(&application_id) {
        return Err(ApiError::NotFound);
    }
    who.operator()
        .authorize(&application_id, Action::Configure)?;
    let role = role.unwrap_or(Role::ReadOnly);
    let now = clock.now();
    let grant = Grant {
        application_id: application_id.clone(),
        role,
    };
    let (operator, expected_version, setup_url, mut writes) =
        match store.operator_by_email(&email).await? {
            Some(mut op) => {
                let v = op.version;
                // Inviting an admin again with a lesser role demotes them: the same rule as
                // a role change (`team`), so the application keeps an admin.
                let was_admin = op
                    .grants
                    .iter()
                    .any(|g| g.application_id == application_id && g.role == Role::Admin);
                let guard = if was_admin && role != Role::Admin {
                    vec![super::team::keep_an_admin(store, &application_id, &op).await?]
                } else {
                    Vec::new()
                };
                op.grants.retain(|g| g.application_id != application_id);
                op.grants.push(grant);
                op.version += 1;
                (op, v, None, guard)
            }
            None => {
                let op = Operator {
                    id: ids.uuid()?,
                    email,
                    name: name.unwrap_or_default(),
                    password_hash: None,
                    platform_admin: false,
                    grants: vec![grant],
                    created_at: now,
                    version: 1,
                    failed_logins: 0,
                    locked_until: 0,
                    second_factor: None,
                    pending_second_factor: None,
                };
                let (link_writes, url) = issue_setup_link(&op, ids, now)?;
                (op, 0, Some(url), link_writes)
            }
        };
    writes.insert(
        0,
        OperatorWrite::PutOperator {
            operator: operator.clone(),
            expected_version,
        },
    );
    store.commit_operators(&writes).await?;
    Ok(HttpResponse::json(
        201,
        json!({ "operator": operator.public_json(), "setup_url": setup_url }),
    ))
}

/// An audit row for a change made through the operator API (an application, a key, an
/// invitation, a webhook destination), by the caller, about `detail`.
pub fn audit(
    who: &Principal,
    application_id: &str,
    activity: &str,
    detail: String,
    ids: &impl Ids,
    now: i64,
) -> Result<crate::store::Write, ApiError> {
    let actor = who.actor();
    Ok(crate::store::Write::InsertAudit(crate::types::AuditRow {
        id: ids.uuid()?,
        application_id: application_id.to_owned(),
        session_id: None,
        vendor_data: None,
        activity_type: activity.to_owned(),
        actor_type: actor.actor_type,
        actor_display: actor.display,
        actor_email: actor.email,
        previous_status: None,
        new_status: None,
        comment: Some(detail),
        created_at: now,
    }))
}

/// The audit log page shows this many newest entries.
pub const AUDIT_PAGE: u32 = 200;

/// `GET /console/api/applications/{app}/audit/`: every change by an operator or an API key,
/// newest first, with the session and vendor_data it names.
pub async fn audit_log(
    store: &impl crate::store::Store,
    who: &Principal,
    app: &Application,
) -> Result<HttpResponse, ApiError> {
    who.operator().authorize(&app.id, Action::Read)?;
    let rows = store.audit_for_application(&app.id, AUDIT_PAGE).await?;
    let results: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut v = crate::reviews::audit_json(r);
            v["session_id"] = json!(r.session_id);
            v["vendor_data"] = json!(r.vendor_data);
            v
        })
        .collect();
    Ok(HttpResponse::json(
        200,
        json!({ "count": results.len(), "results": results }),
    ))
}

/// `GET …/usage/` and `…/usage.csv`: anyone who may read the application.
pub async fn usage(
    store: &impl crate::store::Store,
    who: &Principal,
    app: &Application,
    now: i64,
) -> Result<Vec<crate::usage::DayUsage>, ApiError> {
    who.operator().authorize(&app.id, Action::Read)?;
    crate::usage::days(store, app, now).await
}
