//! The route table, top to bottom. API paths follow Didit's (under /v3, trailing slash); the
//! health check sits at the origin root (contract 1.1); the hosted page is served at the
//! session URL and calls /hosted/v1.

use facegate_sessions::idempotency::{self, Decision};
use facegate_sessions::{route, AesGcmCipher, ApiError, HttpResponse, Route, Service, Urls};
use serde_json::json;
use worker::{Context, Env, Method, Request, Response, Result};

use crate::d1_store::D1Store;
use crate::http::{self, internal};
use crate::ports::{WorkerClock, WorkerIds};
use crate::{apps, capture, deliver, hosted, models, rate_limit, standalone};

pub type AppService = Service<D1Store, WorkerClock, WorkerIds, AesGcmCipher>;

pub async fn handle(mut req: Request, env: Env, ctx: Context) -> Result<Response> {
    let path = req.path();
    let method = req.method();
    if method == Method::Get
        && matches!(
            path.as_str(),
            "/system/healthcheck" | "/system/healthcheck/"
        )
    {
        return http::respond(Ok(http::json(200, crate::memory::health())));
    }
    if method == Method::Get {
        if let Some(page) = hosted::page(&path) {
            return page;
        }
    }
    if let Some(rest) = path.strip_prefix("/hosted/v1/") {
        return hosted_api(&mut req, env, ctx, rest).await;
    }
    if path == "/internal/housekeeping" {
        return http::respond(housekeeping_now(&req, &env).await);
    }
    match api(&mut req, &env, &path).await {
        Ok(Reply::Pdf { name, bytes }) => http::pdf(&name, bytes),
        Ok(Reply::Json(response)) => http::respond(Ok(response)),
        Ok(Reply::Replay(replay)) => http::replay(replay),
        Err(e) => http::respond(Err(e)),
    }
}

/// `/hosted/v1/{token}[/qr.svg|/challenge|/capture]`: what the hosted page calls, authorised
/// by the session token in the path.
async fn hosted_api(req: &mut Request, env: Env, ctx: Context, rest: &str) -> Result<Response> {
    let (token, action) = rest.split_once('/').unwrap_or((rest, ""));
    let allowed = match action {
        "" | "qr.svg" => Method::Get,
        "challenge" | "capture" => Method::Post,
        _ => return http::respond(Err(ApiError::NotFound)),
    };
    if req.method() != allowed {
        return http::respond(Err(ApiError::MethodNotAllowed {
            method: req.method().to_string(),
            allow: vec![if allowed == Method::Get {
                "GET"
            } else {
                "POST"
            }],
        }));
    }
    let svc = match service(&env, req) {
        Ok(svc) => svc,
        Err(e) => return http::respond(Err(e)),
    };
    match action {
        "" => http::respond(hosted::summary(&svc, &env, token).await),
        "qr.svg" => match hosted::qr_code(&svc, token).await {
            Ok(svg) => http::svg(svg),
            Err(e) => http::respond(Err(e)),
        },
        "challenge" => http::respond(hosted::challenge(&svc, &env, token).await),
        _ => {
            let outcome = capture::handle(&svc, &env, req, token).await;
            // Webhooks go out after the page has its answer; failures stay queued for the cron.
            ctx.wait_until(async move {
                if let Err(e) = deliver::due(&env).await {
                    worker::console_error!("webhook delivery: {:?}", e);
                }
            });
            http::respond(outcome)
        }
    }
}

/// `/webhook/destinations/[{id}/]`: the destinations live in the application's configuration.
async fn webhook_destinations(
    req: &mut Request,
    env: &Env,
    mut app: facegate_sessions::Application,
    rest: &[&str],
) -> std::result::Result<HttpResponse, ApiError> {
    use facegate_sessions::destinations;
    let response = match (req.method(), rest) {
        (Method::Get, []) => return Ok(destinations::list(&app)),
        (Method::Get, [id]) => return destinations::get(&app, id),
        (Method::Post, []) => destinations::create(&mut app, &http::body(req).await?, &WorkerIds)?,
        (Method::Patch, [id]) => destinations::update(&mut app, id, &http::body(req).await?)?,
        (Method::Delete, [id]) => destinations::delete(&mut app, id)?,
        (method, []) => {
            return Err(ApiError::MethodNotAllowed {
                method: method.to_string(),
                allow: vec!["GET", "POST"],
            })
        }
        (method, [_]) => {
            return Err(ApiError::MethodNotAllowed {
                method: method.to_string(),
                allow: vec!["GET", "PATCH", "DELETE"],
            })
        }
        _ => return Err(ApiError::NotFound),
    };
    apps::save(env, &app).await?;
    Ok(response)
}

/// `GET /session/{id}/webhooks/`: the session's delivery log.
async fn session_webhooks(
    svc: &AppService,
    app: &facegate_sessions::Application,
    id: &str,
) -> std::result::Result<HttpResponse, ApiError> {
    use facegate_sessions::Store;
    svc.get(app, id).await?;
    let rows = svc.store.deliveries_for_session(id).await?;
    let results: Vec<serde_json::Value> = rows
        .iter()
        .map(|d| {
            json!({
                "uuid": d.id, "event_id": d.event_id, "destination": d.destination_id, "url": d.url,
                "webhook_type": d.webhook_type, "status": d.status, "attempts": d.attempt,
                "last_response": d.last_response, "next_attempt_at": d.next_attempt_at, "created_at": d.created_at,
            })
        })
        .collect();
    Ok(http::json(
        200,
        json!({ "count": results.len(), "next": null, "previous": null, "results": results }),
    ))
}

/// The API answers JSON, except the PDF report.
enum Reply {
    Json(HttpResponse),
    Pdf {
        name: String,
        bytes: Vec<u8>,
    },
    /// An earlier answer to the same `Idempotency-Key`, sent as first sent.
    Replay(facegate_sessions::Replay),
}

/// Everything under /v3 needs an application key. A keyed write (`Idempotency-Key`) that
/// already succeeded is replayed instead of run again; a first success is kept for the retry.
async fn api(req: &mut Request, env: &Env, path: &str) -> std::result::Result<Reply, ApiError> {
    let headers = http::headers(req);
    let app = apps::by_key(env, &headers).await?;
    // The standalone biometric APIs store nothing, so a retry duplicates nothing, and their
    // results (biometric data) are not kept for a replay either.
    match (req.method(), path) {
        (Method::Post, "/v3/passive-liveness/") => {
            return standalone::passive_liveness(req, env)
                .await
                .map(Reply::Json)
        }
        (Method::Post, "/v3/face-match/") => {
            return standalone::face_match(req, env).await.map(Reply::Json)
        }
        _ => {}
    }
    let method = req.method().to_string();
    let Some(key) = idempotency::key_of(&method, &headers)? else {
        return dispatch(req, env, path, &headers, app).await;
    };
    // Read a copy (the routes read the original): the hash must cover the body as sent.
    let mut copy = req.clone().map_err(|e| internal("request clone", e))?;
    let hash = idempotency::fingerprint(&method, path, &http::body(&mut copy).await?);
    let svc = housekeeping_service(env)?;
    if let Decision::Replay(replay) = svc.idempotency_check(&app.id, &key, &hash).await? {
        return Ok(Reply::Replay(replay));
    }
    let app_id = app.id.clone();
    let reply = dispatch(req, env, path, &headers, app).await?;
    if let Reply::Json(response) = &reply {
        // The write has happened: failing the request now would invite the very retry that
        // duplicates it, so a lost record only costs the replay.
        if let Err(e) = svc.idempotency_record(&app_id, &key, &hash, response).await {
            worker::console_error!("idempotency record: {e:?}");
        }
    }
    Ok(reply)
}

async fn dispatch(
    req: &mut Request,
    env: &Env,
    path: &str,
    headers: &[(String, String)],
    app: facegate_sessions::Application,
) -> std::result::Result<Reply, ApiError> {
    let segments: Vec<&str> = path
        .trim_start_matches("/v3")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    if let ["webhook", "destinations", rest @ ..] = segments.as_slice() {
        return webhook_destinations(req, env, app, rest)
            .await
            .map(Reply::Json);
    }
    let svc = service(env, req)?;
    if let ["session", id, "webhooks"] = segments.as_slice() {
        return session_webhooks(&svc, &app, id).await.map(Reply::Json);
    }
    let query = req
        .url()
        .map_err(|e| internal("url", e))?
        .query()
        .unwrap_or("")
        .to_owned();
    let route = route(req.method().as_ref(), path)?;
    let key = facegate_sessions::routes::header(headers, "x-api-key").unwrap_or_default();
    rate_limit::check(env, key, &route).await?;
    let response = match route {
        Route::CreateSession => {
            let body = http::body(req).await?;
            let pipeline = models::pipeline(env).await?;
            svc.create(&app, &body, |portrait| {
                capture::enrol_portrait(&pipeline, portrait)
            })
            .await
        }
        Route::ListSessions => svc.list(&app, &query).await,
        Route::BatchDelete => svc.batch_delete(&app, &http::body(req).await?).await,
        Route::GetSession(id) => svc.get(&app, &id).await,
        Route::Decision(id) => svc.decision(&app, &id).await,
        Route::UpdateStatus(id) => svc.update_status(&app, &id, &http::body(req).await?).await,
        Route::DeleteSession(id) => svc.delete(&app, &id).await,
        Route::GeneratePdf(id) => {
            let decision = svc.decision(&app, &id).await?.body.unwrap_or_default();
            return Ok(Reply::Pdf {
                name: format!("facegate-{id}.pdf"),
                bytes: facegate_sessions::pdf::decision_pdf(&decision),
            });
        }
    };
    response.map(Reply::Json)
}

/// The core service over this request's bindings. Public URLs are derived from the request's
/// own origin, so the service needs no configuration to run behind any host name.
pub fn service(env: &Env, req: &Request) -> std::result::Result<AppService, ApiError> {
    let origin = req
        .url()
        .map_err(|e| internal("url", e))?
        .origin()
        .ascii_serialization();
    service_with(
        env,
        Urls {
            hosted_base: origin.clone(),
            api_base: format!("{origin}/v3"),
        },
    )
}

/// For work outside a request (cron, webhook sending), which renders no URLs.
pub fn housekeeping_service(env: &Env) -> std::result::Result<AppService, ApiError> {
    service_with(
        env,
        Urls {
            hosted_base: String::new(),
            api_base: String::new(),
        },
    )
}

fn service_with(env: &Env, urls: Urls) -> std::result::Result<AppService, ApiError> {
    let db = http::database(env)?;
    Ok(Service {
        store: D1Store::new(db),
        clock: WorkerClock,
        ids: WorkerIds,
        cipher: template_cipher(env)?,
        urls,
    })
}

/// Templates are sealed under their own key (Worker secret TEMPLATE_KEY, 64 hex chars),
/// distinct from API keys and webhook secrets.
fn template_cipher(env: &Env) -> std::result::Result<AesGcmCipher, ApiError> {
    let hex_key = env
        .secret("TEMPLATE_KEY")
        .map_err(|_| internal("TEMPLATE_KEY", "secret not set"))?
        .to_string();
    let key: [u8; 32] = hex::decode(hex_key.trim())
        .ok()
        .and_then(|k| k.try_into().ok())
        .ok_or_else(|| internal("TEMPLATE_KEY", "must be 64 hex characters"))?;
    Ok(AesGcmCipher::new(&key))
}

/// `POST /internal/housekeeping`: the cron's work on demand, for hosts without cron triggers:
/// workerd self-hosting, and wrangler dev 4.86, whose local static assets break the scheduled
/// trigger (workers-sdk#9882, fixed only in wranglers that need Node 22). Any application's
/// API key may run it: it does nothing the cron would not do a minute later.
async fn housekeeping_now(req: &Request, env: &Env) -> std::result::Result<HttpResponse, ApiError> {
    if req.method() != Method::Post {
        return Err(ApiError::MethodNotAllowed {
            method: req.method().to_string(),
            allow: vec!["POST"],
        });
    }
    apps::by_key(env, &http::headers(req)).await?;
    housekeeping(env).await?;
    Ok(http::json(200, json!({ "status": "ok" })))
}

/// The cron's work: expire sessions past their deadline, delete those past the application's
/// retention, forget Idempotency-Key answers past their day, send due webhooks.
pub async fn housekeeping(env: &Env) -> std::result::Result<(), ApiError> {
    let svc = housekeeping_service(env)?;
    let applications = apps::all(env).await?;
    svc.expire_due(&applications).await?;
    for app in &applications {
        svc.purge_retention(app).await?;
    }
    svc.purge_idempotency().await?;
    rate_limit::sweep(env).await?;
    deliver::due(env).await
}
