//! Between worker requests/responses and the core's `HttpResponse` / `ApiError`: the one place
//! errors become HTTP.

use facegate_sessions::{ApiError, HttpResponse};
use futures_util::StreamExt;
use worker::{FormData, Headers, Method, Request, RequestInit, Response, Result};

pub fn respond(outcome: std::result::Result<HttpResponse, ApiError>) -> Result<Response> {
    let (status, headers, body) = match outcome {
        Ok(r) => (r.status, r.headers, r.body),
        Err(e) => {
            match &e {
                ApiError::Internal(detail) => worker::console_error!("internal error: {detail}"),
                ApiError::Unavailable {
                    cause: Some(cause), ..
                } => worker::console_error!("unavailable: {cause}"),
                _ => {}
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
    attachment("application/pdf", name, bytes)
}

/// A download (the PDF report, the usage CSV), never rendered inline.
pub fn attachment(content_type: &str, name: &str, bytes: Vec<u8>) -> Result<Response> {
    let h = Headers::new();
    h.set("content-type", content_type)?;
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

/// The body's declared size against the route's limit, before a byte of it is read: a 413
/// here costs the caller nothing (no attempt, no memory). A malformed length is refused too.
pub fn check_declared_length(req: &Request, limit: usize) -> Result<(), ApiError> {
    let Some(value) = req.headers().get("content-length").ok().flatten() else {
        return Ok(());
    };
    match value.trim().parse::<u64>() {
        Ok(n) if n <= limit as u64 => Ok(()),
        Ok(_) => Err(ApiError::PayloadTooLarge { limit }),
        Err(_) => Err(ApiError::BadRequest("Invalid Content-Length.".into())),
    }
}

/// The body, read as a stream and refused (413) as soon as it passes `limit`: a body without
/// `Content-Length` (chunked) is bounded too. Never `bytes()`/`form_data()` on the request,
/// which would hold an unbounded body in the JS heap first.
pub async fn read_bounded(req: &mut Request, limit: usize) -> Result<Vec<u8>, ApiError> {
    if req.inner().body().is_none() {
        return Ok(Vec::new());
    }
    let mut stream = req
        .stream()
        .map_err(|e| ApiError::BadRequest(format!("unreadable body: {e}")))?;
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("unreadable body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A multipart body already read (and bounded) as form data, parsed by the runtime.
pub async fn form(
    headers: &[(String, String)],
    body: Vec<u8>,
    unreadable: &str,
) -> Result<FormData, ApiError> {
    let refused = || ApiError::BadRequest(unreadable.to_owned());
    let content_type = facegate_sessions::routes::header(headers, "content-type").unwrap_or("");
    if !content_type
        .to_ascii_lowercase()
        .starts_with("multipart/form-data")
    {
        return Err(refused());
    }
    let h = Headers::new();
    h.set("content-type", content_type).map_err(|_| refused())?;
    let mut init = RequestInit::new();
    let bytes = worker::js_sys::Uint8Array::from(body.as_slice());
    drop(body);
    init.with_method(Method::Post)
        .with_headers(h)
        .with_body(Some(bytes.into()));
    let mut request =
        Request::new_with_init("http://body.invalid/", &init).map_err(|_| refused())?;
    request.form_data().await.map_err(|_| refused())
}

/// The client's address: `CF-Connecting-IP` (set by Cloudflare from the connection, and by
/// wrangler dev from the socket when the request has none), or the configured proxy header on
/// connections from the configured proxies (`app::proxy_trust`). Unknown (a bare workerd with
/// no proxy in front) counts as local.
pub fn client_ip(env: &worker::Env, headers: &[(String, String)]) -> String {
    let trust = crate::app::proxy_trust(env);
    let header = |name: &str| facegate_sessions::routes::header(headers, name);
    trust
        .client_ip(header("cf-connecting-ip"), trust.header().and_then(header))
        .map_or_else(|| "127.0.0.1".to_owned(), |ip| ip.to_string())
}

/// The D1 binding every stateful route uses.
pub fn database(env: &worker::Env) -> std::result::Result<worker::D1Database, ApiError> {
    env.d1("DB").map_err(|e| internal("D1 binding", e))
}

pub fn internal(context: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(format!("{context}: {e}"))
}
