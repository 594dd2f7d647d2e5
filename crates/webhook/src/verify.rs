//! Receiving side: the checks of the community `didit-sdk` 0.4.0
//! `verify_webhook_signature(raw_body, headers, secret, max_age_seconds=None, verify_freshness=True)`,
//! in its order, with an injected clock. See [`verify_with`] for the list.

use hmac::Mac;

use crate::canonical::{check_finite, render, Escaping};
use crate::node::Node;
use crate::parse::parse;
use crate::sign::mac;
use crate::WebhookError;

/// The SDK's `DEFAULT_WEBHOOK_MAX_AGE_SECONDS`.
pub const DEFAULT_MAX_AGE_SECONDS: i64 = 300;

/// Knobs of the SDK verifier, plus the clock it reads from `time.time()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Current Unix time in seconds.
    pub now: i64,
    /// Allowed |now − timestamp|; `None` means [`DEFAULT_MAX_AGE_SECONDS`].
    pub max_age_seconds: Option<i64>,
    /// `false` skips the freshness window (the SDK's `verify_freshness=False`, the CLI's
    /// `--skip-freshness-check`); the timestamp must still be an integer.
    pub verify_freshness: bool,
}

impl VerifyOptions {
    /// SDK defaults at time `now`: freshness on, ±300 s.
    pub fn at(now: i64) -> Self {
        Self {
            now,
            max_age_seconds: None,
            verify_freshness: true,
        }
    }
}

/// [`verify_with`] with freshness checking on; `max_age_seconds: None` means 300 s.
pub fn verify<K: AsRef<str>, V: AsRef<str>>(
    raw_body: &[u8],
    headers: &[(K, V)],
    secret: &str,
    now: i64,
    max_age_seconds: Option<i64>,
) -> Result<(), WebhookError> {
    let options = VerifyOptions {
        max_age_seconds,
        ..VerifyOptions::at(now)
    };
    verify_with(raw_body, headers, secret, &options)
}

/// Accepts a delivery iff the community SDK would, returning the first failed check.
///
/// In order:
/// 1. `raw_body` is UTF-8 and strict JSON (no `NaN`/`Infinity`, no BOM, integers of at most
///    4300 digits, nesting ≤ 512) whose top level is an object.
/// 2. `secret` is non-empty.
/// 3. Header names are matched case-insensitively (a repeated name: the last one counts).
///    At least one of `X-Signature-V2`, `X-Signature` is present and non-empty.
///    `X-Signature-Simple` is ignored, as the SDK ignores it.
/// 4. The signed timestamp is body `timestamp`, or `created_at` when `timestamp` is absent
///    or `null`; it must be a JSON integer (not a float such as `1.0`, bool or string).
/// 5. Unless `verify_freshness` is off: `|now − timestamp| ≤ max_age` (both directions).
/// 6. If `X-Timestamp` is present it must equal the timestamp's decimal text exactly.
/// 7. If `X-Signature-V2` is non-empty: the body is re-serialised canonically (sorted keys,
///    compact, integral floats as ints, non-ASCII as UTF-8). If that is impossible (an
///    unpaired surrogate escape, or a float literal overflowing to infinity) the delivery
///    is rejected outright, without trying `X-Signature` — as the SDK does. A match accepts.
/// 8. If `X-Signature` is non-empty: HMAC over the raw bytes as received. A match accepts.
///
/// A supplied signature must be exactly 64 hex digits (either case); comparison is
/// constant-time on the decoded 32 bytes.
pub fn verify_with<K: AsRef<str>, V: AsRef<str>>(
    raw_body: &[u8],
    headers: &[(K, V)],
    secret: &str,
    options: &VerifyOptions,
) -> Result<(), WebhookError> {
    let text = std::str::from_utf8(raw_body).map_err(|_| WebhookError::InvalidUtf8)?;
    let doc = parse(text)?;
    if !matches!(doc.root, Node::Object(_)) {
        return Err(WebhookError::NotAnObject);
    }
    if secret.is_empty() {
        return Err(WebhookError::EmptySecret);
    }

    let mut sig_v2 = None;
    let mut sig_v1 = None;
    let mut header_ts = None;
    for (name, value) in headers {
        // Python's str.lower(); matters only for exotic non-ASCII names, none of which can
        // lower-case into one of ours.
        match name.as_ref().to_lowercase().as_str() {
            "x-signature-v2" => sig_v2 = Some(value.as_ref()),
            "x-signature" => sig_v1 = Some(value.as_ref()),
            "x-timestamp" => header_ts = Some(value.as_ref()),
            _ => {}
        }
    }
    // An empty header value counts as absent (Python truthiness), for both signatures.
    let sig_v2 = sig_v2.filter(|s| !s.is_empty());
    let sig_v1 = sig_v1.filter(|s| !s.is_empty());
    if sig_v2.is_none() && sig_v1.is_none() {
        return Err(WebhookError::MissingSignature);
    }

    let signed = match doc.root.get("timestamp") {
        None | Some(Node::Null) => doc.root.get("created_at"),
        present => present,
    };
    let Some(Node::Int(timestamp)) = signed else {
        return Err(WebhookError::InvalidTimestamp);
    };

    if options.verify_freshness {
        let max_age = options.max_age_seconds.unwrap_or(DEFAULT_MAX_AGE_SECONDS);
        // Python ints are unbounded; one that does not fit i128 is astronomically far
        // from any i64 `now`, hence stale for every i64 max_age.
        let fresh = timestamp
            .parse::<i128>()
            .map(|ts| (i128::from(options.now) - ts).abs() <= i128::from(max_age))
            .unwrap_or(false);
        if !fresh {
            return Err(WebhookError::StaleTimestamp {
                timestamp: timestamp.to_string(),
                now: options.now,
                max_age_seconds: max_age,
            });
        }
    }

    if let Some(header_ts) = header_ts {
        if header_ts != timestamp.as_ref() {
            return Err(WebhookError::TimestampMismatch);
        }
    }

    if let Some(supplied) = sig_v2 {
        if doc.lone_surrogate {
            return Err(WebhookError::LoneSurrogate);
        }
        check_finite(&doc.root)?;
        let canonical = render(&doc.root, Escaping::Utf8);
        if signature_matches(secret, canonical.as_bytes(), supplied) {
            return Ok(());
        }
    }
    if let Some(supplied) = sig_v1 {
        if signature_matches(secret, raw_body, supplied) {
            return Ok(());
        }
    }
    Err(WebhookError::SignatureMismatch)
}

fn signature_matches(secret: &str, message: &[u8], supplied: &str) -> bool {
    let mut expected = [0u8; 32];
    // Length first: hex::decode_to_slice also checks it, but the SDK's regex demands
    // exactly 64 hex digits and nothing else (no whitespace, no "sha256=" prefix).
    supplied.len() == 64
        && hex::decode_to_slice(supplied, &mut expected).is_ok()
        && mac(secret, message).verify_slice(&expected).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::{hmac_sha256_hex, sign};
    use serde_json::json;

    const SECRET: &str = "whsec_test";
    const NOW: i64 = 1_774_970_000;

    fn delivery(ts: i64) -> (String, Vec<(String, String)>) {
        let payload = json!({
            "session_id": "s-1", "status": "Approved", "webhook_type": "status.updated",
            "created_at": ts - 6, "decision": {"score": 95.4, "threshold": 100.0, "name": "Zoë"}
        });
        let signed = sign(&payload, SECRET, ts).unwrap();
        let headers = signed
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        (signed.body, headers)
    }

    fn only(headers: &[(String, String)], keep: &[&str]) -> Vec<(String, String)> {
        headers
            .iter()
            .filter(|(k, _)| keep.iter().any(|n| k.eq_ignore_ascii_case(n)))
            .cloned()
            .collect()
    }

    #[test]
    fn accepts_good_delivery_with_either_signature() {
        let (body, headers) = delivery(NOW);
        assert_eq!(verify(body.as_bytes(), &headers, SECRET, NOW, None), Ok(()));
        for keep in [
            &["X-Signature"][..],
            &["X-Signature-V2"][..],
            &["X-Signature", "X-Timestamp"][..],
        ] {
            let hs = only(&headers, keep);
            assert_eq!(
                verify(body.as_bytes(), &hs, SECRET, NOW, None),
                Ok(()),
                "{keep:?}"
            );
        }
        // Header names in any case; signatures in upper case.
        let shouty: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_uppercase(), v.to_uppercase()))
            .collect();
        assert_eq!(verify(body.as_bytes(), &shouty, SECRET, NOW, None), Ok(()));
    }

    #[test]
    fn v2_survives_reformatting_but_raw_does_not() {
        let (body, headers) = delivery(NOW);
        let value: serde_json::Value = serde_json::from_str(&body).unwrap();
        let pretty = serde_json::to_string_pretty(&value).unwrap();
        let v2 = only(&headers, &["X-Signature-V2"]);
        assert_eq!(verify(pretty.as_bytes(), &v2, SECRET, NOW, None), Ok(()));
        let v1 = only(&headers, &["X-Signature"]);
        assert_eq!(
            verify(pretty.as_bytes(), &v1, SECRET, NOW, None),
            Err(WebhookError::SignatureMismatch)
        );
    }

    #[test]
    fn rejects_tampered_body() {
        let (body, headers) = delivery(NOW);
        let tampered = body.replace("Approved", "Declined");
        assert_eq!(
            verify(tampered.as_bytes(), &headers, SECRET, NOW, None),
            Err(WebhookError::SignatureMismatch)
        );
    }

    #[test]
    fn rejects_wrong_secret_and_empty_secret() {
        let (body, headers) = delivery(NOW);
        assert_eq!(
            verify(body.as_bytes(), &headers, "other", NOW, None),
            Err(WebhookError::SignatureMismatch)
        );
        assert_eq!(
            verify(body.as_bytes(), &headers, "", NOW, None),
            Err(WebhookError::EmptySecret)
        );
    }

    #[test]
    fn freshness_window_is_symmetric_and_configurable() {
        let (body, headers) = delivery(NOW);
        let b = body.as_bytes();
        assert_eq!(verify(b, &headers, SECRET, NOW + 300, None), Ok(()));
        assert_eq!(verify(b, &headers, SECRET, NOW - 300, None), Ok(()));
        assert!(matches!(
            verify(b, &headers, SECRET, NOW + 301, None),
            Err(WebhookError::StaleTimestamp { .. })
        ));
        assert!(matches!(
            verify(b, &headers, SECRET, NOW - 301, None),
            Err(WebhookError::StaleTimestamp { .. })
        ));
        assert_eq!(verify(b, &headers, SECRET, NOW + 3600, Some(3600)), Ok(()));
        assert!(verify(b, &headers, SECRET, NOW + 11, Some(10)).is_err());
        let skip = VerifyOptions {
            verify_freshness: false,
            ..VerifyOptions::at(NOW + 1_000_000)
        };
        assert_eq!(verify_with(b, &headers, SECRET, &skip), Ok(()));
        // Extreme clocks do not overflow.
        assert!(verify(b, &headers, SECRET, i64::MIN, Some(i64::MAX)).is_err());
        assert!(verify(b, &headers, SECRET, i64::MAX, None).is_err());
    }

    #[test]
    fn rejects_missing_or_empty_signature_headers() {
        let (body, headers) = delivery(NOW);
        let none = only(&headers, &["X-Timestamp", "X-Signature-Simple"]);
        assert_eq!(
            verify(body.as_bytes(), &none, SECRET, NOW, None),
            Err(WebhookError::MissingSignature)
        );
        let empty = vec![("X-Signature".to_string(), String::new())];
        assert_eq!(
            verify(body.as_bytes(), &empty, SECRET, NOW, None),
            Err(WebhookError::MissingSignature)
        );
    }

    #[test]
    fn x_timestamp_must_match_exactly() {
        let (body, headers) = delivery(NOW);
        for bad in [
            (NOW + 1).to_string(),
            format!("0{NOW}"),
            format!("{NOW} "),
            String::new(),
        ] {
            let mut hs = only(&headers, &["X-Signature"]);
            hs.push(("X-Timestamp".into(), bad.clone()));
            assert_eq!(
                verify(body.as_bytes(), &hs, SECRET, NOW, None),
                Err(WebhookError::TimestampMismatch),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn signature_format_is_strict() {
        let (body, headers) = delivery(NOW);
        let good = headers
            .iter()
            .find(|(k, _)| k == "X-Signature")
            .unwrap()
            .1
            .clone();
        for bad in [
            format!("sha256={good}"),
            format!("{good}\n"),
            format!(" {good}"),
            good[..63].to_string(),
            format!("{}g", &good[..63]),
        ] {
            let hs = vec![("X-Signature".to_string(), bad.clone())];
            assert_eq!(
                verify(body.as_bytes(), &hs, SECRET, NOW, None),
                Err(WebhookError::SignatureMismatch),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn timestamp_rules() {
        let sig = |body: &str| {
            vec![(
                "X-Signature".to_string(),
                hmac_sha256_hex(SECRET, body.as_bytes()),
            )]
        };
        let ok = format!(r#"{{"created_at":{NOW}}}"#);
        assert_eq!(verify(ok.as_bytes(), &sig(&ok), SECRET, NOW, None), Ok(()));
        let null_ts = format!(r#"{{"timestamp":null,"created_at":{NOW}}}"#);
        assert_eq!(
            verify(null_ts.as_bytes(), &sig(&null_ts), SECRET, NOW, None),
            Ok(())
        );
        for bad in [
            format!(r#"{{"timestamp":{NOW}.0}}"#),
            format!(r#"{{"timestamp":"{NOW}"}}"#),
            r#"{"timestamp":true}"#.to_string(),
            r#"{"session_id":"x"}"#.to_string(),
            format!(r#"{{"timestamp":"x","created_at":{NOW}}}"#),
        ] {
            assert_eq!(
                verify(bad.as_bytes(), &sig(&bad), SECRET, NOW, None),
                Err(WebhookError::InvalidTimestamp),
                "{bad}"
            );
        }
        let huge = r#"{"timestamp":123456789012345678901234567890123456789012}"#;
        assert!(matches!(
            verify(huge.as_bytes(), &sig(huge), SECRET, NOW, Some(i64::MAX)),
            Err(WebhookError::StaleTimestamp { .. })
        ));
    }

    #[test]
    fn rejects_bodies_the_sdk_cannot_decode() {
        let sig = |body: &[u8]| {
            vec![(
                "X-Signature".to_string(),
                hex::encode(mac(SECRET, body).finalize().into_bytes()),
            )]
        };
        for (body, want) in [
            (&b"[1]"[..], WebhookError::NotAnObject),
            (&b"\xff{}"[..], WebhookError::InvalidUtf8),
        ] {
            assert_eq!(verify(body, &sig(body), SECRET, NOW, None), Err(want));
        }
        let nan = format!(r#"{{"timestamp":{NOW},"x":NaN}}"#);
        assert!(matches!(
            verify(nan.as_bytes(), &sig(nan.as_bytes()), SECRET, NOW, None),
            Err(WebhookError::InvalidJson { .. })
        ));
    }

    #[test]
    fn unencodable_v2_rejects_even_when_raw_matches() {
        // Mirrors the SDK: a failed V2 re-serialisation returns False before X-Signature.
        for body in [
            format!(r#"{{"timestamp":{NOW},"x":"\ud800"}}"#),
            format!(r#"{{"timestamp":{NOW},"x":1e400}}"#),
        ] {
            let raw = hmac_sha256_hex(SECRET, body.as_bytes());
            let v1_only = vec![("X-Signature".to_string(), raw.clone())];
            assert_eq!(
                verify(body.as_bytes(), &v1_only, SECRET, NOW, None),
                Ok(()),
                "{body}"
            );
            let both = vec![
                ("X-Signature".to_string(), raw),
                ("X-Signature-V2".to_string(), "0".repeat(64)),
            ];
            assert!(
                verify(body.as_bytes(), &both, SECRET, NOW, None).is_err(),
                "{body}"
            );
        }
    }

    #[test]
    fn later_duplicate_header_wins() {
        let (body, headers) = delivery(NOW);
        let good = headers
            .iter()
            .find(|(k, _)| k == "X-Signature")
            .unwrap()
            .1
            .clone();
        let hs = vec![
            ("x-signature".to_string(), "0".repeat(64)),
            ("X-SIGNATURE".to_string(), good.clone()),
        ];
        assert_eq!(verify(body.as_bytes(), &hs, SECRET, NOW, None), Ok(()));
        let hs = vec![
            ("X-Signature".to_string(), good),
            ("x-signature".to_string(), "0".repeat(64)),
        ];
        assert!(verify(body.as_bytes(), &hs, SECRET, NOW, None).is_err());
    }
}
