//! The hosted page at the session URL (`/session/{token}`, optionally under a language
//! segment), the session summary the page reads first and the desktop hand-off's QR code.
//! The page's scripts, styles, capture-wasm and client models are static assets
//! (edge-worker/public, built by scripts/build-capture.sh) served before the worker runs.

use facegate_sessions::{ApiError, HttpResponse, Store};
use qrcode::render::svg;
use qrcode::QrCode;
use worker::{Env, Headers, Response, Result};

use crate::app::AppService;
use crate::apps;

const INDEX: &str = include_str!("../../web/hosted/index.html");

/// The page at the session URL. Who may frame it is the token's application's choice
/// (`allowed_origins`); unset, or for a token that names nothing, any ancestor may, as with
/// Didit (integrators embed the page with the web SDK). It loads nothing from anywhere else;
/// capture-wasm needs 'wasm-unsafe-eval' to compile.
pub async fn page(svc: &AppService, env: &Env, token: &str) -> Result<Response> {
    let origins = match allowed_origins(svc, env, token).await {
        Ok(origins) => origins,
        Err(e) => return crate::http::respond(Err(e)),
    };
    let headers = Headers::new();
    headers.set("content-type", "text/html; charset=utf-8")?;
    headers.set(
        "content-security-policy",
        &format!(
            "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; img-src 'self' blob: data:; \
             media-src 'self' blob:; frame-ancestors {}",
            frame_ancestors(origins.as_deref())
        ),
    )?;
    headers.set("cache-control", "no-cache")?;
    Ok(Response::ok(INDEX)?.with_headers(headers))
}

async fn allowed_origins(
    svc: &AppService,
    env: &Env,
    token: &str,
) -> std::result::Result<Option<Vec<String>>, ApiError> {
    let Some(session) = svc.store.get_session_by_token(token).await? else {
        return Ok(None);
    };
    Ok(apps::by_id(env, &session.application_id)
        .await?
        .and_then(|app| app.settings.allowed_origins))
}

/// The CSP `frame-ancestors` sources: `*` when the application set no list, `'none'` for an
/// empty one; entries that are not plain origins are left out rather than widen the policy.
fn frame_ancestors(origins: Option<&[String]>) -> String {
    let Some(origins) = origins else {
        return "*".into();
    };
    let listed: Vec<&str> = origins
        .iter()
        .map(|o| o.trim().trim_end_matches('/'))
        .filter(|o| {
            (o.starts_with("https://") || o.starts_with("http://"))
                && !o.contains([';', ',', ' ', '\'', '*'])
        })
        .collect();
    if listed.is_empty() {
        "'none'".into()
    } else {
        listed.join(" ")
    }
}

/// `GET /hosted/v1/{token}`: what the page needs before it opens the camera, with a fresh
/// `challenge` on active-liveness workflows.
pub async fn summary(
    svc: &AppService,
    env: &Env,
    headers: &[(String, String)],
    token: &str,
) -> std::result::Result<HttpResponse, ApiError> {
    let applications = apps::all(env).await?;
    let seen = crate::visit::seen(env, headers).await;
    let summary = svc.hosted_summary(&applications, token, &seen).await?;
    Ok(HttpResponse::json(200, summary))
}

/// `POST /hosted/v1/{token}/challenge`: a fresh active-liveness challenge.
pub async fn challenge(
    svc: &AppService,
    env: &Env,
    token: &str,
) -> std::result::Result<HttpResponse, ApiError> {
    let applications = apps::all(env).await?;
    let challenge = svc
        .hosted_challenge(
            &applications,
            token,
            &facegate_pipeline::PipelineConfig::default().challenge,
        )
        .await?;
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
    use super::{frame_ancestors, qr_svg};

    #[test]
    fn qr_code_is_an_svg_of_the_url() {
        let svg = qr_svg("https://verify.example.com/session/abc");
        assert!(svg.contains("<svg") && svg.contains("<path"), "{svg}");
    }

    #[test]
    fn framing_follows_the_allowed_origins() {
        assert_eq!(frame_ancestors(None), "*");
        assert_eq!(frame_ancestors(Some(&[])), "'none'");
        let listed = [
            "https://app.example/".to_owned(),
            "http://127.0.0.1:8790".to_owned(),
        ];
        assert_eq!(
            frame_ancestors(Some(&listed)),
            "https://app.example http://127.0.0.1:8790"
        );
        // Nothing can widen the policy or inject a directive.
        let hostile = ["*".to_owned(), "https://a.example; script-src *".to_owned()];
        assert_eq!(frame_ancestors(Some(&hostile)), "'none'");
    }
}
