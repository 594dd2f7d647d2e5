// Enrolment and re-authentication end to end, without a browser: sessions are created through
// the API, bursts of a real webcam clip posted to the hosted capture endpoint as the page
// would (a passive workflow is answered with 5-8 frames, never one picture), and the signed
// webhooks checked against the secret.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { LIVE_CLIP, REPLAY_CLIP, burstForm, burstOf, captureBurst, dataDir, image, spawnApp, webhookReceiver } from './harness.mjs';

let app;
let hooks;
before(async () => {
  hooks = await webhookReceiver();
  app = await spawnApp({ webhookUrl: hooks.url });
});
after(async () => {
  await app?.stop();
  await hooks?.close();
});

async function api(method, path, body) {
  const res = await fetch(`${app.baseUrl}${path}`, {
    method,
    headers: { 'x-api-key': app.apiKey, 'content-type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** A passive capture as the page sends it: a burst of 8 frames of a webcam clip (by default
 * the live one, whose person is the one in ENROL). `start` picks the moment of the clip, so
 * that an enrolment and a re-authentication are not the same frames. */
async function capture(token, { clip = LIVE_CLIP, start = 0 } = {}) {
  return captureBurst(app, token, burstOf(clip, start));
}

/** Posts a multipart body to the hosted capture; `{status, body}`. */
async function post(token, form) {
  const res = await fetch(`${app.origin}/hosted/v1/${token}/capture`, { method: 'POST', body: form });
  return { status: res.status, body: await res.json() };
}

async function session(workflow, vendorData, extra = {}) {
  const { status, body } = await api('POST', '/session/', { workflow_id: app.workflows[workflow], vendor_data: vendorData, ...extra });
  assert.equal(status, 201, JSON.stringify(body));
  return body;
}

function hmac(text) {
  return createHmac('sha256', app.webhookSecret).update(text).digest('hex');
}

const ENROL = 'video/enroll_portrait_apfol_s1_t9.5s.jpg';

test('enrol, then re-authenticate the same person: Approved, with a verified webhook', async () => {
  const kyc = await session('kyc', 'alice');
  const enrolled = await capture(kyc.session_token, { start: 0 });
  assert.equal(enrolled.status, 200, JSON.stringify(enrolled.body));
  assert.equal(enrolled.body.status, 'Approved');

  const reauth = await session('biometric_authentication', 'alice', { callback: 'https://integrator.example/done' });
  const started = Date.now();
  const result = await capture(reauth.session_token, { start: 60 });
  assert.equal(result.body.status, 'Approved', JSON.stringify(result.body));
  assert.equal(result.body.callback_url, `https://integrator.example/done?verificationSessionId=${reauth.session_id}&status=Approved`);

  const decision = await api('GET', `/session/${reauth.session_id}/decision/`);
  assert.equal(decision.body.status, 'Approved');
  assert.equal(decision.body.face_matches[0].status, 'Approved');
  assert.equal(decision.body.face_matches[0].source_image_session_id, kyc.session_id);
  assert.equal(decision.body.liveness_checks[0].method, 'PASSIVE');

  const hook = await hooks.waitFor((b) => b.session_id === reauth.session_id && b.status === 'Approved');
  const elapsed = Date.now() - started;
  assert.ok(elapsed < 5000, `webhook took ${elapsed} ms`);
  assert.equal(hook.headers['x-signature'], hmac(hook.body));
  const payload = JSON.parse(hook.body);
  assert.equal(hook.headers['x-signature-simple'], hmac(`${payload.timestamp}:${payload.session_id}:${payload.status}:${payload.webhook_type}`));
  assert.equal(hook.headers['x-timestamp'], String(payload.timestamp));
  assert.equal(payload.webhook_type, 'status.updated');
  assert.equal(payload.decision.status, 'Approved');
});

test('another person is Declined', async () => {
  // Live clips exist of one person only, so "another person" is the reference: an LFW photo of
  // someone else given as portrait_image, against whom the clip's person (live, so liveness
  // passes) must not match.
  const other = readFileSync(join(dataDir, 'faces/lfw/AJ_Lamas/AJ_Lamas_0001.jpg')).toString('base64');
  const reauth = await session('biometric_authentication', 'bob', { portrait_image: other });
  const result = await capture(reauth.session_token, { start: 30 });
  assert.equal(result.status, 200, JSON.stringify(result.body));
  assert.equal(result.body.status, 'In Progress', 'a declined face match leaves retries');
  assert.equal(result.body.retry, true);
  const decision = await api('GET', `/session/${reauth.session_id}/decision/`);
  assert.equal(decision.body.liveness_checks[0].status, 'Approved', 'declined for the match, not for liveness');
  assert.equal(decision.body.face_matches[0].source_image_session_id, reauth.session_id, 'the portrait was the reference');
  assert.equal(decision.body.face_matches[0].status, 'Declined');
  assert.equal(decision.body.face_matches[0].warnings[0].risk, 'LOW_FACE_MATCH_SIMILARITY');
});

test('a screen replay of the enrolled person is Declined for liveness, whatever the match', async () => {
  await capture((await session('kyc', 'carol')).session_token);
  const reauth = await session('biometric_authentication', 'carol');
  // A phone replaying a video of the enrolled person, filmed by the webcam.
  const replayed = await capture(reauth.session_token, { clip: REPLAY_CLIP, start: 30 });
  assert.equal(replayed.status, 200, JSON.stringify(replayed.body));
  const decision = await api('GET', `/session/${reauth.session_id}/decision/`);
  assert.notEqual(decision.body.status, 'Approved');
  assert.equal(decision.body.liveness_checks[0].status, 'Declined');
  assert.ok(decision.body.liveness_checks[0].warnings.some((w) => w.risk === 'LOW_LIVENESS_SCORE'));
});

test('portrait_image as the reference: Approved for the same person', async () => {
  const portrait = readFileSync(join(dataDir, ENROL)).toString('base64');
  const s = await session('biometric_authentication', 'dave', { portrait_image: portrait });
  const result = await capture(s.session_token, { start: 90 });
  assert.equal(result.body.status, 'Approved', JSON.stringify(result.body));
  const decision = await api('GET', `/session/${s.session_id}/decision/`);
  assert.equal(decision.body.face_matches[0].source_image_session_id, s.session_id);
});

test('face match without an enrolled face or portrait is refused at creation', async () => {
  const { status, body } = await api('POST', '/session/', { workflow_id: app.workflows.biometric_authentication, vendor_data: 'nobody' });
  assert.equal(status, 400);
  assert.equal(typeof body.portrait_image, 'string');
});

test('bad input is a 4xx in the contract\'s shape and loses nothing', async () => {
  const kyc = await session('kyc', 'erin');
  const checks = [
    [await api('POST', '/session/', '{not json'), 400],
    [await api('POST', '/session/', { workflow_id: 12 }), 400],
    [await api('POST', '/session/', { workflow_id: '00000000-0000-4000-8000-000000000000' }), 400],
    [await api('POST', '/session/', { workflow_id: app.workflows.kyc, portrait_image: 'A'.repeat(3_000_000) }), 400],
  ];
  for (const [res, want] of checks) {
    assert.equal(res.status, want, JSON.stringify(res.body));
    assert.equal(typeof res.body, 'object');
  }
  // One picture, even a good one, is the wrong kind of capture for a passive workflow: refused
  // before it is decoded (400 keyed `burst`), and no attempt is spent on it.
  const single = new FormData();
  single.append('frame', image(ENROL), 'frame.jpg');
  let res = await post(kyc.session_token, single);
  assert.equal(res.status, 400);
  assert.match(res.body.burst[0], /burst/);
  // A burst whose frames reach the decoder and are refused there (not an image; a JPEG cut in
  // half): 400 naming the frame, and each of these is an attempt.
  const notImage = burstOf(LIVE_CLIP, 0);
  notImage[2] = Buffer.from('this is not an image');
  res = await post(kyc.session_token, burstForm(notImage));
  assert.equal(res.status, 400);
  assert.match(res.body.burst[0], /Frame 2/);
  const truncated = burstOf(LIVE_CLIP, 0);
  truncated[5] = truncated[5].subarray(0, truncated[5].length / 2);
  res = await post(kyc.session_token, burstForm(truncated));
  assert.equal(res.status, 400);
  assert.match(res.body.burst[0], /Frame 5/);
  const decision = await api('GET', `/session/${kyc.session_id}/decision/`);
  assert.equal(decision.body.status, 'In Progress');
  assert.deepEqual(decision.body.liveness_checks[0].warnings.map((w) => w.risk), ['NO_FACE_DETECTED']);
  // Two attempts of three spent (had the single frame cost one, the truncated burst would
  // have been the last and declined the session): the session still takes a good burst.
  const ok = await capture(kyc.session_token);
  assert.equal(ok.body.status, 'Approved', JSON.stringify(ok.body));
  // And its token is single-use after the verdict.
  const again = await capture(kyc.session_token);
  assert.equal(again.status, 409);
  const unknown = await capture('no-such-token');
  assert.equal(unknown.status, 404);
});

test('frames read and refused are attempts: the last one declines the session, sends its webhook and spends the token', async () => {
  const s = await session('kyc', 'erin-probe');
  // A 10000x10000 PNG header among real frames: read, and refused from its size before any
  // pixel is decoded.
  const png = Buffer.from('89504e470d0a1a0a0000000d4948445200002710000027100806000000', 'hex');
  for (let i = 0; i < 3; i++) {
    const frames = burstOf(LIVE_CLIP, 30 * i);
    frames[7] = png;
    const res = await post(s.session_token, burstForm(frames));
    assert.equal(res.status, 400);
    assert.match(res.body.burst[0], /Frame 7/);
  }
  const decision = await api('GET', `/session/${s.session_id}/decision/`);
  assert.equal(decision.body.status, 'Declined');
  assert.deepEqual(decision.body.liveness_checks[0].warnings.map((w) => w.risk), ['NO_FACE_DETECTED']);
  await hooks.waitFor((b) => b.session_id === s.session_id && b.status === 'Declined');
  // A good burst now is too late: the token was spent by the probing.
  assert.equal((await capture(s.session_token)).status, 409);
});

test('the decision endpoint answers 429 with Didit\'s headers past 100 requests a minute', async () => {
  const s = await session('kyc', 'frank');
  let throttled = null;
  // Two windows at most: a minute boundary can reset the count once.
  for (let i = 0; i < 202 && !throttled; i++) {
    const res = await fetch(`${app.baseUrl}/session/${s.session_id}/decision/`, { headers: { 'x-api-key': app.apiKey } });
    if (res.status === 429) throttled = res;
    else assert.equal(res.status, 200);
  }
  assert.ok(throttled, 'no 429 after 202 requests');
  assert.equal(throttled.headers.get('x-ratelimit-limit'), '100');
  assert.equal(throttled.headers.get('x-ratelimit-remaining'), '0');
  assert.ok(Number(throttled.headers.get('retry-after')) >= 1);
  assert.ok(Number(throttled.headers.get('x-ratelimit-reset')) > Date.now() / 1000 - 1);
  assert.ok((await throttled.json()).detail);
  // Other endpoints keep their own budget.
  assert.equal((await api('GET', `/session/${s.session_id}/`)).status, 200);
});

test('webhook destinations are managed as the MCP server does it, and each delivery is logged', async () => {
  const created = await api('POST', '/webhook/destinations/', { label: 'second', url: hooks.url, enabled: true, webhook_version: 'v3', subscribed_events: ['status.updated'] });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id = created.body.uuid;
  assert.ok(created.body.secret_shared_key);
  const listed = await api('GET', '/webhook/destinations/');
  assert.ok(listed.body.results.some((d) => d.uuid === id));
  const patched = await api('PATCH', `/webhook/destinations/${id}/`, { label: 'renamed' });
  assert.equal(patched.body.label, 'renamed');
  assert.equal((await api('PATCH', `/webhook/destinations/${id}/`, { url: 'not a url' })).status, 400);

  const kyc = await session('kyc', 'gina');
  await capture(kyc.session_token);
  // Both destinations (the seeded one and this one) receive the Approved event.
  const deadline = Date.now() + 15_000;
  let log;
  for (;;) {
    log = await api('GET', `/session/${kyc.session_id}/webhooks/`);
    const approved = log.body.results.filter((d) => d.status === 'delivered' && d.destination === id);
    if (approved.length > 0 || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.ok(log.body.results.some((d) => d.destination === id && d.status === 'delivered'), JSON.stringify(log.body));
  assert.ok(log.body.results.some((d) => d.destination === app.webhookDestinationId && d.status === 'delivered'));

  assert.equal((await api('DELETE', `/webhook/destinations/${id}/`)).status, 204);
  assert.equal((await api('GET', `/webhook/destinations/${id}/`)).status, 404);
  assert.equal((await api('GET', '/session/00000000-0000-4000-8000-000000000000/webhooks/')).status, 404);
});
