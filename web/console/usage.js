// Usage: sessions per UTC day over the last 31 days (billable and not), the last twelve months
// with what each costs under the application's price model, and the days as CSV. The chart is
// plain DOM (heights in custom properties); its numbers are also a table, for screen readers
// and for anyone who prefers to read them.
import { get, paths } from './api.js';
import { el } from './dom.js';

const DAYS = 31;
const DAY_MS = 86_400_000;

const num = (n) => Number(n ?? 0).toLocaleString();
/** `YYYY-MM-DD` (a UTC day) as milliseconds, and back. */
const dayMs = (date) => Date.parse(`${date}T00:00:00Z`);
const isoDay = (ms) => new Date(ms).toISOString().slice(0, 10);
const shortDay = (date) => new Date(dayMs(date)).toLocaleDateString(undefined, { day: 'numeric', month: 'short', timeZone: 'UTC' });
const longDay = (date) => new Date(dayMs(date)).toLocaleDateString(undefined, { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' });
const monthName = (month, style = 'long') => new Date(dayMs(`${month}-01`)).toLocaleDateString(undefined, { month: style, year: 'numeric', timeZone: 'UTC' });

function money(amount, currency) {
  return currency === 'USD' ? `$${amount}` : `${amount} ${currency}`;
}

/** "500 free a month, then $0.10 each; billable: Approved, In Review, Kyc Expired". */
export function priceModel(pricing, currency) {
  const free = Number(pricing?.free_per_month ?? 0);
  const unit = money(pricing?.unit_price ?? '0.00', currency);
  const statuses = pricing?.billable_statuses ?? [];
  const price = free > 0 ? `${num(free)} free a month, then ${unit} each` : `${unit} each, none free`;
  return statuses.length ? `${price}; billable: ${statuses.join(', ')}` : price;
}

/**
 * The last day the chart shows: today (UTC), unless the server's current month is another one
 * (its clock is not the browser's): then the last day of that month with sessions, or its end.
 */
function lastDay(months, days) {
  const today = isoDay(Date.now());
  const serverMonth = months.at(-1)?.month;
  if (!serverMonth || today.startsWith(serverMonth)) return today;
  const listed = days.filter((d) => d.date.startsWith(serverMonth)).at(-1);
  if (listed) return listed.date;
  const [y, m] = serverMonth.split('-').map(Number);
  return isoDay(Date.UTC(y, m, 1) - DAY_MS);
}

/** The 31 days up to `end`, days without sessions as zeros. */
function window31(days, end) {
  const byDate = new Map(days.map((d) => [d.date, d]));
  const last = dayMs(end);
  return Array.from({ length: DAYS }, (_, i) => {
    const date = isoDay(last - (DAYS - 1 - i) * DAY_MS);
    const d = byDate.get(date);
    const sessions = Number(d?.sessions ?? 0);
    const billable = Number(d?.billable ?? 0);
    return { date, sessions, billable, other: Math.max(0, sessions - billable) };
  });
}

/** The top of the scale: the busiest day rounded up so that half of it is a whole number too. */
function scaleMax(max) {
  if (max <= 2) return 2;
  if (max <= 10) return max % 2 ? max + 1 : max;
  const pow = 10 ** Math.floor(Math.log10(max));
  for (const f of [1, 2, 5, 10]) if (f * pow >= max) return f * pow;
  return 10 * pow;
}

const setVar = (node, name, value) => {
  node.style.setProperty(name, String(value));
  return node;
};

function chart(series, end) {
  const total = series.reduce((n, d) => n + d.sessions, 0);
  const billable = series.reduce((n, d) => n + d.billable, 0);
  const active = series.filter((d) => d.sessions > 0);
  const busiest = active.reduce((best, d) => (!best || d.sessions > best.sessions ? d : best), null);
  const top = scaleMax(busiest?.sessions ?? 0);
  const range = `from ${shortDay(series[0].date)} to ${shortDay(end)} (UTC days)`;
  const label = total
    ? `Sessions per day ${range}: ${num(total)} ${total === 1 ? 'session' : 'sessions'}, ${num(billable)} billable, on ${active.length} ${active.length === 1 ? 'day' : 'days'}; the busiest was ${shortDay(busiest.date)} with ${num(busiest.sessions)}.`
    : `Sessions per day ${range}: none.`;

  const plot = el('div', { class: 'chart-plot' });
  for (const at of [0.5, 1]) plot.append(setVar(el('span', { class: 'chart-grid' }), '--at', at * 100));
  for (const d of series) {
    const bar = el(
      'div',
      {
        class: `chart-bar${d.sessions ? '' : ' is-zero'}${d.date === end ? ' is-last' : ''}`,
        'data-date': d.date,
        'data-sessions': d.sessions,
        'data-billable': d.billable,
        title: `${longDay(d.date)}: ${num(d.sessions)} ${d.sessions === 1 ? 'session' : 'sessions'}, ${num(d.billable)} billable`,
      },
      d.billable ? setVar(el('span', { class: 'chart-seg seg-billable' }), '--n', d.billable) : null,
      d.other ? setVar(el('span', { class: 'chart-seg seg-other' }), '--n', d.other) : null,
    );
    plot.append(setVar(bar, '--h', (d.sessions / top) * 100));
  }
  const y = el(
    'div',
    { class: 'chart-y' },
    [0, top / 2, top].map((v) => setVar(el('span', {}, num(v)), '--at', (v / top) * 100)),
  );
  // A date under every 7th bar, counted back from the last so the last day is always named.
  const x = el('div', { class: 'chart-x' });
  series.forEach((d, i) => {
    if ((DAYS - 1 - i) % 7) return;
    const at = ((i + 0.5) / DAYS) * 100;
    x.append(setVar(el('span', { class: `chart-x-label${i === DAYS - 1 ? ' at-end' : at < 8 ? ' at-start' : ''}` }, shortDay(d.date)), '--at', at));
  });
  return el('div', { id: 'usage-chart', class: 'chart', role: 'img', 'aria-label': label }, y, plot, x);
}

function daysTable(series) {
  return el(
    'table',
    { id: 'usage-days', class: 'table' },
    el('caption', {}, 'Sessions per UTC day, last 31 days'),
    el('thead', {}, el('tr', {}, ['Day', 'Sessions', 'Billable', 'Not billable'].map((t, i) => el('th', { scope: 'col', class: i ? 'num' : null }, t)))),
    el(
      'tbody',
      {},
      series.map((d) =>
        el(
          'tr',
          { 'data-date': d.date },
          el('th', { scope: 'row' }, el('time', { datetime: d.date }, longDay(d.date))),
          el('td', { class: 'num' }, num(d.sessions)),
          el('td', { class: 'num' }, num(d.billable)),
          el('td', { class: 'num' }, num(d.other)),
        ),
      ),
    ),
  );
}

function monthsTable(months, currency) {
  const current = months.at(-1)?.month;
  const cents = (cost) => Math.round(Number(cost ?? 0) * 100);
  const sum = (key) => months.reduce((n, m) => n + Number(m[key] ?? 0), 0);
  const totalCost = (months.reduce((n, m) => n + cents(m.cost), 0) / 100).toFixed(2);
  const heads = ['Month', 'Sessions', 'Billable', 'Charged', `Cost (${currency})`];
  // Newest first: the current month leads.
  const rows = [...months].reverse().map((m) => {
    const now = m.month === current;
    return el(
      'tr',
      { 'data-month': m.month, 'data-sessions': m.sessions, class: now ? 'is-current' : null, 'aria-current': now ? 'true' : null },
      el(
        'th',
        { scope: 'row' },
        // "December 2026", or "Dec 2026" on a phone (one of the two is display: none).
        el('time', { datetime: m.month }, el('span', { class: 'month-long' }, monthName(m.month)), el('span', { class: 'month-short' }, monthName(m.month, 'short'))),
        now ? el('span', { class: 'badge badge-current' }, 'This month') : null,
      ),
      el('td', { class: 'num' }, num(m.sessions)),
      el('td', { class: 'num' }, num(m.billable)),
      el('td', { class: 'num' }, num(m.charged)),
      el('td', { class: 'num' }, money(m.cost ?? '0.00', currency)),
    );
  });
  return el(
    'table',
    { id: 'usage-months', class: 'table' },
    el('caption', { class: 'visually-hidden' }, 'Sessions and cost by month, last 12 months, newest first'),
    el('thead', {}, el('tr', {}, heads.map((t, i) => el('th', { scope: 'col', class: i ? 'num' : null }, t)))),
    el('tbody', {}, rows),
    el(
      'tfoot',
      {},
      el(
        'tr',
        {},
        el('th', { scope: 'row' }, '12 months'),
        el('td', { class: 'num' }, num(sum('sessions'))),
        el('td', { class: 'num' }, num(sum('billable'))),
        el('td', { class: 'num' }, num(sum('charged'))),
        el('td', { class: 'num' }, money(totalCost, currency)),
      ),
    ),
  );
}

function stats(month, pricing, currency) {
  const free = Number(pricing?.free_per_month ?? 0);
  const items = [
    ['Sessions', num(month?.sessions)],
    ['Billable', num(month?.billable)],
    ['Free left', num(Math.max(0, free - Number(month?.billable ?? 0)))],
    ['Cost so far', money(month?.cost ?? '0.00', currency)],
  ];
  return el(
    'dl',
    { id: 'usage-stats', class: 'stats' },
    items.map(([term, value]) => el('div', { class: 'stat' }, el('dt', {}, term), el('dd', {}, value))),
  );
}

export async function renderUsage(main, { app }, ctx) {
  const csv = el('a', { id: 'usage-csv', class: 'button secondary', href: paths.usageCsv(app), download: true }, 'Download CSV');
  main.append(el('div', { class: 'page-head' }, el('div', {}, el('h1', { tabindex: '-1' }, 'Usage'), el('p', { class: 'muted' }, 'Sessions created, and what they cost.')), csv));

  const data = await get(paths.usage(app));
  if (!ctx.alive()) return;
  const currency = data.currency ?? 'USD';
  const months = data.months ?? [];
  const days = data.days ?? [];
  const end = lastDay(months, days);
  const series = window31(days, end);
  const current = months.at(-1);

  const numbers = el('div', { id: 'usage-days-wrap', class: 'days-table visually-hidden' }, daysTable(series));
  const toggle = el('button', { type: 'button', id: 'usage-days-toggle', class: 'secondary small', 'aria-expanded': 'false', 'aria-controls': 'usage-days-wrap' }, 'Show the numbers');
  toggle.addEventListener('click', () => {
    const show = toggle.getAttribute('aria-expanded') !== 'true';
    toggle.setAttribute('aria-expanded', String(show));
    toggle.textContent = show ? 'Hide the numbers' : 'Show the numbers';
    numbers.classList.toggle('visually-hidden', !show);
  });
  const anySessions = series.some((d) => d.sessions > 0);

  main.append(
    current
      ? el(
          'section',
          { class: 'panel', 'aria-labelledby': 'usage-month-title' },
          el('h2', { id: 'usage-month-title' }, `This month: ${monthName(current.month)}`),
          stats(current, data.pricing, currency),
        )
      : null,
    el(
      'section',
      { class: 'panel', 'aria-labelledby': 'usage-days-title' },
      el('div', { class: 'sub-head' }, el('h2', { id: 'usage-days-title' }, 'Sessions per day'), toggle),
      el('p', { class: 'hint' }, `The last 31 days, by UTC day, up to ${longDay(end)}.`),
      el(
        'ul',
        { class: 'legend', 'aria-label': 'Legend' },
        el('li', {}, el('span', { class: 'swatch seg-billable', 'aria-hidden': 'true' }), 'Billable'),
        el('li', {}, el('span', { class: 'swatch seg-other', 'aria-hidden': 'true' }), 'Not billable'),
      ),
      chart(series, end),
      anySessions ? null : el('p', { class: 'empty' }, 'No sessions in the last 31 days.'),
      numbers,
    ),
    el(
      'section',
      { class: 'panel', 'aria-labelledby': 'usage-months-title' },
      el('h2', { id: 'usage-months-title' }, 'By month'),
      el('p', { id: 'usage-pricing', class: 'pricing' }, `Price: ${priceModel(data.pricing, currency)}.`),
      el('p', { class: 'hint' }, 'Charged: the billable sessions beyond the month\'s free ones. Statuses are the sessions\' current ones.'),
      el('div', { class: 'table-wrap usage-months-wrap', tabindex: '0', role: 'region', 'aria-label': 'Usage by month table' }, monthsTable(months, currency)),
    ),
  );
}
