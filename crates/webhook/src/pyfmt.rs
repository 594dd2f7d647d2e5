//! CPython's text forms for the pieces of JSON Didit signs: `repr(float)`, `int(float)` and
//! `json.dumps` string escaping, reproduced byte for byte.

use std::fmt::Write as _;

/// `repr(x)` for a finite float: shortest round-trip digits, positional notation for
/// 1e-4 <= |x| < 1e16 (with a trailing `.0` when integral), otherwise `d.ddde±XX`.
/// Non-finite values give CPython's `inf` / `-inf` / `nan`.
pub(crate) fn float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    let (negative, digits, exponent) = shortest_digits(x);
    let n = digits.len() as i32;
    // CPython's `decpt`: value = 0.DIGITS × 10^decpt.
    let decpt = exponent + 1;

    let mut out = String::with_capacity(digits.len() + 8);
    if negative {
        out.push('-');
    }
    if decpt <= -4 || decpt > 16 {
        out.push_str(&digits[..1]);
        if n > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let e = decpt - 1;
        let _ = write!(
            out,
            "e{}{:02}",
            if e < 0 { '-' } else { '+' },
            e.unsigned_abs()
        );
    } else if decpt <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-decpt) as usize));
        out.push_str(&digits);
    } else if decpt >= n {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (decpt - n) as usize));
        out.push_str(".0");
    } else {
        out.push_str(&digits[..decpt as usize]);
        out.push('.');
        out.push_str(&digits[decpt as usize..]);
    }
    out
}

/// Sign, significant digits and decimal exponent (x = ±D.DDD × 10^exponent) of the
/// shortest decimal that reads back as `x`, choosing among equally short candidates the
/// one nearest `x` and, on an exact tie, the one with an even last digit — CPython's dtoa
/// mode 0. Rust's shortest formatter finds the right length but breaks such ties upwards
/// (1579571554285430.25 → …430.3 where CPython prints …430.2), so the tie is re-decided
/// with Rust's exact-precision formatter, which rounds half to even.
fn shortest_digits(x: f64) -> (bool, String, i32) {
    let split = |sci: &str| -> (bool, String, i32) {
        let (negative, sci) = match sci.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, sci),
        };
        let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci, "0"));
        let digits = mantissa.chars().filter(|c| *c != '.').collect();
        (negative, digits, exponent.parse().unwrap_or(0))
    };
    let shortest = split(&format!("{x:e}"));
    let precision = shortest.1.len().saturating_sub(1);
    let nearest_text = format!("{x:.precision$e}");
    let nearest = split(&nearest_text);
    // The nearest candidate wins only if it also reads back as x (near a power of two the
    // interval below x is half as wide as the one above, so it may not).
    if nearest != shortest && nearest_text.parse::<f64>() == Ok(x) {
        nearest
    } else {
        shortest
    }
}

/// `str(int(x))` for a finite float with no fractional part: its exact decimal value, which
/// for large magnitudes has many more digits than `repr` shows (int(1e23) is
/// 99999999999999991611392).
pub(crate) fn integral_float_to_int(x: f64) -> String {
    // Every such float below 2^63 in magnitude converts to i64 exactly; -0.0 becomes 0.
    if x.abs() < 9.0e18 {
        return (x as i64).to_string();
    }
    let bits = x.to_bits();
    let negative = bits >> 63 == 1;
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let mantissa = (bits & ((1u64 << 52) - 1)) | (1u64 << 52);
    // x = mantissa × 2^shift; shift > 0 because |x| >= 9e18 > 2^53.
    let shift = biased - 1075;

    // Little-endian base-10^9 limbs; at most ~35 of them for f64::MAX.
    const BASE: u64 = 1_000_000_000;
    let mut limbs: Vec<u64> = vec![
        mantissa % BASE,
        (mantissa / BASE) % BASE,
        mantissa / BASE / BASE,
    ];
    for _ in 0..shift {
        let mut carry = 0u64;
        for limb in limbs.iter_mut() {
            let v = *limb * 2 + carry;
            *limb = v % BASE;
            carry = v / BASE;
        }
        if carry > 0 {
            limbs.push(carry);
        }
    }
    while limbs.len() > 1 && limbs.last() == Some(&0) {
        limbs.pop();
    }

    let mut out = String::with_capacity(limbs.len() * 9 + 1);
    if negative {
        out.push('-');
    }
    let mut iter = limbs.iter().rev();
    if let Some(top) = iter.next() {
        let _ = write!(out, "{top}");
    }
    for limb in iter {
        let _ = write!(out, "{limb:09}");
    }
    out
}

/// Appends `s` as a JSON string literal the way `json.dumps` does.
///
/// `ascii = true` is `ensure_ascii=True`: everything outside printable ASCII (including DEL)
/// becomes `\uXXXX` in lower-case hex, astral characters as a surrogate pair.
/// `ascii = false` is `ensure_ascii=False`: only `"`, `\` and C0 controls are escaped.
/// `/` is never escaped.
pub(crate) fn write_json_str(out: &mut String, s: &str, ascii: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => push_u_escape(out, c as u32),
            ' '..='~' => out.push(c),
            c if ascii => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    push_u_escape(out, u32::from(*unit));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn push_u_escape(out: &mut String, unit: u32) {
    let _ = write!(out, "\\u{unit:04x}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    // The tie cases are written as their exact binary values so the tie is visible.
    #[allow(clippy::excessive_precision)]
    fn float_repr_matches_cpython() {
        // Expected strings are CPython 3.11 `repr` output.
        let cases: &[(f64, &str)] = &[
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (0.1, "0.1"),
            (95.4, "95.4"),
            (96.15, "96.15"),
            (0.1 + 0.2, "0.30000000000000004"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (-2.5e-5, "-2.5e-05"),
            (123456789.123, "123456789.123"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (1e22, "1e+22"),
            (1e100, "1e+100"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (9007199254740993.0, "9007199254740992.0"),
            // Exact ties between two shortest candidates: CPython keeps the even digit.
            (1579571554285430.25, "1579571554285430.2"),
            (9614462599367.8125, "9614462599367.812"),
            (177343638044047.625, "177343638044047.62"),
            (-20050905300865.0625, "-20050905300865.062"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
        ];
        for (x, want) in cases {
            assert_eq!(float_repr(*x), *want, "repr({x:?})");
        }
    }

    #[test]
    fn integral_floats_print_their_exact_integer() {
        // Expected strings are CPython `str(int(x))`.
        assert_eq!(integral_float_to_int(-0.0), "0");
        assert_eq!(integral_float_to_int(100.0), "100");
        assert_eq!(integral_float_to_int(-3.0), "-3");
        assert_eq!(integral_float_to_int(1e16), "10000000000000000");
        assert_eq!(integral_float_to_int(9.0e18), "9000000000000000000");
        assert_eq!(integral_float_to_int(-1e19), "-10000000000000000000");
        assert_eq!(integral_float_to_int(1e23), "99999999999999991611392");
        assert_eq!(integral_float_to_int(2f64.powi(64)), "18446744073709551616");
        assert_eq!(
            integral_float_to_int(1e300),
            "1000000000000000052504760255204420248704468581108159154915854115511802457988908195786371375080447864043704443832883878176942523235360430575644792184786706982848387200926575803737830233794788090059368953234970799945081119038967640880074652742780142494579258788820056842838115669472196386865459400540160"
        );
        assert_eq!(integral_float_to_int(f64::MAX).len(), 309);
    }

    fn esc(s: &str, ascii: bool) -> String {
        let mut out = String::new();
        write_json_str(&mut out, s, ascii);
        out
    }

    #[test]
    fn escaping_matches_json_dumps() {
        // Expected strings are CPython `json.dumps(s)` / `json.dumps(s, ensure_ascii=False)`.
        let s = "a\"\\/\u{8}\u{c}\n\r\t\u{0}\u{1f}\u{7f}\u{80}é\u{2028}\u{feff}😀";
        assert_eq!(
            esc(s, true),
            r#""a\"\\/\b\f\n\r\t\u0000\u001f\u007f\u0080\u00e9\u2028\ufeff\ud83d\ude00""#
        );
        assert_eq!(
            esc(s, false),
            "\"a\\\"\\\\/\\b\\f\\n\\r\\t\\u0000\\u001f\u{7f}\u{80}é\u{2028}\u{feff}😀\""
        );
        assert_eq!(esc("", true), "\"\"");
        assert_eq!(esc("北京", true), r#""\u5317\u4eac""#);
        assert_eq!(esc("𝄞", true), r#""\ud834\udd1e""#);
    }
}
