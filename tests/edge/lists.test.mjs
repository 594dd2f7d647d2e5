// Didit's Lists API (`/v3/lists/…`) against wrangler dev: the system blocklists, lists and
// entries in Didit's shape, face entries from an image or a session, and the attacks: another
// application's key on every list route, another tenant's session as an entry's source,
// malformed and oversized bodies, duplicates, deleting a system list. Then Didit's own MCP
// server (4.0.0) drives every list tool against the service.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { burstOf, captureBurst, createSession, dataDir, enrol, image, root, spawnApp } from './harness.mjs';

const ENROL = 'video/enroll_portrait_apfol_s1_t9.5s.jpg';
const PORTRAIT = readFileSync(join(dataDir, ENROL)).toString('base64');

let app;
before(async () => {
  app = await spawnApp();
});
after(async () => {
  await app?.stop();
});

async function call(key, method, path, body, headers = {}) {
  const res = await fetch(`${app.baseUrl}${path}`, {
    method,
    headers: { 'x-api-key': key, 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed };
}
const api = (method, path, body, headers) => call(app.apiKey, method, path, body, headers);
const theirs = (method, path, body) => call(app.other.apiKey, method, path, body);

async function allLists(key) {
  const r = await call(key, 'GET', '/lists/?limit=100');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.results;
}

async function systemList(key, entryType) {
  return (await allLists(key)).find((l) => l.is_system && l.entry_type === entryType);
}

test('every application has its own four system blocklists, which cannot be changed', async () => {
  const ours = await allLists(app.apiKey);
  const other = await allLists(app.other.apiKey);
  const system = ours.filter((l) => l.is_system);
  assert.deepEqual(system.map((l) => l.entry_type).sort(), ['device_fingerprint', 'face', 'ip_address', 'user']);
  for (const l of system) {
    assert.equal(l.list_type, 'blocklist');
    for (const k of ['uuid', 'name', 'description', 'entry_count', 'last_entry_added_at', 'created_at', 'updated_at']) assert.ok(k in l, k);
    assert.ok(!other.some((o) => o.uuid === l.uuid), 'system list ids differ per application');
    const del = await api('DELETE', `/lists/${l.uuid}/`);
    assert.equal(del.status, 400, JSON.stringify(del.body));
    assert.equal(typeof del.body.detail, 'string');
    assert.equal((await api('PATCH', `/lists/${l.uuid}/`, { name: 'renamed' })).status, 400);
  }
  // Blocklists are provisioned, never created.
  const made = await api('POST', '/lists/', { name: 'mine', list_type: 'blocklist', entry_type: 'face' });
  assert.equal(made.status, 400);
  assert.ok(Array.isArray(made.body.list_type), JSON.stringify(made.body));
  // Another application's system list is a 404 here.
  const foreign = other.find((l) => l.is_system && l.entry_type === 'user');
  assert.equal((await api('GET', `/lists/${foreign.uuid}/`)).status, 404);
  assert.equal((await api('POST', `/lists/${foreign.uuid}/entries/`, { value: 'x' })).status, 404);
});

test('ATTACK: another application can neither see, list, change nor delete a list or its entries', async () => {
  const made = await api('POST', '/lists/', { name: 'Private', list_type: 'custom', entry_type: 'user', description: 'ours' });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const id = made.body.uuid;
  const entry = await api('POST', `/lists/${id}/entries/`, { value: 'secret-user', comment: 'why' });
  assert.equal(entry.status, 201, JSON.stringify(entry.body));
  const eid = entry.body.uuid;

  assert.ok(!(await allLists(app.other.apiKey)).some((l) => l.uuid === id));
  const probes = [
    ['GET', `/lists/${id}/`],
    ['PATCH', `/lists/${id}/`, { name: 'pwned' }],
    ['DELETE', `/lists/${id}/`],
    ['GET', `/lists/${id}/entries/`],
    ['POST', `/lists/${id}/entries/`, { value: 'injected' }],
    ['POST', `/lists/${id}/entries/face-upload/`, { image: PORTRAIT }],
    ['DELETE', `/lists/${id}/entries/${eid}/`],
  ];
  for (const [method, path, body] of probes) {
    const r = await theirs(method, path, body);
    assert.equal(r.status, 404, `${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    assert.equal(r.body.detail, 'Not found.');
  }
  // Nothing changed.
  const after = await api('GET', `/lists/${id}/`);
  assert.equal(after.body.name, 'Private');
  assert.equal(after.body.entry_count, 1);
  const entries = await api('GET', `/lists/${id}/entries/`);
  assert.deepEqual(entries.body.results.map((e) => e.value), ['secret-user']);
  // The same name is free for another application.
  assert.equal((await theirs('POST', '/lists/', { name: 'Private', list_type: 'custom', entry_type: 'user' })).status, 201);
  // An entry id is found only through its own list.
  const userBlock = await systemList(app.apiKey, 'user');
  assert.equal((await api('DELETE', `/lists/${userBlock.uuid}/entries/${eid}/`)).status, 404);
  assert.equal((await api('DELETE', `/lists/${id}/entries/${eid}/`)).status, 204);
  assert.equal((await api('DELETE', `/lists/${id}/`)).status, 204);
  assert.equal((await api('GET', `/lists/${id}/`)).status, 404);
});

test('ATTACK: an entry cannot be taken from another tenant\'s session', async () => {
  const mine = await enrol(app, 'lists-mine');
  const other = await enrol({ ...app, apiKey: app.other.apiKey, workflows: app.other.workflows }, 'lists-theirs');
  const users = await systemList(app.apiKey, 'user');
  const faces = await systemList(app.apiKey, 'face');
  const unknown = await api('POST', `/lists/${users.uuid}/entries/`, { reference_session_id: '99999999-9999-4999-8999-999999999999' });
  const foreign = await api('POST', `/lists/${users.uuid}/entries/`, { reference_session_id: other.session_id });
  assert.equal(foreign.status, 400);
  assert.deepEqual(foreign.body, unknown.body, 'another tenant\'s session reads exactly like an unknown one');
  assert.equal((await api('POST', `/lists/${faces.uuid}/entries/`, { reference_session_id: other.session_id })).status, 400);
  // The application's own session gives its vendor_data and its enrolled face.
  const u = await api('POST', `/lists/${users.uuid}/entries/`, { reference_session_id: mine.session_id });
  assert.equal(u.status, 201, JSON.stringify(u.body));
  assert.equal(u.body.value, 'lists-mine');
  assert.equal(u.body.reference_session_id, mine.session_id);
  const f = await api('POST', `/lists/${faces.uuid}/entries/`, { reference_session_id: mine.session_id, display_label: 'enrolled face' });
  assert.equal(f.status, 201, JSON.stringify(f.body));
  // Clean up: these blocklists are the application's, shared with the other tests.
  assert.equal((await api('DELETE', `/lists/${users.uuid}/entries/${u.body.uuid}/`)).status, 204);
  assert.equal((await api('DELETE', `/lists/${faces.uuid}/entries/${f.body.uuid}/`)).status, 204);
});

test('ATTACK: malformed, oversized and duplicate bodies get 400 / 413 in the contract\'s shape', async () => {
  const ips = await systemList(app.apiKey, 'ip_address');
  for (const body of ['{', '[]', '"x"']) {
    const r = await api('POST', `/lists/${ips.uuid}/entries/`, body);
    assert.equal(r.status, 400, body);
    assert.equal(typeof r.body.detail, 'string', JSON.stringify(r.body));
  }
  for (const body of [{}, { value: 'example.com' }, { value: '10.0.0.1/33' }, { value: 42 }, { value: '10.0.0.1', metadata: 'x' }, { reference_session_id: '../../x' }]) {
    const r = await api('POST', `/lists/${ips.uuid}/entries/`, body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(typeof r.body, 'object');
    assert.ok(Object.values(r.body).every((v) => Array.isArray(v)), JSON.stringify(r.body));
  }
  const big = await api('POST', `/lists/${ips.uuid}/entries/`, { value: '10.0.0.1', comment: 'x'.repeat(70 * 1024) });
  assert.equal(big.status, 413, JSON.stringify(big.body));
  assert.equal(typeof big.body.detail, 'string');
  const bigList = await api('POST', '/lists/', { name: 'n'.repeat(70 * 1024), list_type: 'custom', entry_type: 'user' });
  assert.equal(bigList.status, 413);
  const first = await api('POST', `/lists/${ips.uuid}/entries/`, { value: '203.0.113.0/24' });
  assert.equal(first.status, 201, JSON.stringify(first.body));
  assert.equal(first.body.value, '203.0.113.0/24');
  const again = await api('POST', `/lists/${ips.uuid}/entries/`, { value: ' 203.0.113.0/24 ' });
  assert.equal(again.status, 400);
  assert.deepEqual(again.body, { value: ['This value is already in the list.'] });
  const dupName = await api('POST', '/lists/', { name: 'ip_address blocklist', list_type: 'custom', entry_type: 'user' });
  assert.equal(dupName.status, 400);
  assert.ok(Array.isArray(dupName.body.name));
  // Paging and search in Didit's shape.
  const found = await api('GET', `/lists/${ips.uuid}/entries/?search=203.0.113&limit=1`);
  assert.equal(found.status, 200);
  assert.equal(found.body.count, 1);
  assert.ok('next' in found.body && 'previous' in found.body);
  assert.equal((await api('DELETE', `/lists/${ips.uuid}/entries/${first.body.uuid}/`)).status, 204);
});

test('face-upload: a face list and an image with a face; 400 without one', async () => {
  const faces = await systemList(app.apiKey, 'face');
  const users = await systemList(app.apiKey, 'user');
  const noFace = await api('POST', `/lists/${faces.uuid}/entries/face-upload/`, { image: Buffer.from('not an image at all').toString('base64') });
  assert.equal(noFace.status, 400, JSON.stringify(noFace.body));
  assert.ok(Array.isArray(noFace.body.image), JSON.stringify(noFace.body));
  assert.equal((await api('POST', `/lists/${faces.uuid}/entries/face-upload/`, { display_label: 'x' })).status, 400);
  assert.equal((await api('POST', `/lists/${users.uuid}/entries/face-upload/`, { image: PORTRAIT })).status, 400);
  const ok = await api('POST', `/lists/${faces.uuid}/entries/face-upload/`, { image: PORTRAIT, display_label: 'walk-in', comment: 'fraud' });
  assert.equal(ok.status, 201, JSON.stringify(ok.body));
  assert.equal(ok.body.display_label, 'walk-in');
  assert.ok(!JSON.stringify(ok.body).includes(PORTRAIT.slice(0, 64)), 'the image is never returned');
  const listed = await api('GET', `/lists/${faces.uuid}/`);
  assert.ok(listed.body.entry_count >= 1);
  assert.equal((await api('DELETE', `/lists/${faces.uuid}/entries/${ok.body.uuid}/`)).status, 204);
});

// ------------------------------------------------------------------- the MCP server's list tools

const packageDir = join(root, 'node_modules', '@didit-protocol', 'mcp-server');

function startMcp(env) {
  const bin = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')).bin['didit-mcp-server'];
  const child = spawn(process.execPath, [join(packageDir, bin)], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
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
    notify: (method) => send({ jsonrpc: '2.0', method }),
    request(method, params) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no answer to ${method}; stderr:\n${stderr}`)), 60_000);
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

test('the MCP server\'s list tools all work against the service', async () => {
  const mcp = startMcp({ DIDIT_API_KEY: app.apiKey, DIDIT_API_BASE_URL: app.baseUrl });
  try {
    const init = await mcp.request('initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'facegate-tests', version: '0.1.0' } });
    assert.equal(init.error, undefined);
    mcp.notify('notifications/initialized');
    const tool = async (name, args) => {
      const res = await mcp.request('tools/call', { name, arguments: args });
      assert.equal(res.error, undefined, JSON.stringify(res.error));
      assert.notEqual(res.result.isError, true, `${name} failed: ${res.result.content?.[0]?.text}`);
      const text = res.result.content[0].text;
      try {
        return JSON.parse(text);
      } catch {
        return text;
      }
    };
    const listed = await tool('didit_list_lists', { entry_type: 'face', limit: '10', offset: '0' });
    assert.ok(listed.results.some((l) => l.is_system && l.entry_type === 'face'), JSON.stringify(listed));
    const made = await tool('didit_create_list', { name: 'MCP faces', list_type: 'custom', entry_type: 'face', description: 'by the agent' });
    assert.equal(made.entry_type, 'face');
    const got = await tool('didit_get_list', { list_uuid: made.uuid });
    assert.equal(got.name, 'MCP faces');
    const renamed = await tool('didit_update_list', { list_uuid: made.uuid, name: 'MCP faces 2', description: 'renamed' });
    assert.equal(renamed.name, 'MCP faces 2');
    const dir = mkdtempSync(join(tmpdir(), 'facegate-mcp-'));
    const photo = join(dir, 'face.jpg');
    writeFileSync(photo, readFileSync(join(dataDir, ENROL)));
    const face = await tool('didit_upload_face_entry', { list_uuid: made.uuid, image_path: photo, display_label: 'agent face', comment: 'seen at the counter' });
    assert.equal(face.display_label, 'agent face');
    // didit_face_search finds the face just added (a custom list: reported, not declined).
    const found = await tool('didit_face_search', { image_path: photo });
    assert.equal(found.face_search.status, 'Approved', JSON.stringify(found));
    assert.ok(found.face_search.matches.some((m) => m.list_entry_uuid === face.uuid), JSON.stringify(found.face_search.matches));
    const users = await tool('didit_create_list', { name: 'MCP users', list_type: 'allowlist', entry_type: 'user' });
    const entry = await tool('didit_create_list_entry', { list_uuid: users.uuid, value: 'vip-1', display_label: 'VIP', comment: 'staff', metadata: { team: 'ops' } });
    assert.equal(entry.value, 'vip-1');
    const entries = await tool('didit_list_entries', { list_uuid: users.uuid, search: 'vip', limit: '10', offset: '0' });
    assert.equal(entries.count, 1);
    assert.equal(entries.results[0].metadata.team, 'ops');
    await tool('didit_delete_list_entry', { list_uuid: users.uuid, entry_uuid: entry.uuid });
    assert.equal((await tool('didit_list_entries', { list_uuid: users.uuid })).count, 0);
    await tool('didit_delete_list', { list_uuid: users.uuid });
    await tool('didit_delete_list', { list_uuid: made.uuid });
    assert.equal((await api('GET', `/lists/${made.uuid}/`)).status, 404);
    // Refusals come back as tool errors, not crashes.
    const sys = listed.results.find((l) => l.is_system);
    const refused = await mcp.request('tools/call', { name: 'didit_delete_list', arguments: { list_uuid: sys.uuid } });
    assert.equal(refused.result.isError, true);
  } finally {
    await mcp.stop();
  }
});

// ------------------------------------------------------------- 1:N on every capture

async function decision(sessionId) {
  const r = await api('GET', `/session/${sessionId}/decision/`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

test('a face in the face blocklist is Declined with FACE_IN_BLOCKLIST; face search finds it', async () => {
  const faces = await systemList(app.apiKey, 'face');
  const entry = await api('POST', `/lists/${faces.uuid}/entries/face-upload/`, { image: PORTRAIT, display_label: 'banned' });
  assert.equal(entry.status, 201, JSON.stringify(entry.body));
  try {
    const kyc = await createSession(app, { workflow_id: app.workflows.kyc, vendor_data: 'blocked-face' });
    const { body } = await captureBurst(app, kyc.session_token, burstOf());
    assert.equal(body.status, 'Declined', JSON.stringify(body));
    const d = await decision(kyc.session_id);
    const live = d.liveness_checks[0];
    const w = live.warnings.find((x) => x.risk === 'FACE_IN_BLOCKLIST');
    assert.ok(w, JSON.stringify(live.warnings));
    assert.equal(w.feature, 'LIVENESS');
    assert.equal(w.log_type, 'error');
    assert.ok(live.matches.some((m) => m.is_blocklisted === true && typeof m.similarity_percentage === 'number'), JSON.stringify(live.matches));
    // The standalone face search says the same (multipart user_image, Didit's response shape).
    const form = new FormData();
    form.append('user_image', image(ENROL), 'face.jpg');
    const res = await fetch(`${app.baseUrl}/face-search/`, { method: 'POST', headers: { 'x-api-key': app.apiKey }, body: form });
    const fs = await res.json();
    assert.equal(res.status, 200, JSON.stringify(fs));
    assert.equal(fs.face_search.status, 'Declined');
    assert.ok(fs.face_search.total_matches >= 1);
    assert.ok(fs.face_search.matches.some((m) => m.is_blocklisted), JSON.stringify(fs.face_search.matches));
    assert.equal(fs.face_search.warnings[0].risk, 'FACE_IN_BLOCKLIST');
    // Another application's search sees none of this application's faces.
    const other = new FormData();
    other.append('user_image', image(ENROL), 'face.jpg');
    const theirsRes = await fetch(`${app.baseUrl}/face-search/`, { method: 'POST', headers: { 'x-api-key': app.other.apiKey }, body: other });
    const theirsBody = await theirsRes.json();
    assert.ok(!theirsBody.face_search.matches.some((m) => m.is_blocklisted), JSON.stringify(theirsBody));
  } finally {
    assert.equal((await api('DELETE', `/lists/${faces.uuid}/entries/${entry.body.uuid}/`)).status, 204);
  }
  // Once the entry is gone, the same face enrols again.
  const again = await createSession(app, { workflow_id: app.workflows.kyc, vendor_data: 'unblocked-face' });
  const { body } = await captureBurst(app, again.session_token, burstOf());
  assert.equal(body.status, 'Approved', JSON.stringify(body));
});

test('a second vendor_data enrolling the same face gets DUPLICATED_FACE when the workflow checks', async () => {
  const wf = await api('POST', '/workflows/', { workflow_label: 'dedup', features: [{ feature: 'LIVENESS', config: { duplicate_face_action: 'decline' } }] });
  assert.equal(wf.status, 201, JSON.stringify(wf.body));
  await enrol(app, 'dup-first');
  const second = await createSession(app, { workflow_id: wf.body.workflow_id ?? wf.body.uuid, vendor_data: 'dup-second' });
  const { body } = await captureBurst(app, second.session_token, burstOf(undefined, 40));
  assert.equal(body.status, 'Declined', JSON.stringify(body));
  const live = (await decision(second.session_id)).liveness_checks[0];
  const w = live.warnings.find((x) => x.risk === 'DUPLICATED_FACE');
  assert.ok(w, JSON.stringify(live.warnings));
  assert.ok(w.additional_data.duplicated_session_id);
  // Without duplicate detection (the default kyc workflow) another user's face is no warning.
  const plain = await createSession(app, { workflow_id: app.workflows.kyc, vendor_data: 'dup-third' });
  const r = await captureBurst(app, plain.session_token, burstOf(undefined, 40));
  assert.equal(r.body.status, 'Approved', JSON.stringify(r.body));
});
