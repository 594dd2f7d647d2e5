// `npm run bench:load`: concurrent sessions end to end against the real worker in wrangler dev
// (create → capture → decision stored → webhook at a local receiver), then an outage of the
// receiver. Prints JSON; a figure-printing command, not a test: it asserts nothing, but it
// prints the sessions and webhooks lost, which must be 0.
//
// Phase 1 (LOAD_SECONDS, default 60, CONCURRENCY users, default 4): each user loops create kyc
// session → capture → decision → waits for the Approved webhook. Latency is create to webhook.
// A capture is what the hosted page sends for a passive workflow: a burst of 8 frames of the
// 640x480 live webcam clip (one every 4th at 30 fps).
// Phase 2 (OUTAGE_SESSIONS, default 8): the receiver drops every connection; the sessions are
// captured, then housekeeping is driven through 10 minutes of development clock time (the
// worker's FACEGATE_DEV_CLOCK switch) with the receiver still down, then on while it is up
// until nothing is pending. Every event of the delivery logs must reach the receiver exactly
// once per event_id.
import { createServer } from 'node:http';

import { burstOf, captureBurst, createSession, LIVE_CLIP, spawnApp } from '../tests/edge/harness.mjs';

const loadSeconds = Number(process.env.LOAD_SECONDS ?? 60);
const concurrency = Number(process.env.CONCURRENCY ?? 4);
const outageSessions = Number(process.env.OUTAGE_SESSIONS ?? 8);
// The clip's 1 s windows (start = 30 * w), taken in turn: each session is enrolled from
// another moment of the clip, as each real user's burst is of their own moment.
const WINDOWS = [0, 30, 60, 90, 120];
let captures = 0;

const percentile = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.round((p / 100) * (sorted.length - 1)))] : 0);
const summary = (ms) => {
  const s = [...ms].sort((a, b) => a - b);
  const r = (x) => Math.round(x);
  return { n: s.length, p50_ms: r(percentile(s, 50)), p99_ms: r(percentile(s, 99)), max_ms: r(s[s.length - 1] ?? 0) };
};
const log = (m) => process.stderr.write(`[bench:load] ${m}\n`);

// The receiver: records each delivery by event id; while `down`, it drops the connection
// before answering, as an unreachable host would.
const receiver = { down: false, byEvent: new Map(), waiters: [] };
const server = createServer((req, res) => {
  if (receiver.down) {
    req.socket.destroy();
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    const seen = receiver.byEvent.get(body.event_id);
    receiver.byEvent.set(body.event_id, { body, count: (seen?.count ?? 0) + 1 });
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const hookUrl = `http://127.0.0.1:${server.address().port}/webhook`;

const received = (sessionId, status) =>
  [...receiver.byEvent.values()].some(({ body }) => body.session_id === sessionId && body.status === status);
async function waitForHook(sessionId, status, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (received(sessionId, status)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

process.env.FACEGATE_DEV_CLOCK = '1';
const app = await spawnApp({ webhookUrl: hookUrl });
/** A GET with the API key; the checks below read hundreds of sessions in a row, so a 429 of
 * the per-application rate limit is waited out rather than counted as a loss. */
async function api(path) {
  for (;;) {
    const res = await fetch(`${app.baseUrl}${path}`, { headers: { 'x-api-key': app.apiKey } });
    if (res.status !== 429) return res;
    await new Promise((r) => setTimeout(r, 1000 * Number(res.headers.get('retry-after') ?? 1)));
  }
}
const housekeeping = (now) =>
  fetch(`${app.origin}/internal/housekeeping`, {
    method: 'POST',
    headers: { authorization: `Bearer ${app.operatorToken}`, 'x-facegate-dev-now': String(now) },
  });
function capture(token) {
  return captureBurst(app, token, burstOf(LIVE_CLIP, WINDOWS[captures++ % WINDOWS.length]));
}
/** Event ids the worker logged for a session (its outbox rows, whatever their state). */
async function loggedEvents(sessionId) {
  const res = await api(`/session/${sessionId}/webhooks/`);
  return (await res.json()).results.map((d) => d.event_id);
}

let n = 0;
try {
  // Warm-up: the first capture loads the models.
  const warm = await createSession(app, { workflow_id: app.workflows.kyc, vendor_data: 'load-warm' });
  await capture(warm.session_token);

  log(`phase 1: ${concurrency} users for ${loadSeconds} s`);
  const latencies = [];
  const sessions = [];
  const failures = [];
  const end = Date.now() + loadSeconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < end) {
        const start = performance.now();
        const user = `load-${n++}`;
        try {
          const s = await createSession(app, { workflow_id: app.workflows.kyc, vendor_data: user });
          sessions.push(s.session_id);
          const c = await capture(s.session_token);
          if (c.status !== 200 || c.body.status !== 'Approved') {
            failures.push(`${user}: capture ${c.status} ${JSON.stringify(c.body).slice(0, 200)}`);
            continue;
          }
          if (await waitForHook(s.session_id, 'Approved', 30_000)) latencies.push(performance.now() - start);
        } catch (e) {
          failures.push(`${user}: ${e.message}`);
        }
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  // Webhooks the captures' own sends missed are the housekeeping's to send.
  for (let i = 0; i < 3; i++) await housekeeping(0);
  let sessionsLost = 0;
  let webhooksLost = 0;
  let duplicates = 0;
  for (const id of sessions) {
    const res = await api(`/session/${id}/decision/`);
    const decision = await res.json();
    if (res.status !== 200) failures.push(`decision of ${id}: ${res.status} ${JSON.stringify(decision)}`);
    if (decision.status !== 'Approved') sessionsLost++;
    else if (!(await waitForHook(id, 'Approved', 5_000))) webhooksLost++;
  }
  for (const { count } of receiver.byEvent.values()) if (count > 1) duplicates++;
  const load = {
    users: concurrency,
    seconds: Math.round(elapsed),
    sessions: sessions.length,
    throughput_sessions_per_s: Math.round((latencies.length / elapsed) * 100) / 100,
    create_to_webhook: summary(latencies),
    sessions_lost: sessionsLost,
    webhooks_lost: webhooksLost,
    events_delivered_twice: duplicates,
    request_failures: failures.length,
    first_failures: failures.slice(0, 3),
  };
  log(JSON.stringify(load));

  log(`phase 2: receiver down, ${outageSessions} sessions, 10 minutes of driven housekeeping`);
  receiver.down = true;
  const outage = [];
  for (let i = 0; i < outageSessions; i++) {
    const s = await createSession(app, { workflow_id: app.workflows.kyc, vendor_data: `outage-${i}` });
    const c = await capture(s.session_token);
    if (c.body.status === 'Approved') outage.push(s.session_id);
  }
  const base = Math.floor(Date.now() / 1000) + 5;
  let now = base;
  for (; now <= base + 600; now += 30) await housekeeping(now);
  const deliveredWhileDown = outage.filter((id) => received(id, 'Approved')).length;
  receiver.down = false;
  const expected = new Set();
  for (const id of outage) for (const e of await loggedEvents(id)) expected.add(e);
  // Back up: the next retries (backoff 1, 4, 16, … minutes) find it; drive up to a day.
  let steps = 0;
  while ([...expected].some((e) => !receiver.byEvent.has(e)) && now < base + 86_400) {
    now += 120;
    steps++;
    await housekeeping(now);
  }
  const allDeliveredAt = now;
  // Any duplicate send would come from a later run: a few more, then count.
  for (let i = 0; i < 5; i++) await housekeeping((now += 600));
  const counts = [...expected].map((e) => receiver.byEvent.get(e)?.count ?? 0);
  const outageFigures = {
    sessions: outage.length,
    events: expected.size,
    delivered_while_down: deliveredWhileDown,
    driven_minutes_until_all_delivered: Math.round((allDeliveredAt - base) / 60),
    housekeeping_runs_after_return: steps,
    events_lost: counts.filter((c) => c === 0).length,
    events_delivered_more_than_once: counts.filter((c) => c > 1).length,
  };
  log(JSON.stringify(outageFigures));
  console.log(JSON.stringify({ load, outage: outageFigures }, null, 2));
} finally {
  await app.stop();
  server.close();
}
