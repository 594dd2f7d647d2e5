// Sign-in and the one-time setup link (the first admin's, or an invited operator's).
import { ApiError, post, session } from './api.js';
import { clearFieldErrors, el, field, showFieldErrors } from './dom.js';

export const PASSWORD_MIN = 12;
export const PASSWORD_MAX = 256;

function authCard(title, intro, form) {
  return el(
    'div',
    { class: 'auth' },
    el('div', { class: 'panel auth-card' }, el('h1', { tabindex: '-1' }, title), intro ? el('p', { class: 'muted' }, intro) : null, form),
  );
}

function minutesFrom(retryAfter) {
  const seconds = Number(retryAfter);
  if (Number.isFinite(seconds) && seconds > 0) return Math.ceil(seconds / 60);
  // Retry-After may also be an HTTP date.
  const at = Date.parse(retryAfter ?? '');
  return Number.isFinite(at) ? Math.max(1, Math.ceil((at - Date.now()) / 60_000)) : 15;
}

export function renderLogin(main, _params, ctx) {
  const email = el('input', { id: 'login-email', name: 'email', type: 'email', required: true, autocomplete: 'username', spellcheck: 'false', autocapitalize: 'none' });
  const password = el('input', { id: 'login-password', name: 'password', type: 'password', required: true, autocomplete: 'current-password', maxlength: PASSWORD_MAX });
  const alert = el('p', { id: 'login-error', class: 'form-error', role: 'alert', hidden: true });
  const submit = el('button', { type: 'submit', id: 'login-submit', class: 'wide' }, 'Sign in');
  const form = el('form', { id: 'login-form', novalidate: true }, field('Email', email), field('Password', password), alert, submit);
  const show = (text) => {
    alert.textContent = text;
    alert.hidden = false;
  };

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearFieldErrors(form);
    alert.hidden = true;
    if (!email.value.trim() || !password.value) {
      show('Enter your email and password.');
      (email.value.trim() ? password : email).focus();
      return;
    }
    submit.disabled = true;
    try {
      const answer = await post('/login/', { email: email.value.trim(), password: password.value }, { auth: false });
      password.value = '';
      if (answer.second_factor === 'selfie') {
        // The hosted page checks the face and comes back to /console/?second_factor=signin.
        sessionStorage.setItem(SELFIE_URL, answer.url);
        ctx.announce('Password accepted. Now the selfie: taking you to the camera page.');
        location.assign(answer.url);
        return;
      }
      session.me = answer;
      ctx.signedIn();
    } catch (error) {
      password.value = '';
      if (error instanceof ApiError && error.status === 401) show('Wrong email or password.');
      else if (error instanceof ApiError && error.status === 429) {
        const minutes = minutesFrom(error.headers.get('Retry-After'));
        show(`Too many failed sign-ins. This account is locked: try again in ${minutes} ${minutes === 1 ? 'minute' : 'minutes'}.`);
      } else show(error.message);
      password.focus();
    } finally {
      submit.disabled = false;
    }
  });

  main.append(authCard('Sign in', 'The facegate operator console: review sessions, manage applications.', form));
  if (notice) {
    alert.replaceChildren(...notice);
    alert.hidden = false;
    notice = null;
  }
  if (!ctx.isFirstRender()) email.focus();
}

// ---- the selfie second factor --------------------------------------------------------------

const SELFIE_URL = 'facegate-console-selfie-url';
/** What the sign-in form says first: why the last sign-in did not finish. */
let notice = null;

/**
 * Back from the hosted page after the password (`?second_factor=signin`): the server looks at
 * the selfie's session and signs in, or says why not. Returns true when signed in.
 */
export async function finishSelfieSignIn() {
  try {
    session.me = await post('/login/selfie/', {}, { auth: false });
    sessionStorage.removeItem(SELFIE_URL);
    return true;
  } catch (error) {
    const url = sessionStorage.getItem(SELFIE_URL);
    if (error instanceof ApiError && error.status === 409 && url) {
      notice = ['The selfie is not finished. ', el('a', { href: url, id: 'selfie-continue' }, 'Continue the selfie'), ' or sign in again.'];
    } else {
      sessionStorage.removeItem(SELFIE_URL);
      notice = [error instanceof ApiError && error.status === 429 ? error.message : `${error.message}`];
    }
    return false;
  }
}

export function renderSetup(main, { token }, ctx) {
  const name = el('input', { id: 'setup-name', name: 'name', required: true, maxlength: 200, autocomplete: 'name' });
  const email = el('input', { id: 'setup-email', name: 'email', type: 'email', autocomplete: 'username', spellcheck: 'false', autocapitalize: 'none' });
  const password = el('input', { id: 'setup-password', name: 'password', type: 'password', required: true, minlength: PASSWORD_MIN, maxlength: PASSWORD_MAX, autocomplete: 'new-password' });
  const confirm = el('input', { id: 'setup-confirm', name: 'confirm', type: 'password', required: true, maxlength: PASSWORD_MAX, autocomplete: 'new-password' });
  const alert = el('p', { id: 'setup-error', class: 'form-error', role: 'alert', hidden: true });
  const submit = el('button', { type: 'submit', id: 'setup-submit', class: 'wide' }, 'Set password and sign in');
  const controls = { name, email, password, confirm };
  const form = el(
    'form',
    { id: 'setup-form', novalidate: true },
    field('Your name', name),
    // The page cannot tell a bootstrap link from an invitation, so the address is asked for
    // and the server ignores it on invitations.
    field('Email', email, 'Needed for the first administrator. Invited? Leave it empty: you sign in with the address you were invited with.'),
    field('Password', password, `${PASSWORD_MIN} to ${PASSWORD_MAX} characters. A long passphrase is best.`),
    field('Confirm password', confirm),
    alert,
    submit,
  );

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearFieldErrors(form);
    alert.hidden = true;
    const problems = {};
    if (!name.value.trim()) problems.name = ['Enter your name.'];
    if (password.value.length < PASSWORD_MIN) problems.password = [`At least ${PASSWORD_MIN} characters.`];
    else if (password.value.length > PASSWORD_MAX) problems.password = [`At most ${PASSWORD_MAX} characters.`];
    else if (confirm.value !== password.value) problems.confirm = ['The two passwords differ.'];
    if (Object.keys(problems).length) {
      showFieldErrors(form, problems, controls);
      form.querySelector('[aria-invalid="true"]')?.focus();
      return;
    }
    submit.disabled = true;
    try {
      const body = { token, name: name.value.trim(), password: password.value };
      if (email.value.trim()) body.email = email.value.trim();
      session.me = await post('/setup/', body, { auth: false });
      ctx.announce(`Welcome, ${session.me.operator.name}. You sign in as ${session.me.operator.email}.`, { survive: true });
      ctx.signedIn({ replaceSetup: true });
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        alert.textContent = 'This setup link is unknown, already used or expired. Ask an administrator for a new invitation.';
        alert.hidden = false;
      } else {
        const rest = error instanceof ApiError && error.fieldErrors ? showFieldErrors(form, error.fieldErrors, controls) : [error.message];
        if (rest.length) {
          alert.textContent = rest.join(' ');
          alert.hidden = false;
        }
        form.querySelector('[aria-invalid="true"]')?.focus();
      }
    } finally {
      submit.disabled = false;
    }
  });

  main.append(authCard('Set up your account', 'Choose the name other operators see and your password. This link works once.', form));
}
