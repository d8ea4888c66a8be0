#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback for the labelling app's store tests. Usage:
#
#   scripts/postgres.sh start   # install Debian's postgresql if absent, init + start, print the URL
#   scripts/postgres.sh stop    # stop it and remove its data
#   scripts/postgres.sh status  # print the URL if running, exit 1 if not
#
# Environment: RBC_POSTGRES_WORK (state directory, default $TMPDIR/rbc-postgres). The server runs
# as the `postgres` user (initdb refuses root), on a free port, trusting only local
# connections; the URL (postgresql+psycopg://postgres@127.0.0.1:PORT/postgres) is printed
# and written to $RBC_POSTGRES_WORK/url. Use it as RBC_TEST_POSTGRES_URL.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${RBC_POSTGRES_WORK:-${TMPDIR:-/tmp}/rbc-postgres}"
DATA="$WORK/data"
URL_FILE="$WORK/url"

NAME=postgres.sh
source "$ROOT/deploy/lib/daemon.sh"

bin_dir() {
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
    [[ -n "$dir" ]] && echo "$dir"
}

install_if_absent() {
    [[ -n "$(bin_dir)" ]] && return 0
    [[ "$(id -u)" == 0 ]] || die "PostgreSQL is not installed; as root: apt-get install -y postgresql"
    echo "postgres.sh: installing Debian's postgresql (once)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >/dev/null 2>&1 || {
        apt-get update >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >/dev/null
    }
    [[ -n "$(bin_dir)" ]] || die "postgresql installed but no /usr/lib/postgresql/*/bin found"
}

as_postgres() {
    if [[ "$(id -u)" == 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

running() {
    local bin
    bin="$(bin_dir)" || return 1
    [[ -f "$DATA/postmaster.pid" ]] && as_postgres "$bin/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

start() {
    install_if_absent
    local bin port
    bin="$(bin_dir)"
    if running; then
        cat "$URL_FILE"
        return 0
    fi
    rm -rf "$DATA"
    mkdir -p "$WORK"
    if [[ "$(id -u)" == 0 ]]; then chown postgres "$WORK"; fi
    as_postgres "$bin/initdb" -D "$DATA" -U postgres --auth=trust --no-sync >"$WORK/initdb.log" 2>&1 \
        || { tail -20 "$WORK/initdb.log" >&2; die "initdb failed"; }
    port="$(free_port)"
    as_postgres "$bin/pg_ctl" -D "$DATA" -l "$WORK/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $WORK -c fsync=off" start >/dev/null \
        || { tail -20 "$WORK/server.log" >&2; die "the server did not start"; }
    echo "postgresql+psycopg://postgres@127.0.0.1:$port/postgres" >"$URL_FILE"
    cat "$URL_FILE"
}

stop() {
    local bin
    bin="$(bin_dir)" || { echo "postgres.sh: not installed" >&2; return 0; }
    if running; then
        as_postgres "$bin/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
    fi
    rm -rf "$WORK"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) running && cat "$URL_FILE" || { echo "postgres.sh: not running" >&2; exit 1; } ;;
    *) die "usage: $0 start|stop|status" ;;
esac
