// `#/start`: the onboarding wizard. Create a tenant → save its admin
// credential (shown once) → register the first agent → get its first token →
// snippets filled in with the real values, except secrets.

import { API_BASE, API_URL, api, currentTenant, issueToken, useToken } from './api.js';
import { busy, codeBlock, copyable, download, field, h } from './dom.js';

const STEPS = ['Create a tenant', 'Save the admin credential', 'Register an agent', 'Get its first token', 'Use it'];

export function wizard(main) {
  // This run's state: secrets are dropped as soon as they have been used.
  const state = { step: 0, created: null, tenant: null, agent: null, token: null };
  const progress = h('ol', { class: 'steps', 'aria-label': 'Progress' });
  const counter = h('p', { class: 'step-count', 'aria-live': 'polite', tabindex: '-1' });
  const body = h('div', { class: 'step-body' });
  main.append(h('section', {}, h('h1', { text: 'Get started' }), progress, counter, body));

  const show = (step) => {
    state.step = step;
    progress.replaceChildren(...STEPS.map((name, i) => h('li', {
      class: i < step ? 'done' : i === step ? 'current' : 'todo',
      'aria-current': i === step ? 'step' : false,
    }, h('span', { class: 'num', 'aria-hidden': 'true', text: i < step ? '✓' : String(i + 1) }), h('span', { text: name }))));
    counter.textContent = `Step ${step + 1} of ${STEPS.length}: ${STEPS[step]}`;
    body.replaceChildren(...[[createTenant, saveAdmin, registerAgent, firstToken, snippets][step](state, show)].flat());
    // The first step starts at its field; later ones at the step's name.
    (step === 0 ? body.querySelector('input') : counter)?.focus();
  };
  show(0);
}

function createTenant(state, show) {
  const name = h('input', { name: 'tenant', type: 'text', required: true, maxlength: '200', placeholder: 'Acme', autocomplete: 'organization' });
  const key = h('input', { name: 'operator_key', type: 'password', autocomplete: 'off' });
  const keyBox = h('details', { class: 'operator' },
    h('summary', { text: 'This server\'s sign-up needs an operator key' }),
    field('Operator key', key, 'Only when the server\'s operator gave you one; it is sent once, with this request.'));
  const errors = h('div', { class: 'errors' });
  const submit = h('button', { type: 'submit', class: 'primary', text: 'Create tenant' });
  const form = h('form', { class: 'card', 'aria-label': 'Create a tenant' },
    h('p', { text: 'A tenant holds your agents, their credentials and their audit log. Its first credential is an admin credential.' }),
    field('Tenant name', name, 'Your organisation or project.'),
    keyBox, errors, h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const headers = key.value ? { Authorization: `Bearer ${key.value}` } : {};
    let refused = null;
    const created = await busy(submit, errors, async () => {
      try {
        return await api('POST', '/tenants', { json: { name: name.value.trim() }, auth: false, headers });
      } catch (error) {
        refused = error;
        throw error;
      }
    });
    if (refused?.code === 'UNAUTHORIZED') {
      keyBox.open = true;
      errors.prepend(h('p', { class: 'explain', text: key.value ? 'The server did not accept this operator key.' : 'This server\'s sign-up needs the operator key: enter it below and try again.' }));
      key.focus();
    } else if (refused?.code === 'SIGNUP_CLOSED') {
      errors.append(h('p', { class: 'explain' }, 'Sign-up is closed on this server. Ask its operator for a tenant, then ', h('a', { href: '#/signin', text: 'sign in' }), '.'));
    }
    key.value = '';
    if (created) {
      state.created = created;
      show(1);
    }
  });
  const nodes = [form];
  const signedIn = currentTenant();
  if (signedIn) {
    nodes.push(h('p', { class: 'aside' }, `You are signed in to ${signedIn.name}. `,
      h('button', { type: 'button', class: 'link', text: 'Register an agent in it instead', onclick: () => { state.tenant = signedIn; show(2); } })));
  }
  return nodes;
}

function saveAdmin(state, show) {
  const c = state.created;
  const env = `SENTRYAGENT_URL=${API_URL}\nSENTRYAGENT_TENANT_ID=${c.tenantId}\nSENTRYAGENT_ADMIN_CLIENT_ID=${c.adminClientId}\nSENTRYAGENT_ADMIN_CLIENT_SECRET=${c.adminClientSecret}\n`;
  const saved = h('input', { type: 'checkbox', id: 'saved-admin' });
  const errors = h('div', { class: 'errors' });
  const next = h('button', { type: 'button', class: 'primary', text: 'Continue', disabled: true });
  saved.addEventListener('change', () => { next.disabled = !saved.checked; });
  next.addEventListener('click', async () => {
    // The secret's one use: the token for the rest of the wizard and the dashboard.
    const tenant = await busy(next, errors, async () => {
      const token = await issueToken(c.adminClientId, c.adminClientSecret);
      return useToken(token.access_token);
    });
    if (tenant) {
      c.adminClientSecret = null;
      state.tenant = tenant;
      show(2);
    }
  });
  return h('div', { class: 'card' },
    h('p', {}, 'Tenant ', h('strong', { text: c.name }), ' is ready, on the ', h('strong', { text: c.tier }), ' tier.'),
    h('p', { class: 'warning', role: 'note', text: 'The admin client secret is shown now and will not be shown again. Copy it or download the .env file before you continue: nobody, not even the server, can show it to you later.' }),
    copyable('Tenant id', c.tenantId),
    copyable('Admin client id', c.adminClientId),
    copyable('Admin client secret', c.adminClientSecret, { secret: true }),
    h('div', { class: 'actions' }, h('button', { type: 'button', text: 'Download .env', onclick: () => download('sentryagent.env', env) })),
    h('div', { class: 'check' }, saved, h('label', { for: 'saved-admin', text: 'I have saved the admin client secret' })),
    errors,
    h('div', { class: 'actions' }, next));
}

function registerAgent(state, show) {
  const name = h('input', { name: 'agent_name', type: 'email', required: true, maxlength: '254', placeholder: 'build-bot@acme.example', spellcheck: 'false' });
  const description = h('input', { name: 'description', type: 'text', maxlength: '1000', placeholder: 'Builds and ships' });
  const capabilities = h('input', { name: 'capabilities', type: 'text', placeholder: 'build, deploy', spellcheck: 'false' });
  const errors = h('div', { class: 'errors' });
  const submit = h('button', { type: 'submit', class: 'primary', text: 'Register agent' });
  const form = h('form', { class: 'card', 'aria-label': 'Register an agent' },
    h('p', {}, 'Registering in ', h('strong', { text: state.tenant.name }), '.'),
    field('Agent name', name, 'An email-format identifier, unique in your tenant.'),
    field('Description', description),
    field('Capabilities', capabilities, 'Comma-separated labels shown in the marketplace.'),
    errors, h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = { name: name.value.trim() };
    if (description.value.trim()) body.description = description.value.trim();
    const caps = capabilities.value.split(',').map((c) => c.trim()).filter(Boolean);
    if (caps.length) body.capabilities = caps;
    const agent = await busy(submit, errors, () => api('POST', '/agents', { json: body }));
    if (agent) {
      state.agent = agent;
      show(3);
    }
  });
  return form;
}

function firstToken(state, show) {
  const a = state.agent;
  const env = `SENTRYAGENT_URL=${API_URL}\nCLIENT_ID=${a.clientId}\nCLIENT_SECRET=${a.clientSecret}\n`;
  const errors = h('div', { class: 'errors' });
  const get = h('button', { type: 'button', class: 'primary', text: 'Get a token' });
  get.addEventListener('click', async () => {
    const token = await busy(get, errors, () => issueToken(a.clientId, a.clientSecret));
    if (token) {
      a.clientSecret = null;
      state.token = token;
      show(4);
    }
  });
  return h('div', { class: 'card' },
    h('p', {}, 'Agent ', h('strong', { text: a.name }), ' is registered, with its DID ', h('code', { text: a.did }), '.'),
    h('p', { class: 'warning', role: 'note', text: 'The agent\'s client secret is shown now and will not be shown again. Save it where the agent runs.' }),
    copyable('Agent client id', a.clientId),
    copyable('Agent client secret', a.clientSecret, { secret: true }),
    h('div', { class: 'actions' }, h('button', { type: 'button', text: 'Download the agent\'s .env', onclick: () => download('agent.env', env) })),
    h('p', { text: 'Now exchange the credential for an access token (OAuth 2.0 client credentials), as the agent will:' }),
    errors,
    h('div', { class: 'actions' }, get));
}

/** The claims of a JWT, read locally (not verified: the server did that). */
function claims(jwt) {
  try {
    const part = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), '=')));
  } catch {
    return {};
  }
}

/** A string safe inside single quotes in a POSIX shell. */
function sh(value) {
  return `'${String(value).replace(/'/g, '\'\\\'\'')}'`;
}

function snippets(state) {
  const a = state.agent;
  const t = state.token;
  const c = claims(t.access_token);
  const audience = Array.isArray(c.aud) ? c.aud[0] : c.aud || window.location.origin;
  const curl = `# The agent's client secret, as you saved it in step 4:
#   export CLIENT_SECRET=…
CLIENT_ID=${sh(a.clientId)}
API=${sh(API_URL)}
TOKEN=$(curl -s -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials "$API/oauth2/token" | jq -r .access_token)
# A token may introspect itself (RFC 7662):
curl -s -H "Authorization: Bearer $TOKEN" -d "token=$TOKEN" "$API/oauth2/introspect"`;
  const cli = `# The agent's client secret, as you saved it in step 4:
#   export CLIENT_SECRET=…
TOKEN=$(printf %s "$CLIENT_SECRET" | sentryagent token issue --url ${sh(API_URL)} \\
  --client-id ${sh(a.clientId)} --client-secret-stdin)
sentryagent token decode "$TOKEN"`;
  const rust = `// Cargo.toml: axum = "0.8", sentryagent-axum = "0.1"
// Your own route on the service that mounts SentryAgent: only tokens of
// tenant ${state.tenant.name}, issued for ${audience}, get in.
use axum::{Json, Router, routing::get};
use sentryagent_axum::{Agent, Rejection, ResourcePolicy, SentryAgent};

async fn reports(agent: Agent) -> Result<Json<String>, Rejection> {
    Ok(Json(format!("hello, agent {} of tenant {}", agent.agent_id, agent.tenant_id)))
}

fn app(idp: SentryAgent) -> Result<Router, Box<dyn std::error::Error>> {
    idp.protect(ResourcePolicy::new("${audience}").tenant("${state.tenant.tenantId}".parse()?));
    Ok(Router::new().route("/reports", get(reports)).with_state(idp))
}

// The agent calls it with its token:
//   curl -H "Authorization: Bearer $TOKEN" https://your-service.example/reports`;
  return h('div', { class: 'card' },
    h('p', {}, 'Agent ', h('strong', { text: a.name }), ' has its first access token: ', h('strong', { text: t.scope ? `scope "${t.scope}"` : 'no scopes (it acts as itself)' }), `, valid for ${Math.round(t.expires_in / 60)} minutes.`),
    copyable('Access token', t.access_token, { secret: true }),
    h('dl', { class: 'claims' }, ['iss', 'sub', 'aud', 'client_id', 'scope', 'exp'].filter((k) => c[k] !== undefined && c[k] !== '').map((k) => [
      h('dt', { text: k }), h('dd', {}, h('code', { text: k === 'exp' ? `${c[k]} (${new Date(c[k] * 1000).toLocaleString()})` : Array.isArray(c[k]) ? c[k].join(' ') : String(c[k]) })),
    ])),
    h('h2', { text: 'Ready to paste' }),
    h('p', { text: 'Filled in with your values; the secret stays out: set CLIENT_SECRET in your shell first.' }),
    h('h3', { text: 'curl' }), h('div', { id: 'snippet-curl' }, codeBlock(curl, 'Copy curl snippet')),
    h('h3', { text: 'The sentryagent CLI' }), h('div', { id: 'snippet-cli' }, codeBlock(cli, 'Copy CLI snippet')),
    h('h3', { text: 'Rust (axum)' }), h('div', { id: 'snippet-rust' }, codeBlock(rust, 'Copy Rust snippet')),
    h('div', { class: 'actions' },
      h('a', { class: 'button primary', href: '#/dashboard', text: 'Open your dashboard' }),
      h('a', { class: 'button', href: `${API_BASE}/docs/`, text: 'Explore the API' })));
}
