// `#/`: what SentryAgent is, the two commands, and where to go next.

import { API_BASE } from './api.js';
import { codeBlock, h } from './dom.js';

export function home(main) {
  main.append(
    h('section', { class: 'hero' },
      h('h1', { text: 'Identity for AI agents, inside your own service' }),
      h('p', { class: 'lead', text: 'SentryAgent is an embeddable identity provider for AI agents, in Rust. Register agents, give them client credentials, issue short-lived signed tokens, and keep a tamper-evident audit log of everything they do. Multi-tenant, with a public marketplace, GitHub Actions federation, usage metering and Stripe billing.' }),
      h('div', { class: 'actions' },
        h('a', { class: 'button primary', href: '#/start', text: 'Get started' }),
        h('a', { class: 'button', href: '#/dashboard', text: 'Open the dashboard' }))),
    h('section', {},
      h('h2', { text: 'Two commands' }),
      h('p', { text: 'From a checkout of the repository: the example server, in memory, with no setup; and every test.' }),
      codeBlock('cargo run --example server   # the example server on 127.0.0.1:3000\ncargo test --workspace       # every test', 'Copy commands')),
    h('section', {},
      h('h2', { text: 'Where next' }),
      h('ul', { class: 'cards' },
        card('#/start', 'Get started', 'Create a tenant, register your first agent and get its first token, step by step.'),
        card('#/pricing', 'Pricing', 'The tiers, their limits and prices; upgrade through Stripe.'),
        card('#/sdks', 'SDKs and tools', 'The Rust crates, the CLI, the GitHub Actions and the OpenAPI document.'),
        card('#/marketplace', 'Marketplace', 'Browse the agents tenants have listed, with their DID documents.'),
        card('#/dashboard', 'Dashboard', 'Your agents, usage, audit log and trust policies.'),
        card(`${API_BASE}/docs/`, 'API explorer', 'Every route of the HTTP API, to read and to try.'))));
}

function card(href, title, text) {
  return h('li', { class: 'card' }, h('h3', {}, h('a', { href, text: title })), h('p', { text }));
}
