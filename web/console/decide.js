// Approve / Decline with an optional comment: the reviewer's one write. Used by the queue
// (one panel kept while the selection changes, so focus stays on its buttons) and by the
// session page.
import { ApiError, paths, post } from './api.js';
import { el } from './dom.js';

export const COMMENT_MAX = 10_000;

/**
 * The panel for `app`. `onDecided(evidence, newStatus)` runs after the server accepted the
 * review; `onError(error)` shows a failure.
 */
export function createDecidePanel(app, { onDecided, onError, headingLevel = 2 }) {
  let current = null;
  let busy = false;
  const comment = el('textarea', { id: 'comment', rows: 3, maxlength: COMMENT_MAX, 'aria-describedby': 'comment-hint' });
  const approve = el('button', { type: 'button', id: 'approve', class: 'approve' }, 'Approve');
  const decline = el('button', { type: 'button', id: 'decline', class: 'danger' }, 'Decline');
  const hint = el(
    'p',
    { class: 'hint', id: 'comment-hint' },
    'Sent to the integrator with the decision and kept in the audit log. Esc leaves the box.',
  );
  const shortcuts = el('p', { class: 'hint shortcut-hint' }, 'Keys: ', el('kbd', {}, 'm'), ' assign to me · ', el('kbd', {}, 'a'), ' approve · ', el('kbd', {}, 'd'), ' decline · ', el('kbd', {}, 'c'), ' comment · ', el('kbd', {}, '?'), ' all shortcuts');
  const title = el(`h${headingLevel}`, { id: 'decide-title' }, 'Decision');
  const element = el(
    'section',
    { class: 'decide', 'aria-labelledby': 'decide-title' },
    title,
    el('div', { class: 'field' }, el('label', { for: 'comment' }, 'Comment (optional)'), comment, hint),
    el('div', { class: 'decide-actions' }, approve, decline),
    shortcuts,
  );

  comment.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      comment.blur();
    }
  });

  async function decide(newStatus) {
    if (!current || busy) return;
    const target = current;
    busy = true;
    approve.disabled = true;
    decline.disabled = true;
    element.setAttribute('aria-busy', 'true');
    const text = comment.value.trim();
    try {
      await post(paths.reviews(app, target.session_id), text ? { new_status: newStatus, comment: text } : { new_status: newStatus });
      comment.value = '';
      onDecided(target, newStatus);
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) onError(error);
    } finally {
      busy = false;
      approve.disabled = false;
      decline.disabled = false;
      element.removeAttribute('aria-busy');
    }
  }

  approve.addEventListener('click', () => decide('Approved'));
  decline.addEventListener('click', () => decide('Declined'));

  return {
    element,
    /** The session the buttons act on; null hides the panel. */
    setSession(evidence) {
      // A comment belongs to the session it was typed for, never to the next one.
      if (evidence?.session_id !== current?.session_id) comment.value = '';
      current = evidence;
      element.hidden = !evidence;
    },
    approve: () => decide('Approved'),
    decline: () => decide('Declined'),
    focusComment: () => comment.focus(),
    get busy() {
      return busy;
    },
  };
}
