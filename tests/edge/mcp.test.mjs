// Didit's own MCP server (npm @didit-protocol/mcp-server 4.0.0, pinned in package.json), unchanged,
// pointed at the real service by DIDIT_API_BASE_URL and driven over stdio JSON-RPC 2.0 as an
// agent host would: initialize → notifications/initialized → tools/list → tools/call.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { createHmac } from 'node:crypto';

import { burstOf, captureBurst, dataDir, root, spawnApp, webhookReceiver } from './harness.mjs';

const packageDir = join(root, 'node_modules', '@didit-protocol', 'mcp-server');
const ENROL = 'video/enroll_portrait_apfol_s1_t9.5s.jpg';
const LIVE = 'liveness/frames/apfol_s1/live_003.jpg';
const SPOOF = 'liveness/frames/apfol_s1/spoof_005.jpg';

/** A minimal MCP host: one child process, newline-delimited JSON-RPC on its stdin/stdout. */
function startMcp(env) {
  const bin = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')).bin['didit-mcp-server'];
  const child = spawn(process.execPath, [join(packageDir, bin)], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const pending = new Map();
  let buffer = '';
  child.stdout.on('data', (chunk) => {
    buffer += chunk;
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
      if (!line) continue;
      const msg = JSON.parse(line);
      if (msg.id !== undefined && pending.has(msg.id)) {
        pending.get(msg.id)(msg);
        pending.delete(msg.id);
      }
    }
  });
  let nextId = 1;
  const send = (msg) => child.stdin.write(`${JSON.stringify(msg)}\n`);
  return {
    stderr: () => stderr,
    notify(method, params) {
      send({ jsonrpc: '2.0', method, ...(params ? { params } : {}) });
    },
    request(method, params, timeoutMs = 60_000) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`no answer to ${method} within ${timeoutMs} ms; stderr:\n${stderr}`));
        }, timeoutMs);
        pending.set(id, (msg) => {
          clearTimeout(timer);
          resolve(msg);
        });
        send({ jsonrpc: '2.0', id, method, ...(params ? { params } : {}) });
      });
    },
    async stop() {
      child.stdin.end();
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
    },
  };
}

let app;
let mcp;
let initResult;
let hooks;

before(async () => {
  // The reviews' status.updated events go to a local receiver (the destination dev.mjs makes).
  hooks = await webhookReceiver();
  app = await spawnApp({ webhookUrl: hooks.url });
  // The package concatenates base + path, so the base must not end in '/' (contract §1.1, §5).
  assert.ok(!app.baseUrl.endsWith('/'), app.baseUrl);
  mcp = startMcp({ DIDIT_API_KEY: app.apiKey, DIDIT_API_BASE_URL: app.baseUrl });
  const init = await mcp.request('initialize', {
    protocolVersion: '2025-06-18',
    capabilities: {},
    clientInfo: { name: 'facegate-tests', version: '0.1.0' },
  });
  assert.equal(init.jsonrpc, '2.0');
  assert.equal(init.error, undefined, JSON.stringify(init.error));
  initResult = init.result;
  mcp.notify('notifications/initialized');
});

after(async () => {
  await mcp?.stop();
  await app?.stop();
  await hooks?.close();
});

/** tools/call; returns the parsed JSON the tool printed, after checking it is not a tool error. */
async function call(name, args) {
  const res = await mcp.request('tools/call', { name, arguments: args });
  assert.equal(res.error, undefined, `${name}: JSON-RPC error ${JSON.stringify(res.error)}`);
  const { result } = res;
  assert.notEqual(result.isError, true, `${name} failed: ${result.content?.[0]?.text}`);
  assert.equal(result.content.length, 1);
  assert.equal(result.content[0].type, 'text');
  return JSON.parse(result.content[0].text);
}

/** tools/call that must come back as a tool error; returns its text. */
async function callFails(name, args) {
  const res = await mcp.request('tools/call', { name, arguments: args });
  assert.equal(res.error, undefined, JSON.stringify(res.error));
  assert.equal(res.result.isError, true, `${name} unexpectedly succeeded: ${res.result.content?.[0]?.text}`);
  return res.result.content[0].text;
}

/** A passive capture as the hosted page sends it: 8 frames of the live webcam clip (its person
 * is the one in ENROL) from frame `start`. */
async function capture(sessionToken, start = 0) {
  const { status, body } = await captureBurst(app, sessionToken, burstOf(undefined, start));
  assert.equal(status, 200, JSON.stringify(body));
  return body;
}

async function devJson() {
  const port = new URL(app.origin).port;
  return JSON.parse(readFileSync(join(root, '.facegate', `dev-${port}.json`), 'utf8'));
}

test('initialize answers with the server identity and a tools capability', () => {
  assert.equal(typeof initResult.protocolVersion, 'string');
  assert.ok(initResult.capabilities.tools, JSON.stringify(initResult.capabilities));
  assert.equal(typeof initResult.serverInfo.name, 'string');
  assert.equal(initResult.serverInfo.version, '4.0.0');
});

test('tools/list has the 82 tools of Appendix A, with the session tools and their schemas', async () => {
  const res = await mcp.request('tools/list', {});
  assert.equal(res.error, undefined);
  const tools = new Map(res.result.tools.map((t) => [t.name, t]));
  assert.equal(tools.size, 82);
  for (const name of [
    'didit_create_session',
    'didit_get_session_decision',
    'didit_list_sessions',
    'didit_update_session_status',
    'didit_delete_session',
    'didit_generate_session_pdf',
    'didit_passive_liveness',
    'didit_face_match',
  ]) {
    assert.ok(tools.has(name), name);
  }
  assert.deepEqual(tools.get('didit_create_session').inputSchema.required, ['workflow_id']);
  assert.equal(tools.get('didit_list_sessions').inputSchema.properties.limit.type, 'string');
});

test('create session, get its decision, find it in the list: real results from the service', async () => {
  const dev = await devJson();
  const vendor = `mcp-user-${Date.now()}`;
  const created = await call('didit_create_session', {
    workflow_id: dev.workflows.kyc,
    vendor_data: vendor,
    callback: 'https://example.com/done',
    metadata: { source: 'mcp' },
    language: 'en',
  });
  assert.match(created.session_id, /^[0-9a-f-]{36}$/);
  assert.equal(created.status, 'Not Started');
  assert.equal(created.vendor_data, vendor);
  assert.equal(created.workflow_id, dev.workflows.kyc);
  assert.deepEqual(created.metadata, { source: 'mcp' });
  assert.equal(created.callback, 'https://example.com/done');
  assert.equal(typeof created.session_number, 'number');
  assert.equal(typeof created.session_token, 'string');
  assert.equal(typeof created.url, 'string');

  // The same session, read back over plain HTTP with the key: the tool did create it.
  const direct = await fetch(`${app.baseUrl}/session/${created.session_id}/decision/`, {
    headers: { 'x-api-key': app.apiKey },
  });
  assert.equal(direct.status, 200);

  const decision = await call('didit_get_session_decision', { session_id: created.session_id });
  assert.equal(decision.session_id, created.session_id);
  assert.equal(decision.status, 'Not Started');
  assert.equal(decision.vendor_data, vendor);
  assert.deepEqual(decision.features, ['LIVENESS']);
  assert.deepEqual(decision.metadata, { source: 'mcp' });

  // The MCP sends limit/offset as strings (contract §3.6).
  const list = await call('didit_list_sessions', { limit: '50', offset: '0' });
  assert.equal(typeof list.count, 'number');
  assert.ok(Array.isArray(list.results));
  const row = list.results.find((r) => r.session_id === created.session_id);
  assert.ok(row, `created session ${created.session_id} not in ${JSON.stringify(list.results.map((r) => r.session_id))}`);
  assert.equal(row.status, 'Not Started');
  assert.equal(row.vendor_data, vendor);

  const filtered = await call('didit_list_sessions', { vendor_data: vendor, status: 'Not Started', limit: '10' });
  assert.equal(filtered.count, 1);
  assert.deepEqual(filtered.results.map((r) => r.session_id), [created.session_id]);
  const none = await call('didit_list_sessions', { vendor_data: vendor, status: 'Approved' });
  assert.equal(none.count, 0);
  assert.deepEqual(none.results, []);
});

test('list pagination with string limit/offset is consistent', async () => {
  const dev = await devJson();
  const vendor = `mcp-page-${Date.now()}`;
  // Distinct vendor_data per session: Didit reuses an unfinished session for the same one.
  const ids = [];
  for (let i = 0; i < 3; i++) {
    ids.push((await call('didit_create_session', { workflow_id: dev.workflows.kyc, vendor_data: `${vendor}-${i}` })).session_id);
  }
  const seen = [];
  let offset = 0;
  let count;
  for (let guard = 0; guard < 50; guard++) {
    const pageOffset = offset;
    const page = await call('didit_list_sessions', { workflow_id: dev.workflows.kyc, limit: '2', offset: String(offset) });
    count ??= page.count;
    assert.equal(page.count, count);
    assert.ok(page.results.length <= 2);
    seen.push(...page.results.map((r) => r.session_id));
    offset += page.results.length;
    assert.equal(page.previous === null, pageOffset === 0, `previous at offset ${pageOffset}: ${page.previous}`);
    if (!page.next) break;
    assert.ok(page.results.length > 0, 'a page with next must not be empty');
  }
  assert.equal(seen.length, count);
  assert.equal(new Set(seen).size, seen.length, 'no session repeats across pages');
  for (const id of ids) assert.ok(seen.includes(id), id);
  // Newest first.
  assert.deepEqual(seen.slice(0, 3), [...ids].reverse());
});

test('a hosted capture decides the session; update-status and delete work through the tools', async () => {
  const dev = await devJson();
  const vendor = `mcp-flow-${Date.now()}`;
  const kyc = await call('didit_create_session', { workflow_id: dev.workflows.kyc, vendor_data: vendor });
  const captured = await capture(kyc.session_token, 0);
  assert.equal(captured.status, 'Approved', JSON.stringify(captured));

  const portrait = readFileSync(join(dataDir, ENROL)).toString('base64');
  const bio = await call('didit_create_session', {
    workflow_id: dev.workflows.biometric_authentication,
    vendor_data: vendor,
    portrait_image: portrait,
  });
  const live = await capture(bio.session_token, 60);
  assert.equal(live.status, 'Approved', JSON.stringify(live));
  const decided = await call('didit_get_session_decision', { session_id: bio.session_id });
  assert.equal(decided.status, 'Approved');
  assert.deepEqual(decided.features, ['LIVENESS', 'FACE_MATCH']);
  assert.equal(decided.liveness_checks[0].status, 'Approved');
  assert.equal(decided.liveness_checks[0].method, 'PASSIVE');
  assert.equal(decided.face_matches[0].status, 'Approved');
  assert.equal(decided.face_matches[0].source_image_session_id, bio.session_id);

  const approvedRows = await call('didit_list_sessions', { vendor_data: vendor, status: 'Approved' });
  assert.deepEqual(new Set(approvedRows.results.map((r) => r.session_id)), new Set([kyc.session_id, bio.session_id]));

  // The MCP schema sends nodes_to_resubmit as plain node-id strings (contract §1.8).
  const updated = await call('didit_update_session_status', {
    session_id: bio.session_id,
    new_status: 'Resubmitted',
    nodes_to_resubmit: ['feature_liveness'],
    comment: 'please retake the selfie',
  });
  assert.equal(updated.session_id, bio.session_id);
  assert.equal((await call('didit_get_session_decision', { session_id: bio.session_id })).status, 'Resubmitted');

  // The tool calls generate-pdf without the trailing slash and, the body not being JSON,
  // hands it back as {"raw": text} (contract §1.10, §5).
  const pdf = await call('didit_generate_session_pdf', { session_id: kyc.session_id });
  assert.ok(typeof pdf.raw === 'string' && pdf.raw.startsWith('%PDF-'), JSON.stringify(pdf).slice(0, 200));

  const declined = await call('didit_update_session_status', { session_id: kyc.session_id, new_status: 'Declined' });
  assert.equal(declined.session_id, kyc.session_id);
  assert.equal((await call('didit_get_session_decision', { session_id: kyc.session_id })).status, 'Declined');

  // 204 becomes {"success": true}; afterwards the decision is a 404 tool error.
  assert.deepEqual(await call('didit_delete_session', { session_id: kyc.session_id }), { success: true });
  const gone = await callFails('didit_get_session_decision', { session_id: kyc.session_id });
  assert.match(gone, /Didit API 404 .* on GET \/session\/[0-9a-f-]+\/decision\//);
});

test('standalone passive liveness and face match through the tools (multipart from file paths)', async () => {
  const live = await call('didit_passive_liveness', { image_path: join(dataDir, ENROL) });
  assert.equal(live.liveness.status, 'Approved');
  const spoof = await call('didit_passive_liveness', { image_path: join(dataDir, SPOOF) });
  assert.equal(spoof.liveness.status, 'Declined');
  assert.ok(spoof.liveness.warnings.some((w) => w.risk === 'LOW_LIVENESS_SCORE'));
  const match = await call('didit_face_match', { image_1_path: join(dataDir, LIVE), image_2_path: join(dataDir, ENROL) });
  assert.equal(match.face_match.status, 'Approved');
});

test('API errors surface as tool errors with Didit status and body', async () => {
  const bad = await callFails('didit_create_session', { workflow_id: 'not-a-workflow' });
  assert.match(bad, /Didit API 400 .* on POST \/session\/: \{.*"workflow_id"/);
  const unknown = await callFails('didit_get_session_decision', { session_id: '00000000-0000-4000-8000-000000000000' });
  assert.match(unknown, /Didit API 404 /);

  const wrong = startMcp({ DIDIT_API_KEY: 'not-a-key', DIDIT_API_BASE_URL: app.baseUrl });
  const missing = startMcp({ DIDIT_API_KEY: '', DIDIT_API_BASE_URL: app.baseUrl });
  try {
    for (const client of [wrong, missing]) {
      const init = await client.request('initialize', {
        protocolVersion: '2025-06-18',
        capabilities: {},
        clientInfo: { name: 'facegate-tests', version: '0.1.0' },
      });
      assert.equal(init.error, undefined);
      client.notify('notifications/initialized');
    }
    const r401 = await wrong.request('tools/call', { name: 'didit_list_sessions', arguments: {} });
    assert.equal(r401.result.isError, true);
    assert.match(r401.result.content[0].text, /Didit API 401 /);
    // An empty DIDIT_API_KEY sends no x-api-key header at all: Didit's 403.
    const r403 = await missing.request('tools/call', { name: 'didit_list_sessions', arguments: {} });
    assert.equal(r403.result.isError, true);
    assert.match(r403.result.content[0].text, /Didit API 403 .*You do not have permission to perform this action\./);
  } finally {
    await wrong.stop();
    await missing.stop();
  }
});

test('reviews: the tools send a session to review and decide it; the webhook and the log say so', async () => {
  const dev = await devJson();
  const vendor = `mcp-review-${Date.now()}`;
  const s = await call('didit_create_session', { workflow_id: dev.workflows.kyc, vendor_data: vendor });
  // Not decided yet: nothing to review (400 in Didit's shape).
  const early = await callFails('didit_add_session_review', { session_id: s.session_id, new_status: 'Approved' });
  assert.match(early, /Didit API 400 .*"detail"/);
  assert.equal((await capture(s.session_token, 0)).status, 'Approved');

  const sent = await call('didit_add_session_review', {
    session_id: s.session_id,
    new_status: 'In Review',
    comment: 'glasses on the enrolment photo, checking',
  });
  assert.deepEqual(Object.keys(sent).sort(), ['comment', 'created_at', 'new_status', 'user']);
  assert.equal(sent.user, 'API Client');
  assert.equal(sent.new_status, 'In Review');
  assert.equal((await call('didit_get_session_decision', { session_id: s.session_id })).status, 'In Review');

  const decided = await call('didit_add_session_review', { session_id: s.session_id, new_status: 'Declined', comment: 'not the enrolled person' });
  assert.equal(decided.new_status, 'Declined');
  // The MCP schema offers all ten statuses; a reviewer may set only three.
  const refused = await callFails('didit_add_session_review', { session_id: s.session_id, new_status: 'Resubmitted' });
  assert.match(refused, /Didit API 400 .*"new_status":\["\\"Resubmitted\\" is not a valid choice\."\]/);

  const log = await call('didit_list_session_reviews', { session_id: s.session_id });
  assert.equal(log.count, 2);
  assert.equal(log.next, null);
  assert.deepEqual(
    log.results.map((r) => [r.activity_type, r.actor_type, r.actor_display, r.previous_status, r.new_status, r.comment]),
    [
      ['STATUS_UPDATED', 'API_KEY', 'API Client', 'In Review', 'Declined', 'not the enrolled person'],
      ['STATUS_UPDATED', 'API_KEY', 'API Client', 'Approved', 'In Review', 'glasses on the enrolment photo, checking'],
    ],
  );
  for (const r of log.results) assert.match(r.uuid, /^[0-9a-f-]{36}$/);

  // The decision carries them as didit-sdk reads them.
  const decision = await call('didit_get_session_decision', { session_id: s.session_id });
  assert.equal(decision.status, 'Declined');
  assert.deepEqual(
    decision.reviews.map((r) => [r.reviewed_by, r.decision_reason]),
    [['API Client', 'glasses on the enrolment photo, checking'], ['API Client', 'not the enrolled person']],
  );

  // Each change went out as a signed status.updated, the decline carrying the reviews.
  const hook = await hooks.waitFor((b) => b.session_id === s.session_id && b.status === 'Declined');
  assert.equal(hook.headers['x-signature'], createHmac('sha256', app.webhookSecret).update(hook.body).digest('hex'));
  const body = JSON.parse(hook.body);
  assert.equal(body.webhook_type, 'status.updated');
  assert.equal(body.decision.reviews.at(-1).decision_reason, 'not the enrolled person');
  await hooks.waitFor((b) => b.session_id === s.session_id && b.status === 'In Review');

  // Another application's key reaches nothing of it.
  const other = await fetch(`${app.baseUrl}/sessions/${s.session_id}/reviews/`, { headers: { 'x-api-key': app.other.apiKey } });
  assert.equal(other.status, 404);
});

test('a decision made in the console is read by the MCP review tools and sent as a webhook', async () => {
  // The first admin signs in through the link npm run dev printed (the operator API, as the
  // console page calls it: cookie plus CSRF token).
  const token = new URL(app.consoleSetupUrl).hash.replace('#setup=', '');
  const setup = await fetch(`${app.origin}/console/api/setup/`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token, name: 'Ada Reviewer', email: 'ada@example.com', password: 'a long enough console password' }),
  });
  assert.equal(setup.status, 200, await setup.clone().text());
  const cookie = setup.headers.get('set-cookie').split(';')[0];
  const { csrf_token: csrf, applications } = await setup.json();
  const dev = await devJson();
  const appId = applications.find((a) => a.name === 'Development').id;
  const s = await call('didit_create_session', { workflow_id: dev.workflows.kyc, vendor_data: `mcp-console-${Date.now()}` });
  assert.equal((await capture(s.session_token, 0)).status, 'Approved');
  const review = await fetch(`${app.origin}/console/api/applications/${appId}/sessions/${s.session_id}/reviews/`, {
    method: 'POST',
    headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' },
    body: JSON.stringify({ new_status: 'Declined', comment: 'a printed photo, seen in the console' }),
  });
  assert.equal(review.status, 201, await review.clone().text());

  const log = await call('didit_list_session_reviews', { session_id: s.session_id });
  assert.deepEqual(
    log.results.map((r) => [r.actor_type, r.actor_display, r.actor_email, r.previous_status, r.new_status, r.comment]),
    [['CONSOLE_USER', 'Ada Reviewer', 'ada@example.com', 'Approved', 'Declined', 'a printed photo, seen in the console']],
  );
  const decision = await call('didit_get_session_decision', { session_id: s.session_id });
  assert.deepEqual(decision.reviews.map((r) => [r.reviewed_by, r.decision_reason]), [['Ada Reviewer', 'a printed photo, seen in the console']]);
  const hook = await hooks.waitFor((b) => b.session_id === s.session_id && b.status === 'Declined');
  assert.equal(JSON.parse(hook.body).decision.reviews.at(-1).reviewed_by, 'Ada Reviewer');
});

test('resend of a delivered webhook: queued again, re-signed with a fresh timestamp, same event', async () => {
  const dev = await devJson();
  const s = await call('didit_create_session', { workflow_id: dev.workflows.kyc, vendor_data: `mcp-resend-${Date.now()}` });
  assert.equal((await capture(s.session_token, 0)).status, 'Approved');
  const first = await hooks.waitFor((b) => b.session_id === s.session_id && b.status === 'Approved');
  const headers = { 'x-api-key': app.apiKey };
  let row;
  for (let i = 0; i < 50 && !row; i++) {
    const log = await (await fetch(`${app.baseUrl}/session/${s.session_id}/webhooks/`, { headers })).json();
    row = log.results.find((d) => d.status === 'delivered' && d.event_id === JSON.parse(first.body).event_id);
    if (!row) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(row, 'delivered row');
  const destinations = await call('didit_list_webhook_destinations', {});
  const list = destinations.results ?? destinations;
  assert.ok(list.some((d) => d.uuid === row.destination), JSON.stringify(destinations));

  await new Promise((r) => setTimeout(r, 1100)); // a later second, so the timestamp differs
  const before = hooks.received.length;
  const res = await fetch(`${app.baseUrl}/webhook/destinations/${row.destination}/deliveries/${row.uuid}/resend/`, { method: 'POST', headers });
  assert.equal(res.status, 200);
  const resent = await res.json();
  assert.equal(resent.uuid, row.uuid);
  assert.equal(resent.status, 'pending');
  const again = await hooks.waitFor(
    (b) => b.session_id === s.session_id && b.status === 'Approved' && hooks.received.length > before && b.timestamp > JSON.parse(first.body).timestamp,
  );
  assert.equal(JSON.parse(again.body).event_id, JSON.parse(first.body).event_id, 'the same event: receivers de-duplicate it');
  assert.equal(again.headers['x-signature'], createHmac('sha256', app.webhookSecret).update(again.body).digest('hex'));
  assert.equal(again.headers['x-timestamp'], String(JSON.parse(again.body).timestamp));

  // Unknown delivery, wrong destination, another application's key: 404.
  for (const [path, key] of [
    [`/webhook/destinations/${row.destination}/deliveries/00000000-0000-4000-8000-000000000000/resend/`, app.apiKey],
    [`/webhook/destinations/00000000-0000-4000-8000-000000000000/deliveries/${row.uuid}/resend/`, app.apiKey],
    [`/webhook/destinations/${row.destination}/deliveries/${row.uuid}/resend/`, app.other.apiKey],
  ]) {
    const r = await fetch(`${app.baseUrl}${path}`, { method: 'POST', headers: { 'x-api-key': key } });
    assert.equal(r.status, 404, path);
    assert.deepEqual(await r.json(), { detail: 'Not found.' });
  }
});

test('users: didit_delete_users forgets the face and the sessions; a re-auth without a portrait is then refused', async () => {
  const dev = await devJson();
  const vendor = `mcp-dsr-${Date.now()}`;
  const kyc = await call('didit_create_session', { workflow_id: dev.workflows.kyc, vendor_data: vendor });
  assert.equal((await capture(kyc.session_token, 0)).status, 'Approved');
  // Enrolled: a re-auth needs no portrait.
  const reauth = await call('didit_create_session', { workflow_id: dev.workflows.biometric_authentication, vendor_data: vendor });
  assert.equal(reauth.status, 'Not Started');

  // Another application naming this user deletes nothing of it.
  const theirs = await fetch(`${app.baseUrl}/users/delete/`, {
    method: 'POST',
    headers: { 'x-api-key': app.other.apiKey, 'content-type': 'application/json' },
    body: JSON.stringify({ vendor_data_list: [vendor] }),
  });
  assert.equal(theirs.status, 204);
  assert.equal((await call('didit_get_session_decision', { session_id: kyc.session_id })).status, 'Approved');

  const bad = await callFails('didit_delete_users', { vendor_data_list: [] });
  assert.match(bad, /Didit API 400 .*vendor_data_list or delete_all/);
  assert.deepEqual(await call('didit_delete_users', { vendor_data_list: [vendor] }), { success: true });
  for (const id of [kyc.session_id, reauth.session_id]) {
    assert.match(await callFails('didit_get_session_decision', { session_id: id }), /Didit API 404 /);
  }
  const refused = await callFails('didit_create_session', { workflow_id: dev.workflows.biometric_authentication, vendor_data: vendor });
  assert.match(refused, /Didit API 400 .*"portrait_image".*No stored face image was found/);
});

test('users: create, get, update, update-status and list through the tools', async () => {
  const dev = await devJson();
  const stamp = Date.now();
  const enrolled = `mcp-u-enrolled-${stamp}`;
  const kyc = await call('didit_create_session', { workflow_id: dev.workflows.kyc, vendor_data: enrolled });
  assert.equal((await capture(kyc.session_token, 0)).status, 'Approved');
  const got = await call('didit_get_user', { vendor_data: enrolled });
  assert.equal(got.vendor_data, enrolled);
  assert.equal(got.status, 'ACTIVE');
  assert.equal(got.face_enrolled, true);
  assert.equal(got.session_count, 1);

  const made = `mcp-u-made ${stamp}`; // a space: the tool puts it in the path as is
  const created = await call('didit_create_user', { vendor_data: made, full_name: 'Ada Lovelace', metadata: { plan: 'pro' } });
  assert.equal(created.vendor_data, made);
  assert.equal(created.status, 'ACTIVE');
  const again = await callFails('didit_create_user', { vendor_data: made });
  assert.match(again, /Didit API 400 .*already exists/);
  const updated = await call('didit_update_user', { vendor_data: made, display_name: 'ada', date_of_birth: '1815-12-10' });
  assert.equal(updated.display_name, 'ada');
  assert.equal(updated.full_name, 'Ada Lovelace');
  const flagged = await call('didit_update_user_status', { vendor_data: made, status: 'FLAGGED' });
  assert.equal(flagged.status, 'FLAGGED');
  assert.match(await callFails('didit_update_user_status', { vendor_data: made, status: 'GONE' }), /Didit API 400 .*"status"/);
  assert.match(await callFails('didit_get_user', { vendor_data: `nobody-${stamp}` }), /Didit API 404 /);

  const page = await call('didit_list_users', { limit: '100' });
  const names = page.results.map((u) => u.vendor_data);
  assert.ok(names.includes(enrolled) && names.includes(made), names.join(' '));
  const onlyFlagged = await fetch(`${app.baseUrl}/users/?status=FLAGGED&search=${encodeURIComponent(`made ${stamp}`)}`, { headers: { 'x-api-key': app.apiKey } });
  const flaggedPage = await onlyFlagged.json();
  assert.deepEqual(flaggedPage.results.map((u) => u.vendor_data), [made]);
  const paged = await call('didit_list_users', { limit: '1', offset: '0' });
  assert.equal(paged.results.length, 1);
  assert.ok(paged.next?.includes('/users/?'), JSON.stringify(paged));

  // Another application sees none of them.
  const theirs = await fetch(`${app.baseUrl}/users/${encodeURIComponent(made)}/`, { headers: { 'x-api-key': app.other.apiKey } });
  assert.equal(theirs.status, 404);

  // Deleting the user removes its record as well.
  assert.deepEqual(await call('didit_delete_users', { vendor_data_list: [made, enrolled] }), { success: true });
  assert.match(await callFails('didit_get_user', { vendor_data: made }), /Didit API 404 /);
  assert.match(await callFails('didit_get_user', { vendor_data: enrolled }), /Didit API 404 /);
});

test('workflows: created, versioned, used and deleted through the tools; sessions keep their version', async () => {
  const label = `mcp-wf-${Date.now()}`;
  const made = await call('didit_create_workflow', {
    workflow_label: label,
    features: [
      { feature: 'LIVENESS', config: { face_liveness_method: 'PASSIVE' } },
      { feature: 'FACE_MATCH', config: { face_match_score_review_threshold: 70 } },
    ],
  });
  assert.equal(made.workflow_type, 'biometric_authentication');
  assert.equal(made.version, 1);
  assert.deepEqual(made.features, ['LIVENESS', 'FACE_MATCH']);
  const id = made.workflow_id;
  assert.ok((await call('didit_list_workflows', {})).results.some((w) => w.uuid === id));
  assert.equal((await call('didit_get_workflow', { workflow_id: id })).workflow_label, label);

  // A session on version 1, then a change: version 2 for new sessions, the first keeps 1.
  const vendor = `mcp-wf-user-${Date.now()}`;
  const portrait = readFileSync(join(dataDir, ENROL)).toString('base64');
  const first = await call('didit_create_session', { workflow_id: id, vendor_data: vendor, portrait_image: portrait });
  const v2 = await call('didit_update_workflow', {
    workflow_id: id,
    features: [
      { feature: 'LIVENESS' },
      // Review above any real match score: every match of version 2 goes to review.
      { feature: 'FACE_MATCH', config: { face_match_score_decline_threshold: 10, face_match_score_review_threshold: 100 } },
    ],
  });
  assert.equal(v2.version, 2);
  assert.equal(v2.workflow_id, id);
  const second = await call('didit_create_session', { workflow_id: id, vendor_data: `${vendor}-2`, portrait_image: portrait });
  assert.equal((await call('didit_get_session_decision', { session_id: first.session_id })).workflow_version, 1);
  assert.equal((await capture(first.session_token)).status, 'Approved');
  assert.equal((await capture(second.session_token)).status, 'In Review');

  // Refusals say why, in Didit's field-keyed shape.
  assert.match(
    await callFails('didit_create_workflow', { features: [{ feature: 'OCR' }, { feature: 'LIVENESS' }] }),
    /Didit API 400 .*"features".*does not run OCR/,
  );
  assert.match(
    await callFails('didit_update_workflow', { workflow_id: id, is_white_label_enabled: true }),
    /Didit API 400 .*is_white_label_enabled/,
  );

  assert.deepEqual(await call('didit_delete_workflow', { workflow_id: id }), { success: true });
  assert.match(
    await callFails('didit_create_session', { workflow_id: id, vendor_data: vendor }),
    /Didit API 400 .*"workflow_id"/,
  );
  assert.equal((await call('didit_get_workflow', { workflow_id: id })).is_archived, true);
});

test('workflows: another application can neither read nor change them', async () => {
  const made = await call('didit_create_workflow', { features: [{ feature: 'LIVENESS' }] });
  const as = (key, method, body) =>
    fetch(`${app.baseUrl}/workflows/${made.workflow_id}/`, {
      method,
      headers: { 'x-api-key': key, 'content-type': 'application/json' },
      body: body && JSON.stringify(body),
    });
  for (const [method, body] of [['GET'], ['PATCH', { workflow_label: 'mine now' }], ['DELETE']]) {
    assert.equal((await as(app.other.apiKey, method, body)).status, 404, method);
  }
  const list = await (await fetch(`${app.baseUrl}/workflows/`, { headers: { 'x-api-key': app.other.apiKey } })).json();
  assert.ok(!list.results.some((w) => w.workflow_id === made.workflow_id));
  // Their session cannot start on it either.
  const theirs = await fetch(`${app.baseUrl}/session/`, {
    method: 'POST',
    headers: { 'x-api-key': app.other.apiKey, 'content-type': 'application/json' },
    body: JSON.stringify({ workflow_id: made.workflow_id, vendor_data: 'x' }),
  });
  assert.equal(theirs.status, 400);
  assert.equal((await call('didit_get_workflow', { workflow_id: made.workflow_id })).workflow_label, null);
  // Two changes at once both land as versions; neither is lost.
  const [a, b] = await Promise.all(
    ['one', 'two'].map((l) => as(app.apiKey, 'PATCH', { workflow_label: l }).then((r) => r.json())),
  );
  const versions = [a.version, b.version].sort();
  assert.deepEqual(versions, [2, 3], JSON.stringify([a, b]));
  const after = await call('didit_get_workflow', { workflow_id: made.workflow_id });
  assert.equal(after.version, 3);
});

test("billing balance: this month's re-authentications and their cost under Didit's price model", async () => {
  const theirBalance = async () =>
    (await (await fetch(`${app.baseUrl}/billing/balance/`, { headers: { 'x-api-key': app.other.apiKey } })).json()).usage;
  const before = (await call('didit_get_balance', {})).usage;
  const theirsBefore = await theirBalance();
  const dev = await devJson();
  const portrait = readFileSync(join(dataDir, ENROL)).toString('base64');
  const s = await call('didit_create_session', { workflow_id: dev.workflows.biometric_authentication, vendor_data: `bill-${Date.now()}`, portrait_image: portrait });
  assert.equal((await capture(s.session_token)).status, 'Approved');
  const b = await call('didit_get_balance', {});
  assert.equal(b.balance, null, 'a self-hosted service holds no prepaid credit');
  assert.equal(b.auto_refill_enabled, false);
  const u = b.usage;
  assert.equal(u.month, new Date().toISOString().slice(0, 7));
  assert.equal(u.sessions, before.sessions + 1);
  assert.equal(u.by_status.Approved, before.by_status.Approved + 1);
  assert.equal(u.billable, before.billable + 1);
  assert.equal(u.free_per_month, 500);
  assert.equal(u.unit_price, '0.10');
  assert.equal(u.cost, (Math.max(0, u.billable - 500) * 0.1).toFixed(2));
  // Another application's sessions are its own.
  assert.deepEqual(await theirBalance(), theirsBefore);
});

test("the tools for what facegate does not do fail with a 404 that says so", async () => {
  for (const [tool, args] of [
    ['didit_list_businesses', {}],
    ['didit_list_questionnaires', {}],
    ['didit_aml_screening', { full_name: 'Ada Lovelace' }],
    ['didit_top_up', { amount_in_dollars: 50 }],
  ]) {
    assert.match(await callFails(tool, args), /Didit API 404 .*facegate does not offer/, tool);
  }
});

test('customization: logos through the tool are re-encoded PNGs the hosted page shows; SVG, oversized and foreign reads refused', async () => {
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'facegate-brand-'));
  const jpeg = join(dir, 'logo.jpg');
  writeFileSync(jpeg, readFileSync(join(dataDir, ENROL)));
  const got = await call('didit_update_customization', { image_square_path: jpeg, image_favicon_path: jpeg });
  assert.match(got.image_square, /^data:image\/png;base64,/);
  assert.match(got.image_favicon, /^data:image\/png;base64,/);
  assert.equal(got.image_rectangular, null);
  const png = Buffer.from(got.image_square.split(',')[1], 'base64');
  assert.equal(png.subarray(1, 4).toString(), 'PNG');
  assert.ok(png.readUInt32BE(16) <= 256 && png.readUInt32BE(20) <= 256, 'shrunk into the square box');
  assert.deepEqual(await call('didit_get_customization', {}), got);

  // Colours and title go with the same PATCH (multipart text fields).
  const form = (fields) => {
    const f = new FormData();
    for (const [k, v] of Object.entries(fields)) f.append(k, v);
    return f;
  };
  const patch = (key, body) => fetch(`${app.baseUrl}/customization/`, { method: 'PATCH', headers: { 'x-api-key': key }, body });
  let r = await patch(app.apiKey, form({ primary_color: '#0a7f5c', title: 'Acme Bank' }));
  assert.equal(r.status, 200, await r.clone().text());
  const dev = await devJson();
  const s = await call('didit_create_session', { workflow_id: dev.workflows.biometric_authentication, vendor_data: `brand-${Date.now()}`, portrait_image: readFileSync(join(dataDir, ENROL)).toString('base64') });
  const summary = await (await fetch(`${app.origin}/hosted/v1/${s.session_token}`)).json();
  assert.equal(summary.branding.primary_color, '#0a7f5c');
  assert.equal(summary.branding.title, 'Acme Bank');
  assert.equal(summary.branding.logo, got.image_square);
  assert.equal(summary.branding.favicon, got.image_favicon);

  // Attacks: SVG (script on the page's origin) named .png, a file over 1 MB, a body over the
  // route's limit, a colour that is CSS, a text field in an image's place. Nothing changes.
  const svg = new Blob(['<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'], { type: 'image/png' });
  r = await patch(app.apiKey, form({ image_square: new File([svg], 'logo.png', { type: 'image/png' }) }));
  assert.equal(r.status, 400);
  assert.match((await r.json()).image_square[0], /SVG/);
  const big = new File([Buffer.alloc(1_100_000, 7)], 'big.png', { type: 'image/png' });
  r = await patch(app.apiKey, form({ image_rectangular: big }));
  assert.equal(r.status, 400);
  assert.match((await r.json()).image_rectangular[0], /larger than/);
  const huge = new File([Buffer.alloc(4 * 1024 * 1024, 7)], 'huge.png', { type: 'image/png' });
  r = await patch(app.apiKey, form({ image_square: huge }));
  assert.equal(r.status, 413);
  r = await patch(app.apiKey, form({ primary_color: 'red;background:url(https://evil.example)' }));
  assert.equal(r.status, 400);
  assert.ok((await r.json()).primary_color);
  r = await patch(app.apiKey, form({ image_square: 'not a file' }));
  assert.equal(r.status, 400);
  r = await fetch(`${app.baseUrl}/customization/`, { method: 'PATCH', headers: { 'x-api-key': app.apiKey, 'content-type': 'application/json' }, body: '{}' });
  assert.equal(r.status, 400);
  const now = await call('didit_get_customization', {});
  assert.equal(now.image_square, got.image_square);
  assert.equal(now.primary_color, '#0a7f5c');

  // Another application has its own (empty) branding and cannot change this one.
  const theirs = await (await fetch(`${app.baseUrl}/customization/`, { headers: { 'x-api-key': app.other.apiKey } })).json();
  assert.equal(theirs.image_square, null);
  assert.equal(theirs.primary_color, null);
  r = await patch('not-a-key', form({ title: 'x' }));
  assert.equal(r.status, 401);
});

test('a blocked user cannot verify: create refused, an open session cannot be captured, unblocked it goes on', async () => {
  const dev = await devJson();
  const user = `mcp-blocked-${Date.now()}`;
  const open = await call('didit_create_session', { workflow_id: dev.workflows.kyc, vendor_data: user });
  assert.equal((await call('didit_update_user_status', { vendor_data: user, status: 'BLOCKED' })).status, 'BLOCKED');
  assert.match(await callFails('didit_create_session', { workflow_id: dev.workflows.kyc, vendor_data: user }), /Didit API 400 .*"vendor_data".*blocked/);
  const refused = await captureBurst(app, open.session_token, burstOf(undefined, 0));
  assert.equal(refused.status, 409, JSON.stringify(refused.body));
  assert.equal((await call('didit_get_session_decision', { session_id: open.session_id })).status, 'Not Started');
  await call('didit_update_user_status', { vendor_data: user, status: 'ACTIVE' });
  assert.equal((await capture(open.session_token)).status, 'Approved');
});
