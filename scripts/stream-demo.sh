#!/usr/bin/env bash
# The streaming demo: a local Kafka broker, `rbc replay` of the real alerts in tests/data,
# `rbc serve` scoring them for a while, then a look at the scored and dead-letter topics.
# Needs Java 17 and Maven (the broker comes from Maven Central once); no GPU, no torch.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/bootstrap-uv.sh
export UV_PROJECT_ENVIRONMENT=.venv-runtime
uv sync --frozen --no-dev --quiet
rbc() { uv run --no-sync rbc "$@"; }

deploy/kafka/kafka.sh start
[[ "${KEEP_BROKER:-0}" == 1 ]] || trap 'deploy/kafka/kafka.sh stop' EXIT
BOOTSTRAP="$(cat "${RBC_KAFKA_WORK:-deploy/kafka/.work}/bootstrap")"
TOPIC="demo.alerts.$(date +%s)"

echo "== replay tests/data/alerts into $TOPIC at $BOOTSTRAP"
rbc replay tests/data/alerts --topic "$TOPIC" --partitions 2 --bootstrap "$BOOTSTRAP" --quiet
echo "== rbc serve for ${SERVE_SECONDS:-20} s (SIGTERM then: drain, commit, exit)"
timeout -s TERM "${SERVE_SECONDS:-20}" uv run --no-sync rbc serve --bootstrap "$BOOTSTRAP" \
    --topics "$TOPIC" --group "demo-$TOPIC" --scored-topic "$TOPIC.scored" \
    --labelling-topic "$TOPIC.labelling" --dead-letter-topic "$TOPIC.dead-letter" \
    --metrics-port 0 --log-level WARNING || true
echo "== the first scored records (rbc peek --topic $TOPIC.scored)"
rbc peek --bootstrap "$BOOTSTRAP" --topic "$TOPIC.scored" --max 5 --timeout 3
echo "== dead letters (rbc peek --topic $TOPIC.dead-letter)"
rbc peek --bootstrap "$BOOTSTRAP" --topic "$TOPIC.dead-letter" --max 5 --timeout 3 || true
