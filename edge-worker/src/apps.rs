//! Applications (integrators) and their configuration, kept in D1.

use facegate_sessions::{authenticate, hash_api_key, ApiError, Application};
use serde::Deserialize;
use worker::Env;

use crate::http::{self, internal};

#[derive(Deserialize)]
struct ConfigRow {
    config: Option<String>,
}

fn decode(rows: Vec<ConfigRow>) -> Result<Vec<Application>, ApiError> {
    rows.into_iter()
        .filter_map(|r| r.config)
        .map(|c| serde_json::from_str(&c).map_err(|e| internal("application config", e)))
        .collect()
}

/// The application whose `x-api-key` the request carries: 403 without a key, 401 for an
/// unknown one (the core's `authenticate` decides, over the one candidate row).
pub async fn by_key(env: &Env, headers: &[(String, String)]) -> Result<Application, ApiError> {
    let key = facegate_sessions::routes::header(headers, "x-api-key")
        .unwrap_or("")
        .trim();
    let db = http::database(env)?;
    let rows: Vec<ConfigRow> = db
        .prepare(
            "SELECT a.config FROM applications a JOIN api_keys k ON k.application_id = a.id \
             WHERE k.key_hash = ?1 AND k.revoked_at IS NULL",
        )
        .bind(&[hash_api_key(key).into()])
        .map_err(|e| internal("bind", e))?
        .all()
        .await
        .map_err(|e| internal("api key lookup", e))?
        .results()
        .map_err(|e| internal("api key rows", e))?;
    let candidates = decode(rows)?;
    authenticate(&candidates, headers).cloned()
}

/// One application by id (the hosted page knows its session's application, not a key).
pub async fn by_id(env: &Env, id: &str) -> Result<Option<Application>, ApiError> {
    let db = http::database(env)?;
    let rows: Vec<ConfigRow> = db
        .prepare("SELECT config FROM applications WHERE id = ?1")
        .bind(&[id.into()])
        .map_err(|e| internal("bind", e))?
        .all()
        .await
        .map_err(|e| internal("application", e))?
        .results()
        .map_err(|e| internal("application rows", e))?;
    Ok(decode(rows)?.into_iter().next())
}

/// Every application: the hosted page and the cron know a session or delivery, not a key.
pub async fn all(env: &Env) -> Result<Vec<Application>, ApiError> {
    let db = http::database(env)?;
    let rows: Vec<ConfigRow> = db
        .prepare("SELECT config FROM applications")
        .all()
        .await
        .map_err(|e| internal("applications", e))?
        .results()
        .map_err(|e| internal("application rows", e))?;
    decode(rows)
}

/// Writes back an application's configuration (after a webhook destination change).
pub async fn save(env: &Env, app: &Application) -> Result<(), ApiError> {
    let config = serde_json::to_string(app).map_err(|e| internal("application config", e))?;
    let db = http::database(env)?;
    db.prepare("UPDATE applications SET config = ?1 WHERE id = ?2")
        .bind(&[config.into(), app.id.clone().into()])
        .map_err(|e| internal("bind", e))?
        .run()
        .await
        .map_err(|e| internal("application update", e))?;
    Ok(())
}
