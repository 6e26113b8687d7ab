// The portal's router: one page, addressed by the URL's fragment
// (`#/pricing`, `#/dashboard/agents?status=active`), so the session's token
// survives moving between pages and never leaves the tab.

import { currentTenant, onSession, signOut } from './api.js';
import { h } from './dom.js';
import { home } from './home.js';
import { wizard } from './wizard.js';
import { pricing } from './pricing.js';
import { sdks } from './sdks.js';
import { marketplace, marketplaceAgent } from './marketplace.js';
import { dashboard } from './dashboard.js';
import { signInPage } from './signin.js';

const routes = [
  [/^\/?$/, home, 'SentryAgent'],
  [/^\/start$/, wizard, 'Get started'],
  [/^\/pricing$/, pricing, 'Pricing'],
  [/^\/sdks$/, sdks, 'SDKs and tools'],
  [/^\/marketplace$/, marketplace, 'Marketplace'],
  [/^\/marketplace\/([^/]+)$/, marketplaceAgent, 'Marketplace agent'],
  [/^\/signin$/, signInPage, 'Sign in'],
  [/^\/dashboard(?:\/(.*))?$/, dashboard, 'Dashboard'],
];

/** The fragment's path and query. */
export function location() {
  const raw = window.location.hash.replace(/^#/, '') || '/';
  const at = raw.indexOf('?');
  const path = at < 0 ? raw : raw.slice(0, at);
  return { path, params: new URLSearchParams(at < 0 ? '' : raw.slice(at + 1)) };
}

/** Goes to `path` (a fragment path with an optional query). */
export function go(path) {
  if (window.location.hash === `#${path}`) render();
  else window.location.hash = path;
}

const main = document.getElementById('main');
let first = true;

function render() {
  const { path, params } = location();
  const found = routes.find(([pattern]) => pattern.test(path));
  main.replaceChildren();
  for (const link of document.querySelectorAll('#nav a')) {
    const target = link.getAttribute('href').slice(1);
    if (path === target || path.startsWith(`${target}/`)) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  if (!found) {
    main.append(h('section', {}, h('h1', { text: 'Page not found' }), h('p', {}, 'There is no page here. ', h('a', { href: '#/', text: 'Go home' }))));
    return;
  }
  const [pattern, page, title] = found;
  document.title = title === 'SentryAgent' ? title : `${title} · SentryAgent`;
  page(main, path.match(pattern).slice(1).map((p) => (p === undefined ? p : decodeURIComponent(p))), params);
  // Keyboard and screen-reader users land on the new content.
  if (!first) main.focus();
  first = false;
}

function showSession(tenant) {
  const slot = document.getElementById('session');
  if (!tenant) {
    slot.replaceChildren(h('a', { href: '#/signin', text: 'Sign in' }));
    return;
  }
  slot.replaceChildren(
    h('span', { text: `Signed in: ${tenant.name}` }), ' ',
    h('button', { type: 'button', class: 'link', text: 'Sign out', onclick: () => { signOut(); go('/'); } }));
}

onSession((tenant) => {
  showSession(tenant);
  // A page that needs a session shows the sign-in form again.
  if (!tenant && location().path.startsWith('/dashboard')) render();
});
window.addEventListener('hashchange', render);
showSession(currentTenant());
render();
