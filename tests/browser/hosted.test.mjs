// The hosted page in a real browser (Debian's Chromium, driven by playwright-core) with a fake
// camera playing the clips in ../shared/data/video: enrol through the API, then re-authenticate
// by opening the session URL. Screenshots of each state go to out/screenshots/.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { LIVE_CLIP, burstOf, captureBurst, createSession, dataDir, enrol, root, spawnApp, webhookReceiver } from '../edge/harness.mjs';
import { launchChromium, withoutWasmSimd } from './chromium.mjs';

const shots = join(root, 'out', 'screenshots');
let app;
let hooks;

before(async () => {
  mkdirSync(shots, { recursive: true });
  hooks = await webhookReceiver();
  app = await spawnApp({ webhookUrl: hooks.url });
});
after(async () => {
  await app?.stop();
  await hooks?.close();
});

async function fetchDecision(id) {
  return (await fetch(`${app.baseUrl}/session/${id}/decision/`, { headers: { 'x-api-key': app.apiKey } })).json();
}

/** A reference photo for `portrait_image`: by default the clips' person. */
function portrait(path = 'video/enroll_portrait_apfol_s1_t9.5s.jpg') {
  return readFileSync(join(dataDir, path)).toString('base64');
}

test('a live selfie re-authenticates: Approved, webhook, callback with the right query', { timeout: 120_000 }, async () => {
  await enrol(app, 'web-alice');
  const callback = new URL('/done', hooks.url).toString();
  const s = await createSession(app, { workflow_id: app.workflows.biometric_authentication, vendor_data: 'web-alice', callback });
  const b = await launchChromium('live_selfie_640x480_30fps_5s.mjpeg');
  try {
    const page = await b.context.newPage();
    const started = Date.now();
    await page.goto(s.url);
    assert.equal(await page.isVisible('#retry'), false, 'no retry button before a failed capture');
    assert.equal(await page.isVisible('#fallback'), false, 'no fallback while the camera works');
    // capture-wasm's checks run in the worker and guide the user before anything is sent.
    await page.waitForFunction(() => window.__facegate?.timings.first_cue, null, { timeout: 30_000 });
    await page.screenshot({ path: join(shots, 'live-1-guiding.png') });
    await page.waitForFunction(() => ['approved', 'declined'].includes(document.body.dataset.state), null, { timeout: 60_000 });
    // Not approved: the decision's liveness cues say which part of the burst failed.
    if ((await page.evaluate(() => document.body.dataset.state)) !== 'approved') assert.fail(JSON.stringify(await fetchDecision(s.session_id)));
    await page.screenshot({ path: join(shots, 'live-2-approved.png') });
    const client = await page.evaluate(() => window.__facegate);
    assert.ok(client.checkTimes.length >= 3, 'the page checked frames before capturing');
    assert.ok(client.timings.capture > client.timings.first_cue);
    // The passive capture is a burst of the steady moment as the server was calibrated on it:
    // 8 frames about 130 ms apart (~0.9 s), JPEGs of ~10-20 KB each at 640x480.
    const { drawnAt, bytes } = client.burst;
    assert.equal(drawnAt.length, 8);
    const gaps = drawnAt.slice(1).map((at, i) => at - drawnAt[i]);
    assert.ok(gaps.every((g) => g >= 90 && g <= 400), JSON.stringify(gaps));
    assert.ok(bytes.every((b) => b > 5_000 && b < 60_000), JSON.stringify(bytes));
    assert.ok(client.timings.burst > client.timings.first_cue && client.timings.burst < client.timings.capture);
    process.stderr.write(`[browser] burst: ${drawnAt.at(-1) - drawnAt[0]} ms, gaps ${gaps.join('/')} ms, ${bytes.reduce((a, b) => a + b, 0)} bytes\n`);
    await page.waitForURL((url) => url.pathname === '/done', { timeout: 60_000 });
    const landed = new URL(page.url());
    assert.equal(landed.searchParams.get('verificationSessionId'), s.session_id);
    assert.equal(landed.searchParams.get('status'), 'Approved');
    const hook = await hooks.waitFor((p) => p.session_id === s.session_id && p.status === 'Approved');
    assert.ok(hook.headers['x-signature']);
    process.stderr.write(`[browser] page open to callback: ${Date.now() - started} ms\n`);
  } finally {
    await b.close();
  }
});

test('a screen replay is not Approved', { timeout: 120_000 }, async () => {
  await enrol(app, 'web-bob');
  const s = await createSession(app, { workflow_id: app.workflows.biometric_authentication, vendor_data: 'web-bob' });
  const b = await launchChromium('spoof_replay_640x480_30fps_5s.mjpeg');
  try {
    const page = await b.context.newPage();
    await page.goto(s.url);
    // The first refused capture offers a retry; either way the session is not approved.
    await page.waitForFunction(() => /could not verify/i.test(document.getElementById('cue').textContent), null, { timeout: 60_000 });
    await page.screenshot({ path: join(shots, 'replay-declined.png') });
    assert.equal(await page.isVisible('#retry'), true);
    const decision = await (await fetch(`${app.baseUrl}/session/${s.session_id}/decision/`, { headers: { 'x-api-key': app.apiKey } })).json();
    assert.notEqual(decision.status, 'Approved');
    assert.equal(decision.liveness_checks[0].status, 'Declined');
  } finally {
    await b.close();
  }
});

test('the reference is someone else: Declined, no retry can turn it into an approval', { timeout: 120_000 }, async () => {
  // Enrolment takes a live burst now, which a photo of another person cannot give: their
  // photo is this session's reference instead (`portrait_image`), against the live clip.
  const other = portrait('faces/lfw/AJ_Lamas/AJ_Lamas_0001.jpg');
  const s = await createSession(app, { workflow_id: app.workflows.biometric_authentication, vendor_data: 'web-erin', portrait_image: other });
  const b = await launchChromium('live_selfie_640x480_30fps_5s.mjpeg');
  try {
    const page = await b.context.newPage();
    await page.goto(s.url);
    await page.waitForFunction(() => document.body.dataset.state === 'checking', null, { timeout: 60_000 });
    await page.screenshot({ path: join(shots, 'other-1-checking.png') });
    await page.waitForFunction(() => /could not verify/i.test(document.getElementById('cue').textContent), null, { timeout: 60_000 });
    await page.screenshot({ path: join(shots, 'other-2-declined.png') });
    const decision = await (await fetch(`${app.baseUrl}/session/${s.session_id}/decision/`, { headers: { 'x-api-key': app.apiKey } })).json();
    assert.notEqual(decision.status, 'Approved');
    assert.equal(decision.face_matches[0].status, 'Declined', JSON.stringify(decision.face_matches));
    assert.equal(decision.liveness_checks[0].status, 'Approved', 'the live clip itself is live');
  } finally {
    await b.close();
  }
});

test('a browser without wasm SIMD gets the fallback build and still completes', { timeout: 120_000 }, async () => {
  await enrol(app, 'web-frank');
  const s = await createSession(app, { workflow_id: app.workflows.biometric_authentication, vendor_data: 'web-frank' });
  const b = await launchChromium('live_selfie_640x480_30fps_5s.mjpeg');
  try {
    const page = await b.context.newPage();
    await withoutWasmSimd(page);
    await page.goto(s.url);
    await page.waitForFunction(() => ['approved', 'declined'].includes(document.body.dataset.state), null, { timeout: 90_000 });
    const client = await page.evaluate(() => window.__facegate);
    assert.equal(client.simd, false);
    assert.ok(client.checkTimes.length >= 3, 'the non-SIMD checks ran');
    assert.equal(await page.evaluate(() => document.body.dataset.state), 'approved');
  } finally {
    await b.close();
  }
});

test('without the checks (the models fail to load) the page still takes the burst after a pause', { timeout: 120_000 }, async () => {
  await enrol(app, 'web-lena');
  const s = await createSession(app, { workflow_id: app.workflows.biometric_authentication, vendor_data: 'web-lena' });
  const b = await launchChromium('live_selfie_640x480_30fps_5s.mjpeg');
  try {
    const page = await b.context.newPage();
    await page.route('**/hosted/models/**', (route) => route.abort());
    await page.goto(s.url);
    await page.waitForFunction(() => ['approved', 'declined'].includes(document.body.dataset.state), null, { timeout: 60_000 });
    const client = await page.evaluate(() => window.__facegate);
    assert.equal(client.checkTimes.length, 0, 'no client checks ran');
    assert.equal(client.burst.drawnAt.length, 8);
    if ((await page.evaluate(() => document.body.dataset.state)) !== 'approved') assert.fail(JSON.stringify(await fetchDecision(s.session_id)));
  } finally {
    await b.close();
  }
});

test('FLASHING: the page shows the server\'s colours; a face that reflects none of them is not Approved', { timeout: 120_000 }, async () => {
  await enrol(app, 'web-gina');
  const s = await createSession(app, { workflow_id: app.workflows.biometric_authentication_flashing, vendor_data: 'web-gina' });
  const b = await launchChromium('live_selfie_640x480_30fps_5s.mjpeg');
  try {
    const page = await b.context.newPage();
    await page.goto(s.url);
    // The fake camera is a recording: the colours on screen never reach the face in it.
    await page.waitForFunction(() => document.querySelector('[data-challenge="flashing"]'), null, { timeout: 60_000 });
    await page.waitForTimeout(600);
    await page.screenshot({ path: join(shots, 'flashing-1-colours.png') });
    await page.waitForFunction(() => /could not verify/i.test(document.getElementById('cue').textContent), null, { timeout: 60_000 });
    await page.screenshot({ path: join(shots, 'flashing-2-declined.png') });
    const decision = await (await fetch(`${app.baseUrl}/session/${s.session_id}/decision/`, { headers: { 'x-api-key': app.apiKey } })).json();
    assert.equal(decision.liveness_checks[0].method, 'FLASHING');
    assert.equal(decision.liveness_checks[0].status, 'Declined');
    assert.notEqual(decision.status, 'Approved');
  } finally {
    await b.close();
  }
});

test('escalation: a burst the workflow steps up is answered with the FLASHING challenge, no attempt spent on the burst', { timeout: 120_000 }, async () => {
  await enrol(app, 'web-ines');
  const s = await createSession(app, { workflow_id: app.workflows.biometric_authentication_step_up, vendor_data: 'web-ines' });
  const b = await launchChromium('live_selfie_640x480_30fps_5s.mjpeg');
  try {
    const page = await b.context.newPage();
    await page.goto(s.url);
    // The burst goes first; the server asks for the challenge instead of deciding, and the
    // page runs it at once, without a retry prompt.
    await page.waitForFunction(() => document.querySelector('[data-challenge="flashing"]'), null, { timeout: 60_000 });
    await page.waitForFunction(() => ['approved', 'declined'].includes(document.body.dataset.state), null, { timeout: 60_000 });
    const decision = await (await fetch(`${app.baseUrl}/session/${s.session_id}/decision/`, { headers: { 'x-api-key': app.apiKey } })).json();
    // The recording reflects no flash: the challenge, not the burst, decided.
    assert.equal(decision.liveness_checks[0].method, 'FLASHING');
    assert.equal(decision.liveness_checks[0].status, 'Declined');
    const session = await (await fetch(`${app.baseUrl}/session/${s.session_id}/`, { headers: { 'x-api-key': app.apiKey } })).json();
    assert.notEqual(session.status, 'Approved');
  } finally {
    await b.close();
  }
});

test('ACTIVE_3D: the page asks for the server\'s head turns and sends the filmed frames', { timeout: 120_000 }, async () => {
  await enrol(app, 'web-hugo');
  const s = await createSession(app, { workflow_id: app.workflows.biometric_authentication_active_3d, vendor_data: 'web-hugo' });
  const b = await launchChromium('live_selfie_640x480_30fps_5s.mjpeg');
  try {
    const page = await b.context.newPage();
    await page.goto(s.url);
    await page.waitForFunction(() => /turn your head/i.test(document.getElementById('cue').textContent), null, { timeout: 60_000 });
    await page.screenshot({ path: join(shots, 'active3d-1-turn.png') });
    await page.waitForFunction(() => ['approved', 'declined'].includes(document.body.dataset.state), null, { timeout: 60_000 });
    await page.screenshot({ path: join(shots, 'active3d-2-result.png') });
    // The recorded clip turns its head on its own schedule, not the server's: whether it
    // happens to match is chance, so only the path is asserted here; the verification itself
    // is tested on real frames in crates/pipeline/tests/challenge_real.rs.
    const decision = await (await fetch(`${app.baseUrl}/session/${s.session_id}/decision/`, { headers: { 'x-api-key': app.apiKey } })).json();
    assert.equal(decision.liveness_checks[0].method, 'ACTIVE_3D');
    assert.ok(['Approved', 'Declined'].includes(decision.liveness_checks[0].status));
    // The page answered every revealed step and the capture named that challenge: whatever
    // failed, it was the frames, not the path.
    const reasons = decision.liveness_checks[0].warnings.flatMap((w) => w.additional_data?.reasons ?? []).join('; ');
    assert.doesNotMatch(reasons, /not finished|no ACTIVE_3D challenge|another challenge|answered no challenge/, reasons);
  } finally {
    await b.close();
  }
});

test('camera denied: the page says so and offers the integrator\'s fallback', { timeout: 120_000 }, async () => {
  const callback = new URL('/fallback', hooks.url).toString();
  await enrol(app, 'web-carol');
  const s = await createSession(app, { workflow_id: app.workflows.biometric_authentication, vendor_data: 'web-carol', callback });
  const b = await launchChromium('live_selfie_640x480_30fps_5s.mjpeg', { camera: false });
  try {
    const page = await b.context.newPage();
    await page.goto(s.url);
    await page.waitForSelector('#fallback:not([hidden])', { timeout: 30_000 });
    assert.match(await page.textContent('#cue'), /denied|no camera/i);
    const href = new URL(await page.getAttribute('#fallback', 'href'));
    assert.equal(href.searchParams.get('status'), 'Not Finished');
    assert.equal(href.searchParams.get('verificationSessionId'), s.session_id);
    await page.screenshot({ path: join(shots, 'camera-denied.png') });
    assert.equal(await page.isVisible('#retry'), false);
  } finally {
    await b.close();
  }
});

test('the first path segment picks the language; right-to-left languages are laid out so', { timeout: 120_000 }, async () => {
  const es = JSON.parse(readFileSync(join(root, 'web/hosted/lang/es.json'), 'utf8'));
  const s = await createSession(app, { workflow_id: app.workflows.biometric_authentication, vendor_data: 'web-ines', portrait_image: portrait(), callback: new URL('/lang', hooks.url).toString() });
  const b = await launchChromium('live_selfie_640x480_30fps_5s.mjpeg', { camera: false });
  try {
    const page = await b.context.newPage();
    await page.goto(`${app.origin}/es/session/${s.session_token}`);
    await page.waitForSelector('#fallback:not([hidden])', { timeout: 30_000 });
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'es');
    assert.equal(await page.textContent('h1'), es.title);
    assert.equal(await page.textContent('#cue'), es.camera_denied);
    await page.screenshot({ path: join(shots, 'lang-es-denied.png') });
    await page.goto(`${app.origin}/ar/session/${s.session_token}`);
    await page.waitForSelector('#fallback:not([hidden])', { timeout: 30_000 });
    assert.equal(await page.evaluate(() => document.documentElement.dir), 'rtl');
    await page.screenshot({ path: join(shots, 'lang-ar-denied.png') });
  } finally {
    await b.close();
  }
});

test('desktop without a camera: a QR code of the session, and the page follows the phone to the end', { timeout: 120_000 }, async () => {
  await enrol(app, 'web-jane');
  const callback = new URL('/desk', hooks.url).toString();
  const s = await createSession(app, { workflow_id: app.workflows.biometric_authentication, vendor_data: 'web-jane', callback });
  const b = await launchChromium('live_selfie_640x480_30fps_5s.mjpeg', { camera: false });
  try {
    const page = await b.context.newPage();
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.goto(s.url);
    await page.waitForSelector('#handoff:not([hidden])', { timeout: 30_000 });
    await page.waitForFunction(() => document.getElementById('qr').naturalWidth > 0, null, { timeout: 10_000 });
    await page.waitForSelector('#fallback:not([hidden])', { timeout: 30_000 });
    await page.screenshot({ path: join(shots, 'desktop-qr.png') });
    const qr = await fetch(`${app.origin}/hosted/v1/${s.session_token}/qr.svg`);
    assert.equal(qr.headers.get('content-type'), 'image/svg+xml');
    assert.match(await qr.text(), /<svg/);
    assert.equal((await fetch(`${app.origin}/hosted/v1/not-a-token/qr.svg`)).status, 404);
    // The phone takes the selfie (its burst posted here directly, a later second of the clip
    // than the enrolment's); the desktop returns to the integrator.
    const res = await captureBurst(app, s.session_token, burstOf(LIVE_CLIP, 60));
    assert.equal(res.body.status, 'Approved', JSON.stringify(res.body));
    await page.waitForURL((url) => url.pathname === '/desk', { timeout: 30_000 });
    assert.equal(new URL(page.url()).searchParams.get('status'), 'Approved');
  } finally {
    await b.close();
  }
});

/** An integrator's page on another origin opening `sessionUrl` with @didit-protocol/sdk-web. */
async function integratorPage(sessionUrl) {
  const { createServer } = await import('node:http');
  const sdk = readFileSync(join(root, 'node_modules/@didit-protocol/sdk-web/dist/didit-sdk.umd.js'));
  const server = createServer((req, res) => {
    if (req.url === '/sdk.js') return res.writeHead(200, { 'content-type': 'text/javascript' }).end(sdk);
    res.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html><html><body><h1>Integrator</h1>
<script src="/sdk.js"></script>
<script>
  window.results = [];
  window.events = [];
  const sdk = DiditSDK.DiditSdk.shared;
  sdk.onComplete = (result) => window.results.push(result);
  sdk.onEvent = (event) => window.events.push(event);
  sdk.startVerification({ url: ${JSON.stringify(sessionUrl)}, configuration: { closeModalOnComplete: true } });
</script></body></html>`);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}/`, close: () => new Promise((r) => server.close(r)) };
}

test('inside an iframe on another origin, @didit-protocol/sdk-web reports Approved to onComplete', { timeout: 120_000 }, async () => {
  await enrol(app, 'web-dave');
  const s = await createSession(app, { workflow_id: app.workflows.biometric_authentication, vendor_data: 'web-dave' });
  const integrator = await integratorPage(s.url);
  const b = await launchChromium('live_selfie_640x480_30fps_5s.mjpeg');
  try {
    const page = await b.context.newPage();
    await page.goto(integrator.url);
    await page.waitForFunction(() => window.results.length > 0, null, { timeout: 60_000 });
    await page.screenshot({ path: join(shots, 'iframe-completed.png') });
    const [result] = await page.evaluate(() => window.results);
    assert.equal(result.type, 'completed', JSON.stringify(result));
    assert.equal(result.session.sessionId, s.session_id);
    assert.equal(result.session.status, 'Approved');
    const events = await page.evaluate(() => window.events.map((e) => e.type));
    assert.ok(events.includes('didit:ready'), JSON.stringify(events));
  } finally {
    await b.close();
    await integrator.close();
  }
});

test('Cancel inside the web SDK\'s iframe closes it with a cancelled result', { timeout: 120_000 }, async () => {
  await enrol(app, 'web-kim');
  const s = await createSession(app, { workflow_id: app.workflows.biometric_authentication, vendor_data: 'web-kim' });
  const integrator = await integratorPage(s.url);
  const b = await launchChromium('live_selfie_640x480_30fps_5s.mjpeg');
  try {
    const page = await b.context.newPage();
    await page.goto(integrator.url);
    const frame = page.frameLocator('iframe');
    await frame.locator('#cancel:not([hidden])').click({ timeout: 30_000 });
    await page.waitForFunction(() => window.results.length > 0, null, { timeout: 30_000 });
    const [result] = await page.evaluate(() => window.results);
    assert.equal(result.type, 'cancelled', JSON.stringify(result));
    assert.equal(result.session.sessionId, s.session_id);
  } finally {
    await b.close();
    await integrator.close();
  }
});

// Last in this file: it brands the development application's page.
test('branding from /v3/customization/ is applied by the page: logo, colour, title, within its CSP', { timeout: 120_000 }, async () => {
  const form = new FormData();
  form.append('image_rectangular', new File([readFileSync(join(dataDir, 'video/enroll_portrait_apfol_s1_t9.5s.jpg'))], 'logo.jpg', { type: 'image/jpeg' }));
  form.append('primary_color', '#8a2be2');
  form.append('title', 'Acme Bank');
  const patched = await fetch(`${app.baseUrl}/customization/`, { method: 'PATCH', headers: { 'x-api-key': app.apiKey }, body: form });
  assert.equal(patched.status, 200, await patched.clone().text());
  // With the camera denied the page stops at its fallback link (shown when there is a
  // callback), drawn in the brand colour.
  const callback = new URL('/fallback', hooks.url).toString();
  const s = await createSession(app, { workflow_id: app.workflows.biometric_authentication, vendor_data: 'web-brand', portrait_image: portrait(), callback });
  const b = await launchChromium('live_selfie_640x480_30fps_5s.mjpeg', { camera: false });
  try {
    const page = await b.context.newPage();
    const violations = [];
    page.on('console', (m) => m.text().includes('Content Security Policy') && violations.push(m.text()));
    await page.goto(s.url);
    await page.waitForSelector('#fallback:not([hidden])', { timeout: 30_000 });
    await page.waitForFunction(() => document.getElementById('brand').complete && document.getElementById('brand').naturalWidth > 0);
    const seen = await page.evaluate(() => ({
      src: document.getElementById('brand').src.slice(0, 22),
      alt: document.getElementById('brand').alt,
      width: document.getElementById('brand').naturalWidth,
      accent: getComputedStyle(document.documentElement).getPropertyValue('--accent').trim(),
      button: getComputedStyle(document.getElementById('fallback')).color,
      title: document.title,
    }));
    assert.equal(seen.src, 'data:image/png;base64,');
    assert.equal(seen.alt, 'Acme Bank');
    assert.ok(seen.width > 0 && seen.width <= 640, JSON.stringify(seen));
    assert.equal(seen.accent, '#8a2be2');
    assert.equal(seen.button, 'rgb(138, 43, 226)', 'the fallback link is drawn in the brand colour');
    assert.match(seen.title, /^Acme Bank · /);
    assert.deepEqual(violations, []);
    await page.screenshot({ path: join(shots, 'branded-page.png') });
  } finally {
    await b.close();
  }
});

test('step-up: the device id survives a reload, and a known device on a known address skips the selfie', { timeout: 180_000 }, async () => {
  await enrol(app, 'web-kim');
  const wf = app.workflows.biometric_authentication_stepup;
  const first = await createSession(app, { workflow_id: wf, vendor_data: 'web-kim' });
  // A desktop-sized screen: the 390 px default on a desktop user agent is what a desktop
  // posing as a phone shows, and such a device is never "known".
  const b = await launchChromium('live_selfie_640x480_30fps_5s.mjpeg', { viewport: { width: 1280, height: 800 } });
  try {
    const page = await b.context.newPage();
    await page.goto(first.url);
    await page.waitForFunction(() => localStorage.getItem('facegate.device'), null, { timeout: 30_000 });
    const id = await page.evaluate(() => localStorage.getItem('facegate.device'));
    assert.match(id, /^[A-Za-z0-9_-]{22}$/);
    await page.waitForFunction(() => ['approved', 'declined'].includes(document.body.dataset.state), null, { timeout: 60_000 });
    if ((await page.evaluate(() => document.body.dataset.state)) !== 'approved') assert.fail(JSON.stringify(await fetchDecision(first.session_id)));
    await page.reload();
    assert.equal(await page.evaluate(() => localStorage.getItem('facegate.device')), id);

    const callback = new URL('/known', hooks.url).toString();
    const second = await createSession(app, { workflow_id: wf, vendor_data: 'web-kim', callback });
    await page.goto(second.url);
    await page.waitForURL((url) => url.pathname === '/known', { timeout: 30_000 });
    assert.equal(new URL(page.url()).searchParams.get('status'), 'Approved');
    const d = await fetchDecision(second.session_id);
    assert.equal(d.ip_analyses[0].step_up.rule, 'known_device_and_ip');
    assert.deepEqual(d.liveness_checks, []);
    const before = await fetchDecision(first.session_id);
    assert.equal(d.ip_analyses[0].device_fingerprint, before.ip_analyses[0].device_fingerprint);
    assert.ok(!JSON.stringify(d).includes(id), 'the page id itself is never shown');
  } finally {
    await b.close();
  }
});
