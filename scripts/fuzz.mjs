// `npm run fuzz [-- --requests N --seed S --concurrency C]`: generated malformed requests on
// every route against a freshly spawned worker (wrangler dev), seeded so that a run can be
// repeated. Prints counts by route and status (and, for multipart captures, by kind: `burst`,
// `frame`, `frames`), every response ≥ 500 with what was sent, and the isolate's peak wasm
// memory (polled from /system/healthcheck). Exits 1 on any 5xx or on a peak above 110 MB.
// tests/edge/fuzz.test.mjs runs a smaller seeded batch of the same.
//
// The routes come from the operator-only `GET /internal/routes` when the service has it (the
// table itself, so a new route can't escape); otherwise from FALLBACK_ROUTES, README's table.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { crc32, deflateSync } from 'node:zlib';

import { LIVE_CLIP, REPLAY_CLIP, burstOf, createSession, dataDir, root, spawnApp } from '../tests/edge/harness.mjs';

export const MEMORY_CEILING_MB = 110;

// As README's table writes them (the hosted API without a trailing slash).
export const FALLBACK_ROUTES = [
  ['POST', '/v3/session/'],
  ['GET', '/v3/sessions/'],
  ['POST', '/v3/sessions/delete/'],
  ['GET', '/v3/session/{id}/'],
  ['GET', '/v3/session/{id}/decision/'],
  ['PATCH', '/v3/session/{id}/update-status/'],
  ['DELETE', '/v3/session/{id}/delete/'],
  ['GET', '/v3/session/{id}/generate-pdf/'],
  ['GET', '/v3/session/{id}/webhooks/'],
  ['GET', '/v3/webhook/destinations/'],
  ['POST', '/v3/webhook/destinations/'],
  ['GET', '/v3/webhook/destinations/{id}/'],
  ['PATCH', '/v3/webhook/destinations/{id}/'],
  ['DELETE', '/v3/webhook/destinations/{id}/'],
  ['POST', '/v3/passive-liveness/'],
  ['POST', '/v3/face-match/'],
  ['GET', '/hosted/v1/{token}'],
  ['GET', '/hosted/v1/{token}/qr.svg'],
  ['POST', '/hosted/v1/{token}/challenge'],
  ['POST', '/hosted/v1/{token}/challenge/{id}/steps/{n}'],
  ['POST', '/hosted/v1/{token}/capture'],
  ['GET', '/session/{token}/'],
  ['GET', '/{lang}/session/{token}/'],
  ['GET', '/system/healthcheck'],
  ['POST', '/internal/housekeeping'],
].map(([method, pattern]) => ({ method, pattern }));

/** mulberry32: small, fast, seeded. */
export function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const below = (n) => Math.floor(next() * n);
  return { next, below, pick: (xs) => xs[below(xs.length)], chance: (p) => next() < p };
}

// ---- images ---------------------------------------------------------------------------------

function chunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

/** A PNG with the given header; pixel rows only when they are cheap to make. */
export function png({ width, height, bitDepth = 8, colorType = 2, animated = false, rows = true }) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width >>> 0, 0);
  ihdr.writeUInt32BE(height >>> 0, 4);
  ihdr[8] = bitDepth;
  ihdr[9] = colorType;
  const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[colorType] ?? 3;
  const rowBytes = Math.ceil((width * channels * bitDepth) / 8) + 1;
  let raw = Buffer.from('short');
  if (rows && width * height <= 4_200_000) {
    raw = Buffer.alloc(rowBytes * height, 0x5a);
    for (let y = 0; y < height; y++) raw[y * rowBytes] = 0; // filter type None
  }
  const parts = [Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr)];
  if (colorType === 3) parts.push(chunk('PLTE', Buffer.alloc(768, 0x80)));
  if (animated) parts.push(chunk('acTL', Buffer.from([0, 0, 0, 2, 0, 0, 0, 0])));
  parts.push(chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0)));
  return Buffer.concat(parts);
}

/** An extended WebP header with the animation flag, and an ANIM chunk. */
function animatedWebp() {
  const vp8x = Buffer.from([0x56, 0x50, 0x38, 0x58, 10, 0, 0, 0, 0x02, 0, 0, 0, 199, 0, 0, 199, 0, 0]);
  const anim = Buffer.from([0x41, 0x4e, 0x49, 0x4d, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  const body = Buffer.concat([Buffer.from('WEBP'), vp8x, anim]);
  const head = Buffer.alloc(8);
  head.write('RIFF', 0, 'latin1');
  head.writeUInt32LE(body.length, 4);
  return Buffer.concat([head, body]);
}

/** The JPEG with its frame header's height and width replaced. */
function jpegWithSize(jpeg, width, height) {
  const b = Buffer.from(jpeg);
  for (let i = 2; i + 9 < b.length; i++) {
    if (b[i] === 0xff && (b[i + 1] === 0xc0 || b[i + 1] === 0xc2)) {
      b.writeUInt16BE(height, i + 5);
      b.writeUInt16BE(width, i + 7);
      break;
    }
  }
  return b;
}

let seedImages;
function realImages() {
  seedImages ??= {
    face: readFileSync(join(dataDir, 'liveness/frames/apfol_s1/live_003.jpg')),
    portrait: readFileSync(join(dataDir, 'video/enroll_portrait_apfol_s1_t9.5s.jpg')),
  };
  return seedImages;
}

/** One image-ish upload and what it is, for the report. */
export function image(r) {
  const { face, portrait } = realImages();
  const jpeg = r.chance(0.5) ? face : portrait;
  const kinds = [
    ['face', () => jpeg],
    ['truncated jpeg', () => jpeg.subarray(0, r.below(jpeg.length))],
    ['jpeg bytes flipped', () => {
      const b = Buffer.from(jpeg);
      for (let i = 0; i < 1 + r.below(20); i++) b[r.below(b.length)] = r.below(256);
      return b;
    }],
    ['jpeg huge header', () => jpegWithSize(jpeg, r.pick([9000, 65535, 4096, 5000]), r.pick([9000, 65535, 3000, 4096]))],
    ['jpeg zero size', () => jpegWithSize(jpeg, 0, r.pick([0, 100]))],
    ['png huge header', () => png({ width: r.pick([10000, 65535, 2 ** 31 - 1, 4097]), height: r.pick([10000, 4000, 1]), rows: false })],
    ['png 12 MP', () => png({ width: 4032, height: 3024, rows: false })],
    ['png 16-bit', () => png({ width: 64 + r.below(600), height: 64 + r.below(600), bitDepth: 16, colorType: r.pick([0, 2, 4, 6]) })],
    ['png odd depth', () => png({ width: 80 + r.below(200), height: 80 + r.below(200), bitDepth: r.pick([1, 2, 4, 8]), colorType: r.pick([0, 3, 4, 6]) })],
    ['png bad depth', () => png({ width: 100, height: 100, bitDepth: r.pick([3, 5, 7, 32]), colorType: r.pick([1, 5, 7, 2]) })],
    ['apng', () => png({ width: 120, height: 120, animated: true })],
    ['png tiny', () => png({ width: r.below(64), height: r.below(64) })],
    ['png grey 2 MP', () => png({ width: 1600, height: 1200, colorType: 0 })],
    ['animated webp', () => animatedWebp()],
    ['webp garbage', () => Buffer.concat([Buffer.from('RIFF\0\0\0\0WEBPVP8 '), Buffer.from(Array.from({ length: r.below(200) }, () => r.below(256)))])],
    ['gif', () => Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00;', 'latin1')],
    ['garbage', () => Buffer.from(Array.from({ length: r.below(3000) }, () => r.below(256)))],
    ['empty', () => Buffer.alloc(0)],
  ];
  // Real faces run the whole pipeline (100+ ms): keep them a minority.
  const [kind, make] = r.chance(0.08) ? kinds[0] : kinds[1 + r.below(kinds.length - 1)];
  return { kind, bytes: make() };
}

/**
 * A passive capture's frames (the `burst` fields) and what they are: real bursts of the webcam
 * clips, which run the whole burst analysis, and bursts broken in the ways a client could break
 * them (a frame the decoder refuses, frames of another size, one frame repeated, too few or too
 * many, and frames of the malformed images above, all held at once by the server).
 */
export function burst(r) {
  const clip = () => (r.chance(0.7) ? LIVE_CLIP : REPLAY_CLIP);
  const real = () => burstOf(clip(), 4 * r.below(31));
  const kinds = [
    ['clip', () => real()],
    ['clip with a bad frame', () => {
      const frames = real();
      const bad = image(r);
      frames[r.below(frames.length)] = bad.bytes;
      return frames;
    }],
    ['clip with the portrait (another size)', () => {
      const frames = real();
      frames[r.below(frames.length)] = realImages().portrait;
      return frames;
    }],
    ['one frame repeated', () => Array(r.pick([5, 8])).fill(real()[r.below(8)])],
    ['clip, wrong count', () => {
      const n = r.pick([0, 1, 4, 9, 16]);
      return Array.from({ length: n }, (_, i) => burstOf(LIVE_CLIP, 0)[i % 8]);
    }],
    ['clip frames cut short', () => real().map((f) => (r.chance(0.5) ? f.subarray(0, r.below(f.length)) : f))],
    ['malformed images', () => Array.from({ length: r.pick([5, 8]) }, () => image(r).bytes)],
  ];
  // Whole real bursts run the full analysis on 8 frames (about 0.5 s): keep them a minority.
  const [kind, make] = r.chance(0.25) ? kinds[0] : kinds[1 + r.below(kinds.length - 1)];
  return { kind, frames: make() };
}

// ---- requests -------------------------------------------------------------------------------

const STRINGS = ['', ' ', 'null', 'Approved', 'Declined', 'kyc', 'x'.repeat(300), '💥', '\u0000', '../../etc', '%2e%2e', 'https://example.com/cb',
  'http://169.254.169.254/latest', 'javascript:alert(1)', '{"a":', '[]', '1e309', '-1', 'aaaaaaaa-0000-4000-8000-000000000000'];
const FIELDS = ['workflow_id', 'vendor_data', 'callback', 'callback_method', 'language', 'metadata', 'portrait_image', 'new_status', 'comment',
  'session_numbers', 'url', 'subscribed_events', 'secret_shared_key', 'enabled', 'label', 'webhook_version', 'nodes_to_resubmit', 'contact_details'];

function jsonValue(r, depth = 0) {
  switch (r.below(depth > 3 ? 5 : 8)) {
    case 0: return null;
    case 1: return r.chance(0.5);
    case 2: return r.pick([0, -1, 1.5, 2 ** 53, 1e300, 100, 101]);
    case 3: case 4: return r.pick(STRINGS);
    case 5: return Array.from({ length: r.below(5) }, () => jsonValue(r, depth + 1));
    default: return jsonObject(r, depth + 1);
  }
}

function jsonObject(r, depth = 0) {
  const o = {};
  for (let i = r.below(7); i > 0; i--) o[r.pick(FIELDS)] = jsonValue(r, depth);
  return o;
}

/** A JSON-ish body and its content type. */
function jsonBody(r, ctx) {
  const o = jsonObject(r);
  if (r.chance(0.4)) o.workflow_id = r.pick([ctx.workflows.kyc, ctx.workflows.biometric_authentication, 'nope']);
  if (r.chance(0.2)) o.portrait_image = image(r).bytes.toString('base64');
  const text = JSON.stringify(o);
  const variants = [
    () => ['valid-ish json', text],
    () => ['truncated json', text.slice(0, r.below(text.length))],
    () => ['not json', r.pick(['hello', '<xml/>', '{{', '\u0000\u0001', ''])],
    () => ['json array', JSON.stringify([o, o])],
    () => ['deep json', '['.repeat(5000) + ']'.repeat(5000)],
    () => ['big json', JSON.stringify({ vendor_data: 'v'.repeat(r.pick([1e5, 5e6])) })],
  ];
  const [kind, body] = r.chance(0.6) ? variants[0]() : r.pick(variants)();
  const type = r.chance(0.85) ? 'application/json' : r.pick(['text/plain', 'multipart/form-data; boundary=x', '', 'application/json; charset=utf-16']);
  return { kind, body, type };
}

/** A multipart body (FormData) for the image routes, with the fields shuffled and broken. */
function formBody(r, pattern) {
  const f = new FormData();
  const kinds = [];
  const addImage = (name) => {
    const img = image(r);
    kinds.push(`${name}=${img.kind}`);
    if (r.chance(0.07)) f.append(name, 'text, not a file');
    else f.append(name, new Blob([img.bytes], { type: r.pick(['image/jpeg', 'image/png', 'application/octet-stream', '']) }), r.pick(['a.jpg', 'b.png', '', '../x']));
  };
  if (pattern.includes('passive-liveness')) addImage(r.chance(0.9) ? 'user_image' : 'image');
  if (pattern.includes('face-match')) {
    addImage('user_image');
    if (r.chance(0.9)) addImage('ref_image');
  }
  if (pattern.includes('steps')) {
    const n = r.pick([0, 1, 8, 16, 17]);
    for (let i = 0; i < n; i++) addImage('frames');
  }
  if (pattern.includes('capture')) {
    // A passive workflow takes a burst; one picture (`frame`) and a challenge's frames are
    // refused there, as a burst is by an active one: all three kinds go to every session.
    const which = r.next();
    if (which < 0.2) addImage('frame');
    else if (which < 0.6) {
      const b = burst(r);
      kinds.push(`burst=${b.kind} x${b.frames.length}`);
      for (const [i, jpeg] of b.frames.entries()) {
        if (r.chance(0.02)) f.append('burst', 'text, not a file');
        else f.append('burst', new Blob([jpeg], { type: r.pick(['image/jpeg', 'image/jpeg', 'application/octet-stream', '']) }), `b${i}.jpg`);
      }
      // Now and then a burst with a challenge field or a stray single frame as well.
      if (r.chance(0.05)) f.append('challenge_id', 'nope');
      if (r.chance(0.05)) addImage('frame');
    } else {
      const n = r.pick([0, 1, 3, 8, 16, 17]);
      for (let i = 0; i < n; i++) addImage('frames');
      f.append('challenge_id', r.pick(['', 'nope', 'aaaaaaaa-0000-4000-8000-000000000000']));
      f.append('steps', r.pick(['[]', JSON.stringify(Array.from({ length: n }, () => r.below(3))), '[{"step":1,"t":"x"}]', 'nope', '[99]']));
    }
    if (r.chance(0.2)) f.append('precheck', r.pick(['{}', 'nope', '{"score":1}', '[]']));
  }
  for (const name of ['face_liveness_score_decline_threshold', 'face_match_score_decline_threshold']) {
    if (r.chance(0.15)) f.append(name, r.pick(['50', '-1', '101', 'abc', '', '1e9']));
  }
  return { kind: kinds.join(',') || 'no fields', body: f };
}

function fill(r, pattern, ctx) {
  return pattern
    .replace('{id}', () => encodeURIComponent(r.chance(0.5) && ctx.sessionIds.length ? r.pick(ctx.sessionIds) : r.pick(['nope', 'aaaaaaaa-0000-4000-8000-000000000000', 'x'.repeat(2000), '💥', '%00', '..'])))
    .replace('{token}', () => (r.chance(0.6) && ctx.tokens.length ? r.pick(ctx.tokens) : encodeURIComponent(r.pick(['nope', 'x'.repeat(500), '..', '🙂']))))
    .replace('{n}', () => r.pick(['0', '1', '3', '-1', 'x', '99999999999999999999']))
    .replace('{lang}', () => r.pick(['en', 'es', 'xx', 'ar']));
}

/** One generated request: `{route, method, url, init, what}`. Deterministic for (seed, ctx). */
export function generate(r, routes, ctx) {
  const route = r.pick(routes);
  let method = route.method;
  if (r.chance(0.08)) method = r.pick(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
  let path = fill(r, route.pattern, ctx);
  if (r.chance(0.1)) path = path.replace(/\/$/, '');
  if (r.chance(0.05)) path += r.pick(['?limit=-1', '?offset=abc&limit=1e9', '?status=%ZZ', '?x=' + 'y'.repeat(3000)]);
  const headers = {};
  const auth = r.next();
  if (auth < 0.8) headers['x-api-key'] = ctx.apiKey;
  else if (auth < 0.88) headers['x-api-key'] = r.pick(['wrong', ' ' + ctx.apiKey + ' ', 'x'.repeat(4000)]);
  if (route.pattern.startsWith('/internal') && ctx.operatorToken && r.chance(0.5)) headers.authorization = `Bearer ${ctx.operatorToken}`;
  if (r.chance(0.05)) headers['idempotency-key'] = r.pick(['k-' + r.below(50), '', 'é', 'x'.repeat(300)]);
  let body;
  let kind = 'no body';
  const wantsForm = /passive-liveness|face-match|capture/.test(route.pattern);
  if (method !== 'GET' && method !== 'HEAD') {
    if (wantsForm && r.chance(0.85)) {
      ({ kind, body } = formBody(r, route.pattern));
    } else if (r.chance(0.85)) {
      const j = jsonBody(r, ctx);
      kind = j.kind;
      body = j.body;
      if (j.type) headers['content-type'] = j.type;
    } else if (r.chance(0.5)) {
      kind = 'broken multipart';
      headers['content-type'] = 'multipart/form-data; boundary=zz';
      body = `--zz\r\nContent-Disposition: form-data; name="${r.pick(['frame', 'burst'])}"; filename="a"\r\n\r\n${'q'.repeat(r.below(100))}`;
    }
  }
  // Which kind of capture a multipart capture body was (burst, frame or frames), for the report.
  const capture = /\/capture\/?$/.test(route.pattern) && body instanceof FormData ? kind.match(/^(burst|frames|frame)=/)?.[1] ?? 'empty' : null;
  return { route: `${route.method} ${route.pattern}`, method, path, init: { method, headers, body }, capture, what: `${method} ${path.slice(0, 120)} [${kind}]` };
}

// ---- running --------------------------------------------------------------------------------

/** The route table from the service, or README's. */
export async function routeTable(app) {
  const port = new URL(app.origin).port;
  let token = null;
  try {
    token = JSON.parse(readFileSync(join(root, '.facegate', `dev-${port}.json`), 'utf8')).operator_token ?? null;
  } catch {
    // no dev file: fall back
  }
  if (token) {
    try {
      const res = await fetch(`${app.origin}/internal/routes`, { headers: { authorization: `Bearer ${token}` } });
      if (res.ok) {
        const body = await res.json();
        const rows = Array.isArray(body) ? body : body.results ?? body.routes;
        if (Array.isArray(rows) && rows.length) return { routes: rows.map(({ method, pattern }) => ({ method, pattern })), source: '/internal/routes', token };
      }
    } catch {
      // older service: fall back
    }
  }
  return { routes: FALLBACK_ROUTES, source: 'README table (no /internal/routes)', token };
}

async function memoryMb(app) {
  try {
    return (await (await fetch(`${app.origin}/system/healthcheck`)).json()).wasm_memory_mb ?? null;
  } catch {
    return null;
  }
}

/**
 * Sends `requests` generated requests (seeded) to a running app, `concurrency` at a time.
 * Returns counts by route and status, every 5xx with its reproducer, and the peak memory.
 */
export async function fuzz(app, { requests = 1000, seed = 1, concurrency = 4, log = () => {} } = {}) {
  const { routes, source, token } = await routeTable(app);
  // A few real sessions, so that ids and tokens sometimes name something that exists.
  const ctx = { apiKey: app.apiKey, operatorToken: token, workflows: app.workflows, sessionIds: [], tokens: [] };
  const tokenWorkflows = [];
  let made = 0;
  const open = async (workflow) => {
    // Re-authentication workflows need a face to match: the portrait gives one. A new
    // vendor_data each time: an unfinished session would be handed back for the same one.
    const portrait_image = realImages().portrait.toString('base64');
    return createSession(app, { workflow_id: workflow, vendor_data: `fuzz-${workflow}-${made++}`, portrait_image });
  };
  for (const workflow of Object.values(app.workflows ?? {})) {
    try {
      const s = await open(workflow);
      ctx.sessionIds.push(s.session_id);
      ctx.tokens.push(s.session_token);
      tokenWorkflows.push(workflow);
    } catch (e) {
      log(`could not create a session for ${workflow}: ${e.message}`);
    }
  }
  // A session is decided after its first good capture or its third refused frame, and from
  // then on every capture naming it is a 409 before any frame is read; a token's capture
  // budget (20 a minute) runs out within seconds here. A token found spent, out of budget or
  // deleted is replaced by a fresh session of the same workflow, so that captures keep
  // reaching the decoder. Which token index a request picks stays seeded.
  const renewing = new Set();
  const renew = async (i) => {
    if (renewing.has(i)) return;
    renewing.add(i);
    try {
      const s = await open(tokenWorkflows[i]);
      ctx.tokens[i] = s.session_token;
      ctx.sessionIds.push(s.session_id);
    } catch (e) {
      log(`could not renew a session: ${e.message}`);
    } finally {
      renewing.delete(i);
    }
  };
  // Every budget counts per minute: left alone, most of a long run would be answered 429 by
  // the limiter and never reach a parser. With the development clock on (FACEGATE_DEV_CLOCK=1,
  // set before the service starts), the operator moves it two minutes on every 100 requests,
  // so each hundred starts with fresh budgets (and the limiter itself stays fuzzed).
  let clockAt = Math.floor(Date.now() / 1000);
  const nextWindow = async () => {
    if (process.env.FACEGATE_DEV_CLOCK !== '1' || !app.operatorToken) return;
    clockAt += 120;
    await fetch(`${app.origin}/internal/housekeeping`, {
      method: 'POST',
      headers: { authorization: `Bearer ${app.operatorToken}`, 'x-facegate-dev-now': String(clockAt) },
    }).catch(() => {});
  };
  const captures = {};
  const r = rng(seed);
  const byRoute = {};
  const failures = [];
  let peakMb = await memoryMb(app);
  let sent = 0;
  let next = 0;
  const one = async (i) => {
    const req = generate(r, routes, ctx);
    let status;
    try {
      const res = await fetch(`${app.origin}${req.path}`, { ...req.init, redirect: 'manual', signal: AbortSignal.timeout(60_000) });
      status = res.status;
      const text = await res.text();
      if (status >= 500) failures.push({ i, seed, status, request: req.what, body: text.slice(0, 300) });
    } catch (e) {
      status = `error: ${e.cause?.code ?? e.name}`;
      failures.push({ i, seed, status, request: req.what, body: String(e.message).slice(0, 300) });
    }
    byRoute[req.route] ??= {};
    byRoute[req.route][status] = (byRoute[req.route][status] ?? 0) + 1;
    if (req.capture) {
      captures[req.capture] ??= {};
      captures[req.capture][status] = (captures[req.capture][status] ?? 0) + 1;
      const spent = ctx.tokens.findIndex((t) => req.path.includes(`/${t}/`));
      if (spent >= 0 && [404, 409, 410, 429].includes(status)) await renew(spent);
    }
    sent += 1;
    if (sent % 100 === 0) {
      await nextWindow();
      const mb = await memoryMb(app);
      if (mb !== null) peakMb = Math.max(peakMb ?? 0, mb);
      log(`${sent}/${requests} sent, ${failures.length} failures, wasm memory ${mb} MB (peak ${peakMb})`);
    }
  };
  // Requests are generated in order from one seeded stream, so the run is the same whatever
  // the concurrency (only the interleaving at the server differs).
  const workers = Array.from({ length: concurrency }, async () => {
    while (next < requests) await one(next++);
  });
  await Promise.all(workers);
  const finalMb = await memoryMb(app);
  if (finalMb !== null) peakMb = Math.max(peakMb ?? 0, finalMb);
  const health = await (await fetch(`${app.origin}/system/healthcheck`)).json().catch(() => ({}));
  return { requests: sent, seed, routeSource: source, byRoute, captures, failures, peakWasmMemoryMb: peakMb, memory: health.memory };
}

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const requests = arg('requests', 10_000);
  const seed = arg('seed', 20261204);
  const concurrency = arg('concurrency', 4);
  process.env.FACEGATE_DEV_CLOCK = '1';
  const app = await spawnApp();
  let report;
  try {
    const t0 = performance.now();
    report = await fuzz(app, { requests, seed, concurrency, log: (m) => process.stderr.write(`[fuzz] ${m}\n`) });
    report.seconds = Math.round((performance.now() - t0) / 1000);
  } finally {
    await app.stop();
  }
  const byStatus = {};
  for (const counts of Object.values(report.byRoute)) {
    for (const [status, n] of Object.entries(counts)) byStatus[status] = (byStatus[status] ?? 0) + n;
  }
  console.log(JSON.stringify({ ...report, byStatus }, null, 2));
  const tooMuch = report.peakWasmMemoryMb > MEMORY_CEILING_MB;
  if (report.failures.length || tooMuch) {
    console.error(`FAILED: ${report.failures.length} responses ≥ 500 or errors; peak wasm memory ${report.peakWasmMemoryMb} MB (ceiling ${MEMORY_CEILING_MB})`);
    process.exit(1);
  }
  console.error(`ok: ${report.requests} requests, 0 responses ≥ 500, peak wasm memory ${report.peakWasmMemoryMb} MB`);
}
