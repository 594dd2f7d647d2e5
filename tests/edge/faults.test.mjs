// Storage faults and overlapping senders against the real worker and its local D1: a D1 error
// while a capture stores its decision answers 503 in the contract's shape and leaves none of
// the decision behind (no Approved status, no template, no webhook row); captures racing
// housekeeping runs deliver each event exactly once (outbox rows are claimed under a lease).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { burstForm, burstOf, createSession, spawnApp, webhookReceiver } from './harness.mjs';

let app;
let hooks;
before(async () => {
  hooks = await webhookReceiver();
  // The D1 adapter's development fault switch (off unless this var is exactly 1).
  process.env.FACEGATE_DEV_FAULTS = '1';
  // The development clock: the operator's housekeeping call may run as of a later time.
  process.env.FACEGATE_DEV_CLOCK = '1';
  app = await spawnApp({ webhookUrl: hooks.url });
});
after(async () => {
  await app?.stop();
  await hooks?.close();
});

const api = (path, init = {}) =>
  fetch(`${app.baseUrl}${path}`, { ...init, headers: { 'x-api-key': app.apiKey, 'content-type': 'application/json', ...init.headers } });

/** A passive capture as the hosted page sends it: a burst of 8 live webcam frames. */
async function capture(token, on = app) {
  return fetch(`${on.origin}/hosted/v1/${token}/capture`, { method: 'POST', body: burstForm(burstOf()) });
}

const housekeeping = (on = app, headers = {}) =>
  fetch(`${on.origin}/internal/housekeeping`, { method: 'POST', headers: { authorization: `Bearer ${on.operatorToken}`, ...headers } });

test('a D1 error while storing a decision answers 503 and writes none of it', { timeout: 240_000 }, async () => {
  const user = 'fault-user';
  // The marker makes the adapter append a failing statement to the decision's batch, after the
  // session update, the template and the outbox rows: D1 must roll all of them back.
  const s = await createSession(app, { workflow_id: app.workflows.kyc, vendor_data: user, metadata: { facegate_fault: 'decision' } });
  const res = await capture(s.session_token);
  assert.equal(res.status, 503);
  assert.equal(res.headers.get('retry-after'), '5');
  const body = await res.json();
  assert.deepEqual(Object.keys(body), ['detail']);
  assert.equal(typeof body.detail, 'string');

  const decision = await (await api(`/session/${s.session_id}/decision/`)).json();
  assert.equal(decision.status, 'In Progress', 'the decision was not stored');
  assert.deepEqual(decision.liveness_checks, []);
  const log = await (await api(`/session/${s.session_id}/webhooks/`)).json();
  // The log carries no payloads: the In Progress event of the page opening is the only row,
  // an Approved one would be a second.
  assert.equal(log.results.length, 1, JSON.stringify(log));
  // No template: a re-authentication for this user has no stored face.
  const bio = await api('/session/', { method: 'POST', body: JSON.stringify({ workflow_id: app.workflows.biometric_authentication, vendor_data: user }) });
  assert.equal(bio.status, 400, await bio.text());
  await new Promise((r) => setTimeout(r, 1000));
  assert.ok(
    !hooks.received.some((d) => {
      const b = JSON.parse(d.body);
      return b.session_id === s.session_id && b.status === 'Approved';
    }),
    'no webhook for a decision that was not stored',
  );
});

test('captures racing housekeeping runs deliver each event exactly once', { timeout: 240_000 }, async () => {
  const sessions = [];
  for (let i = 0; i < 6; i++) {
    sessions.push(await createSession(app, { workflow_id: app.workflows.kyc, vendor_data: `race-${i}` }));
  }
  // Every capture sends its own webhooks from wait_until while housekeeping runs, each of
  // which also sends whatever is due: without claims they would send the same rows.
  const runs = [];
  const captures = sessions.map(async (s) => {
    runs.push(housekeeping(), housekeeping());
    const r = await capture(s.session_token);
    assert.equal(r.status, 200);
    assert.equal((await r.json()).status, 'Approved');
    runs.push(housekeeping());
  });
  await Promise.all(captures);
  for (const r of await Promise.all(runs)) assert.equal(r.status, 200);
  for (const s of sessions) {
    await hooks.waitFor((b) => b.session_id === s.session_id && b.status === 'Approved', 30_000);
  }
  // Let any duplicate arrive before counting.
  await Promise.all([housekeeping(), housekeeping(), housekeeping()]);
  await new Promise((r) => setTimeout(r, 2000));
  const ids = new Set(sessions.map((s) => s.session_id));
  const perEvent = new Map();
  for (const d of hooks.received) {
    const b = JSON.parse(d.body);
    if (ids.has(b.session_id)) perEvent.set(b.event_id, (perEvent.get(b.event_id) ?? 0) + 1);
  }
  // In Progress and Approved for each session, each once.
  assert.equal(perEvent.size, sessions.length * 2, JSON.stringify([...perEvent]));
  for (const [event, n] of perEvent) assert.equal(n, 1, `event ${event} delivered ${n} times`);
});

test('concurrent webhook destination changes are all kept (none overwrites another)', async () => {
  const urls = Array.from({ length: 8 }, (_, i) => `https://hooks-${i}.example.com/hook`);
  const created = await Promise.all(
    urls.map((url) => api('/webhook/destinations/', { method: 'POST', body: JSON.stringify({ url, label: url }) })),
  );
  for (const r of created) assert.equal(r.status, 201);
  const ids = await Promise.all(created.map(async (r) => (await r.json()).uuid));
  const listed = await (await api('/webhook/destinations/')).json();
  for (const id of ids) assert.ok(listed.results.some((d) => d.uuid === id), `destination ${id} was lost`);
  // Updates and deletes racing each other: every delete lands, every surviving update too.
  const [keep, ...drop] = ids;
  const changes = await Promise.all([
    api(`/webhook/destinations/${keep}/`, { method: 'PATCH', body: JSON.stringify({ enabled: false }) }),
    ...drop.map((id) => api(`/webhook/destinations/${id}/`, { method: 'DELETE' })),
  ]);
  assert.deepEqual(changes.map((r) => r.status), [200, ...drop.map(() => 204)]);
  const after = (await (await api('/webhook/destinations/')).json()).results;
  assert.ok(!after.some((d) => drop.includes(d.uuid)), 'a deleted destination came back');
  assert.equal(after.find((d) => d.uuid === keep)?.enabled, false);
  assert.equal((await api(`/webhook/destinations/${keep}/`, { method: 'DELETE' })).status, 204);
});

test('workerd killed mid-capture and restarted: no decision without its webhook row and template, no lost webhook', { timeout: 600_000 }, async (t) => {
  const receiver = await webhookReceiver();
  let svc = await spawnApp({ webhookUrl: receiver.url });
  const { port, state } = svc;
  const on = (path, init = {}) => fetch(`${svc.baseUrl}${path}`, { ...init, headers: { 'x-api-key': svc.apiKey, 'content-type': 'application/json', ...init.headers } });
  const outcomes = [];
  try {
    // Each restart is a cold isolate: a first capture loads the models, then a timed one says
    // how long a warm capture takes here, and the kill lands at a fraction of that (before,
    // between and after the decision's writes).
    const killed = [];
    for (const [i, fraction] of [0.05, 0.3, 0.55, 0.8, 0.95, 1.2].entries()) {
      let warmMs = 0;
      for (const phase of ['cold', 'warm']) {
        const w = await createSession(svc, { workflow_id: svc.workflows.kyc, vendor_data: `crash-${phase}-${i}` });
        const t0 = performance.now();
        assert.equal((await capture(w.session_token, svc)).status, 200);
        warmMs = performance.now() - t0;
      }
      const user = `crash-${i}`;
      const delay = Math.round(fraction * warmMs);
      const s = await createSession(svc, { workflow_id: svc.workflows.kyc, vendor_data: user });
      const pending = capture(s.session_token, svc).then((r) => r.status, () => 'killed');
      await new Promise((r) => setTimeout(r, delay));
      await svc.kill();
      killed.push({ s, user, answer: `${await pending} at ${delay} ms` });
      svc = await spawnApp({ webhookUrl: receiver.url, port, state });
    }
    // Past every lease a dead isolate held: whatever was committed is sent now.
    const later = Math.floor(Date.now() / 1000) + 600;
    for (let i = 0; i < 3; i++) assert.equal((await housekeeping(svc, { 'x-facegate-dev-now': String(later + i) })).status, 200);
    for (const { s, user, answer } of killed) {
      const decision = await (await on(`/session/${s.session_id}/decision/`)).json();
      const events = (await (await on(`/session/${s.session_id}/webhooks/`)).json()).results;
      const reauth = await on('/session/', { method: 'POST', body: JSON.stringify({ workflow_id: svc.workflows.biometric_authentication, vendor_data: user }) });
      const approvedHook = () => receiver.received.some((d) => {
        const b = JSON.parse(d.body);
        return b.session_id === s.session_id && b.status === 'Approved';
      });
      outcomes.push(`${user}: ${answer} → ${decision.status}`);
      if (decision.status === 'Approved') {
        assert.equal(events.length, 2, `${user}: the Approved decision has its outbox row`);
        assert.equal(reauth.status, 201, `${user}: the Approved kyc has its template`);
        await receiver.waitFor((b) => b.session_id === s.session_id && b.status === 'Approved', 15_000);
        assert.ok(events.every((e) => e.status === 'delivered'), `${user}: ${JSON.stringify(events)}`);
      } else {
        assert.ok(events.length <= 1, `${user}: no Approved row without the decision`);
        assert.equal(reauth.status, 400, `${user}: no template without its session's decision`);
        assert.ok(!approvedHook(), `${user}: no webhook for a decision that was not stored`);
      }
    }
    t.diagnostic(outcomes.join('; '));
  } finally {
    await svc.stop();
    await receiver.close();
  }
});
