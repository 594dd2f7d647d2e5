//! The hosted page: static files compiled into the worker (web/hosted), served at the session
//! URL (`/session/{token}`, optionally under a language segment), and the session summary the
//! page reads first.

use facegate_sessions::{ApiError, HttpResponse};
use worker::{Env, Headers, Response, Result};

use crate::apps;
use crate::routes::AppService;

const INDEX: &str = include_str!("../../web/hosted/index.html");
const APP_JS: &str = include_str!("../../web/hosted/app.js");
const STYLE: &str = include_str!("../../web/hosted/style.css");
const CHALLENGE_JS: &str = include_str!("../../web/hosted/challenge.js");

/// A static file of the page, by request path; `None` when the path is not one.
pub fn file(path: &str) -> Option<Result<Response>> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (body, content_type) = match segments.as_slice() {
        ["session", _] => (INDEX, "text/html; charset=utf-8"),
        [language, "session", _] if is_language(language) => (INDEX, "text/html; charset=utf-8"),
        ["hosted", "app.js"] => (APP_JS, "text/javascript; charset=utf-8"),
        ["hosted", "style.css"] => (STYLE, "text/css; charset=utf-8"),
        ["hosted", "challenge.js"] => (CHALLENGE_JS, "text/javascript; charset=utf-8"),
        _ => return None,
    };
    Some(serve(body, content_type))
}

/// A UI language path segment as Didit's session URLs carry it (`es`, `cnr`, `pt-BR`), which
/// `/v3/session/{id}/` of the API must never be mistaken for.
fn is_language(segment: &str) -> bool {
    let (base, region) = segment.split_once('-').unwrap_or((segment, ""));
    (2..=3).contains(&base.len())
        && base.bytes().all(|b| b.is_ascii_lowercase())
        && (region.is_empty()
            || (region.len() == 2 && region.bytes().all(|b| b.is_ascii_uppercase())))
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

/// `GET /hosted/v1/{token}`: what the page needs before it opens the camera, with a fresh
/// `challenge` on active-liveness workflows.
pub async fn summary(
    svc: &AppService,
    env: &Env,
    token: &str,
) -> std::result::Result<HttpResponse, ApiError> {
    let applications = apps::all(env).await?;
    let summary = svc.hosted_summary(&applications, token).await?;
    Ok(HttpResponse::json(200, summary))
}

#[cfg(test)]
mod tests {
    use super::is_language;

    #[test]
    fn language_segments_are_not_api_prefixes() {
        for ok in ["en", "es", "cnr", "pt-BR", "zh-CN"] {
            assert!(is_language(ok), "{ok}");
        }
        for not in ["v3", "V3", "session", "e", "pt-br", "english", ""] {
            assert!(!is_language(not), "{not}");
        }
    }
}
