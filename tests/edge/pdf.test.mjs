// The PDF report through the real worker: fonts read from the local R2 bucket, text in any of
// the hosted page's scripts findable through the fonts' ToUnicode maps, another tenant's
// session a 404 in Didit's shape.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { captureBurst, createSession, spawnApp } from './harness.mjs';

let app;
before(async () => {
  app = await spawnApp();
});
after(async () => {
  await app?.stop();
});

const VENDOR = 'Zoë Здравствуйте Καλημέρα مرحبا שלום';
const COMMENT = 'नमस्ते สวัสดี 你好世界 こんにちは 안녕하세요';

/** Every UTF-16 code unit sequence a ToUnicode map of the PDF maps a glyph to. */
function unicodeTargets(pdf) {
  const text = pdf.toString('latin1');
  const targets = new Set();
  for (const cmap of text.matchAll(/beginbfchar\n([\s\S]*?)endbfchar/g)) {
    for (const m of cmap[1].matchAll(/<[0-9A-Fa-f]+> <([0-9A-Fa-f]+)>/g)) targets.add(m[1].toUpperCase());
  }
  return targets;
}

const hex = (c) => [...c].map((ch) => {
  const units = [];
  for (let i = 0; i < ch.length; i++) units.push(ch.charCodeAt(i).toString(16).toUpperCase().padStart(4, '0'));
  return units.join('');
}).join('');

test('generate-pdf draws a multi-script vendor_data and review comment as searchable text', async () => {
  const s = await createSession(app, { workflow_id: app.workflows.kyc, vendor_data: VENDOR });
  const captured = await captureBurst(app, s.session_token);
  assert.equal(captured.status, 200, JSON.stringify(captured.body));
  const review = await fetch(`${app.baseUrl}/sessions/${s.session_id}/reviews/`, {
    method: 'POST',
    headers: { 'x-api-key': app.apiKey, 'content-type': 'application/json' },
    body: JSON.stringify({ new_status: 'Declined', comment: COMMENT }),
  });
  assert.equal(review.status, 201, await review.text());

  const res = await fetch(`${app.baseUrl}/session/${s.session_id}/generate-pdf/`, { headers: { 'x-api-key': app.apiKey } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/pdf');
  const pdf = Buffer.from(await res.arrayBuffer());
  assert.ok(pdf.subarray(0, 5).toString() === '%PDF-' && pdf.subarray(-6).toString().includes('%%EOF'));
  // One embedded font per script present (Latin, Arabic, Hebrew, Devanagari, Thai,
  // Japanese (kana with Han), Korean), each a subset: the report stays small.
  const type0 = pdf.toString('latin1').match(/\/Subtype \/Type0/g) ?? [];
  assert.equal(type0.length, 7);
  assert.ok(pdf.length < 250_000, `${pdf.length} bytes`);
  const targets = [...unicodeTargets(pdf)].join(' ');
  for (const ch of new Set([...VENDOR, ...COMMENT].filter((c) => c.trim()))) {
    assert.ok(targets.includes(hex(ch)), `U+${hex(ch)} (${ch}) is in no ToUnicode map`);
  }
  process.stderr.write(`[pdf] mixed-script report: ${pdf.length} bytes\n`);
});

test('attack: another tenant cannot have a session\'s PDF, nor can a wrong key', async () => {
  const s = await createSession(app, { workflow_id: app.workflows.kyc, vendor_data: 'pdf-tenancy' });
  const url = `${app.baseUrl}/session/${s.session_id}/generate-pdf/`;
  const other = await fetch(url, { headers: { 'x-api-key': app.other.apiKey } });
  assert.equal(other.status, 404);
  const body = await other.json();
  assert.equal(typeof body.detail, 'string', JSON.stringify(body));
  const unknown = await fetch(`${app.baseUrl}/session/00000000-0000-4000-8000-000000000000/generate-pdf/`, { headers: { 'x-api-key': app.apiKey } });
  assert.equal(unknown.status, 404);
  assert.equal((await fetch(url, { headers: { 'x-api-key': 'sk_wrong' } })).status, 401);
});

test('attack: controls, unpaired bidi marks and characters no font has still make a PDF', async () => {
  const hostile = 'a\u0007b \u202Eevil\u2067 \u{1F600}\u{13000}\uE000 مرحبا\u202B';
  const s = await createSession(app, { workflow_id: app.workflows.kyc, vendor_data: hostile });
  const res = await fetch(`${app.baseUrl}/session/${s.session_id}/generate-pdf/`, { headers: { 'x-api-key': app.apiKey } });
  assert.equal(res.status, 200, await res.clone().text());
  const pdf = Buffer.from(await res.arrayBuffer());
  assert.ok(unicodeTargets(pdf).has('FFFD'), 'the replacement glyph stands in for what no font has');
});
