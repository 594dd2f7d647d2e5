// The review queue: In Review sessions oldest first, the list on the left and the selected
// session's evidence with the decision on the right (stacked on phones). Built for working
// through a queue from the keyboard: j/k move, m assigns to me (or gives back), a/d decide,
// c comments.
import { can, get, paths } from './api.js';
import { age, el, fmtScore, statusBadge, timeEl } from './dom.js';
import { createAssignControl, holderText } from './assign.js';
import { createDecidePanel } from './decide.js';
import { renderEvidence, sessionName } from './evidence.js';

const narrow = window.matchMedia('(max-width: 59.99rem)');

export async function renderQueue(main, { app }, ctx) {
  let items = [];
  let selected = -1;
  // Decided here: kept out of a refresh that was already on its way when the decision landed.
  const decidedIds = new Set();

  const count = el('p', { id: 'queue-count', class: 'muted' }, 'Loading…');
  const refresh = el('button', { type: 'button', id: 'queue-refresh', class: 'secondary' }, 'Refresh');
  const list = el('ul', { id: 'queue-list', class: 'queue-list' });
  const empty = el('p', { id: 'queue-empty', class: 'empty', hidden: true }, 'Nothing to review. Sessions that land In Review appear here, oldest first.');
  const evidenceTitle = el('h2', { id: 'evidence-title' }, 'Evidence');
  const evidenceMeta = el('p', { class: 'evidence-meta' });
  const evidenceBody = el('div', { id: 'evidence-body' });
  const decidable = can.decide(app);
  const panel = decidable
    ? createDecidePanel(app, { onDecided: decided, onError: (e) => ctx.fail(e), headingLevel: 3 })
    : null;
  const readOnly = decidable ? null : el('p', { class: 'note' }, 'You have read-only access to this application: you can look at the evidence but not decide.');
  // Taking a session is a reviewer's; a read-only operator still sees who holds it.
  const assign = createAssignControl(app, {
    onChange: assigned,
    onError: (e) => ctx.fail(e),
    onConflict: () => load().catch((e) => ctx.fail(e)),
  });
  const evidence = el(
    'section',
    { id: 'evidence', class: 'panel evidence-panel', 'aria-labelledby': 'evidence-title', hidden: true },
    el('div', { class: 'evidence-head' }, evidenceTitle, evidenceMeta, assign.element),
    evidenceBody,
    panel?.element ?? readOnly,
  );

  main.append(
    el('div', { class: 'page-head' }, el('div', {}, el('h1', { tabindex: '-1' }, 'Review queue'), count), refresh),
    el(
      'div',
      { class: 'queue-layout' },
      el('section', { class: 'panel queue-panel', 'aria-labelledby': 'queue-list-title' }, el('h2', { id: 'queue-list-title', class: 'panel-title' }, 'Waiting'), list, empty),
      evidence,
    ),
  );

  function itemButton(item, index) {
    const match = item.face_match?.score;
    const button = el(
      'button',
      { type: 'button', class: 'queue-item', 'data-session-id': item.session_id },
      el('span', { class: 'queue-item-title' }, item.vendor_data || '(no vendor data)'),
      el('span', { class: 'queue-item-meta' }, `#${item.session_number ?? '?'} · waiting ${age(item.created_at)}`),
      item.assigned_to ? el('span', { class: 'queue-item-holder' }, holderText(item)) : null,
      match !== null && match !== undefined ? el('span', { class: 'queue-item-score' }, `Match ${fmtScore(match)}`) : null,
    );
    button.addEventListener('click', () => {
      select(index);
      // Stacked layout: the evidence is below the list, out of sight.
      if (narrow.matches) evidence.scrollIntoView({ block: 'start' });
    });
    return el('li', {}, button);
  }

  function renderList() {
    list.replaceChildren(...items.map(itemButton));
    const n = items.length;
    count.textContent = n === 1 ? '1 session waiting, oldest first' : `${n} sessions waiting, oldest first`;
    empty.hidden = n > 0;
  }

  function select(index) {
    if (!items.length) {
      selected = -1;
      evidence.hidden = true;
      panel?.setSession(null);
      return;
    }
    selected = Math.max(0, Math.min(index, items.length - 1));
    const item = items[selected];
    const buttons = list.querySelectorAll('.queue-item');
    buttons.forEach((b, i) => (i === selected ? b.setAttribute('aria-current', 'true') : b.removeAttribute('aria-current')));
    buttons[selected]?.scrollIntoView({ block: 'nearest' });
    evidence.hidden = false;
    evidenceTitle.textContent = sessionName(item);
    evidenceMeta.replaceChildren(
      statusBadge(item.status),
      ' created ',
      timeEl(item.created_at),
      ' · ',
      el('a', { href: `#/session/${encodeURIComponent(app)}/${encodeURIComponent(item.session_id)}` }, 'Session page'),
    );
    evidenceBody.replaceChildren(renderEvidence(item, { level: 3, idPrefix: 'queue-ev' }));
    panel?.setSession(item);
    assign.setSession(decidable || item.assigned_to ? item : null);
  }

  /** The server took or released the session: the list says who holds it now. */
  function assigned(item, what) {
    const index = items.findIndex((i) => i.session_id === item.session_id);
    if (index < 0) return;
    items[index] = { ...items[index], assigned_to: item.assigned_to };
    const button = list.querySelectorAll('.queue-item')[index];
    const hadFocus = button === document.activeElement;
    button?.parentElement.replaceWith(itemButton(items[index], index));
    if (index === selected) select(index);
    if (hadFocus) list.querySelectorAll('.queue-item')[index]?.focus();
    ctx.announce(what === 'take' ? `${sessionName(item)} is assigned to you.` : `${sessionName(item)} is no longer assigned.`);
  }

  function move(delta) {
    if (!items.length) return;
    const hadListFocus = list.contains(document.activeElement);
    select(selected + delta);
    // Follow with the focus only when it was in the list: a reviewer typing j from the page
    // keeps their place, one tabbing through the list sees the selection move.
    if (hadListFocus) list.querySelectorAll('.queue-item')[selected]?.focus();
  }

  function decided(item, newStatus) {
    decidedIds.add(item.session_id);
    const index = items.findIndex((i) => i.session_id === item.session_id);
    if (index >= 0) items.splice(index, 1);
    renderList();
    select(index >= 0 ? index : selected);
    const left = items.length === 0 ? 'The queue is empty.' : `${items.length} left in the queue.`;
    ctx.announce(`${newStatus === 'Approved' ? 'Approved' : 'Declined'} ${sessionName(item)}. ${left}`);
    if (!items.length) main.querySelector('h1')?.focus();
  }

  async function load() {
    refresh.disabled = true;
    try {
      const data = await get(paths.queue(app));
      if (!ctx.alive()) return;
      const keep = items[selected]?.session_id;
      const hadListFocus = list.contains(document.activeElement);
      items = (data.results ?? []).filter((i) => !decidedIds.has(i.session_id));
      renderList();
      const again = items.findIndex((i) => i.session_id === keep);
      select(again >= 0 ? again : 0);
      if (hadListFocus) list.querySelectorAll('.queue-item')[selected]?.focus();
    } finally {
      refresh.disabled = false;
    }
  }

  // New sessions land in review while the reviewer works: look again every 30 s, but not
  // while the tab is hidden or a decision is on its way.
  const timer = setInterval(() => {
    if (!ctx.alive()) return clearInterval(timer);
    if (document.visibilityState !== 'visible' || panel?.busy || assign.busy) return;
    load().catch((e) => ctx.fail(e));
  }, 30_000);

  refresh.addEventListener('click', () => load().then(() => ctx.announce('Queue refreshed.'), (e) => ctx.fail(e)));

  ctx.setKeys({
    j: () => move(1),
    k: () => move(-1),
    m: () => (decidable ? assign.toggle() : undefined),
    a: () => panel?.approve(),
    d: () => panel?.decline(),
    c: () => panel?.focusComment(),
  });

  await load();
}
