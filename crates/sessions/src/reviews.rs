//! Manual decisions: `PATCH /session/{id}/update-status/` (§1.8) and the review log
//! `GET/POST /sessions/{id}/reviews/` (§1.11). Both go through `change_status`, so a status a
//! person sets is always one `transition`, one audit row, one review entry on the decision and
//! one `status.updated` event, written in a single commit.

use serde_json::{json, Value};

use crate::cipher::{open_embedding, session_aad, TemplateCipher};
use crate::error::{ApiError, FieldErrors};
use crate::render;
use crate::routes::HttpResponse;
use crate::service::{default_nodes, Service, SLOT_PENDING};
use crate::state::{transition, Event};
use crate::store::{Clock, Ids, Store, Write};
use crate::time::iso8601;
use crate::types::{
    Actor, Application, AuditRow, ResubmitNode, Review, Session, SessionStatus, WorkflowType,
};
use crate::validate::{
    opt_str, parse_object, parse_update_status, required_choice, type_name, ManualStatus,
};

pub const STATUS_UPDATED_ACTIVITY: &str = "STATUS_UPDATED";
/// Didit's limit on a review's comment (§1.11).
pub const MAX_COMMENT_CHARS: usize = 10_000;

/// A status change a person asked for, from either endpoint.
struct ManualChange {
    to: ManualStatus,
    nodes: Option<Vec<ResubmitNode>>,
    comment: Option<String>,
    /// The decision's `reviews[].action` (kept from before the audit log existed).
    action: &'static str,
    /// A review is a note even when the status stays: it is recorded. `update-status` to the
    /// current status is a no-op (§1.8) and writes nothing.
    record_unchanged: bool,
    actor: Actor,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReviewRequest {
    pub new_status: ManualStatus,
    pub comment: Option<String>,
}

/// `POST /sessions/{id}/reviews/` body: `new_status` one of the three a reviewer may set (the
/// MCP tool offers all ten; the others get 400 in DRF's shape), `comment` optional, ≤ 10000.
pub fn parse_review(body: &[u8]) -> Result<ReviewRequest, ApiError> {
    let m = parse_object(body)?;
    let mut e = FieldErrors::new();
    let new_status = required_choice(
        &m,
        "new_status",
        &[
            ("Approved", ManualStatus::Approved),
            ("Declined", ManualStatus::Declined),
            ("In Review", ManualStatus::InReview),
        ],
        |other| format!("Expected a string but got type \"{}\".", type_name(other)),
        &mut e,
    );
    let comment = opt_str(&m, "comment", true, &mut e);
    if comment
        .as_deref()
        .is_some_and(|c| c.chars().count() > MAX_COMMENT_CHARS)
    {
        e.add(
            "comment",
            format!("Ensure this field has no more than {MAX_COMMENT_CHARS} characters."),
        );
    }
    e.into_result()?;
    Ok(ReviewRequest {
        new_status: new_status.unwrap_or(ManualStatus::InReview),
        comment: comment.filter(|c| !c.is_empty()),
    })
}

/// An item of `GET /sessions/{id}/reviews/` (the current management-API shape, §1.11).
pub fn audit_json(r: &AuditRow) -> Value {
    json!({
        "uuid": r.id,
        "activity_type": r.activity_type,
        "actor_display": r.actor_display,
        "actor_email": r.actor_email,
        "actor_type": r.actor_type,
        "new_status": r.new_status,
        "previous_status": r.previous_status,
        "comment": r.comment,
        "mentioned_emails": [],
        "previous_value": null,
        "new_value": null,
        "changed_fields": [],
        "metadata": {},
        "created_at": iso8601(r.created_at),
    })
}

impl<S: Store, C: Clock, I: Ids, K: TemplateCipher> Service<S, C, I, K> {
    pub async fn update_status(
        &self,
        app: &Application,
        id: &str,
        body: &[u8],
    ) -> Result<HttpResponse, ApiError> {
        let req = parse_update_status(body)?;
        let change = ManualChange {
            to: req.new_status,
            nodes: req.nodes_to_resubmit,
            comment: req.comment,
            action: match req.new_status {
                ManualStatus::Resubmitted => "resubmit",
                _ => "status_change",
            },
            record_unchanged: false,
            actor: Actor::api_key(),
        };
        let (next, _) = self.change_status(app, id, change).await?;
        Ok(HttpResponse::json(200, render::update_status(&next)))
    }

    /// `POST /sessions/{id}/reviews/` → 201 `{user, new_status, comment, created_at}`, by an
    /// API key or (the console) by the operator `actor`.
    pub async fn add_review(
        &self,
        app: &Application,
        id: &str,
        body: &[u8],
        actor: Actor,
    ) -> Result<HttpResponse, ApiError> {
        let req = parse_review(body)?;
        let change = ManualChange {
            to: req.new_status,
            nodes: None,
            comment: req.comment,
            action: "review",
            record_unchanged: true,
            actor,
        };
        let (_, audit) = self.change_status(app, id, change).await?;
        let audit = audit.ok_or_else(|| ApiError::Internal("review not recorded".into()))?;
        Ok(HttpResponse::json(
            201,
            json!({
                "user": audit.actor_display,
                "new_status": audit.new_status,
                "comment": audit.comment,
                "created_at": iso8601(audit.created_at),
            }),
        ))
    }

    /// `GET /sessions/{id}/reviews/`: the session's audit rows, newest first, in one page.
    pub async fn list_reviews(
        &self,
        app: &Application,
        id: &str,
    ) -> Result<HttpResponse, ApiError> {
        let s = self.load(app, id).await?;
        let mut rows = self.store.audit_for_session(&app.id, &s.id).await?;
        // The store gives them in the order they were written (two reviews can share a
        // second); newest first is that order reversed.
        rows.reverse();
        let results: Vec<Value> = rows.iter().map(audit_json).collect();
        Ok(HttpResponse::json(
            200,
            json!({ "count": results.len(), "next": null, "previous": null, "results": results }),
        ))
    }

    /// The one path of a manual status change: the transition (which refuses sessions not yet
    /// decided), the kyc template consequences, the audit row with the decision's review entry
    /// (same id), and the webhook when the status moved — one commit, so none exists without
    /// the others. Returns the session as written and its audit row (`None`: nothing written).
    async fn change_status(
        &self,
        app: &Application,
        id: &str,
        change: ManualChange,
    ) -> Result<(Session, Option<AuditRow>), ApiError> {
        let s = self.load(app, id).await?;
        let now = self.clock.now();
        let wf = app.workflow_of(&s);
        let event = Event::Manual {
            to: change.to,
            nodes: change
                .nodes
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| default_nodes(wf)),
            expires_at: now
                + wf.map_or(app.settings.session_expiry_seconds, |w| {
                    w.session_expiry_seconds(&app.settings)
                }),
        };
        let mut next = transition(&s, &event, now)?;
        if next.version == s.version {
            if !change.record_unchanged {
                return Ok((s, None));
            }
            next.version = s.version + 1;
            next.updated_at = now;
        }
        let audit = AuditRow {
            id: self.ids.uuid()?,
            application_id: app.id.clone(),
            session_id: Some(s.id.clone()),
            vendor_data: s.vendor_data.clone(),
            activity_type: STATUS_UPDATED_ACTIVITY.into(),
            actor_type: change.actor.actor_type,
            actor_display: change.actor.display,
            actor_email: change.actor.email,
            previous_status: Some(s.status),
            new_status: Some(next.status),
            comment: change.comment,
            created_at: now,
        };
        next.reviews.push(Review {
            id: audit.id.clone(),
            action: change.action.into(),
            old_status: s.status,
            new_status: next.status,
            note: audit.comment.clone(),
            created_at: now,
            reviewed_by: Some(audit.actor_display.clone()),
        });
        let is_kyc = wf.is_some_and(|w| w.workflow_type == WorkflowType::Kyc);
        let enrol = match (change.to, next.pending_template.take()) {
            (ManualStatus::Approved, Some(blob)) if is_kyc => Some(blob),
            _ => None,
        };
        let mut writes = vec![
            Write::UpdateSession {
                session: next.clone(),
                expected_version: s.version,
            },
            Write::InsertAudit(audit.clone()),
        ];
        if let (Some(blob), Some(vendor)) = (enrol, next.vendor_data.as_deref()) {
            let e = open_embedding(
                &self.cipher,
                &blob,
                &session_aad(&app.id, &next.id, SLOT_PENDING),
            )
            .map_err(|e| ApiError::Internal(e.to_string()))?;
            writes.push(self.enrol(app, vendor, &next.id, &e, now)?);
        }
        if is_kyc && next.status != SessionStatus::Approved {
            // A reviewer overturning an approval withdraws the face it enrolled.
            writes.push(Write::DeleteTemplatesFromSession {
                application_id: app.id.clone(),
                session_id: next.id.clone(),
            });
        }
        if next.status != s.status {
            self.enqueue_status(app, &next, &mut writes)?;
        }
        self.store.commit(&writes).await?;
        Ok((next, Some(audit)))
    }
}
