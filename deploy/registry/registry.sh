#!/usr/bin/env bash
# A Confluent-compatible schema registry (Apicurio Registry 2.1.5, in-memory storage) on
# loopback, for development and the integration tests of the `confluent` output framing. Usage:
#
#   deploy/registry/registry.sh start    # build once, start, wait, print the registry URL
#   deploy/registry/registry.sh stop     # stop the registry this script started (by its PID file)
#   deploy/registry/registry.sh status   # print the URL if running, exit 1 if not
#
# Environment: RBC_REGISTRY_WORK (state directory, default deploy/registry/.work),
# RBC_REGISTRY_HEAP (default 256m), RBC_REGISTRY_START_TIMEOUT (seconds, default 90).
# The URL printed and written to $RBC_REGISTRY_WORK/url is the base of the Confluent API
# (http://127.0.0.1:<port>/apis/ccompat/v6): what output_registry_url and confluent-kafka's
# SchemaRegistryClient take.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="${RBC_REGISTRY_WORK:-$HERE/.work}"
BUILD="$WORK/build"
RUN_JAR="$BUILD/rbc-local-registry-1-runner.jar"  # with its class path in $BUILD/lib
PID_FILE="$WORK/registry.pid"
URL_FILE="$WORK/url"
LOG_FILE="$WORK/registry.log"
HEAP="${RBC_REGISTRY_HEAP:-256m}"
START_TIMEOUT="${RBC_REGISTRY_START_TIMEOUT:-90}"
CCOMPAT="apis/ccompat/v6"

NAME=registry.sh
source "$HERE/../lib/daemon.sh"

build() {
    # The Quarkus build is cached in $BUILD; delete it to force a fresh one.
    [[ -f "$RUN_JAR" ]] && return 0
    command -v mvn >/dev/null || die "Maven (mvn) is needed once to build the registry: apt-get install maven"
    command -v java >/dev/null || die "Java 17+ is needed to run the registry: apt-get install openjdk-17-jre-headless"
    echo "registry.sh: building Apicurio Registry from Maven Central into $BUILD (once, about 2 min)" >&2
    mkdir -p "$WORK"
    if ! mvn -q -B -f "$HERE/pom.xml" -Drbc.registry.build="$BUILD" package >"$WORK/mvn.log" 2>&1; then
        rm -rf "$BUILD"
        tail -20 "$WORK/mvn.log" >&2
        die "could not build the registry (see $WORK/mvn.log); check network/proxy to Maven Central"
    fi
    [[ -f "$RUN_JAR" ]] || die "the build wrote no $RUN_JAR (see $WORK/mvn.log)"
}

wait_until_ready() {
    local pid="$1" base="$2" waited=0
    while (( waited < START_TIMEOUT )); do
        kill -0 "$pid" 2>/dev/null || { tail -40 "$LOG_FILE" >&2; die "registry exited during start-up"; }
        if curl -sf -o /dev/null "$base/health/ready"; then
            return 0
        fi
        sleep 1
        waited=$(( waited + 1 ))
    done
    tail -40 "$LOG_FILE" >&2
    kill "$pid" 2>/dev/null || true
    die "registry did not answer on $base within ${START_TIMEOUT}s (log: $LOG_FILE)"
}

set_backward_compatibility() {
    # Apicurio starts with no compatibility rule (every schema is accepted); a Confluent
    # registry defaults to BACKWARD. The tests must meet the check a real deployment makes.
    curl -sf -o /dev/null -X PUT -H "Content-Type: application/vnd.schemaregistry.v1+json" \
        -d '{"compatibility":"BACKWARD"}' "$1/config" || die "could not set the global compatibility level"
}

start() {
    if pid="$(running_pid)"; then
        echo "registry.sh: already running (pid $pid)" >&2
        cat "$URL_FILE"
        return 0
    fi
    command -v curl >/dev/null || die "curl is needed to check the registry: apt-get install curl"
    build
    local port base pid
    port="$(free_port)"
    base="http://127.0.0.1:$port"
    rm -f "$URL_FILE"
    # setsid: the registry must outlive the shell (CI step, terminal) that started it.
    setsid java "-Xms64m" "-Xmx$HEAP" "-Djava.awt.headless=true" \
        "-Dquarkus.http.host=127.0.0.1" "-Dquarkus.http.port=$port" \
        -jar "$RUN_JAR" >"$LOG_FILE" 2>&1 < /dev/null &
    pid=$!
    echo "$pid" >"$PID_FILE"
    wait_until_ready "$pid" "$base"
    set_backward_compatibility "$base/$CCOMPAT"
    echo "$base/$CCOMPAT" >"$URL_FILE"
    echo "registry.sh: registry up (pid $pid), URL in $URL_FILE" >&2
    cat "$URL_FILE"
}

stop() { stop_daemon "$URL_FILE"; }

status() { daemon_status "$URL_FILE"; }

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
