// A webhook receiver that is down when the verdict is reached still gets the event: the outbox
// lives in D1 and the cron retries it (first retry after 60 s), with a fresh signature.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, test } from 'node:test';

import { captureBurst, spawnApp, webhookReceiver } from './harness.mjs';

let app;
let hooks;
before(async () => {
  hooks = await webhookReceiver({ failFirst: 1, failWhen: (b) => b.status === 'Approved' });
  app = await spawnApp({ webhookUrl: hooks.url });
});
after(async () => {
  await app?.stop();
  await hooks?.close();
});

test('a delivery refused with 503 is retried by the cron and arrives signed', { timeout: 180_000 }, async () => {
  const res = await fetch(`${app.baseUrl}/session/`, {
    method: 'POST',
    headers: { 'x-api-key': app.apiKey, 'content-type': 'application/json' },
    body: JSON.stringify({ workflow_id: app.workflows.kyc, vendor_data: 'retry-user' }),
  });
  const s = await res.json();
  // A live burst of the webcam clip, as the hosted page sends a passive capture.
  const { status, body: captured } = await captureBurst(app, s.session_token);
  assert.equal(status, 200, JSON.stringify(captured));
  assert.equal(captured.status, 'Approved');

  // The first attempt is refused.
  await hooks.waitFor((b) => b.session_id === s.session_id && b.status === 'Approved', 15_000, { refused: true });
  const log = await (await fetch(`${app.baseUrl}/session/${s.session_id}/webhooks/`, { headers: { 'x-api-key': app.apiKey } })).json();
  const pending = log.results.find((d) => d.status === 'pending' && d.last_response === '503');
  assert.ok(pending, JSON.stringify(log));
  assert.equal(pending.last_response, '503');

  // Once it is due, the cron's work sends it again (wrangler dev runs it every minute too).
  const waitMs = pending.next_attempt_at * 1000 - Date.now() + 1500;
  await new Promise((r) => setTimeout(r, Math.max(0, waitMs)));
  const cron = await fetch(`${app.origin}/internal/housekeeping`, { method: 'POST', headers: { authorization: `Bearer ${app.operatorToken}` } });
  assert.equal(cron.status, 200);
  assert.equal((await fetch(`${app.origin}/internal/housekeeping`, { method: 'POST' })).status, 403, 'the operator token is needed');
  const hook = await hooks.waitFor((b) => b.session_id === s.session_id && b.status === 'Approved');
  assert.equal(hook.headers['x-signature'], createHmac('sha256', app.webhookSecret).update(hook.body).digest('hex'));
  const refused = hooks.refused.find((d) => JSON.parse(d.body).session_id === s.session_id);
  assert.equal(JSON.parse(hook.body).event_id, JSON.parse(refused.body).event_id, 'same event, so receivers can de-duplicate');
  const after = await (await fetch(`${app.baseUrl}/session/${s.session_id}/webhooks/`, { headers: { 'x-api-key': app.apiKey } })).json();
  assert.ok(after.results.some((d) => d.uuid === pending.uuid && d.status === 'delivered' && d.attempts === 2), JSON.stringify(after));
});
