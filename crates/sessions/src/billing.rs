//! `GET /v3/billing/balance/`: Didit's balance shape, plus what a self-hosted operator
//! actually needs from it — this month's re-authentications and what they would cost under
//! the application's price model (`AppSettings::pricing`, by default Didit's public one).
//!
//! A self-hosted facegate holds no prepaid credit, so `balance` is null and auto-refill off;
//! the figures are in `usage`. They are counted from the sessions that exist: deleting
//! sessions (or a user) takes them out of the count, as it takes them out of everything else.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::routes::HttpResponse;
use crate::store::{SessionFilter, Store};
use crate::time::{iso8601, month_of};
use crate::types::{Application, SessionStatus};

/// What a month of verifications costs: the first `free_per_month` billable sessions are
/// free, each one after costs `unit_price_cents`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Pricing {
    pub free_per_month: u64,
    pub unit_price_cents: u64,
}

impl Default for Pricing {
    /// Didit's public price for biometric re-authentication: 500 free a month, then $0.10.
    fn default() -> Self {
        Pricing {
            free_per_month: 500,
            unit_price_cents: 10,
        }
    }
}

/// A session is billed once it is decided by the service (Approved, In Review, or later
/// expired from Approved); declined, abandoned, expired and unfinished sessions are free.
pub fn is_billable(status: SessionStatus) -> bool {
    matches!(
        status,
        SessionStatus::Approved | SessionStatus::InReview | SessionStatus::KycExpired
    )
}

/// Counts this month's sessions by status (one count per status; no rows are read).
pub async fn balance(
    store: &impl Store,
    app: &Application,
    now: i64,
) -> Result<HttpResponse, ApiError> {
    let (month, from, to) = month_of(now);
    let mut by_status = Map::new();
    let mut billable = 0u64;
    let mut total = 0u64;
    for status in SessionStatus::ALL {
        let filter = SessionFilter {
            status: Some(status),
            created_from: Some(from),
            created_to: Some(to - 1),
            ..SessionFilter::default()
        };
        let (count, _) = store.list_sessions(&app.id, &filter, 0, 0).await?;
        total += count;
        if is_billable(status) {
            billable += count;
        }
        by_status.insert(status.as_str().to_owned(), json!(count));
    }
    let p = app.settings.pricing;
    let charged = billable.saturating_sub(p.free_per_month);
    let cents = charged.saturating_mul(p.unit_price_cents);
    Ok(HttpResponse::json(
        200,
        json!({
            "balance": Value::Null,
            "auto_refill_enabled": false,
            "auto_refill_amount": Value::Null,
            "auto_refill_threshold": Value::Null,
            "usage": {
                "month": month,
                "period_start": iso8601(from),
                "period_end": iso8601(to),
                "sessions": total,
                "by_status": by_status,
                "billable": billable,
                "free_per_month": p.free_per_month,
                "charged": charged,
                "unit_price": dollars(p.unit_price_cents),
                "cost": dollars(cents),
                "currency": "USD",
            },
        }),
    ))
}

/// Didit's decimal-string money (`"12.30"`).
pub(crate) fn dollars(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::block_on;
    use crate::tests::{app, approve_capture, bio_session, outcome, svc, token_of, T0};
    use facegate_pipeline::CheckStatus;

    #[test]
    fn a_month_of_reauthentications_and_its_cost() {
        let (s, mut a) = (svc(), app());
        a.settings.pricing = Pricing {
            free_per_month: 2,
            unit_price_cents: 10,
        };
        let ids: Vec<String> = (0..5)
            .map(|i| {
                bio_session(&s, &a, &format!("bill-{i}"))["session_id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        for id in &ids[..3] {
            approve_capture(&s, &a, id);
        }
        let ctx =
            block_on(s.begin_capture(std::slice::from_ref(&a), &token_of(&s, &ids[3]), None)).unwrap();
        block_on(s.finish_capture(
            ctx,
            outcome(CheckStatus::Declined, Some(CheckStatus::Declined), None),
        ))
        .unwrap();

        let b = block_on(balance(&s.store, &a, T0)).unwrap().body.unwrap();
        let u = &b["usage"];
        assert_eq!(b["balance"], Value::Null);
        assert_eq!(u["month"], "2026-03");
        assert_eq!(u["sessions"], 5);
        assert_eq!(u["by_status"]["Approved"], 3);
        assert_eq!(
            u["billable"], 3,
            "declined and unfinished sessions are free: {u}"
        );
        assert_eq!(u["charged"], 1);
        assert_eq!(u["cost"], "0.10");

        // Next month starts from zero; another application's sessions are not counted.
        let next = block_on(balance(&s.store, &a, month_of(T0).2))
            .unwrap()
            .body
            .unwrap();
        assert_eq!(next["usage"]["sessions"], 0);
        let mut other = app();
        other.id = "bbbbbbbb-0000-4000-8000-000000000000".into();
        let theirs = block_on(balance(&s.store, &other, T0))
            .unwrap()
            .body
            .unwrap();
        assert_eq!(theirs["usage"]["sessions"], 0);
    }

    #[test]
    fn months_and_money() {
        assert_eq!(month_of(T0).0, "2026-03");
        let (label, from, to) = month_of(1_796_083_200 + 3600); // 2026-12-01T01:00Z
        assert_eq!(
            (label.as_str(), iso8601(from).as_str(), iso8601(to).as_str()),
            ("2026-12", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z")
        );
        assert_eq!(dollars(0), "0.00");
        assert_eq!(dollars(12345), "123.45");
    }
}
