// `#/sdks`: the crates, the CLI, the GitHub Actions and the API documents.

import { API_BASE, API_URL } from './api.js';
import { codeBlock, h } from './dom.js';

const crates = [
  ['sentryagent-core', 'All behaviour: agents, credentials, tokens, audit, federation, marketplace, metering; in-memory stores.'],
  ['sentryagent-axum', 'Mounts the API on an axum Router; the Agent extractor protects your own routes.'],
  ['sentryagent-poem', 'The same for poem.'],
  ['sentryagent-store-postgres', 'PostgreSQL for every durable record, with embedded migrations.'],
  ['sentryagent-store-redis', 'Shared hot state for many instances: rate limits, revocations, usage counters.'],
  ['sentryagent-billing-stripe', 'Stripe Checkout and webhooks for paid tiers.'],
  ['sentryagent-federation-reqwest', 'Fetches OIDC issuers\' keys for GitHub Actions federation.'],
  ['sentryagent-client', 'A typed Rust client of the HTTP API.'],
  ['sentryagent-portal', 'These pages, compiled in, with mounts for axum and poem.'],
];

export function sdks(main) {
  main.append(
    h('section', {},
      h('h1', { text: 'SDKs and tools' }),
      h('h2', { text: 'Rust crates' }),
      h('ul', { class: 'cards' }, crates.map(([name, text]) => h('li', { class: 'card' }, h('h3', {}, h('code', { text: name })), h('p', { text })))),
      h('p', { text: 'Embed the API in an axum service:' }),
      codeBlock(`[dependencies]
sentryagent-axum = "0.1"
sentryagent-core = "0.1"`, 'Copy Cargo.toml lines')),
    h('section', {},
      h('h2', { text: 'The sentryagent command-line tool' }),
      h('p', { text: 'Manages agents, credentials, tokens, audit logs and trust policies from a terminal.' }),
      codeBlock(`cargo install --path sentryagent-cli
printf %s "$SENTRYAGENT_ADMIN_CLIENT_SECRET" | sentryagent login --url ${API_URL} \\
  --client-id "$SENTRYAGENT_ADMIN_CLIENT_ID" --client-secret-stdin
sentryagent agents list`, 'Copy CLI commands')),
    h('section', {},
      h('h2', { text: 'GitHub Actions' }),
      h('p', { text: 'Two composite Actions exchange the workflow\'s OIDC token under a trust policy, with no stored secret: register-agent registers the CI agent once, issue-token gets it a token in each run. See docs/guides/github-actions.md.' }),
      codeBlock(`permissions:
  id-token: write # lets the job request its GitHub OIDC token
steps:
  - id: token
    uses: sentryagent/sentryagent/actions/issue-token@v1
    with:
      api-url: ${API_URL}
      agent-id: \${{ vars.SENTRYAGENT_AGENT_ID }}
  - run: curl -H "Authorization: Bearer \${{ steps.token.outputs.access-token }}" https://api.example.com/deploy`, 'Copy workflow')),
    h('section', {},
      h('h2', { text: 'The HTTP API' }),
      h('ul', {},
        h('li', {}, h('a', { href: `${API_BASE}/openapi.json`, text: 'The OpenAPI 3.1 document' }), ' of every route.'),
        h('li', {}, h('a', { href: `${API_BASE}/docs/`, text: 'The API explorer' }), ' (Swagger UI, served by the API itself).'))));
}
