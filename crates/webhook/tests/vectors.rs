//! The published digest vectors (`webhook-signature-vectors.json` in ../shared/spec beside
//! the workspace, or `$FACEGATE_SPEC_DIR`): our signer must reproduce every body and digest
//! byte for byte, and our verifier must accept every published delivery.

use std::path::PathBuf;

use facegate_webhook::{
    canonical_v1, canonical_v2, hmac_sha256_hex, sign, simple_message, verify, WebhookError,
};
use serde_json::Value;

fn spec_dir() -> PathBuf {
    std::env::var_os("FACEGATE_SPEC_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/spec"),
        PathBuf::from,
    )
}

fn vectors() -> Value {
    let path = spec_dir().join("webhook-signature-vectors.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}. The shared spec folder must sit beside the workspace \
             (../shared/spec), or set FACEGATE_SPEC_DIR to the folder holding \
             webhook-signature-vectors.json.",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

struct Case<'a> {
    name: &'a str,
    payload: &'a Value,
    body: &'a str,
    x_signature: &'a str,
    x_signature_v2: &'a str,
    x_signature_simple: &'a str,
}

fn field<'a>(case: &'a Value, key: &str) -> &'a Value {
    case.get(key)
        .unwrap_or_else(|| panic!("vector case lacks `{key}`: {case}"))
}

fn str_field<'a>(case: &'a Value, key: &str) -> &'a str {
    field(case, key)
        .as_str()
        .unwrap_or_else(|| panic!("vector `{key}` is not a string"))
}

fn with_cases(f: impl Fn(&str, &Case<'_>)) {
    let v = vectors();
    let secret = str_field(&v, "secret");
    let cases = field(&v, "cases").as_array().expect("`cases` is an array");
    assert!(!cases.is_empty(), "no vector cases");
    for case in cases {
        f(
            secret,
            &Case {
                name: str_field(case, "name"),
                payload: field(case, "payload"),
                body: str_field(case, "body"),
                x_signature: str_field(case, "x_signature"),
                x_signature_v2: str_field(case, "x_signature_v2"),
                x_signature_simple: str_field(case, "x_signature_simple"),
            },
        );
    }
}

fn timestamp_of(case: &Case<'_>) -> i64 {
    case.payload["timestamp"]
        .as_i64()
        .unwrap_or_else(|| panic!("{}: payload timestamp is not an integer", case.name))
}

#[test]
fn canonical_bodies_and_digests_match() {
    with_cases(|secret, c| {
        let v1 = canonical_v1(c.payload).unwrap();
        assert_eq!(v1, c.body, "{}: transmitted body", c.name);
        assert_eq!(
            hmac_sha256_hex(secret, v1.as_bytes()),
            c.x_signature,
            "{}: X-Signature",
            c.name
        );
        let v2 = canonical_v2(c.payload).unwrap();
        assert_eq!(
            hmac_sha256_hex(secret, v2.as_bytes()),
            c.x_signature_v2,
            "{}: X-Signature-V2",
            c.name
        );
        let simple = simple_message(c.payload).unwrap();
        assert_eq!(
            hmac_sha256_hex(secret, simple.as_bytes()),
            c.x_signature_simple,
            "{}: X-Signature-Simple",
            c.name
        );
        eprintln!(
            "vector {}: body, X-Signature, X-Signature-V2, X-Signature-Simple ok",
            c.name
        );
    });
}

#[test]
fn signer_reproduces_published_deliveries() {
    with_cases(|secret, c| {
        let ts = timestamp_of(c);
        let signed = sign(c.payload, secret, ts).unwrap();
        assert_eq!(signed.body, c.body, "{}", c.name);
        assert_eq!(
            signed.header("X-Signature"),
            Some(c.x_signature),
            "{}",
            c.name
        );
        assert_eq!(
            signed.header("X-Signature-V2"),
            Some(c.x_signature_v2),
            "{}",
            c.name
        );
        assert_eq!(
            signed.header("X-Signature-Simple"),
            Some(c.x_signature_simple),
            "{}",
            c.name
        );
        assert_eq!(
            signed.header("X-Timestamp"),
            Some(ts.to_string().as_str()),
            "{}",
            c.name
        );
    });
}

#[test]
fn verifier_accepts_published_deliveries() {
    with_cases(|secret, c| {
        let ts = timestamp_of(c);
        let all = [
            ("X-Signature", c.x_signature),
            ("X-Signature-V2", c.x_signature_v2),
            ("X-Signature-Simple", c.x_signature_simple),
            ("X-Timestamp", &ts.to_string()),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let body = c.body.as_bytes();
        assert_eq!(verify(body, &all, secret, ts, None), Ok(()), "{}", c.name);
        // Each signature on its own; V2 alone exercises re-canonicalising the received body.
        for one in &all[..2] {
            let one = [one.clone()];
            assert_eq!(
                verify(body, &one, secret, ts + 299, None),
                Ok(()),
                "{} {}",
                c.name,
                one[0].0
            );
        }
        assert_eq!(
            verify(body, &all, "wrong", ts, None),
            Err(WebhookError::SignatureMismatch),
            "{}",
            c.name
        );
        // Simple alone is not enough (the SDK ignores it).
        let simple_only = [all[2].clone()];
        assert_eq!(
            verify(body, &simple_only, secret, ts, None),
            Err(WebhookError::MissingSignature),
            "{}",
            c.name
        );
    });
}
