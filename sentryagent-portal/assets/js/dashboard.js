// `#/dashboard/…`: the tenant's dashboard, behind a sign-in. Overview (usage
// against the tier's limits, subscription); agents; audit log; trust policies.

import { api, currentTenant } from './api.js';
import { h, load, svg, time } from './dom.js';
import { limit } from './pricing.js';
import { signInForm } from './signin.js';
import { agentDetail, agents } from './agents.js';
import { audit } from './audit.js';
import { policies } from './policies.js';

const TABS = [['', 'Overview'], ['agents', 'Agents'], ['audit', 'Audit log'], ['policies', 'Trust policies']];

export function dashboard(main, [rest = ''], params) {
  const tenant = currentTenant();
  if (!tenant) {
    main.append(h('section', {}, h('h1', { text: 'Dashboard' }),
      signInForm(() => { window.dispatchEvent(new HashChangeEvent('hashchange')); })));
    return;
  }
  const [tab, id] = rest.split('/');
  main.append(h('nav', { class: 'tabs', 'aria-label': 'Dashboard' }, h('ul', {}, TABS.map(([path, name]) => h('li', {},
    h('a', { href: `#/dashboard${path ? `/${path}` : ''}`, text: name, 'aria-current': (tab || '') === path ? 'page' : false }))))));
  const view = h('div', { class: 'view' });
  main.append(view);
  if (!tab) overview(view, tenant);
  else if (tab === 'agents' && id) agentDetail(view, decodeURIComponent(id));
  else if (tab === 'agents') agents(view, params);
  else if (tab === 'audit') audit(view, params);
  else if (tab === 'policies') policies(view);
  else view.append(h('p', { text: 'There is no such dashboard page.' }));
}

function overview(view, tenant) {
  const usage = h('div');
  const subscription = h('div');
  view.append(h('section', {},
    h('h1', { text: tenant.name }),
    h('p', { class: 'muted' }, 'Tenant ', h('code', { text: tenant.tenantId }), ' · tier ', h('strong', { text: tenant.tier })),
    h('h2', { text: 'Usage' }), usage,
    h('h2', { text: 'Subscription' }), subscription));
  load(usage, async () => {
    const [report, listed] = await Promise.all([
      api('GET', '/usage'),
      api('GET', '/agents?limit=100'),
    ]);
    // The built-in agents do not count against the limit; decommissioned ones neither.
    const counted = listed.items.filter((a) => a.status !== 'decommissioned' && !a.name.endsWith('@sentryagent.local')).length;
    const agentsText = listed.nextCursor ? `${counted}+` : String(counted);
    const l = report.limits;
    return [
      report.enforced
        ? h('p', { text: `This server enforces the ${report.tier} tier's limits.` })
        : h('p', { class: 'notice', text: 'This server does not enforce tier limits: usage is metered and shown here, but nothing is refused for going over.' }),
      chart([
        { label: `API calls today (${report.today.period})`, value: report.today.apiCalls, max: l.apiCallsPerDay },
        { label: 'Agents', value: counted, max: l.maxAgents, text: agentsText },
      ]),
      h('dl', { class: 'facts' },
        h('dt', { text: 'Today' }), h('dd', { text: `${report.today.apiCalls.toLocaleString()} API calls, ${report.today.tokenIssuances.toLocaleString()} tokens issued (limit: ${limit(l.apiCallsPerDay, 'calls a day')})` }),
        h('dt', { text: `This month (${report.month.period})` }), h('dd', { text: `${report.month.apiCalls.toLocaleString()} API calls, ${report.month.tokenIssuances.toLocaleString()} tokens issued` }),
        h('dt', { text: 'Agents' }), h('dd', { text: `${agentsText} of ${limit(l.maxAgents, '')}`.trim() }),
        h('dt', { text: 'Audit retention' }), h('dd', { text: `${l.auditRetentionDays} days` })),
    ];
  }, 'Loading usage');
  load(subscription, async () => {
    const s = await api('GET', '/billing/subscription');
    return h('dl', { class: 'facts' },
      h('dt', { text: 'Tier' }), h('dd', { text: s.tier }),
      h('dt', { text: 'Status' }), h('dd', { text: s.status === 'none' ? 'No subscription (free tier)' : s.status }),
      s.currentPeriodEnd && [h('dt', { text: 'Paid until' }), h('dd', {}, time(s.currentPeriodEnd))],
      h('dt', { text: 'Change' }), h('dd', {}, h('a', { href: '#/pricing', text: 'See the tiers and upgrade' })));
  }, 'Loading the subscription');
}

/** A bar chart of values against their limits: HTML labels (readable at
 *  any width) over SVG bars (no inline style, which the CSP forbids). */
function chart(rows) {
  return h('figure', { class: 'usage' }, rows.map((row) => {
    const limited = row.max !== null && row.max !== undefined;
    const share = limited && row.max > 0 ? Math.min(row.value / row.max, 1) : 0;
    const over = limited && row.value >= row.max;
    const label = `${row.label}: ${row.text ?? row.value.toLocaleString()} of ${limited ? row.max.toLocaleString() : 'unlimited'}`;
    return h('div', { class: 'meter' },
      h('p', { class: 'meter-label', text: label }),
      svg('svg', { viewBox: '0 0 1000 20', preserveAspectRatio: 'none', class: 'chart', role: 'img', 'aria-label': label },
        svg('rect', { x: 0, y: 0, width: 1000, height: 20, class: 'chart-track' }),
        svg('rect', { x: 0, y: 0, width: Math.round(Math.max(share * 1000, row.value > 0 ? 6 : 0)), height: 20, class: over ? 'chart-bar over' : 'chart-bar' })));
  }));
}
