// The operator console's shell: hash routing, the header (navigation, application switcher,
// sign-out), the status and error messages, and the keyboard shortcuts. Each screen lives in
// its own module and renders into #view.
import { ApiError, loadMe, post, session, setUnauthorizedHandler } from './api.js';
import { confirmEnrolment, renderAccount } from './account.js';
import { renderApps } from './apps.js';
import { renderAudit } from './audit.js';
import { finishSelfieSignIn, renderLogin, renderSetup } from './auth.js';
import { el } from './dom.js';
import { renderQueue } from './queue.js';
import { renderSessionDetail, renderSessions } from './sessions.js';
import { renderSettings } from './settings.js';
import { renderUsage } from './usage.js';

const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;
const LAST_APP = 'facegate-console-app';

let generation = 0;
let keepMessageUntil = -1;
let keys = {};
let returnTo = null;
let firstRender = true;

// ---- routes --------------------------------------------------------------------------------

function parse(hash) {
  const h = hash.replace(/^#/, '');
  if (h.startsWith('setup=')) return { name: 'setup', token: h.slice('setup='.length) };
  const [path, query = ''] = h.split('?');
  let parts;
  try {
    parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    return { name: 'home' };
  }
  switch (parts[0]) {
    case 'login':
      return { name: 'login' };
    case 'queue':
      return { name: 'queue', app: parts[1] ?? null };
    case 'sessions':
      return { name: 'sessions', app: parts[1] ?? null, query };
    case 'session':
      return parts[2] ? { name: 'session', app: parts[1], id: parts[2] } : { name: 'sessions', app: parts[1] ?? null, query: '' };
    case 'usage':
      return { name: 'usage', app: parts[1] ?? null };
    case 'audit':
      return { name: 'audit', app: parts[1] ?? null };
    case 'settings':
      return { name: 'settings', app: parts[1] ?? null };
    case 'apps':
      return { name: 'apps', app: parts[1] ?? null };
    case 'account':
      return { name: 'account' };
    default:
      return { name: 'home' };
  }
}

const SCREENS = {
  login: renderLogin,
  setup: renderSetup,
  queue: renderQueue,
  sessions: renderSessions,
  session: renderSessionDetail,
  usage: renderUsage,
  audit: renderAudit,
  settings: renderSettings,
  apps: renderApps,
  account: renderAccount,
};

function hrefFor(name, app) {
  if (name === 'apps') return app ? `#/apps/${enc(app)}` : '#/apps';
  if (name === 'account') return '#/account';
  return `#/${name}/${enc(app)}`;
}

/** Goes to `hash`; `replace` leaves no history entry (the setup token must not stay in it). */
function navigate(hash, { replace = false } = {}) {
  if (replace) {
    history.replaceState(null, '', `${location.pathname}${location.search}${hash}`);
    route();
  } else if (location.hash === hash) {
    route();
  } else {
    location.hash = hash;
  }
}

function currentApp() {
  const apps = session.me?.applications ?? [];
  const remembered = localStorage.getItem(LAST_APP);
  return apps.find((a) => a.id === remembered)?.id ?? apps[0]?.id ?? null;
}

/** A redirect inside routing: a message announced just before still shows after it. */
function redirect(gen, hash) {
  if (keepMessageUntil >= gen) keepMessageUntil = gen + 1;
  navigate(hash, { replace: true });
}

async function route() {
  const gen = ++generation;
  const r = { ...parse(location.hash), hash: location.hash };
  keys = {};
  $('error-message').hidden = true;
  if (gen > keepMessageUntil) $('status-message').textContent = '';

  if (r.name === 'setup' || r.name === 'login') {
    if (r.name === 'login' && session.me) return redirect(gen, '#/');
    renderHeader(null);
    return show(gen, r);
  }
  if (!session.me) {
    try {
      await loadMe();
    } catch (error) {
      // A 401 has already sent the page to the sign-in screen.
      if (!(error instanceof ApiError && error.status === 401) && gen === generation) {
        renderHeader(null);
        fail(error);
      }
      return;
    }
    if (gen !== generation) return;
  }
  const apps = session.me.applications;
  if (r.name === 'home') {
    const app = currentApp();
    return redirect(gen, app ? hrefFor('queue', app) : '#/apps');
  }
  if (r.name !== 'account' && (r.name !== 'apps' || r.app)) {
    if (!apps.some((a) => a.id === r.app)) {
      const app = currentApp();
      return redirect(gen, app ? hrefFor(r.name === 'session' ? 'sessions' : r.name, app) : '#/apps');
    }
    localStorage.setItem(LAST_APP, r.app);
  }
  renderHeader(r);
  return show(gen, r);
}

async function show(gen, r) {
  const view = $('view');
  view.replaceChildren();
  view.setAttribute('aria-busy', 'true');
  document.title = 'facegate console';
  const ctx = {
    alive: () => gen === generation,
    announce,
    fail,
    setKeys: (map) => {
      if (gen === generation) keys = map;
    },
    currentApp,
    refreshHeader: () => renderHeader(parse(location.hash)),
    rerender: () => route(),
    signedIn,
    isFirstRender: () => firstRender,
  };
  try {
    await SCREENS[r.name](view, r, ctx);
  } catch (error) {
    if (gen === generation && !(error instanceof ApiError && error.status === 401)) fail(error);
  } finally {
    if (gen === generation) {
      view.removeAttribute('aria-busy');
      const h1 = view.querySelector('h1');
      if (h1) document.title = `${h1.textContent} · facegate console`;
      // Tell screen-reader users the page changed, unless the screen put the focus somewhere.
      const focus = document.activeElement;
      if (!firstRender && h1 && (!focus || focus === document.body || !focus.isConnected)) h1.focus();
      firstRender = false;
      // Which route the view shows, once it has loaded: what the browser tests wait for.
      document.body.dataset.rendered = r.hash;
    }
  }
}

// ---- messages ------------------------------------------------------------------------------

/** A success message in #status-message; `survive` keeps it through the navigation that the
 * action itself causes (created → the new application's page; set up → the queue). */
function announce(text, { survive = false } = {}) {
  keepMessageUntil = survive ? generation + 1 : generation;
  $('status-message').textContent = text;
}

function fail(error) {
  if (error instanceof ApiError && error.status === 401) return;
  const box = $('error-message');
  box.textContent = error instanceof Error ? error.message : String(error);
  box.hidden = false;
}

// ---- session -------------------------------------------------------------------------------

function signedIn({ replaceSetup = false } = {}) {
  const target = returnTo ?? '#/';
  returnTo = null;
  navigate(target, { replace: replaceSetup });
}

setUnauthorizedHandler(() => {
  const r = parse(location.hash);
  if (r.name !== 'login' && r.name !== 'setup') returnTo = location.hash || null;
  session.me = null;
  renderHeader(null);
  navigate('#/login');
});

async function signOut() {
  try {
    await post('/logout/', {});
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    return fail(error);
  }
  session.me = null;
  returnTo = null;
  announce('Signed out.', { survive: true });
  navigate('#/login');
}

// ---- header --------------------------------------------------------------------------------

function renderHeader(r) {
  const me = session.me;
  const signedInNow = Boolean(me && r);
  $('nav').hidden = !signedInNow;
  $('account').hidden = !signedInNow;
  if (!signedInNow) return;
  const app = r.app ?? currentApp();
  const links = [
    ['queue', 'Review queue'],
    ['sessions', 'Sessions'],
    ['usage', 'Usage'],
    ['audit', 'Audit log'],
    ['settings', 'Settings'],
    ['apps', 'Applications'],
  ];
  const active = r.name === 'session' ? 'sessions' : r.name;
  $('nav-list').replaceChildren(
    ...links
      .filter(([name]) => name === 'apps' || app)
      .map(([name, text]) => el('li', {}, el('a', { href: hrefFor(name, app), id: `nav-${name}`, 'aria-current': name === active ? 'page' : null }, text))),
  );
  $('operator-name').textContent = me.operator.name || me.operator.email;
  $('operator-name').title = me.operator.email;
  if (r.name === 'account') $('account-link').setAttribute('aria-current', 'page');
  else $('account-link').removeAttribute('aria-current');
  $('sign-out').title = `Signed in as ${me.operator.name || me.operator.email} (${me.operator.email})`;

  const switcher = $('app-switch');
  const apps = me.applications;
  if (apps.length > 1) {
    const select = el('select', { id: 'app-switcher' }, apps.map((a) => el('option', { value: a.id }, a.name)));
    select.value = app ?? '';
    select.addEventListener('change', () => {
      const next = select.value;
      localStorage.setItem(LAST_APP, next);
      // Same kind of screen on the other application; a session page has no counterpart.
      const kind = r.name === 'session' ? 'sessions' : r.name;
      navigate(hrefFor(kind === 'home' ? 'queue' : kind, next));
    });
    switcher.replaceChildren(el('label', { for: 'app-switcher' }, 'Application'), select);
  } else if (apps.length === 1) {
    switcher.replaceChildren(el('span', { class: 'app-single' }, apps[0].name));
  } else {
    switcher.replaceChildren();
  }
}

// ---- keyboard ------------------------------------------------------------------------------

function typing(target) {
  return target instanceof Element && Boolean(target.closest('input, textarea, select, [contenteditable]:not([contenteditable="false"])'));
}

document.addEventListener('keydown', (e) => {
  if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || e.isComposing) return;
  if (typing(e.target) || document.querySelector('dialog[open]')) return;
  if (e.key === '?' && session.me) {
    e.preventDefault();
    $('shortcuts').showModal();
    return;
  }
  const action = keys[e.key];
  if (action) {
    e.preventDefault();
    action();
  }
});

$('shortcuts-close').addEventListener('click', () => $('shortcuts').close());
$('sign-out').addEventListener('click', signOut);
// The skip link must not change the hash: the hash is the route.
$('skip').addEventListener('click', (e) => {
  e.preventDefault();
  $('main').focus();
});

/**
 * The hosted page sends the browser back to /console/?second_factor=… (its own query
 * parameters added). The query goes at once — a reload must not repeat the step — and the
 * server, not the query's `status`, says how the selfie went.
 */
async function returnFromSelfie() {
  const step = new URLSearchParams(location.search).get('second_factor');
  if (!step) return;
  history.replaceState(null, '', `${location.pathname}${step === 'enrol' ? '#/account' : location.hash}`);
  if (step === 'signin') {
    if (await finishSelfieSignIn()) announce(`Welcome back, ${session.me.operator.name || session.me.operator.email}.`, { survive: true });
    else history.replaceState(null, '', `${location.pathname}#/login`);
  } else if (step === 'enrol') {
    try {
      await loadMe();
    } catch {
      return; // signed out meanwhile: the sign-in screen follows
    }
    await confirmEnrolment(announce);
  }
}

window.addEventListener('hashchange', route);
returnFromSelfie().finally(route);
