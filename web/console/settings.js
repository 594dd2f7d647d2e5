// An application's settings: its name, how long sessions are kept, whether images are kept for
// reviewers, which sites may frame the hosted page, how long a session stays open, and the
// price model usage is costed with. Admins change them; everyone else with a role reads them.
// The server validates: its 400 field errors are shown under their fields.
import { ApiError, can, get, loadMe, patch, paths } from './api.js';
import { clearFieldErrors, el, field, showFieldErrors } from './dom.js';

const number = (id, attrs = {}) => el('input', { id, type: 'number', inputmode: 'numeric', step: 1, autocomplete: 'off', ...attrs });

/** A number input's value for the API: '' is null, anything else a number (or, when it is not
 * one, the text itself, for the server to refuse with its own message). */
function numberOrNull(input) {
  const raw = input.value.trim();
  if (raw === '') return null;
  const n = Number(raw);
  return Number.isFinite(n) ? n : raw;
}

const originsOf = (text) =>
  text
    .split(/[\s,]+/)
    .map((o) => o.trim())
    .filter(Boolean);

export async function renderSettings(main, { app }, ctx) {
  const admin = can.manage(app);
  let saved = await get(paths.settings(app));
  if (!ctx.alive()) return;

  const name = el('input', { id: 'settings-name', name: 'name', maxlength: 200, autocomplete: 'off', required: true });
  const retention = number('settings-retention', { name: 'retention_days', min: 1, max: 3650 });
  const retain = el('input', { id: 'settings-retain-images', name: 'retain_images', type: 'checkbox', 'aria-describedby': 'settings-retain-images-hint settings-retain-images-error' });
  const origins = el('textarea', { id: 'settings-origins', name: 'allowed_origins', rows: 3, spellcheck: 'false', autocomplete: 'off', placeholder: 'https://shop.example' });
  const expiry = number('settings-expiry', { name: 'session_expiry_seconds', min: 60, max: 2_592_000 });
  const free = number('settings-free', { name: 'free_per_month', min: 0 });
  const price = number('settings-price', { name: 'unit_price_cents', min: 0 });
  const pricing = el(
    'fieldset',
    { id: 'settings-pricing', class: 'fieldset', 'aria-describedby': 'settings-pricing-error' },
    el('legend', {}, 'Price model'),
    el('p', { class: 'hint' }, 'What the Usage screen costs each month with: sessions free each month, then the price of each billable one.'),
    el('div', { class: 'field-row' }, field('Free sessions a month', free), field('Price of a session (cents)', price)),
    el('p', { class: 'field-error', id: 'settings-pricing-error', hidden: true }),
  );
  const retainBox = el(
    'div',
    { class: 'field check' },
    el('div', { class: 'check-row' }, retain, el('label', { for: retain.id }, 'Keep images for reviewers')),
    el(
      'p',
      { class: 'hint', id: 'settings-retain-images-hint' },
      'Off by default: camera frames are analysed and dropped. When on, the frame each session was decided on and the picture of the face it was compared with (the enrolment capture) are kept, encrypted, so reviewers can look at them side by side. They are kept for the retention period above, then erased with their session; set one when you turn this on.',
    ),
    el('p', { class: 'field-error', id: 'settings-retain-images-error', hidden: true }),
  );
  const alert = el('p', { id: 'settings-error', class: 'form-error', role: 'alert', hidden: true });
  const save = el('button', { type: 'submit', id: 'settings-save' }, 'Save settings');
  const fields = el(
    'fieldset',
    { class: 'plain', disabled: !admin },
    el('legend', { class: 'visually-hidden' }, 'Settings'),
    field('Name', name),
    field('Retention (days)', retention, 'Sessions, their decisions, webhooks and any kept images are deleted this many days after creation. Empty: kept until deleted through the API.'),
    retainBox,
    field('Sites that may frame the hosted page', origins, 'One origin a line, as https://host or https://host:port. Empty: any site may (Didit\'s default).'),
    field('Session lifetime (seconds)', expiry, 'How long a new session link stays usable: 60 to 2592000 (30 days). 1800 is 30 minutes.'),
    pricing,
  );
  const form = el('form', { id: 'settings-form', class: 'settings-form', novalidate: true }, fields, admin ? el('div', { class: 'actions' }, save) : null, alert);
  const controls = { name, retention_days: retention, retain_images: retain, allowed_origins: origins, session_expiry_seconds: expiry, pricing };

  function fill(s) {
    name.value = s.name ?? '';
    retention.value = s.retention_days ?? '';
    retain.checked = Boolean(s.retain_images);
    origins.value = (s.allowed_origins ?? []).join('\n');
    expiry.value = s.session_expiry_seconds ?? '';
    free.value = s.pricing?.free_per_month ?? '';
    price.value = s.pricing?.unit_price_cents ?? '';
  }

  /** Only what changed: the audit log then names exactly what this save changed. */
  function changes() {
    const body = {};
    if (name.value.trim() !== saved.name) body.name = name.value.trim();
    const days = numberOrNull(retention);
    if (days !== (saved.retention_days ?? null)) body.retention_days = days;
    if (retain.checked !== Boolean(saved.retain_images)) body.retain_images = retain.checked;
    const list = originsOf(origins.value);
    const next = list.length ? list : null;
    if (JSON.stringify(next) !== JSON.stringify(saved.allowed_origins ?? null)) body.allowed_origins = next;
    const seconds = numberOrNull(expiry);
    if (seconds !== saved.session_expiry_seconds) body.session_expiry_seconds = seconds;
    const p = { free_per_month: numberOrNull(free), unit_price_cents: numberOrNull(price) };
    if (p.free_per_month !== saved.pricing?.free_per_month || p.unit_price_cents !== saved.pricing?.unit_price_cents) body.pricing = p;
    return body;
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!admin) return;
    clearFieldErrors(form);
    alert.hidden = true;
    const body = changes();
    if (!Object.keys(body).length) {
      ctx.announce('Nothing changed.');
      return;
    }
    save.disabled = true;
    try {
      saved = await patch(paths.settings(app), body);
      fill(saved);
      if ('name' in body) {
        await loadMe();
        ctx.refreshHeader();
      }
      ctx.announce(`Settings saved: ${Object.keys(body).join(', ').replaceAll('_', ' ')}.`);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return;
      const rest = error instanceof ApiError && error.fieldErrors ? showFieldErrors(form, error.fieldErrors, controls) : [error.message];
      if (rest.length) {
        alert.textContent = rest.join(' ');
        alert.hidden = false;
      }
      // The first field the server refused, for keyboard and screen-reader users.
      const bad = form.querySelector('[aria-invalid="true"]');
      (bad?.matches('fieldset') ? bad.querySelector('input') : bad)?.focus();
    } finally {
      save.disabled = false;
    }
  });

  fill(saved);
  main.append(el('div', { class: 'page-head' }, el('div', {}, el('h1', { tabindex: '-1' }, 'Settings'), el('p', { class: 'muted' }, saved.name))));
  if (!admin) main.append(el('p', { class: 'note', id: 'settings-read-only' }, 'Only admins of this application change its settings; you can read them.'));
  main.append(el('section', { class: 'panel', 'aria-label': 'Application settings' }, form));
}
