// The demo integrator's web server: a pretend app ("Notebook") that lets a user sign up with a
// selfie and later sign in again with one, instead of resetting a password. It holds the
// facegate API key, creates sessions, receives and verifies webhooks, and decides "signed in"
// only from facegate's signed webhook or its decision API, never from what the browser says.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { facegateClient, FacegateError } from './facegate.mjs';
import { verifyWebhook } from './signature.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const STATIC = {
  '/': ['web/demo/index.html', 'text/html; charset=utf-8'],
  '/app.js': ['web/demo/app.js', 'text/javascript; charset=utf-8'],
  '/style.css': ['web/demo/style.css', 'text/css; charset=utf-8'],
  // Served from node_modules so the page loads nothing from a CDN.
  '/vendor/didit-sdk.js': ['node_modules/@didit-protocol/sdk-web/dist/didit-sdk.umd.min.js', 'text/javascript; charset=utf-8'],
};
const DECIDED = new Set(['Approved', 'Declined', 'In Review', 'Expired', 'Abandoned', 'Kyc Expired']);
const USERNAME = /^[A-Za-z0-9._-]{1,40}$/;
const MAX_WEBHOOK_BYTES = 1 << 20;
const KEEP = 30;

/** Everything the demo remembers, in memory: a restart forgets accounts but facegate keeps the faces. */
function createState() {
  return {
    browsers: new Map(), // cookie id → { lastUsername, signedIn, notice, timeline, sessionIds }
    sessions: new Map(), // facegate session_id → { sid, username, purpose, channel, outcome }
    accounts: new Map(), // username → { sid, enrolledAt, sessionId }
    webhooks: [], // every delivery, verified or not, newest last
  };
}

function say(browser, kind, text) {
  browser.timeline.push({ at: Date.now(), kind, text });
  if (browser.timeline.length > KEEP) browser.timeline.shift();
}

function flowName({ purpose, channel }) {
  if (purpose === 'signup') return 'sign-up';
  return channel === 'sdk' ? 'sign-in, pop-up' : 'sign-in, redirect';
}

function short(id) {
  return String(id ?? '').slice(0, 8);
}

async function readBody(req, limit) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) throw Object.assign(new Error('body too large'), { status: 413 });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

async function readForm(req) {
  const raw = (await readBody(req, 64 * 1024)).toString('utf8');
  if ((req.headers['content-type'] ?? '').startsWith('application/json')) {
    try {
      return JSON.parse(raw || '{}');
    } catch {
      throw Object.assign(new Error('body is not JSON'), { status: 400 });
    }
  }
  return Object.fromEntries(new URLSearchParams(raw));
}

function send(res, status, body, headers = {}) {
  const json = typeof body !== 'string';
  res.writeHead(status, { 'content-type': json ? 'application/json' : 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(json ? JSON.stringify(body) : body);
}

function redirect(res, location) {
  res.writeHead(303, { location, 'cache-control': 'no-store' }).end();
}

/** The browser's demo identity, from an HttpOnly cookie set on its first request. */
function browserOf(state, req, res) {
  const sid = /(?:^|;\s*)fg_demo=([0-9a-f]{32})/.exec(req.headers.cookie ?? '')?.[1];
  if (sid && state.browsers.has(sid)) return { sid, browser: state.browsers.get(sid) };
  const fresh = randomBytes(16).toString('hex');
  state.browsers.set(fresh, { lastUsername: '', signedIn: null, notice: null, timeline: [], sessionIds: new Set() });
  res.setHeader('set-cookie', `fg_demo=${fresh}; HttpOnly; SameSite=Lax; Path=/`);
  return { sid: fresh, browser: state.browsers.get(fresh) };
}

/** Why facegate refused to create a session, in words for the page. */
function refusal(e, username) {
  if (e instanceof FacegateError && e.status === 400 && e.body?.portrait_image) {
    return `facegate has no enrolled face for "${username}" yet. Sign up first: the sign-up selfie is what later selfies are compared with.`;
  }
  if (e instanceof FacegateError) return `facegate refused the session (HTTP ${e.status}).`;
  return `facegate could not be reached (${e.message}).`;
}

export function createDemoServer({ config, publicUrl, log = () => {} }) {
  const state = createState();
  const facegate = facegateClient(config);
  const facegateOrigin = new URL(config.baseUrl).origin;
  const csp = [
    "default-src 'self'",
    "script-src 'self'",
    // The web SDK injects one <style> element for its modal.
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "connect-src 'self'",
    `frame-src ${facegateOrigin}`,
    // Sign-up and redirect sign-in are form posts that the server answers with a redirect to facegate.
    `form-action 'self' ${facegateOrigin}`,
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join('; ');

  /** Registers a new facegate session for this browser, so only it can complete it. */
  async function startSession({ sid, browser }, username, purpose, channel) {
    const kind = purpose === 'signup' ? 'kyc' : 'biometric_authentication';
    const callback = channel === 'redirect' ? `${publicUrl}/callback` : undefined;
    const session = await facegate.createSession(kind, username, callback);
    state.sessions.set(session.session_id, { sid, username, purpose, channel, outcome: null });
    browser.sessionIds.add(session.session_id);
    browser.lastUsername = username;
    log(`created ${kind} session ${session.session_id} for ${username} (${channel})`);
    return session;
  }

  /**
   * The verdict for a session from a trustworthy source: the latest verified webhook if it
   * carries a decided status, else facegate's decision API (server to server, with the key).
   */
  async function authoritativeStatus(sessionId) {
    const hook = state.webhooks.findLast((w) => w.verified && w.sessionId === sessionId);
    if (hook && DECIDED.has(hook.status)) return { status: hook.status, vendorData: hook.vendorData, via: 'signed webhook' };
    const decision = await facegate.decision(sessionId);
    return { status: decision.status, vendorData: decision.vendor_data, via: `GET /v3/session/${short(sessionId)}…/decision/` };
  }

  /** Acts on a trustworthy verdict once: enrol the account, or sign the browser in. */
  function applyVerdict(sessionId, { status, vendorData, via }) {
    const record = state.sessions.get(sessionId);
    const browser = state.browsers.get(record.sid);
    if (!DECIDED.has(status) || record.outcome === 'Approved') return;
    if (vendorData !== record.username) {
      say(browser, 'bad', `Session ${short(sessionId)}… belongs to another user; ignored.`);
      return;
    }
    record.outcome = status;
    if (status !== 'Approved') {
      browser.notice = { kind: 'bad', text: `${record.purpose === 'signup' ? 'Sign-up' : 'Sign-in'} not completed: facegate says ${status}.` };
      say(browser, 'bad', `${via} says ${status}: ${record.purpose === 'signup' ? 'no face was enrolled' : 'not signed in'}.`);
      return;
    }
    if (record.purpose === 'signup') {
      state.accounts.set(record.username, { sid: record.sid, enrolledAt: Date.now(), sessionId });
      browser.notice = { kind: 'ok', text: `Account "${record.username}" created. Your face is enrolled: try signing in again with a selfie.` };
      say(browser, 'ok', `Confirmed by ${via}: Approved. "${record.username}" is enrolled; facegate keeps only an encrypted face template, not the photo.`);
    } else {
      browser.signedIn = { username: record.username, sessionId, via, channel: record.channel, at: Date.now() };
      browser.notice = { kind: 'ok', text: `Signed in as ${record.username}, with a selfie instead of a password.` };
      say(browser, 'ok', `Confirmed by ${via}: Approved. Signed in as "${record.username}".`);
    }
  }

  /** The browser came back (callback or SDK onComplete): confirm with facegate before acting. */
  async function confirm(ctx, sessionId, reported, via) {
    const record = state.sessions.get(sessionId);
    if (!record || record.sid !== ctx.sid) {
      say(ctx.browser, 'bad', `A result for session ${short(sessionId)}… arrived, but this browser did not start it; ignored.`);
      return;
    }
    say(ctx.browser, 'info', `Back from facegate via ${via}, which reports "${reported ?? 'nothing'}". The browser can be tampered with, so the server checks with facegate.`);
    let verdict;
    try {
      verdict = await authoritativeStatus(sessionId);
    } catch (e) {
      ctx.browser.notice = { kind: 'bad', text: `Could not confirm the result with facegate (${e.message}), so nothing changes. Try again.` };
      say(ctx.browser, 'bad', 'No verified webhook yet and the decision API did not answer: nothing changes.');
      return;
    }
    if (!DECIDED.has(verdict.status)) {
      ctx.browser.notice = { kind: 'bad', text: `The selfie check did not finish (facegate says ${verdict.status}).` };
      say(ctx.browser, 'bad', `${verdict.via} says ${verdict.status}: nothing changes.`);
      return;
    }
    applyVerdict(sessionId, verdict);
  }

  function recordWebhook(rawBody, headers) {
    const result = verifyWebhook(rawBody, headers, config.webhookSecret);
    let claimed = {};
    try {
      claimed = result.payload ?? JSON.parse(rawBody.toString('utf8'));
    } catch {
      // shown as received, with nothing claimed
    }
    const entry = {
      at: Date.now(),
      event: String(claimed.webhook_type ?? '?'),
      status: String(claimed.status ?? '?'),
      sessionId: String(claimed.session_id ?? ''),
      vendorData: claimed.vendor_data,
      verified: result.ok,
      detail: result.ok ? `verified with ${result.scheme}` : result.reason,
    };
    state.webhooks.push(entry);
    if (state.webhooks.length > 500) state.webhooks.shift();
    log(`webhook ${entry.event} ${entry.status} ${entry.sessionId}: ${entry.verified ? 'verified' : `REJECTED (${entry.detail})`}`);
    // A verified final status acts even if the browser never comes back (closed tab, lost callback).
    if (result.ok && state.sessions.has(entry.sessionId)) applyVerdict(entry.sessionId, { ...entry, via: 'signed webhook' });
    return result.ok;
  }

  function view({ sid, browser }) {
    const mine = state.webhooks.filter((w) => browser.sessionIds.has(w.sessionId));
    return {
      facegateOrigin,
      lastUsername: browser.lastUsername,
      signedIn: browser.signedIn,
      enrolled: [...state.accounts].filter(([, a]) => a.sid === sid).map(([username]) => username),
      notice: browser.notice,
      timeline: browser.timeline.slice().reverse(),
      webhooks: mine.slice(-KEEP).reverse().map(({ vendorData, ...w }) => ({ ...w, flow: flowName(state.sessions.get(w.sessionId)) })),
    };
  }

  /** POST /signup and POST /signin (form posts): create the session, redirect to facegate. */
  async function startByRedirect(ctx, form, purpose) {
    const username = String(form.username ?? '').trim();
    if (!USERNAME.test(username)) {
      ctx.browser.notice = { kind: 'bad', text: 'A username is 1 to 40 letters, digits, dots, dashes or underscores.' };
      return '/';
    }
    if (purpose === 'signup' && state.accounts.has(username)) {
      // Re-enrolling an existing name would replace its face: that is an account takeover.
      ctx.browser.notice = { kind: 'bad', text: `"${username}" is taken. Sign in instead.` };
      return '/';
    }
    try {
      const session = await startSession(ctx, username, purpose, 'redirect');
      ctx.browser.notice = null;
      say(ctx.browser, 'info', purpose === 'signup'
        ? `Created a kyc session ${short(session.session_id)}… with vendor_data "${username}" and sent you to facegate's hosted page. Its selfie becomes the face "${username}" signs in with.`
        : `Created a biometric_authentication session ${short(session.session_id)}… for "${username}" and sent you to facegate's hosted page (full-page redirect). facegate compares the selfie with the enrolled face and checks that it is live.`);
      return session.url;
    } catch (e) {
      ctx.browser.notice = { kind: 'bad', text: refusal(e, username) };
      return '/';
    }
  }

  /** POST /api/signin (JSON): a session for the web SDK's modal; only its URL goes to the browser. */
  async function startForSdk(ctx, body) {
    const username = String(body.username ?? '').trim();
    if (!USERNAME.test(username)) return [400, { error: 'A username is 1 to 40 letters, digits, dots, dashes or underscores.' }];
    try {
      const session = await startSession(ctx, username, 'signin', 'sdk');
      ctx.browser.notice = null;
      say(ctx.browser, 'info', `Created a biometric_authentication session ${short(session.session_id)}… for "${username}" and opened facegate's page in @didit-protocol/sdk-web's modal (an iframe): you never leave this page.`);
      return [201, { session_id: session.session_id, url: session.url }];
    } catch (e) {
      ctx.browser.notice = { kind: 'bad', text: refusal(e, username) };
      return [e instanceof FacegateError && e.status < 500 ? 400 : 502, { error: ctx.browser.notice.text }];
    }
  }

  async function route(req, res) {
    const url = new URL(req.url, publicUrl);
    const path = url.pathname;
    if (req.method === 'POST' && path === '/webhook') {
      const raw = await readBody(req, MAX_WEBHOOK_BYTES);
      return recordWebhook(raw, req.headers) ? send(res, 200, { ok: true }) : send(res, 401, { detail: 'Invalid signature.' });
    }
    // The session cookie and the callback URL are bound to one host name: keep visitors on it.
    if (req.method === 'GET' && req.headers.host !== new URL(publicUrl).host) return redirect(res, `${publicUrl}${path}${url.search}`);
    const ctx = browserOf(state, req, res);
    if (req.method === 'GET' && STATIC[path]) {
      const [file, type] = STATIC[path];
      const headers = { 'content-type': type, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff', 'referrer-policy': 'same-origin' };
      if (path === '/') headers['content-security-policy'] = csp;
      return res.writeHead(200, headers).end(await readFile(join(root, file)));
    }
    if (req.method === 'GET' && path === '/api/state') return send(res, 200, view(ctx));
    if (req.method === 'GET' && path === '/callback') {
      const sessionId = url.searchParams.get('verificationSessionId') ?? '';
      await confirm(ctx, sessionId, url.searchParams.get('status'), 'the callback URL');
      return redirect(res, '/#result');
    }
    if (req.method === 'POST' && (path === '/signup' || path === '/signin')) {
      return redirect(res, await startByRedirect(ctx, await readForm(req), path.slice(1)));
    }
    if (req.method === 'POST' && path === '/api/signin') {
      const [status, body] = await startForSdk(ctx, await readForm(req));
      return send(res, status, body);
    }
    if (req.method === 'POST' && path === '/api/confirm') {
      const body = await readForm(req);
      await confirm(ctx, String(body.session_id ?? ''), body.status, "the web SDK's onComplete");
      return send(res, 200, view(ctx));
    }
    if (req.method === 'POST' && path === '/signout') {
      if (ctx.browser.signedIn) say(ctx.browser, 'info', `Signed out "${ctx.browser.signedIn.username}".`);
      ctx.browser.signedIn = null;
      ctx.browser.notice = null;
      return redirect(res, '/');
    }
    return send(res, 404, 'Not found');
  }

  return createServer((req, res) => {
    route(req, res).catch((e) => {
      log(`error on ${req.method} ${req.url}: ${e.stack ?? e}`);
      if (!res.headersSent) send(res, e.status ?? 500, { error: e.status ? e.message : 'internal error' });
    });
  });
}

/** Listens on `host:port`; resolves to `{ url, close }`. */
export async function startDemoServer({ config, port, host = '127.0.0.1', log }) {
  // A fixed port: facegate must already know the webhook URL (http://host:port/webhook).
  const publicUrl = `http://${host}:${port}`;
  const server = createDemoServer({ config, publicUrl, log });
  await new Promise((resolve, reject) => server.once('error', reject).listen(port, host, resolve));
  return { url: publicUrl, close: () => new Promise((r) => server.close(r)) };
}
