// Signing in with a tenant's admin client credentials.

import { signIn } from './api.js';
import { busy, field, h } from './dom.js';

/** A sign-in form; `then(tenant)` runs once signed in. */
export function signInForm(then, intro = 'Sign in with your tenant\'s admin client credentials (the ones the wizard or the server printed).') {
  const clientId = h('input', { name: 'client_id', type: 'text', required: true, autocomplete: 'username', spellcheck: 'false', placeholder: 'sa_ci_…' });
  const secret = h('input', { name: 'client_secret', type: 'password', required: true, autocomplete: 'current-password', placeholder: 'sa_sk_…' });
  const errors = h('div', { class: 'errors' });
  const submit = h('button', { type: 'submit', class: 'primary', text: 'Sign in' });
  const form = h('form', { class: 'card narrow', 'aria-label': 'Sign in' },
    h('p', { text: intro }),
    field('Client id', clientId),
    field('Client secret', secret, 'Used once to get an access token, then forgotten. Only the token stays, in this tab\'s memory.'),
    errors,
    h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const id = clientId.value.trim();
    const value = secret.value;
    // The secret leaves the page as soon as the request is made.
    secret.value = '';
    const tenant = await busy(submit, errors, () => signIn(id, value));
    if (tenant) then(tenant);
  });
  return form;
}

/** `#/signin`: back to `next` (or the dashboard) once signed in. */
export function signInPage(main, _match, params) {
  const next = params.get('next');
  const target = next && /^\/[a-z/]*$/.test(next) ? next : '/dashboard';
  main.append(h('section', {}, h('h1', { text: 'Sign in' }), signInForm(() => { window.location.hash = target; })));
}
