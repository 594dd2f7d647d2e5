//! Sends due webhooks from the D1 outbox and records each result; the core decides retries.
//! Rows are claimed under a lease before sending, so a cron run, a capture's `wait_until` and a
//! manual housekeeping call that overlap never send the same row twice.

use std::time::Duration;

use facegate_sessions::{
    check_url, sign_for_send, ApiError, Application, Clock, DeliveryRow, SendResult, UrlPolicy,
};
use facegate_webhook::SignedWebhook;
use futures_util::future::{join_all, select, Either};
use worker::wasm_bindgen::JsValue;
use worker::{
    AbortController, Delay, Env, Fetch, Headers, Method, Request, RequestInit, RequestRedirect,
};

use crate::app::{housekeeping_service, url_policy, AppService};
use crate::apps;
use crate::ports::WorkerClock;

/// A receiver gets this long to answer before the attempt counts as a timeout.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
const BATCH: u32 = 25;

/// Batches per run: a session's next status to a destination is claimable only once the one
/// before it is sent, so a run takes a few rounds to drain what one capture queued, instead of
/// leaving the rest to the next cron tick a minute later.
const ROUNDS: usize = 4;

pub async fn due(env: &Env) -> Result<(), ApiError> {
    let svc = housekeeping_service(env)?;
    // Read once a run, and only when something is due: every round signs with the same
    // configuration, as every row of one batch always did.
    let mut applications = None;
    let policy = url_policy(env);
    for _ in 0..ROUNDS {
        let (claim, rows) = svc.claim_deliveries(BATCH).await?;
        if rows.is_empty() {
            break;
        }
        if applications.is_none() {
            applications = Some(apps::all(env).await?);
        }
        let applications = applications.as_deref().unwrap_or_default();
        send_batch(&svc, applications, policy, &claim.id, &rows).await?;
    }
    Ok(())
}

async fn send_batch(
    svc: &AppService,
    applications: &[Application],
    policy: UrlPolicy,
    claim: &str,
    rows: &[DeliveryRow],
) -> Result<(), ApiError> {
    // Concurrently: the batch then takes one send timeout at most, well inside the lease.
    let results = join_all(rows.iter().map(|row| {
        let app = applications.iter().find(|a| a.id == row.application_id);
        let signed = app.and_then(|app| sign_for_send(row, app, WorkerClock.now()));
        async move {
            match signed {
                Some(Ok(signed)) => {
                    // The clock advances across the fetch (a Worker's clock stands still only
                    // while it computes), so this is the receiver's time to answer.
                    let started = WorkerClock.now_ms();
                    let result = send(&row.url, &signed, policy).await;
                    let latency_ms = (result != SendResult::Refused).then(|| {
                        u32::try_from((WorkerClock.now_ms() - started).max(0)).unwrap_or(u32::MAX)
                    });
                    svc.record_delivery_result(claim, row, result, latency_ms)
                        .await
                        .map(|_| ())
                }
                Some(Err(e)) => {
                    worker::console_error!("webhook {} cannot be signed: {e}", row.id);
                    svc.abandon_delivery(claim, row).await
                }
                // The application or its destination is gone: nobody to deliver to.
                None => svc.abandon_delivery(claim, row).await,
            }
        }
    }))
    .await;
    results.into_iter().collect()
}

async fn send(url: &str, signed: &SignedWebhook, policy: UrlPolicy) -> SendResult {
    match try_send(url, signed, policy).await {
        Ok(result) => result,
        Err(e) => {
            worker::console_log!("webhook to {url} failed: {e}");
            SendResult::Timeout
        }
    }
}

/// One POST. The URL is checked again here (rows queued before destinations were checked,
/// or a development flag since removed), and a redirect is not followed: a 3xx is the
/// receiver's answer, and it fails the attempt. Only the status is kept, never the body.
async fn try_send(
    url: &str,
    signed: &SignedWebhook,
    policy: UrlPolicy,
) -> worker::Result<SendResult> {
    if let Err(why) = check_url(url, policy) {
        worker::console_log!("webhook to {url} not sent: {why}");
        return Ok(SendResult::Refused);
    }
    let headers = Headers::new();
    for (name, value) in &signed.headers {
        headers.set(name, value)?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_redirect(RequestRedirect::Manual)
        .with_headers(headers)
        .with_body(Some(JsValue::from_str(&signed.body)));
    let request = Request::new_with_init(url, &init)?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch = Fetch::Request(request);
    let sending = std::pin::pin!(fetch.send_with_signal(&signal));
    let timeout = std::pin::pin!(Delay::from(SEND_TIMEOUT));
    match select(sending, timeout).await {
        Either::Left((response, _)) => {
            let response = response?;
            let retry_after = response
                .headers()
                .get("retry-after")
                .ok()
                .flatten()
                .and_then(|v| v.trim().parse().ok());
            Ok(SendResult::Http {
                status: response.status_code(),
                retry_after,
            })
        }
        Either::Right(_) => {
            controller.abort();
            Ok(SendResult::Timeout)
        }
    }
}
