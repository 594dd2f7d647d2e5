//! Request budgets (the route table's, contract 3.4 for Didit's routes), counted in D1 per
//! minute so every isolate sees the same count. The core chooses the budget and the bucket
//! (`routes::rate_bucket`) and renders the 429.

use facegate_sessions::{ApiError, Budget, Clock};
use serde::Deserialize;
use worker::Env;

use crate::http::{self, internal};
use crate::ports::WorkerClock;

const WINDOW_SECONDS: i64 = 60;

#[derive(Deserialize)]
struct Count {
    n: f64,
}

/// Counts this request against its budget; `RateLimited` once the minute's budget is spent.
pub async fn check(env: &Env, bucket: String, budget: Budget) -> Result<(), ApiError> {
    let now = WorkerClock.now();
    let window = now / WINDOW_SECONDS;
    let limit = budget.per_minute;
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
