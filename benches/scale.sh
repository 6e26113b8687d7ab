#!/usr/bin/env bash
# Scale benchmark (issue 24): the audit log and the agent directory of one
# tenant as they grow, on PostgreSQL. Not part of CI: the 1M-event stage
# writes about 1 GiB and takes minutes.
#
#   benches/scale.sh                          # 10k, 100k, 1M events; 10k, 100k agents
#   EVENTS=10000,100000 AGENTS=10000 benches/scale.sh
#   DATABASE_URL=postgres://user@host/db benches/scale.sh
#
# Each size gets a fresh schema, filled straight into PostgreSQL (events by
# the store's own batched append, so their hash chain is real; agents with
# generate_series), never analysed until the run says so, and dropped at the
# end. It prints one table: full verification (wall time in slices, and this
# process's CPU per event, PostgreSQL's work aside), incremental verification
# after one new event, the busy agent's and token.issued's first audit page
# with statistics absent and present (with the plan's nodes), one append's
# cost, and the tenant's agent search for a word no agent has.
#
# The work is in benches/examples/scale.rs (a release build).

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
EVENTS=${EVENTS:-10000,100000,1000000}
AGENTS=${AGENTS:-10000,100000}
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}

NAME=scale.sh
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $EVENTS =~ ^[0-9,]+$ && $AGENTS =~ ^[0-9,]*$ ]] || die "EVENTS and AGENTS must be lists of numbers, comma-separated"
need cargo

(cd "$ROOT" && CARGO_TARGET_DIR=$TARGET_DIR cargo build --release -q -p sentryagent-benches --example scale)
echo "$NAME: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
"$TARGET_DIR/release/examples/scale" "$EVENTS" "$AGENTS"
