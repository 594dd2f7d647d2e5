//! `/webhook/destinations/` management, as the MCP server's tools call it (contract
//! Appendix A): list, create, get, update, delete. Destinations live in the application's
//! configuration; the adapter persists the changed `Application`.
//!
//! A destination's URL is fetched by the platform, so it must not reach the platform's own
//! network (SSRF): `check_url` refuses literal private, loopback, link-local, metadata and other
//! non-public addresses and local-only names. Workers cannot resolve a name before fetching, so
//! a public name that resolves to a private address is the host network's to block (README).

use std::net::{Ipv4Addr, Ipv6Addr};

use serde_json::{json, Map, Value};

use crate::error::{ApiError, FieldErrors};
use crate::routes::HttpResponse;
use crate::store::Ids;
use crate::types::{Application, WebhookDestination};

const VERSIONS: [&str; 3] = ["v1", "v2", "v3"];

/// The destination as the API shows it. The signing secret is shown: the integrator needs it
/// to verify deliveries, and only the application's own key can read it.
pub fn render(d: &WebhookDestination) -> Value {
    json!({
        "uuid": d.id,
        "label": d.label,
        "url": d.url,
        "enabled": d.enabled,
        "webhook_version": d.webhook_version,
        "subscribed_events": d.subscribed_events,
        "secret_shared_key": d.secret_shared_key,
    })
}

pub fn list(app: &Application) -> HttpResponse {
    let results: Vec<Value> = app.webhooks.iter().map(render).collect();
    HttpResponse::json(
        200,
        json!({ "count": results.len(), "next": null, "previous": null, "results": results }),
    )
}

pub fn get(app: &Application, id: &str) -> Result<HttpResponse, ApiError> {
    find(app, id).map(|d| HttpResponse::json(200, render(d)))
}

fn find<'a>(app: &'a Application, id: &str) -> Result<&'a WebhookDestination, ApiError> {
    app.webhooks
        .iter()
        .find(|d| d.id.eq_ignore_ascii_case(id))
        .ok_or(ApiError::NotFound)
}

pub(crate) fn object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::BadRequest("Expected a JSON object.".into())),
        Err(e) => Err(ApiError::BadRequest(format!("JSON parse error - {e}"))),
    }
}

/// Applies the fields present in `fields` to `d`, collecting DRF-style errors.
fn apply(
    d: &mut WebhookDestination,
    fields: &Map<String, Value>,
    policy: UrlPolicy,
    errors: &mut FieldErrors,
) {
    if let Some(v) = fields.get("url") {
        match v.as_str().map(str::trim).map(|u| (u, check_url(u, policy))) {
            Some((u, Ok(()))) => d.url = u.to_owned(),
            Some((_, Err(why))) => errors.add("url", why),
            None => errors.add("url", "Enter a valid URL."),
        }
    }
    if let Some(v) = fields.get("label") {
        match v {
            Value::Null => d.label = None,
            Value::String(s) if s.chars().count() <= 255 => d.label = Some(s.clone()),
            _ => errors.add("label", "Not a valid string of at most 255 characters."),
        }
    }
    if let Some(v) = fields.get("enabled") {
        match v.as_bool() {
            Some(b) => d.enabled = b,
            None => errors.add("enabled", "Must be a valid boolean."),
        }
    }
    if let Some(v) = fields.get("webhook_version") {
        match v.as_str().filter(|s| VERSIONS.contains(s)) {
            Some(s) => d.webhook_version = s.to_owned(),
            None => errors.add(
                "webhook_version",
                format!(
                    "\"{}\" is not a valid choice.",
                    v.as_str().unwrap_or_default()
                ),
            ),
        }
    }
    if let Some(v) = fields.get("subscribed_events") {
        match v.as_array().and_then(|a| {
            a.iter()
                .map(|e| e.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
        }) {
            Some(events) => d.subscribed_events = events,
            None => errors.add("subscribed_events", "Expected a list of strings."),
        }
    }
}

pub fn create(
    app: &mut Application,
    body: &[u8],
    ids: &impl Ids,
    policy: UrlPolicy,
) -> Result<HttpResponse, ApiError> {
    let fields = object(body)?;
    let mut errors = FieldErrors::new();
    if !fields.contains_key("url") {
        errors.add("url", "This field is required.");
    }
    let mut d = WebhookDestination {
        id: ids.uuid()?,
        url: String::new(),
        secret_shared_key: format!("whsec_{}", ids.token()?),
        subscribed_events: vec!["status.updated".to_owned()],
        enabled: true,
        label: None,
        webhook_version: "v3".to_owned(),
    };
    apply(&mut d, &fields, policy, &mut errors);
    errors.into_result()?;
    let shown = render(&d);
    app.webhooks.push(d);
    Ok(HttpResponse::json(201, shown))
}

pub fn update(
    app: &mut Application,
    id: &str,
    body: &[u8],
    policy: UrlPolicy,
) -> Result<HttpResponse, ApiError> {
    let fields = object(body)?;
    let index = app
        .webhooks
        .iter()
        .position(|d| d.id.eq_ignore_ascii_case(id))
        .ok_or(ApiError::NotFound)?;
    let mut d = app.webhooks[index].clone();
    let mut errors = FieldErrors::new();
    apply(&mut d, &fields, policy, &mut errors);
    errors.into_result()?;
    let shown = render(&d);
    app.webhooks[index] = d;
    Ok(HttpResponse::json(200, shown))
}

/// Which destination hosts the platform may send to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UrlPolicy {
    /// Loopback (`127.0.0.0/8`, `::1`, `localhost`) for development only: set by the
    /// development server (Worker var `ALLOW_LOOPBACK_WEBHOOKS = "1"`), off when deployed.
    pub allow_loopback: bool,
}

const NOT_PUBLIC: &str = "Enter a URL on a public host: private, loopback, link-local and metadata addresses are refused.";

/// `http(s)://host[:port][/path]` whose host is a public DNS name or a public literal address.
/// Refused: userinfo, non-ASCII or percent-encoded hosts, IPv4 in any spelling but a dotted
/// quad (`2130706433`, `0x7f.1`, `0177.0.0.1` all mean 127.0.0.1 to a URL parser), local-only
/// names, and every non-public address range (`ip4_public` / `ip6_public`).
pub fn check_url(url: &str, policy: UrlPolicy) -> Result<(), &'static str> {
    const INVALID: &str = "Enter a valid URL.";
    // URL parsers drop tabs and newlines and read `\` as `/`: refuse rather than guess.
    if url
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
    {
        return Err(INVALID);
    }
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .ok_or(INVALID)?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err("Credentials in the URL are not accepted.");
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or(INVALID)?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if let Some(port) = port {
        if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(INVALID);
        }
        port.parse::<u16>().map_err(|_| INVALID)?;
    }
    if host.is_empty() {
        return Err(INVALID);
    }
    let loopback_ok = |is_loopback: bool| {
        if is_loopback && policy.allow_loopback {
            Ok(())
        } else {
            Err(NOT_PUBLIC)
        }
    };
    if authority.starts_with('[') {
        let ip: Ipv6Addr = host.parse().map_err(|_| INVALID)?;
        return if ip6_public(ip) {
            Ok(())
        } else {
            loopback_ok(ip.is_loopback())
        };
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        || host.split('.').any(str::is_empty)
    {
        return Err(INVALID);
    }
    let last = host.rsplit('.').next().unwrap_or(host);
    // A host whose last label is a number is an IPv4 address to a URL parser, in whatever
    // base it is written: only the plain dotted quad is accepted, and only when public.
    if last.bytes().all(|b| b.is_ascii_digit()) || last.starts_with("0x") {
        let ip = dotted_quad(host).ok_or(NOT_PUBLIC)?;
        return if ip4_public(ip) {
            Ok(())
        } else {
            loopback_ok(ip.is_loopback())
        };
    }
    let local_suffix = [
        "localhost",
        "local",
        "internal",
        "localdomain",
        "home.arpa",
        "lan",
        "intranet",
        "corp",
    ]
    .iter()
    .any(|s| host == *s || host.ends_with(&format!(".{s}")));
    if host == "localhost" || host.ends_with(".localhost") {
        return loopback_ok(true);
    }
    // Single-label names resolve through the host network's search domains.
    if local_suffix || !host.contains('.') {
        return Err(NOT_PUBLIC);
    }
    Ok(())
}

/// `a.b.c.d`, each part a decimal 0-255 without leading zeros.
fn dotted_quad(host: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = host.split('.').collect();
    if parts.len() != 4
        || parts
            .iter()
            .any(|p| p.is_empty() || p.len() > 3 || (p.len() > 1 && p.starts_with('0')))
    {
        return None;
    }
    host.parse().ok()
}

fn ip4_public(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0 // "this network", incl. 0.0.0.0
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b)) // CGNAT
        || (a == 169 && b == 254) // link-local, cloud metadata 169.254.169.254
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || (a == 192 && b == 0 && (c == 0 || c == 2))
        || (a == 198 && (b == 18 || b == 19))
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
        || a >= 224) // multicast, reserved, broadcast
}

fn ip6_public(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    // Global unicast only (2000::/3), minus the ranges inside it that are not one host on
    // the internet: documentation, and the tunnels/translations that embed an IPv4 address
    // (6to4, Teredo, NAT64 well-known prefix sits outside 2000::/3 anyway).
    (s[0] & 0xe000) == 0x2000
        && !(s[0] == 0x2001 && s[1] == 0x0db8)
        && s[0] != 0x2002
        && !(s[0] == 0x2001 && s[1] == 0)
}

pub fn delete(app: &mut Application, id: &str) -> Result<HttpResponse, ApiError> {
    let before = app.webhooks.len();
    app.webhooks.retain(|d| !d.id.eq_ignore_ascii_case(id));
    if app.webhooks.len() == before {
        return Err(ApiError::NotFound);
    }
    Ok(HttpResponse::no_content())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::SeqIds;

    fn app() -> Application {
        serde_json::from_value(json!({"id": "a", "name": "A", "api_key_hashes": []})).unwrap()
    }

    #[test]
    fn create_get_update_delete() {
        let mut a = app();
        let ids = SeqIds::default();
        let created = create(&mut a, br#"{"url": "https://hooks.example/x", "label": "main", "subscribed_events": ["status.updated"]}"#, &ids, UrlPolicy::default()).unwrap();
        assert_eq!(created.status, 201);
        let body = created.body.unwrap();
        let id = body["uuid"].as_str().unwrap().to_owned();
        assert_eq!(body["webhook_version"], "v3");
        assert!(body["secret_shared_key"]
            .as_str()
            .unwrap()
            .starts_with("whsec_"));
        assert_eq!(list(&a).body.unwrap()["count"], 1);
        let updated = update(
            &mut a,
            &id,
            br#"{"enabled": false, "webhook_version": "v2"}"#,
            UrlPolicy::default(),
        )
        .unwrap()
        .body
        .unwrap();
        assert_eq!(
            (updated["enabled"].clone(), updated["url"].clone()),
            (json!(false), json!("https://hooks.example/x"))
        );
        assert_eq!(get(&a, &id).unwrap().body.unwrap()["webhook_version"], "v2");
        assert_eq!(delete(&mut a, &id).unwrap().status, 204);
        assert!(matches!(get(&a, &id), Err(ApiError::NotFound)));
        assert!(matches!(delete(&mut a, &id), Err(ApiError::NotFound)));
    }

    #[test]
    fn bad_fields_are_field_keyed_errors_and_change_nothing() {
        let mut a = app();
        let ids = SeqIds::default();
        let err = create(
            &mut a,
            br#"{"url": "ftp://x", "enabled": "yes", "webhook_version": "v9"}"#,
            &ids,
            UrlPolicy::default(),
        )
        .unwrap_err();
        let (status, _, body) = err.to_http();
        assert_eq!(status, 400);
        for field in ["url", "enabled", "webhook_version"] {
            assert!(body[field].is_array(), "{field}: {body}");
        }
        assert!(a.webhooks.is_empty());
        assert!(matches!(
            create(&mut a, b"{}", &ids, UrlPolicy::default()),
            Err(ApiError::Validation(_))
        ));
        assert!(matches!(
            create(&mut a, b"[1]", &ids, UrlPolicy::default()),
            Err(ApiError::BadRequest(_))
        ));
    }

    #[test]
    fn destination_urls_must_be_public() {
        let strict = UrlPolicy::default();
        let dev = UrlPolicy {
            allow_loopback: true,
        };
        for ok in [
            "https://hooks.example.com/x",
            "http://hooks.example.com:8080/x?y=1",
            "https://93.184.216.34/hook",
            "https://[2606:4700::1111]/hook",
            "https://example.com./x",
        ] {
            assert_eq!(check_url(ok, strict), Ok(()), "{ok}");
        }
        for bad in [
            "http://127.0.0.1/x",
            "http://127.1/x",
            "http://2130706433/x",
            "http://0x7f000001/x",
            "http://0x7f.0.0.1/x",
            "http://0177.0.0.1/x",
            "http://017700000001/x",
            "http://10.0.0.5/",
            "http://172.16.0.1/",
            "http://172.31.255.255/",
            "http://192.168.1.1/",
            "http://100.64.0.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://0.0.0.0/",
            "http://224.0.0.1/",
            "http://255.255.255.255/",
            "http://[::1]/",
            "http://[::]/",
            "http://[fd00:ec2::254]/",
            "http://[fc00::1]/",
            "http://[fe80::1]/",
            "http://[ff02::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:a9fe:a9fe]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://[2002:7f00:1::]/",
            "http://localhost/",
            "http://LOCALHOST:8080/",
            "http://api.localhost/",
            "http://localhost./",
            "http://metadata.google.internal/",
            "http://printer.local/",
            "http://intranet/",
            "http://user:pw@hooks.example.com/",
            "http://hooks.example.com@127.0.0.1/",
            "http://127.0.0.1\\@hooks.example.com/",
            "http://12\t7.0.0.1/",
            "http://hooks%2eexample.com/",
            "http://１２７.０.０.１/",
            "ftp://hooks.example.com/",
            "http://",
            "http://hooks.example.com:99999/",
        ] {
            assert!(check_url(bad, strict).is_err(), "{bad}");
        }
        // Development: loopback only, never the private network or metadata.
        for ok in [
            "http://127.0.0.1:8790/webhook",
            "http://[::1]:9/x",
            "http://localhost:3000/",
        ] {
            assert_eq!(check_url(ok, dev), Ok(()), "{ok}");
        }
        for bad in [
            "http://10.0.0.5/",
            "http://169.254.169.254/",
            "http://2130706433/",
            "http://[::ffff:127.0.0.1]/",
        ] {
            assert!(check_url(bad, dev).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_private_destination_is_refused_and_nothing_changes() {
        let mut a = app();
        let ids = SeqIds::default();
        let err = create(
            &mut a,
            br#"{"url": "http://169.254.169.254/"}"#,
            &ids,
            UrlPolicy::default(),
        )
        .unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(a.webhooks.is_empty());
        let ok = create(
            &mut a,
            br#"{"url": "https://hooks.example/x"}"#,
            &ids,
            UrlPolicy::default(),
        )
        .unwrap();
        let id = ok.body.unwrap()["uuid"].as_str().unwrap().to_owned();
        assert!(update(
            &mut a,
            &id,
            br#"{"url": "http://[fd00:ec2::254]/"}"#,
            UrlPolicy::default()
        )
        .is_err());
        assert_eq!(a.webhooks[0].url, "https://hooks.example/x");
    }
}
