// Passive capture from a burst (issue #8), against the real worker in wrangler dev: the hosted
// capture of a passive workflow takes 5-8 frames of the steady moment and decides from all of
// them; one picture is no longer enough there. Live and replay bursts are cut from the webcam
// clips of ../shared/data; the forged ones from their frames.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { REPLAY_CLIP, burstOf, captureBurst, createSession, dataDir, enrol, spawnApp, webhookReceiver } from './harness.mjs';

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

async function decision(id) {
  const res = await fetch(`${app.baseUrl}/session/${id}/decision/`, { headers: { 'x-api-key': app.apiKey } });
  assert.equal(res.status, 200);
  return res.json();
}

const risks = (d) => d.liveness_checks[0].warnings.map((w) => w.risk);

const PORTRAIT = readFileSync(join(dataDir, 'video/enroll_portrait_apfol_s1_t9.5s.jpg')).toString('base64');

/** A re-authentication of the clips' person, against their portrait (one session per user:
 * an unfinished session is reused for the same vendor_data). */
async function reauth(user) {
  return createSession(app, { workflow_id: app.workflows.biometric_authentication, vendor_data: user, portrait_image: PORTRAIT });
}

test('a live burst enrols and re-authenticates: Approved, with the burst as the liveness evidence', async () => {
  await enrol(app, 'burst-alice', burstOf(undefined, 0));
  const s = await reauth('burst-alice');
  const r = await captureBurst(app, s.session_token, burstOf(undefined, 60));
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.status, 'Approved');
  const d = await decision(s.session_id);
  assert.equal(d.liveness_checks[0].status, 'Approved');
  assert.ok(d.liveness_checks[0].score > 50);
  assert.equal(d.face_matches[0].status, 'Approved');
  await hooks.waitFor((b) => b.session_id === s.session_id && b.status === 'Approved');
});

test('one picture is not a passive capture here: 400 naming the burst, no attempt spent', async () => {
  const s = await reauth('burst-single');
  const form = new FormData();
  form.append('frame', new Blob([readFileSync(join(dataDir, 'video/enroll_portrait_apfol_s1_t9.5s.jpg'))]), 'frame.jpg');
  const res = await fetch(`${app.origin}/hosted/v1/${s.session_token}/capture`, { method: 'POST', body: form });
  assert.equal(res.status, 400);
  const body = await res.json();
  assert.match(body.burst[0], /burst/);
  // Too few frames, and a burst sent to an active workflow's session: refused the same way.
  let r = await captureBurst(app, s.session_token, burstOf().slice(0, 4));
  assert.equal(r.status, 400);
  assert.match(r.body.burst[0], /5 to 8 frames/);
  const flash = await createSession(app, { workflow_id: app.workflows.biometric_authentication_flashing, vendor_data: 'burst-single', portrait_image: PORTRAIT });
  r = await captureBurst(app, flash.session_token);
  assert.equal(r.status, 400);
  assert.ok(r.body.frames, JSON.stringify(r.body));
  // None of it was an attempt: the session still takes its three.
  r = await captureBurst(app, s.session_token, burstOf(REPLAY_CLIP, 0));
  assert.equal(r.body.attempts_left, 2, JSON.stringify(r.body));
});

test('a replayed video of the enrolled person is Declined for liveness', async () => {
  const s = await reauth('burst-replay');
  const r = await captureBurst(app, s.session_token, burstOf(REPLAY_CLIP, 30));
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.retry, true);
  const d = await decision(s.session_id);
  assert.equal(d.liveness_checks[0].status, 'Declined');
  assert.ok(risks(d).includes('LOW_LIVENESS_SCORE'), JSON.stringify(risks(d)));
});

test('forged bursts fail: one live frame sent eight times, frames of another capture spliced in', async () => {
  const s = await reauth('burst-forged');
  const still = burstOf(undefined, 120)[0];
  let r = await captureBurst(app, s.session_token, Array(8).fill(still));
  assert.equal(r.status, 200, JSON.stringify(r.body));
  let d = await decision(s.session_id);
  assert.equal(d.liveness_checks[0].status, 'Declined');
  assert.ok(risks(d).includes('LIVENESS_FACE_ATTACK'), JSON.stringify(risks(d)));
  const attack = d.liveness_checks[0].warnings.find((w) => w.risk === 'LIVENESS_FACE_ATTACK');
  assert.match(attack.additional_data.reasons.join(' '), /distinct frames/);
  // The replay's frames with one live frame at each end, where the person is checked: the
  // median of the per-frame scores is the replay's.
  const spliced = burstOf(REPLAY_CLIP, 60);
  spliced[0] = burstOf(undefined, 60)[0];
  spliced[7] = burstOf(undefined, 60)[7];
  r = await captureBurst(app, s.session_token, spliced);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  d = await decision(s.session_id);
  assert.equal(d.liveness_checks[0].status, 'Declined', JSON.stringify(d.liveness_checks[0]));
});

test('a burst with an undecodable frame is an attempt refused (400), and its frames are never kept', async () => {
  const s = await reauth('burst-garbage');
  const frames = burstOf(undefined, 90);
  frames[3] = Buffer.from('not a jpeg');
  const r = await captureBurst(app, s.session_token, frames);
  assert.equal(r.status, 400);
  assert.match(r.body.burst[0], /Frame 3/);
  const d = await decision(s.session_id);
  assert.equal(d.status, 'In Progress');
  assert.deepEqual(risks(d).filter((k) => k === 'NO_FACE_DETECTED'), ['NO_FACE_DETECTED']);
  assert.ok(!JSON.stringify(d).includes('/9j/'), 'no image bytes in the decision');
});

test('escalation: a passive capture stepped up to FLASHING costs no attempt, and the challenge cannot be skipped', async () => {
  const s = await createSession(app, { workflow_id: app.workflows.biometric_authentication_step_up, vendor_data: 'burst-step-up', portrait_image: PORTRAIT });
  let r = await captureBurst(app, s.session_token, burstOf(undefined, 30));
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.escalated, true);
  assert.equal(r.body.attempts_left, 3, 'not an attempt');
  const challenge = r.body.challenge;
  assert.equal(challenge.method, 'FLASHING');
  let d = await decision(s.session_id);
  assert.equal(d.status, 'In Progress');
  assert.deepEqual(d.liveness_checks, [], 'the undecided burst is not kept');
  // Another burst would skip the challenge.
  r = await captureBurst(app, s.session_token, burstOf(undefined, 60));
  assert.equal(r.status, 400);
  assert.match(r.body.frames[0], /FLASHING/);
  // Answered by a recording that never reflects the flashes (two frames a colour): decided as
  // FLASHING, declined, an attempt spent.
  const frames = burstOf(undefined, 90);
  const form = new FormData();
  form.append('challenge_id', challenge.id);
  const steps = challenge.steps.flatMap((_, k) => [k, k]);
  steps.forEach((_, i) => form.append('frames', new Blob([frames[i % frames.length]], { type: 'image/jpeg' }), `f${i}.jpg`));
  form.append('steps', JSON.stringify(steps));
  const res = await fetch(`${app.origin}/hosted/v1/${s.session_token}/capture`, { method: 'POST', body: form });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.equal(body.escalated, undefined);
  assert.equal(body.attempts_left, 2);
  d = await decision(s.session_id);
  assert.equal(d.liveness_checks[0].method, 'FLASHING');
  assert.equal(d.liveness_checks[0].status, 'Declined');
});
