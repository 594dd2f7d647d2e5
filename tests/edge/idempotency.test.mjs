// Idempotency-Key on /v3 writes, end to end: a retried create replays the first answer byte
// for byte; the same key on another request is refused; a malformed key is a 400.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { spawnApp } from './harness.mjs';

let app;
before(async () => {
  app = await spawnApp();
});
after(async () => {
  await app?.stop();
});

async function create(key, body) {
  const res = await fetch(`${app.baseUrl}/session/`, {
    method: 'POST',
    headers: { 'x-api-key': app.apiKey, 'content-type': 'application/json', 'idempotency-key': key },
    body: JSON.stringify(body),
  });
  return { status: res.status, replayed: res.headers.get('idempotent-replayed'), text: await res.text() };
}

test('same key and body: the first answer again, marked replayed; other body: 409', async () => {
  const key = `idem-${Date.now()}`;
  // No vendor_data: Didit's own vendor_data rule would hand back the same session anyway.
  const body = { workflow_id: app.workflows.kyc, metadata: { order: key } };
  const first = await create(key, body);
  assert.equal(first.status, 201, first.text);
  assert.equal(first.replayed, null);
  const again = await create(key, body);
  assert.equal(again.status, 201, again.text);
  assert.equal(again.replayed, 'true');
  assert.equal(again.text, first.text);
  assert.equal(JSON.parse(again.text).session_id, JSON.parse(first.text).session_id);

  const other = await create(key, { ...body, metadata: { order: 'another' } });
  assert.equal(other.status, 409, other.text);
  assert.match(JSON.parse(other.text).detail, /Idempotency-Key/);

  // Without the header the same body makes a new session, as before.
  const plain = await fetch(`${app.baseUrl}/session/`, {
    method: 'POST',
    headers: { 'x-api-key': app.apiKey, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.equal(plain.status, 201);
  assert.equal(plain.headers.get('idempotent-replayed'), null);
  assert.notEqual((await plain.json()).session_id, JSON.parse(first.text).session_id);
});

test('a key longer than 255 characters is a 400 in the contract shape', async () => {
  const res = await create('k'.repeat(256), { workflow_id: app.workflows.kyc });
  assert.equal(res.status, 400, res.text);
  assert.match(JSON.parse(res.text).detail, /Idempotency-Key/);
});

test('housekeeping sweeps kept answers without error, and a fresh one still replays', async () => {
  const key = `idem-sweep-${Date.now()}`;
  const body = { workflow_id: app.workflows.kyc, metadata: { order: key } };
  const first = await create(key, body);
  assert.equal(first.status, 201, first.text);
  const res = await fetch(`${app.origin}/internal/housekeeping`, { method: 'POST', headers: { authorization: `Bearer ${app.operatorToken}` } });
  assert.equal(res.status, 200, await res.text());
  const again = await create(key, body);
  assert.equal(again.replayed, 'true');
  assert.equal(again.text, first.text);
});
