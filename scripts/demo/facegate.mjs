// The demo's server-side facegate client. The API key lives here and only here: the browser
// never sees it, it only ever gets a session URL.
import { existsSync, readFileSync } from 'node:fs';

/**
 * Where facegate is and how to call it: env vars win, else a dev.json written by
 * `npm run dev` (scripts/dev.mjs).
 */
export function loadConfig(devFile) {
  const dev = existsSync(devFile) ? JSON.parse(readFileSync(devFile, 'utf8')) : {};
  const config = {
    baseUrl: (process.env.FACEGATE_BASE_URL ?? dev.base_url ?? '').replace(/\/+$/, ''),
    apiKey: process.env.FACEGATE_API_KEY ?? dev.api_key,
    webhookSecret: process.env.FACEGATE_WEBHOOK_SECRET ?? dev.webhook_secret,
    workflows: {
      kyc: process.env.FACEGATE_KYC_WORKFLOW_ID ?? dev.workflows?.kyc,
      biometric_authentication: process.env.FACEGATE_AUTH_WORKFLOW_ID ?? dev.workflows?.biometric_authentication,
    },
  };
  const missing = Object.entries({ ...config, ...config.workflows }).filter(([, v]) => !v).map(([k]) => k);
  if (missing.length) {
    throw new Error(`facegate is not configured (missing ${missing.join(', ')}): start it with npm run dev, or set FACEGATE_BASE_URL, FACEGATE_API_KEY, FACEGATE_WEBHOOK_SECRET, FACEGATE_KYC_WORKFLOW_ID and FACEGATE_AUTH_WORKFLOW_ID`);
  }
  return config;
}

/** An error facegate answered with, kept with its status and Didit-style body. */
export class FacegateError extends Error {
  constructor(status, body) {
    super(`facegate answered ${status}: ${JSON.stringify(body)}`);
    this.status = status;
    this.body = body;
  }
}

export function facegateClient({ baseUrl, apiKey, workflows }) {
  async function call(method, path, body) {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { 'x-api-key': apiKey, accept: 'application/json', ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const json = await res.json().catch(() => ({}));
    if (!res.ok) throw new FacegateError(res.status, json);
    return json;
  }

  return {
    /** A session of `kind` (`kyc` enrols a face, `biometric_authentication` checks one). */
    createSession: (kind, vendorData, callback) =>
      call('POST', '/session/', { workflow_id: workflows[kind], vendor_data: vendorData, ...(callback ? { callback } : {}) }),
    decision: (sessionId) => call('GET', `/session/${encodeURIComponent(sessionId)}/decision/`),
  };
}
