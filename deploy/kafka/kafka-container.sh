#!/usr/bin/env bash
# Start the broker of the Kafka image: write server.properties from the environment, format
# the storage on first start, run kafka.Kafka in the foreground.
#
# KAFKA_ADVERTISED_INTERNAL  address other containers use (default kafka:9092)
# KAFKA_ADVERTISED_EXTERNAL  address the host uses (default localhost:9094)
# KAFKA_NUM_PARTITIONS       partitions of auto-created topics (default 3)
# KAFKA_HEAP                 JVM heap (default 512m)
set -euo pipefail
DATA=/var/lib/kafka
mkdir -p "$DATA/log"
cat >"$DATA/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:9093
listeners=INTERNAL://:9092,CONTROLLER://127.0.0.1:9093,EXTERNAL://:9094
advertised.listeners=INTERNAL://${KAFKA_ADVERTISED_INTERNAL:-kafka:9092},EXTERNAL://${KAFKA_ADVERTISED_EXTERNAL:-localhost:9094}
listener.security.protocol.map=INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT,EXTERNAL:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=INTERNAL
log.dirs=$DATA/log
num.partitions=${KAFKA_NUM_PARTITIONS:-3}
auto.create.topics.enable=true
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
PROPS
JAVA=(java "-Xmx${KAFKA_HEAP:-512m}" -XX:+UseG1GC -Djava.awt.headless=true
    -Dorg.slf4j.simpleLogger.defaultLogLevel=warn
    -Dorg.slf4j.simpleLogger.log.kafka.server.KafkaRaftServer=info
    -cp "/opt/kafka/libs/*")
if [[ ! -f "$DATA/log/meta.properties" ]]; then
    "${JAVA[@]}" kafka.tools.StorageTool format -t "$("${JAVA[@]}" kafka.tools.StorageTool random-uuid)" \
        -c "$DATA/server.properties"
fi
exec "${JAVA[@]}" kafka.Kafka "$DATA/server.properties"
