//! Users as Didit's management API names them (`/users/…`): in facegate a user is a
//! vendor_data with its enrolled face and its sessions. `POST /users/delete/` is the
//! data-subject deletion: the template and every session go, in one commit with an audit row
//! per user saying so (the row keeps the vendor_data, not the face or the sessions).

use serde_json::Value;

use crate::cipher::TemplateCipher;
use crate::error::{ApiError, FieldErrors};
use crate::routes::HttpResponse;
use crate::service::Service;
use crate::store::{Clock, Ids, Store, Write};
use crate::types::{Application, AuditRow, ACTOR_API_KEY, API_CLIENT};
use crate::validate::{opt_bool, parse_object, type_name};

pub const USER_DELETED_ACTIVITY: &str = "USER_DELETED";
/// Users one request may name: each is a few statements of one D1 batch.
pub const MAX_USERS_PER_DELETE: usize = 1000;
/// vendor_data is the integrator's user id; Didit does not publish a limit, this bounds rows.
pub const MAX_VENDOR_DATA_CHARS: usize = 1000;

#[derive(Debug, Clone, PartialEq)]
pub struct DeleteUsersRequest {
    pub vendor_data_list: Vec<String>,
    pub delete_all: bool,
}

/// `{"vendor_data_list": [..]}` or `{"delete_all": true}` (the MCP tool sends both keys).
pub fn parse_delete_users(body: &[u8]) -> Result<DeleteUsersRequest, ApiError> {
    const KEY: &str = "vendor_data_list";
    let m = parse_object(body)?;
    let mut e = FieldErrors::new();
    let delete_all = opt_bool(&m, "delete_all", &mut e).unwrap_or(false);
    let mut list = Vec::new();
    match m.get(KEY) {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) if items.len() > MAX_USERS_PER_DELETE => e.add(
            KEY,
            format!("Ensure this field has no more than {MAX_USERS_PER_DELETE} elements."),
        ),
        Some(Value::Array(items)) => {
            for (i, it) in items.iter().enumerate() {
                match it.as_str() {
                    Some(s) if s.trim().is_empty() => {
                        e.add(KEY, format!("Item {i}: This field may not be blank."))
                    }
                    Some(s) if s.chars().count() > MAX_VENDOR_DATA_CHARS => e.add(
                        KEY,
                        format!("Item {i}: Ensure this field has no more than {MAX_VENDOR_DATA_CHARS} characters."),
                    ),
                    Some(s) => {
                        if !list.iter().any(|x| x == s) {
                            list.push(s.to_owned());
                        }
                    }
                    None => e.add(KEY, format!("Item {i}: Not a valid string.")),
                }
            }
        }
        Some(other) => e.add(
            KEY,
            format!(
                "Expected a list of items but got type \"{}\".",
                type_name(other)
            ),
        ),
    }
    e.into_result()?;
    if !delete_all && list.is_empty() {
        return Err(ApiError::BadRequest(
            "Provide a non-empty vendor_data_list or delete_all: true.".into(),
        ));
    }
    Ok(DeleteUsersRequest {
        vendor_data_list: list,
        delete_all,
    })
}

impl<S: Store, C: Clock, I: Ids, K: TemplateCipher> Service<S, C, I, K> {
    /// `POST /users/delete/` → 204: every named user (or every user of the application) loses
    /// the enrolled face and all sessions, all users or none. A vendor_data the application
    /// does not know is skipped, so a retry deletes nothing twice and leaves no second row.
    pub async fn delete_users(
        &self,
        app: &Application,
        body: &[u8],
    ) -> Result<HttpResponse, ApiError> {
        let req = parse_delete_users(body)?;
        let users = if req.delete_all {
            self.store.vendor_data_of(&app.id).await?
        } else {
            req.vendor_data_list
        };
        let mut writes = Vec::new();
        for vendor in &users {
            self.user_deletion(app, vendor, &mut writes).await?;
        }
        if !writes.is_empty() {
            self.store.commit(&writes).await?;
        }
        Ok(HttpResponse::no_content())
    }

    /// Forget one user outside a request (kept for the operator's tools and tests): the same
    /// writes as `POST /users/delete/`. Returns how many sessions were removed.
    pub async fn delete_user_data(
        &self,
        app: &Application,
        vendor_data: &str,
    ) -> Result<u64, ApiError> {
        let mut writes = Vec::new();
        let n = self.user_deletion(app, vendor_data, &mut writes).await?;
        if !writes.is_empty() {
            self.store.commit(&writes).await?;
        }
        Ok(n)
    }

    /// The writes that forget `vendor_data`: its sessions (with their challenges and webhook
    /// rows), its template, and the audit row. Nothing when the application has neither.
    async fn user_deletion(
        &self,
        app: &Application,
        vendor_data: &str,
        writes: &mut Vec<Write>,
    ) -> Result<u64, ApiError> {
        let ids: Vec<String> = self
            .store
            .sessions_for_vendor_data(&app.id, vendor_data)
            .await?
            .into_iter()
            .map(|s| s.id)
            .collect();
        let enrolled = self
            .store
            .get_template(&app.id, vendor_data)
            .await?
            .is_some();
        let recorded = self.store.get_user(&app.id, vendor_data).await?.is_some();
        if ids.is_empty() && !enrolled && !recorded {
            return Ok(0);
        }
        let n = ids.len() as u64;
        let comment = format!(
            "User deleted: {n} session(s){} removed.",
            if enrolled {
                " and the enrolled face"
            } else {
                ""
            }
        );
        writes.push(Write::EraseSessions {
            application_id: app.id.clone(),
            ids,
        });
        writes.push(Write::DeleteTemplate {
            application_id: app.id.clone(),
            vendor_data: vendor_data.to_owned(),
        });
        writes.push(Write::DeleteUser {
            application_id: app.id.clone(),
            vendor_data: vendor_data.to_owned(),
        });
        writes.push(Write::ForgetUserSignals {
            application_id: app.id.clone(),
            vendor_data: vendor_data.to_owned(),
        });
        writes.push(Write::InsertAudit(AuditRow {
            id: self.ids.uuid()?,
            application_id: app.id.clone(),
            session_id: None,
            vendor_data: Some(vendor_data.to_owned()),
            activity_type: USER_DELETED_ACTIVITY.into(),
            actor_type: ACTOR_API_KEY.into(),
            actor_display: API_CLIENT.into(),
            actor_email: None,
            previous_status: None,
            new_status: None,
            comment: Some(comment),
            created_at: self.clock.now(),
        }));
        Ok(n)
    }
}
