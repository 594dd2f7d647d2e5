// The demo page. It renders what the demo server knows; it never decides "signed in" itself.
// Sign-up and redirect sign-in are plain form posts (they work without this script); the
// pop-up sign-in needs the web SDK.
const $ = (id) => document.getElementById(id);
const time = (ms) => new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
let current = { signedIn: null, notice: null, timeline: [], webhooks: [], enrolled: [], lastUsername: '' };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v;
    else node.setAttribute(k, v);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function renderAccount(state) {
  const user = state.signedIn;
  $('who').textContent = user ? `Signed in as ${user.username}` : 'Not signed in';
  $('account').hidden = !user;
  if (!user) return;
  $('account-name').textContent = user.username;
  const channel = user.channel === 'sdk' ? 'the pop-up (web SDK)' : 'a redirect to facegate';
  $('account-how').textContent = `With a selfie at ${time(user.at)}, through ${channel}. Confirmed by ${user.via}.`;
}

function renderNotice(notice) {
  $('notice').hidden = !notice;
  if (!notice) return;
  $('notice').className = `notice ${notice.kind}`;
  $('notice').textContent = notice.text;
}

function renderTimeline(items) {
  $('timeline-empty').hidden = items.length > 0;
  $('timeline').replaceChildren(...items.map((i) => el('li', { class: i.kind }, el('time', {}, time(i.at)), ' ', i.text)));
}

function webhookItem(w) {
  const badge = w.verified ? el('span', { class: 'badge ok' }, 'signature verified ✓') : el('span', { class: 'badge bad' }, `rejected ✗ (${w.detail})`);
  return el(
    'li',
    { class: w.verified ? 'ok' : 'bad', 'data-session-id': w.sessionId, 'data-status': w.status, 'data-verified': String(w.verified) },
    el('div', { class: 'hook-head' }, el('strong', {}, w.event), ' ', el('span', { class: `status s-${w.status.replace(/\s+/g, '-')}` }, w.verified ? w.status : `claims ${w.status}`)),
    badge,
    el('div', { class: 'muted small' }, `${w.flow}: session ${w.sessionId.slice(0, 8)}… at ${time(w.at)}`, w.verified ? ` (${w.detail})` : null),
  );
}

function render(state) {
  current = state;
  renderAccount(state);
  renderNotice(state.notice);
  renderTimeline(state.timeline);
  $('webhooks-empty').hidden = state.webhooks.length > 0;
  $('webhooks').replaceChildren(...state.webhooks.map(webhookItem));
  // Prefill the sign-in name once, never over what the user is typing.
  if (!$('signin-username').value && document.activeElement !== $('signin-username')) $('signin-username').value = state.lastUsername;
  document.body.dataset.signedIn = state.signedIn?.username ?? '';
  document.body.dataset.enrolled = state.enrolled.join(' ');
}

async function refresh() {
  const res = await fetch('/api/state', { cache: 'no-store' });
  if (res.ok) render(await res.json());
}

async function post(path, body) {
  const res = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { ok: res.ok, body: await res.json() };
}

function busy(on) {
  for (const b of document.querySelectorAll('button')) b.disabled = on;
}

/** The pop-up sign-in: the server creates the session, the SDK shows facegate's page in an iframe. */
async function signInWithSdk(username) {
  busy(true);
  const started = await post('/api/signin', { username });
  if (!started.ok) {
    busy(false);
    await refresh();
    $('notice').focus();
    return;
  }
  await refresh();
  const sdk = window.DiditSDK.DiditSdk.shared;
  sdk.onComplete = async (result) => {
    // Only a hint: the server confirms with facegate before anything changes.
    const { body } = await post('/api/confirm', { session_id: started.body.session_id, status: result.session?.status ?? result.type });
    busy(false);
    render(body);
    $('notice').focus();
  };
  sdk.startVerification({ url: started.body.url, configuration: { closeModalOnComplete: true } });
}

$('signin').addEventListener('submit', (event) => {
  if (event.submitter?.value !== 'sdk') return; // the redirect: an ordinary form post
  event.preventDefault();
  if (!window.DiditSDK) {
    render({ ...current, notice: { kind: 'bad', text: 'The web SDK did not load; use "Sign in: go to facegate".' } });
    return;
  }
  signInWithSdk($('signin-username').value.trim()).catch((e) => {
    busy(false);
    render({ ...current, notice: { kind: 'bad', text: `Something went wrong: ${e.message}` } });
  });
});

// Webhooks arrive whenever facegate sends them: keep the page current while it is visible.
setInterval(() => document.visibilityState === 'visible' && refresh().catch(() => {}), 1500);
refresh().then(() => {
  // Back from facegate: move focus to the outcome so that it is read out.
  if (location.hash === '#result') {
    history.replaceState(null, '', '/');
    $('notice').focus();
  }
});
