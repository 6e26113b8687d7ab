# Shared by the load scripts beside it: sourced, not run. The sourcing
# script sets NAME (for messages) first.

die() {
    echo "$NAME: $*" >&2
    exit 1
}

need() { # need COMMAND [DEBIAN-PACKAGE]
    command -v "$1" >/dev/null && return
    local pkg=${2:-$1}
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        echo "$NAME: installing $pkg from Debian's packages" >&2
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null
    fi
    command -v "$1" >/dev/null || die "$1 is missing: install it (e.g. apt-get install $pkg)"
}

stop_pids() { # stop_pids PID…: SIGTERM, up to 5 s for a graceful stop, then SIGKILL
    local pid
    for pid in "$@"; do
        kill -TERM "$pid" 2>/dev/null || continue
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}
