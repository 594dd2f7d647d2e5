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

/// Counts this request against its budget; `RateLimited` once the last minute's budget is
/// spent. The count is a sliding estimate (this window plus the previous one weighted by how
/// much of it still lies within the last 60 s), so a burst straddling a window boundary cannot
/// take twice the budget, and a window turning over mid-burst does not wipe the count.
pub async fn check(env: &Env, bucket: String, budget: Budget) -> Result<(), ApiError> {
    let now = WorkerClock.now();
    let window = now / WINDOW_SECONDS;
    let limit = budget.per_minute;
    let db = http::database(env)?;
    let bind = |sql: &str, w: i64| {
        db.prepare(sql)
            .bind(&[bucket.clone().into(), (w as f64).into()])
            .map_err(|e| internal("bind", e))
    };
    let results = db
        .batch(vec![
            bind(
                "INSERT INTO rate_limits (bucket, window, n) VALUES (?1, ?2, 1) \
                 ON CONFLICT (bucket, window) DO UPDATE SET n = n + 1 RETURNING n",
                window,
            )?,
            bind(
                "SELECT n FROM rate_limits WHERE bucket = ?1 AND window = ?2",
                window - 1,
            )?,
        ])
        .await
        .map_err(|e| internal("rate limit", e))?;
    let count = |i: usize| -> Result<f64, ApiError> {
        let rows: Vec<Count> = match results.get(i) {
            Some(r) => r.results().map_err(|e| internal("rate limit rows", e))?,
            None => Vec::new(),
        };
        Ok(rows.first().map_or(0.0, |r| r.n))
    };
    let (current, previous) = (count(0)?, count(1)?);
    let left_of_previous = (WINDOW_SECONDS - now % WINDOW_SECONDS) as f64 / WINDOW_SECONDS as f64;
    if current + previous * left_of_previous <= f64::from(limit) {
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
