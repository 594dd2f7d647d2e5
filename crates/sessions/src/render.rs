//! Sessions → the exact JSON of each endpoint and of the `status.updated` webhook.

use serde_json::{json, Map, Value};

use crate::time::iso8601;
use crate::types::{Application, Feature, Session, Workflow};
use crate::validate::ListQuery;

/// Where this deployment is reachable; used for `url`/`session_url` and pagination links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Urls {
    /// Origin serving the hosted capture page, e.g. `https://verify.example.com`.
    pub hosted_base: String,
    /// Base of the API as clients configure it, e.g. `https://api.example.com/v3`.
    pub api_base: String,
}

impl Urls {
    pub fn session_url(&self, token: &str) -> String {
        format!("{}/session/{token}", self.hosted_base.trim_end_matches('/'))
    }
}

/// `POST /session/` 201 body (§1.3).
pub fn create(s: &Session, urls: &Urls) -> Value {
    json!({
        "session_id": s.id,
        "session_number": s.number,
        "session_token": s.token,
        "url": urls.session_url(&s.token),
        "vendor_data": s.vendor_data,
        "metadata": s.metadata,
        "status": s.status,
        "callback": s.callback,
        "callback_method": s.callback_method,
        "workflow_id": s.workflow_id,
        "workflow_version": s.workflow_version,
        "session_kind": "user",
    })
}

/// `GET /session/{id}/` (SDK-only): the create shape plus timestamps (§1.4).
pub fn get(s: &Session, urls: &Urls) -> Value {
    let mut v = create(s, urls);
    if let Value::Object(m) = &mut v {
        m.insert("language".into(), json!(s.language));
        m.insert("created_at".into(), json!(iso8601(s.created_at)));
        m.insert("updated_at".into(), json!(iso8601(s.updated_at)));
        m.insert("expires_at".into(), json!(iso8601(s.expires_at)));
    }
    v
}

/// Features of the session: its workflow's when still configured, else what its data shows.
pub fn features_of(s: &Session, workflow: Option<&Workflow>) -> Vec<Feature> {
    match workflow {
        Some(w) => w.features(),
        None if !s.face_matches.is_empty()
            || s.reference != crate::types::ReferenceSource::None =>
        {
            vec![Feature::Liveness, Feature::FaceMatch]
        }
        None => vec![Feature::Liveness],
    }
}

/// `GET /session/{id}/decision/` (§1.5). Every array is `[]`, never `null`: the community
/// SDK refuses null lists (§1.6).
pub fn decision(s: &Session, app: &Application, workflow: Option<&Workflow>, urls: &Urls) -> Value {
    let features = features_of(s, workflow);
    let ip_analyses: Vec<Value> = s.visit.iter().map(|v| v.item()).collect();
    let warnings: Vec<Value> = s
        .liveness_checks
        .iter()
        .flat_map(|c| c.warnings.iter())
        .chain(s.face_matches.iter().flat_map(|m| m.warnings.iter()))
        .filter_map(|w| serde_json::to_value(w).ok())
        .chain(
            ip_analyses
                .iter()
                .filter_map(|a| a.get("warnings").and_then(Value::as_array))
                .flatten()
                .cloned(),
        )
        .collect();
    let reviews: Vec<Value> = s
        .reviews
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "action": r.action,
                "old_status": r.old_status,
                "new_status": r.new_status,
                "note": r.note,
                // What didit-sdk's `ReviewData` reads; every review is an API key's today.
                "reviewed_by": r.reviewed_by.as_deref().unwrap_or(crate::types::API_CLIENT),
                "decision_reason": r.note,
                "created_at": iso8601(r.created_at),
            })
        })
        .collect();
    let mut v = json!({
        "session_id": s.id,
        "session_kind": "user",
        "session_number": s.number,
        "session_url": urls.session_url(&s.token),
        "status": s.status,
        "environment": app.settings.environment,
        "workflow_id": s.workflow_id,
        "workflow_version": s.workflow_version,
        "features": features.iter().map(|f| f.as_str()).collect::<Vec<_>>(),
        "vendor_data": s.vendor_data,
        "metadata": s.metadata,
        "callback": s.callback,
        "callback_method": s.callback_method,
        "expected_details": s.expected_details,
        "contact_details": s.contact_details,
        "id_verifications": [],
        "nfc_verifications": [],
        "liveness_checks": s.liveness_checks,
        "face_matches": s.face_matches,
        "poa_verifications": [],
        "document_ai_documents": [],
        "phone_verifications": [],
        "email_verifications": [],
        "aml_screenings": [],
        "ip_analyses": ip_analyses,
        "database_validations": [],
        "questionnaire_responses": [],
        "reviews": reviews,
        "warnings": warnings,
        "created_at": iso8601(s.created_at),
    });
    if let (Some(nodes), Value::Object(m)) = (&s.resubmit_nodes, &mut v) {
        let max = workflow.map_or(1, |w| w.max_attempts.max(1));
        m.insert(
            "resubmit_info".into(),
            json!({
                "nodes": nodes.iter().map(|n| match &n.feature {
                    Some(f) => format!("{}:{f}", n.node_id),
                    None => n.node_id.clone(),
                }).collect::<Vec<_>>(),
                "available_attempts": max.saturating_sub(s.attempts),
                "max_attempts": max,
            }),
        );
    }
    v
}

fn item_status(s: &Session, f: Feature) -> &'static str {
    let status = match f {
        Feature::Liveness => s.liveness_checks.first().map(|c| c.status),
        Feature::FaceMatch => s.face_matches.first().map(|m| m.status),
        Feature::IpAnalysis => {
            return s
                .visit
                .as_ref()
                .and_then(|v| v.analysis.get("status"))
                .and_then(Value::as_str)
                .map_or("Not Finished", |st| match st {
                    "Approved" => "Approved",
                    "Declined" => "Declined",
                    _ => "In Review",
                })
        }
    };
    status.map_or("Not Finished", |st| st.as_str())
}

fn full_name(s: &Session) -> Value {
    let d = s.expected_details.as_ref();
    let part = |k: &str| {
        d.and_then(|d| d.get(k))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    let name = format!("{} {}", part("first_name"), part("last_name"));
    match name.trim() {
        "" => Value::Null,
        n => Value::String(n.to_owned()),
    }
}

/// One row of `GET /sessions/` (§1.7).
pub fn list_row(s: &Session, workflow: Option<&Workflow>, urls: &Urls) -> Value {
    let country = s
        .expected_details
        .as_ref()
        .and_then(|d| d.get("id_country").or_else(|| d.get("country")))
        .cloned()
        .unwrap_or(Value::Null);
    let contact = |k: &str| {
        s.contact_details
            .as_ref()
            .and_then(|c| c.get(k))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    json!({
        "session_id": s.id,
        "session_kind": "user",
        "session_number": s.number,
        "session_url": urls.session_url(&s.token),
        "url": urls.session_url(&s.token),
        "session_token": s.token,
        "status": s.status,
        "vendor_data": s.vendor_data,
        "workflow_id": s.workflow_id,
        "callback": s.callback,
        "created_at": iso8601(s.created_at),
        "updated_at": iso8601(s.updated_at),
        "portrait_image": null,
        "document_type": null,
        "full_name": full_name(s),
        "country": country,
        "features": features_of(s, workflow)
            .into_iter()
            .map(|f| json!({"feature": f.as_str(), "status": item_status(s, f)}))
            .collect::<Vec<_>>(),
        "phone_number": contact("phone").map(|n| json!({"number": n, "is_verified": false})),
        "email_address": contact("email").map(|e| json!({"email": e, "is_verified": false})),
    })
}

/// The query string with `limit`/`offset` set (removed when `None`), other pairs kept in
/// order and encoding, as DRF's `replace_query_param`/`remove_query_param` do.
fn page_link(urls: &Urls, q: &ListQuery, offset: Option<u64>) -> String {
    let mut pairs: Vec<(String, String)> = q
        .raw
        .iter()
        .filter(|(k, _)| k != "limit" && k != "offset")
        .cloned()
        .collect();
    pairs.push(("limit".into(), q.limit.to_string()));
    if let Some(o) = offset {
        pairs.push(("offset".into(), o.to_string()));
    }
    let qs: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(
        "{}/sessions/?{}",
        urls.api_base.trim_end_matches('/'),
        qs.join("&")
    )
}

/// `GET /sessions/` page: DRF limit/offset arithmetic, so `count`, `next`, `previous` and
/// the rows agree (the PY `--all` walker checks this, §1.7).
pub fn list_page(count: u64, rows: Vec<Value>, q: &ListQuery, urls: &Urls) -> Value {
    let next = (q.offset + q.limit < count).then(|| page_link(urls, q, Some(q.offset + q.limit)));
    let previous = if q.offset == 0 {
        None
    } else if q.offset <= q.limit {
        Some(page_link(urls, q, None))
    } else {
        Some(page_link(urls, q, Some(q.offset - q.limit)))
    };
    json!({ "count": count, "next": next, "previous": previous, "results": rows })
}

/// `PATCH update-status` 200 body.
pub fn update_status(s: &Session) -> Value {
    json!({ "session_id": s.id, "session_kind": "user" })
}

/// Webhook metadata must be an object for the PY model (§1.6): anything else is left out.
fn webhook_metadata(s: &Session) -> Option<Value> {
    s.metadata.as_ref().filter(|m| m.is_object()).cloned()
}

/// `status.updated` payload (§2.2), without `timestamp`: the signer sets it at send time.
pub fn status_webhook(
    event_id: &str,
    app: &Application,
    s: &Session,
    workflow: Option<&Workflow>,
    urls: &Urls,
    created_at: i64,
) -> Value {
    let mut m = Map::new();
    m.insert("event_id".into(), json!(event_id));
    m.insert("webhook_type".into(), json!("status.updated"));
    m.insert("created_at".into(), json!(created_at));
    m.insert("application_id".into(), json!(app.id));
    m.insert("environment".into(), json!(app.settings.environment));
    m.insert("session_id".into(), json!(s.id));
    m.insert("status".into(), json!(s.status));
    m.insert("workflow_id".into(), json!(s.workflow_id));
    m.insert("workflow_version".into(), json!(s.workflow_version));
    if let Some(v) = &s.vendor_data {
        m.insert("vendor_data".into(), json!(v));
    }
    if let Some(meta) = webhook_metadata(s) {
        m.insert("metadata".into(), meta);
    }
    if s.status.webhook_has_decision() {
        m.insert("decision".into(), decision(s, app, workflow, urls));
    }
    Value::Object(m)
}

/// Where the hosted page sends the browser at the end (§1.3 `callback`), with Didit's
/// `verificationSessionId` and `status` query parameters appended.
pub fn callback_redirect(s: &Session) -> Option<String> {
    let cb = s.callback.as_deref()?;
    let (base, fragment) = match cb.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (cb, None),
    };
    let sep = if base.contains('?') { '&' } else { '?' };
    let status = s.status.as_str().replace(' ', "%20");
    let mut url = format!("{base}{sep}verificationSessionId={}&status={status}", s.id);
    if let Some(f) = fragment {
        url.push('#');
        url.push_str(f);
    }
    Some(url)
}
