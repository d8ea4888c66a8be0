#!/usr/bin/env bash
# A single-node Apache Kafka broker (KRaft, broker + controller in one JVM) on loopback,
# for development, demos and the integration tests. Usage:
#
#   deploy/kafka/kafka.sh start    # fetch jars once, format fresh storage, start, wait, print bootstrap
#   deploy/kafka/kafka.sh start --keep  # the same, but on the storage and ports of the last start
#   deploy/kafka/kafka.sh stop     # stop the broker this script started (by its PID file)
#   deploy/kafka/kafka.sh restart  # stop, then start --keep: same data, same bootstrap address
#   deploy/kafka/kafka.sh status   # print the bootstrap address if running, exit 1 if not
#
# Faults, for tests/faults (the data directory and ports stay; `start --keep` brings it back):
#
#   deploy/kafka/kafka.sh kill     # SIGKILL the broker: a crash, no clean shutdown
#   deploy/kafka/kafka.sh freeze   # SIGSTOP: the process holds its sockets but answers nothing
#   deploy/kafka/kafka.sh thaw     # SIGCONT after freeze
#   deploy/kafka/kafka.sh pid      # print the broker's PID, exit 1 if not running
#
# Environment: RBC_KAFKA_WORK (state directory, default deploy/kafka/.work),
# RBC_KAFKA_HEAP (default 768m), RBC_KAFKA_START_TIMEOUT (seconds, default 120).
# The bootstrap address is printed and written to $RBC_KAFKA_WORK/bootstrap.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="${RBC_KAFKA_WORK:-$HERE/.work}"
LIB="$WORK/lib"
DATA="$WORK/data"
PID_FILE="$WORK/kafka.pid"
BOOTSTRAP_FILE="$WORK/bootstrap"
LOG_FILE="$WORK/kafka.log"
HEAP="${RBC_KAFKA_HEAP:-768m}"
START_TIMEOUT="${RBC_KAFKA_START_TIMEOUT:-120}"

NAME=kafka.sh
source "$HERE/../lib/daemon.sh"

fetch_jars() {
    # The jars are cached in $LIB; delete it to force a fresh download.
    if compgen -G "$LIB/kafka_2.13-*.jar" >/dev/null; then
        return 0
    fi
    command -v mvn >/dev/null || die "Maven (mvn) is needed once to fetch Kafka: apt-get install maven"
    command -v java >/dev/null || die "Java 17+ is needed to run Kafka: apt-get install openjdk-17-jre-headless"
    echo "kafka.sh: fetching Kafka from Maven Central into $LIB (once)" >&2
    mkdir -p "$WORK"
    if ! mvn -q -B -f "$HERE/pom.xml" dependency:copy-dependencies \
            -DincludeScope=runtime -DoutputDirectory="$LIB" >"$WORK/mvn.log" 2>&1; then
        rm -rf "$LIB"
        tail -20 "$WORK/mvn.log" >&2
        die "could not fetch Kafka from Maven Central (see $WORK/mvn.log); check network/proxy"
    fi
}

write_config() {
    local broker_port="$1" controller_port="$2"
    cat >"$WORK/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${controller_port}
listeners=PLAINTEXT://127.0.0.1:${broker_port},CONTROLLER://127.0.0.1:${controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:${broker_port}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=${DATA}
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
# One broker holds every internal topic: with the default of 3 the transaction state topic
# cannot be created, so `rbc serve --exactly-once` cannot start (init_transactions times out).
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# A single developer broker: no reason to wait for more group members before the first rebalance.
group.initial.rebalance.delay.ms=0
log.retention.hours=24
EOF
}

wait_until_ready() {
    local pid="$1" port="$2" waited=0
    while (( waited < START_TIMEOUT )); do
        kill -0 "$pid" 2>/dev/null || { tail -40 "$LOG_FILE" >&2; die "broker exited during start-up"; }
        if grep -q "Kafka Server started" "$LOG_FILE" 2>/dev/null && port_in_use "$port"; then
            return 0
        fi
        sleep 1
        waited=$(( waited + 1 ))
    done
    tail -40 "$LOG_FILE" >&2
    kill "$pid" 2>/dev/null || true
    die "broker did not answer on 127.0.0.1:$port within ${START_TIMEOUT}s (log: $LOG_FILE)"
}

java_cmd() {
    # Class path from the cached jars; quiet slf4j-simple logging except start-up milestones.
    JAVA=(java "-Xms256m" "-Xmx$HEAP" "-XX:+UseG1GC" "-Djava.awt.headless=true"
        "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn"
        "-Dorg.slf4j.simpleLogger.log.kafka.server.KafkaRaftServer=info"
        "-Dorg.slf4j.simpleLogger.showDateTime=true"
        -cp "$LIB/*")
}

format_storage() {
    # Fresh storage on two new free ports: every plain start begins from an empty cluster.
    local broker_port controller_port cluster_id
    broker_port="$(free_port)"
    controller_port="$(free_port)"
    [[ "$broker_port" != "$controller_port" ]] || controller_port="$(free_port)"
    rm -rf "$DATA" "$BOOTSTRAP_FILE"
    mkdir -p "$DATA"
    write_config "$broker_port" "$controller_port"
    cluster_id="$("${JAVA[@]}" kafka.tools.StorageTool random-uuid)"
    "${JAVA[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$WORK/server.properties" \
        >"$WORK/format.log" 2>&1 || { cat "$WORK/format.log" >&2; die "formatting storage failed"; }
}

configured_port() {
    # The port of listener $1 (PLAINTEXT or CONTROLLER) in the config the last start wrote.
    sed -n "s|^listeners=.*$1://127.0.0.1:\([0-9]*\).*|\1|p" "$WORK/server.properties"
}

start() {
    local keep="${1:-}" pid broker_port
    if pid="$(running_pid)"; then
        echo "kafka.sh: already running (pid $pid)" >&2
        cat "$BOOTSTRAP_FILE"
        return 0
    fi
    fetch_jars
    java_cmd
    if [[ "$keep" == --keep && -f "$WORK/server.properties" && -f "$DATA/meta.properties" ]]; then
        # Same storage and same ports, so clients configured with the old bootstrap reconnect.
        broker_port="$(configured_port PLAINTEXT)"
        port_in_use "$broker_port" && die "port $broker_port is taken; cannot restart on it"
        echo "kafka.sh: keeping $DATA and port $broker_port" >&2
    else
        [[ -z "$keep" || "$keep" == --keep ]] || die "start takes only --keep, not $keep"
        format_storage
        broker_port="$(configured_port PLAINTEXT)"
    fi
    # The start-up check reads this start's log only; earlier ones are kept beside it.
    [[ ! -f "$LOG_FILE" ]] || cat "$LOG_FILE" >>"$LOG_FILE.previous"
    # setsid: the broker must outlive the shell (CI step, terminal) that started it.
    setsid "${JAVA[@]}" kafka.Kafka "$WORK/server.properties" >"$LOG_FILE" 2>&1 < /dev/null &
    pid=$!
    echo "$pid" >"$PID_FILE"
    wait_until_ready "$pid" "$broker_port"
    echo "127.0.0.1:$broker_port" >"$BOOTSTRAP_FILE"
    echo "kafka.sh: broker up (pid $pid), bootstrap in $BOOTSTRAP_FILE" >&2
    cat "$BOOTSTRAP_FILE"
}

stop() {
    # A frozen broker would hold SIGTERM pending until thawed: thaw it first.
    if pid="$(running_pid)"; then kill -CONT "$pid"; fi
    stop_daemon "$BOOTSTRAP_FILE"
}

status() { daemon_status "$BOOTSTRAP_FILE"; }

signal_broker() {
    # Send signal $1 to the broker of the PID file; `kill` forgets the PID, as a crash would.
    local pid
    pid="$(running_pid)" || die "not running"
    kill "-$1" "$pid"
    if [[ "$1" == KILL ]]; then
        while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
        rm -f "$PID_FILE"
    fi
    echo "kafka.sh: SIG$1 sent to pid $pid" >&2
}

case "${1:-}" in
    start) start "${2:-}" ;;
    stop) stop ;;
    restart) stop; start --keep ;;
    status) status ;;
    kill) signal_broker KILL ;;
    freeze) signal_broker STOP ;;
    thaw) signal_broker CONT ;;
    pid) running_pid || die "not running" ;;
    *) echo "usage: $0 start [--keep]|stop|restart|status|kill|freeze|thaw|pid" >&2; exit 2 ;;
esac
