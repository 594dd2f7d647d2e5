//! The hosted page: static files compiled into the worker (web/hosted), served at the session
//! URL (`/session/{token}`, optionally under a language segment), and the session summary the
//! page reads first.

use facegate_sessions::{ApiError, HttpResponse, Store};
use serde_json::json;
use worker::{Headers, Response, Result};

use crate::routes::AppService;

const INDEX: &str = include_str!("../../web/hosted/index.html");
const APP_JS: &str = include_str!("../../web/hosted/app.js");
const STYLE: &str = include_str!("../../web/hosted/style.css");

/// A static file of the page, by request path; `None` when the path is not one.
pub fn file(path: &str) -> Option<Result<Response>> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (body, content_type) = match segments.as_slice() {
        ["session", _] | [_, "session", _] => (INDEX, "text/html; charset=utf-8"),
        ["hosted", "app.js"] => (APP_JS, "text/javascript; charset=utf-8"),
        ["hosted", "style.css"] => (STYLE, "text/css; charset=utf-8"),
        _ => return None,
    };
    Some(serve(body, content_type))
}

fn serve(body: &str, content_type: &str) -> Result<Response> {
    let headers = Headers::new();
    headers.set("content-type", content_type)?;
    // Integrators embed the page in an iframe (the web SDK), so any ancestor may frame it; it
    // loads nothing from anywhere else.
    headers.set(
        "content-security-policy",
        "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; frame-ancestors *",
    )?;
    headers.set("cache-control", "no-cache")?;
    Ok(Response::ok(body)?.with_headers(headers))
}

/// `GET /hosted/v1/{token}`: what the page needs before it opens the camera.
pub async fn summary(svc: &AppService, token: &str) -> std::result::Result<HttpResponse, ApiError> {
    let session = svc.store.get_session_by_token(token).await?.ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::json(
        200,
        json!({ "session_id": session.id, "status": session.status, "callback": session.callback, "language": session.language }),
    ))
}
