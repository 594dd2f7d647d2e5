//! `x-api-key` authentication against the keys stored (hashed) in D1.

use sha2::{Digest, Sha256};
use worker::{Env, Request};

use crate::http_error::HttpError;

/// The id of the application whose key the request carries.
pub async fn application_id(req: &Request, env: &Env) -> Result<String, HttpError> {
    let key = req.headers().get("x-api-key").ok().flatten().filter(|k| !k.is_empty()).ok_or_else(HttpError::missing_key)?;
    let hash = hex::encode(Sha256::digest(key.as_bytes()));
    let db = env.d1("DB").map_err(|e| HttpError::internal("D1 binding", e))?;
    let row: Option<serde_json::Value> = db
        .prepare("SELECT application_id FROM api_keys WHERE key_hash = ?1 AND revoked_at IS NULL")
        .bind(&[hash.into()])
        .map_err(|e| HttpError::internal("bind", e))?
        .first(None)
        .await
        .map_err(|e| HttpError::internal("api key lookup", e))?;
    row.and_then(|r| r.get("application_id").and_then(|v| v.as_str()).map(str::to_owned)).ok_or_else(HttpError::bad_key)
}
