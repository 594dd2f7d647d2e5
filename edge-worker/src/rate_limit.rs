//! Didit's per-key, per-endpoint budgets (contract 3.4), counted in D1 per minute so every
//! isolate sees the same count. The core knows the limits and renders the 429.

use facegate_sessions::{hash_api_key, ApiError, Clock, Route};
use serde::Deserialize;
use worker::Env;

use crate::http::{self, internal};
use crate::ports::WorkerClock;

const WINDOW_SECONDS: i64 = 60;

/// Endpoints sharing one budget.
fn class(route: &Route) -> &'static str {
    match route {
        Route::CreateSession => "create",
        Route::Decision(_) => "decision",
        Route::GeneratePdf(_) => "pdf",
        Route::ListSessions | Route::GetSession(_) => "read",
        Route::BatchDelete | Route::UpdateStatus(_) | Route::DeleteSession(_) => "write",
    }
}

#[derive(Deserialize)]
struct Count {
    n: f64,
}

/// Counts this request against its budget; `RateLimited` once the minute's budget is spent.
pub async fn check(env: &Env, api_key: &str, route: &Route) -> Result<(), ApiError> {
    let now = WorkerClock.now();
    let window = now / WINDOW_SECONDS;
    let limit = route.rate_limit_per_minute();
    let bucket = format!("{}:{}", hash_api_key(api_key), class(route));
    let db = http::database(env)?;
    let rows: Vec<Count> = db
        .prepare(
            "INSERT INTO rate_limits (bucket, window, n) VALUES (?1, ?2, 1) \
             ON CONFLICT (bucket, window) DO UPDATE SET n = n + 1 RETURNING n",
        )
        .bind(&[bucket.into(), (window as f64).into()])
        .map_err(|e| internal("bind", e))?
        .all()
        .await
        .map_err(|e| internal("rate limit", e))?
        .results()
        .map_err(|e| internal("rate limit rows", e))?;
    let used = rows.first().map_or(0, |r| r.n as u32);
    if used <= limit {
        return Ok(());
    }
    let reset = (window + 1) * WINDOW_SECONDS;
    Err(ApiError::RateLimited {
        limit,
        remaining: 0,
        reset,
        retry_after: reset - now,
    })
}

/// Drops windows that can no longer matter.
pub async fn sweep(env: &Env) -> Result<(), ApiError> {
    let window = WorkerClock.now() / WINDOW_SECONDS;
    let db = http::database(env)?;
    db.prepare("DELETE FROM rate_limits WHERE window < ?1")
        .bind(&[((window - 1) as f64).into()])
        .map_err(|e| internal("bind", e))?
        .run()
        .await
        .map_err(|e| internal("rate limit sweep", e))?;
    Ok(())
}
