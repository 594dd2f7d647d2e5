//! The route table, top to bottom. Paths follow Didit's: under /v3 with a trailing slash, health
//! at the origin root (contract 1.1).

use worker::{Env, Method, Request, Response, Result};

use crate::http_error::HttpError;
use crate::{auth, standalone};

pub async fn handle(mut req: Request, env: &Env) -> Result<Response> {
    let path = req.path();
    let outcome = match (req.method(), path.as_str()) {
        (Method::Get, "/system/healthcheck" | "/system/healthcheck/") => Ok(Response::from_json(&serde_json::json!({"status": "ok"}))?),
        (Method::Post, "/v3/passive-liveness/") => match auth::application_id(&req, env).await {
            Ok(_application) => standalone::passive_liveness(&mut req, env).await,
            Err(e) => Err(e),
        },
        (Method::Post, "/v3/face-match/") => match auth::application_id(&req, env).await {
            Ok(_application) => standalone::face_match(&mut req, env).await,
            Err(e) => Err(e),
        },
        _ => Err(HttpError::not_found()),
    };
    outcome.or_else(|e| e.into_response())
}
