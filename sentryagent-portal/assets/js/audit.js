// The dashboard's audit log: filters (agent, action, outcome, time range),
// pages, and the hash chain's verification as a badge.

import { api, query } from './api.js';
import { badge, field, h, load, paged, table, time } from './dom.js';

/** `datetime-local` value (the person's time zone) → RFC 3339 UTC. */
function utc(local) {
  if (!local) return '';
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? '' : date.toISOString();
}

/** RFC 3339 → `datetime-local` value, for filling the form back in. */
function local(iso) {
  const date = iso ? new Date(iso) : null;
  if (!date || Number.isNaN(date.getTime())) return '';
  const shifted = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
  return shifted.toISOString().slice(0, 16);
}

export function audit(view, params) {
  const agentId = h('input', { name: 'agentId', type: 'text', value: params.get('agentId') || '', placeholder: 'Agent id (UUID)', spellcheck: 'false' });
  const action = h('input', { name: 'action', type: 'text', value: params.get('action') || '', placeholder: 'e.g. token.issued', spellcheck: 'false', list: 'audit-actions' });
  const actions = h('datalist', { id: 'audit-actions' }, ['agent.created', 'agent.updated', 'agent.decommissioned', 'credential.created', 'credential.rotated', 'credential.revoked', 'token.issued', 'token.denied', 'token.revoked', 'oidc.exchanged', 'oidc.denied', 'permission.denied'].map((a) => h('option', { value: a })));
  const outcome = h('select', { name: 'outcome' }, [['', 'Any outcome'], ['success', 'Success'], ['failure', 'Failure']].map(([value, text]) => h('option', { value, text })));
  outcome.value = params.get('outcome') || '';
  const from = h('input', { name: 'from', type: 'datetime-local', value: local(params.get('from')) });
  const to = h('input', { name: 'to', type: 'datetime-local', value: local(params.get('to')) });
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter the audit log' },
    field('Agent', agentId), field('Action', action), actions, field('Outcome', outcome), field('From', from), field('To', to),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', text: 'Filter' }),
      h('a', { class: 'button', href: '#/dashboard/audit', text: 'Clear' })));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    window.location.hash = `/dashboard/audit${query({ agentId: agentId.value.trim(), action: action.value.trim(), outcome: outcome.value, from: utc(from.value), to: utc(to.value) })}`;
  });
  const verification = h('div', { class: 'verification', 'aria-live': 'polite' });
  const list = h('div', { 'aria-live': 'polite' });
  view.append(h('section', {}, h('h1', { text: 'Audit log' }), verification, form, list));

  load(verification, async () => {
    const v = await api('GET', '/audit/verify');
    if (v.valid) {
      // Incremental: the events since the last check, linked to the ones checked before.
      const scope = v.mode === 'incremental' && v.fromSeq > 0
        ? ` The ${v.checked.toLocaleString()} events since event ${v.fromSeq.toLocaleString()} are intact and link to the ones checked before.`
        : ` All ${v.checked.toLocaleString()} events are intact and in order.`;
      const full = v.lastFullVerification ? ` Last full verification: ${new Date(v.lastFullVerification.at).toLocaleString()}.` : '';
      return h('p', { class: 'chain chain-valid', id: 'chain-badge' }, badge('Chain valid', 'valid'), scope + full);
    }
    return h('p', { class: 'chain chain-broken', id: 'chain-badge', role: 'alert' }, badge('Chain broken', 'broken'),
      ` ${v.checked.toLocaleString()} events check out; event `, h('code', { text: v.firstInvalidEventId || '?' }),
      ` breaks the chain${v.reason ? `: ${v.reason}` : ''}.`);
  }, 'Verifying the chain');

  const filters = {};
  for (const key of ['agentId', 'action', 'outcome', 'from', 'to']) filters[key] = params.get(key);
  filters.limit = 25;
  paged(list,
    (cursor) => api('GET', `/audit${query({ ...filters, cursor })}`),
    (items) => (items.length ? table(['When', 'Action', 'Outcome', 'Agent', 'Actor', 'Address', 'Details'], items.map((e) => h('tr', {},
      h('td', {}, time(e.at)),
      h('td', {}, h('code', { text: e.action })),
      h('td', {}, badge(e.outcome)),
      h('td', {}, e.agentId ? h('a', { href: `#/dashboard/agents/${encodeURIComponent(e.agentId)}`, text: e.agentId.slice(0, 8), title: e.agentId }) : '—'),
      h('td', { text: e.actor }),
      h('td', { text: e.ip || '—' }),
      h('td', {}, Object.keys(e.details || {}).length ? h('details', {}, h('summary', { text: `#${e.seq}` }), h('pre', { text: JSON.stringify(e.details, null, 2) })) : `#${e.seq}`))), 'Audit events')
      : h('p', { class: 'empty', text: 'No event matches.' })),
    'Loading events');
}
