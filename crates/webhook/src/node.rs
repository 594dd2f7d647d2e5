//! The value model the signer and verifier share: JSON as Python's `json` module sees it.
//!
//! Didit's signatures are defined by what CPython does with a `dict`, so numbers keep the
//! int/float distinction Python makes (an integer literal is an arbitrary-precision `int`,
//! anything with a fraction or exponent is a `float`) and objects behave like dicts
//! (duplicate keys: last one wins). Keys are kept sorted so lookups and serialisation agree.

use std::borrow::Cow;

use serde_json::Value;

use crate::WebhookError;

/// Nesting limit for both parsing and conversion. CPython gives up near its recursion limit
/// (~1000); a lower bound keeps recursion well inside a wasm32 stack and no real payload
/// comes close.
pub(crate) const MAX_DEPTH: usize = 512;

/// CPython (3.11+) refuses to convert integer literals longer than this, so `json.loads`
/// fails on them; mirroring it keeps "rejected by the SDK" and "rejected here" the same.
pub(crate) const PY_INT_MAX_STR_DIGITS: usize = 4300;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node<'a> {
    Null,
    Bool(bool),
    /// Exact decimal text of a Python `int`, normalised (`-0` becomes `0`).
    Int(Cow<'a, str>),
    Float(f64),
    Str(Cow<'a, str>),
    Array(Vec<Node<'a>>),
    /// Sorted by key (byte order of UTF-8 == code-point order == Python's `str` order),
    /// keys unique.
    Object(Vec<(Cow<'a, str>, Node<'a>)>),
}

impl<'a> Node<'a> {
    pub(crate) fn get(&self, key: &str) -> Option<&Node<'a>> {
        match self {
            Node::Object(entries) => entries
                .binary_search_by(|(k, _)| k.as_ref().cmp(key))
                .ok()
                .map(|i| &entries[i].1),
            _ => None,
        }
    }

    /// Inserts or replaces `key`, keeping the entries sorted. No-op on non-objects.
    pub(crate) fn set(&mut self, key: &'a str, value: Node<'a>) {
        if let Node::Object(entries) = self {
            match entries.binary_search_by(|(k, _)| k.as_ref().cmp(key)) {
                Ok(i) => entries[i].1 = value,
                Err(i) => entries.insert(i, (Cow::Borrowed(key), value)),
            }
        }
    }

    pub(crate) fn from_value(value: &'a Value) -> Result<Self, WebhookError> {
        Self::from_value_at(value, 0)
    }

    fn from_value_at(value: &'a Value, depth: usize) -> Result<Self, WebhookError> {
        Ok(match value {
            Value::Null => Node::Null,
            Value::Bool(b) => Node::Bool(*b),
            // Going through the number's text works whether or not another crate turns on
            // serde_json's `arbitrary_precision`: without it, floats always print with `.`
            // or `e` (ryu) and parse back to the same f64; with it, we get the literal.
            Value::Number(n) => number_from_lexeme(Cow::Owned(n.to_string()))?,
            Value::String(s) => Node::Str(Cow::Borrowed(s)),
            Value::Array(items) => {
                let depth = enter(depth)?;
                Node::Array(
                    items
                        .iter()
                        .map(|v| Self::from_value_at(v, depth))
                        .collect::<Result<_, _>>()?,
                )
            }
            Value::Object(map) => {
                let depth = enter(depth)?;
                let entries = map
                    .iter()
                    .map(|(k, v)| Ok((Cow::Borrowed(k.as_str()), Self::from_value_at(v, depth)?)))
                    .collect::<Result<Vec<_>, WebhookError>>()?;
                Node::Object(sort_entries(entries))
            }
        })
    }
}

pub(crate) fn enter(depth: usize) -> Result<usize, WebhookError> {
    if depth >= MAX_DEPTH {
        Err(WebhookError::TooDeep(MAX_DEPTH))
    } else {
        Ok(depth + 1)
    }
}

/// Classifies a syntactically valid JSON number the way `json.loads` does.
pub(crate) fn number_from_lexeme(lexeme: Cow<'_, str>) -> Result<Node<'_>, WebhookError> {
    if lexeme.bytes().any(|b| matches!(b, b'.' | b'e' | b'E')) {
        // Out-of-range literals become ±inf / ±0.0 exactly as Python's float() does; an
        // infinity is only refused later, when it has to be serialised.
        let f = lexeme
            .parse::<f64>()
            .map_err(|_| WebhookError::InvalidJson {
                offset: 0,
                reason: "malformed number",
            })?;
        return Ok(Node::Float(f));
    }
    let digits = lexeme.strip_prefix('-').unwrap_or(&lexeme).len();
    if digits > PY_INT_MAX_STR_DIGITS {
        return Err(WebhookError::IntegerTooLong(PY_INT_MAX_STR_DIGITS));
    }
    if lexeme == "-0" {
        return Ok(Node::Int(Cow::Borrowed("0")));
    }
    Ok(Node::Int(lexeme))
}

/// Sorts object entries by key and keeps the last of any duplicates, like building a dict.
pub(crate) fn sort_entries<'a>(
    mut entries: Vec<(Cow<'a, str>, Node<'a>)>,
) -> Vec<(Cow<'a, str>, Node<'a>)> {
    // Stable sort: duplicates stay in input order, so "last wins" is well defined.
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out: Vec<(Cow<'a, str>, Node<'a>)> = Vec::with_capacity(entries.len());
    for entry in entries {
        match out.last_mut() {
            Some(last) if last.0 == entry.0 => *last = entry,
            _ => out.push(entry),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_keep_python_int_float_split() {
        let v = json!([1, -7, 1.0, 0.5, u64::MAX, i64::MIN]);
        let Node::Array(items) = Node::from_value(&v).unwrap() else {
            panic!("not an array")
        };
        assert_eq!(items[0], Node::Int("1".into()));
        assert_eq!(items[1], Node::Int("-7".into()));
        assert_eq!(items[2], Node::Float(1.0));
        assert_eq!(items[3], Node::Float(0.5));
        assert_eq!(items[4], Node::Int(u64::MAX.to_string().into()));
        assert_eq!(items[5], Node::Int(i64::MIN.to_string().into()));
    }

    #[test]
    fn duplicate_keys_last_wins_and_sorted() {
        let entries = vec![
            (Cow::Borrowed("b"), Node::Int("1".into())),
            (Cow::Borrowed("a"), Node::Int("2".into())),
            (Cow::Borrowed("b"), Node::Int("3".into())),
        ];
        let sorted = sort_entries(entries);
        assert_eq!(sorted.len(), 2);
        assert_eq!(sorted[0].0, "a");
        assert_eq!(sorted[1], (Cow::Borrowed("b"), Node::Int("3".into())));
    }

    #[test]
    fn deep_values_are_refused_not_overflowed() {
        let mut v = json!(0);
        for _ in 0..(MAX_DEPTH + 1) {
            v = json!([v]);
        }
        assert_eq!(
            Node::from_value(&v).unwrap_err(),
            WebhookError::TooDeep(MAX_DEPTH)
        );
    }

    #[test]
    fn integer_digit_limit_matches_cpython() {
        let ok = "9".repeat(PY_INT_MAX_STR_DIGITS);
        assert!(number_from_lexeme(Cow::Owned(ok)).is_ok());
        let too_long = format!("-{}", "9".repeat(PY_INT_MAX_STR_DIGITS + 1));
        assert_eq!(
            number_from_lexeme(Cow::Owned(too_long)).unwrap_err(),
            WebhookError::IntegerTooLong(PY_INT_MAX_STR_DIGITS)
        );
        assert_eq!(
            number_from_lexeme(Cow::Borrowed("-0")).unwrap(),
            Node::Int("0".into())
        );
    }
}
