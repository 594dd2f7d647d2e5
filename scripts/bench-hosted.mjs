// `npm run bench:hosted`: the hosted page as a user meets it, in headless Chromium with the
// fake camera playing the live clip. Prints what a first visit downloads (raw and gzip, SIMD
// and non-SIMD builds), the time to the first cue, the client check time per frame, and the
// time from the capture moment (the guide says ready and the burst starts) to the result on
// screen, split into the burst itself (~0.9 s of the user holding still) and its upload and
// decision. Figures are printed, never asserted.
//   node scripts/bench-hosted.mjs [--runs N]     (spawns its own facegate)
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

import { launchChromium, withoutWasmSimd } from '../tests/browser/chromium.mjs';
import { createSession, enrol, root, spawnApp } from '../tests/edge/harness.mjs';

const runs = Number(process.argv.includes('--runs') ? process.argv[process.argv.indexOf('--runs') + 1] : 5);
const publicDir = join(root, 'edge-worker', 'public', 'hosted');

const mb = (bytes) => (bytes / 1e6).toFixed(2);
const pct = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};
const summary = (values) => `p50 ${Math.round(pct(values, 50))} ms, p99 ${Math.round(pct(values, 99))} ms (n=${values.length})`;

function sizes() {
  const file = (rel) => {
    const bytes = readFileSync(join(publicDir, rel));
    return { raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
  };
  const page = readdirSync(publicDir).filter((f) => /\.(js|css)$/.test(f)).map(file);
  page.push({ raw: statSync(join(root, 'web', 'hosted', 'index.html')).size, gzip: gzipSync(readFileSync(join(root, 'web', 'hosted', 'index.html'))).length });
  const sum = (list) => list.reduce((a, b) => ({ raw: a.raw + b.raw, gzip: a.gzip + b.gzip }), { raw: 0, gzip: 0 });
  const models = sum(['models/yunet.onnx', 'models/minifasnet_v2.onnx'].map(file));
  console.log('first visit, transferred with gzip (raw in brackets):');
  for (const build of ['simd', 'nosimd']) {
    const wasm = sum([`capture/${build}/facegate_capture_bg.wasm`, `capture/${build}/facegate_capture.js`].map(file));
    const total = sum([wasm, models, sum(page)]);
    console.log(`  ${build.padEnd(6)} capture-wasm ${mb(wasm.gzip)} MB (${mb(wasm.raw)}), models ${mb(models.gzip)} MB (${mb(models.raw)}), page ${mb(sum(page).gzip)} MB → total ${mb(total.gzip)} MB (${mb(total.raw)})`);
  }
  console.log('  later visits revalidate (ETag) and transfer none of it again');
}

async function visit(app, user, simd) {
  const s = await createSession(app, { workflow_id: app.workflows.biometric_authentication, vendor_data: user });
  // A fresh profile each time: every run is a first visit, caches empty.
  const { context, close } = await launchChromium('live_selfie_640x480_30fps_5s.mjpeg');
  try {
    const page = await context.newPage();
    if (!simd) await withoutWasmSimd(page);
    await page.goto(s.url);
    await page.waitForFunction(() => window.__facegate?.timings.result, null, { timeout: 60_000 });
    return await page.evaluate(() => ({ ...window.__facegate, state: document.body.dataset.state }));
  } finally {
    await close();
  }
}

sizes();
const app = await spawnApp();
try {
  await enrol(app, 'bench-user');
  for (const simd of [true, false]) {
    const firstCue = [];
    const checks = [];
    const toResult = [];
    const burstSpan = [];
    const uploadToResult = [];
    const burstBytes = [];
    const ready = [];
    for (let i = 0; i < runs; i++) {
      const r = await visit(app, 'bench-user', simd);
      if (r.state !== 'approved') console.log(`  run ${i + 1}: ended ${r.state}`);
      firstCue.push(r.timings.first_cue);
      ready.push(r.timings.checks_ready);
      checks.push(...r.checkTimes.slice(1));
      toResult.push(r.timings.result - r.timings.burst);
      burstSpan.push(r.timings.capture - r.timings.burst);
      uploadToResult.push(r.timings.result - r.timings.capture);
      burstBytes.push(r.burst.bytes.reduce((a, b) => a + b, 0));
    }
    console.log(`\n${simd ? 'SIMD' : 'non-SIMD'} build, ${runs} first visits:`);
    console.log(`  page open → checks ready: ${summary(ready)}`);
    console.log(`  page open → first cue: ${summary(firstCue)}`);
    console.log(`  client check per frame (worker, after the first): ${summary(checks)}`);
    console.log(`  capture moment (burst starts) → result on screen: ${summary(toResult)}`);
    console.log(`    of which the burst (8 frames drawn and encoded): ${summary(burstSpan)}`);
    console.log(`    of which upload → decision → result on screen: ${summary(uploadToResult)}`);
    console.log(`  burst upload: ${Math.round(pct(burstBytes, 50) / 1000)} KB median (${Math.round(Math.min(...burstBytes) / 1000)}-${Math.round(Math.max(...burstBytes) / 1000)} KB)`);
  }
} finally {
  await app.stop();
}
