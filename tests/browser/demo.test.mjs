// The demo integrator app (npm run demo) in Chromium with a fake camera, against the real
// service: sign up through facegate's hosted page, sign in again via a redirect and via
// @didit-protocol/sdk-web's iframe, each confirmed by a verified webhook. Screenshots of each
// state go to out/screenshots/demo-*.png (360 px wide, as on a small phone).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { freePort, root, spawnApp } from '../edge/harness.mjs';
import { launchChromium } from './chromium.mjs';

const shots = join(root, 'out', 'screenshots');
const user = 'demo-alice';
const WAIT = 60_000;
let app;
let demo;
let browser;
let page;

/** The demo server as `npm run demo -- --server-only` runs it, pointed at `app` by env vars. */
async function spawnDemo(port) {
  const child = spawn(process.execPath, [join(root, 'scripts', 'demo.mjs'), '--server-only', '--port', String(port)], {
    cwd: root,
    env: {
      ...process.env,
      FACEGATE_BASE_URL: app.baseUrl,
      FACEGATE_API_KEY: app.apiKey,
      FACEGATE_WEBHOOK_SECRET: app.webhookSecret,
      FACEGATE_KYC_WORKFLOW_ID: app.workflows.kyc,
      FACEGATE_AUTH_WORKFLOW_ID: app.workflows.biometric_authentication,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the demo server exited early:\n${output}`);
    if (await fetch(`${url}/api/state`).then((r) => r.ok, () => false)) break;
    if (Date.now() > deadline) throw new Error(`the demo server did not answer:\n${output}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, output: () => output, stop: () => child.kill('SIGTERM') };
}

before(async () => {
  mkdirSync(shots, { recursive: true });
  const port = await freePort();
  app = await spawnApp({ webhookUrl: `http://127.0.0.1:${port}/webhook` });
  demo = await spawnDemo(port);
  browser = await launchChromium('live_selfie_640x480_30fps_5s.mjpeg', { viewport: { width: 360, height: 780 } });
  page = await browser.context.newPage();
});
after(async () => {
  await browser?.close();
  demo?.stop();
  await app?.stop();
});

async function shot(name) {
  await page.screenshot({ path: join(shots, `demo-${name}.png`), fullPage: true });
}

async function state() {
  return page.evaluate(() => fetch('/api/state').then((r) => r.json()));
}

/** Waits until the page lists a verified webhook with `status` for `sessionId`. */
async function verifiedWebhook(sessionId, status) {
  const item = page.locator(`#webhooks li[data-session-id="${sessionId}"][data-status="${status}"][data-verified="true"]`);
  await item.waitFor({ timeout: WAIT });
  assert.match(await item.textContent(), /signature verified ✓/);
}

async function decision(sessionId) {
  const res = await fetch(`${app.baseUrl}/session/${sessionId}/decision/`, { headers: { 'x-api-key': app.apiKey } });
  return res.json();
}

/** Leaves for facegate's hosted page by `action`, then waits to be back on the demo. */
async function throughFacegate(action) {
  await Promise.all([page.waitForURL((u) => u.origin === app.origin, { timeout: WAIT }), action()]);
  await page.waitForURL((u) => u.origin === demo.url && u.pathname === '/', { timeout: WAIT });
}

test('sign up: the hosted page takes the selfie and the demo confirms the enrolment', { timeout: 180_000 }, async () => {
  await page.goto(demo.url);
  await shot('1-start');
  await page.fill('#signup-username', user);
  await throughFacegate(() => page.click('#signup-go'));
  await page.waitForSelector(`body[data-enrolled~="${user}"]`, { timeout: WAIT });
  assert.match(await page.textContent('#notice'), /created/i);
  const kyc = (await state()).timeline.find((i) => /kyc session/.test(i.text));
  assert.ok(kyc, 'the timeline explains the kyc session');
  await page.locator('#webhooks li[data-status="Approved"][data-verified="true"]').first().waitFor({ timeout: WAIT });
  await shot('2-enrolled');
});

test('sign in via redirect: Approved, confirmed by a verified webhook', { timeout: 180_000 }, async () => {
  assert.equal(await page.inputValue('#signin-username'), user, 'sign-in is prefilled with the new username');
  await throughFacegate(() => page.click('#signin-redirect'));
  await page.waitForSelector(`body[data-signed-in="${user}"]`, { timeout: WAIT });
  const { signedIn } = await state();
  assert.equal(signedIn.channel, 'redirect');
  assert.equal((await decision(signedIn.sessionId)).status, 'Approved');
  await verifiedWebhook(signedIn.sessionId, 'Approved');
  assert.match(await page.textContent('#account-how'), /Confirmed by/);
  await shot('3-signed-in-redirect');
});

test('sign in via @didit-protocol/sdk-web: the iframe modal, Approved, verified webhook', { timeout: 180_000 }, async () => {
  await page.click('#account button[type=submit]'); // sign out first
  await page.waitForSelector('body[data-signed-in=""]', { timeout: WAIT });
  await page.click('#signin-sdk');
  const frame = page.locator(`iframe[src^="${app.origin}/"]`);
  await frame.waitFor({ timeout: WAIT });
  await page.waitForTimeout(1500); // let the camera preview start for the screenshot
  await page.screenshot({ path: join(shots, 'demo-4-sdk-modal.png') });
  // The webhook may sign the user in while the modal is still closing: wait for both.
  await frame.waitFor({ state: 'detached', timeout: WAIT });
  await page.waitForSelector(`body[data-signed-in="${user}"]`, { timeout: WAIT });
  const { signedIn } = await state();
  assert.equal(signedIn.channel, 'sdk');
  assert.equal((await decision(signedIn.sessionId)).status, 'Approved');
  await verifiedWebhook(signedIn.sessionId, 'Approved');
  assert.equal(new URL(page.url()).origin, demo.url, 'the page never left the demo');
  await shot('5-signed-in-sdk');
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.screenshot({ path: join(shots, 'demo-5-signed-in-sdk-desktop.png') });
  await page.setViewportSize({ width: 360, height: 780 });
});

test('forgeries change nothing: a bad webhook gets 401 and shows as rejected, a typed callback is ignored', { timeout: 60_000 }, async () => {
  const { signedIn } = await state();
  const body = JSON.stringify({ webhook_type: 'status.updated', session_id: signedIn.sessionId, status: 'Declined', timestamp: Math.floor(Date.now() / 1000) });
  const forged = await fetch(`${demo.url}/webhook`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-signature-v2': 'ab'.repeat(32) }, body });
  assert.equal(forged.status, 401);
  await page.locator(`#webhooks li[data-session-id="${signedIn.sessionId}"][data-verified="false"]`).waitFor({ timeout: WAIT });
  await page.click('#account button[type=submit]');
  await page.goto(`${demo.url}/callback?verificationSessionId=${randomUUID()}&status=Approved`);
  await page.waitForSelector('#timeline li.bad', { timeout: WAIT });
  assert.equal((await state()).signedIn, null, 'a typed callback does not sign anyone in');
  await page.fill('#signin-username', 'nobody-enrolled');
  await page.click('#signin-redirect');
  await page.waitForSelector('#notice.bad', { timeout: WAIT });
  assert.match(await page.textContent('#notice'), /no enrolled face/);
  await shot('6-rejections');
});
