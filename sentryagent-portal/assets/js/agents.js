// The dashboard's agents: a filtered, paged list; an agent's page with
// suspend / reactivate / decommission (confirmed) and its credentials
// (create, rotate, revoke; a new secret is shown once).

import { api, query } from './api.js';
import { badge, busy, confirmDialog, copyable, field, h, load, paged, table, time } from './dom.js';

export function agents(view, params) {
  const status = h('select', { name: 'status' },
    [['', 'Any status'], ['active', 'Active'], ['suspended', 'Suspended'], ['decommissioned', 'Decommissioned']]
      .map(([value, text]) => h('option', { value, text })));
  status.value = params.get('status') || '';
  const q = h('input', { name: 'q', type: 'search', value: params.get('q') || '', placeholder: 'Name or description' });
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter agents' },
    field('Status', status), field('Search', q),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', text: 'Filter' })));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    window.location.hash = `/dashboard/agents${query({ status: status.value, q: q.value.trim() })}`;
  });
  const list = h('div', { 'aria-live': 'polite' });
  view.append(h('section', {}, h('h1', { text: 'Agents' }), form, list,
    h('p', {}, h('a', { href: '#/start', text: 'Register an agent' }), ' with the wizard.')));
  const filters = { status: params.get('status'), q: params.get('q'), limit: 20 };
  paged(list,
    (cursor) => api('GET', `/agents${query({ ...filters, cursor })}`),
    (items) => (items.length ? table(['Name', 'Status', 'Capabilities', 'Created'], items.map((a) => h('tr', {},
      h('td', {}, h('a', { href: `#/dashboard/agents/${encodeURIComponent(a.agentId)}`, text: a.name })),
      h('td', {}, badge(a.status)),
      h('td', { text: a.capabilities.join(', ') }),
      h('td', {}, time(a.createdAt)))), 'Agents') : h('p', { class: 'empty', text: 'No agent matches.' })),
    'Loading agents');
}

export function agentDetail(view, agentId) {
  const id = encodeURIComponent(agentId);
  const head = h('div');
  const creds = h('div');
  const fresh = h('div', { 'aria-live': 'polite' });
  view.append(h('section', {}, h('p', {}, h('a', { href: '#/dashboard/agents', text: '← Agents' })), head,
    h('h2', { text: 'Credentials' }), fresh, creds));

  const showAgent = () => load(head, async () => {
    const a = await api('GET', `/agents/${id}`);
    const errors = h('div', { class: 'errors' });
    const actions = h('div', { class: 'actions' });
    const setStatus = (target, verb) => {
      const button = h('button', { type: 'button', text: verb, class: target === 'suspended' ? 'warn' : 'primary' });
      button.addEventListener('click', async () => {
        const ok = await confirmDialog({
          title: `${verb} ${a.name}?`,
          message: target === 'suspended'
            ? 'Its tokens stop working at once (AGENT_SUSPENDED) and it cannot get new ones until it is reactivated.'
            : 'Its credentials and unexpired tokens work again.',
          confirmLabel: verb,
        });
        if (ok && await busy(button, errors, () => api('PATCH', `/agents/${id}`, { json: { status: target } }))) showAgent();
      });
      return button;
    };
    if (a.status === 'active') actions.append(setStatus('suspended', 'Suspend'));
    if (a.status === 'suspended') actions.append(setStatus('active', 'Reactivate'));
    if (a.status !== 'decommissioned') {
      const remove = h('button', { type: 'button', class: 'danger', text: 'Decommission' });
      remove.addEventListener('click', async () => {
        const ok = await confirmDialog({
          title: `Decommission ${a.name}?`,
          message: 'This is permanent: every credential is revoked and every live token stops working at once. The agent cannot be reactivated.',
          confirmLabel: 'Decommission', danger: true, typeToConfirm: a.name,
        });
        if (ok && await busy(remove, errors, () => api('DELETE', `/agents/${id}`))) {
          showAgent();
          showCreds();
        }
      });
      actions.append(remove);
    }
    return [
      h('h1', {}, h('span', { text: a.name }), ' ', badge(a.status)),
      a.description && h('p', { class: 'lead', text: a.description }),
      h('dl', { class: 'facts' },
        h('dt', { text: 'Agent id' }), h('dd', {}, h('code', { text: a.agentId })),
        h('dt', { text: 'DID' }), h('dd', {}, h('code', { text: a.did })),
        h('dt', { text: 'Capabilities' }), h('dd', { text: a.capabilities.join(', ') || '—' }),
        h('dt', { text: 'Scopes' }), h('dd', { text: a.scopes.join(' ') || '—' }),
        h('dt', { text: 'Listed in the marketplace' }), h('dd', { text: a.listed ? 'Yes' : 'No' }),
        h('dt', { text: 'Created' }), h('dd', {}, time(a.createdAt)),
        h('dt', { text: 'Updated' }), h('dd', {}, time(a.updatedAt)),
        h('dt', { text: 'Metadata' }), h('dd', {}, h('code', { text: JSON.stringify(a.metadata) }))),
      actions, errors,
      h('p', {}, h('a', { href: `#/dashboard/audit${query({ agentId: a.agentId })}`, text: 'Its audit trail' })),
    ];
  }, 'Loading the agent');

  const secretShown = (what, credential) => fresh.replaceChildren(h('div', { class: 'card secret-once' },
    h('p', { class: 'warning', role: 'note', text: `${what}: the new client secret is shown now and will not be shown again.` }),
    copyable('Client id', credential.clientId),
    copyable('Client secret', credential.clientSecret, { secret: true }),
    h('button', { type: 'button', text: 'I have saved it', onclick: () => fresh.replaceChildren() })));

  const showCreds = () => load(creds, async () => {
    const page = await api('GET', `/agents/${id}/credentials`);
    const errors = h('div', { class: 'errors' });
    const create = h('button', { type: 'button', class: 'primary', text: 'Create a credential' });
    create.addEventListener('click', async () => {
      const credential = await busy(create, errors, () => api('POST', `/agents/${id}/credentials`, { json: {} }));
      if (credential) {
        secretShown('Credential created', credential);
        showCreds();
      }
    });
    const rows = page.items.map((c) => {
      const cell = h('td', { class: 'row-actions' });
      if (c.status === 'active') {
        const rotate = h('button', { type: 'button', class: 'small', text: 'Rotate' });
        rotate.addEventListener('click', async () => {
          const ok = await confirmDialog({ title: `Rotate ${c.clientId}?`, message: 'A new secret replaces the old one, which stops working at once.', confirmLabel: 'Rotate' });
          const rotated = ok && await busy(rotate, errors, () => api('POST', `/agents/${id}/credentials/${encodeURIComponent(c.credentialId)}/rotate`));
          if (rotated) {
            secretShown('Credential rotated', rotated);
            showCreds();
          }
        });
        const revoke = h('button', { type: 'button', class: 'small danger', text: 'Revoke' });
        revoke.addEventListener('click', async () => {
          const ok = await confirmDialog({ title: `Revoke ${c.clientId}?`, message: 'It stops working at once; the agent keeps its other credentials.', confirmLabel: 'Revoke', danger: true });
          if (ok && await busy(revoke, errors, () => api('DELETE', `/agents/${id}/credentials/${encodeURIComponent(c.credentialId)}`))) showCreds();
        });
        cell.append(rotate, ' ', revoke);
      }
      return h('tr', {},
        h('td', {}, h('code', { text: c.clientId })),
        h('td', {}, badge(c.status)),
        h('td', {}, time(c.createdAt)),
        h('td', {}, time(c.rotatedAt)),
        h('td', {}, time(c.expiresAt)),
        cell);
    });
    return [
      rows.length ? table(['Client id', 'Status', 'Created', 'Rotated', 'Expires', 'Actions'], rows, 'Credentials') : h('p', { class: 'empty', text: 'No credentials.' }),
      errors,
      h('div', { class: 'actions' }, create),
    ];
  }, 'Loading credentials');

  showAgent();
  showCreds();
}
