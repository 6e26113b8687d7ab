#!/usr/bin/env bash
# Memory under a flood of made-up client ids (issue 17, point 1).
#
#   benches/abuse.sh                       # 100,000 requests, in-memory store
#   REQUESTS=20000 benches/abuse.sh
#   SERVER_BIN=/path/to/server benches/abuse.sh   # another build, e.g. an older one
#
# It builds the example server in release mode, starts it on 127.0.0.1 with
# 127.0.0.1 as a trusted proxy, and sends REQUESTS token requests
# (client_secret_post) with wrk, each naming a different made-up client id
# of ID_BYTES (default 60,000, near the 64 KiB body limit) and coming, by
# X-Forwarded-For, from a different address:
# the worst case for a limiter that keeps state per client id or per
# address. wrk runs for a time, not a count, so it runs in rounds of ROUND
# (default 1s) until REQUESTS are answered; the count printed is the real
# one. It prints the server's resident memory (VmRSS) before and after, its
# peak (VmHWM), and how the answers split between 401 and 429.
#
# Rate limits keep their defaults: made-up ids are failures of the address
# sending them (TOKEN_FAILURES, 60/60s per address) and keep no state of
# their own, and the in-process limiter holds at most 100,000 keys.
#
# Traffic goes only to 127.0.0.1; every wait is bounded; everything this
# script starts is stopped on exit (trap). Needs curl and wrk; missing ones
# are installed from Debian's packages with apt-get (as root).

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HOST=127.0.0.1 # never anything but loopback
PORT=${PORT:-3901}
REQUESTS=${REQUESTS:-100000}
ID_BYTES=${ID_BYTES:-60000}
CONNECTIONS=${CONNECTIONS:-32}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BASE=http://$HOST:$PORT

NAME=abuse.sh
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $PORT =~ ^[0-9]+$ ]] && ((PORT > 0 && PORT < 65536)) || die "PORT must be a port number"
[[ $REQUESTS =~ ^[0-9]+$ ]] && ((REQUESTS > 0)) || die "REQUESTS must be a positive number"
[[ $CONNECTIONS =~ ^[0-9]+$ ]] && ((CONNECTIONS > 0)) || die "CONNECTIONS must be a positive number"
[[ $ID_BYTES =~ ^[0-9]+$ ]] && ((ID_BYTES > 0 && ID_BYTES <= 65000)) || die "ID_BYTES must be 1 to 65000 (the body limit is 64 KiB)"

need curl
need wrk

if [[ -z ${SERVER_BIN:-} ]]; then
    echo "abuse.sh: building the example server (release)" >&2
    (cd "$ROOT" && cargo build --quiet --release -p sentryagent-examples --example server)
    SERVER_BIN=$TARGET_DIR/release/examples/server
fi
[[ -x $SERVER_BIN ]] || die "no server binary at $SERVER_BIN"

if (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; then
    die "something already listens on $HOST:$PORT; set PORT"
fi
WORK=$(mktemp -d)
SERVER_PID=
WRK_PID=
cleanup() {
    # shellcheck disable=SC2086 # empty ids drop out
    stop_pids $WRK_PID $SERVER_PID
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A fresh in-memory server: the flood's state is all there is.
SENTRYAGENT_BIND=$HOST:$PORT SENTRYAGENT_TRUSTED_PROXIES=$HOST RUST_LOG=${RUST_LOG:-warn} NO_COLOR=1 \
    env -u DATABASE_URL -u REDIS_URL "$SERVER_BIN" >"$WORK/server.out" 2>"$WORK/server.log" &
SERVER_PID=$!
for _ in $(seq 1 300); do # up to 30 s for the listener
    (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; die "the server exited"; }
    sleep 0.1
done
curl -sS --max-time 10 -o /dev/null "$BASE/api/v1/health" || die "the server does not answer"

mib() { sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$SERVER_PID/status" | awk '{ printf "%.1f", $1 / 1024 }'; }
RSS_BEFORE=$(mib VmRSS)

# wrk runs for a duration, not a count: it runs in rounds of ROUND until
# REQUESTS are answered. Ids and addresses come from a counter that starts
# at each round's base and steps by the number of threads, so none repeats.
cat >"$WORK/flood.lua" <<'EOF'
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("index", #threads)
end
function init(args)
  base, step = tonumber(args[1]), tonumber(args[2])
  pad = string.rep("x", tonumber(args[3]))
  sent, answered, s401, s429, other = 0, 0, 0, 0, 0
  wrk.method = "POST"
end
function request()
  local n = base + index + step * sent
  sent = sent + 1
  local f = math.floor -- LuaJIT: no bit operators
  local ip = string.format("%d.%d.%d.%d", 11 + f(n / 16777216) % 200, f(n / 65536) % 256, f(n / 256) % 256, n % 256)
  local body = string.format("grant_type=client_credentials&client_id=sa_ci_%010d%s&client_secret=sa_sk_guess", n, pad)
  local headers = { ["Content-Type"] = "application/x-www-form-urlencoded", ["X-Forwarded-For"] = ip }
  return wrk.format(nil, nil, headers, body)
end
function response(status, headers, body)
  answered = answered + 1
  if status == 401 then s401 = s401 + 1 elseif status == 429 then s429 = s429 + 1 else other = other + 1 end
end
function done(summary, latency, requests)
  local a, b, c, d, m = 0, 0, 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("answered"); b = b + t:get("s401"); c = c + t:get("s429"); d = d + t:get("other")
    m = math.max(m, t:get("sent"))
  end
  io.write(string.format("RESULT %d %d %d %d %d %d\n", a, b, c, d, summary.duration, m * #threads))
end
EOF
THREADS=2
ROUND=${ROUND:-1s}
[[ $ROUND =~ ^[0-9]+[sm]?$ ]] || die "ROUND must look like 1s"
echo "abuse.sh: $REQUESTS token requests with made-up client ids from as many addresses" >&2
answered=0 s401=0 s429=0 other=0 dur=0 base=0
while ((answered < REQUESTS)); do
    timeout 300 wrk -t"$THREADS" -c"$CONNECTIONS" -d"$ROUND" --timeout 10s -s "$WORK/flood.lua" \
        "$BASE/api/v1/oauth2/token" -- "$base" "$THREADS" "$ID_BYTES" >"$WORK/wrk.out" 2>&1 &
    WRK_PID=$!
    wait "$WRK_PID" || { cat "$WORK/wrk.out" >&2; die "wrk failed"; }
    WRK_PID=
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$WORK/server.log" >&2; die "the server died under the flood"; }
    read -r _ a b c d u sent < <(grep '^RESULT ' "$WORK/wrk.out") || { cat "$WORK/wrk.out" >&2; die "no result from wrk"; }
    ((a > 0)) || die "no answer in a round of $ROUND"
    answered=$((answered + a)) s401=$((s401 + b)) s429=$((s429 + c)) other=$((other + d)) dur=$((dur + u))
    base=$((base + sent + THREADS))
done
RSS_AFTER=$(mib VmRSS)
PEAK=$(mib VmHWM)

echo
echo "made-up client ids: $answered answered in $(awk -v d="$dur" 'BEGIN { printf "%.1f", d / 1e6 }') s" \
    "($s401 × 401, $s429 × 429, $other other); $(nproc) cores"
echo
echo "| server | RSS before MiB | RSS after MiB | peak RSS MiB |"
echo "| --- | ---: | ---: | ---: |"
echo "| $(basename "$SERVER_BIN") | $RSS_BEFORE | $RSS_AFTER | $PEAK |"
