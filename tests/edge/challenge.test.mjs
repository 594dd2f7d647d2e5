// Active liveness challenges end to end, without a browser: the page asks for a challenge,
// frames of a real camera clip are posted as the hosted page would (FLASHING: multipart
// `frames`, `steps`, `challenge_id` in one capture; ACTIVE_3D: each revealed step's `frames`
// to /challenge/{id}/steps/{n}, then the capture), and the decision shows the outcome.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { LIVE_CLIP, burstOf, captureBurst, clipFrames, dataDir, spawnApp } from './harness.mjs';

let app;
before(async () => {
  // The development clock: the operator's housekeeping call may move time forward, so a step
  // can arrive after its challenge expired without waiting 45 s.
  process.env.FACEGATE_DEV_CLOCK = '1';
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

// ------------------------------------------------------------------------------ ACTIVE_3D

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** Seconds the service's development clock has been moved ahead (it never goes back). */
let ahead = 0;
async function advanceClock(seconds) {
  ahead += seconds;
  const res = await fetch(`${app.origin}/internal/housekeeping`, {
    method: 'POST',
    headers: { authorization: `Bearer ${app.operatorToken}`, 'x-facegate-dev-now': String(Math.floor(Date.now() / 1000) + ahead) },
  });
  assert.equal(res.status, 200);
}

async function issue(token) {
  const res = await fetch(`${app.origin}/hosted/v1/${token}/challenge`, { method: 'POST' });
  return { status: res.status, headers: res.headers, body: await res.json() };
}

async function step(token, id, n, jpegs) {
  const form = new FormData();
  for (const [i, jpeg] of jpegs.entries()) form.append('frames', new Blob([jpeg], { type: 'image/jpeg' }), `s${n}-${i}.jpg`);
  const res = await fetch(`${app.origin}/hosted/v1/${token}/challenge/${id}/steps/${n}`, { method: 'POST', body: form });
  return { status: res.status, body: await res.json() };
}

/** Frames a step's reveal asks for: a turn (TURN_MS in challenge.js) and the hold, at the cadence. */
const frameCount = (reveal) => Math.floor((1000 + reveal.hold_ms) / reveal.frame_interval_ms) + 1;

/**
 * Answers every revealed step with `framesFor(reveal)`, uploaded after the time they take to
 * film, as the page does; returns the challenge as issued.
 */
async function answerSteps(token, framesFor) {
  const issued = await issue(token);
  assert.equal(issued.status, 200, JSON.stringify(issued.body));
  let reveal = issued.body.step;
  while (reveal) {
    const jpegs = framesFor(reveal);
    await sleep((jpegs.length - 1) * reveal.frame_interval_ms);
    const r = await step(token, issued.body.id, reveal.step, jpegs);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    reveal = r.body.done ? null : r.body.step;
  }
  return issued.body;
}

/** The final capture: `challenge_id` and a few frames for passive liveness and face match. */
const finish = (token, id, jpegs = [CLIP[126], CLIP[132], CLIP[138]]) =>
  post(token, { challengeId: id, frames: jpegs.map((jpeg) => ({ jpeg })), steps: jpegs.map(() => 0) });

async function livenessOf(sessionId) {
  const decision = await api('GET', `/session/${sessionId}/decision/`);
  assert.equal(decision.status, 200);
  return decision.body.liveness_checks[0];
}

function declined(item, why) {
  assert.equal(item.method, 'ACTIVE_3D');
  assert.equal(item.status, 'Declined', JSON.stringify(item));
  const reasons = item.warnings.flatMap((w) => w.additional_data?.reasons ?? []).join('; ');
  if (why) assert.match(reasons, why, reasons);
}

test('ACTIVE_3D reveals one step at a time; a still photo answering every step is declined', { timeout: 120_000 }, async () => {
  const s = await session('biometric_authentication_active_3d', 'turn-photo');
  const first = await issue(s.session_token);
  assert.equal(first.status, 200, JSON.stringify(first.body));
  assert.equal(first.body.method, 'ACTIVE_3D');
  assert.ok([3, 4].includes(first.body.total_steps), JSON.stringify(first.body));
  assert.equal(first.body.steps, undefined, 'never the whole sequence');
  assert.deepEqual(
    Object.keys(first.body.step).sort(),
    ['challenge_id', 'frame_interval_ms', 'hold_ms', 'move', 'respond_by', 'step', 'total_steps'],
  );
  assert.equal(first.body.step.step, 0);
  assert.equal(first.body.step.move, 'straight');
  // Step uploads refused before any frame is decoded cost nothing.
  let r = await step(s.session_token, first.body.id, 0, []);
  assert.equal(r.status, 400, JSON.stringify(r.body));
  r = await step(s.session_token, first.body.id, 0, Array.from({ length: 17 }, () => CLIP[130]));
  assert.equal(r.status, 400);
  assert.match(r.body.frames[0], /1 to 16/);

  await sleep(3_100);
  const photo = CLIP[130];
  const c = await answerSteps(s.session_token, (reveal) => Array.from({ length: frameCount(reveal) }, () => photo));
  r = await finish(s.session_token, c.id, [photo, photo, photo]);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.retry, true);
  assert.equal(r.body.attempts_left, 2, 'the refused uploads cost no attempt');
  assert.equal(r.body.challenge, undefined, 'the page asks for a new challenge itself');
  declined(await livenessOf(s.session_id), /copy/);
  // The spent challenge takes no more steps.
  r = await step(s.session_token, c.id, 0, [photo]);
  assert.equal(r.status, 409);
});

test('ACTIVE_3D: frames of the webcam clip picked by pose, out of the clip\'s order, are declined', { timeout: 120_000 }, async () => {
  const s = await session('biometric_authentication_active_3d', 'turn-recording');
  // Where the clip's person looks (crates/pipeline/tests/active_real.rs): the attacker sees
  // each reveal and cuts the recording to fit it.
  const poses = { straight: [120, 149], left: [21, 30], right: [39, 54] };
  const c = await answerSteps(s.session_token, (reveal) => {
    const [from, to] = poses[reveal.move];
    return Array.from({ length: frameCount(reveal) }, (_, i) => CLIP[from + (i % (to - from + 1))]);
  });
  const r = await finish(s.session_token, c.id);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  declined(await livenessOf(s.session_id));
});

test('ACTIVE_3D: a replayed step, a wrong step, another session\'s challenge and a late step are refused', { timeout: 120_000 }, async () => {
  const a = await session('biometric_authentication_active_3d', 'turn-replay-a');
  const b = await session('biometric_authentication_active_3d', 'turn-replay-b');
  const ca = (await issue(a.session_token)).body;
  const cb = (await issue(b.session_token)).body;
  const held = Array.from({ length: 8 }, (_, i) => CLIP[120 + 3 * i]);
  // Another session's challenge, with this session's token: not its challenge in progress.
  let r = await step(a.session_token, cb.id, 0, held);
  assert.equal(r.status, 409, JSON.stringify(r.body));
  assert.match(r.body.detail, /not the session's challenge/);
  // A step not yet revealed.
  r = await step(a.session_token, ca.id, 1, held);
  assert.equal(r.status, 409);
  assert.match(r.body.detail, /step 1/i);
  await sleep(1_400);
  r = await step(a.session_token, ca.id, 0, held);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.step.step, 1);
  assert.notEqual(r.body.step.move, 'straight');
  // The same upload again.
  r = await step(a.session_token, ca.id, 0, held);
  assert.equal(r.status, 409, JSON.stringify(r.body));
  assert.match(r.body.detail, /step 0/i);
  // A capture before the last step: the challenge was not finished.
  r = await finish(a.session_token, ca.id);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  declined(await livenessOf(a.session_id), /not finished/);

  // Late: step 0 of b's challenge arrives 11 s after its reveal. It is recorded (the step
  // timeout is the verdict's to judge) and the capture is declined for it.
  await advanceClock(11);
  r = await step(b.session_token, cb.id, 0, held);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  // Past the challenge's expiry, nothing more is taken, and the state is gone.
  await advanceClock(50);
  r = await step(b.session_token, cb.id, 1, held);
  assert.equal(r.status, 410, JSON.stringify(r.body));
  assert.match(r.body.detail, /expired/);
  r = await step(b.session_token, cb.id, 1, held);
  assert.equal(r.status, 409, 'an expired challenge is forgotten');
  r = await finish(b.session_token, cb.id);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  declined(await livenessOf(b.session_id), /no ACTIVE_3D challenge/);
});

test('ACTIVE_3D: a session gets five challenges, three seconds apart', { timeout: 120_000 }, async () => {
  const s = await session('biometric_authentication_active_3d', 'turn-limits');
  assert.equal((await issue(s.session_token)).status, 200);
  let r = await issue(s.session_token);
  assert.equal(r.status, 429, JSON.stringify(r.body));
  assert.ok(Number(r.headers.get('retry-after')) >= 1);
  assert.match(r.body.detail, /wait/);
  for (let i = 0; i < 4; i++) {
    await advanceClock(4);
    r = await issue(s.session_token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
  await advanceClock(4);
  r = await issue(s.session_token);
  assert.equal(r.status, 429, JSON.stringify(r.body));
  assert.match(r.body.detail, /5 challenges/);
  assert.ok(Number(r.headers.get('retry-after')) >= 1);
  // None of this decided anything.
  const decision = await api('GET', `/session/${s.session_id}/decision/`);
  assert.deepEqual(decision.body.liveness_checks ?? [], []);
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

test('ACTIVE_3D: a step frame decoded and refused costs an attempt and spends the challenge', { timeout: 60_000 }, async () => {
  const s = await session('biometric_authentication_active_3d', 'turn-garbage');
  const c = (await issue(s.session_token)).body;
  let r = await step(s.session_token, c.id, 0, [CLIP[130], Buffer.from('not an image at all')]);
  assert.equal(r.status, 400, JSON.stringify(r.body));
  assert.match(r.body.frames[0], /Frame 1/);
  const item = await livenessOf(s.session_id);
  declined(item);
  assert.ok(item.warnings.some((w) => w.risk === 'NO_FACE_DETECTED'), JSON.stringify(item.warnings));
  const decision = await api('GET', `/session/${s.session_id}/decision/`);
  assert.equal(decision.body.status, 'In Progress', 'attempts remain');
  r = await step(s.session_token, c.id, 0, [CLIP[130]]);
  assert.equal(r.status, 409, 'the challenge was spent by that attempt');
});

test('ACTIVE_3D: a single selfie or a passive burst is the wrong kind of capture, refused for free', async () => {
  const s = await session('biometric_authentication_active_3d', 'turn-wrong-kind');
  const form = new FormData();
  form.append('frame', new Blob([CLIP[130]], { type: 'image/jpeg' }), 'frame.jpg');
  const res = await fetch(`${app.origin}/hosted/v1/${s.session_token}/capture`, { method: 'POST', body: form });
  const body = await res.json();
  assert.equal(res.status, 400, JSON.stringify(body));
  assert.match(body.frames[0], /ACTIVE_3D/);
  const burst = await captureBurst(app, s.session_token, burstOf(undefined, 90));
  assert.equal(burst.status, 400, JSON.stringify(burst.body));
  assert.ok(burst.body.frames, JSON.stringify(burst.body));
  const decision = await api('GET', `/session/${s.session_id}/decision/`);
  assert.deepEqual(decision.body.liveness_checks ?? [], [], 'nothing decided, no attempt spent');
});
