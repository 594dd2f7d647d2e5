// The operators of one application with their roles (admins only): change someone's role or
// remove it. The server keeps the application's last admin one (a 409 says so) and records
// each change in the audit log.
import { ApiError, del, get, loadMe, patch, paths, session } from './api.js';
import { confirmDialog, el } from './dom.js';

export const ROLE_NAMES = { admin: 'Admin', reviewer: 'Reviewer', read_only: 'Read only' };

/** The section and `refresh()`, which an invitation calls so the newcomer is listed. */
export async function teamSection(app, ctx) {
  const tbody = el('tbody');
  const table = el(
    'table',
    { class: 'table', id: 'team-table' },
    el('caption', { class: 'visually-hidden' }, 'Operators of this application'),
    el('thead', {}, el('tr', {}, ['Name', 'Email', 'Role', 'Actions'].map((t) => el('th', { scope: 'col' }, t)))),
    tbody,
  );
  const me = () => session.me?.operator.id;

  /** After a change to one's own role the page must follow (fewer rights, or none here). */
  async function afterOwnChange() {
    await loadMe();
    ctx.rerender();
  }

  function row(op) {
    const who = op.name || op.email;
    const select = el(
      'select',
      { class: 'team-role', id: `team-role-${op.id}`, 'data-operator-id': op.id },
      Object.entries(ROLE_NAMES).map(([value, text]) => el('option', { value }, text)),
    );
    select.value = op.role;
    const label = el('label', { for: select.id, class: 'visually-hidden' }, `Role of ${who}`);
    const change = el('button', { type: 'button', class: 'secondary small team-save', 'data-operator-id': op.id, 'aria-label': `Save role of ${who}` }, 'Save role');
    const remove = el('button', { type: 'button', class: 'secondary small danger-outline team-remove', 'data-operator-id': op.id, 'aria-label': `Remove ${who} from this application` }, 'Remove');

    change.addEventListener('click', async () => {
      if (select.value === op.role) return ctx.announce(`${who} is already ${ROLE_NAMES[op.role]}.`);
      change.disabled = true;
      try {
        await patch(paths.member(app, op.id), { role: select.value });
        ctx.announce(`${who} is now ${ROLE_NAMES[select.value]}.`);
        if (op.id === me()) return afterOwnChange();
        await fill();
        tbody.querySelector(`.team-save[data-operator-id="${CSS.escape(op.id)}"]`)?.focus();
      } catch (error) {
        select.value = op.role;
        if (!(error instanceof ApiError && error.status === 401)) ctx.fail(error);
      } finally {
        change.disabled = false;
      }
    });

    remove.addEventListener('click', async () => {
      const sure = await confirmDialog({
        title: `Remove ${who}?`,
        body: `${who} (${op.email}) loses their ${ROLE_NAMES[op.role]} role in this application at once: the console stops showing it to them. Invite them again to give a role back.`,
        confirm: 'Remove',
        danger: true,
      });
      if (!sure) return remove.focus();
      remove.disabled = true;
      try {
        await del(paths.member(app, op.id));
        ctx.announce(`${who} no longer has a role in this application.`);
        if (op.id === me()) return afterOwnChange();
        await fill();
        tbody.closest('section')?.querySelector('h3')?.focus();
      } catch (error) {
        remove.disabled = false;
        if (!(error instanceof ApiError && error.status === 401)) ctx.fail(error);
      }
    });

    return el(
      'tr',
      { 'data-operator-id': op.id },
      el('td', {}, op.name || el('span', { class: 'muted' }, 'no name'), op.id === me() ? el('span', { class: 'muted' }, ' (you)') : null, op.pending ? el('span', { class: 'badge status-not-started team-pending' }, 'invited') : null),
      el('td', { class: 'wrap-anywhere' }, op.email),
      el('td', {}, label, select),
      el('td', { class: 'team-actions' }, change, remove),
    );
  }

  async function fill() {
    const { results = [] } = await get(paths.team(app));
    tbody.replaceChildren(...results.map(row));
    if (!results.length) tbody.append(el('tr', {}, el('td', { colspan: 4, class: 'empty' }, 'Nobody has a role here yet but platform admins.')));
  }

  await fill();
  const element = el(
    'section',
    { class: 'subsection', 'aria-labelledby': 'team-title' },
    el('h3', { id: 'team-title', tabindex: '-1' }, 'Operators'),
    el('p', { class: 'hint' }, 'Everyone with a role in this application. An application keeps at least one admin: make someone else admin before stepping down. Platform admins are admins everywhere and are not listed.'),
    el('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': 'Operators table' }, table),
  );
  return { element, refresh: () => fill().catch((e) => ctx.fail(e)) };
}
