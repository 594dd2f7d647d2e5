//! The console's usage page: re-authentications per UTC day and per month over the last
//! twelve months, what each month costs under the application's price model
//! (`AppSettings::pricing`; what is billable is `billing::is_billable`), and the same as CSV.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::billing::{dollars, is_billable};
use crate::error::ApiError;
use crate::store::Store;
use crate::time::{iso8601, month_of};
use crate::types::{Application, SessionStatus};

pub const MONTHS: usize = 12;

/// One UTC day's sessions by status.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DayUsage {
    pub date: String,
    pub by_status: BTreeMap<&'static str, u64>,
}

impl DayUsage {
    pub fn total(&self) -> u64 {
        self.by_status.values().sum()
    }

    pub fn billable(&self) -> u64 {
        self.by_status
            .iter()
            .filter(|(s, _)| SessionStatus::parse(s).is_some_and(is_billable))
            .map(|(_, n)| n)
            .sum()
    }
}

/// The last `MONTHS` months up to `now`'s, by day (days without sessions left out).
pub async fn days(
    store: &impl Store,
    app: &Application,
    now: i64,
) -> Result<Vec<DayUsage>, ApiError> {
    let (_, mut from, to) = month_of(now);
    for _ in 1..MONTHS {
        from = month_of(from - 1).1;
    }
    let mut by_day: BTreeMap<i64, DayUsage> = BTreeMap::new();
    for c in store.session_counts_by_day(&app.id, from, to).await? {
        let day = by_day.entry(c.day).or_insert_with(|| DayUsage {
            date: iso8601(c.day * 86_400)[..10].to_owned(),
            ..DayUsage::default()
        });
        *day.by_status.entry(c.status.as_str()).or_default() += c.count;
    }
    Ok(by_day.into_values().collect())
}

/// `GET /console/api/applications/{app}/usage/`: days, months with their cost, the price model.
pub fn usage_json(app: &Application, now: i64, days: &[DayUsage]) -> Value {
    let p = app.settings.pricing;
    let mut months: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let (_, mut start, _) = month_of(now);
    for _ in 0..MONTHS {
        months.insert(month_of(start).0, (0, 0));
        start = month_of(start - 1).1;
    }
    for d in days {
        let m = months.entry(d.date[..7].to_owned()).or_default();
        m.0 += d.total();
        m.1 += d.billable();
    }
    let months: Vec<Value> = months
        .into_iter()
        .map(|(month, (total, billable))| {
            let charged = billable.saturating_sub(p.free_per_month);
            json!({
                "month": month, "sessions": total, "billable": billable, "charged": charged,
                "cost": dollars(charged.saturating_mul(p.unit_price_cents)),
            })
        })
        .collect();
    let days: Vec<Value> = days
        .iter()
        .map(|d| {
            json!({
                "date": d.date, "sessions": d.total(), "billable": d.billable(),
                "by_status": d.by_status,
            })
        })
        .collect();
    json!({
        "currency": "USD",
        "pricing": {
            "free_per_month": p.free_per_month,
            "unit_price": dollars(p.unit_price_cents),
            "billable_statuses": SessionStatus::ALL.iter().filter(|s| is_billable(**s)).map(|s| s.as_str()).collect::<Vec<_>>(),
        },
        "months": months,
        "days": days,
    })
}

/// The days as CSV: one row a day with sessions, a column per status.
pub fn usage_csv(days: &[DayUsage]) -> String {
    let mut out = String::from("date,sessions,billable");
    for s in SessionStatus::ALL {
        out.push(',');
        out.push_str(&s.as_str().to_lowercase().replace(' ', "_"));
    }
    out.push('\n');
    for d in days {
        out.push_str(&format!("{},{},{}", d.date, d.total(), d.billable()));
        for s in SessionStatus::ALL {
            out.push_str(&format!(
                ",{}",
                d.by_status.get(s.as_str()).copied().unwrap_or(0)
            ));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::block_on;
    use crate::tests::{app, approve_capture, bio_session, svc, T0};

    #[test]
    fn days_months_cost_and_csv() {
        let (s, mut a) = (svc(), app());
        a.settings.pricing.free_per_month = 1;
        for i in 0..3 {
            let id = bio_session(&s, &a, &format!("use-{i}"))["session_id"]
                .as_str()
                .unwrap()
                .to_owned();
            if i < 2 {
                approve_capture(&s, &a, &id);
            }
            s.clock.advance(86_400);
        }
        let days = block_on(days(&s.store, &a, s.clock.0.get())).unwrap();
        assert_eq!(days.len(), 3);
        assert_eq!((days[0].total(), days[0].billable()), (1, 1));
        assert_eq!((days[2].total(), days[2].billable()), (1, 0));
        let u = usage_json(&a, s.clock.0.get(), &days);
        let months = u["months"].as_array().unwrap();
        assert_eq!(months.len(), MONTHS);
        // T0 is the last day of a month: its approval is March's, the other two April's.
        let sum = |k: &str| months.iter().map(|m| m[k].as_u64().unwrap()).sum::<u64>();
        assert_eq!((sum("sessions"), sum("billable")), (3, 2));
        let march = months.iter().find(|m| m["month"] == "2026-03").unwrap();
        let april = months.iter().find(|m| m["month"] == "2026-04").unwrap();
        assert_eq!(
            (march["billable"].as_u64(), march["charged"].as_u64()),
            (Some(1), Some(0))
        );
        assert_eq!(
            (april["sessions"].as_u64(), april["billable"].as_u64()),
            (Some(2), Some(1))
        );
        assert_eq!(april["cost"], "0.00", "one free a month");
        let csv = usage_csv(&days);
        assert!(
            csv.starts_with("date,sessions,billable,not_started,"),
            "{csv}"
        );
        assert_eq!(csv.lines().count(), 4);
        assert!(csv.lines().nth(1).unwrap().starts_with(&iso8601(T0)[..10]));
    }
}
