//! The webhook outbox: retry policy and signing at send time.
//!
//! Schedule: a send, then retries 1, 4, 16, 64, 256 and 1024 minutes after each failure
//! (×4 backoff), i.e. 7 sends over ~22.75 h — Didit's documented 1 min / 4 min start,
//! continued until roughly a day has passed.

use facegate_webhook::{SignedWebhook, DIDIT_USER_AGENT};

use crate::types::{Application, DeliveryAttempt, DeliveryRow, DeliveryStatus};

pub const MAX_SENDS: u32 = 7;
/// Sends kept in a delivery's log: a full retry budget and a few resends.
pub const LOGGED_ATTEMPTS: usize = 20;
/// How long a sender holds the rows it claimed. Longer than a batch of sends takes (they run
/// concurrently, each cut off at 10 s), so a live sender never loses its rows, and short enough
/// that rows claimed by an isolate that died are retried within minutes.
pub const LEASE_SECONDS: i64 = 120;
const FIRST_RETRY_SECONDS: i64 = 60;
const BACKOFF_FACTOR: i64 = 4;

/// What the adapter observed when POSTing a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendResult {
    Http {
        status: u16,
        /// `Retry-After` in seconds, when the receiver sent one.
        retry_after: Option<i64>,
    },
    /// No answer in time, or the connection failed.
    Timeout,
    /// Not sent: the URL is not a public host (a destination stored before URLs were checked).
    Refused,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    Retry,
    GiveUp,
}

/// 2xx delivered; 409 means the receiver already has this event (PY guards' duplicate
/// answer), so it counts as delivered too. 5xx, 404 (Didit retries it), 408, 429 and
/// timeouts are transient; any other 4xx is a permanent refusal.
pub fn classify(result: SendResult) -> Verdict {
    match result {
        SendResult::Timeout => Verdict::Retry,
        SendResult::Refused => Verdict::GiveUp,
        SendResult::Http { status, .. } => match status {
            200..=299 | 409 => Verdict::Delivered,
            404 | 408 | 429 | 500..=599 => Verdict::Retry,
            _ => Verdict::GiveUp,
        },
    }
}

/// Seconds to wait after the `sends`-th failed send (1-based).
pub fn backoff_seconds(sends: u32) -> i64 {
    let exp = sends.saturating_sub(1).min(10);
    FIRST_RETRY_SECONDS * BACKOFF_FACTOR.pow(exp)
}

/// The row after one send at `now`.
pub fn apply_result(row: &DeliveryRow, result: SendResult, now: i64) -> DeliveryRow {
    let mut next = row.clone();
    next.attempt = row.attempt.saturating_add(1);
    next.updated_at = now;
    next.last_response = Some(match result {
        SendResult::Http { status, .. } => status.to_string(),
        SendResult::Timeout => "timeout".into(),
        SendResult::Refused => "refused: not a public address".into(),
    });
    match classify(result) {
        Verdict::Delivered => next.status = DeliveryStatus::Delivered,
        Verdict::GiveUp => next.status = DeliveryStatus::Failed,
        Verdict::Retry if next.attempt >= MAX_SENDS => next.status = DeliveryStatus::Failed,
        Verdict::Retry => {
            let backoff = backoff_seconds(next.attempt);
            // A receiver's short Retry-After (PY guards send 5 s while busy) is honoured;
            // a longer one cannot stretch the schedule past the backoff.
            let wait = match result {
                SendResult::Http {
                    retry_after: Some(r),
                    ..
                } if r >= 1 => r.min(backoff),
                _ => backoff,
            };
            next.next_attempt_at = now + wait;
        }
    }
    next
}

/// `row` (as `apply_result` left it) with its latest send logged: when, the answer, and how
/// long the sender waited for it. The oldest entries go past `LOGGED_ATTEMPTS`.
pub fn log_attempt(row: &mut DeliveryRow, latency_ms: Option<u32>) {
    row.attempt_log.push(DeliveryAttempt {
        attempt: row.attempt,
        at: row.updated_at,
        response: row.last_response.clone().unwrap_or_default(),
        latency_ms,
    });
    let over = row.attempt_log.len().saturating_sub(LOGGED_ATTEMPTS);
    row.attempt_log.drain(..over);
}

/// The exact request to send for `row` at `now`: body and headers signed with the
/// destination's current secret, `timestamp` = `X-Timestamp` = `now` (§2.3). `None` when the
/// destination no longer exists (the caller marks the row failed).
pub fn sign_for_send(
    row: &DeliveryRow,
    app: &Application,
    now: i64,
) -> Option<Result<SignedWebhook, facegate_webhook::WebhookError>> {
    let dest = app.webhooks.iter().find(|d| d.id == row.destination_id)?;
    Some(
        facegate_webhook::sign(&row.payload, &dest.secret_shared_key, now).map(|mut s| {
            s.headers.push(("User-Agent", DIDIT_USER_AGENT.to_owned()));
            s
        }),
    )
}

/// A delivery as the API shows it (`GET /session/{id}/webhooks/`, a resend): its state, never
/// the payload or the receiver's body.
pub fn delivery_json(d: &DeliveryRow) -> serde_json::Value {
    serde_json::json!({
        "uuid": d.id, "event_id": d.event_id, "destination": d.destination_id, "url": d.url,
        "webhook_type": d.webhook_type, "status": d.status, "attempts": d.attempt,
        "last_response": d.last_response, "next_attempt_at": d.next_attempt_at, "created_at": d.created_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row() -> DeliveryRow {
        DeliveryRow {
            id: "d".into(),
            event_id: "e".into(),
            application_id: "a".into(),
            session_id: "s".into(),
            destination_id: "dest".into(),
            url: "https://hook.example/".into(),
            webhook_type: "status.updated".into(),
            payload: json!({"session_id": "s", "status": "Approved", "webhook_type": "status.updated"}),
            attempt: 0,
            next_attempt_at: 0,
            status: DeliveryStatus::Pending,
            last_response: None,
            created_at: 0,
            updated_at: 0,
            attempt_log: Vec::new(),
        }
    }

    #[test]
    fn classification() {
        let http = |status| SendResult::Http {
            status,
            retry_after: None,
        };
        assert_eq!(classify(http(200)), Verdict::Delivered);
        assert_eq!(classify(http(204)), Verdict::Delivered);
        assert_eq!(classify(http(409)), Verdict::Delivered);
        for s in [404, 408, 429, 500, 502, 503, 504] {
            assert_eq!(classify(http(s)), Verdict::Retry, "{s}");
        }
        for s in [301, 400, 401, 403, 410, 413] {
            assert_eq!(classify(http(s)), Verdict::GiveUp, "{s}");
        }
        assert_eq!(classify(SendResult::Timeout), Verdict::Retry);
    }

    #[test]
    fn schedule_spans_about_a_day_then_gives_up() {
        let mut r = row();
        let mut now = 1000;
        let mut waits = vec![];
        while r.status == DeliveryStatus::Pending {
            r = apply_result(&r, SendResult::Timeout, now);
            if r.status == DeliveryStatus::Pending {
                waits.push(r.next_attempt_at - now);
                now = r.next_attempt_at;
            }
        }
        assert_eq!(waits, vec![60, 240, 960, 3840, 15360, 61440]);
        assert_eq!(r.attempt, MAX_SENDS);
        assert_eq!(r.status, DeliveryStatus::Failed);
        assert_eq!(r.last_response.as_deref(), Some("timeout"));
        let total: i64 = waits.iter().sum();
        assert!((20 * 3600..=24 * 3600).contains(&total), "{total}");
    }

    #[test]
    fn each_send_is_logged_with_its_latency_and_the_log_is_bounded() {
        let mut r = row();
        for i in 0..25 {
            r = apply_result(&r, SendResult::Timeout, 100 + i);
            log_attempt(&mut r, Some(10_000));
        }
        assert_eq!(r.attempt_log.len(), LOGGED_ATTEMPTS);
        let last = r.attempt_log.last().unwrap();
        assert_eq!(
            (
                last.attempt,
                last.at,
                last.response.as_str(),
                last.latency_ms
            ),
            (25, 124, "timeout", Some(10_000))
        );
        let mut r = apply_result(&row(), SendResult::Refused, 5);
        log_attempt(&mut r, None);
        assert_eq!(r.attempt_log[0].latency_ms, None);
    }

    #[test]
    fn short_retry_after_is_honoured() {
        let r = apply_result(
            &row(),
            SendResult::Http {
                status: 503,
                retry_after: Some(5),
            },
            100,
        );
        assert_eq!(
            (r.status, r.next_attempt_at),
            (DeliveryStatus::Pending, 105)
        );
        let r = apply_result(
            &row(),
            SendResult::Http {
                status: 503,
                retry_after: Some(99_999),
            },
            100,
        );
        assert_eq!(r.next_attempt_at, 160);
    }
}
