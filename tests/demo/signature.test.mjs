// The demo's webhook verifier against the published signing vectors (contract 2.4), and the
// rejections it must make: tampering, a wrong secret, stale or mismatched timestamps.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { canonicalJson, verifyWebhook } from '../../scripts/demo/signature.mjs';
import { root } from '../edge/harness.mjs';

const vectors = JSON.parse(readFileSync(join(root, '..', 'shared', 'spec', 'webhook-signature-vectors.json'), 'utf8'));

function headersOf(c, only) {
  const all = { 'x-timestamp': String(c.payload.timestamp), 'x-signature': c.x_signature, 'x-signature-v2': c.x_signature_v2 };
  return only ? { 'x-timestamp': all['x-timestamp'], [only]: all[only] } : all;
}

for (const c of vectors.cases) {
  test(`vector ${c.name}: accepted with either signature, at its own time`, () => {
    const body = Buffer.from(c.body, 'utf8');
    const now = c.payload.timestamp + 10;
    assert.equal(verifyWebhook(body, headersOf(c, 'x-signature-v2'), vectors.secret, now).scheme, 'X-Signature-V2');
    assert.equal(verifyWebhook(body, headersOf(c, 'x-signature'), vectors.secret, now).scheme, 'X-Signature');
  });

  test(`vector ${c.name}: the V2 message is the canonical form of the payload`, () => {
    const mac = createHmac('sha256', vectors.secret).update(canonicalJson(c.payload), 'utf8').digest('hex');
    assert.equal(mac, c.x_signature_v2);
  });
}

test('rejections: wrong secret, tampered body, stale, future, X-Timestamp mismatch, no signature', () => {
  const [c] = vectors.cases;
  const body = Buffer.from(c.body, 'utf8');
  const at = c.payload.timestamp;
  const reject = (...args) => assert.equal(verifyWebhook(...args).ok, false);
  reject(body, headersOf(c), 'another-secret', at);
  reject(Buffer.from(c.body.replace('Approved', 'Declined')), headersOf(c), vectors.secret, at);
  reject(body, headersOf(c), vectors.secret, at + 301);
  reject(body, headersOf(c), vectors.secret, at - 301);
  reject(body, { ...headersOf(c), 'x-timestamp': String(at + 1) }, vectors.secret, at);
  reject(body, { 'x-timestamp': String(at) }, vectors.secret, at);
  reject(Buffer.from('[1,2]'), headersOf(c), vectors.secret, at);
  assert.equal(verifyWebhook(body, headersOf(c), vectors.secret, at + 300).ok, true);
});

test('floats are written as Python writes them', () => {
  assert.equal(canonicalJson({ b: 100.0, a: 95.4, c: 0.00001, d: -0.0, e: 1e16 }), '{"a":95.4,"b":100,"c":1e-05,"d":0,"e":10000000000000000}');
  assert.equal(canonicalJson({ '10': 1, '2': 2, é: 'ü', '\u{1F600}': 3, '\uFFFF': 4 }), '{"10":1,"2":2,"é":"ü","\uFFFF":4,"\u{1F600}":3}');
});
