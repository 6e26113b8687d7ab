# Shared by the register-agent and issue-token actions: sourced, not run.
# Needs bash, curl and jq (all on GitHub's hosted runners).
#
# Nothing here prints a token: every token is registered with ::add-mask::
# the moment it is read, before anything else could print it.

sa_fail() { # message lines…
  local first=$1
  shift
  echo "::error title=SentryAgent::${first}"
  local line
  for line in "$@"; do echo "$line"; done
  exit 1
}

sa_require() {
  local tool
  for tool in curl jq; do
    command -v "$tool" >/dev/null 2>&1 || sa_fail "$tool is not installed on this runner" \
      "Install it in an earlier step (on Ubuntu: sudo apt-get install -y $tool)."
  done
  [ -n "${GITHUB_OUTPUT:-}" ] || sa_fail "GITHUB_OUTPUT is not set" \
    "This script runs as a step of a GitHub Actions job."
  [ -n "${SENTRYAGENT_API_URL:-}" ] || sa_fail "the api-url input is empty" \
    "Set it to where the SentryAgent API is mounted, e.g. https://idp.example.com/api/v1."
  SA_API=${SENTRYAGENT_API_URL%/}
  # The audience the server expects: by default its origin (its issuer URL).
  SA_AUDIENCE=${SENTRYAGENT_AUDIENCE:-$(printf '%s' "$SA_API" | sed -E 's#^([a-zA-Z][a-zA-Z0-9+.-]*://[^/]+).*#\1#')}
}

# sa_http METHOD URL BEARER [BODY]: sets SA_STATUS and SA_BODY. The bearer
# and the body go through file descriptors, never the command line.
sa_http() {
  local method=$1 url=$2 bearer=$3 body=${4:-} out rc=0 auth=""
  local args=(-sS --connect-timeout 10 --max-time 30 -X "$method" -w '\n%{http_code}'
    -H 'Accept: application/json' -H @/dev/fd/3)
  [ -z "$bearer" ] || auth="Authorization: Bearer $bearer"
  if [ -n "$body" ]; then
    out=$(printf '%s' "$body" | curl "${args[@]}" -H 'Content-Type: application/json' --data-binary @- "$url" 3<<<"$auth") || rc=$?
  else
    out=$(curl "${args[@]}" "$url" 3<<<"$auth" </dev/null) || rc=$?
  fi
  if [ "$rc" -ne 0 ]; then
    sa_fail "could not reach $url (curl exit code $rc)" \
      "Check the api-url input, that the server is up, and that this runner can reach it (DNS, firewall, proxy, TLS certificate)."
  fi
  SA_STATUS=${out##*$'\n'}
  SA_BODY=${out%$'\n'*}
}

# sa_server_error WHAT: prints the server's own code, message and details.
sa_server_error() {
  local code message details
  code=$(printf '%s' "$SA_BODY" | jq -r --arg s "$SA_STATUS" '.code // .error // "HTTP_\($s)"' 2>/dev/null || echo "HTTP_$SA_STATUS")
  message=$(printf '%s' "$SA_BODY" | jq -r '.message // .error_description // empty' 2>/dev/null || true)
  details=$(printf '%s' "$SA_BODY" | jq -c '.details // empty' 2>/dev/null || true)
  echo "::error title=SentryAgent::$1 failed with HTTP $SA_STATUS $code: ${message:-(no message)}"
  [ -z "$details" ] || echo "Details: $details"
  SA_CODE=$code
}

# sa_github_token: a fresh GitHub OIDC token for SA_AUDIENCE, in SA_ID_TOKEN.
sa_github_token() {
  if [ -z "${ACTIONS_ID_TOKEN_REQUEST_URL:-}" ] || [ -z "${ACTIONS_ID_TOKEN_REQUEST_TOKEN:-}" ]; then
    sa_fail "this job cannot request a GitHub OIDC token" \
      "Give the workflow (or this job) the id-token permission:" \
      "" \
      "  permissions:" \
      "    id-token: write" \
      "    contents: read" \
      "" \
      "Workflows triggered from forks never get it."
  fi
  local url=$ACTIONS_ID_TOKEN_REQUEST_URL sep='&'
  case $url in *\?*) ;; *) sep='?' ;; esac
  url="$url${sep}audience=$(jq -rn --arg a "$SA_AUDIENCE" '$a|@uri')"
  sa_http GET "$url" "$ACTIONS_ID_TOKEN_REQUEST_TOKEN"
  if [ "$SA_STATUS" != 200 ]; then
    sa_fail "the Actions runtime refused an OIDC token (HTTP $SA_STATUS)" \
      "Check that the job has 'permissions: id-token: write'."
  fi
  SA_ID_TOKEN=$(printf '%s' "$SA_BODY" | jq -r '.value // empty')
  [ -n "$SA_ID_TOKEN" ] || sa_fail "the Actions runtime sent no OIDC token"
  echo "::add-mask::$SA_ID_TOKEN"
  echo "Got a GitHub OIDC token for audience $SA_AUDIENCE."
}

# sa_exchange [AGENT_ID]: exchanges SA_ID_TOKEN at /oidc/token; sets
# SA_ACCESS_TOKEN, SA_SCOPE and SA_EXPIRES_AT.
sa_exchange() {
  local agent=${1:-} body
  body=$(jq -n --arg token "$SA_ID_TOKEN" --arg tenant "${SENTRYAGENT_TENANT_ID:-}" --arg agent "$agent" \
    '{token: $token} + (if $tenant != "" then {tenantId: $tenant} else {} end)
                     + (if $agent != "" then {agentId: $agent} else {} end)')
  sa_http POST "$SA_API/oidc/token" "" "$body"
  if [ "$SA_STATUS" != 200 ]; then
    sa_server_error "Exchanging the GitHub OIDC token at $SA_API/oidc/token"
    case $SA_CODE in
      TRUST_POLICY_NOT_FOUND | TRUST_POLICY_BRANCH_MISMATCH)
        echo "No trust policy of SentryAgent admits this workflow (repository ${GITHUB_REPOSITORY:-?}, ref ${GITHUB_REF:-?}, event ${GITHUB_EVENT_NAME:-?})."
        echo "An administrator of your tenant registers one, e.g.:"
        echo ""
        echo "  curl -X POST $SA_API/oidc/trust-policies \\"
        echo "    -H \"Authorization: Bearer \$ADMIN_TOKEN\" -H 'Content-Type: application/json' \\"
        if [ -n "$agent" ]; then
          echo "    -d '{\"provider\": \"github\", \"repository\": \"${GITHUB_REPOSITORY:-org/repo}\", \"branch\": \"main\", \"agentId\": \"$agent\"}'"
        else
          echo "    -d '{\"provider\": \"github\", \"repository\": \"${GITHUB_REPOSITORY:-org/repo}\", \"branch\": \"main\"}'"
        fi
        echo ""
        echo "and POST /oidc/trust-policies/evaluate with the same token tells which condition failed."
        ;;
      TRUST_POLICY_AMBIGUOUS)
        echo "Set the agent-id input to say which of the tenant's policies applies." ;;
      VALIDATION_ERROR)
        echo "Set the tenant-id input to your tenant's id (or agent-id): no tenant's trust policies are guessed at." ;;
      OIDC_TOKEN_INVALID | OIDC_TOKEN_EXPIRED)
        echo "Check the audience input ($SA_AUDIENCE) against the server's OIDC audience, and the server's OIDC issuer setting." ;;
      AGENT_SUSPENDED | AGENT_DECOMMISSIONED)
        echo "The trust policy's agent cannot receive tokens: reactivate it, or point the policy at another agent." ;;
    esac
    exit 1
  fi
  SA_ACCESS_TOKEN=$(printf '%s' "$SA_BODY" | jq -r '.access_token // empty')
  [ -n "$SA_ACCESS_TOKEN" ] || sa_fail "the server's answer holds no access token"
  echo "::add-mask::$SA_ACCESS_TOKEN"
  SA_SCOPE=$(printf '%s' "$SA_BODY" | jq -r '.scope // ""')
  SA_EXPIRES_AT=$(printf '%s' "$SA_BODY" | jq -r '(now + (.expires_in // 0)) | floor | todate')
  echo "Exchanged it for a SentryAgent access token (scope: ${SA_SCOPE:-none}, expires $SA_EXPIRES_AT)."
}
