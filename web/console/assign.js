// "Assign to me": a reviewer takes a session in review so nobody else works on it meanwhile,
// and gives it back; an admin frees a session someone else holds. The server decides (a 409
// names who holds it when two reviewers race); this shows who holds it and offers what the
// operator may do. Used by the queue (one control kept while the selection changes) and the
// session page.
import { ApiError, paths, post, roleOn, session } from './api.js';
import { el } from './dom.js';

/** "Assigned to Rita", "Assigned to you" or "Not assigned", as the queue and the page say it. */
export function holderText(evidence) {
  const holder = evidence?.assigned_to;
  if (!holder) return 'Not assigned';
  return holder.id === session.me?.operator.id ? 'Assigned to you' : `Assigned to ${holder.name}`;
}

/**
 * The control for `app`. `onChange(evidence)` gets the session as the server now has it (also
 * after a 409, with the holder the server named); `onError(error)` shows a failure.
 */
export function createAssignControl(app, { onChange, onError, onConflict }) {
  let current = null;
  let busy = false;
  const text = el('span', { class: 'assign-holder', id: 'assign-holder' });
  const button = el('button', { type: 'button', id: 'assign', class: 'secondary small', 'aria-describedby': 'assign-holder' });
  const element = el('p', { class: 'assign' }, text, ' ', button);

  function mine() {
    return current?.assigned_to && current.assigned_to.id === session.me?.operator.id;
  }

  /** What the button does now: take, give back, free (an admin), or nothing. */
  function action() {
    if (!current) return null;
    if (!current.assigned_to) return current.status === 'In Review' ? 'take' : null;
    if (mine()) return 'give-back';
    return roleOn(app) === 'admin' ? 'free' : null;
  }

  function render() {
    element.hidden = !current;
    if (!current) return;
    text.textContent = holderText(current);
    const what = action();
    button.hidden = !what;
    button.textContent = { take: 'Assign to me', 'give-back': 'Unassign', free: 'Unassign' }[what] ?? '';
    button.disabled = busy;
  }

  async function toggle() {
    const what = action();
    if (!what || busy) return;
    const target = current;
    busy = true;
    render();
    try {
      const fresh = await post(paths.assign(app, target.session_id), { assign: what === 'take' });
      const now = { ...target, assigned_to: fresh.assigned_to ?? null };
      if (current?.session_id === target.session_id) current = now;
      onChange?.(now, what);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return;
      onError(error);
      if (error instanceof ApiError && error.status === 409) onConflict?.(target);
    } finally {
      busy = false;
      render();
    }
  }

  button.addEventListener('click', toggle);

  return {
    element,
    setSession(evidence) {
      current = evidence;
      render();
    },
    /** The keyboard's way: takes the session, or gives back one you hold. */
    toggle,
    get busy() {
      return busy;
    },
  };
}
