// Applications: creating them (platform admins), and per application its API keys, webhook
// destinations and operators. Secrets (keys, signing secrets, setup links) come back once and
// are shown once: the server keeps only hashes of keys and cannot show them again.
import { ApiError, can, del, get, loadMe, paths, post, roleOn, session } from './api.js';
import { clearFieldErrors, confirmDialog, el, field, revealBox, showFieldErrors, timeEl } from './dom.js';
import { teamSection } from './team.js';
import { workflowsSection } from './workflows.js';

const enc = encodeURIComponent;
const ROLE_NAMES = { admin: 'Admin', reviewer: 'Reviewer', read_only: 'Read only' };

/** A secret from the last create, shown by the next render of that application's page. */
let pendingReveal = null;

/** A form's submit with its button disabled meanwhile, field errors under their fields and
 * any other error in the form's alert. */
function handleSubmit(form, controls, alert, ctx, action) {
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearFieldErrors(form);
    alert.hidden = true;
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      await action();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return;
      const rest = error instanceof ApiError && error.fieldErrors ? showFieldErrors(form, error.fieldErrors, controls) : [error.message];
      if (rest.length) {
        alert.textContent = rest.join(' ');
        alert.hidden = false;
      }
    } finally {
      button.disabled = false;
    }
  });
}

const formAlert = (id) => el('p', { id, class: 'form-error', role: 'alert', hidden: true });

function createApplicationSection(ctx) {
  const name = el('input', { id: 'app-name', name: 'name', required: true, maxlength: 200, autocomplete: 'off' });
  const alert = formAlert('app-error');
  const form = el('form', { class: 'inline-form', novalidate: true }, field('Name', name), el('button', { type: 'submit', id: 'app-create' }, 'Create application'), alert);
  handleSubmit(form, { name }, alert, ctx, async () => {
    if (!name.value.trim()) {
      showFieldErrors(form, { name: ['Give the application a name.'] }, { name });
      return;
    }
    const made = await post(paths.applications(), { name: name.value.trim() });
    await loadMe();
    ctx.refreshHeader();
    pendingReveal = {
      app: made.id,
      title: `API key of ${made.name}`,
      id: 'app-key',
      value: made.api_key,
      warning: `Shown once. Copy it now into the integration's configuration (key id ${made.key_id}); facegate keeps only its hash and cannot show it again.`,
    };
    ctx.announce(`Application ${made.name} created.`, { survive: true });
    location.hash = `#/apps/${enc(made.id)}`;
  });
  return el('section', { class: 'panel', 'aria-labelledby': 'new-app-title' }, el('h2', { id: 'new-app-title' }, 'New application'), form);
}

function applicationsTable(selected) {
  const rows = session.me.applications.map((a) =>
    el(
      'tr',
      { 'data-app-id': a.id, 'aria-current': a.id === selected ? 'true' : null },
      el('th', { scope: 'row' }, el('a', { href: `#/apps/${enc(a.id)}` }, a.name)),
      el('td', {}, ROLE_NAMES[roleOn(a.id)] ?? roleOn(a.id)),
      el('td', { class: 'mono wrap-anywhere' }, a.id),
    ),
  );
  return el(
    'div',
    { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': 'Applications table' },
    el(
      'table',
      { class: 'table', id: 'apps-table' },
      el('caption', { class: 'visually-hidden' }, 'Your applications'),
      el('thead', {}, el('tr', {}, ['Application', 'Your role', 'Id'].map((t) => el('th', { scope: 'col' }, t)))),
      el('tbody', {}, rows),
    ),
  );
}

async function keysSection(app, ctx) {
  const tbody = el('tbody');
  const reveal = el('div', { id: 'key-reveal' });
  const create = el('button', { type: 'button', id: 'key-create' }, 'Create API key');
  const table = el(
    'table',
    { class: 'table', id: 'keys-table' },
    el('caption', { class: 'visually-hidden' }, 'API keys'),
    el('thead', {}, el('tr', {}, ['Key id', 'Created', 'Status', 'Action'].map((t) => el('th', { scope: 'col' }, t)))),
    tbody,
  );

  async function fill() {
    const { results = [] } = await get(paths.keys(app));
    tbody.replaceChildren(
      ...results.map((k) => {
        const revoke = k.revoked_at
          ? el('span', { class: 'muted' }, '—')
          : el('button', { type: 'button', class: 'secondary small danger-outline revoke-key', 'data-key-id': k.key_id, 'aria-label': `Revoke key ${k.key_id}` }, 'Revoke');
        if (!k.revoked_at) {
          revoke.addEventListener('click', async () => {
            const sure = await confirmDialog({
              title: 'Revoke this API key?',
              body: `Key ${k.key_id} stops working at once: every call made with it gets 401. This cannot be undone.`,
              confirm: 'Revoke key',
              danger: true,
            });
            if (!sure) return revoke.focus();
            try {
              await del(paths.key(app, k.key_id));
              ctx.announce(`Key ${k.key_id} revoked.`);
              await fill();
              create.focus();
            } catch (error) {
              ctx.fail(error);
            }
          });
        }
        return el(
          'tr',
          { 'data-key-id': k.key_id },
          el('td', { class: 'mono wrap-anywhere' }, k.key_id),
          el('td', {}, k.created_at !== null && k.created_at !== undefined ? timeEl(k.created_at) : ''),
          el('td', {}, k.revoked_at ? el('span', {}, 'Revoked ', timeEl(k.revoked_at)) : el('span', { class: 'badge status-approved' }, 'Active')),
          el('td', {}, revoke),
        );
      }),
    );
    if (!results.length) tbody.append(el('tr', {}, el('td', { colspan: 4, class: 'empty' }, 'No keys.')));
  }

  create.addEventListener('click', async () => {
    create.disabled = true;
    try {
      const made = await post(paths.keys(app), {});
      reveal.replaceChildren(
        revealBox({
          title: 'New API key',
          id: 'revealed-key',
          value: made.api_key,
          warning: `Shown once. Copy it now (key id ${made.key_id}); facegate keeps only its hash and cannot show it again.`,
        }),
      );
      ctx.announce('API key created. Copy it now: it is shown once.');
      await fill();
      reveal.querySelector('input').focus();
    } catch (error) {
      ctx.fail(error);
    } finally {
      create.disabled = false;
    }
  });

  await fill();
  return el(
    'section',
    { class: 'subsection', 'aria-labelledby': 'keys-title' },
    el('div', { class: 'sub-head' }, el('h3', { id: 'keys-title' }, 'API keys'), create),
    el('p', { class: 'hint' }, 'Integrations send a key as x-api-key to /v3. Revoke a key when it leaks or its integration is retired.'),
    reveal,
    el('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': 'API keys table' }, table),
  );
}

async function destinationsSection(app, ctx) {
  const tbody = el('tbody');
  const admin = can.manage(app);

  async function fill() {
    const { results = [] } = await get(paths.destinations(app));
    tbody.replaceChildren(
      ...results.map((d) =>
        el(
          'tr',
          { 'data-destination-id': d.uuid },
          el('td', {}, d.label || el('span', { class: 'muted' }, 'no label')),
          el('td', { class: 'mono wrap-anywhere' }, d.url),
          el('td', {}, (d.subscribed_events ?? []).length ? d.subscribed_events.join(', ') : 'all events'),
          el('td', {}, d.enabled === false ? 'Disabled' : 'Enabled'),
        ),
      ),
    );
    if (!results.length) tbody.append(el('tr', {}, el('td', { colspan: 4, class: 'empty' }, 'No destinations: no webhooks are sent.')));
  }

  let form = null;
  if (admin) {
    const url = el('input', { id: 'dest-url', name: 'url', type: 'url', required: true, placeholder: 'https://example.com/webhooks/facegate', autocomplete: 'off' });
    const label = el('input', { id: 'dest-label', name: 'label', maxlength: 200, autocomplete: 'off' });
    const alert = formAlert('dest-error');
    const reveal = el('div', { id: 'dest-reveal' });
    form = el(
      'form',
      { class: 'inline-form', novalidate: true },
      field('URL', url, 'HTTPS. Receives status.updated, signed with the secret shown after you add it.'),
      field('Label', label),
      el('button', { type: 'submit', id: 'dest-create' }, 'Add destination'),
      alert,
      reveal,
    );
    handleSubmit(form, { url, label }, alert, ctx, async () => {
      if (!url.value.trim()) {
        showFieldErrors(form, { url: ['Enter the URL that receives the webhooks.'] }, { url });
        return;
      }
      const made = await post(paths.destinations(app), { url: url.value.trim(), label: label.value.trim(), subscribed_events: ['status.updated'] });
      url.value = '';
      label.value = '';
      reveal.replaceChildren(
        made.secret_shared_key
          ? revealBox({
              title: 'Signing secret of the new destination',
              id: 'destination-secret',
              value: made.secret_shared_key,
              warning: 'Shown once. The receiver checks X-Signature with it; copy it into the receiver now.',
            })
          : el('p', {}, 'Destination added.'),
      );
      ctx.announce('Webhook destination added.');
      await fill();
    });
  }

  await fill();
  return el(
    'section',
    { class: 'subsection', 'aria-labelledby': 'dest-title' },
    el('h3', { id: 'dest-title' }, 'Webhook destinations'),
    el(
      'div',
      { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': 'Webhook destinations table' },
      el(
        'table',
        { class: 'table', id: 'destinations-table' },
        el('caption', { class: 'visually-hidden' }, 'Webhook destinations'),
        el('thead', {}, el('tr', {}, ['Label', 'URL', 'Events', 'State'].map((t) => el('th', { scope: 'col' }, t)))),
        tbody,
      ),
    ),
    form,
  );
}

function inviteSection(app, ctx, onInvited) {
  const email = el('input', { id: 'invite-email', name: 'email', type: 'email', required: true, autocomplete: 'off', spellcheck: 'false' });
  const name = el('input', { id: 'invite-name', name: 'name', required: true, maxlength: 200, autocomplete: 'off' });
  const role = el(
    'select',
    { id: 'invite-role', name: 'role' },
    el('option', { value: 'reviewer' }, 'Reviewer: reads and decides reviews, resends webhooks'),
    el('option', { value: 'read_only' }, 'Read only: reads sessions and evidence'),
    el('option', { value: 'admin' }, 'Admin: also keys, destinations and operators'),
  );
  const alert = formAlert('invite-error');
  const result = el('div', { id: 'invite-result' });
  const form = el(
    'form',
    { class: 'inline-form', novalidate: true },
    field('Email', email),
    field('Name', name),
    field('Role', role),
    el('button', { type: 'submit', id: 'invite-submit' }, 'Invite'),
    alert,
    result,
  );
  handleSubmit(form, { email, name, role }, alert, ctx, async () => {
    const missing = {};
    if (!email.value.trim()) missing.email = ['Enter their email address.'];
    if (!name.value.trim()) missing.name = ['Enter their name.'];
    if (Object.keys(missing).length) {
      showFieldErrors(form, missing, { email, name });
      return;
    }
    const made = await post(paths.operators(), { email: email.value.trim(), name: name.value.trim(), application_id: app, role: role.value });
    const who = made.operator?.email ?? email.value.trim();
    result.replaceChildren(
      revealBox({
        title: `Setup link for ${who}`,
        id: 'invite-link',
        value: new URL(made.setup_url, location.origin).href,
        warning: 'Shown once. Give it to them over a channel you trust: it sets their password, works once and expires in 72 hours.',
      }),
    );
    email.value = '';
    name.value = '';
    ctx.announce(`Invitation for ${who} created. Copy the setup link now.`);
    await onInvited?.();
  });
  return el('section', { class: 'subsection', 'aria-labelledby': 'invite-title' }, el('h3', { id: 'invite-title' }, 'Invite an operator'), form);
}

export async function renderApps(main, { app }, ctx) {
  const apps = session.me.applications;
  const selected = app ?? ctx.currentApp();
  main.append(el('div', { class: 'page-head' }, el('h1', { tabindex: '-1' }, 'Applications')));
  if (can.createApplications()) main.append(createApplicationSection(ctx));
  if (!apps.length) {
    main.append(el('p', { class: 'panel empty' }, 'You have no role in any application yet. Ask an administrator for an invitation.'));
    return;
  }
  main.append(el('section', { class: 'panel', 'aria-labelledby': 'apps-title' }, el('h2', { id: 'apps-title' }, 'Your applications'), applicationsTable(selected)));

  const current = apps.find((a) => a.id === selected);
  if (!current) return;
  const role = roleOn(current.id);
  const section = el(
    'section',
    { class: 'panel', id: 'app-detail', 'aria-labelledby': 'app-title', 'data-app-id': current.id },
    el('h2', { id: 'app-title' }, current.name),
    el('p', { class: 'muted' }, `Your role: ${ROLE_NAMES[role] ?? role}.`),
  );
  if (pendingReveal?.app === current.id) {
    section.append(revealBox(pendingReveal));
    pendingReveal = null;
  }
  const admin = can.manage(current.id);
  if (admin) section.append(await keysSection(current.id, ctx));
  else section.append(el('p', { class: 'note' }, 'API keys and operators of this application are managed by its admins.'));
  section.append(await workflowsSection(current.id, ctx));
  section.append(await destinationsSection(current.id, ctx));
  if (admin) {
    const team = await teamSection(current.id, ctx);
    section.append(team.element, inviteSection(current.id, ctx, team.refresh));
  }
  if (!ctx.alive()) return;
  main.append(section);
}
