// The audit log: who changed what in an application, newest first (the server keeps the last
// 200 here): reviews and status changes of sessions, deleted users, keys, destinations, roles
// and settings. Filtered by activity in the page.
import { get, paths } from './api.js';
import { el, fmtTime, statusBadge } from './dom.js';

const enc = encodeURIComponent;

/** Activity types in plain words; an unknown one is spelled out from its name. */
const ACTIVITIES = {
  STATUS_UPDATED: 'Status changed',
  USER_STATUS_UPDATED: 'User status changed',
  USER_DELETED: 'User deleted',
  APPLICATION_CREATED: 'Application created',
  API_KEY_CREATED: 'API key created',
  API_KEY_REVOKED: 'API key revoked',
  OPERATOR_ROLE_GRANTED: 'Role granted',
  OPERATOR_ROLE_CHANGED: 'Role changed',
  OPERATOR_ROLE_REMOVED: 'Role removed',
  WEBHOOK_DESTINATION_CREATED: 'Webhook destination added',
  SETTINGS_CHANGED: 'Settings changed',
};

export function activityText(type) {
  if (ACTIVITIES[type]) return ACTIVITIES[type];
  const words = String(type ?? 'unknown').toLowerCase().replace(/_+/g, ' ').trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

const ACTORS = { CONSOLE_USER: 'console', API_KEY: 'API key' };
const actorKind = (type) => ACTORS[type] ?? String(type ?? '').toLowerCase().replace(/_+/g, ' ');

/** Types whose comment is a person's words; for the others it is the server's description. */
const STATUS_TYPES = new Set(['STATUS_UPDATED', 'USER_STATUS_UPDATED']);

/** Local date and time, each kept whole: on a narrow column the time goes under the date. */
function whenEl(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return el('time', {}, fmtTime(iso));
  return el(
    'time',
    { datetime: iso },
    el('span', { class: 'nowrap' }, d.toLocaleDateString(undefined, { dateStyle: 'medium' })),
    ' ',
    el('span', { class: 'nowrap' }, d.toLocaleTimeString(undefined, { timeStyle: 'medium' })),
  );
}

function whoCell(row) {
  const facts = [row.actor_email, actorKind(row.actor_type)].filter(Boolean).join(' · ');
  return el('td', { class: 'audit-who' }, el('span', { class: 'audit-actor' }, row.actor_display || 'Unknown'), facts ? el('span', { class: 'audit-actor-facts' }, facts) : null);
}

function statusChange(prev, next) {
  if (!prev && !next) return null;
  return el(
    'p',
    { class: 'audit-status' },
    prev ? statusBadge(prev) : null,
    prev && next ? el('span', { class: 'audit-arrow', 'aria-hidden': 'true' }, '→') : null,
    prev && next ? el('span', { class: 'visually-hidden' }, ' to ') : null,
    !prev && next ? el('span', { class: 'muted' }, 'set to ') : null,
    next ? statusBadge(next) : null,
  );
}

function detailsCell(app, row) {
  const cell = el('td', { class: 'audit-details' }, statusChange(row.previous_status, row.new_status));
  if (row.comment) {
    cell.append(
      STATUS_TYPES.has(row.activity_type)
        ? el('p', { class: 'audit-comment' }, el('span', { class: 'muted' }, 'Comment: '), row.comment)
        : el('p', { class: 'audit-detail wrap-anywhere' }, row.comment),
    );
  }
  const ref = [];
  if (row.session_id) {
    ref.push(el('a', { href: `#/session/${enc(app)}/${enc(row.session_id)}`, class: 'audit-session' }, `Session ${row.session_id.slice(0, 8)}`));
  }
  if (row.vendor_data) {
    if (ref.length) ref.push(' · ');
    ref.push(el('span', { class: 'muted' }, 'vendor data '), el('span', { class: 'mono' }, row.vendor_data));
  }
  if (ref.length) cell.append(el('p', { class: 'audit-ref wrap-anywhere' }, ref));
  if (!cell.childNodes.length) cell.append(el('span', { class: 'muted' }, '—'));
  return cell;
}

export async function renderAudit(main, { app }, ctx) {
  const summary = el('p', { id: 'audit-summary', class: 'muted', 'aria-live': 'polite' }, 'Loading…');
  const filter = el('select', { id: 'audit-filter', name: 'activity' });
  const tbody = el('tbody');
  const table = el(
    'table',
    { id: 'audit-table', class: 'table' },
    el('caption', { class: 'visually-hidden' }, 'Audit log, newest first; times in your time zone'),
    el('thead', {}, el('tr', {}, ['When', 'Who', 'What', 'Details'].map((t) => el('th', { scope: 'col' }, t)))),
    tbody,
  );
  const wrap = el('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': 'Audit log table' }, table);
  main.append(
    el('div', { class: 'page-head' }, el('div', {}, el('h1', { tabindex: '-1' }, 'Audit log'), el('p', { class: 'muted' }, 'Every change made by an operator or an API key, newest first. Times are in your time zone.'))),
    el(
      'div',
      { class: 'panel' },
      el('div', { class: 'filters' }, el('div', { class: 'field' }, el('label', { for: 'audit-filter' }, 'Activity'), filter)),
      summary,
      wrap,
    ),
  );

  const data = await get(paths.audit(app));
  if (!ctx.alive()) return;
  // Newest first, as the server sends them; the sort is stable, so equal times keep its order.
  const rows = [...(data.results ?? [])].sort((a, b) => (Date.parse(b.created_at) || 0) - (Date.parse(a.created_at) || 0));

  const types = [...new Set(rows.map((r) => r.activity_type))].sort((a, b) => activityText(a).localeCompare(activityText(b)));
  filter.replaceChildren(
    el('option', { value: '' }, `All activities (${rows.length})`),
    ...types.map((t) => el('option', { value: t }, `${activityText(t)} (${rows.filter((r) => r.activity_type === t).length})`)),
  );
  filter.disabled = !rows.length;

  const capped = rows.length >= 200 ? ' (the latest 200)' : '';
  const describe = () => {
    const shown = filter.value ? rows.filter((r) => r.activity_type === filter.value).length : rows.length;
    summary.textContent = filter.value
      ? `${shown} of ${rows.length} entries: ${activityText(filter.value)}.`
      : `${rows.length} ${rows.length === 1 ? 'entry' : 'entries'}${capped}, newest first.`;
  };

  if (!rows.length) tbody.append(el('tr', {}, el('td', { colspan: 4, class: 'empty' }, 'Nothing recorded yet.')));
  for (const r of rows) {
    tbody.append(
      el(
        'tr',
        { 'data-audit-id': r.uuid, 'data-activity': r.activity_type, 'data-created-at': r.created_at },
        el('td', { class: 'audit-when' }, r.created_at ? whenEl(r.created_at) : ''),
        whoCell(r),
        el('td', {}, el('span', { class: 'audit-activity' }, activityText(r.activity_type))),
        detailsCell(app, r),
      ),
    );
  }
  filter.addEventListener('change', () => {
    for (const tr of tbody.querySelectorAll('tr[data-activity]')) tr.hidden = Boolean(filter.value) && tr.dataset.activity !== filter.value;
    describe();
  });
  describe();
}
