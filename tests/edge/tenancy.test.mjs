// Tenant isolation, walked from the route table itself (GET /internal/routes), so that a
// route added later is walked too: every API-key route, with every method, is sent with the
// OTHER tenant's key against the first tenant's session and destination ids, with plausible
// bodies; then nothing of the first tenant may have changed (session, decision, webhook log,
// destinations), and nothing of it may have been shown.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { captureBurst, createSession, dataDir, spawnApp, webhookReceiver } from './harness.mjs';

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

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

async function call(key, method, path, body, contentType = 'application/json') {
  const headers = { 'x-api-key': key };
  // A form sets its own multipart content type (with the boundary).
  if (body !== undefined && !(body instanceof FormData)) headers['content-type'] = contentType;
  const res = await fetch(`${app.origin}${path}`, { method, headers, body });
  const text = await res.text();
  return { status: res.status, text };
}

/** Everything of the first tenant an attacker could damage or read. */
async function snapshot(sessionId, listId) {
  const get = async (path) => {
    const r = await call(app.apiKey, 'GET', path);
    assert.equal(r.status, 200, `${path}: ${r.text}`);
    return JSON.parse(r.text);
  };
  return {
    session: await get(`/v3/session/${sessionId}/`),
    decision: await get(`/v3/session/${sessionId}/decision/`),
    webhooks: await get(`/v3/session/${sessionId}/webhooks/`),
    reviews: await get(`/v3/sessions/${sessionId}/reviews/`),
    user: await get('/v3/users/victim-user/'),
    destinations: await get('/v3/webhook/destinations/'),
    workflows: await get('/v3/workflows/'),
    customization: await get('/v3/customization/'),
    lists: await get('/v3/lists/'),
    entries: await get(`/v3/lists/${listId}/entries/`),
  };
}

/** Bodies a real client might send to this route (several for the ambiguous ones). */
function bodies(pattern, method, victim) {
  if (method === 'GET') return [undefined];
  const form = () => {
    const f = new FormData();
    const img = new Blob([readFileSync(join(dataDir, 'video/enroll_portrait_apfol_s1_t9.5s.jpg'))]);
    f.append('user_image', img, 'a.jpg');
    f.append('ref_image', img, 'b.jpg');
    return f;
  };
  if (pattern.includes('passive-liveness') || pattern.includes('face-match') || pattern.includes('face-search')) return [form()];
  if (pattern.endsWith('/face-upload/')) {
    return [JSON.stringify({ image: readFileSync(join(dataDir, 'video/enroll_portrait_apfol_s1_t9.5s.jpg')).toString('base64') })];
  }
  if (pattern.startsWith('/v3/lists/')) {
    return [JSON.stringify({ name: 'cross-tenant', list_type: 'custom', entry_type: 'user', value: 'cross-tenant' }), JSON.stringify({ reference_session_id: victim.sessionId })];
  }
  if (pattern.endsWith('/users/delete/')) {
    return [JSON.stringify({ vendor_data_list: [victim.vendorData] }), JSON.stringify({ delete_all: true })];
  }
  if (pattern.startsWith('/v3/users/') && method === 'PATCH') {
    return [JSON.stringify({ status: 'BLOCKED', full_name: 'cross-tenant' })];
  }
  if (pattern === '/v3/users/create/') return [JSON.stringify({ vendor_data: victim.vendorData, status: 'BLOCKED' })];
  if (pattern.includes('/reviews/')) return [JSON.stringify({ new_status: 'Declined', comment: 'cross-tenant' })];
  if (pattern.includes('update-status')) return [JSON.stringify({ new_status: 'Declined', comment: 'cross-tenant' })];
  if (pattern.endsWith('/sessions/delete/')) {
    return [JSON.stringify({ session_numbers: [victim.number] }), JSON.stringify({ delete_all: true })];
  }
  if (pattern === '/v3/customization/') {
    const f = new FormData();
    f.append('title', 'cross-tenant');
    f.append('primary_color', '#000000');
    return [f];
  }
  if (pattern.startsWith('/v3/workflows/')) {
    return [JSON.stringify({ workflow_label: 'cross-tenant', features: [{ feature: 'LIVENESS' }] })];
  }
  if (pattern.includes('/webhook/destinations/')) {
    return [JSON.stringify({ url: 'https://attacker.example/hook', enabled: false, subscribed_events: [] })];
  }
  if (pattern === '/v3/session/') {
    return [JSON.stringify({ workflow_id: victim.workflowId, vendor_data: victim.vendorData })];
  }
  return [undefined, '{}'];
}

test('another tenant\'s key reaches nothing of the first tenant, on every API route of the table', async () => {
  // The first tenant: a destination, an enrolled user, a decided session with a webhook log.
  const dest = await call(app.apiKey, 'POST', '/v3/webhook/destinations/', JSON.stringify({ url: `${hooks.url}?second`, label: 'victim' }));
  assert.equal(dest.status, 201, dest.text);
  const destinationId = JSON.parse(dest.text).uuid;
  const s = await createSession(app, { workflow_id: app.workflows.kyc, vendor_data: 'victim-user' });
  // Enrolled from a live burst, as the hosted page captures a passive workflow.
  const captured = await captureBurst(app, s.session_token);
  assert.equal(captured.body.status, 'Approved', JSON.stringify(captured.body));
  await hooks.waitFor((b) => b.session_id === s.session_id && b.status === 'Approved');
  // Let every queued delivery settle, so the log only changes if something changes it.
  await new Promise((r) => setTimeout(r, 1500));
  const branded = new FormData();
  branded.append('title', 'Victim Bank');
  assert.equal((await call(app.apiKey, 'PATCH', '/v3/customization/', branded)).status, 200);
  // A list of the first tenant's with an entry taken from its session.
  const made = await call(app.apiKey, 'POST', '/v3/lists/', JSON.stringify({ name: 'victim list', list_type: 'custom', entry_type: 'user' }));
  assert.equal(made.status, 201, made.text);
  const listId = JSON.parse(made.text).uuid;
  const entry = await call(app.apiKey, 'POST', `/v3/lists/${listId}/entries/`, JSON.stringify({ reference_session_id: s.session_id }));
  assert.equal(entry.status, 201, entry.text);
  const entryId = JSON.parse(entry.text).uuid;
  const before = await snapshot(s.session_id, listId);
  const victim = {
    sessionId: s.session_id,
    number: before.session.session_number,
    workflowId: app.workflows.kyc,
    vendorData: 'victim-user',
  };
  const secrets = [s.session_id, s.session_token, destinationId, before.destinations.results[0].secret_shared_key, listId, entryId];

  const table = await fetch(`${app.origin}/internal/routes`, { headers: { authorization: `Bearer ${app.operatorToken}` } });
  assert.equal(table.status, 200);
  const routes = (await table.json()).results.filter((r) => r.auth === 'api_key');
  const patterns = [...new Set(routes.map((r) => r.pattern))];
  assert.ok(patterns.length >= 13, `the table lists the API routes: ${patterns.join(' ')}`);

  let sent = 0;
  for (const pattern of patterns) {
    const ids = pattern.includes('/webhook/destinations/')
      ? [destinationId]
      : pattern.startsWith('/v3/workflows/{')
        ? [victim.workflowId]
      : pattern.startsWith('/v3/lists/{')
        ? [listId]
      : pattern.includes('{vendor}')
        ? [victim.vendorData]
        : [s.session_id, String(victim.number)];
    for (const id of ids) {
      // A resend names the first tenant's destination and one of its real deliveries.
      const path = pattern.replace('{delivery}', before.webhooks.results[0].uuid).replace('{entry}', entryId).replace(/\{[a-z_]+\}/g, id);
      for (const method of METHODS) {
        for (const body of bodies(pattern, method, victim)) {
          const res = await call(app.other.apiKey, method, path, body, body instanceof FormData ? undefined : 'application/json');
          sent += 1;
          assert.ok(res.status < 500, `${method} ${path}: ${res.status} ${res.text}`);
          for (const secret of secrets) {
            assert.ok(!res.text.includes(secret), `${method} ${path} showed the first tenant's ${secret}: ${res.text}`);
          }
          // Only the other tenant's own collections and the stateless APIs may answer 2xx.
          const ownCollection = ['/v3/sessions/', '/v3/webhook/destinations/', '/v3/session/', '/v3/sessions/delete/', '/v3/users/delete/', '/v3/users/', '/v3/users/create/', '/v3/workflows/', '/v3/customization/', '/v3/billing/balance/', '/v3/lists/'].includes(pattern)
            // vendor_data names a user per application: the walk's create above made the other
            // tenant its own "victim-user", which it may read and change (its own, not ours).
            || pattern.startsWith('/v3/users/{vendor}/');
          // Face search answers from the caller's own faces only (checked below: no secret shown).
          const stateless = pattern.includes('passive-liveness') || pattern.includes('face-match') || pattern.includes('face-search');
          if (res.status < 300 && !ownCollection && !stateless) {
            assert.fail(`${method} ${path} answered ${res.status} to another tenant: ${res.text}`);
          }
          // The log is the quiet casualty (#9: a 404 that still deleted it), so it is checked
          // after every request, to name the one that touched it.
          const log = await call(app.apiKey, 'GET', `/v3/session/${s.session_id}/webhooks/`);
          assert.deepEqual(JSON.parse(log.text), before.webhooks, `${method} ${path} ${body ?? ''} changed the webhook log`);
        }
      }
    }
  }
  assert.ok(sent > 80, `${sent} requests sent`);

  const afterwards = await snapshot(s.session_id, listId);
  assert.deepEqual(afterwards.session, before.session, 'session unchanged');
  assert.deepEqual(afterwards.decision, before.decision, 'decision unchanged');
  assert.deepEqual(afterwards.webhooks, before.webhooks, 'webhook log unchanged');
  assert.deepEqual(afterwards.reviews, before.reviews, 'no review or audit row added');
  assert.deepEqual(afterwards.user, before.user, 'the user record unchanged');
  assert.deepEqual(afterwards.destinations, before.destinations, 'destinations unchanged');
  assert.deepEqual(afterwards.workflows, before.workflows, 'workflows unchanged');
  assert.deepEqual(afterwards.customization, before.customization, 'branding unchanged');
  assert.deepEqual(afterwards.lists, before.lists, 'lists unchanged');
  assert.deepEqual(afterwards.entries, before.entries, 'list entries unchanged');
  // The first tenant's user is still enrolled: a re-auth without a portrait is accepted.
  const reauth = await call(app.apiKey, 'POST', '/v3/session/', JSON.stringify({ workflow_id: app.workflows.biometric_authentication, vendor_data: 'victim-user' }));
  assert.equal(reauth.status, 201, reauth.text);
  // And the other tenant's own sessions list never shows the first tenant's.
  const theirs = await call(app.other.apiKey, 'GET', '/v3/sessions/');
  assert.ok(!theirs.text.includes(s.session_id));
});
