// A seeded batch of the HTTP fuzzer (scripts/fuzz.mjs; `npm run fuzz` sends 10,000): generated
// malformed requests on every route must never get a response ≥ 500, and the isolate's wasm
// memory must stay under the ceiling the memory guard keeps it below.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { fuzz, MEMORY_CEILING_MB } from '../../scripts/fuzz.mjs';
import { spawnApp } from './harness.mjs';

let app;
before(async () => {
  // The fuzzer moves the development clock on to fresh rate-limit windows (see scripts/fuzz.mjs).
  process.env.FACEGATE_DEV_CLOCK = '1';
  app = await spawnApp();
});
after(async () => {
  await app?.stop();
});

test('1,000 generated malformed requests: no 5xx, memory under the ceiling', { timeout: 600_000 }, async () => {
  const report = await fuzz(app, { requests: Number(process.env.FUZZ_REQUESTS ?? 1000), seed: 7, concurrency: 4 });
  const routes = Object.keys(report.byRoute);
  assert.ok(routes.length >= 15, `requests reached ${routes.length} routes: ${routes.join(', ')}`);
  // Passive captures are bursts now: the batch must send some (good and broken) besides the
  // single frames and challenge frames.
  assert.ok(report.captures.burst, `capture kinds sent: ${JSON.stringify(report.captures)}`);
  assert.deepEqual(report.failures, [], `responses ≥ 500 (reproduce with npm run fuzz -- --seed ${report.seed})`);
  assert.ok(report.peakWasmMemoryMb !== null && report.peakWasmMemoryMb <= MEMORY_CEILING_MB, `peak wasm memory ${report.peakWasmMemoryMb} MB`);
});
