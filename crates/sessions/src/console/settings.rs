//! An application's settings as the console changes them: its name, how long its sessions
//! are kept, which sites may frame its hosted page, how long a session stays open, and the
//! price model its usage is costed with. Only what is sent changes; `null` unsets.

use serde_json::{json, Map, Value};

use super::accounts::Action;
use super::signin::Principal;
use crate::billing::Pricing;
use crate::error::{ApiError, FieldErrors};
use crate::routes::HttpResponse;
use crate::types::Application;
use crate::validate::parse_object;

const MAX_ORIGINS: usize = 20;
const MAX_RETENTION_DAYS: u64 = 3650;
const SESSION_EXPIRY: std::ops::RangeInclusive<i64> = 60..=30 * 86_400;
const FIELDS: [&str; 6] = [
    "name",
    "retention_days",
    "retain_images",
    "allowed_origins",
    "session_expiry_seconds",
    "pricing",
];

pub fn settings_json(app: &Application) -> Value {
    let s = &app.settings;
    json!({
        "id": app.id,
        "name": app.name,
        "retention_days": s.retention_days,
        "retain_images": s.retain_images,
        "allowed_origins": s.allowed_origins,
        "session_expiry_seconds": s.session_expiry_seconds,
        "pricing": { "free_per_month": s.pricing.free_per_month, "unit_price_cents": s.pricing.unit_price_cents },
    })
}

/// An origin a browser would send in `Origin` (scheme, host, optional port; nothing else):
/// it ends up in the hosted page's `frame-ancestors`, so nothing that could break out of a
/// CSP source expression gets through. Plain http only for this machine.
pub fn valid_origin(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once("://") else {
        return false;
    };
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && !host.starts_with(['.', '-'])
        && !host.ends_with(['.', '-']);
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    let local = matches!(host, "localhost" | "127.0.0.1");
    host_ok && port_ok && (scheme == "https" || (scheme == "http" && local))
}

/// `PATCH /console/api/applications/{app}/settings/` (admins).
pub fn patch(
    who: &Principal,
    app: &mut Application,
    body: &[u8],
) -> Result<HttpResponse, ApiError> {
    who.operator().authorize(&app.id, Action::Configure)?;
    let m = parse_object(body)?;
    let mut e = FieldErrors::new();
    for key in m.keys().filter(|k| !FIELDS.contains(&k.as_str())) {
        e.add(key, "Unknown setting.");
    }
    let mut next = app.clone();
    if let Some(v) = m.get("name") {
        match v.as_str().map(str::trim) {
            Some(n) if !n.is_empty() && n.chars().count() <= 100 => next.name = n.to_owned(),
            _ => e.add("name", "A name of 1 to 100 characters."),
        }
    }
    if let Some(v) = m.get("retention_days") {
        match v {
            Value::Null => next.settings.retention_days = None,
            v => match v.as_u64().filter(|d| (1..=MAX_RETENTION_DAYS).contains(d)) {
                Some(d) => next.settings.retention_days = Some(d as u32),
                None => e.add(
                    "retention_days",
                    format!("null, or whole days from 1 to {MAX_RETENTION_DAYS}."),
                ),
            },
        }
    }
    if let Some(v) = m.get("retain_images") {
        match v.as_bool() {
            Some(b) => next.settings.retain_images = b,
            None => e.add("retain_images", "true or false."),
        }
    }
    if let Some(v) = m.get("allowed_origins") {
        match v {
            Value::Null => next.settings.allowed_origins = None,
            Value::Array(list) if list.len() <= MAX_ORIGINS => {
                let origins: Vec<String> = list
                    .iter()
                    .filter_map(|o| {
                        o.as_str()
                            .map(|s| s.trim().trim_end_matches('/').to_lowercase())
                    })
                    .collect();
                let bad: Vec<&Value> = list
                    .iter()
                    .filter(|o| {
                        !o.as_str().is_some_and(|s| {
                            valid_origin(&s.trim().trim_end_matches('/').to_lowercase())
                        })
                    })
                    .collect();
                if bad.is_empty() {
                    next.settings.allowed_origins = Some(origins);
                } else {
                    e.add(
                        "allowed_origins",
                        format!(
                            "Not an origin (https://host[:port]): {}",
                            Value::Array(bad.into_iter().cloned().collect())
                        ),
                    );
                }
            }
            _ => e.add(
                "allowed_origins",
                format!("null, or a list of at most {MAX_ORIGINS} origins."),
            ),
        }
    }
    if let Some(v) = m.get("session_expiry_seconds") {
        match v.as_i64().filter(|s| SESSION_EXPIRY.contains(s)) {
            Some(s) => next.settings.session_expiry_seconds = s,
            None => e.add(
                "session_expiry_seconds",
                "Seconds from 60 to 2592000 (30 days).",
            ),
        }
    }
    if let Some(v) = m.get("pricing") {
        match pricing(v) {
            Some(p) => next.settings.pricing = p,
            None => e.add(
                "pricing",
                "{\"free_per_month\": n, \"unit_price_cents\": n}, whole numbers.",
            ),
        }
    }
    e.into_result()?;
    *app = next;
    Ok(HttpResponse::json(200, settings_json(app)))
}

fn pricing(v: &Value) -> Option<Pricing> {
    let m: &Map<String, Value> = v.as_object()?;
    let get = |k: &str| {
        m.get(k)
            .and_then(Value::as_u64)
            .filter(|n| *n <= 1_000_000_000)
    };
    (m.keys()
        .all(|k| k == "free_per_month" || k == "unit_price_cents"))
    .then_some(())?;
    Some(Pricing {
        free_per_month: get("free_per_month")?,
        unit_price_cents: get("unit_price_cents")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::app;

    #[test]
    fn origins_that_could_break_a_csp_are_refused() {
        for ok in [
            "https://shop.example",
            "https://a-b.example:8443",
            "http://localhost:5173",
            "http://127.0.0.1:8790",
        ] {
            assert!(valid_origin(ok), "{ok}");
        }
        for bad in [
            "http://shop.example",
            "https://shop.example/path",
            "https://*.example",
            "https://a.example; script-src *",
            "https://a.example 'unsafe-inline'",
            "javascript://x",
            "https://",
            "https://a.example:",
            "https://a.example:99999x",
        ] {
            assert!(!valid_origin(bad), "{bad}");
        }
    }

    #[test]
    fn a_patch_changes_what_it_names_and_refuses_the_rest_whole() {
        let mut a = app();
        let r = patch(&Principal::Platform, &mut a, br#"{"retention_days": 30, "allowed_origins": ["https://Shop.example/"], "pricing": {"free_per_month": 0, "unit_price_cents": 5}}"#).unwrap();
        assert_eq!(
            r.body.unwrap()["allowed_origins"],
            json!(["https://shop.example"])
        );
        assert_eq!(a.settings.retention_days, Some(30));
        assert_eq!(a.settings.pricing.unit_price_cents, 5);
        let before = a.clone();
        let e = patch(
            &Principal::Platform,
            &mut a,
            br#"{"retention_days": 0, "name": "New", "colour": 1}"#,
        )
        .unwrap_err();
        let (status, _, body) = e.to_http();
        assert_eq!(status, 400);
        assert!(
            body["retention_days"].is_array() && body["colour"].is_array(),
            "{body}"
        );
        assert_eq!(a, before, "nothing changes when anything is refused");
        patch(
            &Principal::Platform,
            &mut a,
            br#"{"allowed_origins": null, "retention_days": null}"#,
        )
        .unwrap();
        assert_eq!(
            (
                a.settings.allowed_origins.clone(),
                a.settings.retention_days
            ),
            (None, None)
        );
    }
}
