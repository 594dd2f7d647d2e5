// Spawns the real service (scripts/dev.mjs → wrangler dev → workerd) on a free port with a
// fresh state folder, in the style of zero2prod's spawn_app: each test file gets its own app.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const dataDir = process.env.FACEGATE_DATA_DIR ?? join(root, '..', 'shared', 'data');

export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** Starts the service; `webhookUrl` registers a webhook destination for the dev application. */
export async function spawnApp({ webhookUrl, port: fixedPort, state: fixedState } = {}) {
  // A fixed port and state folder restart the same service (its application, keys and D1).
  const port = fixedPort ?? (await freePort());
  const state = fixedState ?? mkdtempSync(join(tmpdir(), 'facegate-test-'));
  const child = spawn('node', [join(root, 'scripts', 'dev.mjs'), '--port', String(port)], {
    cwd: root,
    env: { ...process.env, FACEGATE_STATE_DIR: state, ...(webhookUrl ? { FACEGATE_WEBHOOK_URL: webhookUrl } : {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const origin = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 180_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the service exited early:\n${output}`);
    try {
      const res = await fetch(`${origin}/system/healthcheck`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      process.kill(-child.pid, 'SIGKILL');
      throw new Error(`the service did not answer within 180 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  // dev.mjs makes its workflows through the API once the worker answers, then rewrites the file.
  const devFile = join(root, '.facegate', `dev-${port}.json`);
  let dev;
  for (;;) {
    dev = existsSync(devFile) ? JSON.parse(readFileSync(devFile, 'utf8')) : {};
    if (dev.workflows && dev.other_workflows) break;
    if (child.exitCode !== null) throw new Error(`the service exited early:\n${output}`);
    if (Date.now() > deadline) {
      process.kill(-child.pid, 'SIGKILL');
      throw new Error(`no workflows in ${devFile} within 180 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    origin,
    baseUrl: dev.base_url,
    apiKey: dev.api_key,
    webhookSecret: dev.webhook_secret,
    webhookDestinationId: dev.webhook_destination_id,
    workflows: dev.workflows,
    operatorToken: dev.operator_token,
    /** The console's first-admin link (a fresh state has one; null after a restart with one). */
    consoleSetupUrl: dev.console_setup_url ?? null,
    other: { apiKey: dev.other_api_key, workflows: dev.other_workflows, allowedOrigins: dev.other_allowed_origins },
    output: () => output,
    port,
    state,
    /** SIGKILL to every process of the service (workerd included), keeping its state. */
    kill() {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      return new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.on('exit', r)));
    },
    async stop() {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      await new Promise((r) => setTimeout(r, 300));
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      rmSync(state, { recursive: true, force: true });
      rmSync(join(root, '.facegate', `dev-${port}.json`), { force: true });
    },
  };
}

/**
 * A local webhook receiver that records every delivery (raw body and headers). With
 * `failFirst: n` it answers 503, as a receiver that is down would, to the first n deliveries
 * whose parsed body satisfies `failWhen`.
 */
/** `delayMs`: how long the receiver takes to answer each delivery it accepts. */
export async function webhookReceiver({ failFirst = 0, failWhen = () => true, delayMs = 0 } = {}) {
  const { createServer: createHttpServer } = await import('node:http');
  const received = [];
  const refused = [];
  const server = createHttpServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const delivery = { body: Buffer.concat(chunks).toString('utf8'), headers: req.headers };
      if (refused.length < failFirst && failWhen(JSON.parse(delivery.body))) {
        refused.push(delivery);
        res.writeHead(503, { 'content-type': 'text/plain' }).end('down');
        return;
      }
      received.push(delivery);
      const answer = () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      if (delayMs > 0) setTimeout(answer, delayMs);
      else answer();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}/webhook`,
    received,
    refused,
    /** Waits until a delivery matching `pred` (on the parsed body) has arrived (or, with
     * `refused: true`, has been refused). */
    async waitFor(pred, timeoutMs = 15_000, { refused: inRefused = false } = {}) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = (inRefused ? refused : received).find((d) => pred(JSON.parse(d.body)));
        if (hit) return hit;
        if (Date.now() > deadline) throw new Error(`no matching webhook in ${timeoutMs} ms; got ${received.map((d) => d.body).join('\n')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    close: () => new Promise((r) => server.close(r)),
  };
}

export function image(path) {
  return new Blob([readFileSync(join(dataDir, path))], { type: 'image/jpeg' });
}

/** `POST /v3/session/` with the app's API key; throws unless 201. */
export async function createSession(app, body) {
  const res = await fetch(`${app.baseUrl}/session/`, {
    method: 'POST',
    headers: { 'x-api-key': app.apiKey, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 201) throw new Error(`create session: ${res.status} ${await res.text()}`);
  return res.json();
}

/** The JPEG frames of an MJPEG clip of ../shared/data (split on SOI / EOI markers). */
export function clipFrames(path) {
  const bytes = readFileSync(join(dataDir, path));
  const frames = [];
  let start = -1;
  for (let i = 0; i + 1 < bytes.length; i++) {
    if (bytes[i] === 0xff && bytes[i + 1] === 0xd8 && start < 0) start = i;
    else if (bytes[i] === 0xff && bytes[i + 1] === 0xd9 && start >= 0) {
      frames.push(bytes.subarray(start, i + 2));
      start = -1;
    }
  }
  return frames;
}

/** The webcam clips (640x480, 30 fps, 150 frames): the person live, and a phone replaying it. */
export const LIVE_CLIP = 'video/live_selfie_640x480_30fps_5s.mjpeg';
export const REPLAY_CLIP = 'video/spoof_replay_640x480_30fps_5s.mjpeg';
const clips = new Map();

/**
 * A passive capture as the hosted page sends it: 8 frames of `clip` one every 4th (about
 * 0.13 s apart at 30 fps), from frame `start`. Windows `w` 0-4 are start = 30 * w.
 */
export function burstOf(clip = LIVE_CLIP, start = 0) {
  if (!clips.has(clip)) clips.set(clip, clipFrames(clip));
  return Array.from({ length: 8 }, (_, i) => clips.get(clip)[start + 4 * i]);
}

/** `frames` as a burst upload (multipart `burst` fields). */
export function burstForm(frames) {
  const form = new FormData();
  for (const [i, jpeg] of frames.entries()) form.append('burst', new Blob([jpeg], { type: 'image/jpeg' }), `b${i}.jpg`);
  return form;
}

/** POSTs a burst to the hosted capture; `{status, body}`. */
export async function captureBurst(app, token, frames = burstOf()) {
  const res = await fetch(`${app.origin}/hosted/v1/${token}/capture`, { method: 'POST', body: burstForm(frames) });
  return { status: res.status, body: await res.json() };
}

/**
 * Enrols `user`'s face as the hosted page would: a kyc session answered with a burst of the
 * live webcam clip (its person is the one in enroll_portrait_apfol_s1_t9.5s.jpg).
 */
export async function enrol(app, user, frames = burstOf()) {
  const kyc = await createSession(app, { workflow_id: app.workflows.kyc, vendor_data: user });
  const { status, body } = await captureBurst(app, kyc.session_token, frames);
  if (body.status !== 'Approved') throw new Error(`enrolment of ${user} failed: ${status} ${JSON.stringify(body)}`);
  return kyc;
}
