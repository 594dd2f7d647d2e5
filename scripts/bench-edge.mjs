// `npm run bench:edge`: capture → decision stored + webhook queued, against the real worker in
// wrangler dev. Prints JSON: cold start, warm p50/p99 sequential and 4 concurrent, workerd
// peak memory, bundle size. A figure-printing command, not a test: nothing here asserts.
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

import { createSession, dataDir, root, spawnApp } from '../tests/edge/harness.mjs';

const captures = Number(process.env.CAPTURES ?? 200);
const portrait = readFileSync(join(dataDir, 'video/enroll_portrait_apfol_s1_t9.5s.jpg'));
const selfie = readFileSync(join(dataDir, 'liveness/frames/apfol_s1/live_003.jpg'));

function percentile(sorted, p) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.round((p / 100) * (sorted.length - 1)))] : 0;
}

function summary(ms) {
  const s = [...ms].sort((a, b) => a - b);
  const r = (x) => Math.round(x * 10) / 10;
  return { n: s.length, p50: r(percentile(s, 50)), p99: r(percentile(s, 99)), max: r(s[s.length - 1] ?? 0) };
}

const app = await spawnApp();
try {
  const capture = async (token, bytes) => {
    const form = new FormData();
    form.append('frame', new Blob([bytes], { type: 'image/jpeg' }), 'frame.jpg');
    const t0 = performance.now();
    const res = await fetch(`${app.origin}/hosted/v1/${token}/capture`, { method: 'POST', body: form });
    const body = await res.json();
    const ms = performance.now() - t0;
    if (res.status !== 200) throw new Error(`capture: ${res.status} ${JSON.stringify(body)}`);
    return { ms, status: body.status };
  };
  // An unfinished session is reused for the same vendor_data (Didit's rule), so each capture
  // gets a fresh session created after the previous one finished; each of the 4 concurrent
  // users has their own enrolled face.
  const reauthSession = (user) => createSession(app, { workflow_id: app.workflows.biometric_authentication, vendor_data: user });
  const users = ['bench-0', 'bench-1', 'bench-2', 'bench-3'];

  // Cold: the isolate's first request that needs the pipeline loads the models from R2 and
  // builds them; here that is the first create + capture.
  const t0 = performance.now();
  const first = await createSession(app, { workflow_id: app.workflows.kyc, vendor_data: users[0] });
  await capture(first.session_token, portrait);
  const cold = { ms: performance.now() - t0 };
  for (const user of users.slice(1)) {
    await capture((await createSession(app, { workflow_id: app.workflows.kyc, vendor_data: user })).session_token, portrait);
  }

  const run = async (user, count, into) => {
    for (let i = 0; i < count; i++) {
      const r = await capture((await reauthSession(user)).session_token, selfie);
      if (r.status !== 'Approved') throw new Error(`capture for ${user}: ${r.status}`);
      into.push(r.ms);
    }
  };
  process.stderr.write(`[bench] ${captures} sequential captures\n`);
  const sequential = [];
  await run(users[0], captures, sequential);
  process.stderr.write(`[bench] ${captures} captures, 4 at a time\n`);
  const concurrent = [];
  await Promise.all(users.map((user) => run(user, captures / 4, concurrent)));

  const health = await (await fetch(`${app.origin}/system/healthcheck`)).json();
  // workerd is the service's process: its peak resident memory bounds the isolate's.
  let workerdPeakMb = null;
  try {
    const pids = execFileSync('pgrep', ['-f', 'workerd serve']).toString().trim().split('\n');
    const peaks = pids.map((pid) => {
      const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmHWM:'));
      return Number(line.split(/\s+/)[1]) / 1024;
    });
    workerdPeakMb = Math.round(Math.max(...peaks));
  } catch {
    // not on Linux or no workerd found
  }
  const wasm = readFileSync(join(root, 'edge-worker/build/index_bg.wasm'));
  const js = statSync(join(root, 'edge-worker/build/index.js')).size;
  console.log(
    JSON.stringify(
      {
        capture_ms: { sequential: summary(sequential), concurrent_4: summary(concurrent) },
        cold_start_ms: Math.round(cold.ms),
        wasm_linear_memory_mb: health.wasm_memory_mb,
        workerd_peak_rss_mb: workerdPeakMb,
        bundle: {
          wasm_mb: Math.round((wasm.length / 1e6) * 100) / 100,
          wasm_gzip_mb: Math.round((gzipSync(wasm, { level: 9 }).length / 1e6) * 100) / 100,
          js_kb: Math.round(js / 1024),
        },
        note: 'models (about 42 MB) are read from R2 at the first request, not bundled',
      },
      null,
      2,
    ),
  );
} finally {
  await app.stop();
}
