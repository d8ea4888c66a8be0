# Shared by the scripts that run a development server in the background (deploy/kafka/kafka.sh,
# deploy/registry/registry.sh, scripts/postgres.sh): sourced, not run. The sourcing script sets
# NAME (its name in messages) and, for the PID-file functions, PID_FILE.

die() { echo "$NAME: $*" >&2; exit 1; }

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

free_port() {
    # A random high port nobody answers on; a bind race is caught by the caller's start check.
    local port
    for _ in $(seq 1 200); do
        port=$(( 20000 + RANDOM % 40000 ))
        if ! port_in_use "$port"; then
            echo "$port"
            return 0
        fi
    done
    die "no free loopback port found"
}

running_pid() {
    # Print the PID from $PID_FILE if that process is alive and is a java process.
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(cat "$PID_FILE")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
    grep -q java "/proc/$pid/cmdline" 2>/dev/null || return 1
    echo "$pid"
}

stop_daemon() {
    # Stop the process of $PID_FILE (SIGTERM, SIGKILL after 30 s); remove the PID file and the
    # address file $1 it published.
    local address_file="$1" pid
    if ! pid="$(running_pid)"; then
        echo "$NAME: not running" >&2
        rm -f "$PID_FILE" "$address_file"
        return 0
    fi
    kill -TERM "$pid"
    for _ in $(seq 1 30); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "$NAME: pid $pid ignored SIGTERM for 30 s, killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$PID_FILE" "$address_file"
    echo "$NAME: stopped (pid $pid)" >&2
}

daemon_status() {
    # Print the address file $1 if the process runs; exit status 1 if not.
    local pid
    pid="$(running_pid)" || { echo "$NAME: not running" >&2; return 1; }
    echo "$NAME: running (pid $pid)" >&2
    cat "$1"
}
