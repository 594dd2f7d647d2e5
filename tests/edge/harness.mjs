// Spawns the real service (scripts/dev.mjs → wrangler dev → workerd) on a free port with a
// fresh state folder, in the style of zero2prod's spawn_app: each test file gets its own app.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const dataDir = process.env.FACEGATE_DATA_DIR ?? join(root, '..', 'shared', 'data');

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

export async function spawnApp() {
  const port = await freePort();
  const state = mkdtempSync(join(tmpdir(), 'facegate-test-'));
  const child = spawn('node', [join(root, 'scripts', 'dev.mjs'), '--port', String(port)], {
    cwd: root,
    env: { ...process.env, FACEGATE_STATE_DIR: state },
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
  const dev = JSON.parse(readFileSync(join(root, '.facegate', `dev-${port}.json`), 'utf8'));
  return {
    origin,
    baseUrl: dev.base_url,
    apiKey: dev.api_key,
    output: () => output,
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

export function image(path) {
  return new Blob([readFileSync(join(dataDir, path))], { type: 'image/jpeg' });
}
