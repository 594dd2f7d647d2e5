//! An application's workflows in the console: each with its thresholds and what they were
//! measured to do (`error_rates`), read by anyone with a role in the application and created
//! or changed by its admins. The editor's body is flat (one field per control, so a refusal
//! names the control); it is checked field by field with the API's own rules
//! (`workflows::configure`) and then applied as the `/v3/workflows/` body through
//! `workflows::create` / `workflows::update`, so versions work exactly as there: a change to a
//! published workflow is a new version, sessions already begun keep theirs.

use serde_json::{json, Map, Value};

use super::accounts::Action;
use super::error_rates;
use super::signin::Principal;
use crate::error::{ApiError, FieldErrors};
use crate::routes::HttpResponse;
use crate::store::Ids;
use crate::types::{Application, Feature, Workflow, WorkflowType};
use crate::validate::parse_object;
use crate::workflows::{self, configure, threshold_order};

const LIVENESS_FIELDS: [&str; 2] = [
    "face_liveness_method",
    "face_liveness_score_decline_threshold",
];
const FACE_MATCH_FIELDS: [&str; 2] = [
    "face_match_score_decline_threshold",
    "face_match_score_review_threshold",
];
/// Passed to the API's body as they are: its own checks name them the same way.
const PLAIN_FIELDS: [&str; 4] = [
    "workflow_label",
    "is_default",
    "max_retry_attempts",
    "session_expiration_time",
];

/// A workflow's latest version as the API renders it, with its figures and how many earlier
/// versions sessions may still be on.
fn console_json(app: &Application, w: &Workflow) -> Value {
    let mut v = workflows::render(w);
    v["error_rates"] = error_rates::figures(&w.thresholds, w.has(Feature::FaceMatch));
    v["earlier_versions"] = app
        .workflow_history
        .iter()
        .filter(|h| h.id == w.id)
        .map(|h| json!({ "uuid": h.uuid(), "version": h.version, "archived": h.archived }))
        .collect();
    v
}

/// `GET /console/api/applications/{app}/workflows/`: the latest version of each.
pub fn list(who: &Principal, app: &Application) -> Result<HttpResponse, ApiError> {
    who.operator().authorize(&app.id, Action::Read)?;
    let results: Vec<Value> = app.workflows.iter().map(|w| console_json(app, w)).collect();
    Ok(HttpResponse::json(
        200,
        json!({ "count": results.len(), "results": results }),
    ))
}

/// `GET …/workflows/{id}/`: the latest version, by workflow id or a version's uuid.
pub fn get(who: &Principal, app: &Application, id: &str) -> Result<HttpResponse, ApiError> {
    who.operator().authorize(&app.id, Action::Read)?;
    let w = app.workflow(id).ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::json(200, console_json(app, w)))
}

/// `GET /console/api/error-rates/`: the curves, for the editor to show figures as a control
/// moves.
pub fn curves(who: &Principal) -> HttpResponse {
    let _ = who;
    HttpResponse::json(200, error_rates::curves_json())
}

/// What a change did, for the audit log: the workflow, its version, and each field sent with
/// the value it now has (never the raw body).
pub struct Changed {
    pub response: HttpResponse,
    /// False when the body changed nothing (no new version, nothing to audit).
    pub changed: bool,
    pub audit_detail: String,
}

/// `POST …/workflows/` (admins): a new workflow; `features` is `["LIVENESS"]` (enrolment) or
/// `["LIVENESS", "FACE_MATCH"]` (re-authentication, the default).
pub fn create(
    who: &Principal,
    app: &mut Application,
    body: &[u8],
    ids: &impl Ids,
    now: i64,
) -> Result<Changed, ApiError> {
    who.operator().authorize(&app.id, Action::Configure)?;
    let fields = parse_object(body)?;
    let base = Workflow::new("new", WorkflowType::BiometricAuthentication);
    let didit = to_api_body(&base, &fields)?;
    let r = workflows::create(app, &didit, ids, now)?;
    finish(app, r, &fields, "created")
}

/// `PATCH …/workflows/{id}/` (admins): only what is sent changes.
pub fn update(
    who: &Principal,
    app: &mut Application,
    id: &str,
    body: &[u8],
    ids: &impl Ids,
    now: i64,
) -> Result<Changed, ApiError> {
    who.operator().authorize(&app.id, Action::Configure)?;
    let fields = parse_object(body)?;
    let current = app.workflow(id).ok_or(ApiError::NotFound)?.clone();
    let didit = to_api_body(&current, &fields)?;
    let r = workflows::update(app, id, &didit, ids, now)?;
    let verb =
        if r.body.as_ref().and_then(|b| b["version"].as_u64()) == Some(current.version.into()) {
            "unchanged"
        } else {
            "changed"
        };
    finish(app, r, &fields, verb)
}

fn finish(
    app: &Application,
    r: HttpResponse,
    fields: &Map<String, Value>,
    verb: &str,
) -> Result<Changed, ApiError> {
    let id = r
        .body
        .as_ref()
        .and_then(|b| b["workflow_id"].as_str())
        .unwrap_or_default();
    let w = app.workflow(id).ok_or(ApiError::NotFound)?;
    let shown = console_json(app, w);
    let values: Vec<String> = fields
        .keys()
        .map(|k| format!("{k} = {}", shown.get(k).unwrap_or(&Value::Null)))
        .collect();
    let audit_detail = format!(
        "Workflow {:?} ({}) {verb}, version {}: {}",
        w.label.as_deref().unwrap_or(""),
        w.id,
        w.version,
        values.join(", ")
    );
    Ok(Changed {
        response: HttpResponse::json(r.status, shown),
        changed: verb != "unchanged",
        audit_detail,
    })
}

/// The editor's flat body as the API's `/v3/workflows/` body, every field checked first by
/// the API's own rules under its own name. `features` (names only) keeps the workflow's when
/// absent; node labels and the escalation setting are kept as they are.
fn to_api_body(current: &Workflow, fields: &Map<String, Value>) -> Result<Vec<u8>, ApiError> {
    let mut e = FieldErrors::new();
    let mut next = current.clone();
    let face_match = match fields.get("features") {
        None => current.has(Feature::FaceMatch),
        Some(v) => {
            let names: Vec<&str> = v
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            match names.as_slice() {
                ["LIVENESS"] => false,
                ["LIVENESS", "FACE_MATCH"] => true,
                _ => {
                    e.add(
                        "features",
                        "[\"LIVENESS\"] (enrolment) or [\"LIVENESS\", \"FACE_MATCH\"] (re-authentication).",
                    );
                    current.has(Feature::FaceMatch)
                }
            }
        }
    };
    for (key, v) in fields {
        let k = key.as_str();
        let feature = if LIVENESS_FIELDS.contains(&k) {
            Feature::Liveness
        } else if FACE_MATCH_FIELDS.contains(&k) {
            if !face_match {
                e.add(
                    k,
                    "This workflow has no face match (features [\"LIVENESS\"]).",
                );
                continue;
            }
            Feature::FaceMatch
        } else {
            if !PLAIN_FIELDS.contains(&k) && k != "features" {
                e.add(k, "Unknown field.");
            }
            continue;
        };
        if let Err(why) = configure(&mut next, feature, k, v) {
            e.add(k, format!("Must be {why}"));
        }
    }
    if face_match {
        if let Some(why) = threshold_order(&next.thresholds) {
            e.add("face_match_score_review_threshold", why);
        }
    }
    e.into_result()?;
    // The API's body takes the full node list: the workflow's own, with the new values.
    next.face_match = face_match;
    next.workflow_type = if face_match {
        WorkflowType::BiometricAuthentication
    } else {
        WorkflowType::Kyc
    };
    let nodes = workflows::nodes(&next);
    let mut body: Map<String, Value> = fields
        .iter()
        .filter(|(k, _)| PLAIN_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    body.insert("features".into(), Value::Array(nodes));
    serde_json::to_vec(&body).map_err(|e| ApiError::Internal(e.to_string()))
}
