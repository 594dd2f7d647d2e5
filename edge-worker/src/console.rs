//! The operator API's adapter: who the caller is (cookie or operator token), applications and
//! their keys in D1; everything else is the core's `console` module.

use facegate_sessions::console::apps::{self as console_apps, find_key};
use facegate_sessions::console::second_factor;
use facegate_sessions::console::signin::{self, Principal};
use facegate_sessions::console::workflows as console_workflows;
use facegate_sessions::console::Action;
use facegate_sessions::routes::header;
use facegate_sessions::{authorize_operator, ApiError, Application, Clock, HttpResponse, Store};
use worker::Env;

use crate::app::{setting, AppService};
use crate::apps;

/// A console request's caller. A bearer token is a script's (the operator token, no CSRF
/// needed: nothing ambient is sent); anything else must be a signed-in browser.
pub async fn principal(
    env: &Env,
    svc: &AppService,
    headers: &[(String, String)],
    unsafe_method: bool,
    own_origin: &str,
) -> Result<Principal, ApiError> {
    if header(headers, "authorization").is_some() {
        authorize_operator(headers, setting(env, "OPERATOR_TOKEN").as_deref())?;
        return Ok(Principal::Platform);
    }
    signin::from_cookie(
        &svc.store,
        svc.clock.now(),
        headers,
        unsafe_method,
        own_origin,
    )
    .await
}

/// Every application as (id, name): sign-in and `me` list those the operator has a role in.
pub async fn names(env: &Env) -> Result<Vec<(String, String)>, ApiError> {
    Ok(apps::all(env)
        .await?
        .into_iter()
        .map(|a| (a.id, a.name))
        .collect())
}

/// The built-in application whose users are the operators' selfies, created the first time
/// an operator signs in or turns the selfie on.
pub async fn second_factor_app(env: &Env, svc: &AppService) -> Result<Application, ApiError> {
    if let Some(app) = apps::by_id(env, second_factor::APPLICATION_ID).await? {
        return Ok(app);
    }
    match apps::insert(env, &second_factor::application(), svc.clock.now()).await {
        // Another request created it in the meantime: theirs is the same application.
        Ok(()) | Err(ApiError::Conflict(_)) => {}
        Err(e) => return Err(e),
    }
    apps::by_id(env, second_factor::APPLICATION_ID)
        .await?
        .ok_or_else(|| ApiError::Internal("the console sign-in application vanished".into()))
}

/// The application a console path names, if the caller may read it: one they have no role
/// in is a 404 whether or not it exists.
pub async fn application(env: &Env, who: &Principal, id: &str) -> Result<Application, ApiError> {
    who.operator().authorize(id, Action::Read)?;
    apps::by_id(env, id).await?.ok_or(ApiError::NotFound)
}

pub async fn create_application(
    env: &Env,
    svc: &AppService,
    who: &Principal,
    body: &[u8],
) -> Result<HttpResponse, ApiError> {
    let (app, key) = console_apps::new_application(who, body, &svc.ids)?;
    apps::insert(env, &app, svc.clock.now()).await?;
    let detail = format!(
        "Application {:?}, first API key {}",
        app.name,
        console_apps::key_id(&app.api_key_hashes[0])
    );
    audit(svc, who, &app.id, "APPLICATION_CREATED", detail).await?;
    Ok(console_apps::created_json(&app, &key))
}

pub async fn keys(env: &Env, who: &Principal, app: &Application) -> Result<HttpResponse, ApiError> {
    console_apps::may_configure(who, app)?;
    Ok(console_apps::keys_json(&apps::keys(env, &app.id).await?))
}

pub async fn create_key(
    env: &Env,
    svc: &AppService,
    who: &Principal,
    app: &Application,
) -> Result<HttpResponse, ApiError> {
    console_apps::may_configure(who, app)?;
    let (key, hash) = console_apps::new_key(&svc.ids)?;
    apps::add_key(env, &app.id, &hash, svc.clock.now()).await?;
    audit(
        svc,
        who,
        &app.id,
        "API_KEY_CREATED",
        format!("API key {}", console_apps::key_id(&hash)),
    )
    .await?;
    Ok(HttpResponse::json(
        201,
        serde_json::json!({ "key_id": console_apps::key_id(&hash), "api_key": key }),
    ))
}

pub async fn revoke_key(
    env: &Env,
    svc: &AppService,
    who: &Principal,
    app: &Application,
    key_id: &str,
) -> Result<HttpResponse, ApiError> {
    console_apps::may_configure(who, app)?;
    let keys = apps::keys(env, &app.id).await?;
    let key = find_key(&keys, key_id)?;
    apps::revoke_key(env, &app.id, &key.hash, svc.clock.now()).await?;
    audit(
        svc,
        who,
        &app.id,
        "API_KEY_REVOKED",
        format!("API key {}", console_apps::key_id(&key.hash)),
    )
    .await?;
    Ok(HttpResponse::no_content())
}

/// `POST /console/api/operators/`: the core decides; the application's audit log says who
/// gave whom which role.
pub async fn invite(
    env: &Env,
    svc: &AppService,
    who: &Principal,
    body: &[u8],
) -> Result<HttpResponse, ApiError> {
    let ids: Vec<String> = names(env).await?.into_iter().map(|(id, _)| id).collect();
    let r = console_apps::invite(&svc.store, &svc.clock, &svc.ids, who, body, |id| {
        ids.iter().any(|a| a == id)
    })
    .await?;
    let op = r
        .body
        .as_ref()
        .map(|b| b["operator"].clone())
        .unwrap_or_default();
    let grant = op["grants"]
        .as_array()
        .and_then(|g| g.last())
        .cloned()
        .unwrap_or_default();
    if let Some(app_id) = grant["application_id"].as_str() {
        let detail = format!(
            "{} <{}> is {}",
            op["name"].as_str().unwrap_or(""),
            op["email"].as_str().unwrap_or(""),
            grant["role"].as_str().unwrap_or("")
        );
        audit(svc, who, app_id, "OPERATOR_ROLE_GRANTED", detail).await?;
    }
    Ok(r)
}

/// `POST …/workflows/` (no `id`) or `PATCH …/workflows/{id}/`: the core checks and applies the
/// change to the stored configuration; the audit log names the fields and their new values.
pub async fn change_workflow(
    env: &Env,
    svc: &AppService,
    who: &Principal,
    app: &Application,
    id: Option<&str>,
    body: &[u8],
) -> Result<HttpResponse, ApiError> {
    console_apps::may_configure(who, app)?;
    let now = svc.clock.now();
    let changed = apps::change(env, &app.id, |a| match id {
        Some(id) => console_workflows::update(who, a, id, body, &svc.ids, now),
        None => console_workflows::create(who, a, body, &svc.ids, now),
    })
    .await?;
    if changed.changed {
        let activity = if id.is_some() {
            "WORKFLOW_CHANGED"
        } else {
            "WORKFLOW_CREATED"
        };
        audit(svc, who, &app.id, activity, changed.audit_detail).await?;
    }
    Ok(changed.response)
}

/// Records a change made through the operator API, after it and never instead of it: a
/// failure here is the caller's 503 (the change stands; the log never says something false).
pub async fn audit(
    svc: &AppService,
    who: &Principal,
    application_id: &str,
    activity: &str,
    detail: String,
) -> Result<(), ApiError> {
    let row = console_apps::audit(
        who,
        application_id,
        activity,
        detail,
        &svc.ids,
        svc.clock.now(),
    )?;
    svc.store.commit(&[row]).await.map_err(ApiError::from)
}
