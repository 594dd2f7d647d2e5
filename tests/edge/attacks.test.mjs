// The request path under attack (issue #9), against the real worker in wrangler dev: bodies
// refused before they are read, operator-only internals, SSRF through webhook destinations,
// budgets on every route, and framing. Each test sends the attack and asserts the fix.
import assert from 'node:assert/strict';
import { request as httpRequest, createServer } from 'node:http';
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

const MB = 1024 * 1024;
const operator = () => ({ authorization: `Bearer ${app.operatorToken}` });

async function routeTable() {
  const res = await fetch(`${app.origin}/internal/routes`, { headers: operator() });
  assert.equal(res.status, 200);
  return (await res.json()).results;
}

async function wasmMemoryMb() {
  const res = await fetch(`${app.origin}/system/healthcheck`);
  return (await res.json()).wasm_memory_mb;
}

/**
 * POSTs up to `totalBytes` of zeros, stopping as soon as the answer arrives (a server that
 * refuses early never gets the rest). `chunked`: no Content-Length, the body is streamed.
 * Resolves with the status, the body and how many bytes were written before the answer.
 */
function upload(path, { totalBytes, chunked = false, headers = {}, method = 'POST', headStartMs = 200 }) {
  const url = new URL(path, app.origin);
  return new Promise((resolve, reject) => {
    let written = 0;
    let answered = false;
    const req = httpRequest(url, {
      method,
      headers: { 'content-type': 'application/octet-stream', ...(chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(totalBytes) }), ...headers },
    });
    req.on('response', (res) => {
      answered = true;
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), written });
        req.destroy();
      });
    });
    req.on('error', (e) => {
      if (!answered) reject(e);
    });
    const chunk = Buffer.alloc(256 * 1024);
    const pump = () => {
      while (!answered && written < totalBytes) {
        const n = Math.min(chunk.length, totalBytes - written);
        written += n;
        if (!req.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return req.once('drain', pump);
      }
      if (!answered) req.end();
    };
    // Headers first: a server that answers from them alone answers before any body byte.
    req.flushHeaders();
    setTimeout(pump, headStartMs);
  });
}

function detail(body) {
  const parsed = JSON.parse(body);
  assert.equal(typeof parsed.detail, 'string', body);
  return parsed.detail;
}

test('a 60 MB upload to an unknown token is refused without being read', async () => {
  // Warm the isolate and load the models, so memory can only grow from the upload itself.
  const form = new FormData();
  form.append('user_image', new Blob([readFileSync(join(dataDir, 'video/enroll_portrait_apfol_s1_t9.5s.jpg'))]), 'a.jpg');
  await fetch(`${app.baseUrl}/passive-liveness/`, { method: 'POST', headers: { 'x-api-key': app.apiKey }, body: form });
  const before = await wasmMemoryMb();
  // A generous head start: on a loaded machine the answer can take longer than 200 ms, and
  // a client that then streams 60 MB into a local socket finishes before it reads the 413.
  const declared = await upload('/hosted/v1/no-such-token/capture', { totalBytes: 60 * MB, headStartMs: 3000 });
  assert.equal(declared.status, 413, declared.body);
  assert.match(detail(declared.body), /too large/);
  // wrangler dev's local proxy drains an upload before it relays the answer, whether or not
  // it has a Content-Length, so the bytes the client wrote prove nothing here: the isolate's
  // memory is what shows the worker read none of them.
  assert.ok((await wasmMemoryMb()) <= before + 1, 'the declared 60 MB was not read');
  // Without a Content-Length, the token is checked before the stream is read.
  const streamed = await upload('/hosted/v1/no-such-token/capture', { totalBytes: 60 * MB, chunked: true });
  assert.equal(streamed.status, 404, streamed.body);
  const afterwards = await wasmMemoryMb();
  assert.ok(afterwards <= before + 1, `wasm memory ${before} → ${afterwards} MB`);
});

test('every body route refuses an oversized Content-Length with a 413 before reading, costing no attempt', async () => {
  const s = await createSession(app, { workflow_id: app.workflows.kyc, vendor_data: 'big-bodies' });
  const rows = (await routeTable()).filter((r) => r.method !== 'GET');
  assert.ok(rows.length >= 8, JSON.stringify(rows));
  for (const row of rows) {
    const path = row.pattern.replace('{token}', s.session_token).replace(/\{[a-z]+\}/g, s.session_id);
    const headers = row.auth === 'api_key' ? { 'x-api-key': app.apiKey } : row.auth === 'operator' ? operator() : {};
    const res = await upload(path, { method: row.method, totalBytes: row.body_limit + 1, headers });
    assert.equal(res.status, 413, `${row.method} ${path}: ${res.status} ${res.body}`);
    assert.match(detail(res.body), new RegExp(`limit ${row.body_limit} bytes`));
  }
  const session = await (await fetch(`${app.baseUrl}/session/${s.session_id}/`, { headers: { 'x-api-key': app.apiKey } })).json();
  assert.equal(session.status, 'Not Started', 'no capture began');
});

test('a chunked capture body past the limit is cut off while it is read', async () => {
  const s = await createSession(app, { workflow_id: app.workflows.kyc, vendor_data: 'chunked' });
  const table = await routeTable();
  const limit = table.find((r) => r.pattern.endsWith('/capture/')).body_limit;
  const res = await upload(`/hosted/v1/${s.session_token}/capture`, { totalBytes: limit + 256 * 1024, chunked: true, headers: { 'content-type': 'multipart/form-data; boundary=x' } });
  assert.equal(res.status, 413, res.body);
  assert.match(detail(res.body), new RegExp(`limit ${limit} bytes`));
  const session = await (await fetch(`${app.baseUrl}/session/${s.session_id}/`, { headers: { 'x-api-key': app.apiKey } })).json();
  assert.equal(session.status, 'Not Started');
});

test('internals are the operator\'s: an application key gets 403, nothing gets 403, a wrong secret 401', async () => {
  const url = `${app.origin}/internal/housekeeping`;
  assert.equal((await fetch(url, { method: 'POST', headers: { 'x-api-key': app.apiKey } })).status, 403);
  assert.equal((await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${app.apiKey}` } })).status, 401);
  assert.equal((await fetch(url, { method: 'POST' })).status, 403);
  assert.equal((await fetch(url, { method: 'POST', headers: operator() })).status, 200);
  assert.equal((await fetch(`${app.origin}/internal/routes`, { headers: { 'x-api-key': app.apiKey } })).status, 403);
  const table = await routeTable();
  for (const row of table) {
    assert.ok(['public', 'api_key', 'session_token', 'operator', 'console'].includes(row.auth), JSON.stringify(row));
    assert.ok(row.budget.per_minute > 0 && row.body_limit > 0, JSON.stringify(row));
  }
});

test('webhook destinations must be public hosts; loopback only because development allows it', async () => {
  const create = (url) =>
    fetch(`${app.baseUrl}/webhook/destinations/`, {
      method: 'POST',
      headers: { 'x-api-key': app.apiKey, 'content-type': 'application/json' },
      body: JSON.stringify({ url }),
    });
  for (const url of [
    'http://169.254.169.254/latest/meta-data/',
    'http://10.0.0.1/hook',
    'http://172.16.5.4/hook',
    'http://192.168.0.10/hook',
    'http://100.64.1.1/hook',
    'http://0.0.0.0/hook',
    'http://224.0.0.1/hook',
    'http://[fd00:ec2::254]/hook',
    'http://[fc00::1]/hook',
    'http://[fe80::1]/hook',
    'http://[::]/hook',
    'http://[::ffff:127.0.0.1]/hook',
    'http://2130706433/hook',
    'http://0x7f.0.0.1/hook',
    'http://0177.0.0.1/hook',
    'http://metadata.google.internal/hook',
    'http://intranet/hook',
    'http://user@hooks.example.com/hook',
  ]) {
    const res = await create(url);
    assert.equal(res.status, 400, url);
    assert.ok(Array.isArray((await res.json()).url), url);
  }
  const loopback = await create('http://127.0.0.1:9/hook');
  assert.equal(loopback.status, 201);
  const id = (await loopback.json()).uuid;
  const patched = await fetch(`${app.baseUrl}/webhook/destinations/${id}/`, {
    method: 'PATCH',
    headers: { 'x-api-key': app.apiKey, 'content-type': 'application/json' },
    body: JSON.stringify({ url: 'http://[::ffff:a9fe:a9fe]/' }),
  });
  assert.equal(patched.status, 400);
  assert.equal((await fetch(`${app.baseUrl}/webhook/destinations/${id}/`, { method: 'DELETE', headers: { 'x-api-key': app.apiKey } })).status, 204);
});

test('a receiver\'s redirect is not followed, and its answer is not shown in the delivery log', async () => {
  const landed = [];
  const landing = createServer((req, res) => {
    landed.push(req.url);
    res.end('landed');
  });
  await new Promise((r) => landing.listen(0, '127.0.0.1', r));
  const redirected = [];
  const redirector = createServer((req, res) => {
    redirected.push(req.url);
    req.resume();
    res.writeHead(307, { location: `http://127.0.0.1:${landing.address().port}/internal-only` }).end('SECRET-RECEIVER-BODY');
  });
  await new Promise((r) => redirector.listen(0, '127.0.0.1', r));
  try {
    const created = await fetch(`${app.baseUrl}/webhook/destinations/`, {
      method: 'POST',
      headers: { 'x-api-key': app.apiKey, 'content-type': 'application/json' },
      body: JSON.stringify({ url: `http://127.0.0.1:${redirector.address().port}/hook`, label: 'redirects' }),
    });
    assert.equal(created.status, 201);
    const destination = (await created.json()).uuid;
    const s = await createSession(app, { workflow_id: app.workflows.kyc, vendor_data: 'redirected-user' });
    // A decided capture (a live burst) is what queues the deliveries to the destination.
    const captured = await captureBurst(app, s.session_token);
    assert.equal(captured.body.status, 'Approved', JSON.stringify(captured.body));
    const deadline = Date.now() + 15_000;
    let row;
    while (Date.now() < deadline) {
      const log = await (await fetch(`${app.baseUrl}/session/${s.session_id}/webhooks/`, { headers: { 'x-api-key': app.apiKey } })).text();
      assert.ok(!log.includes('SECRET-RECEIVER-BODY'), log);
      row = JSON.parse(log).results.find((d) => d.destination === destination && d.attempts > 0);
      if (row) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(row, 'the redirecting receiver was tried');
    assert.equal(row.last_response, '307');
    assert.notEqual(row.status, 'delivered');
    assert.ok(redirected.length >= 1);
    assert.deepEqual(landed, [], 'the redirect was not followed');
    await fetch(`${app.baseUrl}/webhook/destinations/${destination}/`, { method: 'DELETE', headers: { 'x-api-key': app.apiKey } });
  } finally {
    redirector.close();
    landing.close();
  }
});

test('the standalone biometric APIs have a per-application budget: 429 past it, other tenants unaffected', async () => {
  const table = await routeTable();
  const budget = table.find((r) => r.pattern === '/v3/passive-liveness/').budget.per_minute;
  const send = (key) =>
    fetch(`${app.baseUrl}/passive-liveness/`, { method: 'POST', headers: { 'x-api-key': key, 'content-type': 'text/plain' }, body: 'x' });
  // Cheap requests (refused as not multipart) count like real ones: the budget is checked first.
  let last;
  for (let i = 0; i <= budget; i++) {
    // The minute may turn over mid-loop; a fresh window restarts the count, so keep sending.
    last = await send(app.apiKey);
    if (last.status === 429) break;
    assert.equal(last.status, 400);
  }
  if (last.status !== 429) last = await send(app.apiKey);
  assert.equal(last.status, 429);
  assert.match(detail(await last.text()), /throttled/);
  assert.equal(last.headers.get('x-ratelimit-limit'), String(budget));
  assert.ok(Number(last.headers.get('retry-after')) >= 1);
  assert.equal((await send(app.other.apiKey)).status, 400, 'another application has its own budget');
});

test('hosted routes are budgeted per session token and client', async () => {
  const table = await routeTable();
  const budget = table.find((r) => r.pattern.endsWith('/capture/')).budget.per_minute;
  const s = await createSession(app, { workflow_id: app.workflows.kyc, vendor_data: 'hammer' });
  const other = await createSession(app, { workflow_id: app.workflows.kyc, vendor_data: 'hammer-2' });
  const capture = (token, headers = {}) =>
    fetch(`${app.origin}/hosted/v1/${token}/capture`, { method: 'POST', headers: { 'content-type': 'text/plain', ...headers }, body: 'x' });
  let last;
  for (let i = 0; i <= budget + 1; i++) {
    last = await capture(s.session_token);
    if (last.status === 429) break;
    assert.equal(last.status, 400);
  }
  assert.equal(last.status, 429);
  assert.ok(last.headers.get('retry-after'));
  assert.equal((await capture(other.session_token)).status, 400, 'another session token has its own budget');
  // None of it cost the user an attempt.
  const session = await (await fetch(`${app.baseUrl}/session/${s.session_id}/`, { headers: { 'x-api-key': app.apiKey } })).json();
  assert.equal(session.status, 'Not Started');
});

test('framing follows the application\'s allowed origins; unset, the page is embeddable anywhere', async () => {
  const mine = await createSession(app, { workflow_id: app.workflows.kyc, vendor_data: 'frame-a' });
  const theirs = await createSession({ ...app, apiKey: app.other.apiKey }, { workflow_id: app.other.workflows.kyc, vendor_data: 'frame-b' });
  const csp = async (token) => (await fetch(`${app.origin}/session/${token}`)).headers.get('content-security-policy');
  assert.match(await csp(mine.session_token), /frame-ancestors \*$/);
  assert.match(await csp('no-such-token'), /frame-ancestors \*$/);
  assert.match(await csp(theirs.session_token), /frame-ancestors https:\/\/other-tenant\.example$/);
  const summary = await (await fetch(`${app.origin}/hosted/v1/${theirs.session_token}`)).json();
  assert.deepEqual(summary.allowed_origins, app.other.allowedOrigins);
  const open = await (await fetch(`${app.origin}/hosted/v1/${mine.session_token}`)).json();
  assert.equal(open.allowed_origins, undefined);
});

/** Wrong keys with these headers until a 429 (or 200 tries); the statuses seen. */
async function guessUntilThrottled(headers) {
  for (let i = 0; i < 200; i++) {
    const res = await fetch(`${app.baseUrl}/sessions/`, {
      headers: { 'x-api-key': `wrong-${Math.random()}`, ...headers(i) },
    });
    await res.arrayBuffer();
    if (res.status === 429) return i;
    assert.equal(res.status, 401);
  }
  return null;
}

test("the client's address: X-Forwarded-For is believed from the loopback proxy only, never from a remote client", async () => {
  // Through the development proxy (loopback): each forwarded address has its own budget.
  const spent = await guessUntilThrottled(() => ({ 'x-forwarded-for': '198.51.100.7' }));
  assert.ok(spent !== null && spent >= 50, `throttled after ${spent}`);
  const fresh = await fetch(`${app.baseUrl}/sessions/`, {
    headers: { 'x-api-key': 'wrong', 'x-forwarded-for': '198.51.100.8' },
  });
  assert.equal(fresh.status, 401, 'another forwarded address is another client');
  // A remote client (the platform reports 203.0.113.9) forging a new X-Forwarded-For on every
  // request still spends one budget: its header is ignored.
  const forged = await guessUntilThrottled((i) => ({
    'cf-connecting-ip': '203.0.113.9',
    'x-forwarded-for': `192.0.2.${i % 250}`,
  }));
  assert.ok(forged !== null, 'rotating X-Forwarded-For escaped the budget');
  // The proxy's own chain is read from the right: the last address not a proxy's is the client.
  const chained = await fetch(`${app.baseUrl}/sessions/`, {
    headers: { 'x-api-key': 'wrong', 'x-forwarded-for': '198.51.100.8, 198.51.100.7' },
  });
  assert.equal(chained.status, 429, 'the rightmost forwarded address (spent above) is the client');
});

// Last in this file: it spends this client's budget of wrong credentials.
test('guessing keys or session tokens is metered per client: 429 past the budget, the real key still served', async () => {
  const guesses = [
    () => fetch(`${app.origin}/hosted/v1/no-such-token-${Math.random()}`),
    () => fetch(`${app.baseUrl}/sessions/`, { headers: { 'x-api-key': `wrong-${Math.random()}` } }),
  ];
  let last;
  for (let i = 0; i < 200; i++) {
    last = await guesses[i % 2]();
    if (last.status === 429) break;
    assert.ok([401, 404].includes(last.status), String(last.status));
  }
  assert.equal(last.status, 429, 'no 429 after 200 wrong credentials');
  assert.ok(Number(last.headers.get('retry-after')) >= 1);
  assert.match(detail(await last.text()), /throttled/);
  // Counted only on failure: the application's own calls from the same client go on.
  const mine = await fetch(`${app.baseUrl}/sessions/`, { headers: { 'x-api-key': app.apiKey } });
  assert.equal(mine.status, 200);
});

test('reviews and resends under attack: malformed bodies, huge comments, unknown ids, another tenant', async () => {
  const s = await createSession(app, { workflow_id: app.workflows.kyc, vendor_data: 'review-attacks' });
  const captured = await captureBurst(app, s.session_token);
  assert.equal(captured.body.status, 'Approved', JSON.stringify(captured.body));
  const url = `${app.baseUrl}/sessions/${s.session_id}/reviews/`;
  const post = (body, key = app.apiKey, target = url) =>
    fetch(target, { method: 'POST', headers: { 'x-api-key': key, 'content-type': 'application/json' }, body });
  const cases = [
    ['{"new_status": "Approved"', 400, /JSON parse error/],
    ['[]', 400, /Expected a dictionary/],
    ['{"new_status": {"$ne": 1}}', 400, /new_status/],
    ['{"new_status": "approved"}', 400, /is not a valid choice/],
    ['{"new_status": "Kyc Expired"}', 400, /is not a valid choice/],
    [JSON.stringify({ new_status: 'Declined', comment: 'x'.repeat(10_001) }), 400, /no more than 10000 characters/],
    [JSON.stringify({ new_status: 'Declined', comment: { html: '<script>' } }), 400, /Not a valid string/],
    // Past the route's body limit: refused before it is read.
    [JSON.stringify({ new_status: 'Declined', comment: 'x'.repeat(70_000) }), 413, /limit/],
  ];
  for (const [body, status, pattern] of cases) {
    const res = await post(body);
    const text = await res.text();
    assert.equal(res.status, status, `${body.slice(0, 60)}: ${text}`);
    assert.match(text, pattern);
    JSON.parse(text); // always Didit's JSON shape, never an HTML 500
  }
  assert.equal((await post('{"new_status": "Declined"}', app.other.apiKey)).status, 404);
  assert.equal((await post('{"new_status": "Declined"}', app.apiKey, `${app.baseUrl}/sessions/00000000-0000-4000-8000-000000000000/reviews/`)).status, 404);
  // A wrong key: 401, or 429 once this client's guesses are spent (the test before guesses).
  const guessed = (await post('{"new_status": "Declined"}', 'sk_wrong')).status;
  assert.ok([401, 429].includes(guessed), `a wrong key got ${guessed}`);
  assert.equal((await fetch(url, { method: 'POST', body: '{"new_status": "Declined"}' })).status, 403);
  // None of it changed the session or left a review.
  const log = await (await fetch(url, { headers: { 'x-api-key': app.apiKey } })).json();
  assert.deepEqual(log, { count: 0, next: null, previous: null, results: [] });
  const d = await (await fetch(`${app.baseUrl}/session/${s.session_id}/decision/`, { headers: { 'x-api-key': app.apiKey } })).json();
  assert.equal(d.status, 'Approved');
  assert.deepEqual(d.reviews, []);

  // Resend: ids that are not this tenant's delivery of this destination are 404s.
  await hooks.waitFor((b) => b.session_id === s.session_id && b.status === 'Approved');
  await new Promise((r) => setTimeout(r, 1500)); // the log settles, so only a resend could change it
  const hooksLog = await (await fetch(`${app.baseUrl}/session/${s.session_id}/webhooks/`, { headers: { 'x-api-key': app.apiKey } })).json();
  const row = hooksLog.results[0];
  assert.ok(row, JSON.stringify(hooksLog));
  const resend = (dest, delivery, key = app.apiKey) =>
    fetch(`${app.baseUrl}/webhook/destinations/${dest}/deliveries/${delivery}/resend/`, { method: 'POST', headers: { 'x-api-key': key } });
  for (const [dest, delivery, key] of [
    [row.destination, row.uuid, app.other.apiKey],
    [row.destination, '..%2F..%2Fsessions', app.apiKey],
    ['x'.repeat(300), row.uuid, app.apiKey],
    [row.destination, `${row.uuid}' OR '1'='1`, app.apiKey],
  ]) {
    const res = await resend(dest, delivery, key);
    assert.equal(res.status, 404, `${dest} ${delivery}: ${await res.text()}`);
  }
  const unchanged = await (await fetch(`${app.baseUrl}/session/${s.session_id}/webhooks/`, { headers: { 'x-api-key': app.apiKey } })).json();
  assert.deepEqual(unchanged, hooksLog);
});

test('user deletion under attack: malformed bodies are 400s in Didit\'s shape and delete nothing', async () => {
  const s = await createSession(app, { workflow_id: app.workflows.kyc, vendor_data: 'dsr-attacks' });
  assert.equal((await captureBurst(app, s.session_token)).body.status, 'Approved');
  const post = (body, key = app.apiKey) =>
    fetch(`${app.baseUrl}/users/delete/`, { method: 'POST', headers: { 'x-api-key': key, 'content-type': 'application/json' }, body });
  for (const body of ['{', '{}', '[]', '{"vendor_data_list": "dsr-attacks"}', '{"vendor_data_list": [{"$gt": ""}]}', '{"vendor_data_list": ["%"]} ', '{"delete_all": "true-ish"}', JSON.stringify({ vendor_data_list: Array(1001).fill('x') })]) {
    const res = await post(body);
    const text = await res.text();
    if (body.includes('"%"')) {
      assert.equal(res.status, 204, `${body}: a wildcard is a plain name: ${text}`);
      continue;
    }
    assert.equal(res.status, 400, `${body}: ${text}`);
    JSON.parse(text);
  }
  assert.equal((await post('{"delete_all": true}', app.other.apiKey)).status, 204);
  const still = await fetch(`${app.baseUrl}/session/${s.session_id}/`, { headers: { 'x-api-key': app.apiKey } });
  assert.equal(still.status, 200, 'another tenant\'s delete_all deleted nothing of this one');
});

test('user records under attack: hostile vendor_data, malformed bodies, another tenant', async () => {
  const headers = { 'x-api-key': app.apiKey, 'content-type': 'application/json' };
  const made = await fetch(`${app.baseUrl}/users/create/`, { method: 'POST', headers, body: JSON.stringify({ vendor_data: "o'brien; DROP TABLE users;--" }) });
  assert.equal(made.status, 201, await made.text());
  const path = `${app.baseUrl}/users/${encodeURIComponent("o'brien; DROP TABLE users;--")}/`;
  const got = await fetch(path, { headers });
  assert.equal(got.status, 200);
  assert.equal((await got.json()).vendor_data, "o'brien; DROP TABLE users;--");
  for (const body of ['{', '[]', '{"status": {"$ne": 1}}', '{"metadata": "x"}', JSON.stringify({ approved_phones: Array(101).fill('1') }), JSON.stringify({ full_name: 'x'.repeat(300) })]) {
    const res = await fetch(path, { method: 'PATCH', headers, body });
    const text = await res.text();
    assert.equal(res.status, 400, `${body.slice(0, 50)}: ${text}`);
    JSON.parse(text);
  }
  const big = await fetch(path, { method: 'PATCH', headers, body: JSON.stringify({ metadata: { x: 'y'.repeat(70_000) } }) });
  assert.equal(big.status, 413);
  for (const key of [app.other.apiKey]) {
    assert.equal((await fetch(path, { headers: { ...headers, 'x-api-key': key } })).status, 404);
    assert.equal((await fetch(`${path}update-status/`, { method: 'PATCH', headers: { ...headers, 'x-api-key': key }, body: '{"status": "BLOCKED"}' })).status, 404);
  }
  assert.equal((await fetch(`${app.baseUrl}/users/?status=%27%20OR%201=1`, { headers })).status, 400);
  assert.equal((await fetch(`${app.baseUrl}/users/${'x'.repeat(1001)}/`, { headers })).status, 404);
  const still = await (await fetch(path, { headers })).json();
  assert.equal(still.status, 'ACTIVE');
  assert.equal(still.full_name, null);
});
