// `npm run dev`: build the worker, prepare local D1 and R2 state, seed a development
// application, write .facegate/dev.json and run `wrangler dev` on 127.0.0.1:8787.
// Also used by the tests (with --port) so that they drive exactly what a developer runs.
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const workerDir = join(root, 'edge-worker');
const persist = process.env.FACEGATE_STATE_DIR ?? join(workerDir, '.wrangler', 'state');
const port = Number(process.argv.includes('--port') ? process.argv[process.argv.indexOf('--port') + 1] : 8787);
const devFile = join(root, '.facegate', port === 8787 ? 'dev.json' : `dev-${port}.json`);
const wrangler = join(root, 'node_modules', '.bin', 'wrangler');
const env = {
  ...process.env,
  CLOUDFLARE_CF_FETCH_ENABLED: 'false',
  WRANGLER_SEND_METRICS: 'false',
  WRANGLER_SEND_ERROR_REPORTS: 'false',
};

function log(msg) {
  process.stderr.write(`[dev] ${msg}\n`);
}

function run(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { cwd: workerDir, env, stdio: ['ignore', 'pipe', 'inherit'], ...opts }).toString();
}

log('building the worker');
execFileSync('bash', [join(root, 'scripts', 'build-worker.sh')], { stdio: 'inherit', env });

log('applying D1 migrations');
run(wrangler, ['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', persist]);

// Face templates are sealed under their own key (a Worker secret; here from .dev.vars),
// generated once per checkout.
mkdirSync(join(root, '.facegate'), { recursive: true });
const keyFile = join(root, '.facegate', 'template-key');
if (!existsSync(keyFile)) writeFileSync(keyFile, randomBytes(32).toString('hex'), { mode: 0o600 });
// The operator's secret for /internal/* (housekeeping, the route table), likewise once per
// checkout; applications' API keys never open those routes.
const operatorFile = join(root, '.facegate', 'operator-token');
if (!existsSync(operatorFile)) writeFileSync(operatorFile, `fg_op_${randomBytes(24).toString('hex')}`, { mode: 0o600 });
const operatorToken = readFileSync(operatorFile, 'utf8').trim();
// Development only: webhook receivers on this machine (127.0.0.1) are allowed; deployed, a
// destination must be a public host.
// X-Forwarded-For is believed from loopback clients only (wrangler dev itself reports them as
// 127.0.0.1), so tests can present any client address; deployed, only CF-Connecting-IP counts.
// FACEGATE_DEV_FAULTS=1 (tests/edge/faults.test.mjs) turns on the D1 adapter's fault switch.
// FACEGATE_DEV_CLOCK=1 (npm run bench:load) lets the operator's housekeeping call move the clock forward.
const devFaults =
  (process.env.FACEGATE_DEV_FAULTS === '1' ? 'FACEGATE_DEV_FAULTS=1\n' : '') +
  (process.env.FACEGATE_DEV_CLOCK === '1' ? 'FACEGATE_DEV_CLOCK=1\n' : '');
writeFileSync(
  join(workerDir, '.dev.vars'),
  `TEMPLATE_KEY=${readFileSync(keyFile, 'utf8').trim()}\nOPERATOR_TOKEN=${operatorToken}\nALLOW_LOOPBACK_WEBHOOKS=1\nTRUSTED_PROXY_HEADER=x-forwarded-for\nTRUSTED_PROXIES=127.0.0.0/8,::1\n${devFaults}`,
);
chmodSync(join(workerDir, '.dev.vars'), 0o600);

// One development application per state folder (and a second tenant): ids and keys generated
// once and kept; made through the operator API once wrangler answers, their configuration
// brought up to date at each start (so FACEGATE_WEBHOOK_URL can change).
const previous = existsSync(devFile) ? JSON.parse(readFileSync(devFile, 'utf8')) : {};
const dev = {
  base_url: `http://127.0.0.1:${port}/v3`,
  application_id: previous.application_id ?? randomUUID(),
  api_key: previous.api_key ?? `fg_dev_${randomBytes(24).toString('hex')}`,
  // The development destination's signing secret and id, as the API made them.
  webhook_secret: previous.webhook_secret ?? null,
  webhook_destination_id: previous.webhook_destination_id ?? null,
  webhook_url: process.env.FACEGATE_WEBHOOK_URL ?? previous.webhook_url ?? null,
  operator_token: operatorToken,
  // A second tenant, for the tenancy and framing tests: its own key and workflows, and the
  // hosted page of its sessions may only be framed by (and post events to) OTHER_ORIGIN.
  other_application_id: previous.other_application_id ?? randomUUID(),
  other_api_key: previous.other_api_key ?? `fg_dev_${randomBytes(24).toString('hex')}`,
  other_allowed_origins: ['https://other-tenant.example'],
};
// Written now without workflows (whoever reads it waits for them), again once they exist;
// replaced whole, so a reader never sees half a file.
function writeDev() {
  writeFileSync(`${devFile}.tmp`, JSON.stringify(dev, null, 2) + '\n');
  renameSync(`${devFile}.tmp`, devFile);
}
writeDev();

// Models go to the local R2 bucket under their manifest names; re-uploaded only when changed.
const manifest = readFileSync(join(root, 'models', 'manifest.toml'), 'utf8');
const models = [...manifest.matchAll(/\[\[model\]\]\s*\nname = "([^"]+)"\s*\nfile = "([^"]+)"/g)].map((m) => ({ name: m[1], file: m[2] }));
const stampFile = join(persist, 'facegate-models.json');
const stamps = existsSync(stampFile) ? JSON.parse(readFileSync(stampFile, 'utf8')) : {};
for (const { name, file } of models) {
  const path = join(root, 'models', 'prepared', file);
  if (!existsSync(path)) throw new Error(`${path} missing: run npm install (it prepares the models)`);
  const digest = createHash('sha256').update(readFileSync(path)).digest('hex');
  if (stamps[name] === digest) continue;
  log(`uploading ${name} to the local MODELS bucket`);
  run(wrangler, ['r2', 'object', 'put', `facegate-models/${name}`, '--local', '--persist-to', persist, '--file', path]);
  stamps[name] = digest;
}
// The PDF report's fonts (models/fonts.tsv) go there too, as font/<key>.
const fontKeys = readFileSync(join(root, 'models', 'fonts.tsv'), 'utf8')
  .split('\n')
  .filter((line) => line && !line.startsWith('#'))
  .map((line) => line.split('\t')[0]);
for (const key of fontKeys) {
  const path = join(root, 'models', 'fonts', `${key}.ttf`);
  if (!existsSync(path)) throw new Error(`${path} missing: run npm install (scripts/setup.sh fetches the fonts)`);
  const digest = createHash('sha256').update(readFileSync(path)).digest('hex');
  if (stamps[`font/${key}`] === digest) continue;
  log(`uploading font/${key} to the local MODELS bucket`);
  run(wrangler, ['r2', 'object', 'put', `facegate-models/font/${key}`, '--local', '--persist-to', persist, '--file', path]);
  stamps[`font/${key}`] = digest;
}
// The IP data as the worker reads it, in ranged reads (crates/signals/src/paged.rs). Without
// it the worker only knows whether an address is public, so dev starts anyway.
const ipPages = join(root, 'models', 'ipdata', 'ip.pages');
if (!existsSync(ipPages)) {
  log(`${ipPages} missing: IP facts will be unknown (npm install builds it)`);
} else {
  const digest = createHash('sha256').update(readFileSync(ipPages)).digest('hex');
  if (stamps['ipdata/ip.pages'] !== digest) {
    log('uploading ipdata/ip.pages to the local MODELS bucket');
    run(wrangler, ['r2', 'object', 'put', 'facegate-models/ipdata/ip.pages', '--local', '--persist-to', persist, '--file', ipPages]);
    stamps['ipdata/ip.pages'] = digest;
  }
}
writeFileSync(stampFile, JSON.stringify(stamps, null, 2));

log(`starting wrangler dev on 127.0.0.1:${port}`);
const child = spawn(wrangler, ['dev', '--ip', '127.0.0.1', '--port', String(port), '--persist-to', persist, '--show-interactive-dev-session=false'], {
  cwd: workerDir,
  env,
  stdio: 'inherit',
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));

// The cron (wrangler.toml `* * * * *`) as production runs it: wrangler dev fires no cron, so
// expiry and webhook retries run through the worker's housekeeping route every minute.
setInterval(() => {
  fetch(`http://127.0.0.1:${port}/internal/housekeeping`, { method: 'POST', headers: { authorization: `Bearer ${operatorToken}` } }).catch(() => {});
}, 60_000);
child.on('exit', (code) => process.exit(code ?? 0));

// The development workflows, made through the API as an integrator makes them (Didit's
// features body; facegate's escalation setting on the step-up one). Ids kept from the last
// start are reused while the workflow exists: a PATCH with an unchanged body makes no version.
const LIVENESS = (config = {}) => ({ feature: 'LIVENESS', config });
const FACE_MATCH = { feature: 'FACE_MATCH' };
const wanted = {
  biometric_authentication: [LIVENESS(), FACE_MATCH],
  kyc: [LIVENESS()],
  biometric_authentication_flashing: [LIVENESS({ face_liveness_method: 'FLASHING' }), FACE_MATCH],
  biometric_authentication_active_3d: [LIVENESS({ face_liveness_method: 'ACTIVE_3D' }), FACE_MATCH],
  // Escalation with a band as wide as the scale: every passive capture is stepped up to a
  // FLASHING challenge (the default band is 10 points around the decline threshold).
  biometric_authentication_step_up: [LIVENESS({ liveness_escalation: { enabled: true, band: 100 } }), FACE_MATCH],
  // Adaptive step-up: IP analysis with Didit's default rules, and the skip for a known device
  // on a known address switched on (it is off unless a workflow opts in).
  biometric_authentication_stepup: [LIVENESS(), FACE_MATCH, { feature: 'IP_ANALYSIS', config: { skip_when_known: true } }],
};
const otherWanted = { biometric_authentication: wanted.biometric_authentication, kyc: wanted.kyc };

async function api(apiKey, method, path, body) {
  const res = await fetch(`${dev.base_url}${path}`, {
    method,
    headers: { 'x-api-key': apiKey, 'content-type': 'application/json' },
    body: body && JSON.stringify(body),
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

async function operatorApi(method, path, body) {
  const res = await fetch(`http://127.0.0.1:${port}/console/api${path}`, {
    method,
    headers: { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' },
    body: body && JSON.stringify(body),
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

/** The application with this id and first key (409: made at an earlier start), its settings as wanted. */
async function ensureApplication(id, name, apiKey, settings) {
  const made = await operatorApi('POST', '/applications/', { id, name, api_key: apiKey });
  if (made.status !== 201 && made.status !== 409) throw new Error(`POST application ${name}: ${made.status} ${JSON.stringify(made.body)}`);
  const current = (await operatorApi('GET', `/applications/${id}/settings/`)).body;
  const want = { name, ...settings };
  if (Object.entries(want).some(([k, v]) => JSON.stringify(current?.[k] ?? null) !== JSON.stringify(v))) {
    const r = await operatorApi('PATCH', `/applications/${id}/settings/`, want);
    if (r.status !== 200) throw new Error(`PATCH settings of ${name}: ${r.status} ${JSON.stringify(r.body)}`);
  }
}

/** The development destination (every event, to FACEGATE_WEBHOOK_URL), or none without one. */
async function ensureWebhook() {
  const listed = (await api(dev.api_key, 'GET', '/webhook/destinations/')).body?.results ?? [];
  const mine = listed.find((d) => d.uuid === dev.webhook_destination_id);
  if (!dev.webhook_url) {
    if (mine) await api(dev.api_key, 'DELETE', `/webhook/destinations/${mine.uuid}/`);
    return;
  }
  if (mine) {
    if (mine.url !== dev.webhook_url || !mine.enabled) {
      const r = await api(dev.api_key, 'PATCH', `/webhook/destinations/${mine.uuid}/`, { url: dev.webhook_url, enabled: true });
      if (r.status !== 200) throw new Error(`PATCH destination: ${r.status} ${JSON.stringify(r.body)}`);
    }
    dev.webhook_secret = mine.secret_shared_key;
    return;
  }
  const r = await api(dev.api_key, 'POST', '/webhook/destinations/', { url: dev.webhook_url, label: 'development', subscribed_events: [] });
  if (r.status !== 201) throw new Error(`POST destination: ${r.status} ${JSON.stringify(r.body)}`);
  dev.webhook_destination_id = r.body.uuid;
  dev.webhook_secret = r.body.secret_shared_key;
}

async function ensureWorkflows(apiKey, wantedByName, known = {}) {
  const ids = {};
  for (const [name, features] of Object.entries(wantedByName)) {
    const body = { workflow_label: name, features };
    const id = known[name];
    const current = id && (await api(apiKey, 'GET', `/workflows/${id}/`));
    if (current?.status === 200 && !current.body.is_archived) {
      const r = await api(apiKey, 'PATCH', `/workflows/${id}/`, body);
      if (r.status !== 200) throw new Error(`PATCH workflow ${name}: ${r.status} ${JSON.stringify(r.body)}`);
      ids[name] = id;
    } else {
      const r = await api(apiKey, 'POST', '/workflows/', body);
      if (r.status !== 201) throw new Error(`POST workflow ${name}: ${r.status} ${JSON.stringify(r.body)}`);
      ids[name] = r.body.workflow_id;
    }
  }
  return ids;
}

(async () => {
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/system/healthcheck`)).ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  await ensureApplication(dev.application_id, 'Development', dev.api_key, { allowed_origins: null });
  await ensureApplication(dev.other_application_id, 'Other tenant', dev.other_api_key, { allowed_origins: dev.other_allowed_origins });
  await ensureWebhook();
  dev.workflows = await ensureWorkflows(dev.api_key, wanted, previous.workflows);
  dev.other_workflows = await ensureWorkflows(dev.other_api_key, otherWanted, previous.other_workflows);
  // The console's first admin: a one-time link while nobody has set up an admin account
  // (later starts get 409 and print where to sign in).
  const boot = await fetch(`${dev.base_url.replace(/\/v3$/, '')}/internal/console-bootstrap/`, { method: 'POST', headers: { authorization: `Bearer ${operatorToken}` } });
  const consoleUrl = `http://127.0.0.1:${port}/console/`;
  if (boot.status === 201) {
    dev.console_setup_url = new URL((await boot.json()).setup_url, consoleUrl).toString();
    log(`console: set up the first admin (once, valid 72 h): ${dev.console_setup_url}`);
  } else {
    dev.console_setup_url = null;
    log(`console: sign in at ${consoleUrl}`);
  }
  writeDev();
  log(`wrote ${devFile} (workflows made through /v3/workflows/)`);
})().catch((e) => {
  log(`could not make the development workflows: ${e.message}`);
  child.kill('SIGTERM');
  process.exit(1);
});
