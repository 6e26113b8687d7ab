#!/usr/bin/env bash
# sentryagent/register-agent: registers an agent with a token from a
# bootstrap trust policy (one without an agent). Inputs come as
# SENTRYAGENT_* variables (see action.yml); the output agent-id goes to
# $GITHUB_OUTPUT. The agent's first client secret is never printed or kept:
# CI gets the agent's tokens through OIDC (the issue-token action).
set -euo pipefail
# shellcheck source=../lib/sentryagent-oidc.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/sentryagent-oidc.sh"

sa_require
[ -n "${SENTRYAGENT_AGENT_NAME:-}" ] || sa_fail "the agent-name input is empty" \
  "Give the agent an email-format name, e.g. build-bot@acme.example."
[ -n "${SENTRYAGENT_TENANT_ID:-}" ] || sa_fail "the tenant-id input is empty" \
  "Set tenant-id to your SentryAgent tenant's id (an admin token's GET /tenants/me shows it): a bootstrap exchange reads the named tenant's trust policies and no other's."

sa_github_token
sa_exchange
case " $SA_SCOPE " in
  *" agents:write "*) ;;
  *) sa_fail "the matching trust policy gives no agents:write (scope: ${SA_SCOPE:-none})" \
    "register-agent needs a bootstrap trust policy: one without agentId for ${GITHUB_REPOSITORY:-this repository}." ;;
esac

body=$(jq -n --arg name "$SENTRYAGENT_AGENT_NAME" --arg description "${SENTRYAGENT_AGENT_DESCRIPTION:-}" \
  --arg scopes "${SENTRYAGENT_AGENT_SCOPES:-}" \
  '{name: $name} + (if $description != "" then {description: $description} else {} end)
                 + (if $scopes != "" then {scopes: ($scopes | split(" ") | map(select(. != "")))} else {} end)')
sa_http POST "$SA_API/agents" "$SA_ACCESS_TOKEN" "$body"
if [ "$SA_STATUS" != 201 ]; then
  sa_server_error "Registering the agent $SENTRYAGENT_AGENT_NAME"
  case $SA_CODE in
    AGENT_NAME_TAKEN) echo "An agent of this name exists in the tenant: choose another agent-name, or use the existing agent's id." ;;
    TIER_AGENT_LIMIT) echo "The tenant's tier allows no more agents: decommission one, or upgrade." ;;
    SCOPE_CEILING) echo "The bootstrap trust policy's maxScopes does not allow agent-scopes (${SENTRYAGENT_AGENT_SCOPES:-}): ask an administrator to widen maxScopes, or register with fewer scopes." ;;
  esac
  exit 1
fi
agent_id=$(printf '%s' "$SA_BODY" | jq -r '.agentId')
echo "agent-id=$agent_id" >>"$GITHUB_OUTPUT"
echo "Registered agent $SENTRYAGENT_AGENT_NAME: $agent_id"
