// The signed-in operator's own account: who they are and the selfie second factor. Turning it
// on runs a facegate enrolment on the hosted page, which comes back to
// /console/?second_factor=enrol; app.js then asks the server to confirm it.
import { ApiError, del, get, paths, post, session } from './api.js';
import { clearFieldErrors, el, field, fmtTime, showFieldErrors } from './dom.js';
import { PASSWORD_MAX } from './auth.js';

export async function renderAccount(main, _r, ctx) {
  const status = await get(paths.secondFactor());
  if (!ctx.alive()) return;
  const me = session.me.operator;

  const password = el('input', { id: 'factor-password', name: 'password', type: 'password', required: true, autocomplete: 'current-password', maxlength: PASSWORD_MAX });
  const alert = el('p', { id: 'factor-error', class: 'form-error', role: 'alert', hidden: true });
  const submit = el('button', { type: 'submit', id: 'factor-submit', class: status.enabled ? 'danger' : '' }, status.enabled ? 'Turn off selfie sign-in' : 'Turn on selfie sign-in');
  const form = el('form', { id: 'factor-form', novalidate: true }, field('Your password', password, 'Asked again so that a browser left signed in cannot change how you sign in.'), alert, submit);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearFieldErrors(form);
    alert.hidden = true;
    if (!password.value) {
      showFieldErrors(form, { password: ['Enter your password.'] }, { password });
      password.focus();
      return;
    }
    submit.disabled = true;
    try {
      if (status.enabled) {
        await del(paths.secondFactor(), { password: password.value });
        ctx.announce('Selfie sign-in is off, and your enrolled face is deleted. You sign in with your password alone.', { survive: true });
        ctx.rerender();
      } else {
        const { url } = await post(paths.secondFactor(), { password: password.value });
        ctx.announce('Taking you to the camera page to enrol your face.');
        location.assign(url);
      }
    } catch (error) {
      if (error instanceof ApiError && error.status === 403) {
        showFieldErrors(form, { password: [error.message] }, { password });
        password.focus();
      } else {
        alert.textContent = error.message;
        alert.hidden = false;
      }
    } finally {
      password.value = '';
      submit.disabled = false;
    }
  });

  const state = status.enabled
    ? el('p', { id: 'factor-state' }, el('strong', {}, 'On'), ` since ${fmtTime(status.enrolled_at)}: every sign-in asks for your password, then a selfie that must match the face you enrolled.`)
    : el('p', { id: 'factor-state' }, el('strong', {}, 'Off'), ': you sign in with your password alone.');

  main.append(
    el('h1', { tabindex: '-1' }, 'Your account'),
    el(
      'section',
      { class: 'panel', 'aria-labelledby': 'who-title' },
      el('h2', { id: 'who-title' }, 'Signed in as'),
      el('dl', { class: 'facts' }, el('dt', {}, 'Name'), el('dd', {}, me.name || '—'), el('dt', {}, 'Email'), el('dd', {}, me.email), el('dt', {}, 'Platform admin'), el('dd', {}, me.platform_admin ? 'Yes' : 'No')),
    ),
    el(
      'section',
      { class: 'panel', 'aria-labelledby': 'factor-title' },
      el('h2', { id: 'factor-title' }, 'Selfie sign-in (second factor)'),
      el('p', { class: 'muted' }, 'facegate checks your face the way it checks your users: a live selfie on the camera page, matched against the face you enrol here. Someone who learns your password still cannot sign in as you.'),
      state,
      form,
    ),
  );
}

/** Back from the hosted page after an enrolment (`?second_factor=enrol`). */
export async function confirmEnrolment(announce) {
  try {
    await post(`${paths.secondFactor()}confirm/`, {});
    announce('Selfie sign-in is on: your next sign-in will ask for a selfie.', { survive: true });
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    announce(`Selfie sign-in is not on: ${error.message}`, { survive: true });
  }
}
