// The session list (filter, search, pages) and one session's page: its evidence, the decision
// when it waits for one, and the timeline with the webhook deliveries.
import { ApiError, can, get, paths, post } from './api.js';
import { el, statusBadge, timeEl } from './dom.js';
import { createAssignControl } from './assign.js';
import { createDecidePanel } from './decide.js';
import { renderEvidence, sessionName } from './evidence.js';

export const STATUSES = ['Not Started', 'In Progress', 'Approved', 'Declined', 'In Review', 'Expired', 'Abandoned', 'Resubmitted', 'Kyc Expired', 'Awaiting User'];
// What the page passes on from its hash to the API: the filters and whatever paging the
// server's next/previous links carry.
const QUERY_KEYS = ['status', 'search', 'page', 'page_size', 'limit', 'offset'];

const enc = encodeURIComponent;
const sessionHref = (app, id) => `#/session/${enc(app)}/${enc(id)}`;

function cleanQuery(search) {
  const from = new URLSearchParams(search);
  const to = new URLSearchParams();
  for (const key of QUERY_KEYS) {
    const value = from.get(key);
    if (value) to.set(key, value);
  }
  return to;
}

export async function renderSessions(main, { app, query }, ctx) {
  const params = cleanQuery(query);
  const status = el('select', { id: 'sessions-status', name: 'status' }, el('option', { value: '' }, 'All statuses'), STATUSES.map((s) => el('option', { value: s }, s)));
  status.value = params.get('status') ?? '';
  const search = el('input', { id: 'sessions-search', name: 'search', type: 'search', maxlength: 200, autocomplete: 'off', spellcheck: 'false' });
  search.value = params.get('search') ?? '';
  const apply = el('button', { type: 'submit', id: 'sessions-apply' }, 'Apply');
  const form = el(
    'form',
    { class: 'filters', role: 'search', 'aria-label': 'Filter sessions' },
    el('div', { class: 'field' }, el('label', { for: 'sessions-status' }, 'Status'), status),
    el('div', { class: 'field grow' }, el('label', { for: 'sessions-search' }, 'Search vendor data'), search),
    apply,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const next = new URLSearchParams();
    if (status.value) next.set('status', status.value);
    if (search.value.trim()) next.set('search', search.value.trim());
    const qs = next.toString();
    location.hash = `#/sessions/${enc(app)}${qs ? `?${qs}` : ''}`;
  });
  // A status pick is a complete filter on its own: no need to press Apply.
  status.addEventListener('change', () => form.requestSubmit());

  const summary = el('p', { id: 'sessions-summary', class: 'muted', 'aria-live': 'polite' }, 'Loading…');
  const tbody = el('tbody');
  const table = el(
    'table',
    { id: 'sessions-table', class: 'table' },
    el('caption', { class: 'visually-hidden' }, 'Sessions, newest first'),
    el('thead', {}, el('tr', {}, ['Session', 'Vendor data', 'Status', 'Created'].map((t) => el('th', { scope: 'col' }, t)))),
    tbody,
  );
  // Scrolls sideways on its own when narrower than the table: focusable so keyboard users can.
  const wrap = el('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': 'Sessions table' }, table);
  const prev = el('button', { type: 'button', id: 'sessions-prev', class: 'secondary' }, 'Previous');
  const next = el('button', { type: 'button', id: 'sessions-next', class: 'secondary' }, 'Next');
  const pager = el('nav', { class: 'pager', 'aria-label': 'Pages' }, prev, next);

  main.append(el('div', { class: 'page-head' }, el('h1', { tabindex: '-1' }, 'Sessions')), el('div', { class: 'panel' }, form, summary, wrap, pager));

  const data = await get(paths.sessions(app, params.toString()));
  if (!ctx.alive()) return;
  const rows = data.results ?? [];
  summary.textContent = `${data.count ?? rows.length} ${data.count === 1 ? 'session' : 'sessions'}${params.get('status') || params.get('search') ? ' match the filter' : ''}.`;
  if (!rows.length) {
    tbody.append(el('tr', {}, el('td', { colspan: 4, class: 'empty' }, 'No sessions.')));
  }
  for (const s of rows) {
    const link = el('a', { href: sessionHref(app, s.session_id) }, s.session_number !== null && s.session_number !== undefined ? `#${s.session_number}` : s.session_id.slice(0, 8));
    const tr = el(
      'tr',
      { 'data-session-id': s.session_id, class: 'clickable' },
      el('td', {}, link),
      el('td', { class: 'wrap-anywhere' }, s.vendor_data ?? ''),
      el('td', {}, statusBadge(s.status)),
      el('td', {}, s.created_at ? timeEl(s.created_at) : ''),
    );
    // The whole row opens the session; the link in it is the keyboard's way in.
    tr.addEventListener('click', (e) => {
      if (e.target.closest('a')) return;
      location.hash = sessionHref(app, s.session_id);
    });
    tbody.append(tr);
  }
  const pageLink = (url) => {
    if (!url) return null;
    const qs = cleanQuery(new URL(url, location.href).search).toString();
    return `#/sessions/${enc(app)}${qs ? `?${qs}` : ''}`;
  };
  for (const [button, url] of [[prev, data.previous], [next, data.next]]) {
    const target = pageLink(url);
    button.disabled = !target;
    if (target) button.addEventListener('click', () => (location.hash = target));
  }
  pager.hidden = !data.next && !data.previous;
}

function timelineItem(app, item, ctx, reload) {
  const kind = { created: 'Created', decision: 'Decision', review: 'Review', webhook: 'Webhook' }[item.kind] ?? item.kind;
  const li = el(
    'li',
    { class: `timeline-item kind-${String(item.kind).replace(/[^a-z]/g, '')}` },
    el('div', { class: 'timeline-head' }, el('span', { class: 'timeline-kind' }, kind), item.at ? timeEl(item.at) : null),
    el('p', { class: 'timeline-text' }, item.text ?? ''),
  );
  const d = item.kind === 'webhook' ? item.delivery : null;
  if (d) {
    const facts = [
      d.http_status !== null && d.http_status !== undefined ? `HTTP ${d.http_status}` : 'no HTTP answer',
      d.latency_ms !== null && d.latency_ms !== undefined ? `${d.latency_ms} ms` : null,
      d.status,
      d.attempts !== null && d.attempts !== undefined ? `${d.attempts} ${d.attempts === 1 ? 'attempt' : 'attempts'}` : null,
    ].filter(Boolean);
    li.append(el('p', { class: 'timeline-facts' }, facts.join(' · ')));
    // Every send when there was more than one: which answer, how long the receiver took.
    const log = d.attempt_log ?? [];
    if (log.length > 1) {
      li.append(
        el(
          'ol',
          { class: 'attempt-log', 'aria-label': 'Sends of this webhook' },
          log.map((a) =>
            el(
              'li',
              {},
              `#${a.attempt} · ${a.http_status !== null && a.http_status !== undefined ? `HTTP ${a.http_status}` : a.response}`,
              a.latency_ms !== null && a.latency_ms !== undefined ? ` · ${a.latency_ms} ms` : '',
              ' · ',
              timeEl(a.at),
            ),
          ),
        ),
      );
    }
    if (can.resend(app) && d.destination_id && d.id) {
      const resend = el('button', { type: 'button', class: 'secondary small resend', 'data-delivery-id': d.id }, 'Resend');
      resend.addEventListener('click', async () => {
        resend.disabled = true;
        try {
          await post(paths.resend(app, d.destination_id, d.id), {});
          ctx.announce('The webhook is queued to be sent again.');
          await reload();
        } catch (error) {
          resend.disabled = false;
          ctx.fail(error);
        }
      });
      li.append(resend);
    }
  }
  return li;
}

export async function renderSessionDetail(main, { app, id }, ctx) {
  let evidence;
  try {
    evidence = await get(paths.session(app, id));
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      main.append(el('h1', { tabindex: '-1' }, 'Session not found'), el('p', {}, 'It was deleted, or it belongs to an application you have no role in.'), el('p', {}, el('a', { href: `#/sessions/${enc(app)}` }, 'Back to the sessions')));
      return;
    }
    throw error;
  }
  if (!ctx.alive()) return;

  const timeline = el('ol', { id: 'timeline', class: 'timeline' });
  const fillTimeline = (items) => timeline.replaceChildren(...(items ?? []).map((item) => timelineItem(app, item, ctx, reload)));
  async function reload() {
    const fresh = await get(paths.session(app, id));
    if (ctx.alive()) fillTimeline(fresh.timeline);
  }
  fillTimeline(evidence.timeline);

  const pdf = el('a', { id: 'pdf-link', class: 'button secondary', href: paths.pdf(app, id), target: '_blank', rel: 'noopener' }, 'PDF report');
  const decide =
    evidence.status === 'In Review' && can.decide(app)
      ? createDecidePanel(app, {
          onError: (e) => ctx.fail(e),
          onDecided: (item, newStatus) => {
            ctx.announce(`${newStatus === 'Approved' ? 'Approved' : 'Declined'} ${sessionName(item)}.`, { survive: true });
            ctx.rerender();
          },
        })
      : null;
  decide?.setSession(evidence);
  const assign = createAssignControl(app, {
    onChange: (item, what) => ctx.announce(what === 'take' ? `${sessionName(item)} is assigned to you.` : `${sessionName(item)} is no longer assigned.`),
    onError: (e) => ctx.fail(e),
    onConflict: () => get(paths.session(app, id)).then((fresh) => ctx.alive() && assign.setSession(fresh), (e) => ctx.fail(e)),
  });
  assign.setSession(decide || evidence.assigned_to ? evidence : null);

  main.append(
    el('p', { class: 'crumbs' }, el('a', { href: `#/sessions/${enc(app)}` }, '← Sessions'), ' · ', el('a', { href: `#/queue/${enc(app)}` }, 'Review queue')),
    el(
      'div',
      { class: 'page-head' },
      el('div', {}, el('h1', { tabindex: '-1' }, sessionName(evidence)), el('p', { class: 'evidence-meta' }, statusBadge(evidence.status), ' created ', timeEl(evidence.created_at)), assign.element),
      pdf,
    ),
    el(
      'div',
      { class: 'detail-layout' },
      el('div', { class: 'panel' }, renderEvidence(evidence, { level: 2, idPrefix: 'detail-ev' })),
      el(
        'div',
        { class: 'detail-side' },
        decide ? el('div', { class: 'panel' }, decide.element) : null,
        el('section', { class: 'panel', 'aria-labelledby': 'timeline-title' }, el('h2', { id: 'timeline-title' }, 'Timeline'), timeline),
      ),
    ),
  );

  ctx.setKeys(
    decide
      ? { m: () => assign.toggle(), a: () => decide.approve(), d: () => decide.decline(), c: () => decide.focusComment() }
      : {},
  );
}
