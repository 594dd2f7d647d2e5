//! `/v3/workflows/` management as the MCP server's tools call it (contract Appendix A): list,
//! create, get, update, delete, with Didit's body — `workflow_label`, an ordered `features`
//! list of `{feature, config, label}`, `status`, `is_default`, `max_retry_attempts`,
//! `session_expiration_time`. Workflows live in the application's configuration; the adapter
//! persists the changed `Application` (as for webhook destinations).
//!
//! IP_ANALYSIS may follow either (its config is the step-up rules, `visits` module).
//!
//! facegate runs two capture features, so a features-only workflow maps onto its two kinds:
//! `[LIVENESS]` is enrolment (`kyc`: an approved selfie becomes the user's face template) and
//! `[LIVENESS, FACE_MATCH]` is re-authentication (`biometric_authentication`: the selfie is
//! matched 1:1 against the enrolled face or the session's `portrait_image`). Any other Didit
//! feature is refused with a 400 that says so, rather than accepted and silently not run.
//!
//! Versions: a change to a published workflow makes a new version (version + 1, its own
//! `uuid`) under the same `workflow_id`; new sessions take the latest, sessions already begun
//! keep theirs (`Application::workflow_of`). A draft is edited in place and cannot start
//! sessions until published. Deleting archives the workflow: new sessions are refused, old
//! ones are decided as they began.

use serde_json::{json, Map, Value};

use crate::destinations::object;
use crate::error::{ApiError, FieldErrors};
use crate::routes::HttpResponse;
use crate::store::Ids;
use crate::time::iso8601;
use crate::types::{Application, Feature, Thresholds, Workflow, WorkflowStatus, WorkflowType};
use facegate_pipeline::challenge::escalate::EscalationSetting;
use facegate_pipeline::challenge::LivenessMethod;

/// Superseded versions kept per application. Each PATCH adds one, and the configuration is
/// read on every request, so an unbounded history would let one key grow every request's
/// cost; past the limit the oldest go (a session on a pruned version is decided on its
/// workflow's latest version).
pub const HISTORY_LIMIT: usize = 100;
/// Workflows (latest versions) per application, for the same reason.
pub const WORKFLOW_LIMIT: usize = 100;

/// Didit's features facegate does not run: named so the refusal can say so.
const OTHER_FEATURES: [&str; 12] = [
    "OCR",
    "NFC",
    "PROOF_OF_ADDRESS",
    "QUESTIONNAIRE",
    "PHONE_VERIFICATION",
    "EMAIL_VERIFICATION",
    "DATABASE_VALIDATION",
    "AML",
    "AGE_ESTIMATION",
    "KYB_REGISTRY",
    "KYB_DOCUMENTS",
    "KYB_KEY_PEOPLE",
];

/// Didit's settings facegate has no counterpart for: refused by name, not ignored.
const UNSUPPORTED_SETTINGS: [&str; 3] = [
    "is_white_label_enabled",
    "is_desktop_allowed",
    "retry_window_days",
];

/// One version as the API shows it: Didit's list-item fields, its flat configuration, and the
/// `nodes` in the order and shape the `features` body takes (so a GET can be PATCHed back).
pub fn render(w: &Workflow) -> Value {
    let face_match = w.has(Feature::FaceMatch);
    json!({
        "uuid": w.uuid(),
        "workflow_id": w.id,
        "workflow_label": w.label,
        "workflow_type": w.workflow_type,
        "version": w.version,
        "status": w.status,
        "is_default": w.is_default,
        "is_archived": w.archived,
        "has_draft": false,
        "is_simple_workflow": true,
        "features": w.features().iter().map(|f| f.as_str()).collect::<Vec<_>>(),
        "nodes": nodes(w),
        "is_liveness_enabled": true,
        "face_liveness_method": w.liveness_method.as_wire().to_ascii_lowercase(),
        "face_liveness_score_decline_threshold": w.thresholds.liveness_decline,
        "is_face_match_enabled": face_match,
        "face_match_score_decline_threshold": face_match.then_some(w.thresholds.face_match_decline),
        "face_match_score_review_threshold": face_match.then_some(w.thresholds.face_match_review),
        "max_retry_attempts": w.max_attempts,
        "session_expiration_time": w.session_expiration_time,
        "updated_at": w.updated_at.map(iso8601),
    })
}

pub(crate) fn nodes(w: &Workflow) -> Vec<Value> {
    let label = |f: Feature| w.labels.get(f.as_str()).cloned();
    let mut out = vec![json!({
        "feature": "LIVENESS",
        "config": {
            "face_liveness_method": w.liveness_method.as_wire(),
            "face_liveness_score_decline_threshold": w.thresholds.liveness_decline,
            "liveness_escalation": w.liveness_escalation,
            "duplicate_face_action": w.duplicate_face_action,
        },
        "label": label(Feature::Liveness),
    })];
    if w.has(Feature::FaceMatch) {
        out.push(json!({
            "feature": "FACE_MATCH",
            "config": {
                "face_match_score_decline_threshold": w.thresholds.face_match_decline,
                "face_match_score_review_threshold": w.thresholds.face_match_review,
            },
            "label": label(Feature::FaceMatch),
        }));
    }
    if let Some(rules) = &w.ip_analysis {
        out.push(json!({
            "feature": "IP_ANALYSIS",
            "config": rules,
            "label": label(Feature::IpAnalysis),
        }));
    }
    out
}

/// Every version, newest first, as Didit lists them (one row per version).
pub fn list(app: &Application) -> HttpResponse {
    let mut rows: Vec<&Workflow> = app
        .workflows
        .iter()
        .chain(app.workflow_history.iter())
        .collect();
    rows.sort_by_key(|w| std::cmp::Reverse(w.updated_at.unwrap_or(0)));
    let results: Vec<Value> = rows.into_iter().map(render).collect();
    HttpResponse::json(
        200,
        json!({ "count": results.len(), "next": null, "previous": null, "results": results }),
    )
}

/// A version by its `uuid`, or the latest version by `workflow_id` (a first version's uuid
/// is the workflow id, which names the latest: the deleted one, once a workflow is deleted).
pub fn get(app: &Application, id: &str) -> Result<HttpResponse, ApiError> {
    let old = || app.workflow_history.iter().rev();
    app.workflow(id)
        .or_else(|| {
            old().find(|w| {
                w.version_uuid
                    .as_deref()
                    .is_some_and(|u| u.eq_ignore_ascii_case(id))
            })
        })
        .or_else(|| old().find(|w| w.id.eq_ignore_ascii_case(id)))
        .map(|w| HttpResponse::json(200, render(w)))
        .ok_or(ApiError::NotFound)
}

pub fn create(
    app: &mut Application,
    body: &[u8],
    ids: &impl Ids,
    now: i64,
) -> Result<HttpResponse, ApiError> {
    let fields = object(body)?;
    if app.workflows.len() >= WORKFLOW_LIMIT {
        return Err(ApiError::BadRequest(format!(
            "An application has at most {WORKFLOW_LIMIT} workflows; delete one first."
        )));
    }
    let mut errors = FieldErrors::new();
    if !fields.contains_key("features") {
        errors.add("features", "This field is required.");
    }
    let mut w = Workflow::new(ids.uuid()?, WorkflowType::Kyc);
    w.updated_at = Some(now);
    apply(&mut w, &fields, &mut errors);
    errors.into_result()?;
    if w.is_default {
        clear_default(app);
    }
    let shown = render(&w);
    app.workflows.push(w);
    Ok(HttpResponse::json(201, shown))
}

pub fn update(
    app: &mut Application,
    id: &str,
    body: &[u8],
    ids: &impl Ids,
    now: i64,
) -> Result<HttpResponse, ApiError> {
    let fields = object(body)?;
    let index = position(app, id)?;
    let before = app.workflows[index].clone();
    let mut next = before.clone();
    let mut errors = FieldErrors::new();
    apply(&mut next, &fields, &mut errors);
    if before.status == WorkflowStatus::Published && next.status == WorkflowStatus::Draft {
        errors.add("status", "Cannot revert a published version to draft.");
    }
    errors.into_result()?;
    if next == before {
        return Ok(HttpResponse::json(200, render(&before)));
    }
    next.updated_at = Some(now);
    if before.status == WorkflowStatus::Draft && !fields.contains_key("status") {
        // Didit: saving a draft without a status publishes it.
        next.status = WorkflowStatus::Published;
    }
    if before.status == WorkflowStatus::Published {
        // Sessions begun on `before` keep it: it moves to the history, the change is a new
        // version with its own uuid.
        next.version = before.version + 1;
        next.version_uuid = Some(ids.uuid()?);
        let mut old = before;
        old.is_default = false;
        archive(app, old);
    }
    if next.is_default {
        clear_default(app);
    }
    let shown = render(&next);
    app.workflows[index] = next;
    Ok(HttpResponse::json(200, shown))
}

/// Archives the workflow: no new session may start on it, sessions begun on it are decided
/// as they began (Didit: "Existing sessions using it are not affected").
pub fn delete(app: &mut Application, id: &str) -> Result<HttpResponse, ApiError> {
    let index = position(app, id)?;
    let mut w = app.workflows.remove(index);
    w.archived = true;
    w.is_default = false;
    archive(app, w);
    Ok(HttpResponse::no_content())
}

/// The latest version named by `id`; an older version's uuid is answered with why it cannot
/// be changed.
fn position(app: &Application, id: &str) -> Result<usize, ApiError> {
    if let Some(i) = app
        .workflows
        .iter()
        .position(|w| w.id.eq_ignore_ascii_case(id) || w.uuid().eq_ignore_ascii_case(id))
    {
        return Ok(i);
    }
    if app
        .workflow_history
        .iter()
        .any(|w| w.uuid().eq_ignore_ascii_case(id))
    {
        return Err(ApiError::BadRequest(
            "This is a superseded or deleted version; change the workflow's latest version.".into(),
        ));
    }
    Err(ApiError::NotFound)
}

fn archive(app: &mut Application, w: Workflow) {
    app.workflow_history.push(w);
    let excess = app.workflow_history.len().saturating_sub(HISTORY_LIMIT);
    app.workflow_history.drain(..excess);
}

fn clear_default(app: &mut Application) {
    for w in &mut app.workflows {
        w.is_default = false;
    }
}

/// Applies the fields present to `w`, collecting DRF-style errors. Didit's body is a strict
/// whitelist, and so is this one: an unknown key (a flat `is_*_enabled` flag, a
/// `workflow_type`) is a 400, never ignored.
fn apply(w: &mut Workflow, fields: &Map<String, Value>, errors: &mut FieldErrors) {
    for (key, v) in fields {
        match key.as_str() {
            "workflow_label" => match v {
                Value::Null => w.label = None,
                Value::String(s) if s.chars().count() <= 50 => {
                    w.label = Some(s.trim().to_owned()).filter(|s| !s.is_empty())
                }
                _ => errors.add(key, "Ensure this field is a string of at most 50 characters."),
            },
            "features" => features(w, v, errors),
            "is_default" => match v.as_bool() {
                Some(b) => w.is_default = b,
                None => errors.add(key, "Must be a valid boolean."),
            },
            "status" => match v.as_str() {
                Some("published") => w.status = WorkflowStatus::Published,
                Some("draft") => w.status = WorkflowStatus::Draft,
                _ => errors.add(key, format!("{v} is not a valid choice (draft, published).")),
            },
            "max_retry_attempts" => match whole(v).filter(|n| (1..=10).contains(n)) {
                Some(n) => w.max_attempts = n as u32,
                None => errors.add(
                    key,
                    "Captures allowed per session: a whole number from 1 to 10.",
                ),
            },
            "session_expiration_time" => match v {
                Value::Null => w.session_expiration_time = None,
                _ => match whole(v).filter(|n| (60..=30 * 86_400).contains(n)) {
                    Some(n) => w.session_expiration_time = Some(n),
                    None => errors.add(
                        key,
                        "Seconds a session stays open: a whole number from 60 to 2592000 (30 days).",
                    ),
                },
            },
            k if UNSUPPORTED_SETTINGS.contains(&k) => {
                errors.add(key, "facegate has no such setting.")
            }
            _ => errors.add(key, "Unknown field."),
        }
    }
}

fn whole(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
}

/// `features`: the full replacement, in order. LIVENESS first and once; FACE_MATCH at most
/// once, after it. Each node's config starts from the defaults, as Didit's replacement does.
fn features(w: &mut Workflow, v: &Value, errors: &mut FieldErrors) {
    const KEY: &str = "features";
    let Some(items) = v.as_array().filter(|a| !a.is_empty()) else {
        errors.add(
            KEY,
            "Expected a non-empty list of {feature, config, label}.",
        );
        return;
    };
    let mut names = Vec::new();
    let mut next = Workflow {
        thresholds: Thresholds::default(),
        liveness_method: LivenessMethod::Passive,
        liveness_escalation: EscalationSetting::default(),
        ip_analysis: None,
        duplicate_face_action: None,
        labels: Default::default(),
        ..w.clone()
    };
    for (i, item) in items.iter().enumerate() {
        let at = |what: &str| format!("{KEY}[{i}]{what}");
        let Some(node) = item.as_object() else {
            errors.add(KEY, format!("{}: expected an object.", at("")));
            continue;
        };
        if let Some(k) = node
            .keys()
            .find(|k| !["feature", "config", "label"].contains(&k.as_str()))
        {
            errors.add(KEY, format!("{}: unknown key \"{k}\".", at("")));
        }
        let name = node.get("feature").and_then(Value::as_str).unwrap_or("");
        let feature = match name {
            "LIVENESS" => Feature::Liveness,
            "FACE_MATCH" => Feature::FaceMatch,
            "IP_ANALYSIS" => {
                next.ip_analysis = Some(Default::default());
                Feature::IpAnalysis
            }
            other if OTHER_FEATURES.contains(&other) => {
                errors.add(
                    KEY,
                    format!(
                        "{}: facegate does not run {other}; it runs LIVENESS, FACE_MATCH and IP_ANALYSIS.",
                        at(".feature")
                    ),
                );
                continue;
            }
            other => {
                errors.add(
                    KEY,
                    format!("{}: \"{other}\" is not a valid choice.", at(".feature")),
                );
                continue;
            }
        };
        if names.contains(&feature) {
            errors.add(KEY, format!("{}: {name} appears twice.", at(".feature")));
            continue;
        }
        names.push(feature);
        match node.get("label") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.chars().count() <= 50 => {
                next.labels.insert(name.to_owned(), s.clone());
            }
            Some(_) => errors.add(KEY, format!("{}: at most 50 characters.", at(".label"))),
        }
        let config = match node.get("config") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => {
                errors.add(KEY, format!("{}: expected an object.", at(".config")));
                continue;
            }
        };
        for (k, value) in &config {
            let problem = configure(&mut next, feature, k, value).err();
            if let Some(why) = problem {
                errors.add(KEY, format!("{}: {why}", at(&format!(".config.{k}"))));
            }
        }
    }
    // IP analysis judges the visit, whichever capture follows: it may close either list.
    let captures: Vec<Feature> = names
        .iter()
        .copied()
        .filter(|f| *f != Feature::IpAnalysis)
        .collect();
    match captures.as_slice() {
        [Feature::Liveness] => {
            next.workflow_type = WorkflowType::Kyc;
            next.face_match = false;
        }
        [Feature::Liveness, Feature::FaceMatch] => {
            next.workflow_type = WorkflowType::BiometricAuthentication;
            next.face_match = true;
        }
        _ if names.len() < items.len() => {} // the item errors above say why
        _ => errors.add(
            KEY,
            "facegate runs [LIVENESS] (enrolment) or [LIVENESS, FACE_MATCH] (re-authentication), in that order, optionally with IP_ANALYSIS.",
        ),
    }
    if let Some(why) = threshold_order(&next.thresholds) {
        errors.add(KEY, why);
    }
    *w = next;
}

/// Decline must not be above review: between them is In Review, and a decline above review
/// would approve scores it also declines.
pub(crate) fn threshold_order(t: &Thresholds) -> Option<&'static str> {
    (t.face_match_decline > t.face_match_review).then_some(
        "face_match_score_decline_threshold must not be above face_match_score_review_threshold.",
    )
}

/// One config key of one node (the console's editor checks its fields with it too).
pub(crate) fn configure(
    w: &mut Workflow,
    feature: Feature,
    key: &str,
    v: &Value,
) -> Result<(), String> {
    let score = || {
        v.as_f64()
            .filter(|x| (0.0..=100.0).contains(x))
            .map(|x| x as f32)
            .ok_or_else(|| "a number from 0 to 100.".to_owned())
    };
    match (feature, key) {
        (Feature::Liveness, "face_liveness_method") => {
            w.liveness_method = v
                .as_str()
                .and_then(LivenessMethod::parse)
                .ok_or("one of PASSIVE, FLASHING, ACTIVE_3D.")?;
        }
        (Feature::Liveness, "face_liveness_score_decline_threshold") => {
            w.thresholds.liveness_decline = score()?;
        }
        (Feature::Liveness, "liveness_escalation") => {
            let setting: EscalationSetting = serde_json::from_value(v.clone())
                .map_err(|e| format!("{{enabled, method, band}}: {e}."))?;
            if !(0.0..=100.0).contains(&setting.band) {
                return Err("band: a number from 0 to 100.".into());
            }
            w.liveness_escalation = setting;
        }
        (Feature::Liveness, "duplicate_face_action") => {
            w.duplicate_face_action = match v {
                Value::Null => None,
                v => Some(
                    serde_json::from_value(v.clone())
                        .map_err(|_| "one of decline, review, approve, or null (off).")?,
                ),
            };
        }
        (Feature::FaceMatch, "face_match_score_decline_threshold") => {
            w.thresholds.face_match_decline = score()?;
        }
        (Feature::FaceMatch, "face_match_score_review_threshold") => {
            w.thresholds.face_match_review = score()?;
        }
        (Feature::IpAnalysis, key) => {
            let rules = w.ip_analysis.get_or_insert_with(Default::default);
            *rules = crate::visits::rules_for(rules, Some(&json!({ key: v })))?;
        }
        _ => return Err("facegate has no such setting for this feature.".into()),
    }
    Ok(())
}
