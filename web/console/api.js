// The operator API (/console/api/…) as the contract describes it: JSON both ways, the session
// in an HttpOnly cookie the page never sees, and the CSRF token from the Me object on every
// request that changes something.

const BASE = '/console/api';

/** What the server said about the signed-in operator; null when signed out. */
export const session = { me: null };

let onUnauthorized = () => {};
/** Called on a 401 from any call that expects a signed-in operator. */
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

export class ApiError extends Error {
  constructor(status, body, headers) {
    super(messageOf(status, body));
    this.status = status;
    this.body = body;
    this.headers = headers;
  }

  /** `{"field": [...]}` validation errors, or null for a `{"detail"}` error. */
  get fieldErrors() {
    if (this.status !== 400 || !this.body || typeof this.body !== 'object' || 'detail' in this.body) return null;
    return this.body;
  }
}

function messageOf(status, body) {
  if (body && typeof body === 'object') {
    if (typeof body.detail === 'string') return body.detail;
    const first = Object.entries(body).find(([, v]) => Array.isArray(v) && v.length);
    if (first) return `${first[0]}: ${first[1].join(' ')}`;
  }
  if (status === 403) return 'Your role on this application does not allow this.';
  if (status === 404) return 'Not found, or not an application you have a role in.';
  if (status >= 500) return `The server failed (HTTP ${status}). Try again in a moment.`;
  return `The request failed (HTTP ${status}).`;
}

/**
 * One call to the operator API. `auth: false` is for sign-in and setup, where a 401 or 404 is
 * an answer for the form rather than a lost session.
 */
export async function api(method, path, body, { auth = true } = {}) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET') {
    headers['Content-Type'] = 'application/json';
    headers['X-CSRF-Token'] = session.me?.csrf_token ?? '';
  }
  let res;
  try {
    res = await fetch(`${BASE}${path}`, {
      method,
      credentials: 'same-origin',
      headers,
      // A DELETE carries a body only when it must (turning the selfie off asks for the password).
      body: method === 'GET' || (method === 'DELETE' && body === undefined) ? undefined : JSON.stringify(body ?? {}),
    });
  } catch {
    throw new ApiError(0, { detail: 'The server cannot be reached. Check the connection and try again.' }, new Headers());
  }
  const text = res.status === 204 ? '' : await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { detail: text.slice(0, 200) };
    }
  }
  if (!res.ok) {
    const error = new ApiError(res.status, data, res.headers);
    if (res.status === 401 && auth) {
      session.me = null;
      onUnauthorized();
    }
    throw error;
  }
  return data;
}

export const get = (path) => api('GET', path);
export const post = (path, body, opts) => api('POST', path, body, opts);
export const del = (path, body) => api('DELETE', path, body);
export const patch = (path, body) => api('PATCH', path, body);

/** Reloads the Me object (applications, roles, CSRF token). */
export async function loadMe() {
  session.me = await get('/me/');
  return session.me;
}

const enc = encodeURIComponent;
export const paths = {
  queue: (app) => `/applications/${enc(app)}/queue/`,
  sessions: (app, query) => `/applications/${enc(app)}/sessions/${query ? `?${query}` : ''}`,
  session: (app, id) => `/applications/${enc(app)}/sessions/${enc(id)}/`,
  pdf: (app, id) => `${BASE}/applications/${enc(app)}/sessions/${enc(id)}/pdf/`,
  reviews: (app, id) => `/applications/${enc(app)}/sessions/${enc(id)}/reviews/`,
  assign: (app, id) => `/applications/${enc(app)}/sessions/${enc(id)}/assign/`,
  resend: (app, destination, delivery) => `/applications/${enc(app)}/destinations/${enc(destination)}/deliveries/${enc(delivery)}/resend/`,
  applications: () => '/applications/',
  keys: (app) => `/applications/${enc(app)}/keys/`,
  key: (app, keyId) => `/applications/${enc(app)}/keys/${enc(keyId)}/`,
  destinations: (app) => `/applications/${enc(app)}/destinations/`,
  operators: () => '/operators/',
  secondFactor: () => '/me/second-factor/',
  audit: (app) => `/applications/${enc(app)}/audit/`,
  usage: (app) => `/applications/${enc(app)}/usage/`,
  settings: (app) => `/applications/${enc(app)}/settings/`,
  team: (app) => `/applications/${enc(app)}/operators/`,
  member: (app, id) => `/applications/${enc(app)}/operators/${enc(id)}/`,
  usageCsv: (app) => `${BASE}/applications/${enc(app)}/usage.csv`,
  workflows: (app) => `/applications/${enc(app)}/workflows/`,
  workflow: (app, id) => `/applications/${enc(app)}/workflows/${enc(id)}/`,
  errorRates: () => '/error-rates/',
};

/** The operator's role on `appId`: platform admins are admin everywhere. */
export function roleOn(appId) {
  const me = session.me;
  if (!me) return null;
  const role = me.applications.find((a) => a.id === appId)?.role ?? null;
  return me.operator.platform_admin ? 'admin' : role;
}

export const can = {
  decide: (appId) => ['admin', 'reviewer'].includes(roleOn(appId)),
  resend: (appId) => ['admin', 'reviewer'].includes(roleOn(appId)),
  manage: (appId) => roleOn(appId) === 'admin',
  createApplications: () => Boolean(session.me?.operator.platform_admin),
};
