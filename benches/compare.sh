#!/usr/bin/env bash
# PostgreSQL against the in-memory store, in alternating pairs of
# benches/load.sh runs, so that a noisy machine (a shared VM's stolen time,
# other builds) weighs on both sides of each ratio alike.
#
#   benches/compare.sh              # 5 pairs of 8 s runs
#   PAIRS=9 DURATION=10s benches/compare.sh
#   DATABASE_URL=postgres://user@host/db benches/compare.sh
#
# Prints, a line per pair, both token rates, the PostgreSQL /whoami rate and
# the ratio PostgreSQL / memory for POST /oauth2/token; then the medians.
# Issue 10's target for that ratio is 40 %. Everything else is load.sh's:
# loopback only, bounded runs, everything started is stopped.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PAIRS=${PAIRS:-5}
export DURATION=${DURATION:-8s}
PG_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
[[ $PAIRS =~ ^[0-9]+$ ]] && ((PAIRS > 0 && PAIRS < 100)) || {
    echo "compare.sh: PAIRS must be a number from 1 to 99" >&2
    exit 1
}

rate() { # rate LABEL < load.sh output: the req/s column of that row
    awk -F'|' -v l="$1" 'index($2, l) { gsub(/ /, "", $3); print $3 }'
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

RATIOS=()
MEM=()
PG=()
printf '%-5s %14s %14s %16s %8s\n' pair "memory tok/s" "postgres tok/s" "postgres whoami/s" ratio
for i in $(seq 1 "$PAIRS"); do
    mem_out=$(env -u DATABASE_URL -u REDIS_URL "$ROOT/benches/load.sh" 2>/dev/null)
    pg_out=$(env -u REDIS_URL DATABASE_URL="$PG_URL" "$ROOT/benches/load.sh" 2>/dev/null)
    m=$(rate oauth2/token <<<"$mem_out")
    p=$(rate oauth2/token <<<"$pg_out")
    w=$(rate whoami <<<"$pg_out")
    [[ -n $m && -n $p && $m -gt 0 ]] || {
        echo "compare.sh: a run printed no table; run benches/load.sh alone to see why" >&2
        exit 1
    }
    r=$(awk -v p="$p" -v m="$m" 'BEGIN { printf "%.1f", 100 * p / m }')
    printf '%-5s %14s %14s %16s %7s%%\n' "$i" "$m" "$p" "$w" "$r"
    MEM+=("$m")
    PG+=("$p")
    RATIOS+=("$r")
done
printf '%-5s %14s %14s %16s %7s%%\n' median "$(printf '%s\n' "${MEM[@]}" | median)" \
    "$(printf '%s\n' "${PG[@]}" | median)" "" "$(printf '%s\n' "${RATIOS[@]}" | median)"
