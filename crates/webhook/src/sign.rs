//! Producing a delivery exactly as Didit's server does (contract §2.3).

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::canonical::{render, Escaping};
use crate::node::Node;
use crate::pyfmt::float_repr;
use crate::WebhookError;

pub const HEADER_SIGNATURE: &str = "X-Signature";
pub const HEADER_SIGNATURE_V2: &str = "X-Signature-V2";
pub const HEADER_SIGNATURE_SIMPLE: &str = "X-Signature-Simple";
pub const HEADER_TIMESTAMP: &str = "X-Timestamp";
pub const HEADER_CONTENT_TYPE: &str = "Content-Type";
pub const CONTENT_TYPE_JSON: &str = "application/json";
/// What Didit's sender calls itself; not part of any signature, so callers decide whether
/// to present it.
pub const DIDIT_USER_AGENT: &str = "DiditWebhook/2.0 +https://didit.me";

/// A ready-to-POST delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedWebhook {
    /// The exact bytes to send (canonical v1: sorted keys, compact, non-ASCII `\u`-escaped).
    pub body: String,
    /// `Content-Type`, `X-Timestamp`, `X-Signature`, `X-Signature-V2`, `X-Signature-Simple`.
    pub headers: Vec<(&'static str, String)>,
}

impl SignedWebhook {
    /// Header value by name, ignoring ASCII case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Signs `payload` for delivery at `timestamp` (Unix seconds).
///
/// The payload's `timestamp` field is set to `timestamp` (inserted or overwritten) before
/// anything is signed: the contract requires body `timestamp` == `X-Timestamp`, and a
/// resend is a re-sign of the stored payload with a fresh timestamp, so the send time
/// belongs to the signer, not to whoever built the payload.
///
/// `session_id`, `status` and `webhook_type` feed `X-Signature-Simple` as Python's `str()`
/// of the field (absent → empty string, `null` → `None`); non-session events without a
/// `session_id` are therefore fine.
///
/// Errors: payload not an object, empty secret, nesting deeper than 512, or a Simple field
/// that is an object/array.
pub fn sign(payload: &Value, secret: &str, timestamp: i64) -> Result<SignedWebhook, WebhookError> {
    if secret.is_empty() {
        return Err(WebhookError::EmptySecret);
    }
    if !payload.is_object() {
        return Err(WebhookError::NotAnObject);
    }
    let mut node = Node::from_value(payload)?;
    let ts_text = timestamp.to_string();
    node.set("timestamp", Node::Int(ts_text.as_str().into()));

    let body = render(&node, Escaping::Ascii);
    let v2 = render(&node, Escaping::Utf8);
    let simple = simple_message_of(&node)?;

    let headers = vec![
        (HEADER_CONTENT_TYPE, CONTENT_TYPE_JSON.to_owned()),
        (HEADER_TIMESTAMP, ts_text.clone()),
        (HEADER_SIGNATURE, hmac_sha256_hex(secret, body.as_bytes())),
        (HEADER_SIGNATURE_V2, hmac_sha256_hex(secret, v2.as_bytes())),
        (
            HEADER_SIGNATURE_SIMPLE,
            hmac_sha256_hex(secret, simple.as_bytes()),
        ),
    ];
    Ok(SignedWebhook { body, headers })
}

/// The message `X-Signature-Simple` covers: `"{timestamp}:{session_id}:{status}:{webhook_type}"`
/// built from the payload's own fields with Python's `str()` (so a float timestamp 1.0
/// gives `1.0`, `null` gives `None`, a missing field gives an empty string).
pub fn simple_message(payload: &Value) -> Result<String, WebhookError> {
    if !payload.is_object() {
        return Err(WebhookError::NotAnObject);
    }
    simple_message_of(&Node::from_value(payload)?)
}

fn simple_message_of(node: &Node<'_>) -> Result<String, WebhookError> {
    let parts = ["timestamp", "session_id", "status", "webhook_type"]
        .into_iter()
        .map(|field| python_str(node.get(field), field))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(parts.join(":"))
}

/// `str(data.get(field, ""))` for the scalar JSON types.
fn python_str(value: Option<&Node<'_>>, field: &'static str) -> Result<String, WebhookError> {
    Ok(match value {
        None => String::new(),
        Some(Node::Null) => "None".to_owned(),
        Some(Node::Bool(true)) => "True".to_owned(),
        Some(Node::Bool(false)) => "False".to_owned(),
        Some(Node::Int(digits)) => digits.to_string(),
        Some(Node::Float(f)) => float_repr(*f),
        Some(Node::Str(s)) => s.to_string(),
        // Python would print a dict/list repr; no real payload has one here and
        // reproducing repr() of nested values is not worth the risk of a subtle mismatch.
        Some(Node::Array(_) | Node::Object(_)) => {
            return Err(WebhookError::UnsupportedSimpleField(field))
        }
    })
}

/// HMAC-SHA256 of `message` keyed with the UTF-8 bytes of `secret`, as lower-case hex.
pub fn hmac_sha256_hex(secret: &str, message: &[u8]) -> String {
    hex::encode(mac(secret, message).finalize().into_bytes())
}

pub(crate) fn mac(secret: &str, message: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this constructor cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(message);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timestamp_is_stamped_and_headers_complete() {
        let signed = sign(
            &json!({"session_id": "s", "status": "Approved", "webhook_type": "status.updated", "timestamp": 1}),
            "k",
            1774970000,
        )
        .unwrap();
        assert!(signed.body.contains("\"timestamp\":1774970000"));
        assert_eq!(signed.header("x-timestamp"), Some("1774970000"));
        assert_eq!(signed.header("content-type"), Some("application/json"));
        assert_eq!(
            signed.header("X-Signature-Simple").unwrap(),
            hmac_sha256_hex("k", b"1774970000:s:Approved:status.updated")
        );
        assert_eq!(
            signed.header("X-Signature"),
            signed.header("X-Signature-V2")
        );
        for (_, v) in &signed.headers[2..] {
            assert_eq!(v.len(), 64);
            assert!(v
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        }
    }

    #[test]
    fn simple_message_uses_python_str() {
        assert_eq!(simple_message(&json!({})).unwrap(), ":::");
        assert_eq!(
            simple_message(
                &json!({"timestamp": 1.0, "session_id": null, "status": true, "webhook_type": 5})
            )
            .unwrap(),
            "1.0:None:True:5"
        );
        assert_eq!(
            simple_message(&json!({"status": {"a": 1}})),
            Err(WebhookError::UnsupportedSimpleField("status"))
        );
    }

    #[test]
    fn refuses_bad_input() {
        assert_eq!(sign(&json!([1]), "k", 0), Err(WebhookError::NotAnObject));
        assert_eq!(sign(&json!({}), "", 0), Err(WebhookError::EmptySecret));
    }

    #[test]
    fn non_ascii_makes_v1_and_v2_differ() {
        let signed = sign(&json!({"name": "José"}), "k", 5).unwrap();
        assert_eq!(signed.body, r#"{"name":"Jos\u00e9","timestamp":5}"#);
        assert_ne!(
            signed.header("X-Signature"),
            signed.header("X-Signature-V2")
        );
        assert_eq!(
            signed.header("X-Signature-V2").unwrap(),
            hmac_sha256_hex("k", "{\"name\":\"José\",\"timestamp\":5}".as_bytes())
        );
    }
}
