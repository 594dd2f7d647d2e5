//! Didit's canonical JSON: CPython's
//! `json.dumps(shorten_floats(payload), sort_keys=True, separators=(",", ":"), ensure_ascii=…)`.
//!
//! * v1 (`ensure_ascii=True`) is the body Didit transmits, so `X-Signature` covers it.
//! * v2 (`ensure_ascii=False`) is what `X-Signature-V2` covers, UTF-8 encoded.
//!
//! They differ only for payloads containing non-ASCII text.

use serde_json::Value;

use crate::node::Node;
use crate::pyfmt::{float_repr, integral_float_to_int, write_json_str};
use crate::WebhookError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Escaping {
    /// `ensure_ascii=True`.
    Ascii,
    /// `ensure_ascii=False`.
    Utf8,
}

/// Canonical form with non-ASCII escaped as `\uXXXX`: the exact body Didit sends, and the
/// message of `X-Signature`.
///
/// Fails only on nesting deeper than 512 levels (serde_json values cannot hold NaN/inf).
pub fn canonical_v1(value: &Value) -> Result<String, WebhookError> {
    Ok(render(&Node::from_value(value)?, Escaping::Ascii))
}

/// Canonical form with non-ASCII written as UTF-8: the message of `X-Signature-V2`.
pub fn canonical_v2(value: &Value) -> Result<String, WebhookError> {
    Ok(render(&Node::from_value(value)?, Escaping::Utf8))
}

/// Renders a node that is known to be finite (callers check with [`check_finite`] when the
/// node came from untrusted text).
pub(crate) fn render(node: &Node<'_>, escaping: Escaping) -> String {
    let mut out = String::new();
    write_node(&mut out, node, escaping);
    out
}

/// `json.dumps(..., allow_nan=False)` raises on NaN/inf; the SDK treats that as a failed V2.
pub(crate) fn check_finite(node: &Node<'_>) -> Result<(), WebhookError> {
    match node {
        Node::Float(f) if !f.is_finite() => Err(WebhookError::NonFiniteNumber),
        Node::Array(items) => items.iter().try_for_each(check_finite),
        Node::Object(entries) => entries.iter().try_for_each(|(_, v)| check_finite(v)),
        _ => Ok(()),
    }
}

fn write_node(out: &mut String, node: &Node<'_>, escaping: Escaping) {
    let ascii = escaping == Escaping::Ascii;
    match node {
        Node::Null => out.push_str("null"),
        Node::Bool(true) => out.push_str("true"),
        Node::Bool(false) => out.push_str("false"),
        Node::Int(digits) => out.push_str(digits),
        Node::Float(f) => write_float(out, *f),
        Node::Str(s) => write_json_str(out, s, ascii),
        Node::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_node(out, item, escaping);
            }
            out.push(']');
        }
        Node::Object(entries) => {
            out.push('{');
            for (i, (key, value)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_str(out, key, ascii);
                out.push(':');
                write_node(out, value, escaping);
            }
            out.push('}');
        }
    }
}

/// `shorten_floats` then `float.__repr__`: integral floats become ints (1.0 → 1,
/// -0.0 → 0, 1e16 → 10000000000000000), the rest keep Python's shortest repr.
fn write_float(out: &mut String, f: f64) {
    // Non-finite only gets here if the caller skipped `check_finite`; CPython's
    // allow_nan=True spelling is the least surprising output then.
    if f.is_nan() {
        out.push_str("NaN");
    } else if f.is_infinite() {
        out.push_str(if f > 0.0 { "Infinity" } else { "-Infinity" });
    } else if f.fract() == 0.0 {
        out.push_str(&integral_float_to_int(f));
    } else {
        out.push_str(&float_repr(f));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v1(v: Value) -> String {
        canonical_v1(&v).unwrap()
    }
    fn v2(v: Value) -> String {
        canonical_v2(&v).unwrap()
    }

    #[test]
    fn floats_are_shortened_like_didit() {
        // Expected output: CPython json.dumps(shorten_floats(x), separators=(",", ":")).
        assert_eq!(
            v1(json!([
                1.0, 0.0, -0.0, 100.0, -3.0, 95.4, 96.15, 0.1, 1e-5, 1.5e-7, 0.0001
            ])),
            "[1,0,0,100,-3,95.4,96.15,0.1,1e-05,1.5e-07,0.0001]"
        );
        assert_eq!(
            v1(json!([1e16, 1e22, 123456789.5, -2.5e-5, 5e-324])),
            "[10000000000000000,10000000000000000000000,123456789.5,-2.5e-05,5e-324]"
        );
        assert_eq!(v1(json!([1e23])), "[99999999999999991611392]");
        assert_eq!(
            v1(json!([0.1 + 0.2, 1.0 / 3.0])),
            "[0.30000000000000004,0.3333333333333333]"
        );
    }

    #[test]
    fn integers_and_other_scalars() {
        assert_eq!(
            v1(json!([
                0,
                -1,
                u64::MAX,
                i64::MIN,
                true,
                false,
                null,
                {},
                [],
                ""
            ])),
            "[0,-1,18446744073709551615,-9223372036854775808,true,false,null,{},[],\"\"]"
        );
    }

    #[test]
    fn keys_sorted_by_code_point_at_every_depth() {
        let v = json!({
            "wp_user_id": 1, "9": 1, "10": 1, "2": 1, "B": 1, "a": 1, "_": 1, "é": 1,
            "\u{ffff}": 1, "😀": 1,
            "nested": {"z": [{"b": 1, "a": 2}], "y": {}}
        });
        // Python puts U+FFFF before U+1F600 (code points); UTF-16 order would not.
        assert_eq!(
            v2(v.clone()),
            "{\"10\":1,\"2\":1,\"9\":1,\"B\":1,\"_\":1,\"a\":1,\"nested\":{\"y\":{},\"z\":[{\"a\":2,\"b\":1}]},\"wp_user_id\":1,\"é\":1,\"\u{ffff}\":1,\"😀\":1}"
        );
        assert_eq!(
            v1(v),
            r#"{"10":1,"2":1,"9":1,"B":1,"_":1,"a":1,"nested":{"y":{},"z":[{"a":2,"b":1}]},"wp_user_id":1,"\u00e9":1,"\uffff":1,"\ud83d\ude00":1}"#
        );
    }

    #[test]
    fn strings_escape_like_json_dumps() {
        let v = json!({"s": "q\"b\\s/ctl\u{1}\n\t\u{7f}é😀", "url": "https://x.y/a?b=c/d+e"});
        assert_eq!(
            v1(v.clone()),
            r#"{"s":"q\"b\\s/ctl\u0001\n\t\u007f\u00e9\ud83d\ude00","url":"https://x.y/a?b=c/d+e"}"#
        );
        assert_eq!(
            v2(v),
            "{\"s\":\"q\\\"b\\\\s/ctl\\u0001\\n\\t\u{7f}é😀\",\"url\":\"https://x.y/a?b=c/d+e\"}"
        );
    }

    #[test]
    fn ascii_payloads_have_identical_forms() {
        let v = json!({"a": [1, 2.5, {"c": null}], "b": "plain"});
        assert_eq!(v1(v.clone()), v2(v));
    }

    #[test]
    fn non_finite_is_detected() {
        assert_eq!(
            check_finite(&Node::Array(vec![Node::Float(f64::INFINITY)])),
            Err(WebhookError::NonFiniteNumber)
        );
        assert!(check_finite(&Node::Float(1.5)).is_ok());
    }
}
