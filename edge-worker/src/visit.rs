//! What the worker sees of a hosted-page visit, for the step-up rules (crates/sessions
//! `visits`): the client's address as the platform reports it, what the IP data says of it,
//! the user agent and the page's device id and coarse facts. Measuring only: the core judges.

use facegate_sessions::routes::header;
use facegate_sessions::visits::{parse_reported, Seen};
use facegate_signals::IpFacts;
use worker::Env;

/// The page's first-party device id (web/hosted keeps it in its storage).
pub const DEVICE_HEADER: &str = "x-facegate-device";
/// The page's coarse facts, a small JSON object (`device::Reported`).
pub const FACTS_HEADER: &str = "x-facegate-device-facts";

pub async fn seen(env: &Env, headers: &[(String, String)]) -> Seen {
    let ip = crate::http::client_ip(env, headers).parse().ok();
    let facts = match ip {
        Some(ip) => crate::ip_data::facts(env, ip).await,
        None => IpFacts::default(),
    };
    Seen {
        ip,
        facts,
        // `device::from_user_agent` ignores one past its bound, so none is parsed at length.
        user_agent: header(headers, "user-agent").map(str::to_owned),
        device_id: header(headers, DEVICE_HEADER).map(str::to_owned),
        reported: parse_reported(header(headers, FACTS_HEADER)),
    }
}
