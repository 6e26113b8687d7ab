// `#/pricing`: the tiers from `GET /tiers`, and an upgrade button that starts
// Stripe Checkout for the signed-in tenant.

import { api, currentTenant } from './api.js';
import { busy, h, load } from './dom.js';

/** `cents` in `currency`, for people. */
export function money(cents, currency) {
  try {
    return new Intl.NumberFormat(undefined, { style: 'currency', currency: currency.toUpperCase() }).format(cents / 100);
  } catch {
    return `${(cents / 100).toFixed(2)} ${currency}`;
  }
}

/** A limit for people: `null` is unlimited. */
export function limit(value, unit) {
  return value === null || value === undefined ? `Unlimited ${unit}` : `${Number(value).toLocaleString()} ${unit}`;
}

export function pricing(main) {
  const list = h('div', { class: 'tiers' });
  main.append(h('section', {},
    h('h1', { text: 'Pricing' }),
    h('p', { class: 'lead', text: 'Start free; upgrade when your agents need more. Prices are per tenant and month.' }),
    list));
  load(list, async () => {
    const tenant = currentTenant();
    const { items } = await api('GET', '/tiers', { auth: false });
    return items.map((tier) => tierCard(tier, tenant));
  }, 'Loading the tiers');
}

function tierCard(tier, tenant) {
  const current = tenant && tenant.tier === tier.name;
  const errors = h('div', { class: 'errors' });
  let action;
  if (current) {
    action = h('p', { class: 'badge badge-active', text: 'Your tier' });
  } else if (tier.monthlyPrice === 0) {
    action = h('a', { class: 'button', href: '#/start', text: 'Start free' });
  } else if (!tenant) {
    action = h('a', { class: 'button', href: '#/signin?next=/pricing', text: `Sign in to upgrade to ${tier.displayName}` });
  } else {
    action = h('button', { type: 'button', class: 'primary', text: `Upgrade to ${tier.displayName}` });
    action.addEventListener('click', async () => {
      const checkout = await busy(action, errors, async () => {
        try {
          return await api('POST', '/billing/checkout', { json: { tier: tier.name } });
        } catch (error) {
          if (error.status === 503) {
            error.message = `Billing is not configured on this server, so upgrades are not possible here: its operator has not connected Stripe. (${error.message})`;
          }
          throw error;
        }
      });
      if (checkout?.url) {
        errors.replaceChildren(h('p', { role: 'status', text: 'Taking you to Stripe Checkout…' }));
        window.location.assign(checkout.url);
      }
    });
  }
  const l = tier.limits;
  return h('article', { class: `card tier${current ? ' current' : ''}`, 'aria-label': tier.displayName },
    h('h2', { text: tier.displayName }),
    h('p', { class: 'price' }, h('strong', { text: money(tier.monthlyPrice, tier.currency) }), ' / month'),
    h('ul', {},
      h('li', { text: limit(l.maxAgents, 'agents') }),
      h('li', { text: limit(l.apiCallsPerDay, 'API calls a day') }),
      h('li', { text: `Audit log kept ${l.auditRetentionDays.toLocaleString()} days` })),
    action, errors);
}
