// The operators' selfie second factor against the real worker and models in wrangler dev:
// enrolment through the hosted capture, sign-in in two steps, and the attacks on the second
// step — the waiting cookie used for anything else, a replayed cookie, two racing requests,
// another site's request, a replayed phone video as the selfie, the password asked again.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { consoleClient } from './console_client.mjs';
import { burstOf, captureBurst, REPLAY_CLIP, spawnApp } from './harness.mjs';

let app;
before(async () => {
  app = await spawnApp();
});
after(async () => {
  await app?.stop();
});

const PASSWORD = 'a long enough console password';
const EMAIL = 'ada@example.com';
const client = () => consoleClient(app.origin);
/** The session token at the end of a hosted-page URL. */
const tokenOf = (url) => new URL(url).pathname.split('/').filter(Boolean).pop();

let admin;

test('turning the selfie on asks for the password and enrols through the hosted capture', async () => {
  admin = client();
  const token = new URL(app.consoleSetupUrl, app.origin).hash.replace('#setup=', '');
  const setup = await admin.call('POST', '/setup/', { token, name: 'Ada', email: EMAIL, password: PASSWORD });
  assert.equal(setup.status, 200, setup.text);

  assert.equal((await admin.call('GET', '/me/second-factor/')).body.enabled, false);
  const wrong = await admin.call('POST', '/me/second-factor/', { password: 'not the password at all' });
  assert.equal(wrong.status, 403);
  assert.equal((await admin.call('POST', '/me/second-factor/', { password: PASSWORD }, { csrf: false })).status, 403, 'no CSRF token');
  assert.equal((await admin.call('POST', '/me/second-factor/', '{"password":')).status, 400);
  // The operator token is a script, not a face.
  const platform = await fetch(`${app.origin}/console/api/me/second-factor/`, {
    method: 'POST',
    headers: { authorization: `Bearer ${app.operatorToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ password: PASSWORD }),
  });
  assert.equal(platform.status, 403);

  const start = await admin.call('POST', '/me/second-factor/', { password: PASSWORD });
  assert.equal(start.status, 201, start.text);
  assert.equal((await admin.call('POST', '/me/second-factor/confirm/')).status, 409, 'not captured yet');
  const captured = await captureBurst(app, tokenOf(start.body.url));
  assert.equal(captured.body.status, 'Approved', JSON.stringify(captured.body));
  const on = await admin.call('POST', '/me/second-factor/confirm/');
  assert.equal(on.status, 200, on.text);
  assert.equal(on.body.enabled, true);
  assert.equal((await admin.call('GET', '/me/')).body.operator.second_factor, true);
});

test('sign-in takes the password, then a live selfie of the same face; the waiting cookie opens nothing else', async () => {
  const tab = client();
  const first = await tab.call('POST', '/login/', { email: EMAIL, password: PASSWORD });
  assert.equal(first.status, 200, first.text);
  assert.equal(first.body.second_factor, 'selfie');
  assert.equal(first.body.csrf_token, undefined);
  assert.match(tab.setCookie, /Max-Age=600/);
  const waiting = tab.cookie;
  assert.equal((await tab.call('GET', '/me/')).status, 401, 'the waiting cookie is not a session');
  assert.equal((await tab.call('GET', '/applications/x/queue/')).status, 401);
  assert.equal((await tab.call('POST', '/login/selfie/')).status, 409, 'the selfie is not taken yet');
  const cross = await tab.call('POST', '/login/selfie/', undefined, { headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' } });
  assert.equal(cross.status, 403);

  const selfie = await captureBurst(app, tokenOf(first.body.url), burstOf(undefined, 30));
  assert.equal(selfie.body.status, 'Approved', JSON.stringify(selfie.body));
  // Two tabs racing the second step: exactly one gets in.
  const racer = client();
  racer.cookie = waiting;
  const [a, b] = await Promise.all([tab.call('POST', '/login/selfie/'), racer.call('POST', '/login/selfie/')]);
  assert.deepEqual([a.status, b.status].sort(), [200, 401], `${a.text} ${b.text}`);
  const winner = a.status === 200 ? tab : racer;
  assert.notEqual(winner.cookie, waiting, 'a new token after the selfie');
  assert.equal((await winner.call('GET', '/me/')).status, 200);
  // Replayed later: used up.
  const replay = client();
  replay.cookie = waiting;
  assert.equal((await replay.call('POST', '/login/selfie/')).status, 401);
});

test('a phone replaying a video of the operator does not get in', async () => {
  const tab = client();
  const first = await tab.call('POST', '/login/', { email: EMAIL, password: PASSWORD });
  assert.equal(first.body.second_factor, 'selfie');
  const token = tokenOf(first.body.url);
  // Every attempt the workflow allows, with the replay clip (escalations answered with it too).
  for (let i = 0; i < 6; i++) {
    const r = await captureBurst(app, token, burstOf(REPLAY_CLIP, 30 * (i % 4)));
    if (r.status !== 200 || ['Declined', 'In Review', 'Approved'].includes(r.body.status)) break;
  }
  const second = await tab.call('POST', '/login/selfie/');
  assert.ok([401, 409].includes(second.status), second.text);
  if (second.status === 409) {
    // The replay was stepped up to a challenge and left unanswered: still no session.
    assert.equal((await tab.call('GET', '/me/')).status, 401);
  } else {
    assert.equal((await tab.call('POST', '/login/selfie/')).status, 401, 'the step is over');
  }
});

test('turning it off asks for the password and deletes the enrolled face; sign-in is one step again', async () => {
  assert.equal((await admin.call('DELETE', '/me/second-factor/', { password: 'wrong password here' })).status, 403);
  const off = await admin.call('DELETE', '/me/second-factor/', { password: PASSWORD });
  assert.equal(off.status, 200, off.text);
  assert.equal(off.body.enabled, false);
  const tab = client();
  const r = await tab.call('POST', '/login/', { email: EMAIL, password: PASSWORD });
  assert.equal(r.status, 200);
  assert.ok(r.body.csrf_token, 'signed in with the password alone');
});
