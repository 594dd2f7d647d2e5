//! Edge cases whose expected bytes and digests CPython computed (tests/data/
//! gen_python_vectors.py): float shortening and repr, escaping, astral characters, key order,
//! Python str() in the Simple message, and bodies the verifier must re-canonicalise.

use facegate_webhook::{canonical_v1, canonical_v2, sign, simple_message, verify, WebhookError};
use serde_json::Value;

const VECTORS: &str = include_str!("data/python-vectors.json");

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("`{key}` missing in {v}"))
}

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn signer_matches_cpython() {
    let all: Value = serde_json::from_str(VECTORS).unwrap();
    let secret = s(&all, "secret");
    let ts = all["timestamp"].as_i64().unwrap();
    for case in all["signed"].as_array().unwrap() {
        let name = s(case, "name");
        let payload: Value = serde_json::from_str(s(case, "payload_json")).unwrap();
        assert_eq!(
            canonical_v1(&payload).unwrap(),
            s(case, "body"),
            "{name}: v1"
        );
        assert_eq!(canonical_v2(&payload).unwrap(), s(case, "v2"), "{name}: v2");
        assert_eq!(
            simple_message(&payload).unwrap(),
            s(case, "simple"),
            "{name}: simple"
        );

        let signed = sign(&payload, secret, ts).unwrap();
        assert_eq!(signed.body, s(case, "body"), "{name}");
        for (header, key) in [
            ("X-Signature", "x_signature"),
            ("X-Signature-V2", "x_signature_v2"),
            ("X-Signature-Simple", "x_signature_simple"),
        ] {
            assert_eq!(
                signed.header(header),
                Some(s(case, key)),
                "{name}: {header}"
            );
        }

        let hs = headers(&[
            ("x-signature-v2", s(case, "x_signature_v2")),
            ("x-timestamp", &ts.to_string()),
        ]);
        assert_eq!(
            verify(signed.body.as_bytes(), &hs, secret, ts, None),
            Ok(()),
            "{name}"
        );
    }
}

#[test]
fn verifier_recanonicalises_foreign_bodies() {
    let all: Value = serde_json::from_str(VECTORS).unwrap();
    let secret = s(&all, "secret");
    let ts = all["timestamp"].as_i64().unwrap();
    for case in all["raw"].as_array().unwrap() {
        let name = s(case, "name");
        let raw = s(case, "raw").as_bytes();
        let v2 = headers(&[("X-Signature-V2", s(case, "x_signature_v2"))]);
        assert_eq!(verify(raw, &v2, secret, ts, None), Ok(()), "{name}: V2");
        let v1 = headers(&[("X-Signature", s(case, "x_signature"))]);
        assert_eq!(verify(raw, &v1, secret, ts, None), Ok(()), "{name}: raw");
        // The raw digest is over the exact bytes, so it cannot stand in for V2.
        let swapped = headers(&[("X-Signature-V2", s(case, "x_signature"))]);
        if s(case, "x_signature") != s(case, "x_signature_v2") {
            assert_eq!(
                verify(raw, &swapped, secret, ts, None),
                Err(WebhookError::SignatureMismatch),
                "{name}"
            );
        }
    }
}
