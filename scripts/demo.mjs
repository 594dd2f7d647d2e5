// `npm run demo`: facegate (scripts/dev.mjs, with the demo registered as its webhook
// destination) plus the demo integrator app on http://127.0.0.1:8790.
// `npm run demo -- --server-only` runs only the demo app, against a facegate that is already
// running: configured by .facegate/dev.json or the FACEGATE_* environment variables.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { loadConfig } from './demo/facegate.mjs';
import { startDemoServer } from './demo/server.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i === -1 ? fallback : process.argv[i + 1];
}

function log(msg) {
  process.stderr.write(`[demo] ${msg}\n`);
}

const port = Number(option('--port', process.env.DEMO_PORT ?? 8790));
const facegatePort = Number(option('--facegate-port', 8787));
const serverOnly = process.argv.includes('--server-only');
const devFile = join(root, '.facegate', facegatePort === 8787 ? 'dev.json' : `dev-${facegatePort}.json`);

/** Starts facegate in its own process group, so that stopping the demo stops all of it. */
function startFacegate() {
  const child = spawn(process.execPath, [join(root, 'scripts', 'dev.mjs'), '--port', String(facegatePort)], {
    cwd: root,
    env: { ...process.env, FACEGATE_WEBHOOK_URL: `http://127.0.0.1:${port}/webhook` },
    stdio: 'inherit',
    detached: true,
  });
  const stop = () => {
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  };
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => (stop(), process.exit(0)));
  process.on('exit', stop);
  child.on('exit', (code) => {
    log(`facegate exited (${code})`);
    process.exit(code || 1);
  });
  return child;
}

/** Waits for facegate's health check and for the workflows dev.mjs then makes through the
 * API; the first start builds the worker, which takes minutes. */
async function facegateReady() {
  const url = `http://127.0.0.1:${facegatePort}/system/healthcheck`;
  const hasWorkflows = () => existsSync(devFile) && JSON.parse(readFileSync(devFile, 'utf8')).workflows;
  for (;;) {
    try {
      if ((await fetch(url)).ok && hasWorkflows()) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

if (!serverOnly) {
  startFacegate();
  log(`starting facegate on 127.0.0.1:${facegatePort} (the first run builds the worker: several minutes)`);
  await facegateReady();
}
const config = loadConfig(devFile);
const demo = await startDemoServer({ config, port, log });
log(`facegate: ${config.baseUrl}`);
log(`webhooks are verified with the shared secret; facegate must send them to ${demo.url}/webhook`);
process.stdout.write(`\n  facegate demo: ${demo.url}\n\n`);
