//! A JSON reader that accepts and rejects exactly what `json.loads(text, parse_constant=…)`
//! does in the community SDK, and keeps what a re-serialisation needs: Python's int/float
//! split, exact integer literals, dict semantics for duplicate keys, and whether a lone
//! surrogate escape was seen (Python keeps it in the `str`; it only fails when encoded).
//!
//! serde_json is not used here on purpose: it rejects lone surrogates, rounds integers
//! beyond 64 bits to f64 and errors on out-of-range floats, each of which would make the
//! V2 re-serialisation differ from the SDK's.

use std::borrow::Cow;

use crate::node::{enter, number_from_lexeme, sort_entries, Node};
use crate::WebhookError;

pub(crate) struct Document<'a> {
    pub(crate) root: Node<'a>,
    /// A `\uD8xx`/`\uDCxx` escape without its partner was replaced by U+FFFD; the
    /// document then has no UTF-8 canonical form (CPython raises UnicodeEncodeError).
    pub(crate) lone_surrogate: bool,
}

pub(crate) fn parse(text: &str) -> Result<Document<'_>, WebhookError> {
    let mut p = Parser {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        lone_surrogate: false,
    };
    p.skip_ws();
    let root = p.value(0)?;
    p.skip_ws();
    if p.pos != p.bytes.len() {
        return Err(p.err("extra data after the JSON value"));
    }
    Ok(Document {
        root,
        lone_surrogate: p.lone_surrogate,
    })
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    lone_surrogate: bool,
}

impl<'a> Parser<'a> {
    fn err(&self, reason: &'static str) -> WebhookError {
        WebhookError::InvalidJson {
            offset: self.pos,
            reason,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    // JSON (and Python's decoder) whitespace only: no BOM, no NBSP.
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8, reason: &'static str) -> Result<(), WebhookError> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(reason))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node<'a>, WebhookError> {
        match self.peek() {
            None => Err(self.err("unexpected end of input")),
            Some(b'{') => self.object(enter(depth)?),
            Some(b'[') => self.array(enter(depth)?),
            Some(b'"') => Ok(Node::Str(self.string()?)),
            Some(b't') => self.literal("true", Node::Bool(true)),
            Some(b'f') => self.literal("false", Node::Bool(false)),
            Some(b'n') => self.literal("null", Node::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            // Includes NaN / Infinity, which the SDK refuses via parse_constant.
            Some(_) => Err(self.err("unexpected character")),
        }
    }

    fn literal(&mut self, word: &'static str, node: Node<'a>) -> Result<Node<'a>, WebhookError> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(node)
        } else {
            Err(self.err("invalid literal"))
        }
    }

    fn object(&mut self, depth: usize) -> Result<Node<'a>, WebhookError> {
        self.pos += 1;
        let mut entries = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Node::Object(entries));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.err("expected a string key"));
            }
            let key = self.string()?;
            self.skip_ws();
            self.expect(b':', "expected ':'")?;
            self.skip_ws();
            let value = self.value(depth)?;
            entries.push((key, value));
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Node::Object(sort_entries(entries)));
                }
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Node<'a>, WebhookError> {
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Node::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Node::Array(items));
                }
                _ => return Err(self.err("expected ',' or ']'")),
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<Node<'a>, WebhookError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.err("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.err("invalid number: no digits after '.'"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.err("invalid number: no digits in exponent"));
            }
        }
        let at = start;
        number_from_lexeme(Cow::Borrowed(&self.text[start..self.pos])).map_err(|e| match e {
            WebhookError::InvalidJson { reason, .. } => {
                WebhookError::InvalidJson { offset: at, reason }
            }
            other => other,
        })
    }

    fn hex4(&mut self) -> Result<u16, WebhookError> {
        let chunk = self
            .bytes
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.err("invalid \\uXXXX escape"))?;
        let mut unit = 0u16;
        for &b in chunk {
            let d = match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                b'A'..=b'F' => b - b'A' + 10,
                _ => return Err(self.err("invalid \\uXXXX escape")),
            };
            unit = (unit << 4) | u16::from(d);
        }
        self.pos += 4;
        Ok(unit)
    }

    /// Reads a string literal; borrows from the input when it has no escapes.
    fn string(&mut self) -> Result<Cow<'a, str>, WebhookError> {
        self.pos += 1;
        let start = self.pos;
        // Fast path. Every byte we stop on is ASCII, so slicing there is on a char boundary.
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Cow::Borrowed(&self.text[start..self.pos - 1]));
                }
                Some(b'\\') => break,
                Some(b) if b < 0x20 => return Err(self.err("control character in string")),
                Some(_) => self.pos += 1,
            }
        }
        let mut out = String::from(&self.text[start..self.pos]);
        loop {
            let run = self.pos;
            while matches!(self.peek(), Some(b) if b != b'"' && b != b'\\' && b >= 0x20) {
                self.pos += 1;
            }
            out.push_str(&self.text[run..self.pos]);
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    self.pos += 1;
                    self.escape(&mut out)?;
                }
                Some(_) => return Err(self.err("control character in string")),
            }
        }
    }

    fn escape(&mut self, out: &mut String) -> Result<(), WebhookError> {
        let Some(b) = self.peek() else {
            return Err(self.err("unterminated string"));
        };
        self.pos += 1;
        let simple = match b {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => return self.unicode_escape(out),
            _ => return Err(self.err("invalid escape")),
        };
        out.push(simple);
        Ok(())
    }

    fn unicode_escape(&mut self, out: &mut String) -> Result<(), WebhookError> {
        let unit = self.hex4()?;
        let code = match unit {
            0xD800..=0xDBFF if self.bytes[self.pos..].starts_with(b"\\u") => {
                // Python pairs a high surrogate only with an immediately following low one;
                // otherwise both are kept as separate (lone) code points.
                let save = self.pos;
                self.pos += 2;
                let low = self.hex4()?;
                if (0xDC00..=0xDFFF).contains(&low) {
                    0x10000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(low) - 0xDC00)
                } else {
                    self.pos = save;
                    u32::from(unit)
                }
            }
            _ => u32::from(unit),
        };
        match char::from_u32(code) {
            Some(c) => out.push(c),
            None => {
                self.lone_surrogate = true;
                out.push(char::REPLACEMENT_CHARACTER);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(text: &str) -> Node<'_> {
        parse(text).unwrap().root
    }

    #[test]
    fn accepts_what_python_accepts() {
        assert_eq!(root(" \t\r\n{}\n"), Node::Object(vec![]));
        assert_eq!(root("[]"), Node::Array(vec![]));
        assert_eq!(root("-0"), Node::Int("0".into()));
        assert_eq!(root("-0.0"), Node::Float(-0.0));
        assert_eq!(root("1E2"), Node::Float(100.0));
        assert_eq!(root("1e400"), Node::Float(f64::INFINITY));
        assert_eq!(root("-1e-400"), Node::Float(-0.0));
        let big = "123456789012345678901234567890";
        assert_eq!(root(big), Node::Int(big.into()));
        assert_eq!(
            root(r#""a\/b\u00e9\uD83D\uDE00""#),
            Node::Str("a/bé😀".into())
        );
        assert_eq!(
            root(r#"{"a":1,"b":2,"a":3}"#),
            Node::Object(vec![
                ("a".into(), Node::Int("3".into())),
                ("b".into(), Node::Int("2".into())),
            ])
        );
    }

    #[test]
    fn lone_surrogates_are_kept_but_flagged() {
        for text in [r#""\ud800""#, r#""\udc00\ud800""#, r#""\ud800\u0041""#] {
            let doc = parse(text).unwrap();
            assert!(doc.lone_surrogate, "{text}");
        }
        let doc = parse(r#""\ud800\u0041""#).unwrap();
        assert_eq!(doc.root, Node::Str("\u{fffd}A".into()));
        assert!(!parse(r#""\ud83d\ude00""#).unwrap().lone_surrogate);
    }

    #[test]
    fn rejects_what_python_rejects() {
        for text in [
            "",
            " ",
            "NaN",
            "Infinity",
            "-Infinity",
            "[NaN]",
            "01",
            "1.",
            ".5",
            "1e",
            "+1",
            "[1,]",
            "{\"a\":1,}",
            "{a:1}",
            "{\"a\" 1}",
            "\"\t\"",
            "\"\\x\"",
            "\"\\u12\"",
            "\"\\ud800\\uzzzz\"",
            "\"abc",
            "{} {}",
            "\u{feff}{}",
            "tru",
            "nul",
        ] {
            assert!(parse(text).is_err(), "{text:?} should be rejected");
        }
        let long = "1".repeat(4301);
        assert_eq!(parse(&long).err(), Some(WebhookError::IntegerTooLong(4300)));
    }

    #[test]
    fn nesting_limit() {
        let ok = format!("{}{}", "[".repeat(512), "]".repeat(512));
        assert!(parse(&ok).is_ok());
        let deep = format!("{}{}", "[".repeat(513), "]".repeat(513));
        assert_eq!(parse(&deep).err(), Some(WebhookError::TooDeep(512)));
    }
}
