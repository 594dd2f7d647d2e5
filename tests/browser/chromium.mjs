// Debian's Chromium as the browser tests and `npm run bench:hosted` drive it: headless, a fresh
// profile, and a fake camera playing a clip from ../shared/data/video (flags measured in
// ../shared/notes/toolchain.md).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { chromium } from 'playwright-core';

import { dataDir } from '../edge/harness.mjs';

/** A fresh Chromium with a fake camera playing `clip`; `camera: false` denies the camera. */
export async function launchChromium(clip, { camera = true, viewport = { width: 390, height: 844 } } = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'facegate-chromium-'));
  const args = [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--use-fake-device-for-media-stream', `--use-file-for-fake-video-capture=${join(dataDir, 'video', clip)}`,
    camera ? '--use-fake-ui-for-media-stream' : '--deny-permission-prompts',
  ];
  const context = await chromium.launchPersistentContext(profile, { executablePath: '/usr/bin/chromium', headless: true, args, viewport });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Makes `page` behave as a browser without wasm SIMD (Safari before 16.4): the hosted page's
 * SIMD probe, a 31-byte module, no longer validates, so it loads the fallback build. */
export async function withoutWasmSimd(page) {
  await page.addInitScript(() => {
    const validate = WebAssembly.validate;
    WebAssembly.validate = (bytes) => (bytes.length === 31 ? false : validate(bytes));
  });
}
