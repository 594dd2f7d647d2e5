//! The hosted page at the session URL (`/session/{token}`, optionally under a language
//! segment), the session summary the page reads first and the desktop hand-off's QR code.
//! The page's scripts, styles, capture-wasm and client models are static assets
//! (edge-worker/public, built by scripts/build-capture.sh) served before the worker runs.

use facegate_sessions::{ApiError, HttpResponse, Store};
use qrcode::render::svg;
use qrcode::QrCode;
use worker::{Env, Headers, Response, Result};

use crate::apps;
use crate::routes::AppService;

const INDEX: &str = include_str!("../../web/hosted/index.html");

/// The page itself when `path` is a session URL; `None` otherwise.
pub fn page(path: &str) -> Option<Result<Response>> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["session", _] => Some(serve_page()),
        [language, "session", _] if is_language(language) => Some(serve_page()),
        _ => None,
    }
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

fn serve_page() -> Result<Response> {
    let headers = Headers::new();
    headers.set("content-type", "text/html; charset=utf-8")?;
    // Integrators embed the page in an iframe (the web SDK), so any ancestor may frame it; it
    // loads nothing from anywhere else. capture-wasm needs 'wasm-unsafe-eval' to compile.
    headers.set(
        "content-security-policy",
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; img-src 'self' blob: data:; \
         media-src 'self' blob:; frame-ancestors *",
    )?;
    headers.set("cache-control", "no-cache")?;
    Ok(Response::ok(INDEX)?.with_headers(headers))
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

/// `POST /hosted/v1/{token}/challenge`: a fresh active-liveness challenge.
pub async fn challenge(
    svc: &AppService,
    env: &Env,
    token: &str,
) -> std::result::Result<HttpResponse, ApiError> {
    let applications = apps::all(env).await?;
    let challenge = svc.hosted_challenge(&applications, token).await?;
    Ok(HttpResponse::json(200, challenge))
}

/// `GET /hosted/v1/{token}/qr.svg`: the session URL as a QR code, so that a desktop user can
/// take the selfie with a phone; the desktop page then follows the session to its end.
pub async fn qr_code(svc: &AppService, token: &str) -> std::result::Result<String, ApiError> {
    svc.store
        .get_session_by_token(token)
        .await?
        .ok_or(ApiError::NotFound)?;
    // `handoff` tells the phone's page it is the completing device (callback_method).
    Ok(qr_svg(&format!(
        "{}?handoff=1",
        svc.urls.session_url(token)
    )))
}

fn qr_svg(url: &str) -> String {
    // A URL of a few hundred bytes always fits a QR code (version 40 holds 2,953 bytes).
    QrCode::new(url.as_bytes())
        .map(|code| {
            code.render::<svg::Color<'_>>()
                .min_dimensions(240, 240)
                .quiet_zone(true)
                .build()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::{is_language, qr_svg};

    #[test]
    fn qr_code_is_an_svg_of_the_url() {
        let svg = qr_svg("https://verify.example.com/session/abc");
        assert!(svg.contains("<svg") && svg.contains("<path"), "{svg}");
    }

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
