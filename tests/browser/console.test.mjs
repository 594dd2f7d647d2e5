// The operator console (/console/, web/console/) in a real browser (Debian's Chromium, driven by
// playwright-core) against the real service: the first admin's setup link, sign-in, deciding an
// In Review session from the queue (the review and the integrator's webhook checked through the
// API), the session list and page, applications and API keys, an invited reviewer, usage and
// the audit log, and CSRF.
// Each screen is screenshotted at 1280×800 and 390×844 (out/screenshots/console-*.png) and
// checked with axe-core for serious or critical violations.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { LIVE_CLIP, burstOf, captureBurst, createSession, dataDir, root, spawnApp, webhookReceiver } from '../edge/harness.mjs';
import { launchChromium } from './chromium.mjs';

const shots = join(root, 'out', 'screenshots');
// The README's pictures (docs/console/), taken at 1280 px by the tests that reach each screen.
const docs = join(root, 'docs', 'console');
const DOCS = { queue: 'review-queue', session: 'session-evidence', team: 'application', usage: 'usage', settings: 'settings' };
const CLIP = 'live_selfie_640x480_30fps_5s.mjpeg';
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const WAIT = 60_000;
const ADMIN = { name: 'Ada Admin', email: 'ada.admin@example.test', password: 'correct horse battery staple' };
// axe-core is served to the page from its own origin: the console's CSP (script-src 'self')
// refuses the inline <script> that addScriptTag({content}) would make.
const AXE_PATH = '/console/__axe-core-for-tests.js';

let app;
let hooks;
let admin;
let page;
let axeSource;
/** The In Review session the queue test decides, reused by the session page test. */
let reviewed;
/** The application and the key the applications test makes and revokes, for the audit log. */
let acme;

before(async () => {
  mkdirSync(shots, { recursive: true });
  mkdirSync(docs, { recursive: true });
  axeSource = readFileSync(join(root, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
  hooks = await webhookReceiver();
  app = await spawnApp({ webhookUrl: hooks.url });
  assert.ok(app.consoleSetupUrl, 'the harness gives the first admin\'s setup link (app.consoleSetupUrl)');
  admin = await launchChromium(CLIP, { camera: false, viewport: DESKTOP });
  await serveAxe(admin.context);
  page = await admin.context.newPage();
});
after(async () => {
  await admin?.close();
  await app?.stop();
  await hooks?.close();
});

// ---- helpers -------------------------------------------------------------------------------

async function serveAxe(context) {
  await context.route(`**${AXE_PATH}`, (route) => route.fulfill({ status: 200, contentType: 'text/javascript', body: axeSource }));
}

/** Scores as the console prints them: one decimal at most. */
const fmt = (n) => String(Math.round(n * 10) / 10);

/** Waits until the console has finished rendering a route whose hash matches `pattern`. */
async function rendered(p, pattern) {
  await p.waitForFunction(
    (source) => new RegExp(source).test(document.body.dataset.rendered ?? '') && !document.getElementById('view').hasAttribute('aria-busy'),
    pattern.source,
    { timeout: WAIT },
  );
}

/** Opens a console route and waits for it; the route already shown is loaded afresh (a
 * same-document navigation to the same hash would change nothing). */
async function open(p, hash, pattern) {
  const url = `${app.origin}/console/${hash}`;
  if (p.url() === url) await p.reload();
  else await p.goto(url);
  await rendered(p, pattern);
}

/** The operator API from inside the page (its cookie), with the CSRF token unless `csrf: false`. */
async function consoleApi(p, method, path, { csrf = true, body } = {}) {
  return p.evaluate(
    async ({ method, path, csrf, body }) => {
      const headers = {};
      if (method !== 'GET') {
        headers['Content-Type'] = 'application/json';
        if (csrf) {
          const me = await (await fetch('/console/api/me/', { credentials: 'same-origin' })).json();
          headers['X-CSRF-Token'] = me.csrf_token;
        }
      }
      const res = await fetch(`/console/api${path}`, {
        method,
        credentials: 'same-origin',
        headers,
        body: method === 'GET' || method === 'DELETE' ? undefined : JSON.stringify(body ?? {}),
      });
      const text = await res.text();
      let json = null;
      try {
        json = JSON.parse(text);
      } catch {
        // not JSON (204, a PDF)
      }
      return { status: res.status, body: json ?? text };
    },
    { method, path, csrf, body },
  );
}

async function appId(p, name) {
  const me = await consoleApi(p, 'GET', '/me/');
  assert.equal(me.status, 200, JSON.stringify(me.body));
  const found = me.body.applications.find((a) => a.name === name);
  assert.ok(found, `no application ${name} in ${JSON.stringify(me.body.applications)}`);
  return found.id;
}

/** axe-core on the page as it is: no serious or critical violation. */
async function checkAxe(p, name) {
  if (!(await p.evaluate(() => Boolean(window.axe)))) await p.addScriptTag({ url: AXE_PATH });
  const { violations } = await p.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  for (const v of bad) {
    process.stderr.write(`[axe] ${name}: ${v.impact} ${v.id}: ${v.help}\n`);
    for (const node of v.nodes) process.stderr.write(`    ${node.target.join(' ')}: ${node.failureSummary?.replace(/\n/g, ' ')}\n`);
  }
  assert.deepEqual(bad.map((v) => v.id), [], `${name}: axe-core found serious or critical violations (printed above)`);
}

/**
 * Screenshots of the current screen at desktop and phone width, axe-core at both, and no
 * horizontal scroll of the page on the phone (tables scroll inside their own box).
 */
async function capture(p, name) {
  await p.setViewportSize(DESKTOP);
  await p.screenshot({ path: join(shots, `console-${name}-desktop.png`), fullPage: true });
  // The window as an operator sees it (a full page would stretch the queue's sticky decision
  // panel over the evidence); the application's picture starts at its operators.
  if (DOCS[name]) {
    if (name === 'team') await p.$eval('#team-title', (h) => h.closest('section').scrollIntoView({ block: 'start' }));
    else await p.evaluate(() => window.scrollTo(0, 0));
    await p.screenshot({ path: join(docs, `${DOCS[name]}.png`) });
  }
  await checkAxe(p, `${name} at ${DESKTOP.width} px`);
  await p.setViewportSize(PHONE);
  const width = await p.evaluate(() => ({ scroll: document.documentElement.scrollWidth, viewport: window.innerWidth }));
  assert.ok(width.scroll <= width.viewport, `${name}: the page scrolls sideways at ${PHONE.width} px (${JSON.stringify(width)})`);
  await p.screenshot({ path: join(shots, `console-${name}-phone.png`), fullPage: true });
  await checkAxe(p, `${name} at ${PHONE.width} px`);
  await p.setViewportSize(DESKTOP);
}

async function statusMessage(p, pattern) {
  await p.waitForFunction((source) => new RegExp(source, 'i').test(document.getElementById('status-message').textContent), pattern.source, { timeout: WAIT });
  return p.textContent('#status-message');
}

/** `GET /v3/sessions/` with `key`: 200 for a working key, 401 for a revoked one. */
async function v3Status(key) {
  return (await fetch(`${app.baseUrl}/sessions/`, { headers: { 'x-api-key': key } })).status;
}

/** A workflow whose thresholds send every real match to review (decline 10, review 100), and a
 * session on it answered with the live clip against its person's portrait: In Review. */
async function inReviewSession(vendor) {
  const res = await fetch(`${app.baseUrl}/workflows/`, {
    method: 'POST',
    headers: { 'x-api-key': app.apiKey, 'content-type': 'application/json' },
    body: JSON.stringify({
      workflow_label: `console-review-${Date.now()}`,
      features: [
        { feature: 'LIVENESS' },
        { feature: 'FACE_MATCH', config: { face_match_score_decline_threshold: 10, face_match_score_review_threshold: 100 } },
      ],
    }),
  });
  assert.equal(res.status, 201, await res.clone().text());
  const { workflow_id } = await res.json();
  const portrait = readFileSync(join(dataDir, 'video/enroll_portrait_apfol_s1_t9.5s.jpg')).toString('base64');
  const s = await createSession(app, { workflow_id, vendor_data: vendor, portrait_image: portrait });
  const { status, body } = await captureBurst(app, s.session_token, burstOf(LIVE_CLIP, 0));
  assert.equal(status, 200, JSON.stringify(body));
  assert.equal(body.status, 'In Review', JSON.stringify(body));
  return s;
}

// ---- tests ---------------------------------------------------------------------------------

test('the first admin sets up through the one-time link, signs out and in again; a wrong password is refused', { timeout: 180_000 }, async () => {
  await page.goto(app.consoleSetupUrl);
  await rendered(page, /^#setup=/);
  await capture(page, 'setup');
  await page.fill('#setup-name', ADMIN.name);
  await page.fill('#setup-email', ADMIN.email);
  await page.fill('#setup-password', ADMIN.password);
  await page.fill('#setup-confirm', ADMIN.password);
  await page.click('#setup-submit');
  await rendered(page, /^#\/(queue|apps)/);
  assert.doesNotMatch(page.url(), /setup=/, 'the token leaves the address bar');
  assert.equal(await page.textContent('#operator-name'), ADMIN.name);
  const me = await consoleApi(page, 'GET', '/me/');
  assert.equal(me.body.operator.email, ADMIN.email);
  assert.equal(me.body.operator.platform_admin, true);

  await page.click('#sign-out');
  await rendered(page, /^#\/login$/);
  await statusMessage(page, /signed out/);
  assert.equal((await consoleApi(page, 'GET', '/me/')).status, 401, 'the cookie no longer signs anyone in');

  // The link worked once.
  await page.goto(app.consoleSetupUrl);
  await rendered(page, /^#setup=/);
  await page.fill('#setup-name', 'Mallory');
  await page.fill('#setup-email', 'mallory@example.test');
  await page.fill('#setup-password', 'another long password');
  await page.fill('#setup-confirm', 'another long password');
  await page.click('#setup-submit');
  await page.waitForSelector('#setup-error:not([hidden])', { timeout: WAIT });
  assert.match(await page.textContent('#setup-error'), /unknown, already used or expired/);

  await open(page, '#/login', /^#\/login$/);
  await capture(page, 'sign-in');
  await page.fill('#login-email', ADMIN.email);
  await page.fill('#login-password', 'not the password at all');
  await page.click('#login-submit');
  await page.waitForSelector('#login-error:not([hidden])', { timeout: WAIT });
  assert.match(await page.textContent('#login-error'), /wrong email or password/i);
  assert.equal(await page.getAttribute('#login-error', 'role'), 'alert');
  assert.match(await page.evaluate(() => document.body.dataset.rendered), /^#\/login$/);

  await page.fill('#login-password', ADMIN.password);
  await page.click('#login-submit');
  await rendered(page, /^#\/(queue|apps)/);
  assert.equal(await page.textContent('#operator-name'), ADMIN.name);
});

test('an In Review session is declined from the queue: evidence, keyboard, review log and webhook', { timeout: 180_000 }, async () => {
  const vendor = `console-review-${Date.now()}`;
  const s = await inReviewSession(vendor);
  await hooks.waitFor((b) => b.session_id === s.session_id && b.status === 'In Review');
  const dev = await appId(page, 'Development');

  await open(page, `#/queue/${dev}`, new RegExp(`^#/queue/${dev}$`));
  const item = `#queue-list .queue-item[data-session-id="${s.session_id}"]`;
  await page.click(item);
  await page.waitForFunction((id) => document.querySelector('#queue-list [aria-current="true"]')?.dataset.sessionId === id, s.session_id);

  // The evidence as the API gives it, drawn against its thresholds.
  const queue = await consoleApi(page, 'GET', `/applications/${dev}/queue/`);
  assert.equal(queue.status, 200, JSON.stringify(queue.body));
  const evidence = queue.body.results.find((e) => e.session_id === s.session_id);
  assert.ok(evidence, 'the session is in the queue');
  const fm = evidence.face_match;
  assert.equal(fm.decline_threshold, 10);
  assert.equal(fm.review_threshold, 100);
  assert.ok(fm.score > 10 && fm.score < 100, JSON.stringify(fm));
  assert.equal(await page.textContent('#evidence .score-value >> nth=0'), fmt(fm.score));
  assert.equal(await page.textContent('#evidence .score-vs >> nth=0'), 'vs review threshold 100');
  assert.equal(await page.getAttribute('#evidence .meter >> nth=0', 'aria-label'), `Face match ${fmt(fm.score)} of 100; review threshold 100, decline threshold 10`);
  assert.equal(await page.getAttribute('#evidence .meter >> nth=0', 'role'), 'img');
  if (fm.calibration) assert.equal(await page.textContent('#evidence .calibration >> nth=0'), fm.calibration);
  const text = await page.textContent('#evidence');
  assert.match(text, new RegExp(`${evidence.attempts} of ${evidence.max_attempts}`));
  if (evidence.ip_address === null) assert.match(text, /not recorded/);
  if (evidence.images === null) assert.match(text, /Images are not retained for this application/);
  else assert.equal(await page.locator('#evidence img.evidence-img').count(), 2);
  for (const w of evidence.warnings) if (w.plain) assert.ok(text.includes(w.plain), `warning shown in plain words: ${w.plain}`);
  await capture(page, 'queue');

  // Typing in the comment box is typing, not a shortcut; Esc leaves the box, then d declines.
  const comment = `Not the enrolled person (console test ${vendor})`;
  await page.keyboard.press('c');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'comment');
  await page.keyboard.type(`${comment} d`);
  assert.equal(await page.locator(item).count(), 1, 'd typed in the comment did not decide');
  await page.keyboard.press('Backspace');
  await page.keyboard.press('Backspace');
  await page.keyboard.press('Escape');
  await page.keyboard.press('d');
  const message = await statusMessage(page, /declined/);
  assert.match(message, new RegExp(vendor));
  await page.waitForSelector(item, { state: 'detached', timeout: WAIT });

  // The server recorded the review as the console user's and told the integrator.
  const reviews = await (await fetch(`${app.baseUrl}/sessions/${s.session_id}/reviews/`, { headers: { 'x-api-key': app.apiKey } })).json();
  const mine = reviews.results.find((r) => r.actor_type === 'CONSOLE_USER');
  assert.ok(mine, JSON.stringify(reviews));
  assert.equal(mine.new_status, 'Declined');
  assert.equal(mine.previous_status, 'In Review');
  assert.equal(mine.comment, comment);
  const hook = await hooks.waitFor((b) => b.session_id === s.session_id && b.status === 'Declined');
  assert.equal(JSON.parse(hook.body).webhook_type, 'status.updated');
  const decision = await (await fetch(`${app.baseUrl}/session/${s.session_id}/decision/`, { headers: { 'x-api-key': app.apiKey } })).json();
  assert.equal(decision.status, 'Declined');
  reviewed = { ...s, vendor, comment, dev };
});

test('the session list filters and searches; the session page shows the timeline, resends a webhook, links the PDF', { timeout: 180_000 }, async () => {
  assert.ok(reviewed, 'runs after the queue test');
  const { session_id: id, vendor, comment, dev } = reviewed;
  // The review's webhook is in the delivery log before the page reads the timeline.
  const deadline = Date.now() + WAIT;
  for (;;) {
    const detail = await consoleApi(page, 'GET', `/applications/${dev}/sessions/${id}/`);
    assert.equal(detail.status, 200, JSON.stringify(detail.body));
    const delivered = detail.body.timeline.filter((t) => t.kind === 'webhook' && t.delivery?.http_status === 200);
    if (delivered.length >= 2) break;
    assert.ok(Date.now() < deadline, `no two delivered webhooks in the timeline: ${JSON.stringify(detail.body.timeline)}`);
    await new Promise((r) => setTimeout(r, 250));
  }

  await open(page, `#/sessions/${dev}`, new RegExp(`^#/sessions/${dev}$`));
  await page.waitForSelector(`#sessions-table tr[data-session-id="${id}"]`, { timeout: WAIT });
  await capture(page, 'sessions');

  await page.fill('#sessions-search', vendor);
  await page.click('#sessions-apply');
  await rendered(page, /search=/);
  assert.deepEqual(await page.$$eval('#sessions-table tbody tr[data-session-id]', (rows) => rows.map((r) => r.dataset.sessionId)), [id]);
  await page.selectOption('#sessions-status', 'Approved');
  await rendered(page, /status=Approved/);
  assert.equal(await page.locator('#sessions-table tbody tr[data-session-id]').count(), 0, 'a Declined session is not Approved');
  await page.selectOption('#sessions-status', 'Declined');
  await rendered(page, /status=Declined/);
  await page.click(`#sessions-table tr[data-session-id="${id}"] td:nth-child(2)`);
  await rendered(page, new RegExp(`^#/session/${dev}/${id}$`));

  assert.equal(await page.locator('#timeline .kind-created').count(), 1);
  assert.ok((await page.textContent('#timeline .kind-review')).includes(comment), 'the review and its comment are in the timeline');
  assert.ok((await page.locator('#timeline .kind-webhook').count()) >= 2);
  // With how long the receiver took, as the worker measured it.
  assert.match(await page.textContent('#timeline .kind-webhook >> nth=-1'), /HTTP 200 · \d+ ms\b/);
  await capture(page, 'session');

  // Resend the last delivery (the decline): the receiver gets the same event again.
  const forThis = () => hooks.received.filter((d) => JSON.parse(d.body).session_id === id).length;
  const before = forThis();
  await page.click('#timeline .kind-webhook >> nth=-1 >> .resend');
  await statusMessage(page, /queued to be sent again/);
  await hooks.waitFor(() => forThis() > before, 30_000);

  const href = await page.getAttribute('#pdf-link', 'href');
  assert.equal(href, `/console/api/applications/${dev}/sessions/${id}/pdf/`);
  const pdf = await page.evaluate(async (url) => {
    const res = await fetch(url, { credentials: 'same-origin' });
    const bytes = new Uint8Array(await res.arrayBuffer());
    return { status: res.status, type: res.headers.get('content-type'), head: String.fromCharCode(...bytes.slice(0, 5)) };
  }, href);
  assert.deepEqual(pdf, { status: 200, type: 'application/pdf', head: '%PDF-' });
});

test('an application and an API key made in the console work on /v3 until the key is revoked', { timeout: 180_000 }, async () => {
  const name = `Console Acme ${Date.now()}`;
  await open(page, '#/apps', /^#\/apps/);
  await page.fill('#app-name', name);
  await page.click('#app-create');
  await page.waitForSelector('#app-key', { timeout: WAIT });
  const made = await appId(page, name);
  await rendered(page, new RegExp(`^#/apps/${made}$`));
  const appKey = await page.inputValue('#app-key');
  assert.match(await page.textContent('.reveal'), /shown once/i);
  assert.equal(await v3Status(appKey), 200, 'the key made with the application works');

  const keyIds = () => page.$$eval('#keys-table tbody tr[data-key-id]', (rows) => rows.map((r) => r.dataset.keyId));
  const before = await keyIds();
  await page.click('#key-create');
  await page.waitForSelector('#revealed-key', { timeout: WAIT });
  const key = await page.inputValue('#revealed-key');
  assert.notEqual(key, appKey);
  assert.match(await page.textContent('#key-reveal'), /shown once/i);
  assert.equal(await v3Status(key), 200);
  await page.waitForFunction((n) => document.querySelectorAll('#keys-table tbody tr[data-key-id]').length > n, before.length);
  const [keyId] = (await keyIds()).filter((k) => !before.includes(k));
  assert.ok(keyId, 'the new key is listed');
  await capture(page, 'apps');

  await page.click(`.revoke-key[data-key-id="${keyId}"]`);
  await page.waitForSelector('dialog[open] #confirm-ok', { timeout: WAIT });
  await page.click('#confirm-ok');
  await statusMessage(page, /revoked/);
  await page.waitForSelector(`#keys-table tr[data-key-id="${keyId}"] .revoke-key`, { state: 'detached', timeout: WAIT });
  assert.equal(await v3Status(key), 401, 'a revoked key is refused at once');
  assert.equal(await v3Status(appKey), 200, 'the application\'s other key still works');
  acme = { id: made, name, keyId };
});

test('workflows: the editor shows the measured figures beside each threshold, follows the slider, shows the API\'s field errors, saves a new version', { timeout: 180_000 }, async () => {
  const target = acme?.id ?? (await appId(page, 'Development'));
  await open(page, `#/apps/${target}`, new RegExp(`^#/apps/${target}$`));
  await page.waitForSelector('#workflows-table tbody tr[data-workflow-id]', { timeout: WAIT });
  const row = page.locator('#workflows-table tbody tr', { hasText: 'Re-authentication' });
  const id = await row.getAttribute('data-workflow-id');
  const versionBefore = Number(await row.locator('.wf-version').textContent());
  await row.locator('.open-workflow').click();
  await page.waitForSelector('#workflow-editor', { timeout: WAIT });
  const figures = (name) => page.textContent(`#wf-${name}-figures`);
  const review = 'face_match_score_review_threshold';
  // At the shipped 70: CALIBRATION.md's figure, from the curve the server serves.
  assert.match(await figures(review), /^Approved above 70: FMR 0\.10 % \(of 1,040 impostor pairs\)/);
  assert.match(await figures('face_liveness_score_decline_threshold'), /APCER 22\.7 % \(of 480 spoof images\)/);

  // Moving the slider by keyboard: the figure follows at each step, without a request.
  const requests = [];
  const onRequest = (r) => r.url().includes('/console/api/') && requests.push(r.url());
  page.on('request', onRequest);
  await page.focus(`#wf-${review}-range`);
  for (let i = 0; i < 8; i++) await page.keyboard.press('ArrowRight');
  page.off('request', onRequest);
  assert.deepEqual(requests, [], 'no round trip per step');
  assert.equal(await page.inputValue(`#wf-${review}`), '78');
  const moved = await figures(review);
  assert.match(moved, /^Approved above 78: FMR /);
  const curves = (await consoleApi(page, 'GET', '/error-rates/')).body;
  const pct = (x) => `${(x * 100 < 10 ? (x * 100).toFixed(2) : (x * 100).toFixed(1))} %`;
  assert.ok(moved.includes(`FNMR ${pct(curves.face_match.fnmr[78])}`), `${moved} vs the served curve`);
  assert.notEqual(moved, 'Approved above 70');
  await capture(page, 'workflows');

  // Decline above approval: the server's 400 names the field, shown under its control.
  await page.fill('#wf-face_match_score_decline_threshold', '90');
  await page.click('#wf-save');
  await page.waitForSelector(`#wf-${review}-error:not([hidden])`, { timeout: WAIT });
  assert.match(await page.textContent(`#wf-${review}-error`), /must not be above/);
  assert.equal(await page.getAttribute(`#wf-${review}`, 'aria-invalid'), 'true');
  await capture(page, 'workflows-error');

  await page.fill('#wf-face_match_score_decline_threshold', '50');
  await page.click('#wf-save');
  const said = await statusMessage(page, /Saved as version/);
  assert.match(said, new RegExp(`Saved as version ${versionBefore + 1}\\b.*stay on version ${versionBefore}`));
  await page.waitForFunction(
    ({ id, v }) => document.querySelector(`#workflows-table tr[data-workflow-id="${id}"] .wf-version`)?.textContent === String(v),
    { id, v: versionBefore + 1 },
    { timeout: WAIT },
  );
  assert.match(await page.textContent('#workflow-editor h4'), new RegExp(`version ${versionBefore + 1}$`));
  const stored = (await consoleApi(page, 'GET', `/applications/${target}/workflows/${id}/`)).body;
  assert.deepEqual([stored.version, stored.face_match_score_review_threshold, stored.face_match_score_decline_threshold], [versionBefore + 1, 78, 50]);
});

test('an invited reviewer sets a password from the link and gets no key controls; the server refuses them too', { timeout: 180_000 }, async () => {
  const dev = await appId(page, 'Development');
  const email = `reviewer-${Date.now()}@example.test`;
  await open(page, `#/apps/${dev}`, new RegExp(`^#/apps/${dev}$`));
  await page.fill('#invite-email', email);
  await page.fill('#invite-name', 'Rita Reviewer');
  await page.selectOption('#invite-role', 'reviewer');
  await page.click('#invite-submit');
  await page.waitForSelector('#invite-link', { timeout: WAIT });
  const link = await page.inputValue('#invite-link');
  assert.ok(link.startsWith(`${app.origin}/console/#setup=`), link);

  const other = await launchChromium(CLIP, { camera: false, viewport: DESKTOP });
  try {
    const p = await other.context.newPage();
    await p.goto(link);
    await rendered(p, /^#setup=/);
    await p.fill('#setup-name', 'Rita');
    await p.fill('#setup-password', 'a reviewer password');
    await p.fill('#setup-confirm', 'a reviewer password');
    await p.click('#setup-submit');
    await rendered(p, new RegExp(`^#/queue/${dev}$`));
    const me = await consoleApi(p, 'GET', '/me/');
    assert.equal(me.body.operator.email, email);
    assert.equal(me.body.operator.platform_admin, false);
    assert.deepEqual(me.body.applications.map((a) => [a.id, a.role]), [[dev, 'reviewer']]);
    // A reviewer decides: the buttons are there.
    assert.equal(await p.locator('#approve').count(), 1);

    await open(p, `#/apps/${dev}`, new RegExp(`^#/apps/${dev}$`));
    await p.waitForSelector('#app-detail', { timeout: WAIT });
    for (const control of ['#key-create', '#keys-table', '.revoke-key', '#invite-email', '#dest-create', '#app-create']) {
      assert.equal(await p.locator(control).count(), 0, `${control} is not offered to a reviewer`);
    }
    const refused = await p.evaluate(async (app) => {
      const { csrf_token } = await (await fetch('/console/api/me/', { credentials: 'same-origin' })).json();
      const res = await fetch(`/console/api/applications/${app}/keys/`, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'X-CSRF-Token': csrf_token, 'Content-Type': 'application/json' },
        body: '{}',
      });
      return res.status;
    }, dev);
    assert.equal(refused, 403);
    assert.equal((await consoleApi(p, 'GET', `/applications/${dev}/keys/`)).status, 403);
  } finally {
    await other.close();
  }
});

test('usage: the chart and the months count what the API counts; the CSV downloads', { timeout: 180_000 }, async () => {
  assert.ok(reviewed, 'runs after the queue test (its session was created today)');
  const { dev } = reviewed;
  await open(page, `#/sessions/${dev}`, new RegExp(`^#/sessions/${dev}$`));
  await page.click('#nav-usage');
  await rendered(page, new RegExp(`^#/usage/${dev}$`));
  assert.equal(await page.getAttribute('#nav-usage', 'aria-current'), 'page');

  const usage = await consoleApi(page, 'GET', `/applications/${dev}/usage/`);
  assert.equal(usage.status, 200, JSON.stringify(usage.body));
  const { months, days, pricing } = usage.body;
  assert.equal(months.length, 12, JSON.stringify(months));

  // Today's bar (a UTC day, as the server counts them) has the sessions the API lists for it.
  const today = await page.evaluate(() => new Date().toISOString().slice(0, 10));
  const apiToday = days.find((d) => d.date === today);
  assert.ok(apiToday && apiToday.sessions >= 1, `today (${today}) has sessions: ${JSON.stringify(days)}`);
  assert.equal(await page.locator('#usage-chart .chart-bar').count(), 31);
  const bar = await page.$eval(`#usage-chart .chart-bar[data-date="${today}"]`, (b) => ({
    sessions: Number(b.dataset.sessions),
    billable: Number(b.dataset.billable),
    height: b.getBoundingClientRect().height,
    last: b.classList.contains('is-last'),
  }));
  assert.deepEqual({ sessions: bar.sessions, billable: bar.billable }, { sessions: apiToday.sessions, billable: apiToday.billable });
  assert.ok(bar.height > 0, 'today\'s bar is drawn');
  assert.ok(bar.last, 'today is the last bar');
  assert.equal(await page.getAttribute('#usage-chart', 'role'), 'img');
  assert.match(await page.getAttribute('#usage-chart', 'aria-label'), /^Sessions per day from .+: \d+ sessions?, \d+ billable/);
  // The text equivalent: the same numbers in a table, shown on request.
  const cells = await page.$$eval(`#usage-days tr[data-date="${today}"] td`, (tds) => tds.map((td) => td.textContent));
  assert.deepEqual(cells, [apiToday.sessions, apiToday.billable, apiToday.sessions - apiToday.billable].map((n) => n.toLocaleString('en-US')));
  assert.equal(await page.locator('#usage-days tbody tr').count(), 31);
  // Visually hidden (a 1 px box, still read) until asked for.
  const tableWidth = () => page.$eval('#usage-days-wrap', (t) => t.getBoundingClientRect().width);
  assert.ok((await tableWidth()) <= 1);
  await page.click('#usage-days-toggle');
  assert.equal(await page.getAttribute('#usage-days-toggle', 'aria-expanded'), 'true');
  assert.ok((await tableWidth()) > 100);
  await page.click('#usage-days-toggle');

  // The month table: the current month (the server's last) highlighted, with the API's count.
  const current = months.at(-1);
  const row = await page.$eval('#usage-months tbody tr[aria-current="true"]', (tr) => ({
    month: tr.dataset.month,
    cells: [...tr.querySelectorAll('td')].map((td) => td.textContent),
  }));
  assert.equal(row.month, current.month);
  const count = (text) => Number(text.replace(/[^\d]/g, ''));
  assert.equal(count(row.cells[0]), current.sessions);
  assert.equal(count(row.cells[1]), current.billable);
  assert.equal(count(row.cells[2]), current.charged);
  assert.equal(row.cells[3], `$${current.cost}`);
  assert.ok(current.sessions >= apiToday.sessions);
  assert.equal(await page.locator('#usage-months tbody tr').count(), 12);
  const price = await page.textContent('#usage-pricing');
  assert.ok(price.includes(`free a month, then $${pricing.unit_price} each; billable: ${pricing.billable_statuses.join(', ')}`), price);
  await capture(page, 'usage');

  // The CSV: a plain same-origin link, downloaded with the page's cookie.
  assert.equal(await page.getAttribute('#usage-csv', 'href'), `/console/api/applications/${dev}/usage.csv`);
  assert.notEqual(await page.getAttribute('#usage-csv', 'download'), null);
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: WAIT }), page.click('#usage-csv')]);
  const csv = readFileSync(await download.path(), 'utf8');
  assert.match(csv, /^date,sessions,billable/);
  assert.ok(csv.split('\n').some((line) => line.startsWith(`${today},${apiToday.sessions},${apiToday.billable},`)), csv);
});

test('the audit log lists the review, the role granted, and the API key created and revoked, newest first', { timeout: 180_000 }, async () => {
  assert.ok(reviewed && acme, 'runs after the queue, applications and invitation tests');
  const { dev, session_id: id, comment } = reviewed;
  await open(page, `#/usage/${dev}`, new RegExp(`^#/usage/${dev}$`));
  await page.click('#nav-audit');
  await rendered(page, new RegExp(`^#/audit/${dev}$`));

  const readRows = () =>
    page.$$eval('#audit-table tbody tr[data-audit-id]', (trs) =>
      trs.map((tr) => ({
        id: tr.dataset.auditId,
        at: Date.parse(tr.dataset.createdAt),
        what: tr.querySelector('.audit-activity').textContent,
        who: tr.querySelector('.audit-who').textContent,
        details: tr.querySelector('.audit-details').textContent,
        link: tr.querySelector('a.audit-session')?.getAttribute('href') ?? null,
      })),
    );
  const sameAsApi = async (app, rows) => {
    const api = await consoleApi(page, 'GET', `/applications/${app}/audit/`);
    assert.equal(api.status, 200, JSON.stringify(api.body));
    assert.deepEqual(rows.map((r) => r.id), api.body.results.map((r) => r.uuid), 'the rows the API gives, in its order');
    for (let i = 1; i < rows.length; i++) assert.ok(rows[i - 1].at >= rows[i].at, 'newest first');
  };

  const rows = await readRows();
  await sameAsApi(dev, rows);
  const review = rows.find((r) => r.what === 'Status changed' && r.details.includes(comment));
  assert.ok(review, `the review is listed: ${JSON.stringify(rows)}`);
  assert.ok(review.who.includes(ADMIN.name) && review.who.includes(ADMIN.email) && review.who.includes('console'), review.who);
  assert.match(review.details, /In Review\W*to\s*Declined/);
  assert.equal(review.link, `#/session/${dev}/${id}`);
  const grant = rows.find((r) => r.what === 'Role granted');
  assert.ok(grant, `the invitation is listed: ${JSON.stringify(rows)}`);
  assert.ok(grant.who.includes(ADMIN.name), grant.who);
  assert.match(grant.details, /reviewer/);
  await capture(page, 'audit');

  await page.click(`#audit-table tr[data-audit-id="${review.id}"] a.audit-session`);
  await rendered(page, new RegExp(`^#/session/${dev}/${id}$`));

  // The keys of the application the applications test made.
  await open(page, `#/audit/${acme.id}`, new RegExp(`^#/audit/${acme.id}$`));
  const acmeRows = await readRows();
  await sameAsApi(acme.id, acmeRows);
  const index = (what) => acmeRows.findIndex((r) => r.what === what && r.details.includes(acme.keyId));
  const created = index('API key created');
  const revoked = index('API key revoked');
  assert.ok(created >= 0 && revoked >= 0, `key ${acme.keyId} created and revoked: ${JSON.stringify(acmeRows)}`);
  assert.ok(revoked < created, 'the revocation, newer, is above the creation');
  assert.ok(acmeRows[revoked].who.includes(ADMIN.name) && acmeRows[revoked].who.includes('console'));
  assert.ok(acmeRows.some((r) => r.what === 'Application created'), JSON.stringify(acmeRows));
  await page.selectOption('#audit-filter', 'API_KEY_REVOKED');
  assert.equal(await page.locator('#audit-table tbody tr[data-audit-id]:visible').count(), 1);
  assert.match(await page.textContent('#audit-summary'), /^1 of \d+ entries: API key revoked\.$/);
});

test('CSRF: a write without the token is refused; a form posted from another origin creates nothing', { timeout: 180_000 }, async () => {
  await open(page, '#/apps', /^#\/apps/);
  const logout = await consoleApi(page, 'POST', '/logout/', { csrf: false });
  assert.equal(logout.status, 403, JSON.stringify(logout.body));
  assert.equal((await consoleApi(page, 'GET', '/me/')).status, 200, 'still signed in');
  const bare = await consoleApi(page, 'POST', '/applications/', { csrf: false, body: { name: `csrf-bare-${Date.now()}` } });
  assert.equal(bare.status, 403, JSON.stringify(bare.body));

  // An attacker's page: a text/plain form whose body is JSON, submitted on load. Served from
  // 127.0.0.1 on another port (same site, other origin: the SameSite cookie is sent, so the
  // token check must hold) and as localhost (another site: the cookie stays home).
  const stamp = Date.now();
  const target = `${app.origin}/console/api/applications/`;
  const attacker = createServer((req, res) => {
    const name = new URL(req.url, 'http://x').searchParams.get('name') ?? 'csrf-probe';
    res.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html><html><body>
<form method="post" action="${target}" enctype="text/plain"><input name='{"name":"${name}","pad":"' value='"}'></form>
<script>document.forms[0].submit();</script></body></html>`);
  });
  await new Promise((r) => attacker.listen(0, '127.0.0.1', r));
  const { port } = attacker.address();
  const probes = [];
  try {
    for (const host of ['127.0.0.1', 'localhost']) {
      const name = `csrf-probe-${host}-${stamp}`;
      probes.push(name);
      const evil = await admin.context.newPage();
      try {
        const answer = evil.waitForResponse((r) => r.url() === target && r.request().method() === 'POST', { timeout: WAIT });
        await evil.goto(`http://${host}:${port}/?name=${encodeURIComponent(name)}`);
        const res = await answer;
        assert.ok(res.status() >= 400, `the cross-origin form from ${host} got ${res.status()}`);
      } finally {
        await evil.close();
      }
    }
  } finally {
    // Chromium keeps its connections alive; close() alone would wait for them.
    attacker.closeAllConnections();
    await new Promise((r) => attacker.close(r));
  }
  const me = await consoleApi(page, 'GET', '/me/');
  assert.equal(me.status, 200);
  const names = me.body.applications.map((a) => a.name);
  for (const name of probes) assert.ok(!names.includes(name), `${name} was created: ${names.join(', ')}`);
});

test('selfie sign-in: turned on from the account screen through the hosted camera page, then asked for at every sign-in', { timeout: 300_000 }, async () => {
  // A browser with the live clip as its camera: the hosted page enrols and then checks the face.
  const b = await launchChromium(CLIP, { viewport: DESKTOP });
  await serveAxe(b.context);
  const signIn = async (p) => {
    await open(p, '#/login', /^#\/login$/);
    await p.fill('#login-email', ADMIN.email);
    await p.fill('#login-password', ADMIN.password);
    await p.click('#login-submit');
  };
  try {
    const p = await b.context.newPage();
    await signIn(p);
    await rendered(p, /^#\/(queue|apps)/);
    await p.click('#account-link');
    await rendered(p, /^#\/account$/);
    assert.match(await p.textContent('#factor-state'), /^Off/);
    await capture(p, 'account');
    await p.fill('#factor-password', 'not the password at all');
    await p.click('#factor-submit');
    await p.waitForSelector('#factor-password[aria-invalid="true"]', { timeout: WAIT });

    await p.fill('#factor-password', ADMIN.password);
    await p.click('#factor-submit');
    await p.waitForURL((url) => url.pathname.startsWith('/session/'), { timeout: WAIT });
    await p.waitForURL((url) => url.pathname === '/console/', { timeout: 90_000 });
    await rendered(p, /^#\/account$/);
    await statusMessage(p, /selfie sign-in is on/);
    assert.match(await p.textContent('#factor-state'), /^On/);
    assert.doesNotMatch(p.url(), /second_factor|verificationSessionId/, 'the hosted page\'s query leaves the address bar');

    await p.click('#sign-out');
    await rendered(p, /^#\/login$/);
    await signIn(p);
    // The password alone is not enough: the camera page, then back signed in.
    await p.waitForURL((url) => url.pathname.startsWith('/session/'), { timeout: WAIT });
    assert.equal((await consoleApi(p, 'GET', '/me/')).status, 401, 'no session before the selfie');
    await p.waitForURL((url) => url.pathname === '/console/', { timeout: 90_000 });
    await rendered(p, /^#\/(queue|apps)/);
    await statusMessage(p, /welcome back/);
    assert.equal(await p.textContent('#operator-name'), ADMIN.name);

    // Back to password-only, so the other tests' sign-ins stay one step.
    await open(p, '#/account', /^#\/account$/);
    await p.fill('#factor-password', ADMIN.password);
    await p.click('#factor-submit');
    await statusMessage(p, /selfie sign-in is off/);
  } finally {
    await b.close();
  }
});

test('assign to me from the queue: the list says who holds a session; m takes it and gives it back', { timeout: 180_000 }, async () => {
  const vendor = `console-assign-${Date.now()}`;
  const s = await inReviewSession(vendor);
  const dev = await appId(page, 'Development');
  await open(page, `#/queue/${dev}`, new RegExp(`^#/queue/${dev}$`));
  const item = `#queue-list .queue-item[data-session-id="${s.session_id}"]`;
  await page.click(item);
  await page.waitForFunction((id) => document.querySelector('#queue-list [aria-current="true"]')?.dataset.sessionId === id, s.session_id);
  assert.equal(await page.textContent('#assign-holder'), 'Not assigned');
  assert.equal(await page.textContent('#assign'), 'Assign to me');

  await page.click('#assign');
  await statusMessage(page, /assigned to you/);
  assert.equal(await page.textContent('#assign-holder'), 'Assigned to you');
  assert.equal(await page.textContent(`${item} .queue-item-holder`), 'Assigned to you');
  const queue = await consoleApi(page, 'GET', `/applications/${dev}/queue/`);
  assert.equal(queue.body.results.find((e) => e.session_id === s.session_id).assigned_to.name, ADMIN.name);

  // The keyboard: m gives it back, and takes it again.
  await page.focus(item);
  await page.keyboard.press('m');
  await statusMessage(page, /no longer assigned/);
  assert.equal(await page.locator(`${item} .queue-item-holder`).count(), 0);
  assert.equal(await page.textContent('#assign'), 'Assign to me');
  await page.keyboard.press('m');
  await page.waitForFunction(() => document.getElementById('assign-holder').textContent === 'Assigned to you');
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.sessionId), s.session_id, 'the focus stays on the item');
  assert.ok((await page.textContent('#shortcuts')).includes('Assign the selected session to me'));

  // The session page shows the same, and unassigns.
  await open(page, `#/session/${dev}/${s.session_id}`, new RegExp(`^#/session/${dev}/${s.session_id}$`));
  assert.equal(await page.textContent('#assign-holder'), 'Assigned to you');
  await page.click('#assign');
  await page.waitForFunction(() => document.getElementById('assign-holder').textContent === 'Not assigned');
  const detail = await consoleApi(page, 'GET', `/applications/${dev}/sessions/${s.session_id}/`);
  assert.equal(detail.body.assigned_to, null);

  // Held by someone else: the queue names them, an admin may free it.
  await open(page, `#/queue/${dev}`, new RegExp(`^#/queue/${dev}$`));
  await page.click(item);
  await page.click('#assign');
  await page.waitForSelector(`${item} .queue-item-holder`, { timeout: WAIT });
  await capture(page, 'queue-assigned');
});

test('settings: an admin saves them; the server\'s validation errors are shown next to their fields', { timeout: 180_000 }, async () => {
  const dev = await appId(page, 'Development');
  const before = await consoleApi(page, 'GET', `/applications/${dev}/settings/`);
  assert.equal(before.status, 200);
  await open(page, `#/settings/${dev}`, new RegExp(`^#/settings/${dev}$`));
  assert.equal(await page.getAttribute('#nav-settings', 'aria-current'), 'page');
  assert.ok(!(await page.textContent('#view')).includes('null'), 'nothing stray is printed');
  assert.equal(await page.locator('#settings-read-only').count(), 0, 'an admin gets the form, not the read-only note');
  assert.match(await page.textContent('#settings-retain-images-hint'), /Off by default.*kept, encrypted.*retention period/s);
  assert.equal(await page.isChecked('#settings-retain-images'), before.body.retain_images);

  // Out of range and not an origin: the server says why, under each field; nothing is saved.
  await page.fill('#settings-retention', '0');
  await page.fill('#settings-origins', 'https://shop.example\nhttps://evil.example; script-src *');
  await page.click('#settings-save');
  await page.waitForSelector('#settings-retention-error:not([hidden])', { timeout: WAIT });
  assert.match(await page.textContent('#settings-retention-error'), /whole days from 1 to 3650/);
  assert.match(await page.textContent('#settings-origins-error'), /Not an origin/);
  assert.equal(await page.getAttribute('#settings-retention', 'aria-invalid'), 'true');
  assert.match(await page.getAttribute('#settings-retention', 'aria-describedby'), /settings-retention-error/);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'settings-retention', 'the first refused field has the focus');
  assert.deepEqual((await consoleApi(page, 'GET', `/applications/${dev}/settings/`)).body, before.body);
  await capture(page, 'settings-errors');

  await page.fill('#settings-retention', '30');
  await page.fill('#settings-origins', 'https://shop.example');
  await page.check('#settings-retain-images');
  await page.click('#settings-save');
  await statusMessage(page, /settings saved/);
  assert.equal(await page.locator('#settings-retention-error:not([hidden])').count(), 0);
  const saved = (await consoleApi(page, 'GET', `/applications/${dev}/settings/`)).body;
  assert.deepEqual([saved.retention_days, saved.allowed_origins, saved.retain_images], [30, ['https://shop.example'], true]);
  const audit = await consoleApi(page, 'GET', `/applications/${dev}/audit/`);
  const change = audit.body.results.find((r) => r.activity_type === 'SETTINGS_CHANGED');
  assert.match(change.comment, /retention_days = 30/);
  assert.doesNotMatch(change.comment, /pricing|session_expiry/, 'only what changed is sent');
  await capture(page, 'settings');

  // Back as they were, for the tests that follow.
  const restore = await consoleApi(page, 'PATCH', `/applications/${dev}/settings/`, { body: { retention_days: before.body.retention_days, allowed_origins: before.body.allowed_origins, retain_images: before.body.retain_images } });
  assert.equal(restore.status, 200, JSON.stringify(restore.body));
});

test('operators of an application: an admin changes a role and removes one; the last admin stays', { timeout: 180_000 }, async () => {
  const dev = await appId(page, 'Development');
  const list = await consoleApi(page, 'GET', `/applications/${dev}/operators/`);
  assert.equal(list.status, 200, JSON.stringify(list.body));
  const rita = list.body.results.find((o) => o.name === 'Rita');
  assert.ok(rita, `the invited reviewer is listed: ${JSON.stringify(list.body)}`);
  await open(page, `#/apps/${dev}`, new RegExp(`^#/apps/${dev}$`));
  const row = `#team-table tr[data-operator-id="${rita.id}"]`;
  await page.waitForSelector(row, { timeout: WAIT });
  assert.deepEqual(
    await page.$$eval('#team-table tbody tr[data-operator-id]', (rows) => rows.map((r) => r.dataset.operatorId)),
    list.body.results.map((o) => o.id),
  );
  assert.equal(await page.inputValue(`${row} select`), 'reviewer');

  await page.selectOption(`${row} select`, 'read_only');
  await page.click(`${row} .team-save`);
  await statusMessage(page, /is now Read only/);
  const changed = await consoleApi(page, 'GET', `/applications/${dev}/operators/`);
  assert.equal(changed.body.results.find((o) => o.id === rita.id).role, 'read_only');
  await capture(page, 'team');

  await page.click(`${row} .team-remove`);
  await page.waitForSelector('dialog[open] #confirm-ok', { timeout: WAIT });
  await page.click('#confirm-ok');
  await statusMessage(page, /no longer has a role/);
  await page.waitForSelector(row, { state: 'detached', timeout: WAIT });
  const after = await consoleApi(page, 'GET', `/applications/${dev}/operators/`);
  assert.ok(!after.body.results.some((o) => o.id === rita.id));
  const audit = await consoleApi(page, 'GET', `/applications/${dev}/audit/`);
  assert.ok(audit.body.results.some((r) => r.activity_type === 'OPERATOR_ROLE_REMOVED' && r.comment.includes('Rita')), 'the removal is audited');

  // The application's only admin of its own cannot be removed: the server's 409 is shown.
  const email = `solo-admin-${Date.now()}@example.test`;
  const invited = await consoleApi(page, 'POST', '/operators/', { body: { email, name: 'Solo Admin', application_id: dev, role: 'admin' } });
  assert.equal(invited.status, 201, JSON.stringify(invited.body));
  await open(page, `#/apps/${dev}`, new RegExp(`^#/apps/${dev}$`));
  const solo = `#team-table tr[data-operator-id="${invited.body.operator.id}"]`;
  await page.click(`${solo} .team-remove`);
  await page.click('#confirm-ok');
  await page.waitForSelector('#error-message:not([hidden])', { timeout: WAIT });
  assert.match(await page.textContent('#error-message'), /last admin/);
  assert.equal(await page.locator(solo).count(), 1);
});
