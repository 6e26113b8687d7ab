// `#/marketplace`: search the public marketplace, filter by capability, page
// through; `#/marketplace/{id}`: an agent's public page with its DID document
// and keys. Everything shown is the agents' owners' text: only textContent.

import { API_BASE, api, query } from './api.js';
import { codeBlock, field, h, load, paged, time } from './dom.js';

export function marketplace(main, _match, params) {
  const q = h('input', { name: 'q', type: 'search', value: params.get('q') || '', placeholder: 'Search names and descriptions' });
  const capability = h('input', { name: 'capability', type: 'text', value: params.get('capability') || '', placeholder: 'e.g. build', spellcheck: 'false' });
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Search the marketplace' },
    field('Search', q), field('Capability', capability),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', text: 'Search' })));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    window.location.hash = `/marketplace${query({ q: q.value.trim(), capability: capability.value.trim() })}`;
  });
  const results = h('div', { class: 'results', 'aria-live': 'polite' });
  main.append(h('section', {},
    h('h1', { text: 'Marketplace' }),
    h('p', { class: 'lead', text: 'Agents their tenants have listed. Every agent has a did:web DID whose document is public.' }),
    form, results));
  const filters = { q: params.get('q'), capability: params.get('capability'), limit: 12 };
  paged(results,
    (cursor) => api('GET', `/marketplace/agents${query({ ...filters, cursor })}`, { auth: false }),
    (items) => (items.length
      ? h('ul', { class: 'cards agents' }, items.map(agentCard))
      : h('p', { class: 'empty', text: 'No listed agent matches.' })),
    'Searching');
}

function capabilityChips(capabilities) {
  return h('ul', { class: 'chips', 'aria-label': 'Capabilities' }, capabilities.map((c) => h('li', {},
    h('a', { href: `#/marketplace${query({ capability: c })}`, text: c }))));
}

function agentCard(agent) {
  return h('li', { class: 'card agent' },
    h('h2', {}, h('a', { href: `#/marketplace/${encodeURIComponent(agent.agentId)}`, text: agent.name })),
    h('p', { class: 'by', text: `by ${agent.tenantName}` }),
    agent.description && h('p', { text: agent.description }),
    capabilityChips(agent.capabilities));
}

export function marketplaceAgent(main, [agentId]) {
  const body = h('div');
  main.append(h('section', {}, h('p', {}, h('a', { href: '#/marketplace', text: '← Marketplace' })), body));
  load(body, async () => {
    const id = encodeURIComponent(agentId);
    const [agent, did] = await Promise.all([
      api('GET', `/marketplace/agents/${id}`, { auth: false }),
      api('GET', `/agents/${id}/did.json`, { auth: false }),
    ]);
    const keys = did.verification_method || [];
    return [
      h('h1', { text: agent.name }),
      h('p', { class: 'by', text: `by ${agent.tenantName}` }),
      agent.description && h('p', { class: 'lead', text: agent.description }),
      capabilityChips(agent.capabilities),
      h('dl', { class: 'facts' },
        h('dt', { text: 'DID' }), h('dd', {}, h('code', { text: agent.did })),
        h('dt', { text: 'Listed since' }), h('dd', {}, time(agent.createdAt)),
        h('dt', { text: 'DID document' }), h('dd', {}, h('a', { href: `${API_BASE}/agents/${id}/did.json`, text: 'did.json' }))),
      h('h2', { text: `Keys (${keys.length})` }),
      keys.length
        ? h('ul', { class: 'keys' }, keys.map((k) => h('li', {}, h('code', { text: k.id || '' }), ` ${k.type || ''}`)))
        : h('p', { text: 'No public keys registered: the agent authenticates with client credentials.' }),
      h('h2', { text: 'DID document' }),
      codeBlock(JSON.stringify(did, null, 2), 'Copy DID document'),
    ];
  }, 'Loading the agent');
}
