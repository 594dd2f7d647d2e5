//! The user records of `/users/…` (MCP's user tools): a vendor_data's profile and monitoring
//! status (`ACTIVE`, `FLAGGED`, `BLOCKED`, §1.15), beside what facegate knows of it anyway (its
//! sessions, its enrolled face). A user exists once it has a record, a session or a face.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::cipher::TemplateCipher;
use crate::error::{ApiError, FieldErrors};
use crate::routes::HttpResponse;
use crate::service::Service;
use crate::store::{Clock, Ids, Store, Write};
use crate::time::{iso8601, parse_date};
use crate::types::{Application, AuditRow, ACTOR_API_KEY, API_CLIENT};
use crate::users::MAX_VENDOR_DATA_CHARS;
use crate::validate::{
    choice_error, opt_str, page, page_window, parse_object, percent_decode, query_get,
    split_query, type_name, NOT_BLANK, NOT_NULL, REQUIRED,
};

pub const USER_STATUSES: [&str; 3] = ["ACTIVE", "FLAGGED", "BLOCKED"];
pub const USER_STATUS_UPDATED_ACTIVITY: &str = "USER_STATUS_UPDATED";
const MAX_NAME_CHARS: usize = 255;
const MAX_LIST_ITEMS: usize = 100;

/// One row of the `users` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRow {
    pub application_id: String,
    pub vendor_data: String,
    pub status: String,
    pub full_name: Option<String>,
    pub display_name: Option<String>,
    pub date_of_birth: Option<String>,
    pub metadata: Option<Value>,
    pub approved_emails: Vec<String>,
    pub approved_phones: Vec<String>,
    pub issuing_states: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl UserRow {
    /// What a vendor_data known only from its sessions or face looks like.
    fn implicit(application_id: &str, vendor_data: &str) -> Self {
        UserRow {
            application_id: application_id.to_owned(),
            vendor_data: vendor_data.to_owned(),
            status: "ACTIVE".into(),
            full_name: None,
            display_name: None,
            date_of_birth: None,
            metadata: None,
            approved_emails: vec![],
            approved_phones: vec![],
            issuing_states: vec![],
            created_at: 0,
            updated_at: 0,
        }
    }
}

fn user_json(u: &UserRow) -> Value {
    let when = |t: i64| (t > 0).then(|| iso8601(t));
    json!({
        "vendor_data": u.vendor_data,
        "status": u.status,
        "full_name": u.full_name,
        "display_name": u.display_name,
        "date_of_birth": u.date_of_birth,
        "metadata": u.metadata,
        "approved_emails": u.approved_emails,
        "approved_phones": u.approved_phones,
        "issuing_states": u.issuing_states,
        "created_at": when(u.created_at),
        "updated_at": when(u.updated_at),
    })
}

fn parse_status(m: &Map<String, Value>, required: bool, e: &mut FieldErrors) -> Option<String> {
    match m.get("status") {
        None if required => {
            e.add("status", REQUIRED);
            None
        }
        None => None,
        Some(Value::Null) => {
            e.add("status", NOT_NULL);
            None
        }
        Some(Value::String(s)) if USER_STATUSES.contains(&s.as_str()) => Some(s.clone()),
        Some(Value::String(s)) => {
            e.add("status", choice_error(s));
            None
        }
        Some(other) => {
            e.add("status", choice_error(&other.to_string()));
            None
        }
    }
}

fn string_list(m: &Map<String, Value>, key: &str, e: &mut FieldErrors) -> Option<Vec<String>> {
    match m.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) if a.len() > MAX_LIST_ITEMS => {
            e.add(
                key,
                format!("Ensure this field has no more than {MAX_LIST_ITEMS} elements."),
            );
            None
        }
        Some(Value::Array(a)) => {
            let mut out = Vec::new();
            for (i, v) in a.iter().enumerate() {
                match v.as_str() {
                    Some(s) if s.chars().count() <= MAX_NAME_CHARS => out.push(s.to_owned()),
                    Some(_) => e.add(key, format!("Item {i}: Ensure this field has no more than {MAX_NAME_CHARS} characters.")),
                    None => e.add(key, format!("Item {i}: Not a valid string.")),
                }
            }
            Some(out)
        }
        Some(other) => {
            e.add(
                key,
                format!(
                    "Expected a list of items but got type \"{}\".",
                    type_name(other)
                ),
            );
            None
        }
    }
}

/// The profile fields of a create or PATCH body applied to `u`; `status` too unless
/// `status_only` (update-status), which requires it.
fn apply_body(u: &mut UserRow, m: &Map<String, Value>, status_only: bool) -> Result<(), ApiError> {
    let mut e = FieldErrors::new();
    if let Some(s) = parse_status(m, status_only, &mut e) {
        u.status = s;
    }
    if !status_only {
        for (key, slot) in [
            ("full_name", &mut u.full_name),
            ("display_name", &mut u.display_name),
        ] {
            if m.contains_key(key) {
                let v = opt_str(m, key, true, &mut e);
                if v.as_deref()
                    .is_some_and(|s| s.chars().count() > MAX_NAME_CHARS)
                {
                    e.add(
                        key,
                        format!("Ensure this field has no more than {MAX_NAME_CHARS} characters."),
                    );
                }
                *slot = v.filter(|s| !s.is_empty());
            }
        }
        if m.contains_key("date_of_birth") {
            let d = opt_str(m, "date_of_birth", true, &mut e).filter(|s| !s.is_empty());
            if d.as_deref().is_some_and(|d| parse_date(d).is_none()) {
                e.add(
                    "date_of_birth",
                    "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.",
                );
            }
            u.date_of_birth = d;
        }
        match m.get("metadata") {
            None => {}
            Some(Value::Null) => u.metadata = None,
            Some(v @ Value::Object(_)) if v.to_string().len() <= 16 * 1024 => {
                u.metadata = Some(v.clone())
            }
            Some(Value::Object(_)) => e.add(
                "metadata",
                "Ensure this field has no more than 16384 bytes.",
            ),
            Some(other) => e.add(
                "metadata",
                format!(
                    "Expected a dictionary of items but got type \"{}\".",
                    type_name(other)
                ),
            ),
        }
        for (key, slot) in [
            ("approved_emails", &mut u.approved_emails),
            ("approved_phones", &mut u.approved_phones),
            ("issuing_states", &mut u.issuing_states),
        ] {
            if let Some(list) = string_list(m, key, &mut e) {
                *slot = list;
            }
        }
    }
    e.into_result()
}

/// `/users/{vendor_data}/` as sent: percent-decoded, not blank, bounded.
fn vendor_of(path_segment: &str) -> Result<String, ApiError> {
    let v = percent_decode(path_segment);
    if v.trim().is_empty() || v.chars().count() > MAX_VENDOR_DATA_CHARS {
        return Err(ApiError::NotFound);
    }
    Ok(v)
}

/// A user the integrator set to `BLOCKED` may not verify: no new session, no capture on a
/// session opened before the block.
pub const MSG_USER_BLOCKED: &str =
    "This user is blocked (PATCH /v3/users/{vendor_data}/update-status/ to unblock).";

impl<S: Store, C: Clock, I: Ids, K: TemplateCipher> Service<S, C, I, K> {
    /// Whether `vendor_data`'s record is `BLOCKED` (none is not).
    pub(crate) async fn is_blocked(
        &self,
        application_id: &str,
        vendor_data: Option<&str>,
    ) -> Result<bool, ApiError> {
        let Some(v) = vendor_data else {
            return Ok(false);
        };
        Ok(self
            .store
            .get_user(application_id, v)
            .await?
            .is_some_and(|u| u.status == "BLOCKED"))
    }

    /// The user's record, or the implicit one when only sessions or a face exist; 404 when
    /// the application knows nothing of that vendor_data.
    async fn user(&self, app: &Application, vendor_data: &str) -> Result<UserRow, ApiError> {
        if let Some(u) = self.store.get_user(&app.id, vendor_data).await? {
            return Ok(u);
        }
        let known = self
            .store
            .get_template(&app.id, vendor_data)
            .await?
            .is_some()
            || !self
                .store
                .sessions_for_vendor_data(&app.id, vendor_data)
                .await?
                .is_empty();
        known
            .then(|| UserRow::implicit(&app.id, vendor_data))
            .ok_or(ApiError::NotFound)
    }

    /// `GET /users/?status=&search=&limit=&offset=`, ordered by vendor_data.
    pub async fn list_users(
        &self,
        app: &Application,
        query: &str,
    ) -> Result<HttpResponse, ApiError> {
        let raw = split_query(query);
        let get = |k: &str| query_get(&raw, k);
        let status = get("status").map(|s| s.trim().to_ascii_uppercase());
        if let Some(s) = &status {
            if !USER_STATUSES.contains(&s.as_str()) {
                let mut e = FieldErrors::new();
                e.add(
                    "status",
                    format!("Select a valid choice. {s} is not one of the available choices."),
                );
                return Err(ApiError::Validation(e));
            }
        }
        let search = get("search").map(|s| s.trim().to_lowercase());
        let (offset, limit) = page_window(&raw);

        let mut users = self.store.user_rows(&app.id).await?;
        for v in self.store.vendor_data_of(&app.id).await? {
            if !users.iter().any(|u| u.vendor_data == v) {
                users.push(UserRow::implicit(&app.id, &v));
            }
        }
        users.retain(|u| {
            status.as_ref().is_none_or(|s| &u.status == s)
                && search.as_ref().is_none_or(|q| {
                    [
                        Some(&u.vendor_data),
                        u.full_name.as_ref(),
                        u.display_name.as_ref(),
                    ]
                    .into_iter()
                    .flatten()
                    .any(|f| f.to_lowercase().contains(q.as_str()))
                })
        });
        users.sort_by(|a, b| a.vendor_data.cmp(&b.vendor_data));
        let count = users.len() as u64;
        let results: Vec<Value> = users
            .iter()
            .skip(offset as usize)
            .take(limit as usize)
            .map(user_json)
            .collect();
        Ok(page(
            &self.urls.api_base,
            "/users/",
            &raw,
            (offset, limit, count),
            results,
        ))
    }

    /// `GET /users/{vendor_data}/`: the record plus what facegate knows of the user.
    pub async fn get_user(
        &self,
        app: &Application,
        segment: &str,
    ) -> Result<HttpResponse, ApiError> {
        let vendor = vendor_of(segment)?;
        let u = self.user(app, &vendor).await?;
        let mut sessions = self
            .store
            .sessions_for_vendor_data(&app.id, &vendor)
            .await?;
        sessions.sort_by_key(|s| s.number);
        let mut v = user_json(&u);
        if let Value::Object(m) = &mut v {
            m.insert(
                "face_enrolled".into(),
                json!(self.store.get_template(&app.id, &vendor).await?.is_some()),
            );
            m.insert("session_count".into(), json!(sessions.len()));
            m.insert(
                "last_session".into(),
                sessions.last().map_or(Value::Null, |s| {
                    json!({"session_id": s.id, "status": s.status, "created_at": iso8601(s.created_at)})
                }),
            );
        }
        Ok(HttpResponse::json(200, v))
    }

    /// `POST /users/create/` → 201; 400 when the vendor_data is already a user.
    pub async fn create_user(
        &self,
        app: &Application,
        body: &[u8],
    ) -> Result<HttpResponse, ApiError> {
        let m = parse_object(body)?;
        let mut e = FieldErrors::new();
        let vendor = match m.get("vendor_data") {
            None => {
                e.add("vendor_data", REQUIRED);
                None
            }
            Some(Value::String(s)) if s.trim().is_empty() => {
                e.add("vendor_data", NOT_BLANK);
                None
            }
            Some(Value::String(s)) if s.chars().count() > MAX_VENDOR_DATA_CHARS => {
                e.add(
                    "vendor_data",
                    format!(
                        "Ensure this field has no more than {MAX_VENDOR_DATA_CHARS} characters."
                    ),
                );
                None
            }
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                e.add("vendor_data", "Not a valid string.");
                None
            }
        };
        e.into_result()?;
        let vendor = vendor.unwrap_or_default();
        if self.user(app, &vendor).await.is_ok() {
            let mut e = FieldErrors::new();
            e.add(
                "vendor_data",
                "A user with this vendor_data already exists.",
            );
            return Err(ApiError::Validation(e));
        }
        let now = self.clock.now();
        let mut u = UserRow::implicit(&app.id, &vendor);
        (u.created_at, u.updated_at) = (now, now);
        apply_body(&mut u, &m, false)?;
        self.store.commit(&[Write::PutUser(u.clone())]).await?;
        Ok(HttpResponse::json(201, user_json(&u)))
    }

    /// `PATCH /users/{vendor_data}/` (profile, optionally status) and
    /// `PATCH /users/{vendor_data}/update-status/` (`{status}` only). A status change leaves
    /// an audit row in the same commit.
    pub async fn update_user(
        &self,
        app: &Application,
        segment: &str,
        body: &[u8],
        status_only: bool,
    ) -> Result<HttpResponse, ApiError> {
        let vendor = vendor_of(segment)?;
        let m = parse_object(body)?;
        let before = self.user(app, &vendor).await?;
        let mut u = before.clone();
        apply_body(&mut u, &m, status_only)?;
        let now = self.clock.now();
        if u.created_at == 0 {
            u.created_at = now;
        }
        u.updated_at = now;
        let mut writes = vec![Write::PutUser(u.clone())];
        if u.status != before.status {
            writes.push(Write::InsertAudit(AuditRow {
                id: self.ids.uuid()?,
                application_id: app.id.clone(),
                session_id: None,
                vendor_data: Some(vendor.clone()),
                activity_type: USER_STATUS_UPDATED_ACTIVITY.into(),
                actor_type: ACTOR_API_KEY.into(),
                actor_display: API_CLIENT.into(),
                actor_email: None,
                previous_status: None,
                new_status: None,
                comment: Some(format!("User status {} → {}.", before.status, u.status)),
                created_at: now,
            }));
        }
        self.store.commit(&writes).await?;
        Ok(HttpResponse::json(200, user_json(&u)))
    }
}
