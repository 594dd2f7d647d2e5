// An application's workflows: what each runs and at which thresholds, and an editor whose
// controls show, beside each threshold, what it was measured to do there (FMR/FNMR on face
// pairs, APCER/BPCER held out on liveness images). The figures come from the curves the
// server serves (/console/api/error-rates/): this page holds no number of its own. Checking a
// change is the server's: its 400 field errors are shown under the controls they name.
import { ApiError, can, get, patch, paths } from './api.js';
import { clearFieldErrors, el, fmtScore, nextId, showFieldErrors } from './dom.js';

const METHODS = {
  PASSIVE: 'Passive: one selfie',
  FLASHING: 'Flashing: the screen lights the face in colours',
  ACTIVE_3D: 'Active 3D: the person turns their head as asked',
};

/** The curves, fetched once per page load: they change only with a new release. */
let curvesPromise = null;
function curves() {
  curvesPromise ??= get(paths.errorRates()).catch((error) => {
    curvesPromise = null;
    throw error;
  });
  return curvesPromise;
}

/** A curve's value at any threshold: linear between its whole steps, as the server reads it. */
function at(values, threshold) {
  const last = values.length - 1;
  const t = Math.min(Math.max(Number(threshold) || 0, 0), last);
  const lo = Math.floor(t);
  const hi = Math.min(Math.ceil(t), last);
  return values[lo] * (1 - (t - lo)) + values[hi] * (t - lo);
}

/** Two decimals under 10 %, one above, as the server words it. */
function pct(x) {
  const p = x * 100;
  return `${p < 10 ? p.toFixed(2) : p.toFixed(1)} %`;
}

const count = (n) => Number(n).toLocaleString('en-US');

/** What each control's value was measured to do, as text for the line beside it. */
const FIGURES = {
  face_match_score_review_threshold: (c, t) => {
    const f = c.face_match;
    return `Approved above ${fmtScore(t)}: FMR ${pct(at(f.fmr, t))} (of ${count(f.impostor)} impostor pairs) · FNMR ${pct(at(f.fnmr, t))} (of ${count(f.genuine)} genuine pairs not approved)`;
  },
  face_match_score_decline_threshold: (c, t) => {
    const f = c.face_match;
    return `Declined at or below ${fmtScore(t)}: FNMR ${pct(at(f.fnmr, t))} (of ${count(f.genuine)} genuine pairs) · FMR ${pct(at(f.fmr, t))} (impostor pairs not declined)`;
  },
  face_liveness_score_decline_threshold: (c, t) => {
    const g = c.liveness.groups;
    const all = g.all;
    const kinds = ['sample_image', 'video_frame', 'face_crop']
      .filter((k) => g[k])
      .map((k) => `${g[k].label} ${pct(at(g[k].apcer, t))} / ${pct(at(g[k].bpcer, t))}`);
    return `At ${fmtScore(t)}, held out: APCER ${pct(at(all.apcer, t))} (of ${count(all.spoof)} spoof images) · BPCER ${pct(at(all.bpcer, t))} (of ${count(all.live)} live); ${kinds.join(', ')}`;
  },
};

/** A 0-100 threshold as a slider and a number kept in step, with its figures beside them. */
function thresholdControl(name, label, hint, value, c, disabled) {
  const number = el('input', { id: `wf-${name}`, name, type: 'number', min: 0, max: 100, step: 'any', inputmode: 'decimal', class: 'threshold-number', disabled });
  const range = el('input', { id: `wf-${name}-range`, type: 'range', min: 0, max: 100, step: 1, class: 'threshold-range', 'aria-label': `${label} (slider)`, disabled });
  const figures = el('p', { class: 'figures', id: `wf-${name}-figures`, 'data-figures-for': name });
  const hintEl = el('p', { class: 'hint', id: `wf-${name}-hint` }, hint);
  const error = el('p', { class: 'field-error', id: `wf-${name}-error`, hidden: true });
  const described = `${hintEl.id} ${figures.id} ${error.id}`;
  number.setAttribute('aria-describedby', described);
  range.setAttribute('aria-describedby', described);
  const show = () => {
    figures.textContent = FIGURES[name](c, number.value === '' ? 0 : Number(number.value));
  };
  number.value = String(value);
  range.value = String(value);
  range.addEventListener('input', () => {
    number.value = range.value;
    show();
  });
  number.addEventListener('input', () => {
    if (number.value !== '') range.value = number.value;
    show();
  });
  show();
  const wrap = el(
    'div',
    { class: 'field threshold' },
    el('label', { for: number.id }, label),
    el('div', { class: 'threshold-row' }, range, number),
    hintEl,
    figures,
    error,
  );
  return { wrap, number };
}

function editor(app, w, c, ctx, onSaved) {
  const admin = can.manage(app);
  const disabled = !admin;
  const title = el('h4', { id: nextId('wf-editor-title'), tabindex: '-1' }, `${w.workflow_label || 'Workflow'} · version ${w.version}`);
  const labelInput = el('input', { id: 'wf-workflow_label', name: 'workflow_label', maxlength: 50, autocomplete: 'off', disabled });
  labelInput.value = w.workflow_label ?? '';
  const method = el(
    'select',
    { id: 'wf-face_liveness_method', name: 'face_liveness_method', disabled },
    Object.entries(METHODS).map(([v, text]) => el('option', { value: v }, text)),
  );
  method.value = String(w.face_liveness_method ?? 'passive').toUpperCase();
  const isDefault = el('input', { id: 'wf-is_default', name: 'is_default', type: 'checkbox', disabled });
  isDefault.checked = Boolean(w.is_default);
  const simple = (label, control) => {
    const error = el('p', { class: 'field-error', id: `${control.id}-error`, hidden: true });
    control.setAttribute('aria-describedby', error.id);
    return el('div', { class: 'field' }, el('label', { for: control.id }, label), control, error);
  };
  const controls = { workflow_label: labelInput, face_liveness_method: method, is_default: isDefault };
  const parts = [simple('Label', labelInput), simple('Liveness method', method)];
  const live = thresholdControl(
    'face_liveness_score_decline_threshold',
    'Liveness: declined at or below',
    'A capture whose liveness score is at or below this is declined as a presentation attack.',
    w.face_liveness_score_decline_threshold,
    c,
    disabled,
  );
  controls.face_liveness_score_decline_threshold = live.number;
  parts.push(live.wrap);
  if (w.is_face_match_enabled) {
    const decline = thresholdControl(
      'face_match_score_decline_threshold',
      'Face match: declined at or below',
      'At or below: declined as another person. Between this and the approval threshold: In Review.',
      w.face_match_score_decline_threshold,
      c,
      disabled,
    );
    const review = thresholdControl(
      'face_match_score_review_threshold',
      'Face match: approved above',
      'Above: the same person, approved. Must not be below the decline threshold.',
      w.face_match_score_review_threshold,
      c,
      disabled,
    );
    controls.face_match_score_decline_threshold = decline.number;
    controls.face_match_score_review_threshold = review.number;
    parts.push(decline.wrap, review.wrap);
  }
  parts.push(el('div', { class: 'field checkbox-field' }, isDefault, el('label', { for: isDefault.id }, 'Default workflow (sessions created without a workflow_id use it)')));
  const alert = el('p', { id: 'wf-error', class: 'form-error', role: 'alert', hidden: true });
  const provenance = el('p', { class: 'hint' }, `Figures: ${c.face_match.data} (${count(c.face_match.genuine)} genuine / ${count(c.face_match.impostor)} impostor pairs) and ${c.liveness.data}, ${c.liveness.protocol}; measured ${c.measured}.`);
  const save = el('button', { type: 'submit', id: 'wf-save' }, 'Save as a new version');
  const close = el('button', { type: 'button', id: 'wf-close', class: 'secondary' }, 'Close');
  const form = el(
    'form',
    { class: 'workflow-editor', id: 'workflow-editor', 'data-workflow-id': w.workflow_id, 'aria-labelledby': title.id, novalidate: true },
    title,
    admin ? null : el('p', { class: 'note' }, 'Only an admin of this application can change its workflows.'),
    parts,
    provenance,
    alert,
    el('div', { class: 'actions' }, close, admin ? save : null),
  );
  close.addEventListener('click', () => onSaved(null));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!admin) return;
    clearFieldErrors(form);
    alert.hidden = true;
    const num = (input) => (input.value.trim() === '' ? null : Number(input.value));
    const body = {
      workflow_label: labelInput.value.trim() || null,
      face_liveness_method: method.value,
      face_liveness_score_decline_threshold: num(live.number),
      is_default: isDefault.checked,
    };
    if (controls.face_match_score_review_threshold) {
      body.face_match_score_decline_threshold = num(controls.face_match_score_decline_threshold);
      body.face_match_score_review_threshold = num(controls.face_match_score_review_threshold);
    }
    save.disabled = true;
    try {
      const saved = await patch(paths.workflow(app, w.workflow_id), body);
      const message =
        saved.version === w.version
          ? `Nothing changed: ${saved.workflow_label || 'the workflow'} stays at version ${saved.version}.`
          : `Saved as version ${saved.version} of ${saved.workflow_label || 'the workflow'}. New sessions use it; sessions already begun stay on version ${w.version}.`;
      ctx.announce(message);
      onSaved(saved, message);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return;
      const rest = error instanceof ApiError && error.fieldErrors ? showFieldErrors(form, error.fieldErrors, controls) : [error.message];
      if (rest.length) {
        alert.textContent = rest.join(' ');
        alert.hidden = false;
      }
      form.querySelector('[aria-invalid="true"]')?.focus();
    } finally {
      save.disabled = false;
    }
  });
  return { form, title };
}

/** The Workflows part of an application's page. */
export async function workflowsSection(app, ctx) {
  const [c, list] = await Promise.all([curves(), get(paths.workflows(app))]);
  const tbody = el('tbody');
  const slot = el('div', { id: 'wf-editor-slot' });
  const saved = el('p', { id: 'wf-saved', class: 'saved-note', role: 'status' });
  let workflows = list.results ?? [];

  function open(w, opener) {
    const { form, title } = editor(app, w, c, ctx, (updated, message) => {
      slot.replaceChildren();
      if (updated) {
        workflows = workflows.map((x) => (x.workflow_id === updated.workflow_id ? updated : x));
        fill();
        saved.textContent = message;
        open(updated);
      } else {
        saved.textContent = '';
        (opener ?? tbody.querySelector(`[data-workflow-id="${CSS.escape(w.workflow_id)}"] button`))?.focus();
      }
    });
    slot.replaceChildren(form);
    title.focus();
  }

  function fill() {
    tbody.replaceChildren(
      ...workflows.map((w) => {
        const button = el('button', { type: 'button', class: 'secondary small open-workflow', 'aria-label': `${can.manage(app) ? 'Edit' : 'View'} ${w.workflow_label || w.workflow_id}` }, can.manage(app) ? 'Edit' : 'View');
        button.addEventListener('click', () => open(w, button));
        const fm = w.is_face_match_enabled ? `${fmtScore(w.face_match_score_decline_threshold)} / ${fmtScore(w.face_match_score_review_threshold)}` : '—';
        return el(
          'tr',
          { 'data-workflow-id': w.workflow_id },
          el('th', { scope: 'row' }, w.workflow_label || el('span', { class: 'muted' }, 'no label')),
          el('td', {}, String(w.face_liveness_method ?? '').toUpperCase()),
          el('td', {}, (w.features ?? []).join(' + ')),
          el('td', { class: 'wf-version' }, String(w.version)),
          el('td', {}, w.is_default ? el('span', { class: 'badge status-approved' }, 'Default') : ''),
          el('td', {}, fmtScore(w.face_liveness_score_decline_threshold)),
          el('td', {}, fm),
          el('td', {}, button),
        );
      }),
    );
    if (!workflows.length) tbody.append(el('tr', {}, el('td', { colspan: 8, class: 'empty' }, 'No workflows.')));
  }
  fill();
  return el(
    'section',
    { class: 'subsection', 'aria-labelledby': 'workflows-title', id: 'workflows' },
    el('h3', { id: 'workflows-title' }, 'Workflows'),
    el('p', { class: 'hint' }, 'What each workflow runs and where it decides. A change is a new version: sessions already begun keep the version they began on.'),
    el(
      'div',
      { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': 'Workflows table' },
      el(
        'table',
        { class: 'table', id: 'workflows-table' },
        el('caption', { class: 'visually-hidden' }, 'Workflows'),
        el('thead', {}, el('tr', {}, ['Workflow', 'Liveness', 'Features', 'Version', 'Default', 'Liveness threshold', 'Face match decline / approve', 'Action'].map((t) => el('th', { scope: 'col' }, t)))),
        tbody,
      ),
    ),
    saved,
    slot,
  );
}
