#!/usr/bin/env bash
# A single-node Apache Kafka broker (KRaft, broker + controller in one JVM) on loopback,
# for development, demos and the integration tests. Usage:
#
#   deploy/kafka/kafka.sh start    # fetch jars once, format fresh storage, start, wait, print bootstrap
#   deploy/kafka/kafka.sh stop     # stop the broker this script started (by its PID file)
#   deploy/kafka/kafka.sh status   # print the bootstrap address if running, exit 1 if not
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

start() {
    if pid="$(running_pid)"; then
        echo "kafka.sh: already running (pid $pid)" >&2
        cat "$BOOTSTRAP_FILE"
        return 0
    fi
    fetch_jars
    java_cmd
    local broker_port controller_port cluster_id pid
    broker_port="$(free_port)"
    controller_port="$(free_port)"
    [[ "$broker_port" != "$controller_port" ]] || controller_port="$(free_port)"
    rm -rf "$DATA" "$BOOTSTRAP_FILE"
    mkdir -p "$DATA"
    write_config "$broker_port" "$controller_port"
    cluster_id="$("${JAVA[@]}" kafka.tools.StorageTool random-uuid)"
    "${JAVA[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$WORK/server.properties" \
        >"$WORK/format.log" 2>&1 || { cat "$WORK/format.log" >&2; die "formatting storage failed"; }
    # setsid: the broker must outlive the shell (CI step, terminal) that started it.
    setsid "${JAVA[@]}" kafka.Kafka "$WORK/server.properties" >"$LOG_FILE" 2>&1 < /dev/null &
    pid=$!
    echo "$pid" >"$PID_FILE"
    wait_until_ready "$pid" "$broker_port"
    echo "127.0.0.1:$broker_port" >"$BOOTSTRAP_FILE"
    echo "kafka.sh: broker up (pid $pid), bootstrap in $BOOTSTRAP_FILE" >&2
    cat "$BOOTSTRAP_FILE"
}

stop() { stop_daemon "$BOOTSTRAP_FILE"; }

status() { daemon_status "$BOOTSTRAP_FILE"; }

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
