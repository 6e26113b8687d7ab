// The dashboard's trust policies (GitHub Actions OIDC): list, create, delete,
// and the evaluate tool (a token or claims → which policy admits it and why
// the others do not).

import { api } from './api.js';
import { badge, busy, confirmDialog, field, h, load, table, time } from './dom.js';

export function policies(view) {
  const list = h('div', { 'aria-live': 'polite' });
  view.append(h('section', {}, h('h1', { text: 'Trust policies' }),
    h('p', { text: 'A trust policy lets GitHub Actions workflows of a repository get tokens with no stored secret: for the agent it names, or (bootstrap, no agent) to register agents.' }),
    list, h('h2', { text: 'New policy' }), createForm(() => show()), h('h2', { text: 'Evaluate' }), evaluateTool()));
  const show = () => load(list, async () => {
    const page = await api('GET', '/oidc/trust-policies');
    if (!page.items.length) return h('p', { class: 'empty', text: 'No trust policy yet.' });
    const errors = h('div', { class: 'errors' });
    return [table(['Repository', 'Mode', 'Agent', 'Branch', 'Description', 'Created', ''], page.items.map((p) => {
      const remove = h('button', { type: 'button', class: 'small danger', text: 'Delete' });
      remove.addEventListener('click', async () => {
        const ok = await confirmDialog({ title: `Delete the policy for ${p.repository}?`, message: 'Workflows it admitted cannot exchange tokens any more.', confirmLabel: 'Delete', danger: true });
        if (ok && await busy(remove, errors, () => api('DELETE', `/oidc/trust-policies/${encodeURIComponent(p.policyId)}`))) show();
      });
      return h('tr', {},
        h('td', {}, h('code', { text: p.repository })),
        h('td', {}, badge(p.mode)),
        h('td', {}, p.agentId ? h('a', { href: `#/dashboard/agents/${encodeURIComponent(p.agentId)}`, text: p.agentId.slice(0, 8), title: p.agentId }) : '—'),
        h('td', { text: p.branch || p.ref || 'any' }),
        h('td', { text: p.description || '' }),
        h('td', {}, time(p.createdAt)),
        h('td', {}, remove));
    }), 'Trust policies'), errors];
  }, 'Loading trust policies');
  show();
}

function createForm(done) {
  const repository = h('input', { name: 'repository', type: 'text', required: true, placeholder: 'acme/app', spellcheck: 'false' });
  const branch = h('input', { name: 'branch', type: 'text', placeholder: 'main', spellcheck: 'false' });
  const agent = h('select', { name: 'agentId' }, h('option', { value: '', text: 'None: bootstrap (registers agents)' }));
  const description = h('input', { name: 'description', type: 'text' });
  const errors = h('div', { class: 'errors' });
  const submit = h('button', { type: 'submit', class: 'primary', text: 'Create policy' });
  api('GET', '/agents?status=active&limit=100').then((page) => {
    for (const a of page.items.filter((x) => !x.name.endsWith('@sentryagent.local'))) agent.append(h('option', { value: a.agentId, text: a.name }));
  }).catch(() => {});
  const form = h('form', { class: 'card', 'aria-label': 'New trust policy' },
    field('Repository', repository, 'owner/name; the name may be a pattern.'),
    field('Branch', branch, 'Optional: only runs on this branch (a pattern).'),
    field('Agent', agent), field('Description', description), errors,
    h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = { provider: 'github', repository: repository.value.trim() };
    if (branch.value.trim()) body.branch = branch.value.trim();
    if (agent.value) body.agentId = agent.value;
    if (description.value.trim()) body.description = description.value.trim();
    if (await busy(submit, errors, () => api('POST', '/oidc/trust-policies', { json: body }))) {
      form.reset();
      done();
    }
  });
  return form;
}

function evaluateTool() {
  const kind = h('select', { name: 'kind' }, h('option', { value: 'token', text: 'A workflow\'s OIDC token' }), h('option', { value: 'claims', text: 'Claims (JSON)' }));
  const input = h('textarea', { name: 'input', rows: '6', spellcheck: 'false', placeholder: 'eyJhbGciOi… or {"repository": "acme/app", "repository_id": "1", "repository_owner": "acme", "repository_owner_id": "2", "ref": "refs/heads/main"}' });
  const errors = h('div', { class: 'errors' });
  const result = h('div', { 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'primary', text: 'Evaluate' });
  const form = h('form', { class: 'card', 'aria-label': 'Evaluate trust policies' },
    h('p', { text: 'Paste a token (an expired one is fine) or its claims: see which policy an exchange would use, and the first condition each other policy fails. Nothing is issued.' }),
    field('What you paste', kind), field('Token or claims', input), errors, h('div', { class: 'actions' }, submit), result);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    let body;
    if (kind.value === 'claims') {
      try {
        body = { claims: JSON.parse(input.value) };
      } catch (error) {
        errors.replaceChildren(h('div', { class: 'error', role: 'alert', text: `These claims are not JSON: ${error.message}` }));
        return;
      }
    } else {
      body = { token: input.value.trim() };
    }
    result.replaceChildren();
    const answer = await busy(submit, errors, () => api('POST', '/oidc/trust-policies/evaluate', { json: body }));
    if (!answer) return;
    result.append(
      answer.match
        ? h('p', { class: 'chain chain-valid' }, badge('Admitted', 'valid'), ' by policy ', h('code', { text: answer.match }), '.')
        : h('p', { class: 'chain chain-broken' }, badge('Refused', 'broken'), ` No policy admits these claims${answer.refusal ? ` (${answer.refusal})` : ''}.`),
      answer.token && h('p', { text: `Token: ${JSON.stringify(answer.token)}` }),
      answer.policies.length ? table(['Policy', 'Repository', 'Verdict', 'Why not'], answer.policies.map((v) => h('tr', {},
        h('td', {}, h('code', { text: v.policyId.slice(0, 8), title: v.policyId })),
        h('td', {}, h('code', { text: v.repository })),
        h('td', {}, badge(v.admits ? 'admits' : 'fails', v.admits ? 'valid' : 'broken')),
        h('td', { text: v.failed ? `${v.failed.condition}: allows ${JSON.stringify(v.failed.allowed)}, got ${JSON.stringify(v.failed.provided)}` : '' }))), 'Verdicts')
        : h('p', { text: 'The tenant has no policy for this provider.' }));
  });
  return form;
}
