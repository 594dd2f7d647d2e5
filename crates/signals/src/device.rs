//! The visiting device: what its user agent says (parsed with `woothee`), the keyed
//! fingerprint of the page's first-party device id, and keyed hashes for remembering devices
//! and addresses without storing them.
//!
//! The device id is random, made by the hosted page and kept in its storage: it identifies a
//! browser profile, not a person or a phone model. The coarse facts the page reports (OS,
//! browser, platform, screen) collide across every phone of one model, so they never identify
//! a device; they only corroborate the user agent, and a mismatch is a hint of an emulator or a
//! scripted client.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// What a user agent says, in Didit's `ip_analyses` field names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeviceFacts {
    pub browser_family: Option<String>,
    pub os_family: Option<String>,
    /// `mobile`, `tablet` or `desktop` (woothee: smartphone / mobilephone / pc; crawlers and
    /// appliances are reported as they are).
    pub platform: Option<String>,
    pub device_brand: Option<String>,
    pub device_model: Option<String>,
}

/// User agents past this length are not parsed (nothing real is that long; regexes over
/// attacker-sized input are a cost the page shouldn't impose).
pub const MAX_USER_AGENT: usize = 512;

pub fn from_user_agent(ua: &str) -> DeviceFacts {
    if ua.len() > MAX_USER_AGENT {
        return DeviceFacts::default();
    }
    let Some(r) = woothee::parser::Parser::new().parse(ua) else {
        return DeviceFacts::default();
    };
    let known =
        |v: &str| (v != woothee::woothee::VALUE_UNKNOWN && !v.is_empty()).then(|| v.to_owned());
    let tablet = ua.contains("iPad") || (ua.contains("Android") && !ua.contains("Mobile"));
    let platform = match r.category {
        "smartphone" | "mobilephone" if tablet => Some("tablet".to_owned()),
        "smartphone" | "mobilephone" => Some("mobile".to_owned()),
        "pc" => Some("desktop".to_owned()),
        other => known(other),
    };
    // Only Apple's devices name themselves reliably; an Android model string is free text.
    let (brand, model) = match r.os {
        "iPhone" | "iPad" | "iPod" => (Some("Apple".to_owned()), Some(r.os.to_owned())),
        _ => (None, None),
    };
    DeviceFacts {
        browser_family: known(r.name),
        os_family: known(r.os),
        platform,
        device_brand: brand,
        device_model: model,
    }
}

/// The coarse facts the hosted page reports. Bounded: anything else is refused at the edge.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reported {
    pub os: Option<String>,
    pub browser: Option<String>,
    /// `mobile` / `tablet` / `desktop`, from the page's own media queries.
    pub platform: Option<String>,
    pub screen_width: Option<u32>,
    pub screen_height: Option<u32>,
}

/// Where the page's report contradicts the user agent: names of the facts that disagree.
/// Unknown on either side is not a contradiction.
pub fn contradictions(ua: &DeviceFacts, page: &Reported) -> Vec<&'static str> {
    let differ = |a: &Option<String>, b: &Option<String>| match (a, b) {
        (Some(a), Some(b)) => !a.eq_ignore_ascii_case(b),
        _ => false,
    };
    let mut out = Vec::new();
    if differ(&ua.os_family, &page.os) {
        out.push("os");
    }
    if differ(&ua.platform, &page.platform) {
        out.push("platform");
    }
    // A phone-sized screen on a "desktop" (or the reverse) is what a desktop emulating a phone
    // shows; only the extremes count, since windows and tablets sit in between.
    if let (Some(w), Some(h), Some(p)) = (
        page.screen_width,
        page.screen_height,
        ua.platform.as_deref(),
    ) {
        let short = w.min(h);
        if (p == "desktop" && short < 400) || (p == "mobile" && short > 1200) {
            out.push("screen");
        }
    }
    out
}

/// A device id the page may send: 16 to 64 characters of `[A-Za-z0-9_-]` (the page makes 22
/// of base64url). Anything else is treated as no id at all.
pub fn valid_device_id(id: &str) -> bool {
    (16..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `device_fingerprint`: the device id under the service's key, per application, so the same
/// browser is a different device to another application and the id can't be recovered or
/// matched across tenants.
pub fn fingerprint(key: &[u8], application_id: &str, device_id: &str) -> Option<String> {
    valid_device_id(device_id).then(|| keyed_hash(key, application_id, "device", device_id))
}

/// The form in which a device or an address is remembered ("known devices and IPs"): an
/// HMAC-SHA256 under the service's key, over the application, the kind and the value,
/// length-prefixed so no two inputs share a message. Not a bare sha256: the IPv4 space is small
/// enough to hash in full, so only a keyed hash keeps a stored address unreadable.
pub fn keyed_hash(key: &[u8], application_id: &str, kind: &str, value: &str) -> String {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for part in [application_id, kind, value] {
        mac.update(&(part.len() as u64).to_le_bytes());
        mac.update(part.as_bytes());
    }
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
    const PIXEL: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36";
    const DESKTOP: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

    #[test]
    fn user_agents_give_families_and_platforms() {
        let iphone = from_user_agent(IPHONE);
        assert_eq!(iphone.browser_family.as_deref(), Some("Safari"));
        assert_eq!(iphone.os_family.as_deref(), Some("iPhone"));
        assert_eq!(iphone.platform.as_deref(), Some("mobile"));
        assert_eq!(
            (
                iphone.device_brand.as_deref(),
                iphone.device_model.as_deref()
            ),
            (Some("Apple"), Some("iPhone"))
        );
        let pixel = from_user_agent(PIXEL);
        assert_eq!(
            (pixel.browser_family.as_deref(), pixel.os_family.as_deref()),
            (Some("Chrome"), Some("Android"))
        );
        assert_eq!(pixel.platform.as_deref(), Some("mobile"));
        assert_eq!(
            pixel.device_model, None,
            "an Android model string is not trusted"
        );
        assert_eq!(
            from_user_agent(DESKTOP).platform.as_deref(),
            Some("desktop")
        );
        assert_eq!(from_user_agent(""), DeviceFacts::default());
        assert_eq!(
            from_user_agent(&"A".repeat(MAX_USER_AGENT + 1)),
            DeviceFacts::default()
        );
        // Scripts are what woothee calls them, never a phone or a desktop.
        assert_eq!(
            from_user_agent("curl/8.5.0").platform.as_deref(),
            Some("misc")
        );
    }

    #[test]
    fn the_pages_report_corroborates_or_contradicts() {
        let phone = from_user_agent(PIXEL);
        let honest = Reported {
            os: Some("android".into()),
            platform: Some("mobile".into()),
            screen_width: Some(412),
            screen_height: Some(915),
            ..Reported::default()
        };
        assert!(contradictions(&phone, &honest).is_empty());
        assert!(contradictions(&phone, &Reported::default()).is_empty());
        // A desktop claiming a phone's user agent, with a monitor-sized screen.
        let emulated = Reported {
            os: Some("Linux".into()),
            platform: Some("desktop".into()),
            screen_width: Some(2560),
            screen_height: Some(1440),
            ..Reported::default()
        };
        assert_eq!(
            contradictions(&phone, &emulated),
            vec!["os", "platform", "screen"]
        );
        assert!(serde_json::from_str::<Reported>(r#"{"os": "Android", "gpu": "x"}"#).is_err());
    }

    #[test]
    fn fingerprints_are_keyed_per_application_and_ids_are_bounded() {
        let id = "Qm9uam91ciBsZSBtb25kZQ";
        let a = fingerprint(b"key", "app-a", id).expect("valid");
        assert_eq!(a.len(), 64);
        assert_eq!(
            fingerprint(b"key", "app-a", id).as_deref(),
            Some(a.as_str())
        );
        assert_ne!(
            fingerprint(b"key", "app-b", id).as_deref(),
            Some(a.as_str())
        );
        assert_ne!(
            fingerprint(b"other", "app-a", id).as_deref(),
            Some(a.as_str())
        );
        for bad in [
            "short",
            "has space in it 1234",
            "<script>alert(1)</script>",
            &"a".repeat(65),
        ] {
            assert_eq!(fingerprint(b"key", "app-a", bad), None, "{bad}");
        }
        // Length prefixes: moving a boundary between fields changes the hash.
        assert_ne!(
            keyed_hash(b"k", "ab", "ip", "c"),
            keyed_hash(b"k", "a", "bip", "c")
        );
        assert_ne!(
            keyed_hash(b"k", "app", "ip", "1.2.3.4"),
            keyed_hash(b"k", "app", "device", "1.2.3.4")
        );
    }
}
