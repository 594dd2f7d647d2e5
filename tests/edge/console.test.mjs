// The operator API (the console's server side) under attack, against the real worker in
// wrangler dev: the one-time first-admin link, sign-in and lock-out, the cookie and its CSRF
// token, roles per application, another application's reviewer, keys shown once and revoked,
// a huge comment, and the isolate's memory after argon2 ran beside the models.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { consoleClient } from './console_client.mjs';
import { captureBurst, createSession, dataDir, spawnApp, webhookReceiver } from './harness.mjs';

const RECEIVER_MS = 250;
let app;
let hooks;
before(async () => {
  // A receiver that takes its time, so the latency the sender records can be checked.
  hooks = await webhookReceiver({ delayMs: RECEIVER_MS });
  app = await spawnApp({ webhookUrl: hooks.url });
});
after(async () => {
  await app?.stop();
  await hooks?.close();
});

const PASSWORD = 'a long enough console password';
const api = (path) => `${app.origin}/console/api${path}`;

const client = () => consoleClient(app.origin);

const platform = (method, path, body) =>
  fetch(api(path), { method, headers: { authorization: `Bearer ${app.operatorToken}`, 'content-type': 'application/json' }, body: body && JSON.stringify(body) }).then(async (r) => ({ status: r.status, body: await r.json().catch(() => null) }));

const tokenOf = (url) => new URL(url, app.origin).hash.replace('#setup=', '');

let admin;

test('the first admin comes from a one-time link that works once', async () => {
  assert.ok(app.consoleSetupUrl, 'npm run dev printed a first-admin link');
  // Without the operator token nobody can ask for another.
  assert.equal((await fetch(`${app.origin}/internal/console-bootstrap/`, { method: 'POST' })).status, 403);
  admin = client();
  const token = tokenOf(app.consoleSetupUrl);
  const weak = await admin.call('POST', '/setup/', { token, name: 'Ada', email: 'ada@example.com', password: 'short' });
  assert.equal(weak.status, 400);
  assert.ok(weak.body.password);
  const r = await admin.call('POST', '/setup/', { token, name: 'Ada', email: 'ada@example.com', password: PASSWORD });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.operator.platform_admin, true);
  for (const attr of ['HttpOnly', 'Secure', 'SameSite=Strict', 'Path=/console']) assert.ok(admin.setCookie.includes(attr), admin.setCookie);
  // Replayed (another tab, a leaked link): refused.
  const again = await client().call('POST', '/setup/', { token, name: 'Eve', email: 'eve@example.com', password: PASSWORD });
  assert.equal(again.status, 404);
  assert.equal((await fetch(`${app.origin}/internal/console-bootstrap/`, { method: 'POST', headers: { authorization: `Bearer ${app.operatorToken}` } })).status, 409);
  const me = await admin.call('GET', '/me/');
  assert.equal(me.status, 200);
  assert.ok(me.body.applications.some((a) => a.name === 'Development' && a.role === 'admin'));
});

test('writes need the CSRF token; a request from another origin is refused; sign-out ends the session', async () => {
  const noToken = await admin.call('POST', '/applications/', { name: 'Sneaky' }, { csrf: false });
  assert.equal(noToken.status, 403);
  const forged = await admin.call('POST', '/applications/', { name: 'Sneaky' }, { csrf: false, headers: { 'x-csrf-token': 'forged' } });
  assert.equal(forged.status, 403);
  const crossSite = await admin.call('POST', '/applications/', { name: 'Sneaky' }, { headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' } });
  assert.equal(crossSite.status, 403);
  // No cookie at all, and a made-up cookie: 401, never another operator's session.
  assert.equal((await client().call('GET', '/me/')).status, 401);
  const guess = client();
  guess.cookie = 'fg_console=AAAAAAAAAAAAAAAAAAAAAA';
  assert.equal((await guess.call('GET', '/me/')).status, 401);
  // Login CSRF: another site's form cannot sign this browser in to the attacker's account.
  const fromElsewhere = await client().call('POST', '/login/', { email: 'ada@example.com', password: PASSWORD }, { headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' } });
  assert.equal(fromElsewhere.status, 403);
  assert.equal(fromElsewhere.headers.get('set-cookie'), null);
  // A second sign-in, then its sign-out: that copy of the cookie stops working.
  const tab = client();
  assert.equal((await tab.call('POST', '/login/', { email: 'ADA@example.com ', password: PASSWORD })).status, 200);
  const stolen = tab.cookie;
  assert.equal((await tab.call('POST', '/logout/')).status, 204);
  const replay = client();
  replay.cookie = stolen;
  assert.equal((await replay.call('GET', '/me/')).status, 401);
  assert.equal((await admin.call('GET', '/me/')).status, 200, 'the other session is untouched');
});

test('an application and keys from the console work with the API; a revoked key does not', async () => {
  const made = await admin.call('POST', '/applications/', { name: 'Shop' });
  assert.equal(made.status, 201, made.text);
  const list = (key) => fetch(`${app.baseUrl}/sessions/`, { headers: { 'x-api-key': key } }).then((r) => r.status);
  assert.equal(await list(made.body.api_key), 200);
  const second = await admin.call('POST', `/applications/${made.body.id}/keys/`);
  assert.equal(second.status, 201);
  const keys = await admin.call('GET', `/applications/${made.body.id}/keys/`);
  assert.equal(keys.body.results.length, 2);
  assert.ok(!JSON.stringify(keys.body).includes(made.body.api_key), 'a key is shown once, never listed');
  assert.equal((await admin.call('DELETE', `/applications/${made.body.id}/keys/${made.body.key_id}/`)).status, 204);
  assert.equal(await list(made.body.api_key), 401);
  assert.equal(await list(second.body.api_key), 200);
  // A session created with the new key can be made on its default workflow.
  const wf = made.body.workflows.find((w) => w.type === 'biometric_authentication');
  const s = await fetch(`${app.baseUrl}/session/`, { method: 'POST', headers: { 'x-api-key': second.body.api_key, 'content-type': 'application/json' }, body: JSON.stringify({ workflow_id: wf.id, vendor_data: 'shop-user', portrait_image: readFileSync(join(dataDir, 'video/enroll_portrait_apfol_s1_t9.5s.jpg')).toString('base64') }) });
  assert.equal(s.status, 201, await s.text());
  app.shop = made.body;
  // The audit log says who did each of these, newest first.
  const audit = await admin.call('GET', `/applications/${made.body.id}/audit/`);
  assert.deepEqual(audit.body.results.map((r) => r.activity_type), ['API_KEY_REVOKED', 'API_KEY_CREATED', 'APPLICATION_CREATED']);
  assert.ok(audit.body.results.every((r) => r.actor_type === 'CONSOLE_USER' && r.actor_email === 'ada@example.com'));
});

test('usage per day and month with its cost, and as CSV', async () => {
  // The application made above, with its one session.
  const dev = app.shop;
  const u = await admin.call('GET', `/applications/${dev.id}/usage/`);
  assert.equal(u.status, 200);
  assert.equal(u.body.months.length, 12);
  assert.equal(u.body.pricing.free_per_month, 500);
  const thisMonth = u.body.months.at(-1);
  assert.equal(thisMonth.sessions, 1, JSON.stringify(thisMonth));
  assert.equal(thisMonth.sessions, u.body.days.filter((d) => d.date.startsWith(thisMonth.month)).reduce((n, d) => n + d.sessions, 0));
  const csv = await fetch(api(`/applications/${dev.id}/usage.csv`), { headers: { cookie: admin.cookie } });
  assert.equal(csv.status, 200);
  assert.match(csv.headers.get('content-type'), /^text\/csv/);
  assert.match(csv.headers.get('content-disposition'), /attachment/);
  const lines = (await csv.text()).trim().split('\n');
  assert.match(lines[0], /^date,sessions,billable,/);
  assert.equal(lines.length, u.body.days.length + 1);
});

test('a reviewer decides a session in review; cannot touch keys or other applications; a huge comment is refused', async () => {
  const dev = (await admin.call('GET', '/me/')).body.applications.find((a) => a.name === 'Development');
  const invite = await admin.call('POST', '/operators/', { email: 'rev@example.com', name: 'Rev', application_id: dev.id, role: 'reviewer' });
  assert.equal(invite.status, 201, invite.text);
  const rev = client();
  assert.equal((await rev.call('POST', '/setup/', { token: tokenOf(invite.body.setup_url), password: PASSWORD })).status, 200);
  // A workflow whose every match goes to review (review threshold above any score).
  const wf = await fetch(`${app.baseUrl}/workflows/`, {
    method: 'POST',
    headers: { 'x-api-key': app.apiKey, 'content-type': 'application/json' },
    body: JSON.stringify({ workflow_label: 'console review', features: [{ feature: 'LIVENESS' }, { feature: 'FACE_MATCH', config: { face_match_score_decline_threshold: 10, face_match_score_review_threshold: 100 } }] }),
  }).then((r) => r.json());
  const s = await createSession(app, { workflow_id: wf.workflow_id, vendor_data: 'console-rev', portrait_image: readFileSync(join(dataDir, 'video/enroll_portrait_apfol_s1_t9.5s.jpg')).toString('base64') });
  const captured = await captureBurst(app, s.session_token);
  assert.equal(captured.body.status, 'In Review', JSON.stringify(captured));

  const queue = await rev.call('GET', `/applications/${dev.id}/queue/`);
  assert.equal(queue.status, 200);
  const item = queue.body.results.find((e) => e.session_id === s.session_id);
  assert.ok(item, 'the session is in the queue');
  assert.equal(item.face_match.review_threshold, 100);
  assert.ok(item.face_match.score > 10 && item.face_match.score <= 100);

  // Assign to me: the reviewer takes it; someone else trying is told who has it.
  const took = await rev.call('POST', `/applications/${dev.id}/sessions/${s.session_id}/assign/`, { assign: true });
  assert.equal(took.status, 200, took.text);
  assert.equal(took.body.assigned_to.name, 'Rev');
  const race = await admin.call('POST', `/applications/${dev.id}/sessions/${s.session_id}/assign/`, { assign: true });
  assert.deepEqual([race.status, race.body.detail], [409, 'Rev is reviewing this session.']);
  const huge = await rev.call('POST', `/applications/${dev.id}/sessions/${s.session_id}/reviews/`, { new_status: 'Approved', comment: 'x'.repeat(10_001) });
  assert.equal(huge.status, 400);
  const decided = await rev.call('POST', `/applications/${dev.id}/sessions/${s.session_id}/reviews/`, { new_status: 'Approved', comment: 'Same person, glasses' });
  assert.equal(decided.status, 201, decided.text);
  assert.equal(decided.body.user, 'Rev');
  await hooks.waitFor((b) => b.session_id === s.session_id && b.status === 'Approved');
  const reviews = await fetch(`${app.baseUrl}/sessions/${s.session_id}/reviews/`, { headers: { 'x-api-key': app.apiKey } }).then((r) => r.json());
  assert.equal(reviews.results[0].actor_type, 'CONSOLE_USER');
  assert.equal(reviews.results[0].actor_email, 'rev@example.com');
  const detail = await rev.call('GET', `/applications/${dev.id}/sessions/${s.session_id}/`);
  assert.ok(detail.body.timeline.some((t) => t.kind === 'review' && t.text.includes('Rev')));
  app.reviewed = { dev: dev.id, id: s.session_id };
  const pdf = await rev.call('GET', `/applications/${dev.id}/sessions/${s.session_id}/pdf/`);
  assert.equal(pdf.status, 200);
  assert.ok(pdf.text.startsWith('%PDF'));

  // Keys and destinations are an admin's; invitations too (no self-promotion).
  assert.equal((await rev.call('POST', `/applications/${dev.id}/keys/`)).status, 403);
  assert.equal((await rev.call('GET', `/applications/${dev.id}/keys/`)).status, 403);
  assert.equal((await rev.call('POST', `/applications/${dev.id}/destinations/`, { url: 'https://example.com/hook' })).status, 403);
  assert.equal((await rev.call('POST', '/operators/', { email: 'rev@example.com', name: 'Rev', application_id: dev.id, role: 'admin' })).status, 403);
  assert.equal((await rev.call('POST', '/applications/', { name: 'Mine' })).status, 403);
  // Another application (the one made above, and the other tenant): as if it did not exist.
  for (const other of [app.shop.id, 'does-not-exist']) {
    assert.equal((await rev.call('GET', `/applications/${other}/queue/`)).status, 404);
    assert.equal((await rev.call('GET', `/applications/${other}/sessions/${s.session_id}/`)).status, 404);
  }
  // The reviewer's own application, another application's session id: 404.
  assert.equal((await rev.call('GET', `/applications/${dev.id}/sessions/00000000-0000-4000-8000-000000000000/`)).status, 404);
});

test('settings: images kept only when asked, shown to reviewers; origins that could break a CSP refused; admins only', async () => {
  const shop = app.shop;
  const bad = await admin.call('PATCH', `/applications/${shop.id}/settings/`, { allowed_origins: ["https://shop.example; script-src *"] });
  assert.equal(bad.status, 400);
  const set = await admin.call('PATCH', `/applications/${shop.id}/settings/`, { retain_images: true, retention_days: 30, allowed_origins: ['https://shop.example'] });
  assert.equal(set.status, 200, set.text);
  assert.deepEqual([set.body.retain_images, set.body.retention_days, set.body.allowed_origins], [true, 30, ['https://shop.example']]);
  const key = (await admin.call('POST', `/applications/${shop.id}/keys/`)).body.api_key;
  const wf = shop.workflows.find((w) => w.type === 'biometric_authentication');
  const s = await createSession({ ...app, apiKey: key }, { workflow_id: wf.id, vendor_data: 'shop-img', portrait_image: readFileSync(join(dataDir, 'video/enroll_portrait_apfol_s1_t9.5s.jpg')).toString('base64') });
  const captured = await captureBurst(app, s.session_token);
  assert.equal(captured.status, 200, JSON.stringify(captured.body));
  const detail = await admin.call('GET', `/applications/${shop.id}/sessions/${s.session_id}/`);
  assert.match(detail.body.images.captured, /^data:image\/jpeg;base64,/);
  // The API never shows it: images are for the console's reviewers only.
  const decision = await fetch(`${app.baseUrl}/session/${s.session_id}/decision/`, { headers: { 'x-api-key': key } }).then((r) => r.text());
  assert.ok(!decision.includes('data:image/jpeg'));
  // A reviewer of another application cannot change this one's settings; nobody without a role can read them.
  const rev = client();
  const invite = await admin.call('POST', '/operators/', { email: 'shoprev@example.com', name: 'Shop Rev', application_id: shop.id, role: 'reviewer' });
  assert.equal((await rev.call('POST', '/setup/', { token: tokenOf(invite.body.setup_url), password: PASSWORD })).status, 200);
  assert.equal((await rev.call('PATCH', `/applications/${shop.id}/settings/`, { retain_images: false })).status, 403);
  const dev = (await admin.call('GET', '/me/')).body.applications.find((a) => a.name === 'Development');
  assert.equal((await rev.call('GET', `/applications/${dev.id}/settings/`)).status, 404);
  assert.equal((await admin.call('PATCH', `/applications/${shop.id}/settings/`, { retain_images: false })).status, 200);
});

test('workflows: every role reads them with the measured figures; only its admin makes a new version; begun sessions keep theirs', async () => {
  const shop = app.shop;
  const wf = shop.workflows.find((w) => w.type === 'biometric_authentication');
  const path = `/applications/${shop.id}/workflows/${wf.id}/`;
  // The curves the editor follows: 101 whole steps, FMR 0.10 % at the shipped 70.
  const curves = await admin.call('GET', '/error-rates/');
  assert.equal(curves.status, 200);
  assert.equal(curves.body.face_match.fmr.length, 101);
  assert.equal(curves.body.face_match.impostor, 1040);
  assert.equal((curves.body.face_match.fmr[70] * 100).toFixed(2), '0.10');
  assert.equal((curves.body.liveness.groups.all.apcer[50] * 100).toFixed(1), '22.7');
  const list = await admin.call('GET', `/applications/${shop.id}/workflows/`);
  assert.equal(list.status, 200, list.text);
  const listed = list.body.results.find((w) => w.workflow_id === wf.id);
  assert.equal(listed.version, 1);
  assert.match(listed.error_rates.face_match.text, /Approved above 70: FMR 0\.10 % \(of 1,040 impostor pairs\)/);

  const key = (await admin.call('POST', `/applications/${shop.id}/keys/`)).body.api_key;
  const portrait = readFileSync(join(dataDir, 'video/enroll_portrait_apfol_s1_t9.5s.jpg')).toString('base64');
  const begun = await createSession({ ...app, apiKey: key }, { workflow_id: wf.id, vendor_data: 'wf-begun', portrait_image: portrait });

  // A reviewer of this application reads, cannot write; an admin of another application gets 404.
  const rev = client();
  const invite = await admin.call('POST', '/operators/', { email: 'wfrev@example.com', name: 'Wf Rev', application_id: shop.id, role: 'reviewer' });
  assert.equal((await rev.call('POST', '/setup/', { token: tokenOf(invite.body.setup_url), password: PASSWORD })).status, 200);
  assert.equal((await rev.call('GET', path)).status, 200);
  assert.equal((await rev.call('PATCH', path, { face_match_score_review_threshold: 99 })).status, 403);
  assert.equal((await rev.call('POST', `/applications/${shop.id}/workflows/`, { workflow_label: 'mine' })).status, 403);
  const dev = (await admin.call('GET', '/me/')).body.applications.find((a) => a.name === 'Development');
  const other = client();
  const otherInvite = await admin.call('POST', '/operators/', { email: 'devadmin@example.com', name: 'Dev Admin', application_id: dev.id, role: 'admin' });
  assert.equal((await other.call('POST', '/setup/', { token: tokenOf(otherInvite.body.setup_url), password: PASSWORD })).status, 200);
  assert.equal((await other.call('GET', `/applications/${shop.id}/workflows/`)).status, 404);
  assert.equal((await other.call('PATCH', path, { face_match_score_review_threshold: 10 })).status, 404);
  // Its own application's path with this application's workflow id: not found either.
  assert.equal((await other.call('PATCH', `/applications/${dev.id}/workflows/${wf.id}/`, { face_match_score_review_threshold: 10 })).status, 404);

  // Attacks on the admin's own write: no CSRF token, malformed and oversized bodies.
  assert.equal((await admin.call('PATCH', path, { face_match_score_review_threshold: 10 }, { csrf: false })).status, 403);
  assert.equal((await admin.call('PATCH', path, '{"face_match_score_review_threshold": ')).status, 400);
  assert.equal((await admin.call('PATCH', path, [1, 2])).status, 400);
  assert.equal((await admin.call('PATCH', path, { workflow_label: 'x'.repeat(70_000) })).status, 413);
  // Thresholds the API refuses, by field.
  const inverted = await admin.call('PATCH', path, { face_match_score_decline_threshold: 80, face_match_score_review_threshold: 60 });
  assert.equal(inverted.status, 400);
  assert.match(inverted.body.face_match_score_review_threshold[0], /must not be above/);
  const outOfRange = await admin.call('PATCH', path, { face_liveness_score_decline_threshold: 150, face_liveness_method: 'BLINK' });
  assert.equal(outOfRange.status, 400);
  assert.ok(outOfRange.body.face_liveness_score_decline_threshold && outOfRange.body.face_liveness_method, outOfRange.text);

  // The admin's edit: a new version, with the figures at the new value.
  const edited = await admin.call('PATCH', path, { face_match_score_review_threshold: 75 });
  assert.equal(edited.status, 200, edited.text);
  assert.equal(edited.body.version, 2);
  assert.match(edited.body.error_rates.face_match.text, /^Approved above 75: FMR/);
  const viaApi = await fetch(`${app.baseUrl}/workflows/${wf.id}/`, { headers: { 'x-api-key': key } }).then((r) => r.json());
  assert.deepEqual([viaApi.version, viaApi.face_match_score_review_threshold], [2, 75]);
  const fresh = await createSession({ ...app, apiKey: key }, { workflow_id: wf.id, vendor_data: 'wf-fresh', portrait_image: portrait });
  const versionOf = async (id) => (await admin.call('GET', `/applications/${shop.id}/sessions/${id}/`)).body.workflow.version;
  assert.equal(await versionOf(begun.session_id), 1, 'a session begun before keeps its version');
  assert.equal(await versionOf(fresh.session_id), 2);
  const audit = await admin.call('GET', `/applications/${shop.id}/audit/`);
  const row = audit.body.results.find((r) => r.activity_type === 'WORKFLOW_CHANGED');
  assert.ok(row, JSON.stringify(audit.body.results.map((r) => r.activity_type)));
  assert.equal(row.actor_email, 'ada@example.com');
  assert.match(row.comment, /version 2: face_match_score_review_threshold = 75/);
});

test('each webhook send is timed where the worker sends it; the timeline shows latency_ms', async () => {
  const { dev, id } = app.reviewed;
  const deadline = Date.now() + 20_000;
  let sent;
  for (;;) {
    const detail = await admin.call('GET', `/applications/${dev}/sessions/${id}/`);
    assert.equal(detail.status, 200, detail.text);
    sent = detail.body.timeline.filter((t) => t.kind === 'webhook' && t.delivery.http_status === 200);
    if (sent.length >= 2) break;
    assert.ok(Date.now() < deadline, JSON.stringify(detail.body.timeline));
    await new Promise((r) => setTimeout(r, 200));
  }
  for (const t of sent) {
    const d = t.delivery;
    // The receiver answers after RECEIVER_MS: a measured duration, not a guess from the browser.
    assert.ok(Number.isInteger(d.latency_ms) && d.latency_ms >= RECEIVER_MS && d.latency_ms < 10_000, JSON.stringify(d));
    assert.equal(d.attempt_log.length, d.attempts, JSON.stringify(d));
    const last = d.attempt_log.at(-1);
    assert.deepEqual([last.attempt, last.http_status, last.latency_ms], [d.attempts, 200, d.latency_ms]);
  }
});

test('sign-in locks an account after five failures, and says for how long', async () => {
  const dev = (await admin.call('GET', '/me/')).body.applications.find((a) => a.name === 'Development');
  const invite = await admin.call('POST', '/operators/', { email: 'lock@example.com', name: 'Lock', application_id: dev.id, role: 'read_only' });
  assert.equal((await client().call('POST', '/setup/', { token: tokenOf(invite.body.setup_url), password: PASSWORD })).status, 200);
  // Five wrong guesses in parallel are all counted.
  const wrong = await Promise.all(Array.from({ length: 5 }, () => client().call('POST', '/login/', { email: 'lock@example.com', password: 'wrong password, wrong' })));
  assert.deepEqual(wrong.map((r) => r.status), [401, 401, 401, 401, 401]);
  const locked = await client().call('POST', '/login/', { email: 'lock@example.com', password: PASSWORD });
  assert.equal(locked.status, 429, locked.text);
  assert.ok(Number(locked.headers.get('retry-after')) > 800);
  // An unknown email answers like a wrong password.
  const unknown = await client().call('POST', '/login/', { email: 'nobody@example.com', password: PASSWORD });
  assert.deepEqual([unknown.status, unknown.body], [401, { detail: 'Email or password is wrong.' }]);
});

test('the console page is served with a strict CSP and never framed', async () => {
  const res = await fetch(`${app.origin}/console/`);
  assert.equal(res.status, 200);
  const csp = res.headers.get('content-security-policy') ?? '';
  assert.match(csp, /default-src 'self'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.equal(res.headers.get('x-frame-options'), 'DENY');
});

test('argon2 beside the models: the isolate stays inside its memory budget', async () => {
  // A capture (models loaded, the largest image path) and a sign-in in the same isolate.
  const s = await createSession(app, { workflow_id: app.workflows.biometric_authentication, vendor_data: 'mem-user', portrait_image: readFileSync(join(dataDir, 'video/enroll_portrait_apfol_s1_t9.5s.jpg')).toString('base64') });
  await captureBurst(app, s.session_token);
  const before = (await fetch(`${app.origin}/system/healthcheck`).then((r) => r.json())).wasm_memory_mb;
  for (let i = 0; i < 3; i++) assert.equal((await client().call('POST', '/login/', { email: 'ada@example.com', password: PASSWORD })).status, 200);
  const afterMb = (await fetch(`${app.origin}/system/healthcheck`).then((r) => r.json())).wasm_memory_mb;
  console.log(`# isolate wasm memory: ${before} MB after a capture, ${afterMb} MB after three argon2id sign-ins`);
  assert.ok(afterMb <= 104, `${afterMb} MB`);
});

test('roles: an admin changes and removes operators\' roles in their application, never the last admin; attacks refused', { timeout: 180_000 }, async () => {
  const team = await admin.call('POST', '/applications/', { name: 'Team' });
  assert.equal(team.status, 201, team.text);
  const t = team.body.id;
  const join = async (email, role, application = t) => {
    const inv = await admin.call('POST', '/operators/', { email, name: email.split('@')[0], application_id: application, role });
    assert.equal(inv.status, 201, inv.text);
    const c = client();
    // The earlier tests spent most of this client's sign-in budget (20 a minute): wait for it.
    for (;;) {
      const r = await c.call('POST', '/setup/', { token: tokenOf(inv.body.setup_url), password: PASSWORD });
      if (r.status !== 429) {
        assert.equal(r.status, 200, r.text);
        break;
      }
      await new Promise((done) => setTimeout(done, 1000 * Number(r.headers.get('retry-after') ?? 5)));
    }
    c.id = inv.body.operator.id;
    return c;
  };
  const boss = await join('boss@example.com', 'admin');
  const rev = await join('teamrev@example.com', 'reviewer');
  const reader = await join('teamro@example.com', 'read_only');
  const shopAdmin = await join('shopadmin@example.com', 'admin', app.shop.id);
  const member = (c) => `/applications/${t}/operators/${c.id}/`;

  const list = await boss.call('GET', `/applications/${t}/operators/`);
  assert.equal(list.status, 200, list.text);
  assert.deepEqual(list.body.results.map((o) => [o.email, o.role]).sort(), [['boss@example.com', 'admin'], ['teamrev@example.com', 'reviewer'], ['teamro@example.com', 'read_only']]);

  // Attacks: a reviewer, a reader, another application's admin, a write without the CSRF
  // token, a malformed body. Nothing changes.
  assert.equal((await rev.call('PATCH', member(reader), { role: 'admin' })).status, 403);
  assert.equal((await rev.call('PATCH', member(rev), { role: 'admin' })).status, 403, 'no self-promotion');
  assert.equal((await reader.call('DELETE', member(rev))).status, 403);
  assert.equal((await rev.call('GET', `/applications/${t}/operators/`)).status, 403);
  assert.equal((await shopAdmin.call('PATCH', member(reader), { role: 'admin' })).status, 404);
  assert.equal((await shopAdmin.call('DELETE', member(boss))).status, 404);
  assert.equal((await shopAdmin.call('GET', `/applications/${t}/operators/`)).status, 404);
  assert.equal((await boss.call('DELETE', `/applications/${app.shop.id}/operators/${shopAdmin.id}/`)).status, 404, 'not their application');
  assert.equal((await boss.call('PATCH', member(reader), { role: 'admin' }, { csrf: false })).status, 403);
  assert.equal((await boss.call('DELETE', member(reader), undefined, { csrf: false, headers: { 'x-csrf-token': 'forged' } })).status, 403);
  for (const body of ['not json', '{}', '{"role":"owner"}', '{"role":"admin","platform_admin":true}', '[]']) {
    const r = await boss.call('PATCH', member(reader), body);
    assert.equal(r.status, 400, `${body}: ${r.text}`);
  }
  assert.equal((await boss.call('PATCH', `/applications/${t}/operators/00000000-0000-4000-8000-000000000000/`, { role: 'reviewer' })).status, 404);
  const unchanged = await boss.call('GET', `/applications/${t}/operators/`);
  assert.deepEqual(unchanged.body.results, list.body.results);

  // The last admin stays: not by themselves, not by a platform admin.
  const last = await boss.call('DELETE', member(boss));
  assert.equal(last.status, 409, last.text);
  assert.match(last.body.detail, /last admin/);
  assert.equal((await boss.call('PATCH', member(boss), { role: 'reviewer' })).status, 409);
  assert.equal((await admin.call('DELETE', member(boss))).status, 409);

  // Changes: the reviewer becomes read-only, the reader is removed and loses access at once.
  const changed = await boss.call('PATCH', member(rev), { role: 'read_only' });
  assert.deepEqual([changed.status, changed.body.role], [200, 'read_only']);
  assert.equal((await rev.call('POST', `/applications/${t}/sessions/x/assign/`, { assign: true })).status, 403);
  assert.equal((await reader.call('GET', `/applications/${t}/queue/`)).status, 200);
  assert.equal((await boss.call('DELETE', member(reader))).status, 204);
  assert.equal((await reader.call('GET', `/applications/${t}/queue/`)).status, 404);
  assert.equal((await platform('DELETE', `/applications/${t}/operators/${reader.id}/`)).status, 404, 'already gone');

  // Two admins demoting each other at once: one wins, the application keeps an admin.
  assert.equal((await admin.call('PATCH', member(rev), { role: 'admin' })).status, 200, 'a platform admin may, anywhere');
  const race = await Promise.all([boss.call('PATCH', member(rev), { role: 'reviewer' }), rev.call('PATCH', member(boss), { role: 'reviewer' })]);
  // The loser is refused by the last-admin rule (409), or, when the winner landed before its
  // request was even authorized, as no longer an admin (403).
  const statuses = race.map((r) => r.status).sort();
  assert.ok(statuses[0] === 200 && [403, 409].includes(statuses[1]), race.map((r) => `${r.status} ${r.text}`).join(' | '));
  const after = await admin.call('GET', `/applications/${t}/operators/`);
  assert.equal(after.body.results.filter((o) => o.role === 'admin').length, 1, JSON.stringify(after.body));

  // The audit log names each change and who made it.
  const audit = await admin.call('GET', `/applications/${t}/audit/`);
  const roles = audit.body.results.filter((r) => r.activity_type.startsWith('OPERATOR_ROLE_'));
  assert.ok(roles.some((r) => r.activity_type === 'OPERATOR_ROLE_REMOVED' && r.comment.includes('teamro@example.com') && r.actor_email === 'boss@example.com'), JSON.stringify(roles));
  assert.ok(roles.some((r) => r.activity_type === 'OPERATOR_ROLE_CHANGED' && r.comment.includes('teamrev@example.com> is read_only (was reviewer)')), JSON.stringify(roles));
});
