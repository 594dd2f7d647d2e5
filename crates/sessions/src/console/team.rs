//! Who works in an application: its operators with their roles, and an admin changing or
//! removing someone's role there. An application always keeps an admin of its own: the last
//! one cannot be demoted or removed (make someone else admin first), checked when the change
//! is asked and again inside the write, so two admins demoting each other at once cannot
//! both succeed.

use serde_json::{json, Value};

use super::accounts::{Action, Operator, OperatorStore, OperatorWrite, Role};
use super::signin::Principal;
use crate::error::{ApiError, FieldErrors};
use crate::routes::HttpResponse;
use crate::store::{Clock, Ids, Store, StoreError};
use crate::validate::parse_object;

/// An operator as the application's team list shows them.
fn member_json(op: &Operator, role: Role) -> Value {
    json!({
        "id": op.id, "email": op.email, "name": op.name, "role": role.as_str(),
        // Invited but not yet set up: their link may still be waiting to be used.
        "pending": op.password_hash.is_none(),
    })
}

fn explicit_role(op: &Operator, application_id: &str) -> Option<Role> {
    op.grants
        .iter()
        .find(|g| g.application_id == application_id)
        .map(|g| g.role)
}

/// `GET /console/api/applications/{app}/operators/` (admins): everyone with a role in the
/// application, oldest account first. Platform admins are not listed unless they hold a role
/// there: theirs comes from the platform, not from the application.
pub async fn list(
    store: &impl OperatorStore,
    who: &Principal,
    application_id: &str,
) -> Result<HttpResponse, ApiError> {
    who.operator()
        .authorize(application_id, Action::Configure)?;
    let results: Vec<Value> = store
        .operators()
        .await?
        .iter()
        .filter_map(|op| explicit_role(op, application_id).map(|r| member_json(op, r)))
        .collect();
    Ok(HttpResponse::json(
        200,
        json!({ "count": results.len(), "results": results }),
    ))
}

/// The body of a role change: `{"role": "admin" | "reviewer" | "read_only"}`.
pub fn parse_role(body: &[u8]) -> Result<Role, ApiError> {
    let m = parse_object(body)?;
    let mut e = FieldErrors::new();
    for key in m.keys().filter(|k| k.as_str() != "role") {
        e.add(key, "Unknown field.");
    }
    let role = match m.get("role") {
        None => {
            e.add("role", "This field is required.");
            None
        }
        Some(v) => match v.as_str().and_then(Role::parse) {
            Some(r) => Some(r),
            None => {
                e.add("role", "One of \"admin\", \"reviewer\", \"read_only\".");
                None
            }
        },
    };
    e.into_result()?;
    role.ok_or_else(|| FieldErrors::single("role", "This field is required."))
}

/// The guard a change adds when it takes an admin role away in `application_id`: refused
/// with a 409 now when nobody else is admin there, and by the store if that changed before
/// the write lands.
pub async fn keep_an_admin(
    store: &impl OperatorStore,
    application_id: &str,
    losing: &Operator,
) -> Result<OperatorWrite, ApiError> {
    let others = store
        .operators()
        .await?
        .into_iter()
        .filter(|o| o.id != losing.id && explicit_role(o, application_id) == Some(Role::Admin))
        .count();
    if others == 0 {
        return Err(ApiError::Conflict(format!(
            "{} is the last admin of this application: make someone else admin first.",
            display(losing)
        )));
    }
    Ok(OperatorWrite::RequireOtherAdmin {
        application_id: application_id.to_owned(),
        besides: losing.id.clone(),
    })
}

fn display(op: &Operator) -> String {
    if op.name.is_empty() {
        op.email.clone()
    } else {
        format!("{} <{}>", op.name, op.email)
    }
}

/// `PATCH …/operators/{id}/` (`role: Some`) or `DELETE …/operators/{id}/` (`None`): an admin
/// of the application (or a platform admin) changes or removes another operator's role
/// there, or their own as long as another admin remains. Someone without a role in the
/// application is a 404, like an unknown id. Recorded in the application's audit log.
#[allow(clippy::too_many_arguments)]
pub async fn set_role(
    store: &(impl OperatorStore + Store),
    clock: &impl Clock,
    ids: &impl Ids,
    who: &Principal,
    application_id: &str,
    operator_id: &str,
    role: Option<Role>,
) -> Result<HttpResponse, ApiError> {
    who.operator()
        .authorize(application_id, Action::Configure)?;
    let mut op = store
        .operator(operator_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let before = explicit_role(&op, application_id).ok_or(ApiError::NotFound)?;
    if Some(before) == role {
        return Ok(HttpResponse::json(200, member_json(&op, before)));
    }
    let mut writes = Vec::new();
    if before == Role::Admin {
        writes.push(keep_an_admin(store, application_id, &op).await?);
    }
    let version = op.version;
    op.grants.retain(|g| g.application_id != application_id);
    if let Some(r) = role {
        op.grants.push(super::accounts::Grant {
            application_id: application_id.to_owned(),
            role: r,
        });
    }
    op.version += 1;
    writes.push(OperatorWrite::PutOperator {
        operator: op.clone(),
        expected_version: version,
    });
    store.commit_operators(&writes).await.map_err(|e| match e {
        // Someone else changed this operator or the admins meanwhile: nothing was written.
        StoreError::Conflict => {
            ApiError::Conflict("The team changed meanwhile: reload and try again.".into())
        }
        e => e.into(),
    })?;
    let (activity, detail) = match role {
        Some(r) => (
            "OPERATOR_ROLE_CHANGED",
            format!(
                "{} is {} (was {})",
                display(&op),
                r.as_str(),
                before.as_str()
            ),
        ),
        None => (
            "OPERATOR_ROLE_REMOVED",
            format!("{} is no longer {}", display(&op), before.as_str()),
        ),
    };
    // After the change and never instead of it: a failure here is a 503, the change stands.
    let row = super::apps::audit(who, application_id, activity, detail, ids, clock.now())?;
    store.commit(&[row]).await?;
    Ok(match role {
        Some(r) => HttpResponse::json(200, member_json(&op, r)),
        None => HttpResponse::no_content(),
    })
}
