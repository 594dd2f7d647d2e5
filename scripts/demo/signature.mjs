// Verifies facegate's (Didit's) webhook signatures on the receiving side, as the contract's
// section 2.3/2.4 describes: X-Signature-V2 over the canonical JSON, else X-Signature over the
// raw body; both HMAC-SHA256 with the destination's shared secret, lowercase hex. The signed
// timestamp must be fresh (±300 s) and match X-Timestamp, so a captured delivery cannot be
// replayed later.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const MAX_AGE_SECONDS = 300;

/** Python's float repr, which Didit's canonical JSON uses: exponent form below 1e-4. */
function pythonFloat(x) {
  if (Number.isInteger(x)) return BigInt(x).toString(); // integral floats are written as ints
  if (Math.abs(x) >= 1e-4) return String(x); // JS and Python agree on the shortest digits here
  const [mantissa, exponent] = x.toExponential().split('e');
  const sign = exponent.startsWith('-') ? '-' : '+';
  return `${mantissa}e${sign}${exponent.replace(/^[+-]/, '').padStart(2, '0')}`;
}

/** Orders keys by Unicode code point, as Python's sort does (JS sorts UTF-16 units). */
function byCodePoint(a, b) {
  const x = Array.from(a);
  const y = Array.from(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i].codePointAt(0) - y[i].codePointAt(0);
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

function jsonString(s) {
  // Python cannot UTF-8 encode a lone surrogate, so the sender could not have signed one.
  if (!s.isWellFormed()) throw new Error('unpaired surrogate in a string');
  return JSON.stringify(s); // escapes exactly what json.dumps(ensure_ascii=False) escapes
}

/** Didit's V2 canonical form: sorted keys, compact, non-ASCII written as UTF-8. */
export function canonicalJson(value) {
  if (value === null) return 'null';
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'number') return pythonFloat(value);
  if (typeof value === 'string') return jsonString(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value).sort(byCodePoint);
  return `{${keys.map((k) => `${jsonString(k)}:${canonicalJson(value[k])}`).join(',')}}`;
}

function hmacHex(secret, message) {
  return createHmac('sha256', Buffer.from(secret, 'utf8')).update(message).digest('hex');
}

/** Constant-time comparison of a received hex signature with the expected one. */
function sameSignature(received, expected) {
  if (!/^[0-9a-fA-F]{64}$/.test(received ?? '')) return false;
  return timingSafeEqual(Buffer.from(received.toLowerCase(), 'hex'), Buffer.from(expected, 'hex'));
}

/**
 * Checks one delivery. `headers` are Node's (lower-cased names), `rawBody` the exact bytes
 * received. Returns `{ ok: true, payload, scheme }` or `{ ok: false, reason }`; `now` (Unix
 * seconds) is injectable for tests.
 */
export function verifyWebhook(rawBody, headers, secret, now = Math.floor(Date.now() / 1000)) {
  let payload;
  try {
    payload = JSON.parse(rawBody.toString('utf8'));
  } catch {
    return { ok: false, reason: 'body is not JSON' };
  }
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) return { ok: false, reason: 'body is not a JSON object' };
  const v2 = headers['x-signature-v2'];
  const v1 = headers['x-signature'];
  if (!v2 && !v1) return { ok: false, reason: 'no X-Signature-V2 or X-Signature header' };
  const timestamp = payload.timestamp ?? payload.created_at;
  if (!Number.isInteger(timestamp)) return { ok: false, reason: 'no integer timestamp in the body' };
  if (Math.abs(now - timestamp) > MAX_AGE_SECONDS) return { ok: false, reason: `timestamp is ${now - timestamp} s old (limit ±${MAX_AGE_SECONDS} s)` };
  if (headers['x-timestamp'] !== undefined && headers['x-timestamp'] !== String(timestamp)) return { ok: false, reason: 'X-Timestamp does not match the body' };
  if (v2) {
    let canonical;
    try {
      canonical = canonicalJson(payload);
    } catch (e) {
      return { ok: false, reason: `cannot canonicalise the body: ${e.message}` };
    }
    if (sameSignature(v2, hmacHex(secret, Buffer.from(canonical, 'utf8')))) return { ok: true, payload, scheme: 'X-Signature-V2' };
  }
  if (v1 && sameSignature(v1, hmacHex(secret, rawBody))) return { ok: true, payload, scheme: 'X-Signature' };
  return { ok: false, reason: 'signature does not match the shared secret' };
}
