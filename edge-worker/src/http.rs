//! Between worker requests/responses and the core's `HttpResponse` / `ApiError`: the one place
//! errors become HTTP.

use facegate_sessions::{ApiError, HttpResponse};
use worker::{Headers, Request, Response, Result};

/// Larger bodies are refused before they are read: a 2 MB base64 portrait is ~2.7 MB.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

pub fn respond(outcome: std::result::Result<HttpResponse, ApiError>) -> Result<Response> {
    let (status, headers, body) = match outcome {
        Ok(r) => (r.status, r.headers, r.body),
        Err(e) => {
            if let ApiError::Internal(detail) = &e {
                worker::console_error!("internal error: {detail}");
            }
            let (status, headers, body) = e.to_http();
            (status, headers, Some(body))
        }
    };
    let response = match body {
        Some(body) => Response::from_json(&body)?,
        None => Response::empty()?,
    };
    let h = Headers::new();
    for (k, v) in headers {
        h.set(&k, &v)?;
    }
    if status != 204 {
        h.set("content-type", "application/json")?;
    }
    Ok(response.with_status(status).with_headers(h))
}

/// A kept `Idempotency-Key` answer: the stored bytes, not re-serialised JSON, so the retry
/// sees exactly what the first request would have.
pub fn replay(replay: facegate_sessions::Replay) -> Result<Response> {
    let response = if replay.body.is_empty() {
        Response::empty()?
    } else {
        Response::ok(replay.body)?
    };
    let h = Headers::new();
    for (k, v) in replay.headers {
        h.set(&k, &v)?;
    }
    Ok(response.with_status(replay.status).with_headers(h))
}

pub fn pdf(name: &str, bytes: Vec<u8>) -> Result<Response> {
    let h = Headers::new();
    h.set("content-type", "application/pdf")?;
    h.set(
        "content-disposition",
        &format!("attachment; filename=\"{name}\""),
    )?;
    Ok(Response::from_bytes(bytes)?.with_headers(h))
}

pub fn svg(body: String) -> Result<Response> {
    let h = Headers::new();
    h.set("content-type", "image/svg+xml")?;
    h.set("cache-control", "private, max-age=600")?;
    Ok(Response::ok(body)?.with_headers(h))
}

pub fn json(status: u16, body: serde_json::Value) -> HttpResponse {
    HttpResponse::json(status, body)
}

pub fn headers(req: &Request) -> Vec<(String, String)> {
    req.headers().entries().collect()
}

pub async fn body(req: &mut Request) -> std::result::Result<Vec<u8>, ApiError> {
    let declared = req
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    let bytes = req
        .bytes()
        .await
        .map_err(|e| ApiError::BadRequest(format!("unreadable body: {e}")))?;
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    Ok(bytes)
}

/// The D1 binding every stateful route uses.
pub fn database(env: &worker::Env) -> std::result::Result<worker::D1Database, ApiError> {
    env.d1("DB").map_err(|e| internal("D1 binding", e))
}

pub fn internal(context: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(format!("{context}: {e}"))
}
