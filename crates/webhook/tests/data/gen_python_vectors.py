#!/usr/bin/env python3
"""Regenerates python-vectors.json: edge cases for facegate-webhook, computed by CPython itself.

The algorithm is the one in the wire contract (section 2.3): floats with an integral value
become ints, then json.dumps(sort_keys=True, separators=(",", ":")) with ensure_ascii True
(transmitted body, X-Signature) or False (X-Signature-V2); Simple is
str(timestamp):str(session_id):str(status):str(webhook_type) from the unshortened payload.

"payload_json" is what the Rust signer is fed; "raw" cases are bodies as a third party might
send them (spacing, key order, literals serde_json cannot hold) that only the verifier sees.

Usage: python3 gen_python_vectors.py > python-vectors.json
"""

import hashlib
import hmac
import json
import sys

SECRET = "facegate-test-secret-\u00e9"  # a non-ASCII secret: the key is its UTF-8 bytes
TS = 1774970000


def shorten(v):
    if isinstance(v, bool):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, list):
        return [shorten(x) for x in v]
    if isinstance(v, dict):
        return {k: shorten(x) for k, x in v.items()}
    return v


def mac(msg):
    return hmac.new(SECRET.encode("utf-8"), msg.encode("utf-8"), hashlib.sha256).hexdigest()


def canon(payload, ascii_):
    return json.dumps(shorten(payload), sort_keys=True, separators=(",", ":"), ensure_ascii=ascii_)


def simple(payload):
    return ":".join(str(payload.get(k, "")) for k in ("timestamp", "session_id", "status", "webhook_type"))


def base(**extra):
    p = {"session_id": "s-1", "status": "Approved", "webhook_type": "status.updated", "timestamp": TS}
    p.update(extra)
    return p


SIGNED = {
    "empty_containers": base(metadata={}, decision={"risk": {"scores": {}}, "reviews": [], "x": [[], {}]}),
    "slashes_and_urls": base(url="https://media.example/a/b.jpg?sig=a/b+c&d=%2F"),
    "numeric_like_keys": base(metadata={"9": 1, "10": 2, "2": 3, "-1": 4, "1.5": 5, "wp_user_id": 42}),
    "mixed_literals": base(decision={"n": None, "t": True, "f": False, "w": [{"b": 1}, {"a": 2}]}),
    "floats": base(scores=[0.0, -0.0, 1.0, -3.0, 100.0, 95.4, 96.15, 0.1, 0.30000000000000004,
                           1 / 3, 2 / 3, 1e-4, 1e-5, 1.5e-7, -2.5e-5, 123456789.125,
                           999999999999999.9, 1e15, 1e16, 1e22, 1e23, 2.0 ** 64,
                           1.7976931348623157e308, 5e-324, 2.2250738585072014e-308, 4.35, 0.07]),
    "unicode": base(first_name="Jos\u00e9", city="\u5317\u4eac", emoji="\U0001F600\U0001D11E",
                    ctl="a\x00b\x01\x1f\x7f\x80\u2028\u2029\ufeff", esc="q\"b\\s\n\r\t\b\f/",
                    keys={"\uffff": 1, "\U0001F600": 2, "\u00e9": 3, "e": 4, "Z": 5, "": 6}),
    "ints": base(i=[0, -1, 9007199254740993, 18446744073709551615, -9223372036854775808]),
    "no_session_event": {"webhook_type": "user.status.updated", "timestamp": TS, "status": "Approved"},
    "simple_python_str": base(session_id=None, status=True, webhook_type=7),
}

RAW = {
    # Python's default json.dumps spacing, unsorted keys, a big int and a float exponent form.
    "spaced_unsorted_bigint": json.dumps({"timestamp": TS, "z": 123456789012345678901234567890,
                                          "a": [1E2, 2.50, -0.0, 1e-7], "m": {"b": "\u00fc", "a": None}}),
    "pretty_duplicate_keys": '{\n  "status": "Declined",\n  "timestamp": %d,\n  "status": "Approved"\n}' % TS,
    "escaped_astral_and_upper_hex": '{"timestamp":%d,"s":"\\uD83D\\uDE00\\u00E9\\/"}' % TS,
}


def main():
    out = {"secret": SECRET, "timestamp": TS, "signed": [], "raw": []}
    for name, payload in SIGNED.items():
        out["signed"].append({
            "name": name,
            "payload_json": json.dumps(payload),
            "body": canon(payload, True),
            "v2": canon(payload, False),
            "simple": simple(payload),
            "x_signature": mac(canon(payload, True)),
            "x_signature_v2": mac(canon(payload, False)),
            "x_signature_simple": mac(simple(payload)),
        })
    for name, raw in RAW.items():
        body = json.loads(raw)
        out["raw"].append({
            "name": name,
            "raw": raw,
            "v2": canon(body, False),
            "x_signature": mac(raw),
            "x_signature_v2": mac(canon(body, False)),
        })
    json.dump(out, sys.stdout, indent=1, ensure_ascii=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
