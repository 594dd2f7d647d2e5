// The standalone biometric APIs and the health check, against the real worker in wrangler dev.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { image, spawnApp } from './harness.mjs';

let app;
before(async () => {
  app = await spawnApp();
});
after(async () => {
  await app?.stop();
});

async function post(path, form, key = app.apiKey) {
  const headers = key === null ? {} : { 'x-api-key': key };
  const res = await fetch(`${app.baseUrl}${path}`, { method: 'POST', body: form, headers });
  return { status: res.status, body: await res.json() };
}

function form(fields) {
  const f = new FormData();
  for (const [k, v] of Object.entries(fields)) {
    if (typeof v === 'string') f.append(k, v);
    else f.append(k, v, `${k}.jpg`);
  }
  return f;
}

test('health check answers at the origin root, with and without the slash', async () => {
  for (const path of ['/system/healthcheck', '/system/healthcheck/']) {
    const res = await fetch(`${app.origin}${path}`);
    assert.equal(res.status, 200);
  }
});

test('a live selfie passes passive liveness', async () => {
  const { status, body } = await post('/passive-liveness/', form({ user_image: image('video/enroll_portrait_apfol_s1_t9.5s.jpg') }));
  assert.equal(status, 200, JSON.stringify(body));
  assert.equal(body.liveness.status, 'Approved');
  assert.equal(body.liveness.method, 'PASSIVE');
  assert.ok(body.liveness.score > 90);
  assert.equal(body.liveness.user_image.entities.length, 1);
  assert.match(body.request_id, /^[0-9a-f-]{36}$/);
});

test('a screen replay fails passive liveness', async () => {
  const { status, body } = await post('/passive-liveness/', form({ user_image: image('liveness/frames/apfol_s1/spoof_005.jpg') }));
  assert.equal(status, 200);
  assert.equal(body.liveness.status, 'Declined');
  assert.ok(body.liveness.warnings.some((w) => w.risk === 'LOW_LIVENESS_SCORE'));
});

test('face match approves the same person and declines another', async () => {
  const same = await post('/face-match/', form({
    user_image: image('liveness/frames/apfol_s1/live_003.jpg'),
    ref_image: image('video/enroll_portrait_apfol_s1_t9.5s.jpg'),
  }));
  assert.equal(same.status, 200, JSON.stringify(same.body));
  assert.equal(same.body.face_match.status, 'Approved');
  const other = await post('/face-match/', form({
    user_image: image('faces/lfw/AJ_Lamas/AJ_Lamas_0001.jpg'),
    ref_image: image('video/enroll_portrait_apfol_s1_t9.5s.jpg'),
  }));
  assert.equal(other.body.face_match.status, 'Declined');
  assert.equal(other.body.face_match.warnings[0].risk, 'LOW_FACE_MATCH_SIMILARITY');
});

test('missing and wrong API keys get Didit\'s 403 and 401', async () => {
  const f = () => form({ user_image: image('video/enroll_portrait_apfol_s1_t9.5s.jpg') });
  const missing = await post('/passive-liveness/', f(), null);
  assert.equal(missing.status, 403);
  assert.deepEqual(missing.body, { detail: 'You do not have permission to perform this action.' });
  const wrong = await post('/passive-liveness/', f(), 'not-a-key');
  assert.equal(wrong.status, 401);
  assert.ok(wrong.body.detail);
});

test('bad input is a field-keyed 400, never a 500', async () => {
  const missing = await post('/passive-liveness/', form({ other: 'x' }));
  assert.equal(missing.status, 400);
  assert.deepEqual(missing.body, { user_image: ['This field is required.'] });
  const notImage = await post('/passive-liveness/', form({ user_image: new Blob(['hello, not an image']) }));
  assert.equal(notImage.status, 400);
  assert.ok(Array.isArray(notImage.body.user_image), JSON.stringify(notImage.body));
  const notMultipart = await fetch(`${app.baseUrl}/passive-liveness/`, {
    method: 'POST',
    headers: { 'x-api-key': app.apiKey, 'content-type': 'application/json' },
    body: '{"user_image": 1}',
  });
  assert.equal(notMultipart.status, 400);
  const badThreshold = await post('/passive-liveness/', form({
    user_image: image('video/enroll_portrait_apfol_s1_t9.5s.jpg'),
    face_liveness_score_decline_threshold: 'abc',
  }));
  assert.equal(badThreshold.status, 400);
});

test('unknown paths are Didit\'s 404', async () => {
  const res = await fetch(`${app.baseUrl}/nope/`, { headers: { 'x-api-key': app.apiKey } });
  assert.equal(res.status, 404);
  assert.deepEqual(await res.json(), { detail: 'Not found.' });
});

test('the hosted page is served at the session URL, with or without a language segment', async () => {
  for (const path of ['/session/some-token', '/es/session/some-token', '/pt-BR/session/some-token']) {
    const res = await fetch(`${app.origin}${path}`);
    assert.equal(res.status, 200, path);
    assert.match(res.headers.get('content-type'), /text\/html/);
    assert.match(res.headers.get('content-security-policy'), /frame-ancestors \*/);
  }
  // API paths look alike but stay API paths.
  const api = await fetch(`${app.baseUrl}/session/some-token/`, { headers: { 'x-api-key': app.apiKey } });
  assert.equal(api.status, 404);
  assert.deepEqual(await api.json(), { detail: 'Not found.' });
});
