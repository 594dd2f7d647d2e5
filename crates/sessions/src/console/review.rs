//! The review queue and a session's evidence as the console shows them: every score next to
//! the threshold it was judged against and what that threshold was measured to do (at any
//! value: `error_rates`), warnings in plain words, and the session's timeline (created, decided, reviewed, each webhook).

use serde_json::{json, Value};

use super::accounts::Action;
use super::signin::Principal;
use crate::cipher::TemplateCipher;
use crate::deliveries::delivery_json;
use crate::error::ApiError;
use crate::render;
use crate::routes::HttpResponse;
use crate::service::Service;
use crate::store::{Clock, Ids, SessionFilter, Store};
use crate::time::iso8601;
use crate::types::{Application, AuditRow, DeliveryRow, Session, SessionStatus};
use crate::visits::Visit;

/// The queue shows at most this many, oldest first; the rest wait their turn.
pub const QUEUE_LIMIT: u64 = 100;
/// Queue items that carry their images (when the application retains them).
pub const QUEUE_IMAGES: usize = 5;

/// The visit's IP-analysis warnings in the shape of the capture's.
fn visit_warnings(s: &Session) -> Vec<Value> {
    let item = s.visit.as_ref().map(|v| &v.analysis);
    item.and_then(|a| a.get("warnings"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|w| {
            json!({
                "risk": w["risk"], "feature": w["feature"], "log_type": w["log_type"],
                "plain": w["long_description"],
            })
        })
        .collect()
}

/// "3.5.140.2 · AMAZON-02 · United States · data centre": the address with what it is.
fn network_text(v: &Visit) -> String {
    let a = &v.analysis;
    let text = |k: &str| a.get(k).and_then(Value::as_str).map(str::to_owned);
    let mut parts: Vec<String> = [text("ip_address"), text("organization"), text("ip_country")]
        .into_iter()
        .flatten()
        .collect();
    if a["is_data_center"] == true {
        parts.push("data centre".into());
    }
    if a["is_vpn_or_tor"] == true {
        parts.push("VPN or Tor".into());
    }
    parts.join(" · ")
}

/// "Chrome on Android (mobile) · device 1a2b3c4d": what the user agent says and a short,
/// application-keyed fingerprint (never the page's own id).
fn device_text(v: &Visit) -> String {
    let a = &v.analysis;
    let text = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or("unknown");
    let fp = v
        .device_fingerprint
        .as_deref()
        .map_or("no device id".to_owned(), |f| format!("device {}", &f[..f.len().min(8)]));
    format!(
        "{} on {} ({}) · {fp}",
        text("browser_family"),
        text("os_family"),
        text("platform")
    )
}

/// A session's evidence: the decision as the API renders it plus what a reviewer needs
/// beside it. `images` is `null` here; the queue and the session page fill it in when the
/// application retains images (`images` module).
pub fn evidence(s: &Session, app: &Application, urls: &crate::render::Urls) -> Value {
    let wf = app.workflow_of(s);
    let thresholds = wf.map(|w| w.thresholds).unwrap_or_default();
    let live = s.liveness_checks.first();
    let matched = s.face_matches.first();
    let warnings: Vec<Value> = s
        .liveness_checks
        .iter()
        .flat_map(|c| &c.warnings)
        .chain(s.face_matches.iter().flat_map(|m| &m.warnings))
        .map(|w| {
            json!({
                "risk": w.risk, "feature": w.feature, "log_type": w.log_type,
                "plain": w.long_description,
            })
        })
        .chain(visit_warnings(s))
        .collect();
    let method = live.map(|c| c.method.as_str());
    json!({
        "session_id": s.id,
        "session_number": s.number,
        "status": s.status,
        "vendor_data": s.vendor_data,
        "workflow": wf.map(|w| json!({
            "id": w.id, "label": w.label, "type": w.workflow_type, "version": w.version,
        })),
        "created_at": iso8601(s.created_at),
        "updated_at": iso8601(s.updated_at),
        "assigned_to": s.assignee.as_ref().map(|a| json!({ "id": a.operator_id, "name": a.name })),
        "attempts": s.attempts,
        "max_attempts": wf.map_or(3, |w| w.max_attempts),
        "liveness": live.map(|c| json!({
            "method": c.method, "status": c.status, "score": c.score,
            "decline_threshold": thresholds.liveness_decline,
            "calibration": super::error_rates::liveness_text(&thresholds),
        })),
        "face_match": matched.map(|m| json!({
            "status": m.status, "score": m.score,
            "decline_threshold": thresholds.face_match_decline,
            "review_threshold": thresholds.face_match_review,
            "calibration": super::error_rates::face_match_text(&thresholds),
        })),
        "warnings": warnings,
        "challenge": method.filter(|m| *m != "PASSIVE").map(|m| json!({
            "method": m,
            "result": if live.is_some_and(|c| c.warnings.is_empty()) { "passed" } else { "see warnings" },
        })),
        "ip_address": s.visit.as_ref().map(network_text),
        "device": s.visit.as_ref().map(device_text),
        "step_up": s.visit.as_ref().map(|v| json!({
            "rule": v.rule, "action": v.action, "liveness_method": v.method,
        })),
        "images": null,
        "decision": render::decision(s, app, wf, urls),
    })
}

/// The session's history, oldest first: creation, the automatic verdict, each person's or
/// key's change, each webhook delivery.
pub fn timeline(s: &Session, audit: &[AuditRow], deliveries: &[DeliveryRow]) -> Vec<Value> {
    let mut items: Vec<(i64, Value)> = vec![(
        s.created_at,
        json!({ "at": iso8601(s.created_at), "kind": "created", "text": "Session created" }),
    )];
    // The automatic verdict is the status before the first manual change, or the current one.
    let automatic = audit
        .iter()
        .find_map(|a| a.previous_status)
        .unwrap_or(s.status);
    if s.attempts > 0 {
        let at = audit
            .first()
            .map_or(s.updated_at, |a| a.created_at.min(s.updated_at));
        items.push((
            at,
            json!({
                "at": iso8601(at), "kind": "decision",
                "text": format!("{} after {} capture attempt(s)", status_text(automatic), s.attempts),
            }),
        ));
    }
    for a in audit {
        let text = match (a.previous_status, a.new_status) {
            (Some(from), Some(to)) if from != to => {
                format!(
                    "{} → {} by {}",
                    status_text(from),
                    status_text(to),
                    a.actor_display
                )
            }
            _ => format!(
                "{} by {}",
                a.activity_type.replace('_', " ").to_lowercase(),
                a.actor_display
            ),
        };
        let text = match &a.comment {
            Some(c) => format!("{text}: {c}"),
            None => text,
        };
        items.push((
            a.created_at,
            json!({ "at": iso8601(a.created_at), "kind": "review", "text": text,
                    "actor": a.actor_display, "actor_type": a.actor_type }),
        ));
    }
    for d in deliveries {
        let outcome = d.last_response.as_deref().unwrap_or("not sent yet");
        items.push((
            d.updated_at,
            json!({
                "at": iso8601(d.updated_at), "kind": "webhook",
                "text": format!("{} → {}: {} after {} attempt(s)", d.webhook_type, d.url, outcome, d.attempt),
                "delivery": {
                    "id": d.id, "destination_id": d.destination_id, "status": d.status,
                    "http_status": d.last_response.as_deref().and_then(|r| r.parse::<u16>().ok()),
                    "attempts": d.attempt,
                    // The latest send's; every logged send has its own below.
                    "latency_ms": d.attempt_log.last().and_then(|a| a.latency_ms),
                    "attempt_log": d.attempt_log.iter().map(|a| json!({
                        "attempt": a.attempt, "at": iso8601(a.at), "response": a.response,
                        "http_status": a.response.parse::<u16>().ok(), "latency_ms": a.latency_ms,
                    })).collect::<Vec<_>>(),
                    "detail": delivery_json(d),
                },
            }),
        ));
    }
    // Stable: equal seconds keep the order above (created, decision, reviews, webhooks).
    items.sort_by_key(|(at, _)| *at);
    items.into_iter().map(|(_, v)| v).collect()
}

fn status_text(s: SessionStatus) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

impl<S: Store, C: Clock, I: Ids, K: TemplateCipher> Service<S, C, I, K> {
    /// `GET /console/api/applications/{app}/queue/`: In Review sessions, oldest first.
    pub async fn review_queue(
        &self,
        who: &Principal,
        app: &Application,
    ) -> Result<HttpResponse, ApiError> {
        who.operator().authorize(&app.id, Action::Read)?;
        let filter = SessionFilter {
            status: Some(SessionStatus::InReview),
            ..SessionFilter::default()
        };
        // The store pages newest first: the oldest `QUEUE_LIMIT` are the last page.
        let (count, _) = self.store.list_sessions(&app.id, &filter, 0, 1).await?;
        let offset = count.saturating_sub(QUEUE_LIMIT);
        let (_, mut rows) = self
            .store
            .list_sessions(&app.id, &filter, offset, QUEUE_LIMIT)
            .await?;
        rows.reverse();
        let mut results = Vec::with_capacity(rows.len());
        for (i, s) in rows.iter().enumerate() {
            let mut e = evidence(s, app, &self.urls);
            // The pictures of the first few only: the reviewer works from the top, and each
            // is ~100 KB; the rest come with the session's own page.
            if i < QUEUE_IMAGES {
                e["images"] = json!(self.evidence_images(app, s).await?);
            }
            results.push(e);
        }
        Ok(HttpResponse::json(
            200,
            json!({ "count": count, "results": results }),
        ))
    }

    /// `GET /console/api/applications/{app}/sessions/{id}/`: evidence and timeline.
    pub async fn session_evidence(
        &self,
        who: &Principal,
        app: &Application,
        id: &str,
    ) -> Result<HttpResponse, ApiError> {
        who.operator().authorize(&app.id, Action::Read)?;
        let s = self.load(app, id).await?;
        let audit = self.store.audit_for_session(&app.id, &s.id).await?;
        let deliveries = self.store.deliveries_for_session(&app.id, &s.id).await?;
        let mut body = evidence(&s, app, &self.urls);
        body["images"] = json!(self.evidence_images(app, &s).await?);
        body["timeline"] = Value::Array(timeline(&s, &audit, &deliveries));
        Ok(HttpResponse::json(200, body))
    }

    /// `GET /console/api/applications/{app}/sessions/`: the API's list and filters, its page
    /// links pointing back at the console's path.
    pub async fn console_sessions(
        &self,
        who: &Principal,
        app: &Application,
        query: &str,
    ) -> Result<HttpResponse, ApiError> {
        who.operator().authorize(&app.id, Action::Read)?;
        let mut r = self.list(app, query).await?;
        if let Some(body) = r.body.as_mut() {
            for key in ["next", "previous"] {
                if let Some(link) = body[key].as_str() {
                    let q = link.split_once('?').map_or("", |(_, q)| q);
                    body[key] = json!(format!(
                        "/console/api/applications/{}/sessions/?{q}",
                        app.id
                    ));
                }
            }
        }
        Ok(r)
    }

    /// `POST /console/api/applications/{app}/sessions/{id}/reviews/`: the same review as the
    /// API's, recorded as the signed-in person's.
    pub async fn console_review(
        &self,
        who: &Principal,
        app: &Application,
        id: &str,
        body: &[u8],
    ) -> Result<HttpResponse, ApiError> {
        who.operator().authorize(&app.id, Action::Decide)?;
        self.add_review(app, id, body, who.actor()).await
    }

    /// `POST …/sessions/{id}/assign/` `{"assign": true|false}`: take a session in review for
    /// yourself, or give it back. Taking one someone else holds is a 409 naming them (two
    /// reviewers racing for one session: one wins, the other is told who has it); giving back
    /// is for the holder (or an admin, to free a session whose reviewer left).
    pub async fn console_assign(
        &self,
        who: &Principal,
        app: &Application,
        id: &str,
        body: &[u8],
    ) -> Result<HttpResponse, ApiError> {
        let role = who.operator().authorize(&app.id, Action::Decide)?;
        let m = crate::validate::parse_object(body)?;
        let Some(assign) = m.get("assign").and_then(Value::as_bool) else {
            return Err(crate::error::FieldErrors::single(
                "assign",
                "true or false.",
            ));
        };
        let me = who.operator();
        let s = self.load(app, id).await?;
        if s.status != SessionStatus::InReview && assign {
            return Err(ApiError::Conflict(
                "Only a session in review can be assigned.".into(),
            ));
        }
        let mut next = s.clone();
        match (&s.assignee, assign) {
            (Some(a), true) if a.operator_id != me.id => {
                return Err(ApiError::Conflict(format!(
                    "{} is reviewing this session.",
                    a.name
                )));
            }
            (Some(a), false) if a.operator_id != me.id && role != super::Role::Admin => {
                return Err(ApiError::Forbidden(
                    "Only its reviewer or an admin can release this session.",
                ));
            }
            _ => {}
        }
        next.assignee = assign.then(|| crate::types::Assignee {
            operator_id: me.id.clone(),
            name: me.name.clone(),
        });
        if next.assignee != s.assignee {
            next.version = s.version + 1;
            self.store
                .commit(&[crate::store::Write::UpdateSession {
                    session: next.clone(),
                    expected_version: s.version,
                }])
                .await?;
        }
        Ok(HttpResponse::json(200, evidence(&next, app, &self.urls)))
    }

    /// `POST …/destinations/{d}/deliveries/{id}/resend/` from the console.
    pub async fn console_resend(
        &self,
        who: &Principal,
        app: &Application,
        destination_id: &str,
        delivery_id: &str,
    ) -> Result<HttpResponse, ApiError> {
        who.operator().authorize(&app.id, Action::Decide)?;
        self.resend_delivery(app, destination_id, delivery_id).await
    }
}
