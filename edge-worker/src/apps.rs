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

/// The configuration text stored for one application, exactly as stored.
async fn stored_config(db: &worker::D1Database, id: &str) -> Result<Option<String>, ApiError> {
    let rows: Vec<ConfigRow> = db
        .prepare("SELECT config FROM applications WHERE id = ?1")
        .bind(&[id.into()])
        .map_err(|e| internal("bind", e))?
        .all()
        .await
        .map_err(|e| internal("application", e))?
        .results()
        .map_err(|e| internal("application rows", e))?;
    Ok(rows.into_iter().next().and_then(|r| r.config))
}

/// One application by id (the hosted page knows its session's application, not a key).
pub async fn by_id(env: &Env, id: &str) -> Result<Option<Application>, ApiError> {
    let config = stored_config(&http::database(env)?, id).await?;
    Ok(decode(vec![ConfigRow { config }])?.into_iter().next())
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

/// Applies a change (a webhook destination created, updated or deleted) to the application's
/// stored configuration as a compare-and-swap on the text read: a concurrent change makes the
/// UPDATE match no row, and the change is re-applied to the newer configuration instead of
/// overwriting it (two concurrent creates both survive). The caller's copy, read at request
/// start, is only used for its id.
pub async fn change<T>(
    env: &Env,
    id: &str,
    mut apply: impl FnMut(&mut Application) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let db = http::database(env)?;
    // Each lost race means another change landed; a handful bounds a pathological burst.
    for _ in 0..8 {
        let Some(before) = stored_config(&db, id).await? else {
            return Err(ApiError::NotFound);
        };
        let mut app: Application =
            serde_json::from_str(&before).map_err(|e| internal("application config", e))?;
        let out = apply(&mut app)?;
        let after = serde_json::to_string(&app).map_err(|e| internal("application config", e))?;
        let changed = db
            .prepare("UPDATE applications SET config = ?1 WHERE id = ?2 AND config = ?3")
            .bind(&[after.into(), id.into(), before.into()])
            .map_err(|e| internal("bind", e))?
            .run()
            .await
            .map_err(|e| ApiError::storage_unavailable(format!("application update: {e}")))?
            .meta()
            .map_err(|e| internal("application update", e))?
            .and_then(|m| m.changes)
            .unwrap_or(0);
        if changed == 1 {
            return Ok(out);
        }
    }
    Err(ApiError::Conflict(
        "The configuration is being changed concurrently; retry.".into(),
    ))
}

#[derive(Deserialize)]
struct KeyRow {
    key_hash: String,
    created_at: f64,
    revoked_at: Option<f64>,
}

/// A new application and its first key, in one batch.
pub async fn insert(env: &Env, app: &Application, now: i64) -> Result<(), ApiError> {
    let db = http::database(env)?;
    let config = serde_json::to_string(app).map_err(|e| internal("application config", e))?;
    let mut batch = vec![db
        .prepare("INSERT INTO applications (id, name, created_at, config) VALUES (?1, ?2, ?3, ?4)")
        .bind(&[
            app.id.as_str().into(),
            app.name.as_str().into(),
            (now as f64).into(),
            config.into(),
        ])
        .map_err(|e| internal("bind", e))?];
    for hash in &app.api_key_hashes {
        batch.push(key_insert(&db, &app.id, hash, now)?);
    }
    db.batch(batch).await.map_err(|e| {
        // A provisioning script's id or key already in use (the primary keys refuse it).
        if e.to_string().contains("UNIQUE") {
            ApiError::Conflict("An application with this id or API key exists.".into())
        } else {
            ApiError::storage_unavailable(format!("application insert: {e}"))
        }
    })?;
    Ok(())
}

fn key_insert(
    db: &worker::D1Database,
    app_id: &str,
    hash: &str,
    now: i64,
) -> Result<worker::D1PreparedStatement, ApiError> {
    db.prepare("INSERT INTO api_keys (key_hash, application_id, created_at) VALUES (?1, ?2, ?3)")
        .bind(&[hash.into(), app_id.into(), (now as f64).into()])
        .map_err(|e| internal("bind", e))
}

/// The application's keys, newest first, revoked ones too (the console shows when).
pub async fn keys(
    env: &Env,
    app_id: &str,
) -> Result<Vec<facegate_sessions::console::apps::StoredKey>, ApiError> {
    let rows: Vec<KeyRow> = http::database(env)?
        .prepare("SELECT key_hash, created_at, revoked_at FROM api_keys WHERE application_id = ?1 ORDER BY created_at DESC")
        .bind(&[app_id.into()])
        .map_err(|e| internal("bind", e))?
        .all()
        .await
        .map_err(|e| internal("api keys", e))?
        .results()
        .map_err(|e| internal("api key rows", e))?;
    Ok(rows
        .into_iter()
        .map(|r| facegate_sessions::console::apps::StoredKey {
            hash: r.key_hash,
            created_at: r.created_at as i64,
            revoked_at: r.revoked_at.map(|t| t as i64),
        })
        .collect())
}

/// A new key: in the key table first, then in the configuration whose hash list
/// `authenticate` checks; until both hold the key does not work, which is safe.
pub async fn add_key(env: &Env, app_id: &str, hash: &str, now: i64) -> Result<(), ApiError> {
    let db = http::database(env)?;
    key_insert(&db, app_id, hash, now)?
        .run()
        .await
        .map_err(|e| ApiError::storage_unavailable(format!("api key insert: {e}")))?;
    let hash = hash.to_owned();
    change(env, app_id, |app| {
        if !app.api_key_hashes.contains(&hash) {
            app.api_key_hashes.push(hash.clone());
        }
        Ok(())
    })
    .await
}

/// Revokes a key: out of the configuration first (from then on it gets 401), then marked in
/// the key table with the time.
pub async fn revoke_key(env: &Env, app_id: &str, hash: &str, now: i64) -> Result<(), ApiError> {
    let gone = hash.to_owned();
    change(env, app_id, |app| {
        app.api_key_hashes
            .retain(|h| !h.eq_ignore_ascii_case(&gone));
        Ok(())
    })
    .await?;
    http::database(env)?
        .prepare("UPDATE api_keys SET revoked_at = ?1 WHERE key_hash = ?2 AND application_id = ?3 AND revoked_at IS NULL")
        .bind(&[(now as f64).into(), hash.into(), app_id.into()])
        .map_err(|e| internal("bind", e))?
        .run()
        .await
        .map_err(|e| ApiError::storage_unavailable(format!("api key revoke: {e}")))?;
    Ok(())
}
