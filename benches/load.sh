#!/usr/bin/env bash
# Load harness for the example server (issue 10).
#
#   benches/load.sh                 # ES256, in-memory store, wrk -t1 -c64 -d10s
#   DURATION=30s CONNECTIONS=128 benches/load.sh
#   SENTRYAGENT_SIGNING_ALG=EdDSA benches/load.sh
#   DATABASE_URL=postgres://… PREFILL_EVENTS=2000000 benches/load.sh
#   SERVER_BIN=/elsewhere/target/release/examples/server benches/load.sh
#   SCENARIOS=token benches/load.sh # the token endpoint only
#   SERVER=bare benches/load.sh     # the bare endpoint (examples/bare.rs)
#   BARE_SIGNER=jsonwebtoken SERVER=bare benches/load.sh  # its signature by jsonwebtoken::encode
#
# It builds the example server in release mode, starts it on 127.0.0.1,
# reads the default tenant's admin credential from its stdout, registers an
# agent, and drives two fixed-length loads with wrk:
#
#   POST /api/v1/oauth2/token   client credentials, HTTP Basic (the agent's)
#   GET  /whoami                the host route behind the Agent extractor
#
# SCENARIOS (default token,whoami; token for SERVER=bare) picks the loads,
# in that order.
#
# SERVER=bare (default example) starts benches/examples/bare.rs instead: the
# floor of the in-memory token endpoint (look up, hash, sign, queue an audit
# line, nothing else). It has only the token endpoint and no backends, so
# the run uses its printed credential as the token client, registers no
# agent and drives the token load only; DATABASE_URL and REDIS_URL must be
# unset.
#
# It prints one table: requests per second, p50/p99 latency, non-2xx
# responses, socket errors, the server's peak RSS during each run, and the
# server's CPU time (user + system) per request, which depends much less on
# what else the machine is running than requests per second do, and the same
# for the PostgreSQL and Redis processes on this machine.
#
# Backends: the in-memory store unless the environment says otherwise; it is
# passed through to the server, so DATABASE_URL (PostgreSQL) and REDIS_URL
# (rate limits, revocations, usage) select those backends. With DATABASE_URL
# the run gets a fresh schema (SENTRYAGENT_DB_SCHEMA, dropped afterwards with
# psql when it is installed) and a random SENTRYAGENT_SECRET_KEY unless set,
# so the server starts empty and prints its admin credential. The table's
# store and redis are what the server itself logs at start-up.
#
# PREFILL_EVENTS=N (PostgreSQL only) appends N token.issued events to the
# default tenant's audit chain before the runs (the scale bench's `prefill`,
# sealed with the server's key, then VACUUM ANALYZE), so the token run
# writes into a big table: tokens/s and CPU per token empty against full.
#
# Rate limits and tier quotas stay on, but their defaults would refuse a load
# test from one client within a second (the token endpoint's 600/min per
# client; the free tier's daily API calls). Unless set, the run raises them:
# SENTRYAGENT_RATE_LIMIT_TOKEN=1000000000/1s and
# SENTRYAGENT_FREE_API_CALLS_PER_DAY=1000000000000. Every request still pays
# for the rate-limit check and the usage metering; none is refused by them.
#
# Traffic goes only to 127.0.0.1; every wait is bounded; everything this
# script starts is stopped on exit (trap). Needs curl, jq and wrk; missing
# ones are installed from Debian's packages with apt-get (as root).

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HOST=127.0.0.1 # never anything but loopback
PORT=${PORT:-3900}
PREFILL_EVENTS=${PREFILL_EVENTS:-0}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-1}
CONNECTIONS=${CONNECTIONS:-64}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
SERVER=${SERVER:-example}
if [[ $SERVER == bare ]]; then SCENARIOS=${SCENARIOS:-token}; else SCENARIOS=${SCENARIOS:-token,whoami}; fi
BASE=http://$HOST:$PORT

NAME=load.sh
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $PORT =~ ^[0-9]+$ ]] && ((PORT > 0 && PORT < 65536)) || die "PORT must be a port number"
[[ $DURATION =~ ^[0-9]+[sm]?$ ]] || die "DURATION must look like 10s or 1m"
[[ $THREADS =~ ^[0-9]+$ && $CONNECTIONS =~ ^[0-9]+$ ]] || die "THREADS and CONNECTIONS must be numbers"
[[ $PREFILL_EVENTS =~ ^[0-9]+$ ]] || die "PREFILL_EVENTS must be a number"
((PREFILL_EVENTS == 0)) || [[ -n ${DATABASE_URL:-} ]] || die "PREFILL_EVENTS needs DATABASE_URL (it fills PostgreSQL)"
[[ $SERVER == example || $SERVER == bare ]] || die "SERVER must be example or bare"
IFS=, read -r -a SCENARIO_LIST <<<"$SCENARIOS"
((${#SCENARIO_LIST[@]})) || die "SCENARIOS must name at least one of token, whoami"
WANT_WHOAMI=
for s in "${SCENARIO_LIST[@]}"; do
    case $s in
    token) ;;
    whoami) WANT_WHOAMI=1 ;;
    *) die "SCENARIOS takes token and whoami, comma-separated; not '$s'" ;;
    esac
done
if [[ $SERVER == bare ]]; then
    [[ -z $WANT_WHOAMI ]] || die "SERVER=bare serves the token endpoint only: set SCENARIOS=token"
    [[ -z ${DATABASE_URL:-}${REDIS_URL:-} ]] || die "SERVER=bare has no backends: unset DATABASE_URL and REDIS_URL"
fi

# --- tools -------------------------------------------------------------------
need curl
need jq
need wrk

# --- build -------------------------------------------------------------------
# SERVER_BIN names another build of the example server (an earlier commit's,
# for a before-and-after); otherwise this checkout's is built.
if [[ -n ${SERVER_BIN:-} ]]; then
    [[ $SERVER == example ]] || die "SERVER_BIN is a build of the example server: not with SERVER=bare"
elif [[ $SERVER == bare ]]; then
    echo "load.sh: building the bare endpoint (release)" >&2
    (cd "$ROOT" && cargo build --quiet --release -p sentryagent-benches --example bare)
    SERVER_BIN=$TARGET_DIR/release/examples/bare
else
    echo "load.sh: building the example server (release)" >&2
    (cd "$ROOT" && cargo build --quiet --release -p sentryagent-examples --example server)
    SERVER_BIN=$TARGET_DIR/release/examples/server
fi
[[ -x $SERVER_BIN ]] || die "no server binary at $SERVER_BIN"
if ((PREFILL_EVENTS > 0)); then
    (cd "$ROOT" && cargo build --quiet --release -p sentryagent-benches --example scale)
fi

# --- start, with cleanup -----------------------------------------------------
if (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; then
    die "something already listens on $HOST:$PORT; set PORT"
fi
WORK=$(mktemp -d)
SERVER_PID=
WRK_PID=
DROP_SCHEMA=
cleanup() {
    # shellcheck disable=SC2086 # empty ids drop out
    stop_pids $WRK_PID $SERVER_PID
    if [[ -n $DROP_SCHEMA ]] && command -v psql >/dev/null; then
        psql -q "$DATABASE_URL" -c "DROP SCHEMA IF EXISTS $DROP_SCHEMA CASCADE" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The environment, DATABASE_URL and REDIS_URL included, passes through.
export SENTRYAGENT_RATE_LIMIT_TOKEN=${SENTRYAGENT_RATE_LIMIT_TOKEN:-1000000000/1s}
export SENTRYAGENT_FREE_API_CALLS_PER_DAY=${SENTRYAGENT_FREE_API_CALLS_PER_DAY:-1000000000000}
if [[ -n ${DATABASE_URL:-} ]]; then
    if [[ -z ${SENTRYAGENT_DB_SCHEMA:-} ]]; then
        export SENTRYAGENT_DB_SCHEMA=load_$(date +%s)_$$
        DROP_SCHEMA=$SENTRYAGENT_DB_SCHEMA
    fi
    [[ -n ${SENTRYAGENT_SECRET_KEY:-} ]] || export SENTRYAGENT_SECRET_KEY=$(head -c 48 /dev/urandom | base64 -w0)
fi
SENTRYAGENT_BIND=$HOST:$PORT RUST_LOG=${RUST_LOG:-info} NO_COLOR=1 \
    "$SERVER_BIN" >"$WORK/server.out" 2>"$WORK/server.log" &
SERVER_PID=$!

# The admin credential is the server's first two lines on stdout.
for _ in $(seq 1 300); do # up to 30 s
    grep -q '^SENTRYAGENT_ADMIN_CLIENT_SECRET=' "$WORK/server.out" 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; die "the server exited"; }
    sleep 0.1
done
ADMIN_ID=$(sed -n 's/^SENTRYAGENT_ADMIN_CLIENT_ID=//p' "$WORK/server.out")
ADMIN_SECRET=$(sed -n 's/^SENTRYAGENT_ADMIN_CLIENT_SECRET=//p' "$WORK/server.out")
[[ -n $ADMIN_ID && -n $ADMIN_SECRET ]] || die "no admin credential on the server's stdout"
for _ in $(seq 1 100); do # up to 10 s for the listener
    (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null && break
    sleep 0.1
done
# The log may carry colour codes; strip them before looking for `store=`.
STORE=$(sed 's/\x1b\[[0-9;]*m//g' "$WORK/server.log" | grep -o 'store="\?[A-Za-z0-9_-]*' | head -1 | sed 's/store="\?//' || true)
STORE=${STORE:-unknown}
REDIS=$(sed 's/\x1b\[[0-9;]*m//g' "$WORK/server.log" | grep -o 'redis=[a-z]*' | head -1 | sed 's/redis=//' || true)
REDIS=${REDIS:-unknown}
if [[ $SERVER == bare ]]; then
    STORE="none (bare endpoint)"
    REDIS=none
fi

# --- an agent and its token --------------------------------------------------
curl_() { curl -sS --max-time 10 "$@"; }
token_for() { # token_for ID SECRET
    curl_ -u "$1:$2" -d grant_type=client_credentials "$BASE/api/v1/oauth2/token" | jq -er .access_token
}
if [[ $SERVER == bare ]]; then
    # The bare endpoint's one client is the token client.
    CLIENT_ID=$ADMIN_ID
    CLIENT_SECRET=$ADMIN_SECRET
    token_for "$CLIENT_ID" "$CLIENT_SECRET" >/dev/null || die "no token from the bare endpoint"
    AGENT_TOKEN=
else
    ADMIN_TOKEN=$(token_for "$ADMIN_ID" "$ADMIN_SECRET") || die "no admin token"
    curl_ -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' \
        -d '{"name": "load-bot@bench.example", "description": "load test", "scopes": ["reports:read"]}' \
        "$BASE/api/v1/agents" >"$WORK/agent.json"
    CLIENT_ID=$(jq -er .clientId "$WORK/agent.json") || die "agent registration failed: $(cat "$WORK/agent.json")"
    CLIENT_SECRET=$(jq -er .clientSecret "$WORK/agent.json")
    AGENT_TOKEN=$(token_for "$CLIENT_ID" "$CLIENT_SECRET") || die "no agent token"
    if [[ -n $WANT_WHOAMI ]]; then
        [[ $(curl_ -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $AGENT_TOKEN" "$BASE/whoami") == 200 ]] ||
            die "GET /whoami does not accept the agent's token"
    fi
fi
BASIC=$(printf '%s:%s' "$CLIENT_ID" "$CLIENT_SECRET" | base64 -w0)
if ((PREFILL_EVENTS > 0)); then
    TENANT_ID=$(curl_ -H "Authorization: Bearer $ADMIN_TOKEN" "$BASE/api/v1/tenants/me" | jq -er .tenantId) ||
        die "no tenant id from /tenants/me"
    echo "load.sh: appending $PREFILL_EVENTS events to tenant $TENANT_ID's audit chain" >&2
    "$TARGET_DIR/release/examples/scale" prefill "$TENANT_ID" "$PREFILL_EVENTS" || die "the prefill failed"
fi

# --- wrk scripts -------------------------------------------------------------
# done() prints one machine-readable line; latencies are in microseconds.
REPORT='
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout))
end'
cat >"$WORK/token.lua" <<EOF
wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $BASIC"
$REPORT
EOF
cat >"$WORK/whoami.lua" <<EOF
wrk.headers["Authorization"] = "Bearer $AGENT_TOKEN"
$REPORT
EOF

# --- runs --------------------------------------------------------------------
kib() { sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$SERVER_PID/status"; }
# The server's CPU time so far (user + system) in clock ticks: its cost per
# request depends much less on what else the machine is doing than req/s.
ticks() { sed 's/^.*) //' "/proc/$SERVER_PID/stat" | awk '{ print $12 + $13 }'; }
# The same summed over this machine's PostgreSQL and Redis processes (0 when
# they run elsewhere): on a shared machine their cost per request is what
# the backends take from the cores the server also needs.
backend_ticks() { # cat, not awk, reads the files: it goes on past a process that has just exited
    { cat /proc/[0-9]*/stat 2>/dev/null || true; } |
        awk '$2 == "(postgres)" || $2 == "(redis-server)" { t += $14 + $15 } END { print t + 0 }'
}
HZ=$(getconf CLK_TCK)
RSS_NOTE=
ROWS=()
NOTES=()
run() { # run LABEL PATH LUA
    # Reset the peak-RSS mark so each row shows its own run's peak.
    echo 5 >"/proc/$SERVER_PID/clear_refs" 2>/dev/null || RSS_NOTE=" (peak RSS: since start; clear_refs refused)"
    echo "load.sh: $1 for $DURATION" >&2
    local cpu0 db0
    cpu0=$(ticks)
    db0=$(backend_ticks)
    timeout 300 wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout 5s -s "$3" "$BASE$2" \
        >"$WORK/wrk.out" 2>&1 &
    WRK_PID=$!
    wait "$WRK_PID" || { cat "$WORK/wrk.out" >&2; die "wrk failed"; }
    WRK_PID=
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$WORK/server.log" >&2; die "the server died under load"; }
    local r cpu db
    cpu=$(($(ticks) - cpu0))
    db=$(($(backend_ticks) - db0))
    r=$(grep '^RESULT ' "$WORK/wrk.out") || { cat "$WORK/wrk.out" >&2; die "no result from wrk"; }
    read -r _ n dur p50 p99 non2xx errs <<<"$r"
    if ((non2xx > 0)); then
        NOTES+=("$1: $non2xx of $n answers were not 2xx; see the server log, or raise the quota that refused them")
    fi
    ROWS+=("$(awk -v l="$1" -v n="$n" -v d="$dur" -v p50="$p50" -v p99="$p99" -v s="$non2xx" -v e="$errs" \
        -v rss="$(kib VmHWM)" -v cpu="$cpu" -v db="$db" -v hz="$HZ" 'BEGIN {
        n1 = n > 0 ? n : 1
        printf "| %-26s | %8.0f | %7.2f | %7.2f | %8d | %7d | %6d | %12.1f | %15.1f | %16.1f |",
        l, n / (d / 1e6), p50 / 1e3, p99 / 1e3, n, s, e, rss / 1024, cpu / hz * 1e6 / n1, db / hz * 1e6 / n1 }')")
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for s in "${SCENARIO_LIST[@]}"; do
    case $s in
    token) run "POST /api/v1/oauth2/token" /api/v1/oauth2/token "$WORK/token.lua" ;;
    whoami) run "GET /whoami" /whoami "$WORK/whoami.lua" ;;
    esac
done

CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
echo
echo "server $SERVER; wrk -t$THREADS -c$CONNECTIONS -d$DURATION on $HOST; alg ${SENTRYAGENT_SIGNING_ALG:-ES256}; store $STORE;" \
    "redis $REDIS; token rate limit $SENTRYAGENT_RATE_LIMIT_TOKEN;" \
    "free tier $SENTRYAGENT_FREE_API_CALLS_PER_DAY calls/day; audit events before: $PREFILL_EVENTS prefilled;" \
    "$(nproc) cores, $CPU;" \
    "load average before: $LOAD_BEFORE$RSS_NOTE"
echo
echo "| scenario                   |    req/s | p50 ms  | p99 ms  | requests | non-2xx | errors | peak RSS MiB | server CPU µs/req | backend CPU µs/req |"
echo "| -------------------------- | -------: | ------: | ------: | -------: | ------: | -----: | -----------: | --------------: | ---------------: |"
printf '%s\n' "${ROWS[@]}"
if ((${#NOTES[@]})); then
    echo
    printf 'note: %s\n' "${NOTES[@]}"
fi
