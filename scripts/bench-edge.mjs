// `npm run bench:edge`: capture → decision stored + webhook queued, against the real worker in
// wrangler dev, for a passive capture as the hosted page sends it: a burst of 8 frames of the
// 640x480 live webcam clip (one every 4th at 30 fps, about 0.13 s apart). Prints JSON: cold start, warm p50/p99 sequential and 4 concurrent, the
// isolate's wasm memory (after each model load, after the captures, after a 16-frame challenge
// capture, after the largest image the decode limits accept and after a mixed-script PDF
// report), workerd peak memory, bundle
// size. A figure-printing command, not a test: nothing here asserts.
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

import { burstForm, burstOf, clipFrames, createSession, dataDir, LIVE_CLIP, root, spawnApp } from '../tests/edge/harness.mjs';
import { png } from './fuzz.mjs';

const captures = Number(process.env.CAPTURES ?? 200);
// The clip's 1 s windows (start = 30 * w): each capture is of another moment, as each
// attempt of a real user is. Every one of these is Approved against the clip's own enrolment.
const WINDOWS = [0, 30, 60, 90, 120];
const burstAt = (n) => burstOf(LIVE_CLIP, WINDOWS[n % WINDOWS.length]);

function percentile(sorted, p) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.round((p / 100) * (sorted.length - 1)))] : 0;
}

function summary(ms) {
  const s = [...ms].sort((a, b) => a - b);
  const r = (x) => Math.round(x * 10) / 10;
  return { n: s.length, p50: r(percentile(s, 50)), p99: r(percentile(s, 99)), max: r(s[s.length - 1] ?? 0) };
}

const app = await spawnApp();
const portraitB64 = readFileSync(join(dataDir, 'video', 'enroll_portrait_apfol_s1_t9.5s.jpg')).toString('base64');
const health = async () => (await fetch(`${app.origin}/system/healthcheck`)).json();
const memory = {};
try {
  memory.before_models_mb = (await health()).wasm_memory_mb;
  // Timed from the upload of the 8 frames to the decision's answer (stored, webhook queued).
  const capture = async (token, frames) => {
    const form = burstForm(frames);
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
  // builds them; here that is the first create + capture (a kyc enrolment from a burst).
  const t0 = performance.now();
  const first = await createSession(app, { workflow_id: app.workflows.kyc, vendor_data: users[0] });
  await capture(first.session_token, burstAt(0));
  const cold = { ms: performance.now() - t0 };
  const loaded = await health();
  memory.model_loads = loaded.memory?.model_loads;
  memory.after_first_capture_mb = loaded.wasm_memory_mb;
  for (const user of users.slice(1)) {
    await capture((await createSession(app, { workflow_id: app.workflows.kyc, vendor_data: user })).session_token, burstAt(0));
  }

  const run = async (user, count, into) => {
    for (let i = 0; i < count; i++) {
      const r = await capture((await reauthSession(user)).session_token, burstAt(i + 1));
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

  memory.after_captures_mb = (await health()).wasm_memory_mb;

  // Right after the burst captures (the isolate's usual state): the PDF report of a session whose vendor_data and review comment mix ten scripts: seven
  // fonts read from R2 (three of them 5-10 MB CJK files), shaped, subset and dropped.
  const mixed = await createSession(app, { workflow_id: app.workflows.kyc, vendor_data: 'Zoë Здравствуйте Καλημέρα مرحبا שלום' });
  await capture(mixed.session_token, burstAt(1));
  await fetch(`${app.baseUrl}/sessions/${mixed.session_id}/reviews/`, {
    method: 'POST',
    headers: { 'x-api-key': app.apiKey, 'content-type': 'application/json' },
    body: JSON.stringify({ new_status: 'Declined', comment: 'नमस्ते สวัสดี 你好世界 こんにちは 안녕하세요' }),
  });
  const pdfTimes = [];
  let pdfBytes = 0;
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    const res = await fetch(`${app.baseUrl}/session/${mixed.session_id}/generate-pdf/`, { headers: { 'x-api-key': app.apiKey } });
    const bytes = Buffer.from(await res.arrayBuffer());
    pdfTimes.push(performance.now() - t);
    if (res.status !== 200) throw new Error(`generate-pdf: ${res.status} ${bytes.toString().slice(0, 200)}`);
    pdfBytes = bytes.length;
  }
  memory.mixed_script_pdf = { bytes: pdfBytes, ms: summary(pdfTimes), wasm_memory_mb: (await health()).wasm_memory_mb };

  // Step-up: the hosted summary of an IP-analysis workflow from 100 public addresses (the
  // page's first read of a visit: IP data from R2 in two ranged reads, the user's remembered
  // devices from D1, the visit stored), against the same read of a workflow without it.
  const firstOctets = [3, 8, 23, 31, 45, 52, 62, 77, 81, 91, 103, 109, 151, 178, 185, 195, 212, 217];
  const timedSummary = async (workflow, i, ip) => {
    const s = await createSession(app, { workflow_id: workflow, vendor_data: `visit-${workflow.slice(0, 4)}-${i}`, portrait_image: portraitB64 });
    const t0 = performance.now();
    const res = await fetch(`${app.origin}/hosted/v1/${s.session_token}`, { headers: { 'x-forwarded-for': ip, 'x-facegate-device': `bench_device_${i}_xxxxxx` } });
    await res.json();
    return performance.now() - t0;
  };
  const stepupMs = [];
  const plainMs = [];
  for (let i = 0; i < 100; i++) {
    const ip = i % 2
      ? `${firstOctets[i % firstOctets.length]}.${(i * 91) % 256}.${(i * 53) % 256}.${1 + (i % 250)}`
      : `2a0${1 + (i % 9)}:${(i * 977).toString(16)}::${i + 1}`;
    stepupMs.push(await timedSummary(app.workflows.biometric_authentication_stepup, i, ip));
    plainMs.push(await timedSummary(app.workflows.biometric_authentication, i, ip));
  }
  memory.hosted_summary = {
    ip_analysis_ms: summary(stepupMs),
    without_ms: summary(plainMs),
    note: 'IP data resident: the 7.7 KB head of ipdata/ip.pages; each visit reads its block and record from R2',
    wasm_memory_mb: (await health()).wasm_memory_mb,
  };

  // A FLASHING challenge answered with 16 frames of the 640x480 camera clip: every frame is
  // decoded and detected, the best one analysed again.
  const frames = clipFrames(LIVE_CLIP).slice(0, 16);
  const flashing = await createSession(app, { workflow_id: app.workflows.biometric_authentication_flashing, vendor_data: users[0] });
  const challenge = await (await fetch(`${app.origin}/hosted/v1/${flashing.session_token}/challenge`, { method: "POST" })).json();
  const form = new FormData();
  form.append('challenge_id', challenge.id);
  frames.forEach((f, i) => form.append('frames', new Blob([f], { type: 'image/jpeg' }), `f${i}.jpg`));
  form.append('steps', JSON.stringify(frames.map((_, i) => Math.min(i >> 1, challenge.steps.length - 1))));
  const challengeRes = await fetch(`${app.origin}/hosted/v1/${flashing.session_token}/capture`, { method: 'POST', body: form });
  memory.challenge_capture = { status: challengeRes.status, frames: frames.length, wasm_memory_mb: (await health()).wasm_memory_mb };

  // The largest image the decode limits accept (2048x2048, 4.2 MP), to passive liveness.
  const big = new FormData();
  big.append('user_image', new Blob([png({ width: 2048, height: 2048 })], { type: 'image/png' }), 'big.png');
  const bigRes = await fetch(`${app.baseUrl}/passive-liveness/`, { method: 'POST', body: big, headers: { 'x-api-key': app.apiKey } });
  const afterBig = await health();
  memory.largest_accepted_image = { status: bigRes.status, wasm_memory_mb: afterBig.wasm_memory_mb };
  memory.guard = { budget_mb: afterBig.memory?.guard_budget_mb, headroom_mb: afterBig.memory?.guard_headroom_mb, heap_in_use_mb: afterBig.memory?.heap_in_use_mb, heap_peak_mb: afterBig.memory?.heap_peak_mb };
  const health2 = afterBig;
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
        capture: {
          kind: 'burst',
          frames: 8,
          frame_px: '640x480',
          upload_kb: Math.round(WINDOWS.reduce((kb, _, n) => kb + burstAt(n).reduce((b, f) => b + f.length, 0), 0) / WINDOWS.length / 1024),
        },
        cold_start_ms: Math.round(cold.ms),
        wasm_linear_memory_mb: health2.wasm_memory_mb,
        memory,
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
