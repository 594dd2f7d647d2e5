// DOM and formatting helpers shared by the screens. Everything the server sends is placed with
// textContent or attributes, never parsed as markup: vendor_data, comments and names come from
// integrators and their users.

/**
 * `el('p', { class: 'x', id: 'y' }, 'text', child)`: attributes are set with setAttribute except
 * `class`, `text` and `on*` handlers; null and undefined children are skipped.
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, '');
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

let uid = 0;
/** A fresh id for label/control pairs that appear more than once on a screen. */
export function nextId(prefix) {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** A labelled control: `<div class="field"><label/>control<p class="hint"/><p class="field-error"/></div>`. */
export function field(label, control, hint) {
  if (!control.id) control.id = nextId('f');
  const hintEl = hint ? el('p', { class: 'hint', id: `${control.id}-hint` }, hint) : null;
  const errorEl = el('p', { class: 'field-error', id: `${control.id}-error`, hidden: true });
  control.setAttribute('aria-describedby', [hintEl?.id, errorEl.id].filter(Boolean).join(' '));
  return el('div', { class: 'field' }, el('label', { for: control.id }, label), control, hintEl, errorEl);
}

/** Shows field errors (`{"field": ["message"]}`) under their controls inside `form`; returns
 * the messages that have no control, for the form's own alert. */
export function showFieldErrors(form, errors, controls) {
  clearFieldErrors(form);
  const rest = [];
  for (const [name, messages] of Object.entries(errors ?? {})) {
    const text = Array.isArray(messages) ? messages.join(' ') : String(messages);
    const control = controls[name];
    if (!control) {
      rest.push(name === 'detail' || name === 'non_field_errors' ? text : `${name}: ${text}`);
      continue;
    }
    const errorEl = form.querySelector(`#${CSS.escape(control.id)}-error`);
    errorEl.textContent = text;
    errorEl.hidden = false;
    control.setAttribute('aria-invalid', 'true');
  }
  return rest;
}

export function clearFieldErrors(form) {
  for (const e of form.querySelectorAll('.field-error')) {
    e.textContent = '';
    e.hidden = true;
  }
  for (const c of form.querySelectorAll('[aria-invalid]')) c.removeAttribute('aria-invalid');
}

/** Scores and thresholds are 0..100 floats: one decimal at most, none when whole. */
export function fmtScore(n) {
  return String(Math.round(n * 10) / 10);
}

/** ISO 8601 strings, or Unix seconds (a bare number), as a local date and time. */
export function fmtTime(iso) {
  const d = typeof iso === 'number' ? new Date(iso < 1e12 ? iso * 1000 : iso) : new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso ?? '');
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

export function timeEl(iso) {
  const machine = typeof iso === 'number' ? new Date(iso < 1e12 ? iso * 1000 : iso).toISOString() : iso;
  return el('time', { datetime: machine }, fmtTime(iso));
}

/** "3 min", "2 h", "4 d": how long a session has waited, for the queue list. */
export function age(iso, now = Date.now()) {
  const minutes = Math.max(0, Math.round((now - new Date(iso).getTime()) / 60_000));
  if (!Number.isFinite(minutes)) return '';
  if (minutes < 60) return `${minutes} min`;
  if (minutes < 48 * 60) return `${Math.round(minutes / 60)} h`;
  return `${Math.round(minutes / 1440)} d`;
}

/** A status as a badge; the class carries the colour, the text the meaning. */
export function statusBadge(status) {
  const slug = String(status ?? 'unknown').toLowerCase().replace(/[^a-z]+/g, '-');
  return el('span', { class: `badge status-${slug}` }, status ?? 'Unknown');
}

/** A secret shown once: a read-only field, a copy button and the warning. */
export function revealBox({ title, value, id, warning }) {
  const input = el('input', { id, type: 'text', readonly: true, class: 'mono', spellcheck: 'false', autocomplete: 'off' });
  input.value = value;
  const copied = el('span', { class: 'copied', role: 'status' });
  const copy = el('button', { type: 'button', class: 'secondary', id: `${id}-copy` }, 'Copy');
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(value);
      copied.textContent = 'Copied';
    } catch {
      // No clipboard permission (an http origin other than localhost): select it for Ctrl+C.
      input.select();
      copied.textContent = 'Selected: press Ctrl+C (or ⌘C) to copy';
    }
  });
  input.addEventListener('focus', () => input.select());
  return el(
    'div',
    { class: 'reveal' },
    el('p', { class: 'reveal-title' }, title),
    el('p', { class: 'reveal-warning' }, warning),
    el('div', { class: 'reveal-row' }, el('label', { for: id, class: 'visually-hidden' }, title), input, copy),
    copied,
  );
}

/** A modal confirmation on <dialog>; resolves true when the operator confirms. */
export function confirmDialog({ title, body, confirm, danger = false }) {
  return new Promise((resolve) => {
    const heading = el('h2', { id: nextId('dialog-title') }, title);
    const ok = el('button', { type: 'button', id: 'confirm-ok', class: danger ? 'danger' : '' }, confirm);
    const cancel = el('button', { type: 'button', id: 'confirm-cancel', class: 'secondary' }, 'Cancel');
    const dialog = el('dialog', { class: 'dialog', 'aria-labelledby': heading.id }, heading, el('p', {}, body), el('div', { class: 'actions' }, cancel, ok));
    const finish = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    ok.addEventListener('click', () => finish(true));
    cancel.addEventListener('click', () => finish(false));
    dialog.addEventListener('cancel', (e) => {
      e.preventDefault();
      finish(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    // The safe choice has the focus, so a stray Enter does not revoke anything.
    cancel.focus();
  });
}
