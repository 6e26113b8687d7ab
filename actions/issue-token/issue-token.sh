#!/usr/bin/env bash
# sentryagent/issue-token: exchanges the job's GitHub OIDC token for an
# access token of the agent named by an agent trust policy. Inputs come as
# SENTRYAGENT_* variables (see action.yml); the outputs access-token (masked)
# and expires-at go to $GITHUB_OUTPUT.
set -euo pipefail
# shellcheck source=../lib/sentryagent-oidc.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/sentryagent-oidc.sh"

sa_require
[ -n "${SENTRYAGENT_AGENT_ID:-}" ] || sa_fail "the agent-id input is empty" \
  "Pass the id of the agent whose trust policy admits this workflow."

sa_github_token
sa_exchange "$SENTRYAGENT_AGENT_ID"
{
  echo "access-token=$SA_ACCESS_TOKEN"
  echo "expires-at=$SA_EXPIRES_AT"
} >>"$GITHUB_OUTPUT"
echo "Issued an access token for agent $SENTRYAGENT_AGENT_ID."
