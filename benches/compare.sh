#!/usr/bin/env bash
# Two sides of the token endpoint in alternating pairs of benches/load.sh
# runs, so that a noisy machine (a shared VM's stolen time, other builds)
# weighs on both sides of each ratio alike.
#
#   benches/compare.sh                       # PostgreSQL against memory, 5 pairs of 8 s runs
#   PAIRS=9 DURATION=10s benches/compare.sh
#   DATABASE_URL=postgres://user@host/db benches/compare.sh
#   SIDES="memory bare" benches/compare.sh   # memory against the bare endpoint
#   BARE_SIGNER=jsonwebtoken SIDES="memory bare" benches/compare.sh   # a bare endpoint signing with jsonwebtoken::encode
#
# SIDES names two of: memory (the example server, in-memory store),
# postgres (the example server on DATABASE_URL, default the local test
# database) and bare (benches/examples/bare.rs, the floor of the in-memory
# token endpoint); default "memory postgres". Each pair runs the first side,
# then the second.
#
# Prints, a line per pair, both token rates (and the PostgreSQL /whoami
# rate when postgres is a side), the ratio of the slower side's rate to the
# faster's (postgres/memory, memory/bare, postgres/bare), each side's server
# CPU µs and backend CPU µs per token (load.sh's columns: the server's own
# CPU, and that of this machine's PostgreSQL and Redis processes), each
# side's total CPU per token (server plus backend) and the ratio of the
# slower side's total to the faster's; then the medians of every column.
# Targets: issue 10's postgres/memory rate at least 40 %; issue 24's
# memory/bare rate at least 95 %, and postgres/memory total CPU per token at
# most 1.7x. Everything else is load.sh's: loopback only, bounded runs,
# everything started is stopped.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PAIRS=${PAIRS:-5}
export DURATION=${DURATION:-8s}
PG_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
SIDES=${SIDES:-memory postgres}
die() {
    echo "compare.sh: $*" >&2
    exit 1
}
[[ $PAIRS =~ ^[0-9]+$ ]] && ((PAIRS > 0 && PAIRS < 100)) || die "PAIRS must be a number from 1 to 99"
read -r A B EXTRA <<<"$SIDES"
rank() { # faster sides first: the ratio is the slower over the faster
    case $1 in
    bare) echo 0 ;;
    memory) echo 1 ;;
    postgres) echo 2 ;;
    *) return 1 ;;
    esac
}
{ [[ -n ${A:-} && -n ${B:-} && -z ${EXTRA:-} && $A != "$B" ]] && rank "$A" >/dev/null && rank "$B" >/dev/null; } ||
    die "SIDES must name two different sides of memory, postgres and bare (e.g. SIDES=\"memory bare\")"
if (($(rank "$A") < $(rank "$B"))); then FAST=$A SLOW=$B; else FAST=$B SLOW=$A; fi

side() { # side NAME: load.sh's table for that side
    case $1 in
    memory) env -u DATABASE_URL -u REDIS_URL SCENARIOS=token "$ROOT/benches/load.sh" 2>/dev/null ;;
    postgres) env -u REDIS_URL DATABASE_URL="$PG_URL" SCENARIOS=token,whoami "$ROOT/benches/load.sh" 2>/dev/null ;;
    bare) env -u DATABASE_URL -u REDIS_URL SERVER=bare SCENARIOS=token "$ROOT/benches/load.sh" 2>/dev/null ;;
    esac
}
col() { # col LABEL N < load.sh output: column N of that row (3 req/s, 10 server CPU, 11 backend CPU)
    awk -F'|' -v l="$1" -v n="$2" 'index($2, l) { gsub(/ /, "", $n); print $n }'
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
div() { awk -v a="$1" -v b="$2" -v s="$3" -v f="$4" 'BEGIN { printf f, (b > 0 ? s * a / b : 0) }'; }

declare -A RATE CPU DB TOTAL
WHOAMI=()
RATIOS=()
CPU_RATIOS=()
HAS_PG=
[[ $A == postgres || $B == postgres ]] && HAS_PG=1
line() { # line LABEL rateA rateB whoami ratio cpuA dbA cpuB dbB totA totB cpuRatio
    printf '%-6s %15s %15s' "$1" "$2" "$3"
    [[ -n $HAS_PG ]] && printf ' %17s' "$4"
    printf ' %14s%% | %11s %11s %11s %11s | %13s %13s %14sx\n' "$5" "$6" "$7" "$8" "$9" "${10}" "${11}" "${12}"
}
echo "token endpoint, $A against $B: rates in tokens/s; CPU in µs per token (srv: the server, db: PostgreSQL and Redis on this machine, total: both)"
printf '%-6s %15s %15s' pair "$A tok/s" "$B tok/s"
[[ -n $HAS_PG ]] && printf ' %17s' "postgres whoami/s"
printf ' %15s | %11s %11s %11s %11s | %13s %13s %15s\n' "$SLOW/$FAST" "$A srv" "$A db" "$B srv" "$B db" \
    "$A total" "$B total" "cpu $SLOW/$FAST"
for i in $(seq 1 "$PAIRS"); do
    w=
    for s in "$A" "$B"; do
        out=$(side "$s") || die "the $s run failed; run benches/load.sh alone to see why"
        r=$(col oauth2/token 3 <<<"$out")
        [[ -n $r && $r -gt 0 ]] || die "the $s run printed no table; run benches/load.sh alone to see why"
        RATE[$s,$i]=$r
        CPU[$s,$i]=$(col oauth2/token 10 <<<"$out")
        DB[$s,$i]=$(col oauth2/token 11 <<<"$out")
        TOTAL[$s,$i]=$(awk -v a="${CPU[$s,$i]}" -v b="${DB[$s,$i]}" 'BEGIN { printf "%.1f", a + b }')
        [[ $s == postgres ]] && w=$(col whoami 3 <<<"$out")
    done
    WHOAMI+=("${w:-0}")
    RATIOS+=("$(div "${RATE[$SLOW,$i]}" "${RATE[$FAST,$i]}" 100 %.1f)")
    CPU_RATIOS+=("$(div "${TOTAL[$SLOW,$i]}" "${TOTAL[$FAST,$i]}" 1 %.2f)")
    line "$i" "${RATE[$A,$i]}" "${RATE[$B,$i]}" "$w" "${RATIOS[-1]}" "${CPU[$A,$i]}" "${DB[$A,$i]}" \
        "${CPU[$B,$i]}" "${DB[$B,$i]}" "${TOTAL[$A,$i]}" "${TOTAL[$B,$i]}" "${CPU_RATIOS[-1]}"
done
med() { # med ARRAY SIDE: the median of that side's column over the pairs
    local -n a=$1
    for i in $(seq 1 "$PAIRS"); do echo "${a[$2,$i]}"; done | median
}
line median "$(med RATE "$A")" "$(med RATE "$B")" "$(printf '%s\n' "${WHOAMI[@]}" | median)" \
    "$(printf '%s\n' "${RATIOS[@]}" | median)" "$(med CPU "$A")" "$(med DB "$A")" "$(med CPU "$B")" "$(med DB "$B")" \
    "$(med TOTAL "$A")" "$(med TOTAL "$B")" "$(div "$(med TOTAL "$SLOW")" "$(med TOTAL "$FAST")" 1 %.2f)"
