// Active liveness challenges end to end, without a browser: the page asks for a challenge,
// frames of a real camera clip are posted as the hosted page would (multipart `frames`,
// `steps`, `challenge_id`), and the decision shows the outcome.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { LIVE_CLIP, burstOf, captureBurst, clipFrames, dataDir, spawnApp } from './harness.mjs';

let app;
before(async () => {
  app = await spawnApp();
});
after(async () => {
  await app?.stop();
});

async function api(method, path, body) {
  const res = await fetch(`${app.baseUrl}${path}`, {
    method,
    headers: { 'x-api-key': app.apiKey, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

const PORTRAIT = readFileSync(join(dataDir, 'video/enroll_portrait_apfol_s1_t9.5s.jpg')).toString('base64');

async function session(workflow, vendorData) {
  const { status, body } = await api('POST', '/session/', {
    workflow_id: app.workflows[workflow],
    vendor_data: vendorData,
    portrait_image: PORTRAIT,
  });
  assert.equal(status, 201, JSON.stringify(body));
  return body;
}

async function summary(token) {
  const res = await fetch(`${app.origin}/hosted/v1/${token}`);
  assert.equal(res.status, 200);
  return res.json();
}

/** What the page does once the face is in place: `{challenge}` as the server issued it. */
async function challengeFor(token) {
  const res = await fetch(`${app.origin}/hosted/v1/${token}/challenge`, { method: 'POST' });
  assert.equal(res.status, 200);
  return { challenge: await res.json() };
}

/** The JPEG frames of the real camera clip (the live webcam clip of the harness). */
const CLIP = clipFrames(LIVE_CLIP);

/** Two frames per step from the part of the clip where the person holds still (126-149). */
function stillFrames(steps) {
  return Array.from({ length: steps * 2 }, (_, i) => ({ step: Math.floor(i / 2), jpeg: CLIP[126 + i * 2] }));
}

async function post(token, { challengeId, frames, steps }) {
  const form = new FormData();
  if (challengeId !== undefined) form.append('challenge_id', challengeId);
  for (const [i, f] of frames.entries()) form.append('frames', new Blob([f.jpeg], { type: 'image/jpeg' }), `f${i}.jpg`);
  if (steps !== undefined) form.append('steps', typeof steps === 'string' ? steps : JSON.stringify(steps));
  const res = await fetch(`${app.origin}/hosted/v1/${token}/capture`, { method: 'POST', body: form });
  return { status: res.status, body: await res.json() };
}

test('a flashing session issues a challenge on request; a still face fails it and the decision says FLASHING', async () => {
  assert.equal(CLIP.length, 150);
  const s = await session('biometric_authentication_flashing', 'flash-user');
  const read = await summary(s.session_token);
  assert.equal(read.session_id, s.session_id);
  assert.equal(read.liveness_method, 'FLASHING');
  assert.equal(read.challenge, undefined, 'reading the summary issues nothing');
  const sum = await challengeFor(s.session_token);
  assert.equal(sum.challenge.method, 'FLASHING');
  assert.ok(sum.challenge.steps.length >= 4 && sum.challenge.steps.length <= 6, JSON.stringify(sum.challenge));
  for (const step of sum.challenge.steps) assert.match(step.colour, /^#[0-9a-f]{6}$/);

  // Malformed requests: 400 in the contract's field-keyed shape, refused before any frame is
  // decoded, so no attempt is spent.
  const frames = stillFrames(sum.challenge.steps.length);
  const labels = frames.map((f, i) => ({ step: f.step, t: i * 220 }));
  let r = await post(s.session_token, { challengeId: sum.challenge.id, frames });
  assert.equal(r.status, 400, JSON.stringify(r.body));
  assert.ok(r.body.steps, JSON.stringify(r.body));
  r = await post(s.session_token, { challengeId: sum.challenge.id, frames, steps: labels.slice(1) });
  assert.equal(r.status, 400);
  assert.match(r.body.steps[0], /one entry per frame/);
  r = await post(s.session_token, { challengeId: sum.challenge.id, frames, steps: 'not json' });
  assert.equal(r.status, 400);
  const many = Array.from({ length: 17 }, () => ({ step: 0, jpeg: CLIP[130] }));
  r = await post(s.session_token, { challengeId: sum.challenge.id, frames: many, steps: many.map(() => 0) });
  assert.equal(r.status, 400);
  assert.match(r.body.frames[0], /at most 16/);
  r = await post(s.session_token, { frames, steps: labels });
  assert.equal(r.status, 400);
  assert.ok(r.body.challenge_id);
  r = await post(s.session_token, { challengeId: sum.challenge.id, frames, steps: frames.map(() => 9) });
  assert.equal(r.status, 400);
  assert.match(r.body.steps[0], /challenge has/);

  // Real frames of a still face, two per step: the face never reflects the colours.
  r = await post(s.session_token, { challengeId: sum.challenge.id, frames, steps: labels });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.retry, true);
  assert.equal(r.body.attempts_left, 2, 'the 400s cost no attempt');
  assert.equal(r.body.challenge.method, 'FLASHING', 'a fresh challenge for the recapture');
  assert.notEqual(r.body.challenge.id, sum.challenge.id);
  const fresh = r.body.challenge;

  const decision = await api('GET', `/session/${s.session_id}/decision/`);
  assert.equal(decision.status, 200);
  const item = decision.body.liveness_checks[0];
  assert.equal(item.method, 'FLASHING');
  assert.equal(item.status, 'Declined');
  assert.ok(item.score <= 50);
  const warning = item.warnings.find((w) => w.short_description === 'Liveness challenge failed');
  assert.ok(warning, JSON.stringify(item.warnings));
  assert.equal(warning.risk, 'LOW_LIVENESS_SCORE');
  assert.equal(warning.additional_data.challenge_id, sum.challenge.id);
  // The face itself was found and matched: only the challenge failed.
  assert.equal(decision.body.face_matches[0].status, 'Approved');

  // A frame the decoder refuses is read and refused: that is an attempt, and it spends the
  // challenge it answered.
  const again = stillFrames(fresh.steps.length);
  const againLabels = again.map((f) => f.step);
  const garbage = again.map((f, i) => (i === 3 ? { ...f, jpeg: Buffer.from('not an image at all') } : f));
  r = await post(s.session_token, { challengeId: fresh.id, frames: garbage, steps: againLabels });
  assert.equal(r.status, 400, JSON.stringify(r.body));
  assert.match(r.body.frames[0], /Frame 3/);
  const after = await api('GET', `/session/${s.session_id}/decision/`);
  assert.equal(after.body.status, 'In Progress', 'one attempt left');
  assert.deepEqual(after.body.liveness_checks[0].warnings.map((w) => w.risk).filter((k) => k === 'NO_FACE_DETECTED'), ['NO_FACE_DETECTED']);
  r = await post(s.session_token, { challengeId: fresh.id, frames: again, steps: againLabels });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.retry, false, 'the third attempt was the last');
});

test('a capture naming another session\'s challenge, or a spent one, fails liveness', async () => {
  const a = await session('biometric_authentication_flashing', 'flash-a');
  const b = await session('biometric_authentication_flashing', 'flash-b');
  const own = await challengeFor(a.session_token);
  const other = await challengeFor(b.session_token);
  const frames = stillFrames(4);
  const steps = frames.map((f) => f.step);
  let r = await post(a.session_token, { challengeId: other.challenge.id, frames, steps });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.attempts_left, 2);
  let decision = await api('GET', `/session/${a.session_id}/decision/`);
  let item = decision.body.liveness_checks[0];
  assert.equal(item.status, 'Declined');
  assert.match(item.warnings.map((w) => w.long_description).join(' '), /another challenge/);

  // The page's own challenge was replaced by the one returned for the retry: answering the
  // first one again fails the same way.
  r = await post(a.session_token, { challengeId: own.challenge.id, frames, steps });
  assert.equal(r.status, 200);
  assert.equal(r.body.attempts_left, 1);
  decision = await api('GET', `/session/${a.session_id}/decision/`);
  item = decision.body.liveness_checks[0];
  assert.match(item.warnings.map((w) => w.long_description).join(' '), /another challenge/);
});

test('ACTIVE_3D: the challenge asks for head turns that start and end straight', async () => {
  const s = await session('biometric_authentication_active_3d', 'turn-user');
  const sum = await challengeFor(s.session_token);
  assert.equal(sum.challenge.method, 'ACTIVE_3D');
  const moves = sum.challenge.steps.map((st) => st.move);
  assert.equal(moves[0], 'straight');
  assert.equal(moves.at(-1), 'straight');
  assert.ok(moves.slice(1, -1).every((m) => m === 'left' || m === 'right'), moves.join());
  // A single selfie, or a passive burst, does not answer a challenge: it is the wrong kind of
  // capture for an active workflow, refused (400 keyed `frames`) before any frame is decoded,
  // so no attempt is spent and the session stays undecided.
  const form = new FormData();
  form.append('frame', new Blob([CLIP[130]], { type: 'image/jpeg' }), 'frame.jpg');
  const res = await fetch(`${app.origin}/hosted/v1/${s.session_token}/capture`, { method: 'POST', body: form });
  const body = await res.json();
  assert.equal(res.status, 400, JSON.stringify(body));
  assert.match(body.frames[0], /ACTIVE_3D/);
  const burst = await captureBurst(app, s.session_token, burstOf(undefined, 90));
  assert.equal(burst.status, 400, JSON.stringify(burst.body));
  assert.ok(burst.body.frames, JSON.stringify(burst.body));
  let decision = await api('GET', `/session/${s.session_id}/decision/`);
  assert.deepEqual(decision.body.liveness_checks, [], 'nothing decided');
  // The challenge answered by a face that never turns: liveness fails, and this is the first
  // attempt spent.
  const frames = stillFrames(sum.challenge.steps.length);
  const r = await post(s.session_token, { challengeId: sum.challenge.id, frames, steps: frames.map((f) => f.step) });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.attempts_left, 2, 'the refused single frame and burst cost no attempt');
  decision = await api('GET', `/session/${s.session_id}/decision/`);
  assert.equal(decision.body.liveness_checks[0].method, 'ACTIVE_3D');
  assert.equal(decision.body.liveness_checks[0].status, 'Declined');
});

test('a passive session\'s summary carries no challenge and refuses challenge captures', async () => {
  const s = await session('biometric_authentication', 'passive-user');
  const sum = await summary(s.session_token);
  assert.equal(sum.challenge, undefined);
  assert.equal(sum.liveness_method, 'PASSIVE');
  const refused = await fetch(`${app.origin}/hosted/v1/${s.session_token}/challenge`, { method: 'POST' });
  assert.equal(refused.status, 409);
  assert.match((await refused.json()).detail, /passive/);
  // Challenge frames (`frames`, `steps`, `challenge_id`) are the wrong kind of capture for a
  // passive workflow: refused before decoding, keyed `burst`, the kind it takes.
  const frames = stillFrames(2);
  const r = await post(s.session_token, { challengeId: 'x', frames, steps: frames.map((f) => f.step) });
  assert.equal(r.status, 400, JSON.stringify(r.body));
  assert.match(r.body.burst[0], /passive liveness/);
  // Nothing was decided, and the session still takes its burst.
  const burst = await captureBurst(app, s.session_token, burstOf(undefined, 30));
  assert.equal(burst.status, 200, JSON.stringify(burst.body));
  assert.equal(burst.body.status, 'Approved', JSON.stringify(burst.body));
});
